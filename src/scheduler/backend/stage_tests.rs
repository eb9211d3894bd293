//! Stage requests on both engines: what each file's state says as its
//! recall goes, who may see and change a request, pins and shared recalls.

use std::time::Duration;

use super::super::testdb::{Backend, TestDb, on_both_backends};
use super::tests::archive_all;
use super::*;

fn policy() -> MountPolicy {
    MountPolicy::uniform(1, u64::MAX, Duration::from_secs(3600), Duration::ZERO)
}

fn entry(path: &str, file_id: Option<u64>, on_disk: bool, error: Option<&str>) -> StageEntry {
    StageEntry {
        path: path.into(),
        file_id,
        on_disk,
        error: error.map(String::from),
        lifetime_s: 3600.0,
    }
}

fn states(s: &mut SqlScheduler, id: &str) -> Vec<(String, StageFileState)> {
    s.stage_status(id, LOCAL_OWNER, "alice")
        .unwrap()
        .files
        .into_iter()
        .map(|f| (f.path, f.state))
        .collect()
}

fn a_stage_request_follows_its_recalls_and_only_its_requester_sees_it(b: Backend) {
    let tmp = TestDb::new(b);
    let mut s = tmp.connect();
    s.add_pool("default").unwrap();
    s.add_tape("V00001", "default", 1 << 40).unwrap();
    let ids = archive_all(&mut s, 3);
    let found = s
        .files_by_paths(LOCAL_OWNER, &["/data/f0".into(), "/data/none".into()])
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found["/data/f0"].id, ids[0]);
    assert!(
        s.files_by_paths("bob", &["/data/f0".into()])
            .unwrap()
            .is_empty(),
        "not bob's"
    );
    let entries = [
        entry("/data/f0", Some(ids[0]), false, None),
        entry("/data/f1", Some(ids[1]), true, None),
        entry("/data/nope", None, false, Some("no such file or directory")),
    ];
    s.create_stage("r1", LOCAL_OWNER, "alice", &entries)
        .unwrap();
    use StageFileState::*;
    let path = |p: &str| p.to_string();
    assert_eq!(
        states(&mut s, "r1"),
        [
            (path("/data/f0"), Submitted),
            (path("/data/f1"), Completed),
            (path("/data/nope"), Failed)
        ]
    );
    let status = s.stage_status("r1", LOCAL_OWNER, "alice").unwrap();
    assert_eq!(
        status.files[2].error.as_deref(),
        Some("no such file or directory")
    );
    assert_eq!(status.completed(), None, "one file still to come");
    for (owner, requester) in [(LOCAL_OWNER, "bob"), ("other", "alice")] {
        assert!(matches!(
            s.stage_status("r1", owner, requester),
            Err(SchedulerError::UnknownStage(_))
        ));
        assert!(
            s.cancel_stage("r1", owner, requester, &[path("/data/f0")])
                .is_err()
        );
        assert!(s.delete_stage("r1", owner, requester).is_err());
    }
    // The pin holds the staged file and the one on disk.
    assert!(s.pinned(ids[1]).unwrap());
    // A mount takes the recall, then reads it.
    let m = s.next_mount("h", "d0", &policy()).unwrap().unwrap();
    assert_eq!(m.kind, MountKind::Recall);
    let jobs = s.fetch_recall_jobs(m.id, 10, u64::MAX, None).unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].destination, "/data/f0", "back to its own path");
    assert_eq!(states(&mut s, "r1")[0].1, Started);
    s.report_recalls(m.id, &[(jobs[0].recall_id, RecallEnd::Done)])
        .unwrap();
    let status = s.stage_status("r1", LOCAL_OWNER, "alice").unwrap();
    assert_eq!(status.files[0].state, Completed);
    assert!(status.files[0].started.is_some() && status.files[0].finished.is_some());
    assert!(status.completed().is_some(), "every file finished");
    assert!(s.pinned(ids[0]).unwrap());
    // Release: a path not in the request changes nothing.
    let err = s
        .release_stage(
            "r1",
            LOCAL_OWNER,
            "alice",
            &[path("/data/f0"), path("/data/f2")],
        )
        .unwrap_err();
    assert!(err.to_string().contains("does not belong"), "{err}");
    assert!(s.pinned(ids[0]).unwrap());
    s.release_stage(
        "r1",
        LOCAL_OWNER,
        "alice",
        &[path("/data/f0"), path("/data/f1")],
    )
    .unwrap();
    assert!(!s.pinned(ids[0]).unwrap() && !s.pinned(ids[1]).unwrap());
    s.delete_stage("r1", LOCAL_OWNER, "alice").unwrap();
    assert!(s.stage_status("r1", LOCAL_OWNER, "alice").is_err(), "gone");
}

fn a_cancelled_file_cancels_its_recall_unless_another_request_shares_it(b: Backend) {
    let tmp = TestDb::new(b);
    let mut s = tmp.connect();
    s.add_pool("default").unwrap();
    s.add_tape("V00001", "default", 1 << 40).unwrap();
    let ids = archive_all(&mut s, 2);
    s.create_stage(
        "r1",
        LOCAL_OWNER,
        "alice",
        &[entry("/data/f0", Some(ids[0]), false, None)],
    )
    .unwrap();
    s.create_stage(
        "r2",
        LOCAL_OWNER,
        "alice",
        &[
            entry("/data/f0", Some(ids[0]), false, None),
            entry("/data/f1", Some(ids[1]), false, None),
        ],
    )
    .unwrap();
    let recalls = s.recalls_of(LOCAL_OWNER, &[], Page::ALL).unwrap();
    assert_eq!(recalls.len(), 2, "one recall per file, shared: {recalls:?}");
    s.cancel_stage("r1", LOCAL_OWNER, "alice", &["/data/f0".into()])
        .unwrap();
    assert_eq!(states(&mut s, "r1")[0].1, StageFileState::Cancelled);
    assert_eq!(
        states(&mut s, "r2")[0].1,
        StageFileState::Submitted,
        "r2 still needs it"
    );
    s.delete_stage("r2", LOCAL_OWNER, "alice").unwrap();
    let recalls = s.recalls_of(LOCAL_OWNER, &[], Page::ALL).unwrap();
    assert!(
        recalls.iter().all(|r| r.state == RecallState::Failed),
        "nobody needs them now: {recalls:?}"
    );
    assert!(s.next_mount("h", "d0", &policy()).unwrap().is_none());
}

on_both_backends!(
    a_stage_request_follows_its_recalls_and_only_its_requester_sees_it,
    a_cancelled_file_cancels_its_recall_unless_another_request_shares_it
);
