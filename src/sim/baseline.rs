//! The FIFO baseline: the same requests served one mount each, in arrival
//! order, by the first drive free, with the same drive and robot times: a
//! recall mounts its tape, locates to its file from the beginning, reads
//! it and unmounts; an archive writes its file at the end of its pool's
//! tape and flushes; a verification reads its tape's files in fSeq order;
//! a repack reads them, then writes them on a second mount. What a
//! scheduler that batches nothing would cost.

use std::collections::HashMap;

use super::Request;
use super::place::Library;
use super::report::{Figures, Tally};
use super::workload::{Activity, Workload};
use crate::tape::time_model::Profile;

struct Fifo<'a> {
    p: Profile,
    lib: &'a Library,
    drives: Vec<f64>,
    robots: Vec<f64>,
    /// Each pool's tape being written and how far.
    writing: HashMap<String, (usize, u64)>,
    /// Where each file archived in the run went: cartridge, offset, size.
    archived: Vec<(String, u64, u64)>,
    tally: Tally,
}

impl Fifo<'_> {
    fn robot(&mut self, t: f64, vid: &str) -> f64 {
        self.lib.move_cartridge(&mut self.robots, t, vid)
    }

    /// One mount of `vid` from `at` on the first free drive; `work` gives
    /// (positioning, streaming) seconds. Returns when the work ended.
    fn mount(&mut self, at: f64, vid: &str, activity: &str, work: (f64, f64)) -> f64 {
        let (d, free) = self
            .drives
            .iter()
            .copied()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((0, at));
        let start = at.max(free);
        let loaded = self.robot(start, vid) + self.p.load.as_secs_f64();
        let done = loaded + work.0 + work.1;
        let back = self.robot(done + self.p.unload.as_secs_f64(), vid);
        let time = &mut self.tally.drives[d];
        time.mounting += loaded - start;
        time.positioning += work.0;
        time.streaming += work.1;
        time.unmounting += back - done;
        self.drives[d] = back;
        self.tally.mount(activity);
        self.tally.mounted_for(activity, done - loaded);
        self.tally.end = self.tally.end.max(back);
        done
    }

    /// Reads `files` (offset, size) in order from the beginning.
    fn reading(&self, files: &[(u64, u64)]) -> (f64, f64) {
        let (mut head, mut locate, mut stream) = (0u64, 0.0, 0.0);
        for &(at, size) in files {
            locate += self.p.locate_bytes(head, at).as_secs_f64();
            stream += self.p.transfer(size, self.p.rate).as_secs_f64();
            head = at + size;
        }
        (locate, stream)
    }

    /// Writes `bytes` at the end of `pool`'s tape and flushes.
    fn writing(&mut self, pool: &str, bytes: u64) -> (String, (f64, f64)) {
        let tapes = self.lib.blank_tapes(pool);
        let (i, used) = self.writing.get(pool).copied().unwrap_or((0, 0));
        let (i, used) = if used + bytes > self.p.capacity && i + 1 < tapes.len() {
            (i + 1, 0)
        } else {
            (i, used)
        };
        self.writing.insert(pool.to_string(), (i, used + bytes));
        let vid = tapes.get(i).cloned().unwrap_or_default();
        let locate = if used > 0 {
            self.p.locate_bytes(0, used).as_secs_f64()
        } else {
            0.0
        };
        let stream = self.p.transfer(bytes, self.p.rate).as_secs_f64();
        (vid, (locate + self.p.flush.as_secs_f64(), stream))
    }
}

pub fn run(w: &Workload, lib: &Library, requests: &[Request]) -> Figures {
    let mut f = Fifo {
        p: w.profile(),
        lib,
        drives: vec![0.0; w.drives as usize],
        robots: vec![0.0; w.robots as usize],
        writing: HashMap::new(),
        archived: Vec::new(),
        tally: Tally::new(w.drives as usize),
    };
    for r in requests {
        match r.activity {
            Activity::Archive => {
                let (vid, work) = f.writing(&r.pool, r.size);
                // Written where the pool's tape's data ended.
                let at = f.writing.get(&r.pool).map_or(0, |w| w.1) - r.size;
                f.archived.push((vid.clone(), at, r.size));
                let done = f.mount(r.at, &vid, "archive", work);
                f.tally.moved("archive", 1, r.size);
                f.tally.served("archive", r.at, done);
            }
            Activity::Recall => {
                let place = match r.archived {
                    Some(k) => f.archived.get(k).cloned(),
                    None => lib.place_of(r.file).cloned(),
                };
                let Some((vid, at, size)) = place else {
                    continue;
                };
                let work = f.reading(&[(at, size)]);
                let done = f.mount(r.at, &vid, "recall", work);
                f.tally.moved("recall", 1, size);
                f.tally.served("recall", r.at, done);
            }
            Activity::Verify | Activity::Repack => {
                let files = lib.files_on(&r.vid);
                let bytes: u64 = files.iter().map(|(_, s)| s).sum();
                let work = f.reading(&files);
                let kind = r.activity.name();
                let mut done = f.mount(r.at, &r.vid, kind, work);
                f.tally.moved(kind, files.len() as u64, bytes);
                if r.activity == Activity::Repack {
                    let pool = lib.pool_of(&r.vid);
                    let (to, work) = f.writing(&pool, bytes);
                    done = f.mount(done, &to, "archive", work);
                    f.tally.moved("archive", files.len() as u64, bytes);
                    f.tally.served(kind, r.at, done);
                }
            }
        }
    }
    let span = f.tally.end;
    f.tally.figures(span)
}
