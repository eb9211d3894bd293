//! A drive that takes the time a real one takes: it wraps any drive (the
//! file-backed one) and, before each call returns, waits what the time
//! model says that call costs on a real drive of the profile's generation,
//! divided by `time_scale`. Load, unload, locate by distance and wraps
//! crossed, rewind by position, streaming at the native rate and the
//! synchronous file mark's flush, so a session on it sees mounts and
//! locates an operator recognises, only `time_scale` times faster.
//!
//! The drive knows block ids, the model byte offsets: the head's offset is
//! followed exactly as blocks pass, and a locate's target lies as many mean
//! data blocks of this mount (the session's block size once a file has
//! passed) from the head as its block id is from the head's, so a locate
//! to where the head already is costs nothing.

use std::time::Duration;

use super::drive::{DriveError, DriveInfo, ReadOutcome, TapeDrive, WriteOutcome};
use super::time_model::Profile;

/// Blocks smaller than this (labels) do not count for the block size.
const SMALL_BLOCK: usize = 4096;
/// The block size assumed until a data block has passed.
const DEFAULT_BLOCK: u64 = 256 * 1024;
/// Shorter waits are added up and taken together: sleeping a few
/// microseconds per block costs more than it models.
const MIN_SLEEP: Duration = Duration::from_millis(1);

pub struct TimedDrive {
    inner: Box<dyn TapeDrive>,
    profile: Profile,
    scale: f64,
    /// Byte offset of the head along the tape's data.
    at: u64,
    data_bytes: u64,
    data_blocks: u64,
    /// Modelled time not yet slept (already divided by the scale).
    owed: Duration,
    /// All the modelled time, unscaled.
    modelled: Duration,
}

impl TimedDrive {
    /// `scale`: how many times faster than the real drive (1: real time);
    /// values below 1 are taken as 1.
    pub fn new(inner: Box<dyn TapeDrive>, profile: Profile, scale: f64) -> Self {
        Self {
            inner,
            profile,
            scale: scale.max(1.0),
            at: 0,
            data_bytes: 0,
            data_blocks: 0,
            owed: Duration::ZERO,
            modelled: Duration::ZERO,
        }
    }

    /// What a real drive would have spent on the calls so far.
    pub fn modelled(&self) -> Duration {
        self.modelled
    }

    fn block_bytes(&self) -> u64 {
        self.data_bytes
            .checked_div(self.data_blocks)
            .unwrap_or(DEFAULT_BLOCK)
    }

    fn spend(&mut self, real: Duration) {
        self.modelled += real;
        self.owed += real.div_f64(self.scale);
        if self.owed >= MIN_SLEEP {
            std::thread::sleep(self.owed);
            self.owed = Duration::ZERO;
        }
    }

    fn moved(&mut self, bytes: usize) {
        if bytes >= SMALL_BLOCK {
            self.data_bytes += bytes as u64;
            self.data_blocks += 1;
        }
        self.at += bytes as u64;
        self.spend(self.profile.transfer(bytes as u64, self.profile.rate));
    }

    /// The offset of block `to`, from the head at block `from`.
    fn offset_of(&self, from: u64, to: u64) -> u64 {
        let blocks = to.abs_diff(from).saturating_mul(self.block_bytes());
        if to >= from {
            self.at.saturating_add(blocks)
        } else {
            self.at.saturating_sub(blocks)
        }
    }

    /// Moves the modelled head from block `from` to where the drive now
    /// is, at the model's cost.
    fn relocated(&mut self, from: u64) -> Result<(), DriveError> {
        let block = self.inner.position()?;
        let to = self.offset_of(from, block);
        let cost = self.profile.locate_bytes(self.at, to);
        self.at = to;
        self.spend(cost);
        Ok(())
    }
}

impl TapeDrive for TimedDrive {
    fn load(&mut self) -> Result<(), DriveError> {
        self.inner.load()?;
        self.at = 0;
        self.spend(self.profile.load);
        Ok(())
    }

    fn rewind(&mut self) -> Result<(), DriveError> {
        self.inner.rewind()?;
        let cost = self.profile.rewind(self.profile.place(self.at));
        self.at = 0;
        self.spend(cost);
        Ok(())
    }

    fn locate(&mut self, block_id: u64) -> Result<(), DriveError> {
        let from = self.inner.position()?;
        self.inner.locate(block_id)?;
        self.relocated(from)
    }

    fn space_filemarks(&mut self, count: i64) -> Result<(), DriveError> {
        let from = self.inner.position()?;
        self.inner.space_filemarks(count)?;
        self.relocated(from)
    }

