//! How long a real drive takes: load, unload, locate, rewind, streaming
//! and a synchronous flush, per LTO generation. The figures are the
//! vendors' and CTA's (`docs/time-model.md`); the file-backed drive and the
//! emulated robot apply them scaled down (`time_scale`), and the site
//! simulator on a virtual clock.
//!
//! LTO writes serpentine: a tape holds `wraps` wraps in 4 data bands, each
//! wrap the whole length of the tape, even wraps from the beginning to
//! the end, odd ones back. A byte offset is therefore a wrap and a
//! longitudinal position (LPOS); a locate costs the distance along the
//! tape plus what changing wrap, band and direction costs. The cost
//! function is CTA's fit for LTO-8 drives (`CTACostHeuristic`):
//! `4.29 + 6.69·wrapChange + 3.2·bandChange + 5.22·directionChange +
//! 11.32·stepBack + 0.0006192·ΔLPOS` seconds, its distance term scaled to
//! each generation's end-to-end pass.

use std::time::Duration;

/// CTA's fitted LTO-8 costs, in seconds.
const BASE_S: f64 = 4.29;
const WRAP_CHANGE_S: f64 = 6.69;
const BAND_CHANGE_S: f64 = 3.2;
const DIRECTION_CHANGE_S: f64 = 5.22;
const STEP_BACK_S: f64 = 11.32;
/// CTA's seconds per LPOS; a wrap of an LTO-8 tape is about 100,000 LPOS,
/// so a pass end to end takes about 62 s (each profile's `end_to_end`).
#[cfg(test)]
const LTO8_S_PER_LPOS: f64 = 0.000_619_2;
const LPOS_PER_WRAP: f64 = 100_000.0;
/// LTO's four data bands.
const BANDS: u32 = 4;

/// One drive generation's figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    pub name: &'static str,
    /// Native capacity of its own media.
    pub capacity: u64,
    /// Native streaming rate, bytes per second.
    pub rate: f64,
    /// The slowest rate speed matching still streams at; data that comes
    /// slower makes the drive stop and back-hitch.
    pub min_rate: f64,
    /// Wraps on its own media.
    pub wraps: u32,
    /// From a cartridge in the drive to ready (threading, reading the
    /// cartridge memory and the tape directory).
    pub load: Duration,
    /// From ready to the cartridge out (rewinding included, as the vendors
    /// quote it).
    pub unload: Duration,
    /// One pass along the whole tape at locate speed (a rewind from the
    /// end).
    pub end_to_end: Duration,
    /// Stopping, repositioning and starting again when the buffer ran dry.
    pub back_hitch: Duration,
    /// A synchronous file mark: the buffer written out, the drive stopped.
    pub flush: Duration,
}

/// LTO-8: 12 TB, 360 MB/s, 208 wraps.
pub const LTO8: Profile = Profile {
    name: "lto8",
    capacity: 12_000_000_000_000,
    rate: 360e6,
    min_rate: 112e6,
    wraps: 208,
    load: Duration::from_secs(17),
    unload: Duration::from_secs(57),
    end_to_end: Duration::from_secs(62),
    back_hitch: Duration::from_millis(2_500),
    flush: Duration::from_millis(2_000),
};

/// LTO-9: 18 TB, 400 MB/s, 280 wraps; load to ready 16 s, unload 56 s,
/// rewind up to 62 s.
pub const LTO9: Profile = Profile {
    name: "lto9",
    capacity: 18_000_000_000_000,
    rate: 400e6,
    min_rate: 177e6,
    wraps: 280,
    load: Duration::from_secs(16),
    unload: Duration::from_secs(56),
    end_to_end: Duration::from_secs(62),
    back_hitch: Duration::from_millis(2_500),
    flush: Duration::from_millis(2_000),
};

/// LTO-10: 30 TB, 400 MB/s.
pub const LTO10: Profile = Profile {
    name: "lto10",
    capacity: 30_000_000_000_000,
    rate: 400e6,
    min_rate: 177e6,
    wraps: 336,
    load: Duration::from_secs(16),
    unload: Duration::from_secs(56),
    end_to_end: Duration::from_secs(62),
    back_hitch: Duration::from_millis(2_500),
    flush: Duration::from_millis(2_000),
};

/// A library robot's move between neighbouring elements and across the
/// whole library (the 3 to 15 s of enterprise and midrange libraries;
/// picker contention comes from moves on one robot waiting for each other).
pub const ROBOT_NEAR: Duration = Duration::from_secs(3);
pub const ROBOT_FAR: Duration = Duration::from_secs(15);

/// The profiles by name, as the config names them.
pub fn profile(name: &str) -> Option<Profile> {
    [LTO8, LTO9, LTO10]
        .into_iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
}

/// Where a byte offset of a tape lies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Place {
    pub wrap: u32,
    /// Longitudinal position from the beginning of the tape, 0 to
    /// `LPOS_PER_WRAP`.
    pub lpos: f64,
}

