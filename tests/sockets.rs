//! The daemon's sockets are 0660 whatever the umask it starts under: the
//! service's group (tape) uses them, nobody else. Under umask 000 nothing
//! it creates (directories, the catalogue, cartridges) is open to others.

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

#[test]
fn nothing_the_daemon_creates_is_open_to_other_users_under_umask_000() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let init = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 000 && exec {} init {} --drives 1 --tapes 1",
            bin("tapeserverd").display(),
            root.display()
        ))
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let install = Install {
        dir,
        config: root.join("tapeserver.toml"),
    };
    // The run directory is the daemon's to make.
    std::fs::remove_dir_all(install.path().join("run")).unwrap();
    let daemon = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 000 && exec {} run --config {}",
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
    // A file archived: the catalogue and a cartridge are written.
    let source = install.make_file("f", 200_000, 1);
    let id = install.archive(std::slice::from_ref(&source))[0];
    install.wait_for(
        "the file on tape",
        std::time::Duration::from_secs(60),
        || install.state_of(id).state == "on_tape",
    );
    let mut checked = 0;
    let mut stack = vec![root.clone()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.file_type().is_symlink() {
            continue;
        }
        if meta.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        }
        let mode = meta.permissions().mode() & 0o777;
        // The directory and sources the test made are the test's, not the
        // daemon's.
        if path == root || path.starts_with(root.join("src")) {
            continue;
        }
        assert_eq!(
            mode & 0o007,
            0,
            "{} is {mode:o}: open to every user",
            path.display()
        );
        checked += 1;
    }
    assert!(checked > 20, "{checked} paths checked");
}

/// A recalled file gets the archived file's mode (and, recalled by root,
/// its owner): a 0600 file does not come back readable by everyone.
#[test]
fn a_recalled_file_keeps_the_archived_mode_and_owner() {
    use std::os::unix::fs::MetadataExt;
    let install = Install::new(1, 1);
    let _daemon = install.start();
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let private = install.make_file("private", 5000, 1);
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).unwrap();
    nix::unistd::chown(&private, Some(nobody.uid), Some(nobody.gid)).unwrap();
    let shared = install.make_file("shared", 5000, 2);
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o640)).unwrap();
    let ids = install.archive(&[private.clone(), shared.clone()]);
    for id in &ids {
        install.wait_for(
            "the file on tape",
            std::time::Duration::from_secs(60),
            || install.state_of(*id).state == "on_tape",
        );
    }
    for (id, source) in ids.iter().zip([&private, &shared]) {
        let dest = install.path().join(format!("back-{id}"));
        install.ok(
            "stager",
            &["recall", &id.to_string(), dest.to_str().unwrap(), "--wait"],
        );
        let (want, got) = (
            std::fs::metadata(source).unwrap(),
            std::fs::metadata(&dest).unwrap(),
        );
        assert_eq!(
            (got.mode() & 0o7777, got.uid(), got.gid()),
            (want.mode() & 0o7777, want.uid(), want.gid()),
            "{}",
            dest.display()
        );
        assert!(std::fs::read(&dest).unwrap() == std::fs::read(source).unwrap());
    }
}
