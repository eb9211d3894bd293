//! The disk buffer on both engines: recalls wait for room and take only
//! what fits; the collector's candidates are least recently used first,
//! never pinned, never a file's only copy; a copy claimed for eviction is
//! recalled by a stage request made meanwhile, not pinned.

use std::time::Duration;

use super::super::testdb::{Backend, TestDb, on_both_backends};
use super::tests::archive_all;
use super::*;

fn policy(room: Option<BufferRoom>) -> MountPolicy {
    MountPolicy {
        recall_room: room,
        ..MountPolicy::uniform(1, u64::MAX, Duration::from_secs(3600), Duration::ZERO)
    }
}

fn room(used: u64) -> Option<BufferRoom> {
    Some(BufferRoom { limit: 1000, used })
}

fn queued_recalls(s: &mut SqlScheduler) -> usize {
    s.recalls_of(LOCAL_OWNER, &[], Page::ALL)
        .unwrap()
        .iter()
        .filter(|r| r.state == RecallState::Queued)
        .count()
}

fn recalls_wait_for_room_and_take_only_what_fits(b: Backend) {
    let tmp = TestDb::new(b);
    let mut s = tmp.connect();
    s.add_pool("default").unwrap();
    s.add_tape("V00001", "default", 1 << 40).unwrap();
    // Files of 100, 200 and 300 bytes.
    let ids = archive_all(&mut s, 3);
    for id in &ids {
        s.queue_recall(LOCAL_OWNER, *id, &format!("/back/{id}"))
            .unwrap();
    }
    // 50 bytes of room: no file fits, no mount.
    assert!(
        s.next_mount("h", "d0", &policy(room(950)))
            .unwrap()
            .is_none()
    );
    // 250: the mount takes the 100-byte file and leaves the others queued
    // (a smaller one further on would have gone).
    let m = s
        .next_mount("h", "d0", &policy(room(750)))
        .unwrap()
        .unwrap();
    assert_eq!(m.kind, MountKind::Recall);
    let jobs = s.fetch_recall_jobs(m.id, 10, u64::MAX, room(750)).unwrap();
    assert_eq!(jobs.iter().map(|j| j.size).collect::<Vec<_>>(), [100]);
    // Its 100 bytes are reserved until they land: 150 left, none fits.
    assert!(
        s.fetch_recall_jobs(m.id, 10, u64::MAX, room(750))
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.buffer_usage("/back").unwrap().reserved_bytes, 100);
    s.report_recalls(m.id, &[(jobs[0].recall_id, RecallEnd::Done)])
        .unwrap();
    assert_eq!(s.buffer_usage("/back").unwrap().reserved_bytes, 0);
    s.end_mount(m.id).unwrap();
    assert_eq!(queued_recalls(&mut s), 2, "waiting, not failed");
    // Room again: the rest in one mount. Without a buffer: no limit.
    let m = s
        .next_mount("h", "d1", &policy(room(400)))
        .unwrap()
        .unwrap();
    let jobs = s.fetch_recall_jobs(m.id, 10, u64::MAX, room(400)).unwrap();
    assert_eq!(jobs.iter().map(|j| j.size).collect::<Vec<_>>(), [200, 300]);
    s.report_recalls(
        m.id,
        &jobs
            .iter()
            .map(|j| (j.recall_id, RecallEnd::Done))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert_eq!(queued_recalls(&mut s), 0);
}

/// The mount is made because a file fits: the fetch must find it even
/// when larger files come first on tape and the batch is small.
fn a_mount_for_a_file_that_fits_fetches_it_past_larger_ones(b: Backend) {
    let tmp = TestDb::new(b);
    let mut s = tmp.connect();
    s.add_pool("default").unwrap();
    s.add_tape("V00001", "default", 1 << 40).unwrap();
    let files: Vec<NewArchiveFile> = [500, 600, 100]
        .iter()
        .enumerate()
        .map(|(i, size)| NewArchiveFile {
            path: format!("/data/g{i}"),
            size: *size,
            owner: LOCAL_OWNER.into(),
            permissions: None,
        })
        .collect();
    let ids = s.queue_archive(&files, "default").unwrap();
    let m = s.next_mount("h", "d0", &policy(None)).unwrap().unwrap();
    let jobs = s.fetch_archive_jobs(m.id, 10, u64::MAX).unwrap();
    s.report_migration(
        m.id,
        &m.vid,
        &super::tests::archived(&jobs, 1),
        &[],
        &FileLimits::default(),
    )
    .unwrap();
    s.end_mount(m.id).unwrap();
    for id in &ids {
        s.queue_recall(LOCAL_OWNER, *id, &format!("/back/{id}"))
            .unwrap();
    }
    // 150 bytes of room: only the 100-byte file, third on tape, fits.
    let m = s
        .next_mount("h", "d0", &policy(room(850)))
        .unwrap()
        .unwrap();
    let jobs = s.fetch_recall_jobs(m.id, 1, u64::MAX, room(850)).unwrap();
    assert_eq!(jobs.iter().map(|j| j.size).collect::<Vec<_>>(), [100]);
}

fn stage(path: &str, file_id: u64, on_disk: bool) -> StageEntry {
    StageEntry {
        path: path.into(),
        file_id: Some(file_id),
        on_disk,
        error: None,
        lifetime_s: 3600.0,
    }
}

fn candidates(s: &mut SqlScheduler) -> Vec<String> {
    s.eviction_candidates("/data", 10)
        .unwrap()
        .into_iter()
        .map(|c| c.path)
        .collect()
}

fn the_collector_evicts_least_recently_used_never_pinned_nor_only_copies(b: Backend) {
    let tmp = TestDb::new(b);
    let mut s = tmp.connect();
    s.add_pool("default").unwrap();
    s.add_tape("V00001", "default", 1 << 40).unwrap();
    let ids = archive_all(&mut s, 3);
    let queued = s
        .queue_archive(
            &[NewArchiveFile {
                path: "/data/new".into(),
                size: 50,
                owner: LOCAL_OWNER.into(),
                permissions: None,
            }],
            "default",
        )
        .unwrap()[0];
    assert_eq!(candidates(&mut s), ["/data/f0", "/data/f1", "/data/f2"]);
    assert!(
        s.eviction_candidates("/dat", 10).unwrap().is_empty(),
        "beneath the directory only"
    );
    // A stage finds f1 on disk: pinned (and just used).
    s.create_stage(
        "r1",
        LOCAL_OWNER,
        "alice",
        &[stage("/data/f1", ids[1], true)],
    )
    .unwrap();
    assert_eq!(candidates(&mut s), ["/data/f0", "/data/f2"]);
    assert_eq!(s.claim_eviction(ids[1]).unwrap(), EvictionClaim::Pinned);
    assert_eq!(
        s.claim_eviction(queued).unwrap(),
        EvictionClaim::NotOnTape(FileState::Queued)
    );
    assert_eq!(s.claim_eviction(ids[0]).unwrap(), EvictionClaim::Claimed);
    assert_eq!(s.claim_eviction(ids[0]).unwrap(), EvictionClaim::Evicted);
    assert_eq!(candidates(&mut s), ["/data/f2"]);
    let usage = s.buffer_usage("/data").unwrap();
    assert_eq!(
        (
            usage.pinned_bytes,
            usage.unmigrated_bytes,
            usage.evicted_bytes
        ),
        (200, 50, 100)
    );
    // The frontend saw f0 on disk just before the collector claimed it:
    // the request recalls it rather than pin a copy about to go.
    s.create_stage(
        "r2",
        LOCAL_OWNER,
        "alice",
        &[stage("/data/f0", ids[0], true)],
    )
    .unwrap();
    let st = s.stage_status("r2", LOCAL_OWNER, "alice").unwrap();
    assert_eq!(st.files[0].state, StageFileState::Submitted);
    let m = s.next_mount("h", "d0", &policy(None)).unwrap().unwrap();
    let jobs = s.fetch_recall_jobs(m.id, 10, u64::MAX, None).unwrap();
    s.report_recalls(m.id, &[(jobs[0].recall_id, RecallEnd::Done)])
        .unwrap();
    // Home again and used last: released, it is the last to go.
    assert_eq!(s.buffer_usage("/data").unwrap().evicted_files, 0);
    s.release_stage("r2", LOCAL_OWNER, "alice", &["/data/f0".into()])
        .unwrap();
    s.release_stage("r1", LOCAL_OWNER, "alice", &["/data/f1".into()])
        .unwrap();
    let order = candidates(&mut s);
    assert_eq!(
        order.first().map(String::as_str),
        Some("/data/f2"),
        "{order:?}"
    );
    assert_eq!(
        order.last().map(String::as_str),
        Some("/data/f0"),
        "{order:?}"
    );
}

on_both_backends!(
    recalls_wait_for_room_and_take_only_what_fits,
    a_mount_for_a_file_that_fits_fetches_it_past_larger_ones,
    the_collector_evicts_least_recently_used_never_pinned_nor_only_copies
);
