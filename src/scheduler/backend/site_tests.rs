//! The scheduler as a site uses it: several servers on one catalogue,
//! mount policy, mount counts, leases, operator requests. Each test runs
//! on both backends.

use std::collections::HashSet;
use std::time::Duration;

use super::super::testdb::{Backend, TestDb, on_both_backends};
use super::tests::{archive_all, archived, files};
use super::*;

fn policy() -> MountPolicy {
    MountPolicy::uniform(1, u64::MAX, Duration::from_secs(3600), Duration::ZERO)
}

fn catalogue(b: Backend, tapes: u32) -> (TestDb, SqlScheduler) {
    let db = TestDb::new(b);
    let mut s = db.connect();
    s.add_pool("default").unwrap();
    for i in 0..tapes {
        s.add_tape(&format!("V{i:05}"), "default", 1 << 40).unwrap();
    }
    (db, s)
}

/// Four servers ask for mounts and work at once: no tape is mounted twice,
/// no file is handed to two mounts, and every file is handed out.
fn servers_racing_never_share_a_tape_or_a_job(b: Backend) {
    let (db, mut s) = catalogue(b, 8);
    let ids: HashSet<u64> = s
        .queue_archive(&files(400), "default")
        .unwrap()
        .into_iter()
        .collect();
    let handles: Vec<_> = (0..4)
        .map(|server| {
            let mut conn = db.connect();
            std::thread::spawn(move || {
                let mut taken = Vec::new();
                let mut vids = Vec::new();
                let host = format!("server{server}");
                for _ in 0..50 {
                    let Some(m) = conn.next_mount(&host, "d0", &policy()).unwrap() else {
                        continue;
                    };
                    vids.push(m.vid.clone());
                    loop {
                        let jobs = conn.fetch_archive_jobs(m.id, 7, u64::MAX).unwrap();
                        if jobs.is_empty() {
                            break;
                        }
                        taken.extend(jobs.iter().map(|j| j.file_id));
                        let mounts = conn.open_mounts().unwrap();
                        let holders = mounts.iter().filter(|o| o.vid == m.vid).count();
                        assert_eq!(holders, 1, "{} mounted twice", m.vid);
                    }
                    // The mount stays open: ending it would requeue its work.
                    break;
                }
                (taken, vids)
            })
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        let (taken, _) = h.join().unwrap();
        all.extend(taken);
    }
    let unique: HashSet<u64> = all.iter().copied().collect();
    assert_eq!(unique.len(), all.len(), "a file was handed to two mounts");
    // What no mount took is still pending, and nothing else.
    let history = s.mount_history().unwrap();
    let mut vids: Vec<&str> = history.iter().map(|m| m.vid.as_str()).collect();
    vids.sort();
    let before = vids.len();
    vids.dedup();
    assert_eq!(before, vids.len(), "two servers mounted one tape");
    assert!(unique.is_subset(&ids));
    let pending = s.queues().unwrap()[0].files - s.queues().unwrap()[0].running;
    assert_eq!(pending + unique.len() as u64, 400);
}

/// A recall queue waits for its minimum age; an overdue queue goes before
/// a higher priority one.
fn the_mount_policy_orders_and_holds_back_queues(b: Backend) {
    let (_db, mut s) = catalogue(b, 3);
    let ids = archive_all(&mut s, 2);
    s.queue_recall(crate::scheduler::LOCAL_OWNER, ids[0], "/r/a")
        .unwrap();
    let mut p = policy();
    p.recall.min_age = Duration::from_secs(3600);
    assert_eq!(s.next_mount("h", "d1", &p).unwrap(), None, "too young");
    p.recall.min_age = Duration::ZERO;
    s.queue_archive(&files(1), "default").unwrap();
    p.archive.priority = 10;
    let first = s.next_mount("h", "d1", &p).unwrap().unwrap();
    assert_eq!(first.kind, MountKind::Migration, "priority first");
    s.end_mount(first.id).unwrap();
    p.recall.max_age = Duration::ZERO;
    let first = s.next_mount("h", "d1", &p).unwrap().unwrap();
    assert_eq!(first.kind, MountKind::Recall, "overdue beats priority");
}

/// Mounts are counted per tape, for reading and for writing.
fn mounts_are_counted_per_tape(b: Backend) {
    let (_db, mut s) = catalogue(b, 1);
    let ids = archive_all(&mut s, 3);
    for id in &ids {
        s.queue_recall(crate::scheduler::LOCAL_OWNER, *id, "/r/x")
            .unwrap();
        let m = s.next_mount("h", "d0", &policy()).unwrap().unwrap();
        s.end_mount(m.id).unwrap();
    }
    let tape = s.tape("V00000").unwrap();
    assert_eq!((tape.read_mounts, tape.write_mounts), (3, 1));
}

/// A dead server's mounts show once its leases run out, never before, and
/// never to itself; closing them requeues their unreported work.
fn expired_leases_expose_a_dead_servers_mounts(b: Backend) {
    let (_db, mut s) = catalogue(b, 2);
    let ids = s.queue_archive(&files(3), "default").unwrap();
    let drives = vec!["d0".to_string()];
    s.renew_leases("dead", &drives, Duration::from_secs(3600))
        .unwrap();
    let m = s.next_mount("dead", "d0", &policy()).unwrap().unwrap();
    assert_eq!(s.fetch_archive_jobs(m.id, 10, u64::MAX).unwrap().len(), 3);
    assert!(s.expired_mounts("alive").unwrap().is_empty());
    s.renew_leases("dead", &drives, Duration::ZERO).unwrap();
    assert!(
        s.expired_mounts("dead").unwrap().is_empty(),
        "not to itself"
    );
    let expired = s.expired_mounts("alive").unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].id, m.id);
    s.end_mount(m.id).unwrap();
    let m2 = s.next_mount("alive", "d0", &policy()).unwrap().unwrap();
    let again: Vec<u64> = s
        .fetch_archive_jobs(m2.id, 10, u64::MAX)
        .unwrap()
        .iter()
        .map(|j| j.file_id)
        .collect();
    assert_eq!(again, ids);
}

