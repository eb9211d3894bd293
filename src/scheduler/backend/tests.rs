use super::*;

use super::super::testdb::{Backend, TestDb, on_both_backends};

/// Any queued file is worth a mount; an empty mount backs its queue off an hour.
fn now_policy() -> MountPolicy {
    MountPolicy::uniform(
        1,
        u64::MAX,
        Duration::from_secs(3600),
        Duration::from_secs(3600),
    )
}

const LIMITS: FileLimits = FileLimits {
    max_attempts: 3,
    max_end_of_medium: 2,
};

fn states(s: &mut SqlScheduler, ids: &[u64]) -> Vec<FileState> {
    s.file_status(ids)
        .unwrap()
        .into_iter()
        .map(|f| f.state)
        .collect()
}

fn disk(file_id: u64, reason: &str) -> FailedFile {
    FailedFile {
        file_id,
        failure: FileFailure::Disk(reason.into()),
    }
}

fn scheduler(b: Backend) -> (TestDb, SqlScheduler) {
    let tmp = TestDb::new(b);
    let mut s = tmp.connect();
    s.add_pool("default").unwrap();
    s.add_tape("V00001", "default", 1 << 40).unwrap();
    s.add_tape("V00002", "default", 1 << 40).unwrap();
    (tmp, s)
}

pub(super) fn files(n: u64) -> Vec<NewArchiveFile> {
    (0..n)
        .map(|i| NewArchiveFile {
            path: format!("/data/f{i}"),
            size: 100 * (i + 1),
            owner: crate::scheduler::LOCAL_OWNER.into(),
            permissions: None,
        })
        .collect()
}

/// Queues `n` files and puts them all on one tape through one mount.
pub(super) fn archive_all(s: &mut SqlScheduler, n: u64) -> Vec<u64> {
    let ids = s.queue_archive(&files(n), "default").unwrap();
    let m = s.next_mount("h", "d0", &now_policy()).unwrap().unwrap();
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
    ids
}

pub(super) fn archived(jobs: &[ArchiveJob], first_fseq: u64) -> Vec<ArchivedFile> {
    jobs.iter()
        .enumerate()
        .map(|(i, j)| ArchivedFile {
            file_id: j.file_id,
            fseq: first_fseq + i as u64,
            block_id: 1 + 6 * i as u64,
            block_size: 262_144,
            size: j.size,
            crc32c: 7,
        })
        .collect()
}

fn archive_then_recall_round_trip(b: Backend) {
    let (_tmp, mut s) = scheduler(b);
    let ids = s.queue_archive(&files(3), "default").unwrap();
    assert_eq!(ids.len(), 3);
    let mount = s.next_mount("h", "d0", &now_policy()).unwrap().unwrap();
    assert_eq!(mount.kind, MountKind::Migration);
    let jobs = s.fetch_archive_jobs(mount.id, 10, u64::MAX).unwrap();
    assert_eq!(jobs.iter().map(|j| j.file_id).collect::<Vec<_>>(), ids);
    s.report_migration(mount.id, &mount.vid, &archived(&jobs, 1), &[], &LIMITS)
        .unwrap();
    s.end_mount(mount.id).unwrap();
    let status = s.file_status(&ids).unwrap();
    assert!(
        status
            .iter()
            .all(|f| f.state == FileState::OnTape && f.vid.as_deref() == Some(mount.vid.as_str()))
    );
    assert_eq!(s.last_file(&mount.vid).unwrap().unwrap().fseq, 3);
    assert_eq!(s.tape(&mount.vid).unwrap().bytes_used, 600);

    let ticket = s
        .queue_recall(crate::scheduler::LOCAL_OWNER, ids[1], "/data/back")
        .unwrap();
    assert_eq!((ticket.vid.as_str(), ticket.fseq), (mount.vid.as_str(), 2));
    let mount = s.next_mount("h", "d1", &now_policy()).unwrap().unwrap();
    assert_eq!(mount.kind, MountKind::Recall);
    let jobs = s.fetch_recall_jobs(mount.id, 10, u64::MAX, None).unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].crc32c, 7);
    s.report_recalls(mount.id, &[(jobs[0].recall_id, RecallEnd::Done)])
        .unwrap();
    assert_eq!(
        s.recall_status(&[ticket.recall_id]).unwrap()[0].state,
        RecallState::Done
    );
}

