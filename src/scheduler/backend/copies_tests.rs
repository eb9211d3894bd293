//! Several copies on both engines: a recall whose copy fails goes on with
//! the next one, a copy proved bad is never chosen again, and a recall
//! fails only once every copy has failed, with every reason. A repack
//! moves a tape's live copies through a bounded buffer, survives a mount
//! that ends unreported, replaces each old copy only once the new one is
//! recorded, and keeps a copy whose new write did not match.

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
    let jobs = s.fetch_recall_jobs(m.id, 10, u64::MAX, None).unwrap();
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
    let jobs = s.fetch_recall_jobs(m.id, 10, u64::MAX, None).unwrap();
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

/// Runs repacks to their end as the daemon would: the buffer moved on,
/// repack mounts read (the first one dies unreported), migrations write
/// with the CRC `crc` gives each file. Returns the most bytes the buffer
/// held at once.
fn run_repacks(
    s: &mut SqlScheduler,
    settings: &RepackSettings,
    sizes: &std::collections::HashMap<u64, u64>,
    crc: impl Fn(u64) -> u32,
) -> u64 {
    let mut peak = 0;
    let mut killed = false;
    // The files in the buffer: placed by a repack's recall, removed when
    // the buffer is moved on.
    let mut present: std::collections::HashMap<String, u64> = Default::default();
    for _ in 0..100 {
        let paths = s.advance_repacks(settings).unwrap();
        for p in &paths {
            present.remove(p);
        }
        s.buffers_removed(&paths).unwrap();
        let held: u64 = present.values().sum();
        peak = peak.max(held);
        assert!(held <= settings.buffer_bytes, "{held} bytes in the buffer");
        if s.repacks()
            .unwrap()
            .iter()
            .all(|r| r.state == "done" || r.state == "failed")
        {
            return peak;
        }
        let Some(m) = s.next_mount("h", "d0", &policy()).unwrap() else {
            continue;
        };
        match m.kind {
            MountKind::Repack => {
                let jobs = s.fetch_recall_jobs(m.id, 100, u64::MAX, None).unwrap();
                assert!(jobs.iter().all(|j| j.destination.starts_with("/buffer/")));
                if !killed {
                    // The session dies before its report: all read again.
                    killed = true;
                } else {
                    for j in &jobs {
                        present.insert(j.destination.clone(), sizes[&j.file_id]);
                    }
                    let done: Vec<_> = jobs
                        .iter()
                        .map(|j| (j.recall_id, RecallEnd::Done))
                        .collect();
                    s.report_recalls(m.id, &done).unwrap();
                }
            }
            MountKind::Migration => {
                let jobs = s.fetch_archive_jobs(m.id, 100, u64::MAX).unwrap();
                let mut written = archived(&jobs, 1 + s.tape(&m.vid).unwrap().last_fseq);
                for (w, j) in written.iter_mut().zip(&jobs) {
                    assert!(j.path.starts_with("/buffer/"), "{j:?}");
                    w.crc32c = crc(w.file_id);
                }
                s.report_migration(m.id, &m.vid, &written, &[], &FileLimits::default())
                    .unwrap();
            }
            MountKind::Recall => {
                // A user's recall, served from the new copy.
                let jobs = s.fetch_recall_jobs(m.id, 100, u64::MAX, None).unwrap();
                assert!(jobs.iter().all(|j| !j.destination.starts_with("/buffer/")));
                let done: Vec<_> = jobs
                    .iter()
                    .map(|j| (j.recall_id, RecallEnd::Done))
                    .collect();
                s.report_recalls(m.id, &done).unwrap();
            }
            other => panic!("unexpected {other:?} mount"),
        }
        s.end_mount(m.id).unwrap();
    }
    panic!("the repacks never ended: {:?}", s.repacks().unwrap());
}

