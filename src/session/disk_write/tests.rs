//! The disk writer against real directories, with a packer stand-in that
//! records what is staged.

use std::sync::Mutex;

use crossbeam_channel::unbounded;

use super::*;
use crate::session::report_packer::StageRefusal;

struct Harness {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    writers: Writers,
    staged: Arc<Mutex<Vec<(u64, FileIdentity)>>>,
    /// What the packer stand-in answers instead of recording the file.
    refusal: Arc<Mutex<Option<StageRefusal>>>,
}

fn harness() -> Harness {
    let tmp = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(tmp.path()).unwrap();
    let (tx, rx) = unbounded::<RecallReport>();
    let staged = Arc::new(Mutex::new(Vec::new()));
    let seen = staged.clone();
    let refusal = Arc::new(Mutex::new(None::<StageRefusal>));
    let refuse = refusal.clone();
    std::thread::spawn(move || {
        for report in rx {
            if let RecallReport::Stage {
                recall_id,
                file,
                reply,
            } = report
            {
                let answer = match refuse.lock().unwrap().clone() {
                    Some(r) => Err(r),
                    None => {
                        seen.lock().unwrap().push((recall_id, file));
                        Ok(())
                    }
                };
                let _ = reply.send(answer);
            }
        }
    });
    Harness {
        writers: Writers {
            pool: BlockPool::new(2, 1024),
            reports: tx,
            status: StatusHandle::detached(),
            roots: Arc::new(vec![root.clone()]),
            retry_after: std::time::Duration::from_secs(60),
        },
        root,
        _tmp: tmp,
        staged,
        refusal,
    }
}

fn job(dest: &Path, data: &[u8], staged: Option<FileIdentity>) -> RecallJob {
    RecallJob {
        recall_id: 7,
        file_id: 1,
        fseq: 1,
        block_id: 1,
        block_size: None,
        size: data.len() as u64,
        crc32c: crc32c::crc32c(data),
        destination: dest.display().to_string(),
        staged,
        permissions: None,
    }
}

/// Sends `data` as one block and runs the writer.
fn recall(h: &Harness, job: RecallJob, data: &[u8]) -> Result<(), String> {
    let pool = &h.writers.pool;
    let (_keep, abort) = crossbeam_channel::bounded::<()>(0);
    let (tx, rx) = unbounded();
    let mut block = pool.get(&abort).unwrap();
    block.reset();
    block.set_len(data.len());
    block.data.copy_from_slice(data);
    block.crc = crc32c::crc32c(data);
    tx.send(block).unwrap();
    drop(tx);
    let result = write_file(DiskWriteTask { job, blocks: rx }, &h.writers);
    assert_eq!(pool.free(), 2, "every block went back to the pool");
    result.map_err(|f| match f {
        Failure::Final(e) => e,
        Failure::Passing(e) => format!("for now: {e}"),
        Failure::Copy { reason, bad } => format!("copy failed (bad: {bad}): {reason}"),
    })
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_verified_file_is_recorded_then_put_in_place() {
    let h = harness();
    let dest = h.root.join("f");
    recall(&h, job(&dest, b"payload", None), b"payload").unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"payload");
    assert_eq!(entries(&h.root), ["f"], "nothing else is left");
    let meta = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&dest).unwrap());
    let staged = h.staged.lock().unwrap();
    assert_eq!(staged.len(), 1);
    assert_eq!(
        (staged[0].0, staged[0].1.ino),
        (7, meta),
        "the inode was recorded first"
    );
}

#[test]
fn a_checksum_mismatch_leaves_nothing() {
    let h = harness();
    let dest = h.root.join("f");
    let err = recall(&h, job(&dest, b"payload", None), b"paYload").unwrap_err();
    assert!(err.contains("checksum mismatch"), "{err}");
    assert!(
        err.starts_with("copy failed (bad: true)"),
        "the copy is blamed: {err}"
    );
    assert!(entries(&h.root).is_empty());
    assert!(h.staged.lock().unwrap().is_empty(), "nothing recorded");
}

