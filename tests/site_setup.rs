//! Setting up a site cannot be got wrong silently: `init` names the host in
//! the config, refuses drive names another host has, writes nothing in a
//! dry run or when it fails; a daemon refuses a drive another live host
//! drives.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Install, bin, eventually};
use tapeserver::scheduler::prelude::*;

fn init(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(bin("tapeserverd"))
        .arg("init")
        .arg(dir)
        .args(args)
        .output()
        .unwrap()
}

fn one_line_error(out: &std::process::Output) -> String {
    assert!(!out.status.success(), "it succeeded");
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(err.lines().count(), 1, "one sentence: {err}");
    err
}

#[test]
fn init_names_the_host_and_refuses_another_hosts_drive_names() {
    let site = tempfile::tempdir().unwrap();
    let scheduler = format!("sqlite://{}", site.path().join("catalogue.db").display());
    let library = site.path().join("library");
    let lib = library.to_str().unwrap();
    let ts1 = site.path().join("ts1");
    let out = init(
        &ts1,
        &[
            "--scheduler",
            &scheduler,
            "--library",
            lib,
            "--drive-prefix",
            "ts1d",
            "--host",
            "ts1",
            "--archive-root",
            "/site/archive",
            "--recall-root",
            "/site/recall",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = tapeserver::config::Config::load(&ts1.join("tapeserver.toml")).unwrap();
    assert_eq!(config.daemon.host.as_deref(), Some("ts1"));
    assert_eq!(config.paths.archive_roots, [Path::new("/site/archive")]);
    assert_eq!(config.paths.recall_roots, [Path::new("/site/recall")]);

    // Host 1's drive names again: refused, nothing written.
    let ts3 = site.path().join("ts3");
    let err = one_line_error(&init(
        &ts3,
        &[
            "--scheduler",
            &scheduler,
            "--library",
            lib,
            "--drive-prefix",
            "ts1d",
            "--host",
            "ts3",
        ],
    ));
    assert!(
        err.contains("drive ts1d0 is already in the library") && err.contains("--drive-prefix"),
        "{err}"
    );
    assert!(!ts3.exists(), "a failed init leaves nothing");

    // Without --host, the host name.
    let ts2 = site.path().join("ts2");
    let out = init(
        &ts2,
        &[
            "--scheduler",
            &scheduler,
            "--library",
            lib,
            "--drive-prefix",
            "ts2d",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let host = nix::unistd::gethostname().unwrap().into_string().unwrap();
    let config = std::fs::read_to_string(ts2.join("tapeserver.toml")).unwrap();
    assert!(config.contains(&format!("host = \"{host}\"")), "{config}");
}

#[test]
fn a_dry_run_writes_nothing_and_a_failed_init_leaves_nothing() {
    let site = tempfile::tempdir().unwrap();
    let dir = site.path().join("new");
    let scheduler = format!("sqlite://{}", site.path().join("catalogue.db").display());
    let library = site.path().join("scratch-library");
    let out = init(
        &dir,
        &[
            "--scheduler",
            &scheduler,
            "--library",
            library.to_str().unwrap(),
            "--dry-run",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("dry run, nothing written"), "{said}");
    assert!(said.contains("10 new cartridges"), "{said}");
    assert!(!dir.exists() && !library.exists(), "nothing written");
    assert!(!site.path().join("catalogue.db").exists(), "no catalogue");

    let err = one_line_error(&init(
        &dir,
        &[
            "--scheduler",
            "postgres://tape@127.0.0.1:1/tape",
            "--password-file",
            "/nonexistent/password",
        ],
    ));
    assert!(err.contains("--password-file"), "{err}");
    assert!(!dir.exists(), "a failed init leaves no directory");
}

#[test]
fn a_daemon_refuses_a_drive_another_live_host_drives() {
    let site = tempfile::tempdir().unwrap();
    let scheduler = format!("sqlite://{}", site.path().join("catalogue.db").display());
    let library = site.path().join("library");
    let lib = library.to_str().unwrap();
    let mk = |name: &str, prefix: &str| {
        let dir = tempfile::tempdir().unwrap();
        let out = init(
            dir.path(),
            &[
                "--scheduler",
                &scheduler,
                "--library",
                lib,
                "--drive-prefix",
                prefix,
                "--host",
                name,
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Install {
            config: dir.path().join("tapeserver.toml"),
            dir,
        }
    };
    let a = mk("a", "a");
    let b = mk("b", "b");
    let _b = b.start();
    // Host a's config given b's drives (a copy-paste mistake).
    let b_drives = tapeserver::config::Config::load(&b.config).unwrap().drives;
    a.configure(|c| c.drives = b_drives.clone());
    let mut catalogue =
        tapeserver::scheduler::SqliteScheduler::open(&site.path().join("catalogue.db")).unwrap();
    eventually("b's lease on b0", || {
        let leases = catalogue.drive_leases(&["b0".to_string()]).unwrap();
        if leases.iter().any(|l| l.host == "b" && l.live) {
            Ok(())
        } else {
            Err(format!("{leases:?}"))
        }
    });
    let err = common::refused_to_start("tapeserverd", &a.config);
    assert!(
        err.contains("drive b0 is driven by host b")
            && err.contains("two hosts must never drive one drive"),
        "{err}"
    );
}
