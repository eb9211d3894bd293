//! One test per transition of the drive catalogue.

use std::time::{Duration, Instant};

use super::*;

fn catalogue() -> (Catalogue, Instant) {
    let now = Instant::now();
    (super::of_test_drives(&["d0"], now), now)
}

fn state(c: &Catalogue) -> DriveState {
    c.get("d0").unwrap().state
}

fn report(pid: i32, state: SessionState, bytes: u64) -> SessionReport {
    SessionReport {
        drive: "d0".into(),
        pid,
        state: state as i32,
        bytes_moved: bytes,
        files_moved: 1,
        ..Default::default()
    }
}

/// Up -> Starting -> Running with pid 7.
fn running(c: &mut Catalogue, now: Instant) {
    assert!(c.start_session("d0", SessionKind::Migration, "V00001", 1, None, now));
    assert_eq!(state(c), DriveState::Starting);
    c.session_forked("d0", 7, now);
    assert_eq!(state(c), DriveState::Running);
}

#[test]
fn up_starting_running_up() {
    let (mut c, now) = catalogue();
    assert_eq!(c.free_drives(), vec!["d0"]);
    running(&mut c, now);
    assert!(
        !c.start_session("d0", SessionKind::Recall, "V00002", 2, None, now),
        "a busy drive takes no second session"
    );
    c.session_report(&report(7, SessionState::Transferring, 1000), now);
    let status = c.status(now);
    assert_eq!(
        (status[0].bytes, status[0].files, status[0].pid),
        (1000, 1, Some(7))
    );
    assert_eq!(status[0].session.as_deref(), Some("migration"));
    let out = c.session_ended(7, Some(0), None, now).unwrap();
    assert_eq!(
        (out.new_state, out.next),
        (DriveState::Up, Next::CloseMounts)
    );
    assert_eq!(state(&c), DriveState::Up);
}

#[test]
fn starting_to_up_when_the_fork_fails() {
    let (mut c, now) = catalogue();
    c.start_session("d0", SessionKind::Migration, "V00001", 5, None, now);
    let out = c.fork_failed("d0", "EAGAIN", now).unwrap();
    assert_eq!(out.next, Next::CloseMounts);
    assert_eq!(state(&c), DriveState::Up);
}

#[test]
fn running_to_down_on_exit_1() {
    let (mut c, now) = catalogue();
    running(&mut c, now);
    let out = c.session_ended(7, Some(1), None, now).unwrap();
    assert_eq!(
        (out.new_state, out.next),
        (DriveState::Down, Next::CloseMounts)
    );
    assert!(
        c.get("d0")
            .unwrap()
            .last_error
            .as_deref()
            .unwrap()
            .contains("code 1")
    );
}

#[test]
fn running_to_cleaning_on_exit_2_or_a_signal_then_up() {
    for (code, signal) in [(Some(2), None), (None, Some(9))] {
        let (mut c, now) = catalogue();
        running(&mut c, now);
        let out = c.session_ended(7, code, signal, now).unwrap();
        assert_eq!(
            out.next,
            Next::Cleaner {
                vid: "V00001".into()
            },
            "mounts stay open for the cleaner"
        );
        assert!(c.start_cleaner("d0", "V00001", "session died", now));
        assert_eq!(state(&c), DriveState::Cleaning);
        assert!(c.free_drives().is_empty());
        c.session_forked("d0", 8, now);
        assert_eq!(state(&c), DriveState::Cleaning, "a cleaner is not Running");
        let out = c.session_ended(8, Some(0), None, now).unwrap();
        assert_eq!(
            (out.new_state, out.next),
            (DriveState::Up, Next::CloseMounts)
        );
    }
}

#[test]
fn failed_or_killed_cleaner_puts_the_drive_down_and_disables_the_tape() {
    for (code, signal) in [(Some(1), None), (None, Some(9))] {
        let (mut c, now) = catalogue();
        c.start_cleaner("d0", "V00001", "test", now);
        c.session_forked("d0", 8, now);
        let out = c.session_ended(8, code, signal, now).unwrap();
        assert_eq!(out.new_state, DriveState::Down);
        assert!(matches!(out.next, Next::DisableTape { ref vid, .. } if vid == "V00001"));
    }
}