/// Hole 3: a retry accepts the destination only if it is the file this
/// recall recorded; a look-alike (same size and CRC32C) is refused and kept.
#[test]
fn a_retry_accepts_only_the_file_it_recorded() {
    let h = harness();
    let dest = h.root.join("f");
    recall(&h, job(&dest, b"payload", None), b"payload").unwrap();
    let ours = h.staged.lock().unwrap()[0].1;
    // The session died before reporting: the retry finds its own file.
    recall(&h, job(&dest, b"payload", Some(ours)), b"payload").unwrap();
    // Someone replaces it with identical bytes, written at another time
    // (the inode number may well be reused).
    std::fs::remove_file(&dest).unwrap();
    std::fs::write(&dest, b"payload").unwrap();
    let theirs = std::fs::File::options().write(true).open(&dest).unwrap();
    theirs
        .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000))
        .unwrap();
    let err = recall(&h, job(&dest, b"payload", Some(ours)), b"payload").unwrap_err();
    assert!(err.contains("not the file this recall wrote"), "{err}");
    // And with nothing recorded, an existing file is never accepted, even empty.
    let empty = h.root.join("e");
    std::fs::write(&empty, b"").unwrap();
    let err = recall(&h, job(&empty, b"", None), b"").unwrap_err();
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(entries(&h.root), ["e", "f"]);
}

#[test]
fn a_destination_outside_the_roots_is_refused() {
    let h = harness();
    let outside = tempfile::tempdir().unwrap();
    let err = recall(&h, job(&outside.path().join("f"), b"x", None), b"x").unwrap_err();
    assert!(
        err.contains("not under an allowed recall directory"),
        "{err}"
    );
    assert!(entries(outside.path()).is_empty());
}

/// Hole 7: a FIFO put at a recall's destination is refused at once, never
/// opened (opening it would wait for a reader).
#[test]
fn a_fifo_at_the_destination_is_refused_without_blocking() {
    let h = harness();
    let dest = h.root.join("fifo");
    nix::unistd::mkfifo(&dest, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let err = recall(&h, job(&dest, b"payload", None), b"payload").unwrap_err();
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(entries(&h.root), ["fifo"]);
}

#[test]
fn a_recalled_copy_gets_the_archived_rights() {
    let p = |mode| {
        Some(Permissions {
            mode,
            uid: 1000,
            gid: 100,
        })
    };
    // Root gives back mode and owner; never set-id or sticky bits.
    assert_eq!(
        recalled_permissions(p(0o600), true),
        (0o600, Some((1000, 100)))
    );
    assert_eq!(
        recalled_permissions(p(0o4755), true),
        (0o755, Some((1000, 100)))
    );
    // The service user keeps the copy: its group gets the owner's rights,
    // others exactly the archived ones.
    assert_eq!(recalled_permissions(p(0o600), false), (0o660, None));
    assert_eq!(recalled_permissions(p(0o644), false), (0o664, None));
    assert_eq!(recalled_permissions(p(0o400), false), (0o640, None));
    assert_eq!(recalled_permissions(p(0o750), false), (0o770, None));
    // Archived before rights were kept.
    assert_eq!(recalled_permissions(None, true), (0o640, None));
}

/// The catalogue was unreachable (a database restart) for longer than the
/// packer waits: the file is tried again later and nothing is left at the
/// destination; any other refusal fails the recall.
#[test]
fn an_unreachable_catalogue_puts_the_recall_back_and_leaves_nothing() {
    let h = harness();
    let dest = h.root.join("f");
    *h.refusal.lock().unwrap() = Some(StageRefusal {
        message: "scheduler database: error connecting to server".into(),
        passing: true,
    });
    let err = recall(&h, job(&dest, b"payload", None), b"payload").unwrap_err();
    assert!(err.starts_with("for now: "), "tried again later: {err}");
    assert!(err.contains("error connecting to server"), "{err}");
    assert!(
        entries(&h.root).is_empty(),
        "nothing is left: {:?}",
        entries(&h.root)
    );

    *h.refusal.lock().unwrap() = Some(StageRefusal {
        message: "mount 3 no longer owns file 7: its work was requeued".into(),
        passing: false,
    });
    let err = recall(&h, job(&dest, b"payload", None), b"payload").unwrap_err();
    assert!(!err.starts_with("for now: "), "a final refusal: {err}");
    assert!(
        entries(&h.root).is_empty(),
        "nothing is left: {:?}",
        entries(&h.root)
    );

    *h.refusal.lock().unwrap() = None;
    recall(&h, job(&dest, b"payload", None), b"payload").unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"payload");
}