    fn position(&mut self) -> Result<u64, DriveError> {
        self.inner.position()
    }

    fn read_block(&mut self, buf: &mut [u8]) -> Result<ReadOutcome, DriveError> {
        let outcome = self.inner.read_block(buf)?;
        if let ReadOutcome::Data(n) = outcome {
            self.moved(n);
        }
        Ok(outcome)
    }

    fn write_block(&mut self, block: &[u8]) -> Result<WriteOutcome, DriveError> {
        let outcome = self.inner.write_block(block)?;
        self.moved(block.len());
        Ok(outcome)
    }

    fn write_filemarks(&mut self, count: u32, sync: bool) -> Result<WriteOutcome, DriveError> {
        let outcome = self.inner.write_filemarks(count, sync)?;
        if sync {
            self.spend(self.profile.flush);
        }
        Ok(outcome)
    }

    fn flush(&mut self) -> Result<(), DriveError> {
        self.inner.flush()?;
        self.spend(self.profile.flush);
        Ok(())
    }

    fn unload(&mut self) -> Result<(), DriveError> {
        self.inner.unload()?;
        self.at = 0;
        self.spend(self.profile.unload);
        Ok(())
    }

    fn info(&self) -> DriveInfo {
        self.inner.info()
    }

    fn set_lbp(&mut self, on: bool) {
        self.inner.set_lbp(on);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tape::FileDrive;
    use crate::tape::file_drive::create_cartridge;
    use crate::tape::time_model::LTO9;

    /// A file drive with a cartridge in it, timed as LTO-9, `scale` times
    /// faster.
    fn timed(dir: &std::path::Path, scale: f64) -> TimedDrive {
        let cart = dir.join("cartridges/V00001");
        create_cartridge(&cart, "V00001", 1 << 30).unwrap();
        let device = dir.join("drives/d0");
        std::fs::create_dir_all(&device).unwrap();
        std::os::unix::fs::symlink(&cart, FileDrive::cartridge_link(&device)).unwrap();
        TimedDrive::new(Box::new(FileDrive::new("d0", &device)), LTO9, scale)
    }

    /// Scaled so far down that the test does not wait.
    fn drive(dir: &std::path::Path) -> TimedDrive {
        timed(dir, 1e9)
    }

    fn secs(d: Duration) -> f64 {
        d.as_secs_f64()
    }

    #[test]
    fn a_load_an_unload_and_a_flush_take_what_the_profile_says() {
        let tmp = tempfile::tempdir().unwrap();
        let mut d = drive(tmp.path());
        d.load().unwrap();
        assert_eq!(d.modelled(), LTO9.load, "a load");
        d.flush().unwrap();
        assert_eq!(d.modelled(), LTO9.load + LTO9.flush, "a flush");
        d.unload().unwrap();
        assert_eq!(d.modelled(), LTO9.load + LTO9.flush + LTO9.unload);
    }

    #[test]
    fn streaming_runs_at_the_native_rate_and_a_locate_costs_its_distance() {
        let tmp = tempfile::tempdir().unwrap();
        let mut d = drive(tmp.path());
        d.load().unwrap();
        let block = vec![7u8; 256 * 1024];
        for _ in 0..400 {
            d.write_block(&block).unwrap();
        }
        d.write_filemarks(1, false).unwrap();
        let streamed = secs(d.modelled()) - secs(LTO9.load);
        let want = 400.0 * 256.0 * 1024.0 / LTO9.rate;
        assert!(
            (streamed - want).abs() < 1e-6,
            "{streamed} s, want {want} s"
        );
        // Back to block 0 from 100 MiB along the first wrap: the model's
        // step back plus the distance.
        let before = d.modelled();
        d.locate(0).unwrap();
        let cost = d.modelled() - before;
        assert_eq!(cost, LTO9.locate_bytes(400 * 256 * 1024, 0));
        assert!(secs(cost) > 15.0, "a step back costs: {cost:?}");
        // A locate to where the head is, and a rewind from the beginning,
        // cost nothing.
        let before = d.modelled();
        d.locate(0).unwrap();
        d.rewind().unwrap();
        assert_eq!(d.modelled(), before);
    }

    #[test]
    fn the_scale_divides_the_time_slept() {
        let tmp = tempfile::tempdir().unwrap();
        let mut d = timed(tmp.path(), 800.0);
        let started = std::time::Instant::now();
        d.load().unwrap();
        // 16 s at 800 times: 20 ms at least (a sleep never ends early).
        assert!(started.elapsed() >= Duration::from_millis(20));
        assert_eq!(d.modelled(), LTO9.load);
    }
}
