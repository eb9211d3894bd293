//! The data lifecycle on both engines. Deletion, undeletion and reclaim: a deleted file never
//! recalls, a queued archive is cancelled and its recalls fail, an
//! undelete works within the retention and not after a reclaim, a tape
//! with a live copy is never reclaimed, and a reclaimed tape is written
//! again from fSeq 1.

use std::time::Duration;

use super::tests::{archive_all, files};
use super::*;

use super::super::testdb::{Backend, TestDb, on_both_backends};

const DAY: Duration = Duration::from_secs(86_400);

fn tape(s: &mut SqlScheduler) -> TapeInfo {
    s.tape("V00001").unwrap()
}

fn state(s: &mut SqlScheduler, id: u64) -> FileState {
    s.file_status(&[id]).unwrap()[0].state
}

fn delete_undelete_reclaim(b: Backend) {
    let tmp = TestDb::new(b);
    let mut s = tmp.connect();
    s.add_pool("default").unwrap();
    s.add_tape("V00001", "default", 1 << 40).unwrap();
    let ids = archive_all(&mut s, 3);
    let t = tape(&mut s);
    assert_eq!((t.live_files, t.deleted_files, t.live_bytes), (3, 0, 600));

    // A recall queued before the deletion fails with it.
    let queued = s.queue_recall(LOCAL_OWNER, ids[0], "/r/a").unwrap();
    // Another owner cannot delete it, and one unknown id deletes nothing.
    assert!(matches!(
        s.delete_files("someone", &[ids[0]], "someone"),
        Err(SchedulerError::UnknownFile(_))
    ));
    assert!(s.delete_files(LOCAL_OWNER, &[ids[0], 9999], "t").is_err());
    assert_eq!(state(&mut s, ids[0]), FileState::OnTape, "all or nothing");

    assert_eq!(
        s.delete_files(LOCAL_OWNER, &[ids[0], ids[0]], "t").unwrap(),
        vec![ids[0], ids[0]]
    );
    assert_eq!(state(&mut s, ids[0]), FileState::Deleted);
    let r = &s.recall_status(&[queued.recall_id]).unwrap()[0];
    assert_eq!(r.state, RecallState::Failed);
    assert!(matches!(
        s.queue_recall(LOCAL_OWNER, ids[0], "/r/b"),
        Err(SchedulerError::NotOnTape {
            state: FileState::Deleted,
            ..
        })
    ));
    let t = tape(&mut s);
    assert_eq!(
        (t.live_files, t.deleted_files, t.deleted_bytes),
        (2, 1, 100)
    );

    // Undelete: refused past the retention, allowed within it.
    let err = s.undelete(ids[0], Duration::ZERO).unwrap_err();
    assert!(
        err.to_string().contains("gone for good") || err.to_string().contains("retention"),
        "{err}"
    );
    s.undelete(ids[0], DAY).unwrap();
    assert_eq!(state(&mut s, ids[0]), FileState::OnTape);
    assert!(s.undelete(ids[0], DAY).is_err(), "not deleted");
    s.queue_recall(LOCAL_OWNER, ids[0], "/r/c").unwrap();

    // A queued archive is cancelled by its deletion.
    let more = s.queue_archive(&files(1), "default").unwrap();
    s.delete_files(LOCAL_OWNER, &more, "t").unwrap();
    assert_eq!(
        s.queues().unwrap().iter().map(|q| q.files).sum::<u64>(),
        1,
        "only the recall is left queued"
    );

    // Reclaim: refused while a live copy is on the tape.
    let err = s.reclaim("V00001").unwrap_err();
    assert!(err.to_string().contains("3 live files"), "{err}");
    s.delete_files(LOCAL_OWNER, &ids, "t").unwrap();
    assert_eq!(s.reclaim("V00001").unwrap(), 3);
    let t = tape(&mut s);
    assert_eq!(
        (
            t.last_fseq,
            t.bytes_used,
            t.live_files,
            t.deleted_files,
            t.reclaimed
        ),
        (0, 0, 0, 0, 1)
    );
    assert!(s.last_file("V00001").unwrap().is_none());
    let err = s.undelete(ids[1], DAY).unwrap_err();
    assert!(err.to_string().contains("reclaimed"), "{err}");
    assert!(matches!(
        s.reclaim("V99999"),
        Err(SchedulerError::UnknownTape(_))
    ));

    // A reclaimed tape may change pools; one with a live file may not.
    assert!(matches!(
        s.move_tape("V00001", "nope"),
        Err(SchedulerError::UnknownPool(_))
    ));
    s.add_pool("gen2").unwrap();
    s.move_tape("V00001", "gen2").unwrap();
    assert_eq!(tape(&mut s).pool, "gen2");
    s.move_tape("V00001", "default").unwrap();

    // The next write records fSeq 1 again (the old fSeq 1 is forgotten:
    // (vid, fseq) is unique).
    let again = archive_all(&mut s, 1);
    assert_eq!(s.file_status(&again).unwrap()[0].fseq, Some(1));
    let err = s.move_tape("V00001", "gen2").unwrap_err();
    assert!(err.to_string().contains("1 live files"), "{err}");
}

