//! The simulated library's cartridges: where each sits (for the robot's
//! move time), what each holds and where on tape, and how the files a
//! workload starts with are put in the catalogue (through the scheduler,
//! as migrations would).
//!
//! The files of a cartridge that starts full lie evenly over its whole
//! length (the rest of the tape holds files no request names), so reading
//! a few of them costs what it costs on a full tape.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use super::Rng;
use super::workload::Workload;
use crate::scheduler::{
    ArchivedFile, FileLimits, LOCAL_OWNER, MountPolicy, NewArchiveFile, Scheduler, SchedulerError,
    TapeState,
};
use crate::tape::time_model::{Profile, ROBOT_FAR, ROBOT_NEAR};

/// Labels and file marks around each file's data: HDR1, HDR2, UHL1, a
/// mark, the data, a mark, EOF1, EOF2, UTL1, a mark.
const LABEL_BLOCKS: u64 = 9;

/// The same checksum for a file wherever it is written, so a repack's new
/// copy matches its old one.
pub fn crc_of(file_id: u64) -> u32 {
    (file_id as u32).wrapping_mul(2_654_435_761)
}

struct Tape {
    pool: String,
    slot: usize,
    next_fseq: u64,
    next_block: u64,
    end: u64,
}

pub struct Library {
    tapes: HashMap<String, Tape>,
    slots: usize,
    /// Cartridges that start with files, in order, and their files.
    filled: Vec<(String, Vec<u64>)>,
    /// Where each starting file is: its cartridge, offset and size.
    places: HashMap<u64, (String, u64, u64)>,
    repacks_done: BTreeSet<String>,
}

/// How placing the initial files went.
pub type Placing = Result<Library, SchedulerError>;

impl Library {
    /// Registers every cartridge of the workload and records the files the
    /// full ones hold; every full one is `full` (archives go to the blank
    /// ones).
    pub fn place(w: &Workload, p: &Profile, db: &mut dyn Scheduler) -> Placing {
        let mut lib = Library {
            tapes: HashMap::new(),
            slots: w.tapes.iter().map(|t| t.count as usize).sum(),
            filled: Vec::new(),
            places: HashMap::new(),
            repacks_done: BTreeSet::new(),
        };
        let policy = MountPolicy::uniform(1, 1, Duration::ZERO, Duration::ZERO);
        let mut pools = BTreeSet::new();
        let block = w.session.block_size.0.max(1);
        let mut n = 0usize;
        // The full cartridges first: each is then the only one of its pool
        // with room when its files are placed.
        let (full, blank): (Vec<_>, Vec<_>) = w.tapes.iter().partition(|t| t.files > 0);
        for set in full.into_iter().chain(blank) {
            if pools.insert(set.pool.clone()) {
                db.add_pool(&set.pool)?;
            }
            for _ in 0..set.count {
                n += 1;
                let vid = format!("V{n:05}");
                db.add_tape(&vid, &set.pool, p.capacity)?;
                let mut tape = Tape {
                    pool: set.pool.clone(),
                    slot: n - 1,
                    next_fseq: 1,
                    next_block: 1,
                    end: 0,
                };
                if set.files > 0 {
                    let files: Vec<NewArchiveFile> = (0..set.files)
                        .map(|i| NewArchiveFile {
                            path: format!("/site/{vid}/{i}"),
                            size: set.file_size.0,
                            owner: LOCAL_OWNER.into(),
                            permissions: None,
                        })
                        .collect();
                    let ids = db.queue_archive(&files, &set.pool)?;
                    let Some(m) = db.next_mount("sim", "placing", &policy)? else {
                        return Err(SchedulerError::Invalid(format!(
                            "no mount to place the files of {vid}"
                        )));
                    };
                    let jobs = db.fetch_archive_jobs(m.id, set.files, u64::MAX)?;
                    let spacing = (p.capacity / set.files).max(set.file_size.0);
                    let archived: Vec<ArchivedFile> = jobs
                        .iter()
                        .enumerate()
                        .map(|(i, j)| ArchivedFile {
                            file_id: j.file_id,
                            fseq: i as u64 + 1,
                            block_id: 1 + i as u64 * spacing / block,
                            block_size: block,
                            size: j.size,
                            crc32c: crc_of(j.file_id),
                        })
                        .collect();
                    db.report_migration(m.id, &m.vid, &archived, &[], &FileLimits::default())?;
                    db.end_mount(m.id)?;
                    db.set_tape_state(&m.vid, TapeState::Full, "the simulation's starting files")?;
                    for f in &archived {
                        lib.places
                            .insert(f.file_id, (m.vid.clone(), f.block_id * block, f.size));
                    }
                    tape.next_fseq = set.files + 1;
                    tape.next_block = 1 + set.files * spacing / block;
                    tape.end = p.capacity;
                    lib.filled.push((m.vid.clone(), ids));
                    lib.tapes.insert(m.vid, tape);
                } else {
                    lib.tapes.insert(vid, tape);
                }
            }
        }
        Ok(lib)
    }