#[test]
fn operator_session_failure_keeps_the_drive_up_and_answers_the_operator() {
    let (mut c, now) = catalogue();
    let reply_to = ReplyTo {
        envelope: vec![b"client".to_vec(), Vec::new()],
        request_id: 77,
    };
    c.start_session(
        "d0",
        SessionKind::Label,
        "V00001",
        0,
        Some(reply_to.clone()),
        now,
    );
    c.session_forked("d0", 7, now);
    let mut r = report(7, SessionState::Finished, 0);
    r.error = "tape V00001 holds 3 catalogued files".into();
    c.session_report(&r, now);
    let out = c.session_ended(7, Some(3), None, now).unwrap();
    assert_eq!(out.new_state, DriveState::Up);
    let (to, answer) = out.reply.unwrap();
    assert_eq!(to, reply_to);
    assert!(answer.unwrap_err().contains("3 catalogued files"));
}

/// The forker's word that a session exited can overtake the session's own
/// last report (two channels): the exit waits for the report, so an
/// operator learns why the session failed rather than only its exit code.
#[test]
fn an_exit_that_overtakes_the_final_report_waits_for_it() {
    let (mut c, now) = catalogue();
    let reply_to = ReplyTo {
        envelope: vec![b"client".to_vec(), Vec::new()],
        request_id: 78,
    };
    c.start_session("d0", SessionKind::Label, "V00099", 0, Some(reply_to), now);
    c.session_forked("d0", 7, now);
    assert!(
        !c.session_exited(7, Some(3), None, now),
        "no final report yet: the exit waits"
    );
    assert!(c.ends_due(now).is_empty());
    assert!(c.pids().is_empty(), "an exited pid is never signalled");
    assert!(
        c.watchdog(
            &Timeouts {
                mount: Duration::from_secs(1),
                positioning: Duration::from_secs(1),
                no_data_movement: Duration::from_secs(1),
                heartbeat: Duration::from_secs(1),
                unmount: Duration::from_secs(1),
            },
            now + Duration::from_secs(86_400)
        )
        .is_empty(),
        "nor killed by the watchdog"
    );
    let mut r = report(7, SessionState::Finished, 0);
    r.error = "the library holds no cartridge V00099".into();
    c.session_report(&r, now);
    let due = c.ends_due(now);
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].pid, due[0].code), (7, Some(3)));
    assert!(c.ends_due(now).is_empty(), "handed out once");
    let out = c.session_ended(7, Some(3), None, now).unwrap();
    let (_, answer) = out.reply.unwrap();
    assert!(
        answer.unwrap_err().contains("no cartridge V00099"),
        "the session's reason reaches the operator"
    );
}

#[test]
fn an_exit_without_a_final_report_is_applied_after_the_grace() {
    let (mut c, now) = catalogue();
    running(&mut c, now);
    assert!(!c.session_exited(7, Some(1), None, now));
    assert!(c.ends_due(now + FINAL_REPORT_GRACE / 2).is_empty());
    let due = c.ends_due(now + FINAL_REPORT_GRACE);
    assert_eq!(due.len(), 1);
    assert_eq!(state(&c), DriveState::Running, "applied by session_ended");
    // A kill by signal has no report to wait for; nor has a session that
    // already said goodbye.
    let out = c.session_ended(7, Some(1), None, now).unwrap();
    assert_eq!(out.new_state, DriveState::Down);
    let (mut c, now) = catalogue();
    running(&mut c, now);
    assert!(c.session_exited(7, None, Some(9), now));
    let (mut c, now) = catalogue();
    running(&mut c, now);
    c.session_report(&report(7, SessionState::Finished, 0), now);
    assert!(c.session_exited(7, Some(0), None, now));
}