/// Broken, exported and repacking tapes are never mounted for a user's
/// recall; who set a state, and when, is kept.
fn tapes_out_of_service_are_not_mounted_for_recalls(b: Backend) {
    let tmp = TestDb::new(b);
    let mut s = tmp.connect();
    s.add_pool("default").unwrap();
    s.add_tape("V00001", "default", 1 << 40).unwrap();
    let ids = archive_all(&mut s, 1);
    s.queue_recall(LOCAL_OWNER, ids[0], "/r/a").unwrap();
    let policy = MountPolicy::uniform(1, u64::MAX, Duration::from_secs(3600), Duration::ZERO);
    for state in [TapeState::Broken, TapeState::Exported, TapeState::Repacking] {
        s.set_tape_state_by("V00001", state, "dropped", "alice")
            .unwrap();
        let t = tape(&mut s);
        assert_eq!(
            (t.state, t.reason.as_deref(), t.state_by.as_deref()),
            (state, Some("dropped"), Some("alice"))
        );
        assert!(t.state_since.unwrap_or(0.0) > 0.0);
        assert_eq!(s.next_mount("h", "d0", &policy).unwrap(), None, "{state}");
    }
    s.set_tape_state("V00001", TapeState::Active, "").unwrap();
    assert_eq!(tape(&mut s).state_by.as_deref(), Some(SYSTEM));
    let m = s.next_mount("h", "d0", &policy).unwrap().unwrap();
    assert_eq!(m.kind, MountKind::Recall);
}

/// A verification waits for user work, reads the live files, and records
/// the bad copies; a verify mount that ends unreported is queued again.
fn verification_is_the_lowest_priority_and_records_bad_copies(b: Backend) {
    let tmp = TestDb::new(b);
    let mut s = tmp.connect();
    s.add_pool("default").unwrap();
    s.add_tape("V00001", "default", 1 << 40).unwrap();
    let ids = archive_all(&mut s, 3);
    s.delete_files(LOCAL_OWNER, &ids[2..], "t").unwrap();
    assert!(matches!(
        s.queue_verify("V99999", 0, "alice"),
        Err(SchedulerError::UnknownTape(_))
    ));
    s.queue_verify("V00001", 0, "alice").unwrap();
    let policy = MountPolicy::uniform(1, u64::MAX, Duration::from_secs(3600), Duration::ZERO);
    // User work first.
    s.queue_recall(LOCAL_OWNER, ids[0], "/r/a").unwrap();
    let m = s.next_mount("h", "d0", &policy).unwrap().unwrap();
    assert_eq!(m.kind, MountKind::Recall);
    s.end_mount(m.id).unwrap();
    s.cancel_recall(1).unwrap();
    // Then the verification; a mount that ends unreported is queued again.
    let m = s.next_mount("h", "d0", &policy).unwrap().unwrap();
    assert_eq!((m.kind, m.vid.as_str()), (MountKind::Verify, "V00001"));
    s.end_mount(m.id).unwrap();
    let m = s.next_mount("h", "d0", &policy).unwrap().unwrap();
    assert_eq!(m.kind, MountKind::Verify);
    let jobs = s.fetch_verify_jobs(m.id).unwrap();
    assert_eq!(
        jobs.iter().map(|j| j.file_id).collect::<Vec<_>>(),
        ids[..2].to_vec(),
        "the live files only"
    );
    s.report_verify(
        m.id,
        "V00001",
        &[BadCopy {
            file_id: ids[1],
            fseq: jobs[1].fseq,
            reason: "block 0 failed its CRC32C check".into(),
        }],
    )
    .unwrap();
    s.end_mount(m.id).unwrap();
    let t = tape(&mut s);
    assert_eq!(t.verify_errors, 1);
    assert!(t.last_verified.is_some());
    let f = &s.file_status(&[ids[1]]).unwrap()[0];
    assert_eq!(f.bad.as_deref(), Some("block 0 failed its CRC32C check"));
    assert_eq!(s.next_mount("h", "d0", &policy).unwrap(), None, "done");
}

