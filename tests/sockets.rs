//! The daemon's sockets are 0660 whatever the umask it starts under: the
//! service's group (tape) uses them, nobody else.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use common::{Install, Killed, bin, eventually};

#[test]
fn sockets_are_0660_whatever_the_umask() {
    for umask in ["000", "077"] {
        let install = Install::new(1, 1);
        let daemon = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "umask {umask} && exec {} run --config {}",
                bin("tapeserverd").display(),
                install.config.display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let _daemon = Killed(daemon);
        eventually("the daemon", || {
            let out = install.run("tpstat", &[]);
            if out.status.success() {
                Ok(())
            } else {
                Err(String::from_utf8_lossy(&out.stderr).into())
            }
        });
        for socket in ["stager.sock", "admin.sock", "sessions.sock", "tlc.sock"] {
            let mode = std::fs::metadata(install.path().join("run").join(socket))
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, 0o660, "{socket} under umask {umask}: {mode:o}");
        }
    }
}
