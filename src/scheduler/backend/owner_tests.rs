//! Owners and pages: a client's view of the catalogue holds its owner's
//! files and recalls only, another owner's id reads as no id at all, long
//! listings come a page at a time; a file's permissions reach its recalls.

use super::tests::{archived, files};
use super::*;

use super::super::testdb::{Backend, TestDb, on_both_backends};

fn policy() -> MountPolicy {
    MountPolicy::uniform(1, u64::MAX, Duration::from_secs(3600), Duration::ZERO)
}

/// `n` files of `owner`, on tape (one mount each call).
fn on_tape(s: &mut SqlScheduler, owner: &str, n: u64) -> Vec<u64> {
    let mut new = files(n);
    for (i, f) in new.iter_mut().enumerate() {
        f.owner = owner.into();
        f.permissions = Some(Permissions {
            mode: 0o600 + i as u32,
            uid: 1000,
            gid: 100,
        });
    }
    let ids = s.queue_archive(&new, "default").unwrap();
    let m = s.next_mount("h", "d0", &policy()).unwrap().unwrap();
    let jobs = s.fetch_archive_jobs(m.id, n, u64::MAX).unwrap();
    let first = s.last_file(&m.vid).unwrap().map_or(1, |l| l.fseq + 1);
    s.report_migration(
        m.id,
        &m.vid,
        &archived(&jobs, first),
        &[],
        &FileLimits::default(),
    )
    .unwrap();
    s.end_mount(m.id).unwrap();
    ids
}

fn owners_see_only_their_own(b: Backend) {
    let tmp = TestDb::new(b);
    let mut s = tmp.connect();
    s.add_pool("default").unwrap();
    s.add_tape("V00001", "default", 1 << 40).unwrap();
    let a = on_tape(&mut s, "a", 3);
    let theirs = on_tape(&mut s, "b", 2);
    let ids = |v: Vec<FileStatus>| v.into_iter().map(|f| f.id).collect::<Vec<_>>();

    assert_eq!(ids(s.files_of("a", &[], Page::ALL).unwrap()), a);
    assert_eq!(ids(s.files_of("a", &a[1..], Page::ALL).unwrap()), &a[1..]);
    // Another owner's id and an id nobody has: the same answer.
    let absent = theirs[1] + 100;
    for id in [theirs[0], absent] {
        assert!(matches!(
            s.files_of("a", &[a[0], id], Page::ALL),
            Err(SchedulerError::UnknownFile(i)) if i == id
        ));
        assert!(matches!(
            s.queue_recall("a", id, "/r/x"),
            Err(SchedulerError::UnknownFile(i)) if i == id
        ));
    }
    // A tape's files: only the owner's are named.
    let on = |v: Vec<TapeFile>| v.into_iter().map(|f| f.file_id).collect::<Vec<_>>();
    assert_eq!(
        on(s.tape_files_of("b", "V00001", Page::ALL).unwrap()),
        theirs
    );
    assert_eq!(
        on(s.tape_files("V00001").unwrap()).len(),
        5,
        "the operator sees all"
    );
    // Recalls: by the owner of their file.
    let ticket = s.queue_recall("b", theirs[0], "/r/b").unwrap();
    assert_eq!(s.recalls_of("b", &[], Page::ALL).unwrap().len(), 1);
    assert!(s.recalls_of("a", &[], Page::ALL).unwrap().is_empty());
    assert!(s.recalls_of("a", &[ticket.recall_id], Page::ALL).is_err());
    assert_eq!(s.file_status(&[theirs[0]]).unwrap()[0].owner, "b");

    // Pages: after an id (or fSeq), at most `limit`.
    let page = |after, limit| Page { after, limit };
    assert_eq!(ids(s.files_of("a", &[], page(0, 2)).unwrap()), &a[..2]);
    assert_eq!(ids(s.files_of("a", &[], page(a[1], 2)).unwrap()), &a[2..]);
    assert!(s.files_of("a", &[], page(a[2], 2)).unwrap().is_empty());
    let fseqs = |v: Vec<TapeFile>| v.into_iter().map(|f| f.fseq).collect::<Vec<_>>();
    assert_eq!(
        fseqs(s.tape_files_of("a", "V00001", page(1, 1)).unwrap()),
        [2]
    );

    // The recall job carries the archived permissions.
    let m = s.next_mount("h", "d1", &policy()).unwrap().unwrap();
    let jobs = s.fetch_recall_jobs(m.id, 10, u64::MAX, None).unwrap();
    assert_eq!(
        jobs[0].permissions,
        Some(Permissions {
            mode: 0o600,
            uid: 1000,
            gid: 100
        })
    );
}

on_both_backends!(owners_see_only_their_own);