#[test]
fn running_draining_down_and_back_up() {
    let (mut c, now) = catalogue();
    running(&mut c, now);
    c.configure("d0", false, None, now).unwrap();
    assert_eq!(state(&c), DriveState::Draining);
    assert!(c.free_drives().is_empty());
    c.session_ended(7, Some(0), None, now).unwrap();
    assert_eq!(state(&c), DriveState::Down);
    c.configure("d0", true, None, now).unwrap();
    assert_eq!(state(&c), DriveState::Up);
}

#[test]
fn draining_cancelled_by_up() {
    let (mut c, now) = catalogue();
    running(&mut c, now);
    c.configure("d0", false, None, now).unwrap();
    c.configure("d0", true, None, now).unwrap();
    assert_eq!(state(&c), DriveState::Running);
    c.session_ended(7, Some(0), None, now).unwrap();
    assert_eq!(state(&c), DriveState::Up);
}

#[test]
fn draining_session_that_needs_a_cleaner_ends_down() {
    let (mut c, now) = catalogue();
    running(&mut c, now);
    c.configure("d0", false, None, now).unwrap();
    c.session_ended(7, Some(2), None, now).unwrap();
    c.start_cleaner("d0", "V00001", "exit 2", now);
    c.session_forked("d0", 8, now);
    let out = c.session_ended(8, Some(0), None, now).unwrap();
    assert_eq!(out.new_state, DriveState::Down);
}

#[test]
fn up_down_up_and_up_with_a_cartridge_cleans_first() {
    let (mut c, now) = catalogue();
    c.configure("d0", false, None, now).unwrap();
    assert_eq!(state(&c), DriveState::Down);
    let (_, clean) = c.configure("d0", true, Some("V00003"), now).unwrap();
    assert_eq!(
        clean.as_deref(),
        Some("V00003"),
        "a loaded drive is cleaned before it comes up"
    );
    assert_eq!(state(&c), DriveState::Down);
    c.start_cleaner("d0", "V00003", "tpconfig up", now);
    c.session_forked("d0", 9, now);
    c.session_ended(9, Some(0), None, now).unwrap();
    assert_eq!(state(&c), DriveState::Up);
}

#[test]
fn shutdown_stops_idle_drives_and_sessions_end_into_it() {
    let (mut c, now) = catalogue();
    running(&mut c, now);
    c.shutting_down(now);
    assert!(c.free_drives().is_empty());
    assert_eq!(c.busy(), 1);
    assert!(c.configure("d0", true, None, now).is_err());
    c.session_ended(7, Some(0), None, now).unwrap();
    assert_eq!(state(&c), DriveState::ShuttingDown);
    assert_eq!(c.busy(), 0);
    let (mut idle, now) = catalogue();
    idle.shutting_down(now);
    assert_eq!(idle.get("d0").unwrap().state, DriveState::ShuttingDown);
}

#[test]
fn watchdog_kills_a_stalled_session_once() {
    let (mut c, now) = catalogue();
    running(&mut c, now);
    c.session_report(&report(7, SessionState::Transferring, 100), now);
    let timeouts = Timeouts {
        mount: Duration::from_secs(60),
        positioning: Duration::from_secs(60),
        no_data_movement: Duration::from_secs(10),
        heartbeat: Duration::from_secs(60),
        unmount: Duration::from_secs(60),
    };
    // Heartbeats keep coming, the byte count does not move.
    for s in 1..=10 {
        c.session_report(
            &report(7, SessionState::Transferring, 100),
            now + Duration::from_secs(s),
        );
        assert!(
            c.watchdog(&timeouts, now + Duration::from_secs(s))
                .is_empty()
        );
    }
    let later = now + Duration::from_secs(11);
    c.session_report(&report(7, SessionState::Transferring, 100), later);
    let kills = c.watchdog(&timeouts, later);
    assert_eq!(kills.len(), 1);
    assert_eq!(kills[0].1, 7);
    assert!(c.watchdog(&timeouts, later).is_empty(), "killed once");
    let out = c.session_ended(7, None, Some(9), later).unwrap();
    assert!(matches!(out.next, Next::Cleaner { .. }));
    assert!(
        c.get("d0")
            .unwrap()
            .last_error
            .as_deref()
            .unwrap()
            .contains("watchdog")
    );
}

