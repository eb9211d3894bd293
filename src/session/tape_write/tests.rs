//! The tape write thread against a labelled file-backed cartridge: what it
//! writes, when it flushes, and what it reports to the packer.

use crossbeam_channel::{Receiver, bounded, unbounded};

use super::*;
use crate::session::injector::{MoreWork, TaskInjector};
use crate::session::report_packer::MigrationReport;
use crate::tape::FileDrive;
use crate::tape::drive::DriveInfo;
use crate::tape::faulty::{Faults, FaultyDrive};
use crate::tape::file_drive::create_cartridge;

const BLOCK: u64 = 1024;

/// A labelled cartridge in a file drive, wrapped with `faults`.
fn drive(faults: Faults) -> (tempfile::TempDir, Box<dyn TapeDrive>) {
    let tmp = tempfile::tempdir().unwrap();
    let cart = tmp.path().join("V00001");
    create_cartridge(&cart, "V00001", 1 << 30).unwrap();
    std::os::unix::fs::symlink(&cart, FileDrive::cartridge_link(tmp.path())).unwrap();
    let mut d = FileDrive::new("d0", tmp.path());
    d.load().unwrap();
    format::label_tape(&mut d, "V00001", "test").unwrap();
    format::position_for_append(&mut d, "V00001", None).unwrap();
    let mut wrapped = FaultyDrive::new(Box::new(d), faults);
    wrapped.set_lbp(true);
    (tmp, Box::new(wrapped))
}

fn writer(flush_files: u64, pool: &BlockPool) -> (Writer, Receiver<MigrationReport>) {
    let (reports, rx) = unbounded();
    let status = crate::session::status_reporter::StatusHandle::detached();
    let writer = Writer {
        vid: "V00001".into(),
        last_file: None,
        block_size: BLOCK,
        flush_files,
        flush_bytes: u64::MAX,
        labels: LabelWriter::new(
            "SITE",
            "host",
            DriveInfo {
                vendor: "V".into(),
                model: "M".into(),
                serial: "S".into(),
            },
        ),
        pool: pool.clone(),
        reports,
        status,
    };
    (writer, rx)
}

/// A feed of files of the given sizes, their blocks filled as the disk
/// read pool fills them (payload then its CRC32C).
fn feed(sizes: &[u64], pool: &BlockPool) -> WorkFeed<TapeWriteTask> {
    feed_held(sizes, pool, None)
}

/// `feed`, whose asks after the first wait until `held` yields or closes
/// (a scheduler slow to answer, or a session lingering for more work).
fn feed_held(
    sizes: &[u64],
    pool: &BlockPool,
    held: Option<Receiver<()>>,
) -> WorkFeed<TapeWriteTask> {
    let jobs: Vec<ArchiveJob> = sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| ArchiveJob {
            file_id: 100 + i as u64,
            path: format!("/data/f{i}"),
            size,
        })
        .collect();
    let mut pending = Some(jobs);
    let mut asked = 0;
    let pool = pool.clone();
    let (mut injector, mut feed) = TaskInjector::new(
        move |_, _| {
            // The first ask brings the jobs, the second nothing at once
            // (the feed then holds a bare "served" marker), later ones wait.
            asked += 1;
            if asked > 2
                && let Some(held) = &held
            {
                let _ = held.recv();
            }
            Ok(pending.take().unwrap_or_default())
        },
        move |job: ArchiveJob| {
            let n = job.size.div_ceil(BLOCK).max(1);
            let (tx, rx) = bounded(n as usize);
            let (_keep, never) = bounded::<()>(0);
            let mut left = job.size;
            for no in 0..n {
                let mut block = pool.get(&never).unwrap();
                block.reset();
                let len = left.min(BLOCK) as usize;
                block.set_len(len);
                block.data.fill(no as u8);
                block.crc = crc32c::crc32c(&block.data);
                let crc = block.crc;
                block.data.extend_from_slice(&crc.to_be_bytes());
                left -= len as u64;
                tx.send(block).unwrap();
            }
            TapeWriteTask { job, blocks: rx }
        },
        100,
        u64::MAX,
    );
    injector.inject(MoreWork { last_call: false }).unwrap();
    let requests = feed.take_requests().unwrap();
    std::thread::spawn(move || injector.run(requests));
    feed
}

/// What the packer heard, as short strings.
fn heard(rx: &Receiver<MigrationReport>) -> Vec<String> {
    rx.try_iter().map(said).collect()
}

fn said(report: MigrationReport) -> String {
    match report {
        MigrationReport::Written(f) => format!("written {} fseq {}", f.file_id, f.fseq),
        MigrationReport::Failed(f) => format!("failed {}", f.file_id),
        MigrationReport::Flushed => "flushed".into(),
        MigrationReport::TapeFull => "full".into(),
        MigrationReport::DisableTape(_) => "disable".into(),
    }
}

