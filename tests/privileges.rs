//! Started by root with `[security] user`, sessions and tlcd run as that
//! user, with its groups, no capability and no way to gain one; what they
//! write is that user's. The tests give the installation to `nobody`.

mod common;

use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use common::{Install, Tlcd, give_to, proc_status};

/// What a process that dropped root to `uid` must show.
fn assert_unprivileged(pid: i32, uid: u32, what: &str) {
    assert_eq!(
        proc_status(pid, "Uid:"),
        format!("{uid}\t{uid}\t{uid}\t{uid}"),
        "{what}: real, effective, saved and filesystem uid"
    );
    for (field, want) in [
        ("CapEff:", "0000000000000000"),
        ("CapPrm:", "0000000000000000"),
        ("NoNewPrivs:", "1"),
    ] {
        assert_eq!(proc_status(pid, field), want, "{what}: {field}");
    }
}

#[test]
fn sessions_started_by_root_run_as_the_configured_user_without_capabilities() {
    let install = Install::new(1, 1);
    let release = install.path().join("release");
    install.configure(|c| {
        c.security.user = Some("nobody".into());
        // The session waits at its first data block, so it can be looked at.
        c.drives[0].faults = Some(tapeserver::config::FaultsConfig {
            stall_at_block: Some(1),
            stall_until: Some(release.clone()),
            ..Default::default()
        });
    });
    let source = install.make_file("f", 600_000, 5);
    let nobody = give_to(&install, "nobody");
    let _daemon = install.start();
    let ids = install.archive(std::slice::from_ref(&source));
    let mut pid = 0;
    install.wait_for("a session at work", Duration::from_secs(60), || {
        pid = install.drive("drive0")["pid"].as_i64().unwrap_or(0) as i32;
        pid > 0
    });
    let uid = nobody.uid.as_raw();
    install.wait_for("the session to drop root", Duration::from_secs(60), || {
        proc_status(pid, "Uid:").starts_with(&format!("{uid}\t"))
    });
    assert_unprivileged(pid, uid, "the session");
    std::fs::write(&release, b"").unwrap();
    install.wait_for("the file on tape", Duration::from_secs(60), || {
        install.state_of(ids[0]).state == "on_tape"
    });
    let dest = install.path().join("back");
    install.ok(
        "stager",
        &[
            "recall",
            &ids[0].to_string(),
            dest.to_str().unwrap(),
            "--wait",
        ],
    );
    assert!(std::fs::read(&dest).unwrap() == std::fs::read(&source).unwrap());
    assert_eq!(std::fs::metadata(&dest).unwrap().uid(), uid);
}