/// A recall that met a full filesystem goes back to the queue, is not
/// mounted or fetched before its time, and fails for good after
/// RECALL_RETRIES attempts with the last reason.
fn a_recall_retried_later_waits_its_turn_and_fails_after_its_attempts(b: Backend) {
    let (_tmp, mut s) = scheduler(b);
    let ids = archive_all(&mut s, 1);
    let ticket = s
        .queue_recall(crate::scheduler::LOCAL_OWNER, ids[0], "/data/back")
        .unwrap();
    let retry = |after: u64| RecallEnd::Retry {
        error: "No space left on device".into(),
        after: Duration::from_secs(after),
    };
    let m = s.next_mount("h", "d0", &now_policy()).unwrap().unwrap();
    let jobs = s.fetch_recall_jobs(m.id, 10, u64::MAX, None).unwrap();
    s.report_recalls(m.id, &[(jobs[0].recall_id, retry(3600))])
        .unwrap();
    let status = &s.recall_status(&[ticket.recall_id]).unwrap()[0];
    assert_eq!(status.state, RecallState::Queued);
    assert_eq!(status.error.as_deref(), Some("No space left on device"));
    // Not yet: neither fetched by the open mount nor worth a new one.
    assert!(
        s.fetch_recall_jobs(m.id, 10, u64::MAX, None)
            .unwrap()
            .is_empty()
    );
    s.end_mount(m.id).unwrap();
    assert!(s.next_mount("h", "d0", &now_policy()).unwrap().is_none());
    // Its time come, each attempt counts; the last one fails it.
    for attempt in 2..=RECALL_RETRIES {
        let m = loop {
            // The previous retry was due at once (after = 0).
            if let Some(m) = s.next_mount("h", "d0", &now_policy()).unwrap() {
                break m;
            }
            assert_eq!(attempt, 2, "due at once after a zero wait");
            // The first wait was an hour: make it due.
            s.write(|c| {
                c.execute("UPDATE recall_queue SET not_before = 0", &[])?;
                Ok(())
            })
            .unwrap();
        };
        let jobs = s.fetch_recall_jobs(m.id, 10, u64::MAX, None).unwrap();
        assert_eq!(jobs.len(), 1, "attempt {attempt}");
        s.report_recalls(m.id, &[(jobs[0].recall_id, retry(0))])
            .unwrap();
        s.end_mount(m.id).unwrap();
    }
    let status = &s.recall_status(&[ticket.recall_id]).unwrap()[0];
    assert_eq!(status.state, RecallState::Failed);
    assert_eq!(status.error.as_deref(), Some("No space left on device"));
}

fn a_tape_is_never_mounted_twice(b: Backend) {
    let (_tmp, mut s) = scheduler(b);
    s.queue_archive(&files(2), "default").unwrap();
    let m1 = s.next_mount("h", "d0", &now_policy()).unwrap().unwrap();
    s.fetch_archive_jobs(m1.id, 1, u64::MAX).unwrap();
    // The queue still has unassigned work: the second drive gets the other tape.
    let m2 = s.next_mount("h", "d1", &now_policy()).unwrap().unwrap();
    assert_ne!(m1.vid, m2.vid);
    // No tape left in the pool.
    assert_eq!(s.next_mount("h", "d2", &now_policy()).unwrap(), None);
    // A drive with an open mount gets nothing more.
    assert_eq!(s.next_mount("h", "d0", &now_policy()).unwrap(), None);
}

fn bulk_limits_files_and_bytes(b: Backend) {
    let (_tmp, mut s) = scheduler(b);
    s.queue_archive(&files(10), "default").unwrap();
    let m = s.next_mount("h", "d0", &now_policy()).unwrap().unwrap();
    assert_eq!(s.fetch_archive_jobs(m.id, 3, u64::MAX).unwrap().len(), 3);
    // 400 + 500 > 600: only one; at least one even if it alone is too big.
    assert_eq!(s.fetch_archive_jobs(m.id, 10, 600).unwrap().len(), 1);
    assert_eq!(s.fetch_archive_jobs(m.id, 10, 1).unwrap().len(), 1);
}