#[test]
fn removed_drive_goes_once_idle() {
    let (mut c, now) = catalogue();
    running(&mut c, now);
    c.remove_drive("d0");
    assert!(c.get("d0").is_some());
    c.session_ended(7, Some(0), None, now).unwrap();
    assert!(c.get("d0").is_none());
}

#[test]
fn unknown_drive_is_an_error() {
    let (mut c, now) = catalogue();
    assert!(c.configure("nope", true, None, now).is_err());
}

#[test]
fn a_drive_failing_every_session_stays_down_after_three() {
    let (mut c, now) = catalogue();
    for round in 1..=MAX_FAILURES_IN_A_ROW {
        running(&mut c, now);
        c.session_ended(7, None, Some(9), now).unwrap();
        c.start_cleaner("d0", "V00001", "killed", now);
        c.session_forked("d0", 8, now);
        let out = c.session_ended(8, Some(0), None, now).unwrap();
        let expected = if round < MAX_FAILURES_IN_A_ROW {
            DriveState::Up
        } else {
            DriveState::Down
        };
        assert_eq!(out.new_state, expected, "round {round}");
    }
    assert!(
        c.get("d0")
            .unwrap()
            .last_error
            .as_deref()
            .unwrap()
            .contains("in a row")
    );
    // The operator's up starts a new count; a clean session also resets it.
    c.configure("d0", true, None, now).unwrap();
    running(&mut c, now);
    c.session_ended(7, Some(0), None, now).unwrap();
    assert_eq!(c.get("d0").unwrap().failures_in_a_row, 0);
}

/// Hole 7: a session killed while it waited for a file's disk side is the
/// file's failure: an attempt for the file, nothing against the drive.
#[test]
fn a_kill_while_waiting_for_a_files_disk_side_blames_the_file_not_the_drive() {
    let (mut c, now) = catalogue();
    running(&mut c, now);
    let mut waiting = report(7, SessionState::Transferring, 100);
    waiting.disk_wait_file_id = 42;
    c.session_report(&waiting, now);
    let timeouts = Timeouts {
        mount: Duration::from_secs(60),
        positioning: Duration::from_secs(60),
        no_data_movement: Duration::from_secs(10),
        heartbeat: Duration::from_secs(60),
        unmount: Duration::from_secs(60),
    };
    let later = now + Duration::from_secs(11);
    c.session_report(&waiting, later);
    let kills = c.watchdog(&timeouts, later);
    assert!(kills[0].2.contains("disk side of file 42"), "{kills:?}");
    let out = c.session_ended(7, None, Some(9), later).unwrap();
    assert_eq!(
        out.blame,
        Some(FileBlame {
            mount_id: 1,
            file_id: 42,
            reason: out.blame.as_ref().unwrap().reason.clone(),
        })
    );
    assert!(
        matches!(out.next, Next::Cleaner { .. }),
        "the cartridge still needs unloading"
    );
    assert_eq!(c.get("d0").unwrap().failures_in_a_row, 0);
}

/// A drive whose decision waits for the library gets no mount request and
/// no session until the reading that answers it is taken out; a reading
/// older than the wait does not answer it.
#[test]
fn a_drive_waiting_for_the_library_gets_no_session() {
    let (mut c, now) = catalogue();
    c.await_library("d0", Waiting::Recovery, 5, false);
    assert!(c.mount_requests(now).is_empty());
    assert!(c.free_drives().is_empty());
    assert!(!c.start_session("d0", SessionKind::Label, "V00001", 0, None, now));
    assert!(c.library_waits_due(4).is_empty(), "an older reading");
    let due = c.library_waits_due(5);
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].1.why, Waiting::Recovery);
    assert_eq!(c.mount_requests(now), vec!["d0"]);
    c.keep_waiting("d0", due[0].1.clone());
    assert!(c.waits_for_library("d0"));
}
