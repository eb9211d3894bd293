use super::*;

const NOW: MountCriteria = MountCriteria {
    min_files: 1,
    min_bytes: u64::MAX,
    max_age: Duration::from_secs(3600),
};

fn scheduler() -> (tempfile::TempDir, SqliteScheduler) {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = SqliteScheduler::open(&tmp.path().join("db/scheduler.db")).unwrap();
    s.add_pool("default").unwrap();
    s.add_tape("V00001", "default", 1 << 40).unwrap();
    s.add_tape("V00002", "default", 1 << 40).unwrap();
    (tmp, s)
}

fn files(n: u64) -> Vec<NewArchiveFile> {
    (0..n)
        .map(|i| NewArchiveFile {
            path: format!("/data/f{i}"),
            size: 100 * (i + 1),
        })
        .collect()
}

fn archived(jobs: &[ArchiveJob], first_fseq: u64) -> Vec<ArchivedFile> {
    jobs.iter()
        .enumerate()
        .map(|(i, j)| ArchivedFile {
            file_id: j.file_id,
            fseq: first_fseq + i as u64,
            block_id: 1 + 6 * i as u64,
            size: j.size,
            crc32c: 7,
        })
        .collect()
}

#[test]
fn archive_then_recall_round_trip() {
    let (_tmp, mut s) = scheduler();
    let ids = s.queue_archive(&files(3), "default").unwrap();
    assert_eq!(ids.len(), 3);
    let mount = s.next_mount("h", "d0", &NOW).unwrap().unwrap();
    assert_eq!(mount.kind, MountKind::Migration);
    let jobs = s.fetch_archive_jobs(mount.id, 10, u64::MAX).unwrap();
    assert_eq!(jobs.iter().map(|j| j.file_id).collect::<Vec<_>>(), ids);
    s.report_migration(mount.id, &mount.vid, &archived(&jobs, 1), &[])
        .unwrap();
    s.end_mount(mount.id).unwrap();
    let status = s.file_status(&ids).unwrap();
    assert!(
        status
            .iter()
            .all(|f| f.state == "on_tape" && f.vid.as_deref() == Some(mount.vid.as_str()))
    );
    assert_eq!(s.last_file(&mount.vid).unwrap().unwrap().fseq, 3);
    assert_eq!(s.tape(&mount.vid).unwrap().bytes_used, 600);

    let ticket = s.queue_recall(ids[1], "/data/back").unwrap();
    assert_eq!((ticket.vid.as_str(), ticket.fseq), (mount.vid.as_str(), 2));
    let mount = s.next_mount("h", "d1", &NOW).unwrap().unwrap();
    assert_eq!(mount.kind, MountKind::Recall);
    let jobs = s.fetch_recall_jobs(mount.id, 10, u64::MAX).unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].crc32c, 7);
    s.report_recalls(mount.id, &[(jobs[0].recall_id, None)])
        .unwrap();
    assert_eq!(
        s.recall_status(&[ticket.recall_id]).unwrap()[0].state,
        "done"
    );
}

#[test]
fn a_tape_is_never_mounted_twice() {
    let (_tmp, mut s) = scheduler();
    s.queue_archive(&files(2), "default").unwrap();
    let m1 = s.next_mount("h", "d0", &NOW).unwrap().unwrap();
    // The queue still has unassigned work: the second drive gets the other tape.
    let m2 = s.next_mount("h", "d1", &NOW).unwrap().unwrap();
    assert_ne!(m1.vid, m2.vid);
    // No tape left in the pool.
    assert_eq!(s.next_mount("h", "d2", &NOW).unwrap(), None);
    // A drive with an open mount gets nothing more.
    assert_eq!(s.next_mount("h", "d0", &NOW).unwrap(), None);
}

#[test]
fn bulk_limits_files_and_bytes() {
    let (_tmp, mut s) = scheduler();
    s.queue_archive(&files(10), "default").unwrap();
    let m = s.next_mount("h", "d0", &NOW).unwrap().unwrap();
    assert_eq!(s.fetch_archive_jobs(m.id, 3, u64::MAX).unwrap().len(), 3);
    // 400 + 500 > 600: only one; at least one even if it alone is too big.
    assert_eq!(s.fetch_archive_jobs(m.id, 10, 600).unwrap().len(), 1);
    assert_eq!(s.fetch_archive_jobs(m.id, 10, 1).unwrap().len(), 1);
}

