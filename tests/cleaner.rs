//! Recovery after a daemon died with its sessions: the cleaner that
//! unloads the cartridge left in a drive waits while another process still
//! holds the drive (a session killed a moment ago, until the kernel has
//! closed its files) instead of putting the drive down and disabling a
//! good tape.

mod common;

use std::fs::{File, OpenOptions};
use std::time::Duration;

use common::Install;
use tapeserver::config::{ByteSize, FaultsConfig, Interval};

const LONG: Duration = Duration::from_secs(60);

#[test]
fn a_cleaner_waits_for_a_drive_a_dying_session_still_holds() {
    let install = Install::new(1, 1);
    install.configure(|c| {
        c.scheduler.mount_min_files = 5;
        c.scheduler.mount_min_bytes = ByteSize(u64::MAX);
        c.session.flush_files = 1;
        c.watchdog.no_data_movement_timeout = Interval(Duration::from_secs(3600));
        // The session hangs before its second file's data: the cartridge
        // stays in the drive when the daemon dies.
        c.drives[0].faults = Some(FaultsConfig {
            stall_at_block: Some(3),
            stall: Some(Interval(Duration::from_secs(3600))),
            ..Default::default()
        });
    });
    let daemon = install.start();
    let sources: Vec<_> = (0..5)
        .map(|i| install.make_file(&format!("f{i}"), 100 * 1024, i))
        .collect();
    let ids = install.archive(&sources);
    install.wait_for("the first file on tape", LONG, || {
        install.state_of(ids[0]).state == "on_tape"
    });
    let mut session = 0;
    install.wait_for("the session stalled", LONG, || {
        session = install.drive("drive0")["pid"].as_i64().unwrap_or(0) as i32;
        session != 0
    });
    assert_ne!(
        install.state_of(ids[4]).state,
        "on_tape",
        "the session hangs on a later file"
    );
    daemon.signal(libc::SIGKILL);
    assert_eq!(daemon.wait_exit(Duration::from_secs(10)), None);
    install.wait_for("the session to die", LONG, || common::exited(session));
    assert!(install.drive_loaded("drive0"));
    // This test holds the drive now, as a dying session would.
    let cartridge =
        std::fs::canonicalize(install.path().join("library/drives/drive0/cartridge")).unwrap();
    let holder: File = OpenOptions::new()
        .write(true)
        .open(cartridge.join("lock"))
        .unwrap();
    holder.lock().unwrap();
    install.configure(|c| c.drives[0].faults = None);
    let _daemon = install.start();
    install.wait_for("the cleaner to wait for the drive", LONG, || {
        install.daemon_log().contains("waiting for the drive")
    });
    drop(holder);
    install.wait_for("every file on tape", LONG, || {
        ids.iter()
            .all(|id| install.state_of(*id).state == "on_tape")
    });
    let log = install.daemon_log();
    assert!(!log.contains("cleaner cannot load the drive"), "{log}");
    assert_eq!(
        install.tape("V00001")["state"],
        "active",
        "the tape stays usable"
    );
    install.recall_and_compare(&ids.iter().copied().zip(sources).collect::<Vec<_>>(), "out");
}