fn mount_criteria_hold_back_small_queues(b: Backend) {
    let (_tmp, mut s) = scheduler(b);
    s.queue_archive(&files(2), "default").unwrap();
    let mut strict = now_policy();
    strict.archive.min_files = 3;
    strict.archive.min_bytes = 1 << 30;
    assert_eq!(s.next_mount("h", "d0", &strict).unwrap(), None);
    let mut old_enough = strict.clone();
    old_enough.archive.max_age = Duration::ZERO;
    assert!(s.next_mount("h", "d0", &old_enough).unwrap().is_some());
}

fn ended_mount_requeues_unreported_work(b: Backend) {
    let (_tmp, mut s) = scheduler(b);
    let ids = s.queue_archive(&files(4), "default").unwrap();
    let m = s.next_mount("h", "d0", &now_policy()).unwrap().unwrap();
    let jobs = s.fetch_archive_jobs(m.id, 10, u64::MAX).unwrap();
    s.report_migration(
        m.id,
        &m.vid,
        &archived(&jobs[..2], 1),
        &[FailedFile {
            file_id: jobs[2].file_id,
            failure: FileFailure::Final("vanished".into()),
        }],
        &LIMITS,
    )
    .unwrap();
    assert_eq!(s.end_mounts_of_drive("h", "d0").unwrap(), vec![m.id]);
    use FileState::*;
    assert_eq!(states(&mut s, &ids), [OnTape, OnTape, Failed, Queued]);
    // A late report from the dead session is refused: no double archiving.
    let late = archived(&jobs[3..], 3);
    assert!(matches!(
        s.report_migration(m.id, &m.vid, &late, &[], &LIMITS),
        Err(SchedulerError::StaleMount { .. })
    ));
    let m2 = s.next_mount("h", "d0", &now_policy()).unwrap().unwrap();
    assert_eq!(m2.vid, m.vid, "the partly used tape is filled first");
    let jobs = s.fetch_archive_jobs(m2.id, 10, u64::MAX).unwrap();
    assert_eq!(
        jobs.iter().map(|j| j.file_id).collect::<Vec<_>>(),
        vec![ids[3]]
    );
}

fn recall_of_unknown_or_queued_file_is_refused(b: Backend) {
    let (_tmp, mut s) = scheduler(b);
    assert!(matches!(
        s.queue_recall(crate::scheduler::LOCAL_OWNER, 42, "/x"),
        Err(SchedulerError::UnknownFile(42))
    ));
    let ids = s.queue_archive(&files(1), "default").unwrap();
    assert!(matches!(
        s.queue_recall(crate::scheduler::LOCAL_OWNER, ids[0], "/x"),
        Err(SchedulerError::NotOnTape { .. })
    ));
    assert!(matches!(
        s.file_status(&[99]),
        Err(SchedulerError::UnknownFile(99))
    ));
    assert!(matches!(
        s.queue_archive(&files(1), "nopool"),
        Err(SchedulerError::UnknownPool(_))
    ));
}

fn disabled_or_full_tapes_are_not_mounted(b: Backend) {
    let (_tmp, mut s) = scheduler(b);
    s.set_tape_state("V00001", TapeState::Disabled, "test")
        .unwrap();
    s.set_tape_state("V00002", TapeState::Full, "test").unwrap();
    s.queue_archive(&files(1), "default").unwrap();
    assert_eq!(s.next_mount("h", "d0", &now_policy()).unwrap(), None);
}

fn claimed_tape_is_not_mounted_and_reset_marks_files_lost(b: Backend) {
    let (_tmp, mut s) = scheduler(b);
    let ids = s.queue_archive(&files(2), "default").unwrap();
    let m = s.next_mount("h", "d0", &now_policy()).unwrap().unwrap();
    let jobs = s.fetch_archive_jobs(m.id, 10, u64::MAX).unwrap();
    s.report_migration(m.id, &m.vid, &archived(&jobs, 1), &[], &LIMITS)
        .unwrap();
    assert!(matches!(
        s.claim_tape("h", "d1", &m.vid, MountKind::Label),
        Err(SchedulerError::TapeBusy(_))
    ));
    s.end_mount(m.id).unwrap();
    let claim = s.claim_tape("h", "d1", &m.vid, MountKind::Label).unwrap();
    let open = s.open_mounts().unwrap();
    assert_eq!(
        open.iter()
            .map(|o| (o.id, o.kind, o.vid.as_str(), o.drive.as_str()))
            .collect::<Vec<_>>(),
        [(claim, MountKind::Label, m.vid.as_str(), "d1")]
    );
    assert_eq!(s.reset_tape(&m.vid).unwrap(), ids);
    assert!(
        s.file_status(&ids)
            .unwrap()
            .iter()
            .all(|f| f.state == FileState::Lost && f.vid.is_none())
    );
    let tape = s.tape(&m.vid).unwrap();
    assert_eq!((tape.files, tape.last_fseq, tape.bytes_used), (0, 0, 0));
    assert!(matches!(
        s.claim_tape("h", "d2", "NOPE", MountKind::Label),
        Err(SchedulerError::UnknownTape(_))
    ));
}

