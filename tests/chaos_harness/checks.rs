//! What must hold after every iteration, read from the catalogue, the
//! emulated library, the drives' cartridge links and the recall
//! destinations. Each broken rule is a violation with one sentence.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tapeserver::scheduler::{FileState, RecallState, Scheduler};

/// Samples every drive's cartridge link all along the run: a cartridge
/// linked from two drives at once is a cartridge open in two drives.
pub struct LinkMonitor {
    stop: Arc<AtomicBool>,
    pub seen: Arc<Mutex<Vec<String>>>,
    pub samples: Arc<Mutex<u64>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl LinkMonitor {
    pub fn start(drives: Vec<PathBuf>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let samples = Arc::new(Mutex::new(0));
        let (s, v, n) = (stop.clone(), seen.clone(), samples.clone());
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let mut holders: HashMap<PathBuf, Vec<&PathBuf>> = HashMap::new();
                for d in &drives {
                    if let Ok(target) = std::fs::canonicalize(d.join("cartridge")) {
                        holders.entry(target).or_default().push(d);
                    }
                }
                for (cartridge, drives) in holders {
                    if drives.len() > 1 {
                        v.lock().unwrap().push(format!(
                            "cartridge {} linked in drives {drives:?} at once",
                            cartridge.display()
                        ));
                    }
                }
                *n.lock().unwrap() += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        Self {
            stop,
            seen,
            samples,
            handle: Some(handle),
        }
    }
}

impl Drop for LinkMonitor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// One archived file as the harness knows it.
#[derive(Debug, Clone)]
pub struct Archived {
    pub id: u64,
    pub source: PathBuf,
}

/// One recall the harness asked for.
#[derive(Debug, Clone)]
pub struct Recall {
    pub id: u64,
    pub file_id: u64,
    pub destination: PathBuf,
}

/// Catalogue rules: every queued file on tape exactly once, no (VID, fSeq)
/// shared, no file the harness did not queue, no tape mounted in two
/// drives at once in the mount history.
/// Catalogue rules: every file on tape exactly once (a deleted one shows
/// deleted, its copy kept until a reclaim), no fSeq holding two files, no
/// file nobody queued, no tape mounted twice at once.
pub fn catalogue(
    db: &mut dyn Scheduler,
    files: &[Archived],
    deleted: &HashSet<u64>,
    out: &mut Vec<String>,
) {
    let ids: Vec<u64> = files.iter().map(|f| f.id).collect();
    let known: HashSet<u64> = ids.iter().copied().collect();
    match db.file_status(&ids) {
        Ok(status) => {
            for f in status {
                let want = if deleted.contains(&f.id) {
                    FileState::Deleted
                } else {
                    FileState::OnTape
                };
                if f.state != want {
                    out.push(format!(
                        "file {} ended {} ({})",
                        f.id,
                        f.state,
                        f.error.unwrap_or_default()
                    ));
                }
            }
        }
        Err(e) => out.push(format!("cannot read file states: {e}")),
    }
    let tapes = match db.tapes() {
        Ok(t) => t,
        Err(e) => {
            out.push(format!("cannot list tapes: {e}"));
            return;
        }
    };
    let mut copies: HashMap<u64, Vec<(String, u64)>> = HashMap::new();
    for tape in &tapes {
        let Ok(files) = db.tape_files(&tape.vid) else {
            out.push(format!("cannot list {}", tape.vid));
            continue;
        };
        let mut fseqs = HashSet::new();
        for f in files {
            if !fseqs.insert(f.fseq) {
                out.push(format!("{} fSeq {} holds two files", tape.vid, f.fseq));
            }
            if !known.contains(&f.file_id) {
                out.push(format!(
                    "{} fSeq {} holds file {} nobody queued",
                    tape.vid, f.fseq, f.file_id
                ));
            }
            copies
                .entry(f.file_id)
                .or_default()
                .push((tape.vid.clone(), f.fseq));
        }
    }
    for id in &ids {
        match copies.get(id).map_or(0, Vec::len) {
            1 => {}
            // A deleted file's copy is forgotten when a repack reclaims
            // its tape.
            0 if deleted.contains(id) => {}
            n => out.push(format!(
                "file {id} is on tape {n} times: {:?}",
                copies.get(id)
            )),
        }
    }
    match db.mount_history() {
        Ok(mut history) => {
            history.sort_by(|a, b| a.vid.cmp(&b.vid).then(a.started.total_cmp(&b.started)));
            let mut last: HashMap<&str, (f64, String)> = HashMap::new();
            for m in &history {
                if let Some((end, by)) = last.get(m.vid.as_str())
                    && m.started < *end
                {
                    out.push(format!(
                        "{} mounted in {}/{} at {} while {by} held it until {end}",
                        m.vid, m.host, m.drive, m.started
                    ));
                }
                last.insert(
                    &m.vid,
                    (
                        m.ended.unwrap_or(f64::MAX),
                        format!("{}/{}", m.host, m.drive),
                    ),
                );
            }
        }
        Err(e) => out.push(format!("cannot read the mount history: {e}")),
    }
}

/// Recall rules: a done recall left the archived bytes at its destination;
/// a failed one left nothing; the destination directory holds nothing else
/// (no partial file, no temporary, nothing foreign).
pub fn recalls(
    db: &mut dyn Scheduler,
    asked: &[Recall],
    sources: &HashMap<u64, PathBuf>,
    dir: &Path,
    out: &mut Vec<String>,
) -> Vec<u64> {
    let mut verified = Vec::new();
    let ids: Vec<u64> = asked.iter().map(|r| r.id).collect();
    let states: HashMap<u64, (RecallState, Option<String>)> = match db.recall_status(&ids) {
        Ok(s) => s.into_iter().map(|r| (r.id, (r.state, r.error))).collect(),
        Err(e) => {
            out.push(format!("cannot read recall states: {e}"));
            return verified;
        }
    };
    let mut expected = HashSet::new();
    for r in asked {
        let Some((state, error)) = states.get(&r.id) else {
            out.push(format!("recall {} vanished", r.id));
            continue;
        };
        let exists = r.destination.exists();
        match state {
            RecallState::Done => {
                expected.insert(r.destination.clone());
                let want = sources.get(&r.file_id).map(std::fs::read);
                match (std::fs::read(&r.destination), want) {
                    (Ok(got), Some(Ok(want))) if got == want => verified.push(r.file_id),
                    (Ok(got), Some(Ok(want))) => out.push(format!(
                        "recall {} of file {}: {} bytes differ from the {} archived",
                        r.id,
                        r.file_id,
                        got.len(),
                        want.len()
                    )),
                    (got, _) => out.push(format!(
                        "recall {} done but its destination cannot be compared: {:?}",
                        r.id,
                        got.err()
                    )),
                }
            }
            RecallState::Failed => {
                out.push(format!(
                    "recall {} of file {} failed: {}",
                    r.id,
                    r.file_id,
                    error.clone().unwrap_or_default()
                ));
                if exists {
                    out.push(format!(
                        "failed recall {} left {}",
                        r.id,
                        r.destination.display()
                    ));
                }
            }
            other => out.push(format!("recall {} still {other}", r.id)),
        }
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if !expected.contains(&e.path()) {
                out.push(format!(
                    "{} at a recall destination was never a done recall",
                    e.path().display()
                ));
            }
        }
    }
    verified
}

