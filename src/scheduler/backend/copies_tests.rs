//! Several copies on both engines: a recall whose copy fails goes on with
//! the next one, a copy proved bad is never chosen again, and a recall
//! fails only once every copy has failed, with every reason.

use std::time::Duration;

use super::super::testdb::{Backend, TestDb, on_both_backends};
use super::tests::{archived, files};
use super::*;

const DAY: Duration = Duration::from_secs(86_400);

pub(super) fn policy() -> MountPolicy {
    MountPolicy::uniform(1, u64::MAX, DAY, Duration::ZERO)
}

/// Pools `default` (V00001) and `copy2` (V00002), class `two` routed to
/// them, `n` files of it written: copy 1 on V00001, copy 2 on V00002.
pub(super) fn two_copies(s: &mut SqlScheduler, n: u64) -> Vec<u64> {
    for (pool, vid) in [("default", "V00001"), ("copy2", "V00002")] {
        s.add_pool(pool).unwrap();
        s.add_tape(vid, pool, 1 << 40).unwrap();
    }
    s.add_class("two", 2).unwrap();
    s.add_route("two", 1, "default").unwrap();
    s.add_route("two", 2, "copy2").unwrap();
    let ids = s.queue_archive_class(&files(n), "two").unwrap();
    for drive in ["d0", "d1"] {
        let m = s.next_mount("h", drive, &policy()).unwrap().unwrap();
        let jobs = s.fetch_archive_jobs(m.id, n, u64::MAX).unwrap();
        s.report_migration(
            m.id,
            &m.vid,
            &archived(&jobs, 1),
            &[],
            &FileLimits::default(),
        )
        .unwrap();
        s.end_mount(m.id).unwrap();
    }
    ids
}

/// Mounts `vid` for recalls on `drive` and reports `end` for its one job.
fn read_fails(s: &mut SqlScheduler, drive: &str, vid: &str, end: RecallEnd) {
    let m = s.next_mount("h", drive, &policy()).unwrap().unwrap();
    assert_eq!((m.kind, m.vid.as_str()), (MountKind::Recall, vid));
    let jobs = s.fetch_recall_jobs(m.id, 10, u64::MAX).unwrap();
    assert_eq!(jobs.len(), 1);
    s.report_recalls(m.id, &[(jobs[0].recall_id, end)]).unwrap();
    s.end_mount(m.id).unwrap();
}

fn a_failed_copy_passes_the_recall_to_the_next(b: Backend) {
    let tmp = TestDb::new(b);
    let mut s = tmp.connect();
    let ids = two_copies(&mut s, 1);
    // Copy 1's tape out of service: the recall takes copy 2.
    s.set_tape_state("V00001", TapeState::Disabled, "cleaning")
        .unwrap();
    let ticket = s.queue_recall(LOCAL_OWNER, ids[0], "/r/a").unwrap();
    assert_eq!(ticket.vid, "V00002");
    read_fails(
        &mut s,
        "d0",
        "V00002",
        RecallEnd::CopyFailed {
            reason: "block 3 failed its LBP CRC32C check".into(),
            bad: true,
        },
    );
    // Copy 2 is bad for good; the recall waits for copy 1.
    let r = &s.recall_status(&[ticket.recall_id]).unwrap()[0];
    assert_eq!((r.state, r.vid.as_str()), (RecallState::Queued, "V00001"));
    assert!(r.error.as_deref().unwrap().contains("LBP"), "{r:?}");
    let copies = s.copies_of(LOCAL_OWNER, ids[0]).unwrap();
    assert!(copies[1].bad.as_deref().unwrap().contains("LBP"));
    assert_eq!(copies[0].bad, None);
    assert!(
        s.next_mount("h", "d0", &policy()).unwrap().is_none(),
        "copy 1's tape is disabled: nothing to mount"
    );
    // A new recall never takes the bad copy, even on an active tape.
    assert_eq!(
        s.queue_recall(LOCAL_OWNER, ids[0], "/r/b").unwrap().vid,
        "V00001"
    );
    // Copy 1 back in service, its read fails too (a drive error: the copy
    // is not blamed): every copy failed, with every reason.
    s.set_tape_state("V00001", TapeState::Active, "").unwrap();
    let m = s.next_mount("h", "d0", &policy()).unwrap().unwrap();
    let jobs = s.fetch_recall_jobs(m.id, 10, u64::MAX).unwrap();
    let first = jobs
        .iter()
        .find(|j| j.recall_id == ticket.recall_id)
        .unwrap();
    s.report_recalls(
        m.id,
        &[(
            first.recall_id,
            RecallEnd::CopyFailed {
                reason: "MEDIUM ERROR".into(),
                bad: false,
            },
        )],
    )
    .unwrap();
    let r = &s.recall_status(&[ticket.recall_id]).unwrap()[0];
    assert_eq!(r.state, RecallState::Failed);
    let error = r.error.as_deref().unwrap();
    assert!(error.starts_with("every copy failed"), "{error}");
    assert!(
        error.contains("V00001 fSeq 1: MEDIUM ERROR") && error.contains("V00002 fSeq 1: block 3"),
        "{error}"
    );
    assert_eq!(
        s.copies_of(LOCAL_OWNER, ids[0]).unwrap()[0].bad,
        None,
        "a drive's error is not held against the copy"
    );
}

on_both_backends!(a_failed_copy_passes_the_recall_to_the_next);