fn two_connections_share_the_queue(b: Backend) {
    let (tmp, mut s) = scheduler(b);
    let mut other = tmp.connect();
    let ids = s.queue_archive(&files(1), "default").unwrap();
    assert_eq!(other.file_status(&ids).unwrap()[0].state, FileState::Queued);
}

/// Hole 5: a file no tape of its pool can hold is refused at queue time.
fn a_file_larger_than_the_largest_tape_of_its_pool_is_refused(b: Backend) {
    let (_tmp, mut s) = scheduler(b);
    let big = [NewArchiveFile {
        path: "/data/big".into(),
        size: (1 << 40) + 1,
        owner: crate::scheduler::LOCAL_OWNER.into(),
        permissions: None,
    }];
    assert!(matches!(
        s.queue_archive(&big, "default"),
        Err(SchedulerError::TooLarge { largest, .. }) if largest == 1 << 40
    ));
    s.add_pool("empty").unwrap();
    assert!(matches!(
        s.queue_archive(&files(1), "empty"),
        Err(SchedulerError::EmptyPool(_))
    ));
    assert!(s.file_status(&[]).unwrap().is_empty(), "nothing queued");
}

/// Hole 5: end of medium on one tape requeues the file for another mount;
/// on `max_end_of_medium` tapes it fails with its reason.
fn a_file_meeting_end_of_medium_on_two_tapes_fails(b: Backend) {
    let (_tmp, mut s) = scheduler(b);
    let ids = s.queue_archive(&files(2), "default").unwrap();
    let eom = |file_id| FailedFile {
        file_id,
        failure: FileFailure::EndOfMedium("no room for 262144 more bytes".into()),
    };
    for round in 1..=2 {
        let m = s.next_mount("h", "d0", &now_policy()).unwrap().unwrap();
        let jobs = s.fetch_archive_jobs(m.id, 1, u64::MAX).unwrap();
        assert_eq!(jobs[0].file_id, ids[0], "round {round}");
        s.report_migration(m.id, &m.vid, &[], &[eom(ids[0])], &LIMITS)
            .unwrap();
        // The same mount does not take it again: the next file comes.
        let next = s.fetch_archive_jobs(m.id, 1, u64::MAX).unwrap();
        assert_eq!(next[0].file_id, ids[1]);
        s.end_mount(m.id).unwrap();
    }
    let failed = &s.file_status(&ids[..1]).unwrap()[0];
    assert_eq!(failed.state, FileState::Failed);
    let error = failed.error.as_deref().unwrap();
    assert!(error.contains("end of medium on 2 tapes"), "{error}");
    assert_eq!(states(&mut s, &ids[1..]), [FileState::Queued]);
}

/// Hole 7: disk-side failures are counted per file; at the limit the file
/// fails with its last reason. A kill blamed on the file counts too.
fn attempts_are_counted_per_file_and_the_last_reason_kept(b: Backend) {
    let (_tmp, mut s) = scheduler(b);
    let ids = s.queue_archive(&files(1), "default").unwrap();
    let m = s.next_mount("h", "d0", &now_policy()).unwrap().unwrap();
    s.fetch_archive_jobs(m.id, 1, u64::MAX).unwrap();
    s.count_attempt(m.id, ids[0], "the session hung reading it", &LIMITS)
        .unwrap();
    s.end_mount(m.id).unwrap();
    for reason in ["EIO", "not a regular file"] {
        let m = s.next_mount("h", "d0", &now_policy()).unwrap().unwrap();
        s.fetch_archive_jobs(m.id, 1, u64::MAX).unwrap();
        s.report_migration(m.id, &m.vid, &[], &[disk(ids[0], reason)], &LIMITS)
            .unwrap();
        s.end_mount(m.id).unwrap();
    }
    let failed = &s.file_status(&ids).unwrap()[0];
    assert_eq!(failed.state, FileState::Failed);
    assert_eq!(
        failed.error.as_deref(),
        Some("failed after 3 attempts; the last: not a regular file")
    );
}