#[test]
fn tlcd_started_by_root_runs_as_the_configured_user() {
    let install = Install::new(1, 2);
    let nobody = give_to(&install, "nobody");
    let tlcd = Tlcd::start_with(&install, "tlc-nobody", "\n[security]\nuser = \"nobody\"\n");
    let pid = tlcd.pid().expect("tlcd runs") as i32;
    assert_unprivileged(pid, nobody.uid.as_raw(), "tlcd");
    // It still drives the library as that user: a mount and a dismount.
    for args in [
        ["mount", "V00001", "drive0"],
        ["dismount", "V00001", "drive0"],
    ] {
        let out = tlcd.tplib(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A root-owned file outside the installation, 0600, with known content.
struct Secret {
    path: std::path::PathBuf,
}

impl Secret {
    fn new(dir: &std::path::Path, name: &str) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, format!("root's {name}")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        Self { path }
    }

    fn assert_untouched(&self, what: &str) {
        let meta = std::fs::metadata(&self.path).unwrap();
        assert_eq!(
            (meta.uid(), meta.mode() & 0o7777),
            (0, 0o600),
            "{what}: {} changed hands",
            self.path.display()
        );
        let name = self.path.file_name().unwrap().to_string_lossy();
        assert_eq!(
            std::fs::read_to_string(&self.path).unwrap(),
            format!("root's {name}"),
            "{what}: {} was written",
            self.path.display()
        );
    }
}

/// Starts the daemon as root and returns once it serves or has given up:
/// either way, whatever it did as root is done.
fn start_or_refuse(install: &Install) {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(install.path().join("daemon.log"))
        .unwrap();
    let mut child = std::process::Command::new(common::bin("tapeserverd"))
        .args(["run", "--config"])
        .arg(&install.config)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        if install.run("tpstat", &[]).status.success() {
            // SAFETY: plain kill(2) on our own child's pid.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let _ = child.wait();
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("tapeserverd neither served nor exited");
}

/// The service user owns the directories the daemon works in, so it can
/// put a symbolic link wherever the daemon opens a file. Started by root,
/// the daemon becomes the service user before it opens any of them: no
/// link aims a root write (a lease, a lock, the catalogue's journal) at a
/// file of root's, and no process of the daemon keeps root.
#[test]
fn the_service_user_cannot_aim_the_root_started_daemon_at_roots_files() {
    let install = Install::new(1, 2);
    install.configure(|c| c.security.user = Some("nobody".into()));
    let nobody = give_to(&install, "nobody");
    let config = tapeserver::config::Config::load(&install.config).unwrap();
    let secrets = tempfile::tempdir().unwrap();
    let state = &config.daemon.state_dir;
    let library = install.path().join("library");
    let db = std::path::PathBuf::from(config.scheduler.url.strip_prefix("sqlite://").unwrap());
    let wal = std::path::PathBuf::from(format!("{}-wal", db.display()));
    let shm = std::path::PathBuf::from(format!("{}-shm", db.display()));
    std::fs::create_dir_all(state).unwrap();
    std::fs::create_dir_all(library.join("pickers")).unwrap();
    for (round, links) in [
        (
            "leases and locks",
            vec![
                state.join("tlc.lease"),
                library.join("library.lock"),
                library.join("pickers/0.lock"),
            ],
        ),
        ("the catalogue's journal", vec![wal.clone(), shm.clone()]),
    ] {
        let planted: Vec<(std::path::PathBuf, Secret)> = links
            .iter()
            .enumerate()
            .map(|(i, link)| {
                let secret = Secret::new(secrets.path(), &format!("secret{i}"));
                let _ = std::fs::remove_file(link);
                std::os::unix::fs::symlink(&secret.path, link).unwrap();
                (link.clone(), secret)
            })
            .collect();
        start_or_refuse(&install);
        for (link, secret) in &planted {
            secret.assert_untouched(&format!("{round}: {}", link.display()));
            let _ = std::fs::remove_file(link);
        }
    }

    // Nothing planted: it serves, and neither it nor its forker is root.
    let daemon = install.start();
    let uid = nobody.uid.as_raw();
    assert_unprivileged(daemon.pid(), uid, "the daemon");
    let children =
        std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", daemon.pid())).unwrap();
    let forker: i32 = children.split_whitespace().next().unwrap().parse().unwrap();
    assert_unprivileged(forker, uid, "the forker");
    for dir in [&config.daemon.state_dir, &config.daemon.run_dir] {
        let meta = std::fs::metadata(dir).unwrap();
        assert_eq!(
            meta.mode() & 0o002,
            0,
            "{} is not world-writable",
            dir.display()
        );
    }
    // And it works as that user: a file archived and recalled.
    let source = install.make_file("f", 300_000, 3);
    give_to(&install, "nobody");
    let ids = install.archive(std::slice::from_ref(&source));
    install.wait_for("the file on tape", Duration::from_secs(60), || {
        install.state_of(ids[0]).state == "on_tape"
    });
    let dest = install.path().join("back");
    install.ok(
        "stager",
        &[
            "recall",
            &ids[0].to_string(),
            dest.to_str().unwrap(),
            "--wait",
        ],
    );
    assert!(std::fs::read(&dest).unwrap() == std::fs::read(&source).unwrap());
}