impl Place {
    pub fn band(self, p: &Profile) -> u32 {
        self.wrap / (p.wraps / BANDS).max(1)
    }

    /// Even wraps run from the beginning of the tape, odd ones back.
    pub fn forward(self) -> bool {
        self.wrap.is_multiple_of(2)
    }
}

impl Profile {
    /// What giving a cartridge back and mounting it again costs the drive:
    /// the unload, the robot there and back (the far moves) and the load.
    /// Work for a mounted tape that comes sooner is worth waiting for.
    pub fn remount(&self) -> Duration {
        self.unload + ROBOT_FAR * 2 + self.load
    }

    /// Bytes one wrap holds.
    fn wrap_bytes(&self) -> f64 {
        self.capacity as f64 / f64::from(self.wraps)
    }

    /// Where byte `offset` of the tape's data lies (an offset past the
    /// capacity: on the last wrap's end).
    pub fn place(&self, offset: u64) -> Place {
        let along = offset as f64 / self.wrap_bytes();
        let wrap = (along.floor() as u32).min(self.wraps - 1);
        let within = (along - f64::from(wrap)).clamp(0.0, 1.0);
        let lpos = if wrap.is_multiple_of(2) {
            within
        } else {
            1.0 - within
        } * LPOS_PER_WRAP;
        Place { wrap, lpos }
    }

    fn seconds_per_lpos(&self) -> f64 {
        self.end_to_end.as_secs_f64() / LPOS_PER_WRAP
    }

    /// A locate from `from` to `to` (no cost when already there).
    pub fn locate(&self, from: Place, to: Place) -> Duration {
        if from == to {
            return Duration::ZERO;
        }
        let wrap_change = from.wrap != to.wrap;
        let band_change = from.band(self) != to.band(self);
        let direction_change = from.forward() != to.forward();
        // On the same wrap, a target behind the head means stopping and
        // going back.
        let step_back = !wrap_change
            && if from.forward() {
                to.lpos < from.lpos
            } else {
                to.lpos > from.lpos
            };
        let mut s = BASE_S + self.seconds_per_lpos() * (to.lpos - from.lpos).abs();
        if wrap_change {
            s += WRAP_CHANGE_S;
        }
        if band_change {
            s += BAND_CHANGE_S;
        }
        if direction_change {
            s += DIRECTION_CHANGE_S;
        }
        if step_back {
            s += STEP_BACK_S;
        }
        Duration::from_secs_f64(s)
    }

    /// Locate between two byte offsets.
    pub fn locate_bytes(&self, from: u64, to: u64) -> Duration {
        self.locate(self.place(from), self.place(to))
    }

    /// Back to the beginning of the tape from `at`.
    pub fn rewind(&self, at: Place) -> Duration {
        Duration::from_secs_f64(self.seconds_per_lpos() * at.lpos)
    }

    /// Writing or reading `bytes` while data comes at `supply` bytes per
    /// second: the native rate if data keeps up; speed matching down to
    /// `min_rate`; slower than that, the drive streams what it has, stops
    /// and back-hitches once per buffer it ran out of.
    pub fn transfer(&self, bytes: u64, supply: f64) -> Duration {
        if bytes == 0 {
            return Duration::ZERO;
        }
        let b = bytes as f64;
        if supply >= self.rate {
            return Duration::from_secs_f64(b / self.rate);
        }
        if supply >= self.min_rate {
            return Duration::from_secs_f64(b / supply);
        }
        // A 1 GiB buffer drained at the native rate, one back-hitch each.
        let buffer = f64::from(1u32 << 30);
        let hitches = (b / buffer).ceil();
        Duration::from_secs_f64(b / supply.max(1.0) + hitches * self.back_hitch.as_secs_f64())
    }
}

/// An order for reading `files` (each a byte offset and a length) from
/// `start` that keeps the modelled positioning short: from where the last
/// read left the head, the file the model says is cheapest to reach next
/// (a greedy shortest-locate-first tour). Returns indices into `files`.
pub fn shortest_locate_order(p: &Profile, start: u64, files: &[(u64, u64)]) -> Vec<usize> {
    let mut left: Vec<usize> = (0..files.len()).collect();
    let mut order = Vec::with_capacity(files.len());
    let mut at = p.place(start);
    while !left.is_empty() {
        let (k, _) = left
            .iter()
            .enumerate()
            .map(|(k, &i)| (k, p.locate(at, p.place(files[i].0))))
            .min_by_key(|(_, cost)| *cost)
            .unwrap_or((0, Duration::ZERO));
        let i = left.swap_remove(k);
        at = p.place(files[i].0.saturating_add(files[i].1));
        order.push(i);
    }
    order
}