#[test]
fn mount_criteria_hold_back_small_queues() {
    let (_tmp, mut s) = scheduler();
    s.queue_archive(&files(2), "default").unwrap();
    let strict = MountCriteria {
        min_files: 3,
        min_bytes: 1 << 30,
        max_age: Duration::from_secs(3600),
    };
    assert_eq!(s.next_mount("h", "d0", &strict).unwrap(), None);
    let old_enough = MountCriteria {
        max_age: Duration::ZERO,
        ..strict
    };
    assert!(s.next_mount("h", "d0", &old_enough).unwrap().is_some());
}

#[test]
fn ended_mount_requeues_unreported_work() {
    let (_tmp, mut s) = scheduler();
    let ids = s.queue_archive(&files(4), "default").unwrap();
    let m = s.next_mount("h", "d0", &NOW).unwrap().unwrap();
    let jobs = s.fetch_archive_jobs(m.id, 10, u64::MAX).unwrap();
    s.report_migration(
        m.id,
        &m.vid,
        &archived(&jobs[..2], 1),
        &[(jobs[2].file_id, "vanished".into())],
    )
    .unwrap();
    assert_eq!(s.end_mounts_of_drive("h", "d0").unwrap(), vec![m.id]);
    let states: Vec<String> = s
        .file_status(&ids)
        .unwrap()
        .into_iter()
        .map(|f| f.state)
        .collect();
    assert_eq!(states, ["on_tape", "on_tape", "failed", "queued"]);
    // A late report from the dead session is refused: no double archiving.
    let late = archived(&jobs[3..], 3);
    assert!(matches!(
        s.report_migration(m.id, &m.vid, &late, &[]),
        Err(SchedulerError::StaleMount { .. })
    ));
    let m2 = s.next_mount("h", "d0", &NOW).unwrap().unwrap();
    assert_eq!(m2.vid, m.vid, "the partly used tape is filled first");
    let jobs = s.fetch_archive_jobs(m2.id, 10, u64::MAX).unwrap();
    assert_eq!(
        jobs.iter().map(|j| j.file_id).collect::<Vec<_>>(),
        vec![ids[3]]
    );
}

#[test]
fn recall_of_unknown_or_queued_file_is_refused() {
    let (_tmp, mut s) = scheduler();
    assert!(matches!(
        s.queue_recall(42, "/x"),
        Err(SchedulerError::UnknownFile(42))
    ));
    let ids = s.queue_archive(&files(1), "default").unwrap();
    assert!(matches!(
        s.queue_recall(ids[0], "/x"),
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

#[test]
fn disabled_or_full_tapes_are_not_mounted() {
    let (_tmp, mut s) = scheduler();
    s.set_tape_state("V00001", TapeState::Disabled, "test")
        .unwrap();
    s.set_tape_state("V00002", TapeState::Full, "test").unwrap();
    s.queue_archive(&files(1), "default").unwrap();
    assert_eq!(s.next_mount("h", "d0", &NOW).unwrap(), None);
}

#[test]
fn claimed_tape_is_not_mounted_and_reset_marks_files_lost() {
    let (_tmp, mut s) = scheduler();
    let ids = s.queue_archive(&files(2), "default").unwrap();
    let m = s.next_mount("h", "d0", &NOW).unwrap().unwrap();
    let jobs = s.fetch_archive_jobs(m.id, 10, u64::MAX).unwrap();
    s.report_migration(m.id, &m.vid, &archived(&jobs, 1), &[])
        .unwrap();
    assert!(matches!(
        s.claim_tape("h", "d1", &m.vid, "label"),
        Err(SchedulerError::TapeBusy(_))
    ));
    s.end_mount(m.id).unwrap();
    let claim = s.claim_tape("h", "d1", &m.vid, "label").unwrap();
    assert_eq!(
        s.open_mounts_of_drive("h", "d1").unwrap(),
        vec![(claim, m.vid.clone())]
    );
    assert_eq!(s.reset_tape(&m.vid).unwrap(), ids);
    assert!(
        s.file_status(&ids)
            .unwrap()
            .iter()
            .all(|f| f.state == "lost" && f.vid.is_none())
    );
    let tape = s.tape(&m.vid).unwrap();
    assert_eq!((tape.files, tape.last_fseq, tape.bytes_used), (0, 0, 0));
    assert!(matches!(
        s.claim_tape("h", "d2", "NOPE", "label"),
        Err(SchedulerError::UnknownTape(_))
    ));
}

#[test]
fn two_connections_share_the_queue() {
    let (tmp, mut s) = scheduler();
    let mut other = SqliteScheduler::open(&tmp.path().join("db/scheduler.db")).unwrap();
    let ids = s.queue_archive(&files(1), "default").unwrap();
    assert_eq!(other.file_status(&ids).unwrap()[0].state, "queued");
}