    /// `count` files one after another from a random place of one of the
    /// first `tapes` full cartridges (0: of all).
    pub fn random_files(&self, rng: &mut Rng, tapes: u32, count: u64) -> Vec<u64> {
        let n = match tapes as usize {
            0 => self.filled.len(),
            t => t.min(self.filled.len()),
        };
        let (_, files) = &self.filled[rng.below(n as u64) as usize];
        let count = (count as usize).clamp(1, files.len());
        let first = rng.below((files.len() - count + 1) as u64) as usize;
        files[first..first + count].to_vec()
    }

    /// The `i`th full cartridge.
    pub fn filled(&self, i: usize) -> String {
        self.filled[i % self.filled.len()].0.clone()
    }

    /// True the first time a repack of `vid` is seen ended.
    pub fn repack_done(&mut self, vid: &str) -> bool {
        self.repacks_done.insert(vid.to_string())
    }

    /// The robot's move between the drives and the cartridge's slot.
    pub fn move_time(&self, vid: &str) -> Duration {
        let reach = self
            .tapes
            .get(vid)
            .map_or(1.0, |t| (t.slot + 1) as f64 / self.slots.max(1) as f64);
        ROBOT_NEAR + (ROBOT_FAR - ROBOT_NEAR).mul_f64(reach)
    }

    /// The pool a cartridge belongs to.
    pub fn pool_of(&self, vid: &str) -> String {
        self.tapes
            .get(vid)
            .map_or_else(String::new, |t| t.pool.clone())
    }

    /// A starting file's cartridge, offset and size.
    pub fn place_of(&self, file_id: u64) -> Option<&(String, u64, u64)> {
        self.places.get(&file_id)
    }

    /// The starting files of `vid`: (offset, size) in fSeq order.
    pub fn files_on(&self, vid: &str) -> Vec<(u64, u64)> {
        let Some((_, ids)) = self.filled.iter().find(|(v, _)| v == vid) else {
            return Vec::new();
        };
        ids.iter()
            .filter_map(|id| self.places.get(id).map(|(_, o, s)| (*o, *s)))
            .collect()
    }

    /// The cartridges of `pool` that start blank, in slot order.
    pub fn blank_tapes(&self, pool: &str) -> Vec<String> {
        let mut v: Vec<(usize, &String)> = self
            .tapes
            .iter()
            .filter(|(_, t)| t.pool == pool && t.end == 0)
            .map(|(vid, t)| (t.slot, vid))
            .collect();
        v.sort();
        v.into_iter().map(|(_, vid)| vid.clone()).collect()
    }

    /// A move of `vid`'s cartridge by the first free of `robots` (each the
    /// time it is free again), starting no earlier than `t`: when it ends.
    pub fn move_cartridge(&self, robots: &mut [f64], t: f64, vid: &str) -> f64 {
        let Some(free) = robots.iter_mut().min_by(|a, b| a.total_cmp(b)) else {
            return t;
        };
        *free = t.max(*free) + self.move_time(vid).as_secs_f64();
        *free
    }

    /// Where a tape's data ends (where the next file is written).
    pub fn end_of_data(&self, vid: &str) -> u64 {
        self.tapes.get(vid).map_or(0, |t| t.end)
    }

    /// Writes a file at the end of `vid`'s data.
    pub fn append(&mut self, vid: &str, file_id: u64, size: u64, block: u64) -> ArchivedFile {
        let tape = self.tapes.entry(vid.to_string()).or_insert(Tape {
            pool: String::new(),
            slot: 0,
            next_fseq: 1,
            next_block: 1,
            end: 0,
        });
        let file = ArchivedFile {
            file_id,
            fseq: tape.next_fseq,
            block_id: tape.next_block,
            block_size: block,
            size,
            crc32c: crc_of(file_id),
        };
        tape.next_fseq += 1;
        tape.next_block += size.div_ceil(block.max(1)) + LABEL_BLOCKS;
        tape.end += size;
        file
    }
}