/// A report sent again after its commit (the reply was lost) changes nothing.
fn a_report_sent_twice_is_recorded_once(b: Backend) {
    let (_db, mut s) = catalogue(b, 1);
    s.queue_archive(&files(2), "default").unwrap();
    let m = s.next_mount("h", "d0", &policy()).unwrap().unwrap();
    let jobs = s.fetch_archive_jobs(m.id, 10, u64::MAX).unwrap();
    let archived = archived(&jobs, 1);
    let limits = FileLimits::default();
    s.report_migration(m.id, &m.vid, &archived, &[], &limits)
        .unwrap();
    s.report_migration(m.id, &m.vid, &archived, &[], &limits)
        .unwrap();
    let tape = s.tape(&m.vid).unwrap();
    assert_eq!((tape.files, tape.last_fseq), (2, 2));
    assert_eq!(tape.bytes_used, jobs.iter().map(|j| j.size).sum::<u64>());
}

/// Operators cancel queued requests, not running ones, and see queues.
fn operators_cancel_queued_requests_and_list_queues(b: Backend) {
    let (_db, mut s) = catalogue(b, 2);
    let on_tape = archive_all(&mut s, 1);
    let ids = s.queue_archive(&files(3), "default").unwrap();
    let recall = s
        .queue_recall(crate::scheduler::LOCAL_OWNER, on_tape[0], "/r/c")
        .unwrap();
    let queues = s.queues().unwrap();
    let archive = queues
        .iter()
        .find(|q| q.kind == MountKind::Migration)
        .unwrap();
    assert_eq!((archive.files, archive.running), (3, 0));
    assert!(
        queues
            .iter()
            .any(|q| q.vid.as_deref() == Some(recall.vid.as_str()))
    );
    s.cancel_archive(ids[0]).unwrap();
    s.cancel_recall(recall.recall_id).unwrap();
    assert!(s.cancel_recall(recall.recall_id).is_err(), "already failed");
    assert!(s.cancel_archive(on_tape[0]).is_err(), "on tape already");
    assert!(matches!(
        s.cancel_archive(999_999),
        Err(SchedulerError::UnknownFile(_))
    ));
    assert_eq!(
        s.file_status(&ids[..1]).unwrap()[0].state,
        FileState::Failed
    );
    let m = s.next_mount("h", "d0", &policy()).unwrap().unwrap();
    let jobs = s.fetch_archive_jobs(m.id, 1, u64::MAX).unwrap();
    let err = s.cancel_archive(jobs[0].file_id).unwrap_err().to_string();
    assert!(err.contains("being written"), "{err}");
    let pool = &s.pools().unwrap()[0];
    assert_eq!((pool.name.as_str(), pool.queued_files), ("default", 1));
}