/// An LTO-8 drive is never offered an LTO-9 tape, to read or to write;
/// a queue no live drive can serve says so.
fn drives_are_offered_only_tapes_of_their_generation(b: Backend) {
    let tmp = TestDb::new(b);
    let mut s = tmp.connect();
    s.add_pool("default").unwrap();
    s.add_tape("V00001", "default", 1 << 40).unwrap();
    s.set_tape_media("V00001", Some("LTO9")).unwrap();
    assert!(s.set_tape_media("V00001", Some("X1")).is_err());
    assert_eq!(tape(&mut s).media.as_deref(), Some("L9"));
    let drives = |names: &[&str]| names.iter().map(|d| d.to_string()).collect::<Vec<_>>();
    let hour = Duration::from_secs(3600);
    s.renew_leases("h", &drives(&["old", "new"]), hour).unwrap();
    s.set_drive_models(
        "h",
        &[
            ("old".into(), Some("LTO8".into())),
            ("new".into(), Some("LTO-9".into())),
        ],
    )
    .unwrap();
    let policy = MountPolicy::uniform(1, u64::MAX, hour, Duration::ZERO);
    // Archives of a pool whose only tape is LTO-9.
    s.queue_archive(&files(1), "default").unwrap();
    assert_eq!(
        s.next_mount("h", "old", &policy).unwrap(),
        None,
        "LTO-8 cannot write L9"
    );
    let m = s.next_mount("h", "new", &policy).unwrap().unwrap();
    assert_eq!((m.kind, m.vid.as_str()), (MountKind::Migration, "V00001"));
    let jobs = s.fetch_archive_jobs(m.id, 1, u64::MAX).unwrap();
    s.report_migration(
        m.id,
        "V00001",
        &super::tests::archived(&jobs, 1),
        &[],
        &FileLimits::default(),
    )
    .unwrap();
    s.end_mount(m.id).unwrap();
    // A recall from it: never the LTO-8 drive.
    s.queue_recall(LOCAL_OWNER, jobs[0].file_id, "/r/a")
        .unwrap();
    assert_eq!(
        s.next_mount("h", "old", &policy).unwrap(),
        None,
        "LTO-8 cannot read L9"
    );
    assert!(s.queues().unwrap().iter().all(|q| q.servable));
    // Only the LTO-8 drive alive: the queue says no drive can serve it.
    s.renew_leases("h", &drives(&["new"]), Duration::ZERO)
        .unwrap();
    let q = s.queues().unwrap();
    assert!(!q[0].servable, "{q:?}");
    let m = s.next_mount("h", "new", &policy).unwrap().unwrap();
    assert_eq!(m.kind, MountKind::Recall);
}

/// `[verify] interval`: a tape with live files not verified within it is
/// queued once; once verified it is not due again until the interval.
fn tapes_not_verified_within_the_interval_are_queued(b: Backend) {
    let tmp = TestDb::new(b);
    let mut s = tmp.connect();
    s.add_pool("default").unwrap();
    s.add_tape("V00001", "default", 1 << 40).unwrap();
    s.add_tape("V00002", "default", 1 << 40).unwrap();
    assert_eq!(
        s.queue_stale_verifications(Duration::ZERO).unwrap(),
        0,
        "no live file yet"
    );
    archive_all(&mut s, 2);
    assert_eq!(
        s.queue_stale_verifications(DAY).unwrap(),
        0,
        "written just now"
    );
    assert_eq!(
        s.queue_stale_verifications(Duration::ZERO).unwrap(),
        1,
        "the written tape only"
    );
    assert_eq!(
        s.queue_stale_verifications(Duration::ZERO).unwrap(),
        0,
        "queued once"
    );
    let policy = MountPolicy::uniform(1, u64::MAX, DAY, Duration::ZERO);
    let m = s.next_mount("h", "d0", &policy).unwrap().unwrap();
    assert_eq!(m.kind, MountKind::Verify);
    s.fetch_verify_jobs(m.id).unwrap();
    s.report_verify(m.id, &m.vid, &[]).unwrap();
    s.end_mount(m.id).unwrap();
    assert_eq!(
        s.queue_stale_verifications(DAY).unwrap(),
        0,
        "verified just now"
    );
}