/// Library rules: every cartridge exactly once (a slot, a drive or a
/// picker), none lost, none duplicated, no move left in a picker.
pub fn library(state: &serde_json::Value, barcodes: usize, out: &mut Vec<String>) {
    let mut seen: HashMap<String, u32> = HashMap::new();
    for list in ["pickers", "ports", "drives", "slots"] {
        for e in state[list].as_array().into_iter().flatten() {
            if let Some(b) = e["cartridge"]["barcode"].as_str() {
                *seen.entry(b.to_string()).or_default() += 1;
            }
        }
    }
    if seen.len() != barcodes {
        out.push(format!(
            "the library holds {} cartridges, {barcodes} expected",
            seen.len()
        ));
    }
    for (b, n) in seen {
        if n > 1 {
            out.push(format!("cartridge {b} is in the library {n} times"));
        }
    }
}

/// Repack rules: a repack that ended moved every file (none failed), its
/// tape holds no live copy, and nothing is left in the buffer once every
/// repack ended.
pub fn repacks(db: &mut dyn Scheduler, buffer: &Path, out: &mut Vec<String>) {
    let repacks = match db.repacks() {
        Ok(r) => r,
        Err(e) => {
            out.push(format!("cannot list repacks: {e}"));
            return;
        }
    };
    let tapes = db.tapes().unwrap_or_default();
    for r in &repacks {
        match r.state.as_str() {
            "done" => {
                if r.files_done != r.files_total {
                    out.push(format!(
                        "repack of {} done with {} of {} files",
                        r.vid, r.files_done, r.files_total
                    ));
                }
                // Every repack here asks for --reclaim: the tape was
                // emptied (it may have taken new files since).
                if let Some(t) = tapes.iter().find(|t| t.vid == r.vid)
                    && t.reclaimed == 0
                {
                    out.push(format!(
                        "{} repacked but not reclaimed ({} live files)",
                        r.vid, t.live_files
                    ));
                }
            }
            "failed" => out.push(format!(
                "repack of {} failed: {}",
                r.vid,
                r.error.clone().unwrap_or_default()
            )),
            _ => {}
        }
    }
    if repacks
        .iter()
        .all(|r| matches!(r.state.as_str(), "done" | "failed"))
    {
        let left: Vec<String> = std::fs::read_dir(buffer)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        if !left.is_empty() {
            out.push(format!(
                "the repack buffer holds {left:?} with no repack running"
            ));
        }
    }
}

/// Samples the repack buffer's size all along the run: it must never hold
/// more than its bound.
pub struct BufferMonitor {
    stop: Arc<AtomicBool>,
    pub seen: Arc<Mutex<Vec<String>>>,
    pub peak: Arc<Mutex<u64>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl BufferMonitor {
    pub fn start(dir: PathBuf, bound: u64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let peak = Arc::new(Mutex::new(0));
        let (s, v, p) = (stop.clone(), seen.clone(), peak.clone());
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let held: u64 = std::fs::read_dir(&dir)
                    .map(|d| {
                        d.flatten()
                            .filter_map(|e| e.metadata().ok())
                            .map(|m| m.len())
                            .sum()
                    })
                    .unwrap_or(0);
                let mut peak = p.lock().unwrap();
                if held > *peak {
                    *peak = held;
                    if held > bound {
                        v.lock().unwrap().push(format!(
                            "the repack buffer held {held} bytes, over its {bound}"
                        ));
                    }
                }
                drop(peak);
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Self {
            stop,
            seen,
            peak,
            handle: Some(handle),
        }
    }
}

impl Drop for BufferMonitor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