/// Hole 6: a relabel fails the tape's queued recalls, so no mount is ever
/// chosen for recalls its fetch cannot see.
fn a_relabel_fails_the_tapes_queued_recalls(b: Backend) {
    let (_tmp, mut s) = scheduler(b);
    let ids = s.queue_archive(&files(1), "default").unwrap();
    let m = s.next_mount("h", "d0", &now_policy()).unwrap().unwrap();
    let jobs = s.fetch_archive_jobs(m.id, 1, u64::MAX).unwrap();
    s.report_migration(m.id, &m.vid, &archived(&jobs, 1), &[], &LIMITS)
        .unwrap();
    s.end_mount(m.id).unwrap();
    let ticket = s
        .queue_recall(crate::scheduler::LOCAL_OWNER, ids[0], "/out/a")
        .unwrap();
    s.reset_tape(&m.vid).unwrap();
    let recall = &s.recall_status(&[ticket.recall_id]).unwrap()[0];
    assert_eq!(recall.state, RecallState::Failed);
    assert!(recall.error.as_deref().unwrap().contains("relabelled"));
    assert_eq!(
        s.next_mount("h", "d0", &now_policy()).unwrap(),
        None,
        "no empty mount"
    );
}

/// Hole 6: whatever the queue, a mount that found nothing is not followed
/// by another of the same queue during the back-off.
fn an_empty_mount_backs_its_queue_off(b: Backend) {
    let (_tmp, mut s) = scheduler(b);
    s.queue_archive(&files(1), "default").unwrap();
    let m = s.next_mount("h", "d0", &now_policy()).unwrap().unwrap();
    s.end_empty_mount(m.id).unwrap();
    assert_eq!(s.next_mount("h", "d0", &now_policy()).unwrap(), None);
    let mut no_backoff = now_policy();
    no_backoff.empty_backoff = Duration::ZERO;
    assert!(s.next_mount("h", "d0", &no_backoff).unwrap().is_some());
}

/// Hole 5: a migration mount goes to a tape with room for its first file.
fn a_migration_mount_picks_a_tape_with_room_for_its_first_file(b: Backend) {
    let (_tmp, mut s) = scheduler(b);
    s.add_tape("SMALL1", "default", 100).unwrap();
    let ids = s
        .queue_archive(
            &[NewArchiveFile {
                path: "/data/a".into(),
                size: 1000,
                owner: crate::scheduler::LOCAL_OWNER.into(),
                permissions: None,
            }],
            "default",
        )
        .unwrap();
    // SMALL1 is the fullest (all are empty; it sorts first) but too small.
    let m = s.next_mount("h", "d0", &now_policy()).unwrap().unwrap();
    assert_ne!(m.vid, "SMALL1");
    assert_eq!(
        s.fetch_archive_jobs(m.id, 1, u64::MAX).unwrap()[0].file_id,
        ids[0]
    );
}

/// Hole 11: a drive whose cartridge is stuck keeps its mount (so the tape
/// is never given to another drive) but its work goes back to the queue.
fn a_stuck_cartridge_keeps_its_tape_while_its_work_is_requeued(b: Backend) {
    let (_tmp, mut s) = scheduler(b);
    let ids = s.queue_archive(&files(2), "default").unwrap();
    let m = s.next_mount("h", "d0", &now_policy()).unwrap().unwrap();
    s.fetch_archive_jobs(m.id, 10, u64::MAX).unwrap();
    assert_eq!(s.release_work_of_drive("h", "d0").unwrap(), [m.id]);
    let other = s.next_mount("h", "d1", &now_policy()).unwrap().unwrap();
    assert_ne!(other.vid, m.vid, "the stuck tape is not mounted elsewhere");
    let jobs = s.fetch_archive_jobs(other.id, 10, u64::MAX).unwrap();
    assert_eq!(jobs.len(), ids.len(), "the work went back to the queue");
    assert!(s.open_mounts().unwrap().iter().any(|o| o.id == m.id));
}