/// A two-copy class: each copy queued to its own pool, written by its own
/// mount, the file on tape only once both are; a recall skips the copy on
/// a broken tape; a copy that fails for good fails the file, not the
/// other copy's record.
fn two_copies_go_to_two_pools_and_a_recall_takes_a_good_one(b: Backend) {
    let tmp = TestDb::new(b);
    let mut s = tmp.connect();
    for (pool, vid) in [("default", "V00001"), ("copy2", "V00002")] {
        s.add_pool(pool).unwrap();
        s.add_tape(vid, pool, 1 << 40).unwrap();
    }
    s.add_class("two", 2).unwrap();
    assert!(s.add_class("two", 2).is_err(), "exists");
    s.add_route("two", 1, "default").unwrap();
    assert!(
        s.queue_archive_class(&files(1), "two").is_err(),
        "routes incomplete"
    );
    let err = s.add_route("two", 2, "default").unwrap_err();
    assert!(err.to_string().contains("never share a pool"), "{err}");
    assert!(s.add_route("two", 3, "copy2").is_err(), "no copy 3");
    s.add_route("two", 2, "copy2").unwrap();
    assert_eq!(
        s.classes().unwrap()[0].routes,
        vec![(1, "default".to_string()), (2, "copy2".to_string())]
    );
    let ids = s.queue_archive_class(&files(3), "two").unwrap();
    let policy = MountPolicy::uniform(1, u64::MAX, DAY, Duration::ZERO);
    let mut pools_written = Vec::new();
    for drive in ["d0", "d1"] {
        let m = s.next_mount("h", drive, &policy).unwrap().unwrap();
        assert_eq!(m.kind, MountKind::Migration);
        let jobs = s.fetch_archive_jobs(m.id, 10, u64::MAX).unwrap();
        assert_eq!(
            jobs.len(),
            3,
            "each mount takes its pool's copy of every file"
        );
        s.report_migration(
            m.id,
            &m.vid,
            &super::tests::archived(&jobs, 1),
            &[],
            &FileLimits::default(),
        )
        .unwrap();
        s.end_mount(m.id).unwrap();
        pools_written.push(m.pool.clone());
        let state = state(&mut s, ids[0]);
        if pools_written.len() == 1 {
            assert_eq!(state, FileState::Queued, "one copy of two");
        } else {
            assert_eq!(state, FileState::OnTape);
        }
    }
    pools_written.sort();
    assert_eq!(pools_written, ["copy2", "default"]);
    let copies = s.copies_of(LOCAL_OWNER, ids[0]).unwrap();
    assert_eq!(
        copies
            .iter()
            .map(|c| (c.copy_nb, c.vid.as_str()))
            .collect::<Vec<_>>(),
        [(1, "V00001"), (2, "V00002")]
    );
    assert_eq!(tape(&mut s).live_files, 3);
    // The copy on a broken tape is skipped.
    s.set_tape_state_by("V00001", TapeState::Broken, "dropped", "t")
        .unwrap();
    let ticket = s.queue_recall(LOCAL_OWNER, ids[0], "/r/a").unwrap();
    assert_eq!(ticket.vid, "V00002");
    // A relabel of copy 2's tape loses nothing: copy 1 remains, and the
    // queued recall moves to it.
    s.set_tape_state("V00001", TapeState::Active, "").unwrap();
    let lost = s.reset_tape("V00002").unwrap();
    assert_eq!(lost.len(), 3);
    assert_eq!(state(&mut s, ids[0]), FileState::OnTape, "copy 1 remains");
    assert_eq!(s.copies_of(LOCAL_OWNER, ids[0]).unwrap().len(), 1);
    let r = &s.recall_status(&[ticket.recall_id]).unwrap()[0];
    assert_eq!(
        (r.state, r.vid.as_str()),
        (RecallState::Queued, "V00001"),
        "{r:?}"
    );
    // Deleting cancels every queued copy.
    let more = s.queue_archive_class(&files(1), "two").unwrap();
    s.delete_files(LOCAL_OWNER, &more, "t").unwrap();
    assert!(
        s.queues()
            .unwrap()
            .iter()
            .all(|q| q.kind == MountKind::Recall)
    );
}

