//! Shares on both engines: a share at its maximum of reading drives waits
//! while another share's work takes the drive, and goes over its maximum
//! rather than leave a drive idle.

use std::time::Duration;

use super::super::testdb::{Backend, TestDb, on_both_backends};
use super::tests::{archived, files};
use super::*;

/// One file on `vid` of `pool`; returns its id.
fn one_file_on(s: &mut SqlScheduler, pool: &str, vid: &str) -> u64 {
    s.add_tape(vid, pool, 1 << 40).unwrap();
    let ids = s.queue_archive(&files(1), pool).unwrap();
    let now = MountPolicy::uniform(1, 1, Duration::ZERO, Duration::ZERO);
    let m = s.next_mount("h", "writer", &now).unwrap().unwrap();
    assert_eq!(m.vid, vid);
    let jobs = s.fetch_archive_jobs(m.id, 1, u64::MAX).unwrap();
    s.report_migration(m.id, vid, &archived(&jobs, 1), &[], &FileLimits::default())
        .unwrap();
    s.end_mount(m.id).unwrap();
    s.set_tape_state(vid, TapeState::Full, "test").unwrap();
    ids[0]
}

fn a_share_at_its_maximum_waits_unless_the_drive_would_idle(b: Backend) {
    let tmp = TestDb::new(b);
    let mut s = tmp.connect();
    s.add_pool("a").unwrap();
    s.add_pool("b").unwrap();
    let a1 = one_file_on(&mut s, "a", "A00001");
    let a2 = one_file_on(&mut s, "a", "A00002");
    let b1 = one_file_on(&mut s, "b", "B00001");
    // Queued oldest first: A00001's, A00002's, then B00001's.
    for (id, dest) in [(a1, "/r/a1"), (a2, "/r/a2"), (b1, "/r/b1")] {
        s.queue_recall(LOCAL_OWNER, id, dest).unwrap();
    }
    let mut policy = MountPolicy::uniform(1, u64::MAX, Duration::from_secs(3600), Duration::ZERO);
    policy.shares = vec![Share {
        name: "experiment-a".into(),
        pools: ["a".to_string()].into(),
        max_read_drives: Some(1),
        max_write_drives: None,
        weight: 1,
    }];
    let vid = |s: &mut SqlScheduler, d: &str| s.next_mount("h", d, &policy).unwrap().unwrap().vid;
    assert_eq!(vid(&mut s, "d0"), "A00001", "the oldest first");
    assert_eq!(
        vid(&mut s, "d1"),
        "B00001",
        "share experiment-a reads with its one drive: pool b's recall goes first"
    );
    assert_eq!(
        vid(&mut s, "d2"),
        "A00002",
        "over its maximum rather than leave the drive idle"
    );
    let drives = s.pool_drives().unwrap();
    assert_eq!(drives.get("a"), Some(&(2, 0)));
    assert_eq!(drives.get("b"), Some(&(1, 0)));
}

on_both_backends!(a_share_at_its_maximum_waits_unless_the_drive_would_idle);
