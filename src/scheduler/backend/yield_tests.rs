//! Background work that yields, on both engines: the scheduler says when
//! user work waits for a drive or for a tape a background mount holds, and
//! a verification pre-empted part way resumes after the last file it read,
//! with the same sample, its bad copies from both parts counted.

use std::time::Duration;

use super::super::testdb::{Backend, TestDb, on_both_backends};
use super::tests::{archive_all, files};
use super::*;

fn policy() -> MountPolicy {
    MountPolicy::uniform(1, u64::MAX, Duration::from_secs(3600), Duration::ZERO)
}

fn bad(fseq: u64, file_id: u64) -> BadCopy {
    BadCopy {
        file_id,
        fseq,
        reason: format!("fSeq {fseq}: CRC32C mismatch"),
    }
}

fn a_preempted_verification_resumes_after_the_last_file_it_read(b: Backend) {
    let tmp = TestDb::new(b);
    let mut s = tmp.connect();
    s.add_pool("default").unwrap();
    s.add_tape("V00001", "default", 1 << 40).unwrap();
    let ids = archive_all(&mut s, 5);
    s.queue_verify("V00001", 0, "alice").unwrap();
    let m = s.next_mount("h", "d0", &policy()).unwrap().unwrap();
    assert_eq!(m.kind, MountKind::Verify);
    let jobs = s.fetch_verify_jobs(m.id).unwrap();
    assert_eq!(
        jobs.iter().map(|j| j.fseq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    // Pre-empted after fSeq 2, which was bad.
    s.yield_verify(m.id, "V00001", &[bad(2, ids[1])], 2)
        .unwrap();
    assert!(
        s.yield_verify(m.id, "V00001", &[], 2).is_err(),
        "the mount no longer verifies"
    );
    s.end_mount(m.id).unwrap();
    assert_eq!(
        s.tape("V00001").unwrap().last_verified,
        None,
        "not done yet"
    );

    let m = s.next_mount("h", "d0", &policy()).unwrap().unwrap();
    assert_eq!((m.kind, m.vid.as_str()), (MountKind::Verify, "V00001"));
    let jobs = s.fetch_verify_jobs(m.id).unwrap();
    assert_eq!(
        jobs.iter().map(|j| j.fseq).collect::<Vec<_>>(),
        [3, 4, 5],
        "it goes on after fSeq 2"
    );
    s.report_verify(m.id, "V00001", &[bad(5, ids[4])]).unwrap();
    s.end_mount(m.id).unwrap();
    let t = s.tape("V00001").unwrap();
    assert!(t.last_verified.is_some());
    assert_eq!(t.verify_errors, 2, "both parts' bad copies");
    assert!(
        s.next_mount("h", "d0", &policy()).unwrap().is_none(),
        "done"
    );
}

/// A sampled verification resumed reads the rest of the first mount's
/// sample, not a new one.
fn a_resumed_sample_is_the_same_sample(b: Backend) {
    let tmp = TestDb::new(b);
    let mut s = tmp.connect();
    s.add_pool("default").unwrap();
    s.add_tape("V00001", "default", 1 << 40).unwrap();
    archive_all(&mut s, 40);
    s.queue_verify("V00001", 8, "alice").unwrap();
    let m = s.next_mount("h", "d0", &policy()).unwrap().unwrap();
    let first: Vec<u64> = s
        .fetch_verify_jobs(m.id)
        .unwrap()
        .iter()
        .map(|j| j.fseq)
        .collect();
    assert_eq!(first.len(), 8);
    s.yield_verify(m.id, "V00001", &[], first[3]).unwrap();
    s.end_mount(m.id).unwrap();
    let m = s.next_mount("h", "d0", &policy()).unwrap().unwrap();
    let rest: Vec<u64> = s
        .fetch_verify_jobs(m.id)
        .unwrap()
        .iter()
        .map(|j| j.fseq)
        .collect();
    assert_eq!(rest, first[4..], "the same sample, after where it stopped");
}

fn user_work_is_due_for_a_drive_or_for_a_tape_a_background_mount_holds(b: Backend) {
    let tmp = TestDb::new(b);
    let mut s = tmp.connect();
    s.add_pool("default").unwrap();
    s.add_tape("V00001", "default", 1 << 40).unwrap();
    s.add_tape("V00002", "default", 1 << 40).unwrap();
    let ids = archive_all(&mut s, 3);
    assert_eq!(s.user_work_due(&policy()).unwrap(), UserWork::default());
    s.queue_verify("V00001", 0, "alice").unwrap();
    let verify = s.next_mount("h", "d0", &policy()).unwrap().unwrap();
    assert_eq!(verify.kind, MountKind::Verify);
    assert_eq!(
        s.user_work_due(&policy()).unwrap(),
        UserWork::default(),
        "background work is not user work"
    );
    // A recall of a file on the tape the verification holds.
    s.queue_recall(LOCAL_OWNER, ids[0], "/r/a").unwrap();
    assert_eq!(
        s.user_work_due(&policy()).unwrap(),
        UserWork {
            due: false,
            overdue: false,
            held_tapes: vec!["V00001".into()],
        }
    );
    // An archive needs a drive of its own.
    s.queue_archive(&files(1), "default").unwrap();
    let work = s.user_work_due(&policy()).unwrap();
    assert!(work.due && !work.overdue, "due, not an hour old: {work:?}");
    let now = MountPolicy::uniform(1, u64::MAX, Duration::ZERO, Duration::ZERO);
    assert!(
        s.user_work_due(&now).unwrap().overdue,
        "at once with no maximum age"
    );
    // Asking mounts nothing.
    let m = s.next_mount("h", "d1", &policy()).unwrap().unwrap();
    assert_eq!(m.kind, MountKind::Migration, "the archive is still queued");
}

/// A user recall of a file on a tape being repacked is served from the
/// file's new copy, never from that tape: it is no reason for the repack's
/// reads to yield (they would yield forever).
fn a_recall_waiting_for_a_repacked_file_does_not_stop_the_repack(b: Backend) {
    let tmp = TestDb::new(b);
    let mut s = tmp.connect();
    s.add_pool("default").unwrap();
    s.add_tape("V00001", "default", 1 << 40).unwrap();
    let ids = archive_all(&mut s, 3);
    s.add_tape("V00002", "default", 1 << 40).unwrap();
    s.queue_repack("V00001", &RepackRequest::default(), "alice")
        .unwrap();
    s.advance_repacks(&RepackSettings {
        buffer_dir: "/buffer".into(),
        buffer_bytes: 1 << 30,
    })
    .unwrap();
    let m = s.next_mount("h", "d0", &policy()).unwrap().unwrap();
    assert_eq!((m.kind, m.vid.as_str()), (MountKind::Repack, "V00001"));
    s.queue_recall(LOCAL_OWNER, ids[0], "/r/a").unwrap();
    assert_eq!(
        s.user_work_due(&policy()).unwrap().held_tapes,
        Vec::<String>::new()
    );
}

/// A mount out of work keeps its tape for its own queue's next request
/// unless another queue wants the drive: its own tape's recalls are not
/// another's; an unmounted pool's archive is.
fn a_mount_out_of_work_sees_whether_another_queue_wants_a_drive(b: Backend) {
    let tmp = TestDb::new(b);
    let mut s = tmp.connect();
    s.add_pool("default").unwrap();
    s.add_tape("V00001", "default", 1 << 40).unwrap();
    let ids = archive_all(&mut s, 3);
    // A tape for the archive below to go to.
    s.add_tape("V00002", "default", 1 << 40).unwrap();
    s.queue_recall(LOCAL_OWNER, ids[0], "/r/a").unwrap();
    let m = s.next_mount("h", "d0", &policy()).unwrap().unwrap();
    assert_eq!((m.kind, m.vid.as_str()), (MountKind::Recall, "V00001"));
    assert_eq!(
        s.fetch_recall_jobs(m.id, 10, u64::MAX, None).unwrap().len(),
        1
    );
    let idle = s.queue_activity(m.id).unwrap();
    assert!(idle.latest.is_some() && !idle.others_waiting, "{idle:?}");
    assert!(idle.keeps_tape(0.0), "nobody else wants the drive");
    s.queue_recall(LOCAL_OWNER, ids[1], "/r/b").unwrap();
    assert!(
        !s.queue_activity(m.id).unwrap().others_waiting,
        "its own tape's recall"
    );
    s.queue_archive(&files(1), "default").unwrap();
    let wanted = s.queue_activity(m.id).unwrap();
    assert!(wanted.others_waiting, "an archive waits for a drive");
    assert!(!wanted.keeps_tape(0.0) && wanted.keeps_tape(3600.0));
    let archive = s.next_mount("h", "d1", &policy()).unwrap().unwrap();
    assert_eq!(archive.kind, MountKind::Migration);
    assert!(
        !s.queue_activity(m.id).unwrap().others_waiting,
        "the archive has a mount"
    );
}

on_both_backends!(
    a_mount_out_of_work_sees_whether_another_queue_wants_a_drive,
    a_recall_waiting_for_a_repacked_file_does_not_stop_the_repack,
    a_preempted_verification_resumes_after_the_last_file_it_read,
    a_resumed_sample_is_the_same_sample,
    user_work_is_due_for_a_drive_or_for_a_tape_a_background_mount_holds
);