#[test]
fn files_are_written_in_order_and_flushed_every_n() {
    let (_tmp, mut drive) = drive(Faults::default());
    let pool = BlockPool::new(32, BLOCK as usize);
    let (mut w, rx) = writer(2, &pool);
    let mut feed = feed(&[3000, 0, 10, 2048, 1], &pool);
    let mut stats = TapeStats::default();
    assert_eq!(
        w.write_files(&mut *drive, &mut feed, &mut stats),
        SessionEnd::Done
    );
    assert_eq!(
        heard(&rx),
        [
            "written 100 fseq 1",
            "written 101 fseq 2",
            "flushed",
            "written 102 fseq 3",
            "written 103 fseq 4",
            "flushed",
            "written 104 fseq 5",
            "flushed",
        ]
    );
    assert_eq!((stats.files, stats.bytes, stats.flushes), (5, 5059, 3));
    assert_eq!(pool.free(), 32, "every block went back to the pool");
}

/// Files written are flushed and reported before the thread waits for
/// more work: a lingering session (lazy dismount) once held its last files
/// unflushed, and their stagers waiting, until the cartridge left.
#[test]
fn written_files_are_flushed_before_waiting_for_more_work() {
    let (_tmp, mut drive) = drive(Faults::default());
    let pool = BlockPool::new(32, BLOCK as usize);
    let (mut w, rx) = writer(100, &pool);
    let (release, held) = bounded::<()>(0);
    let mut feed = feed_held(&[3000, 10], &pool, Some(held));
    let mut stats = TapeStats::default();
    std::thread::scope(|s| {
        let writing = s.spawn(|| w.write_files(&mut *drive, &mut feed, &mut stats));
        let mut heard_now = Vec::new();
        while !heard_now.iter().any(|h: &String| h == "flushed") {
            // The feed is held: only a flush before waiting can report.
            let report = rx
                .recv_timeout(std::time::Duration::from_secs(60))
                .expect("the written files flushed while the feed waits");
            heard_now.push(said(report));
        }
        assert_eq!(
            heard_now,
            ["written 100 fseq 1", "written 101 fseq 2", "flushed"]
        );
        drop(release);
        assert_eq!(writing.join().unwrap(), SessionEnd::Done);
    });
    assert!(heard(&rx).is_empty(), "nothing left to flush at the end");
    assert_eq!(stats.flushes, 1);
}

/// Hole 13: a file finished in the early-warning zone right after a flush
/// was reported written but never flushed, so never committed.
#[test]
fn a_file_that_meets_early_warning_is_flushed_and_committed() {
    let faults = Faults {
        early_warning_after: Some(crate::units::ByteSize(3 * BLOCK)),
        ..Faults::default()
    };
    let (_tmp, mut drive) = drive(faults);
    let pool = BlockPool::new(32, BLOCK as usize);
    let (mut w, rx) = writer(1, &pool);
    let mut feed = feed(&[2 * BLOCK, 2 * BLOCK, BLOCK], &pool);
    let mut stats = TapeStats::default();
    assert_eq!(
        w.write_files(&mut *drive, &mut feed, &mut stats),
        SessionEnd::Done
    );
    assert_eq!(
        heard(&rx),
        [
            "written 100 fseq 1",
            "flushed",
            "written 101 fseq 2",
            "flushed",
            "full",
        ],
        "the early-warning file is flushed before the tape is called full"
    );
    assert_eq!(stats.files, 2);
}

#[test]
fn a_disk_error_fails_the_file_and_leaves_no_gap() {
    let (_tmp, mut drive) = drive(Faults::default());
    let pool = BlockPool::new(32, BLOCK as usize);
    let (mut w, rx) = writer(10, &pool);
    let mut feed = feed(&[10, 20], &pool);
    // The second file's block carries a disk error instead of data.
    let first = feed.next_task().unwrap();
    let second = feed.next_task().unwrap();
    let block = second.blocks.recv().unwrap();
    let (tx, blocks) = bounded(1);
    let mut failed = block;
    failed.fail("disk gone".into());
    tx.send(failed).unwrap();
    drop(tx);
    let mut stats = TapeStats::default();
    let one = w.write_file(&mut *drive, first, 1, &mut stats).unwrap();
    assert!(one.is_some());
    let two = w
        .write_file(
            &mut *drive,
            TapeWriteTask {
                job: second.job,
                blocks,
            },
            2,
            &mut stats,
        )
        .unwrap();
    assert!(two.is_none());
    assert_eq!(heard(&rx), ["failed 101"]);
    assert_eq!(pool.free(), 32);
}

#[test]
fn a_write_error_stops_writing_and_reports_nothing_unflushed() {
    let faults = Faults {
        write_error_at_block: Some(3),
        ..Faults::default()
    };
    let (_tmp, mut drive) = drive(faults);
    let pool = BlockPool::new(32, BLOCK as usize);
    let (mut w, rx) = writer(1, &pool);
    let mut feed = feed(&[2 * BLOCK, 2 * BLOCK, BLOCK], &pool);
    let mut stats = TapeStats::default();
    let end = w.write_files(&mut *drive, &mut feed, &mut stats);
    assert!(
        matches!(end, SessionEnd::NeedsCleaner(ref r) if r.contains("write error")),
        "{end:?}"
    );
    assert_eq!(heard(&rx), ["written 100 fseq 1", "flushed"]);
}