/// Hole 3: a recall stages its file only while its mount owns it.
fn only_the_owning_mount_stages_a_recall(b: Backend) {
    let (_tmp, mut s) = scheduler(b);
    let ids = s.queue_archive(&files(1), "default").unwrap();
    let m = s.next_mount("h", "d0", &now_policy()).unwrap().unwrap();
    let jobs = s.fetch_archive_jobs(m.id, 1, u64::MAX).unwrap();
    s.report_migration(m.id, &m.vid, &archived(&jobs, 1), &[], &LIMITS)
        .unwrap();
    s.end_mount(m.id).unwrap();
    s.queue_recall(crate::scheduler::LOCAL_OWNER, ids[0], "/out/a")
        .unwrap();
    let r = s.next_mount("h", "d0", &now_policy()).unwrap().unwrap();
    let job = s
        .fetch_recall_jobs(r.id, 1, u64::MAX, None)
        .unwrap()
        .remove(0);
    assert_eq!((job.staged, job.block_size), (None, Some(262_144)));
    let file = FileIdentity {
        dev: 5,
        ino: 6,
        mtime_ns: 7,
    };
    assert!(s.stage_recall(r.id + 1, job.recall_id, &file).is_err());
    s.stage_recall(r.id, job.recall_id, &file).unwrap();
    s.end_mount(r.id).unwrap();
    let again = s.next_mount("h", "d0", &now_policy()).unwrap().unwrap();
    let job = s
        .fetch_recall_jobs(again.id, 1, u64::MAX, None)
        .unwrap()
        .remove(0);
    assert_eq!(job.staged, Some(file), "a retry sees what was staged");
}

/// A catalogue made by the first schema (no version) is upgraded in place.
#[test]
fn a_first_schema_catalogue_is_upgraded() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("old.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(include_str!("../sql/sqlite_v1.sql"))
            .unwrap();
        conn.execute_batch(
            "INSERT INTO tape_pools VALUES ('default');
             INSERT INTO tapes (vid, pool, capacity) VALUES ('V00001', 'default', 1000000);
             INSERT INTO archive_files (path, size, pool, state, created)
                 VALUES ('/data/a', 10, 'default', 'queued', 0);
             INSERT INTO archive_queue (file_id, pool, size, queued) VALUES (1, 'default', 10, 0);",
        )
        .unwrap();
    }
    let mut s = SqliteScheduler::open(&path).unwrap();
    let m = s.next_mount("h", "d0", &now_policy()).unwrap().unwrap();
    assert_eq!(s.fetch_archive_jobs(m.id, 1, u64::MAX).unwrap().len(), 1);
    // Opening again (another process) finds it current.
    SqliteScheduler::open(&path).unwrap();
}

/// A queue gets no second mount before its first has taken its work, so
/// two drives never race for one file (the loser's mount would be empty).
fn a_queue_gets_no_second_mount_before_the_first_fetches(b: Backend) {
    let (_tmp, mut s) = scheduler(b);
    s.queue_archive(&files(3), "default").unwrap();
    let first = s.next_mount("h", "d0", &now_policy()).unwrap().unwrap();
    assert_eq!(s.next_mount("h", "d1", &now_policy()).unwrap(), None);
    s.fetch_archive_jobs(first.id, 1, u64::MAX).unwrap();
    let second = s.next_mount("h", "d1", &now_policy()).unwrap().unwrap();
    assert_ne!(second.vid, first.vid);
}

on_both_backends!(
    archive_then_recall_round_trip,
    a_recall_retried_later_waits_its_turn_and_fails_after_its_attempts,
    a_tape_is_never_mounted_twice,
    bulk_limits_files_and_bytes,
    mount_criteria_hold_back_small_queues,
    ended_mount_requeues_unreported_work,
    recall_of_unknown_or_queued_file_is_refused,
    disabled_or_full_tapes_are_not_mounted,
    claimed_tape_is_not_mounted_and_reset_marks_files_lost,
    two_connections_share_the_queue,
    a_file_larger_than_the_largest_tape_of_its_pool_is_refused,
    a_file_meeting_end_of_medium_on_two_tapes_fails,
    attempts_are_counted_per_file_and_the_last_reason_kept,
    a_relabel_fails_the_tapes_queued_recalls,
    an_empty_mount_backs_its_queue_off,
    a_migration_mount_picks_a_tape_with_room_for_its_first_file,
    a_stuck_cartridge_keeps_its_tape_while_its_work_is_requeued,
    only_the_owning_mount_stages_a_recall,
    a_queue_gets_no_second_mount_before_the_first_fetches,
);