/// The modelled positioning time of reading `files` in `order` from
/// `start`.
pub fn positioning(p: &Profile, start: u64, files: &[(u64, u64)], order: &[usize]) -> Duration {
    let mut at = p.place(start);
    let mut total = Duration::ZERO;
    for &i in order {
        total += p.locate(at, p.place(files[i].0));
        at = p.place(files[i].0.saturating_add(files[i].1));
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: Duration, want: f64, within: f64) {
        let g = got.as_secs_f64();
        assert!(
            (g - want).abs() <= within,
            "{g} s, expected {want} ± {within}"
        );
    }

    #[test]
    fn lto9_loads_unloads_and_passes_the_tape_in_the_quoted_times() {
        close(LTO9.load, 16.0, 0.0);
        close(LTO9.unload, 56.0, 0.0);
        // From the beginning to the far end of the first wrap: one pass
        // plus the fixed cost of a locate.
        let wrap_end = (LTO9.capacity / u64::from(LTO9.wraps)) - 1;
        close(LTO9.locate_bytes(0, wrap_end), 62.0 + BASE_S, 0.1);
        // Rewinding from there: the quoted "up to 62 s".
        close(LTO9.rewind(LTO9.place(wrap_end)), 62.0, 0.1);
    }

    #[test]
    fn the_lto8_profile_is_ctas_fit() {
        // CTA's seconds per LPOS over a wrap's LPOS: LTO-8's pass.
        close(LTO8.end_to_end, LTO8_S_PER_LPOS * LPOS_PER_WRAP, 0.1);
    }

    #[test]
    fn serpentine_places_and_costs() {
        let wrap = LTO9.capacity.div_ceil(u64::from(LTO9.wraps));
        // The start of wrap 1 is at the far end of the tape, going back.
        let p = LTO9.place(wrap);
        assert_eq!(p.wrap, 1);
        assert!(!p.forward());
        close(Duration::from_secs_f64(p.lpos), LPOS_PER_WRAP, 1.0);
        // So the end of wrap 0 and the start of wrap 1 are close on tape:
        // only the wrap and direction change cost.
        close(
            LTO9.locate_bytes(wrap - 1, wrap),
            BASE_S + WRAP_CHANGE_S + DIRECTION_CHANGE_S,
            0.1,
        );
        // Just behind on the same wrap: a step back.
        close(
            LTO9.locate_bytes(wrap / 2, wrap / 2 - 1_000_000),
            BASE_S + STEP_BACK_S,
            0.1,
        );
        // Bands are a quarter of the wraps each.
        assert_eq!(LTO9.place(wrap * 69 + 1_000_000).band(&LTO9), 0);
        assert_eq!(LTO9.place(wrap * 70 + 1_000_000).band(&LTO9), 1);
        // The average locate from the beginning of the tape to a random
        // place is about a minute, as quoted (65 s).
        let n = 1000u64;
        let mean: f64 = (0..n)
            .map(|i| {
                LTO9.locate_bytes(0, LTO9.capacity / n * i + 12_345)
                    .as_secs_f64()
            })
            .sum::<f64>()
            / n as f64;
        assert!((40.0..70.0).contains(&mean), "{mean}");
    }

    #[test]
    fn shortest_locate_first_beats_fseq_order_on_a_full_tape() {
        // 100 files of 1 GB at random places of a full LTO-9 tape
        // (xorshift, fixed seed: the same every run).
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut files: Vec<(u64, u64)> = (0..100)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % (LTO9.capacity - 1_000_000_000), 1_000_000_000)
            })
            .collect();
        // fSeq order is the order on tape.
        files.sort();
        let fseq: Vec<usize> = (0..files.len()).collect();
        let tour = shortest_locate_order(&LTO9, 0, &files);
        let mut seen = tour.clone();
        seen.sort();
        assert_eq!(seen, fseq, "every file once");
        let (linear, greedy) = (
            positioning(&LTO9, 0, &files, &fseq).as_secs_f64(),
            positioning(&LTO9, 0, &files, &tour).as_secs_f64(),
        );
        eprintln!("fSeq order {linear:.0} s, shortest-locate-first {greedy:.0} s");
        assert!(greedy <= 0.7 * linear, "{greedy} s against {linear} s");
    }

    #[test]
    fn streaming_speed_matching_and_back_hitches() {
        let gb = 1_000_000_000;
        close(LTO9.transfer(4 * gb, 1e12), 10.0, 0.01);
        // Speed matching: as fast as the data comes.
        close(LTO9.transfer(gb, 200e6), 5.0, 0.01);
        // Slower than the drive can match: stop and back-hitch.
        let slow = LTO9.transfer(2 * gb, 100e6).as_secs_f64();
        assert!(
            slow > 20.0 + 2.0 * LTO9.back_hitch.as_secs_f64() - 0.01,
            "{slow}"
        );
        assert_eq!(profile("LTO9"), Some(LTO9));
        assert_eq!(profile("lto7"), None);
    }
}