/// Every time in the catalogue comes from the one clock the statements
/// read (`ts_now()`): on a virtual clock, mounts start and end, leases
/// expire and requests age by it, whatever the host's clock says.
fn every_time_comes_from_the_catalogues_clock(b: Backend) {
    use crate::scheduler::clock::{Clock, VirtualClock};
    let (db, mut setup) = catalogue(b, 2);
    let t0 = 2_000_000_000.0;
    let clock = VirtualClock::new(t0);
    let mut s = db.connect_with_clock(Clock::Virtual(clock.clone()));
    s.queue_archive(&files(2), "default").unwrap();
    clock.advance(Duration::from_secs(7));
    let queues = s.queues().unwrap();
    assert_eq!(queues[0].oldest_age, 7.0, "age by the catalogue's clock");
    let m = s.next_mount("h1", "d0", &policy()).unwrap().unwrap();
    s.renew_leases("h1", &["d0".to_string()], Duration::from_secs(10))
        .unwrap();
    let open = s.open_mounts().unwrap();
    assert_eq!((open[0].started, open[0].age), (t0 + 7.0, 0.0));
    clock.advance(Duration::from_secs(9));
    let activity = s.queue_activity(m.id).unwrap();
    assert_eq!((activity.latest, activity.now), (Some(t0), t0 + 16.0));
    assert!(s.expired_mounts("h2").unwrap().is_empty(), "1 s left");
    clock.advance(Duration::from_secs(2));
    assert_eq!(s.expired_mounts("h2").unwrap()[0].id, m.id, "ran out");
    // The host's own clock (the other connection's) sees no expiry: the
    // lease is 63 years ahead of it.
    assert!(setup.expired_mounts("h2").unwrap().is_empty());
    s.end_mount(m.id).unwrap();
    let history = s.mount_history().unwrap();
    assert_eq!(history[0].ended, Some(t0 + 18.0));
}

on_both_backends!(
    every_time_comes_from_the_catalogues_clock,
    servers_racing_never_share_a_tape_or_a_job,
    the_mount_policy_orders_and_holds_back_queues,
    mounts_are_counted_per_tape,
    expired_leases_expose_a_dead_servers_mounts,
    a_report_sent_twice_is_recorded_once,
    operators_cancel_queued_requests_and_list_queues,
);

/// A restarted database server ends every connection; the first request
/// after it (a stager's recall, say) must not fail for it. Chaos found it:
/// the request after a PostgreSQL kill was refused with "terminating
/// connection due to unexpected postmaster exit".
#[test]
fn a_connection_the_server_ended_is_replaced_without_failing_a_request() {
    let (db, mut s) = catalogue(Backend::Postgres, 1);
    s.tapes().unwrap();
    let mut admin = ::postgres::Client::connect(&db.url(), ::postgres::NoTls).unwrap();
    let ended: i64 = admin
        .query_one(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(ended >= 1, "the scheduler's connection was ended");
    // A read and a write, each on a connection the server ended.
    assert_eq!(s.tapes().unwrap().len(), 1);
    admin
        .batch_execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .unwrap();
    assert_eq!(s.queue_archive(&files(2), "default").unwrap().len(), 2);
}