on_both_backends!(
    two_copies_go_to_two_pools_and_a_recall_takes_a_good_one,
    tapes_not_verified_within_the_interval_are_queued,
    drives_are_offered_only_tapes_of_their_generation,
    delete_undelete_reclaim,
    tapes_out_of_service_are_not_mounted_for_recalls,
    verification_is_the_lowest_priority_and_records_bad_copies
);

/// A catalogue at version 6 (the schema before deletion and the new tape
/// states) is upgraded in place: files, copies, states and owners kept.
#[test]
fn a_version_6_catalogue_is_upgraded_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("v6.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for batch in [
            include_str!("../sql/sqlite_v1.sql"),
            include_str!("../sql/sqlite_v2.sql"),
            include_str!("../sql/sqlite_v3.sql"),
            include_str!("../sql/v4.sql"),
            include_str!("../sql/v5.sql"),
            include_str!("../sql/v6.sql"),
        ] {
            conn.execute_batch(batch).unwrap();
        }
        conn.pragma_update(None, "user_version", 6).unwrap();
        conn.execute_batch(
            "INSERT INTO tape_pools VALUES ('default');
             INSERT INTO tapes (vid, pool, state, reason, capacity, bytes_used, last_fseq)
                 VALUES ('V00001', 'default', 'read_only', 'old', 1000000, 10, 1);
             INSERT INTO archive_files (path, size, pool, crc32c, state, created, owner, mode)
                 VALUES ('/data/a', 10, 'default', 7, 'on_tape', 0, 'team', 384);
             INSERT INTO tape_files (file_id, vid, fseq, block_id, block_size)
                 VALUES (1, 'V00001', 1, 1, 262144);",
        )
        .unwrap();
    }
    let mut s = SqliteScheduler::open(&path).unwrap();
    let t = tape(&mut s);
    assert_eq!(
        (t.state, t.reason.as_deref(), t.live_files, t.reclaimed),
        (TapeState::ReadOnly, Some("old"), 1, 0)
    );
    let f = &s.files_of("team", &[1], Page::ALL).unwrap()[0];
    assert_eq!(
        (f.state, f.vid.as_deref(), f.fseq),
        (FileState::OnTape, Some("V00001"), Some(1))
    );
    s.set_tape_state_by("V00001", TapeState::Broken, "", "bob")
        .unwrap();
    s.delete_files("team", &[1], "team").unwrap();
}

/// The same on PostgreSQL: a catalogue at version 6 is upgraded in place.
#[test]
fn a_version_6_postgres_catalogue_is_upgraded_in_place() {
    let tmp = TestDb::new(Backend::Postgres);
    {
        let mut client = ::postgres::Client::connect(&tmp.url(), ::postgres::NoTls).unwrap();
        client
            .batch_execute(include_str!("../sql/postgres_v3.sql"))
            .unwrap();
        for batch in [
            include_str!("../sql/v4.sql"),
            include_str!("../sql/v5.sql"),
            include_str!("../sql/v6.sql"),
        ] {
            client.batch_execute(batch).unwrap();
        }
        client
            .batch_execute(
                "CREATE TABLE schema_version (version BIGINT NOT NULL);
                 INSERT INTO schema_version VALUES (6);
                 INSERT INTO tape_pools VALUES ('default');
                 INSERT INTO tapes (vid, pool, state, reason, capacity, bytes_used, last_fseq)
                     VALUES ('V00001', 'default', 'read_only', 'old', 1000000, 10, 1);
                 INSERT INTO archive_files (path, size, pool, crc32c, state, created, owner, mode)
                     VALUES ('/data/a', 10, 'default', 7, 'on_tape', 0, 'team', 384);
                 INSERT INTO tape_files (file_id, vid, fseq, block_id, block_size)
                     VALUES (1, 'V00001', 1, 1, 262144);",
            )
            .unwrap();
    }
    let mut s = tmp.connect();
    let t = tape(&mut s);
    assert_eq!(
        (t.state, t.reason.as_deref(), t.live_files, t.reclaimed),
        (TapeState::ReadOnly, Some("old"), 1, 0)
    );
    let f = &s.files_of("team", &[1], Page::ALL).unwrap()[0];
    assert_eq!(
        (f.state, f.vid.as_deref(), f.fseq),
        (FileState::OnTape, Some("V00001"), Some(1))
    );
    s.set_tape_state_by("V00001", TapeState::Broken, "", "bob")
        .unwrap();
    s.delete_files("team", &[1], "team").unwrap();
}