fn a_repack_moves_every_copy_through_a_bounded_buffer(b: Backend) {
    let tmp = TestDb::new(b);
    let mut s = tmp.connect();
    s.add_pool("default").unwrap();
    s.add_tape("V00001", "default", 1 << 40).unwrap();
    s.add_pool("lto9").unwrap();
    s.add_tape("V00003", "lto9", 1 << 40).unwrap();
    let ids = super::tests::archive_all(&mut s, 6);
    let sizes: std::collections::HashMap<u64, u64> = s
        .file_status(&ids)
        .unwrap()
        .iter()
        .map(|f| (f.id, f.size))
        .collect();
    s.delete_files(LOCAL_OWNER, &[ids[5]], "t").unwrap();
    assert!(
        s.queue_repack("V00009", &RepackRequest::default(), "t")
            .is_err()
    );
    // A migration mount on the tape when the repack starts: its file lands
    // after the repack took its list, and is repacked too.
    let late = s.queue_archive(&files(1), "default").unwrap()[0];
    let writing = s.next_mount("h", "d1", &policy()).unwrap().unwrap();
    assert_eq!(writing.vid, "V00001");
    let late_jobs = s.fetch_archive_jobs(writing.id, 10, u64::MAX).unwrap();
    assert_eq!(late_jobs.len(), 1);
    let waiting = s.queue_recall(LOCAL_OWNER, ids[0], "/r/a").unwrap();
    let request = RepackRequest {
        to_pool: Some("lto9".into()),
        add_copies: false,
        reclaim: true,
    };
    assert_eq!(
        s.queue_repack("V00001", &request, "op").unwrap(),
        5,
        "live files only"
    );
    s.report_migration(
        writing.id,
        "V00001",
        &archived(&late_jobs, 7),
        &[],
        &FileLimits::default(),
    )
    .unwrap();
    s.end_mount(writing.id).unwrap();
    let sizes: std::collections::HashMap<u64, u64> =
        sizes.into_iter().chain([(late, 100)]).collect();
    assert!(s.queue_repack("V00001", &request, "op").is_err(), "already");
    assert_eq!(s.tape("V00001").unwrap().state, TapeState::Repacking);
    let settings = RepackSettings {
        buffer_dir: "/buffer".into(),
        buffer_bytes: 700,
    };
    let peak = run_repacks(&mut s, &settings, &sizes, |_| 7);
    assert!(peak > 0 && peak <= 700, "{peak}");
    let r = &s.repacks().unwrap()[0];
    assert_eq!(
        (
            r.state.as_str(),
            r.files_total,
            r.files_done,
            r.files_failed,
            r.bytes
        ),
        ("done", 6, 6, 0, 1600),
        "{r:?}"
    );
    for id in ids[..5].iter().chain([&late]) {
        let copies = s.copies_of(LOCAL_OWNER, *id).unwrap();
        assert_eq!(copies.len(), 1, "exactly one copy of file {id}");
        assert_eq!((copies[0].copy_nb, copies[0].vid.as_str()), (1, "V00003"));
    }
    // Reclaimed; the recall that waited follows its file.
    let t = s.tape("V00001").unwrap();
    assert_eq!(
        (t.state, t.last_fseq, t.live_files),
        (TapeState::Active, 0, 0)
    );
    let w = &s.recall_status(&[waiting.recall_id]).unwrap()[0];
    assert_eq!((w.state, w.vid.as_str()), (RecallState::Done, "V00003"));
    assert!(
        s.recalls_of(LOCAL_OWNER, &[], Page::ALL)
            .unwrap()
            .iter()
            .all(|r| !r.destination.starts_with("/buffer/")),
        "an owner never sees the repack's own recalls"
    );
}

/// A new copy whose CRC is not the file's is not recorded: the file's
/// repack fails and its old copy stays, the tape back in its state.
fn a_repack_keeps_the_old_copy_when_the_new_one_does_not_match(b: Backend) {
    let tmp = TestDb::new(b);
    let mut s = tmp.connect();
    s.add_pool("default").unwrap();
    s.add_tape("V00001", "default", 1 << 40).unwrap();
    s.add_tape("V00002", "default", 1 << 40).unwrap();
    let ids = super::tests::archive_all(&mut s, 3);
    let sizes: std::collections::HashMap<u64, u64> = s
        .file_status(&ids)
        .unwrap()
        .iter()
        .map(|f| (f.id, f.size))
        .collect();
    s.queue_repack("V00001", &RepackRequest::default(), "op")
        .unwrap();
    let settings = RepackSettings {
        buffer_dir: "/buffer".into(),
        buffer_bytes: 1 << 20,
    };
    let bad = ids[1];
    run_repacks(
        &mut s,
        &settings,
        &sizes,
        |id| if id == bad { 8 } else { 7 },
    );
    let r = &s.repacks().unwrap()[0];
    assert_eq!(
        (r.state.as_str(), r.files_done, r.files_failed),
        ("failed", 2, 1)
    );
    assert!(r.error.as_deref().unwrap().contains("CRC32C"), "{r:?}");
    let copies = s.copies_of(LOCAL_OWNER, bad).unwrap();
    assert_eq!((copies.len(), copies[0].vid.as_str()), (1, "V00001"));
    assert_eq!(s.copies_of(LOCAL_OWNER, ids[0]).unwrap()[0].vid, "V00002");
    assert_eq!(s.tape("V00001").unwrap().state, TapeState::Active);
}

on_both_backends!(
    a_failed_copy_passes_the_recall_to_the_next,
    a_repack_moves_every_copy_through_a_bounded_buffer,
    a_repack_keeps_the_old_copy_when_the_new_one_does_not_match
);
