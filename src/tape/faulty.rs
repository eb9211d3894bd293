//! A fault-injecting wrapper around any drive, for tests: errors at the Nth
//! data block written or read, a corrupted block on read (with a matching
//! LBP CRC, as if the data had gone bad before the drive saw it), a stall,
//! and an early end of tape. Counts are per session (per wrapper).

use std::time::Duration;

use super::drive::{DriveError, DriveInfo, LBP_CRC_LEN, ReadOutcome, TapeDrive, WriteOutcome};
pub use crate::faults::Faults;

/// Methods a wrapper passes straight to the drive it wraps.
macro_rules! forward_to_inner {
    ($(fn $name:ident(&mut self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)*) => {
        $(fn $name(&mut self $(, $arg: $ty)*) -> $ret {
            self.inner.$name($($arg),*)
        })*
    };
}

/// The calls neither wrapper changes.
macro_rules! forward_common {
    () => {
        forward_to_inner! {
            fn load(&mut self) -> Result<(), DriveError>;
            fn rewind(&mut self) -> Result<(), DriveError>;
            fn locate(&mut self, block_id: u64) -> Result<(), DriveError>;
            fn space_filemarks(&mut self, count: i64) -> Result<(), DriveError>;
            fn position(&mut self) -> Result<u64, DriveError>;
            fn write_filemarks(&mut self, count: u32, sync: bool) -> Result<WriteOutcome, DriveError>;
            fn flush(&mut self) -> Result<(), DriveError>;
            fn unload(&mut self) -> Result<(), DriveError>;
        }
        fn info(&self) -> DriveInfo {
            self.inner.info()
        }
        fn set_lbp(&mut self, on: bool) {
            self.lbp = on;
            self.inner.set_lbp(on);
        }
    };
}

/// Labels are 80-byte blocks starting with their id; everything else is data.
fn is_label(payload: &[u8]) -> bool {
    payload.len() == 80
        && matches!(
            &payload[..4],
            b"VOL1" | b"HDR1" | b"HDR2" | b"UHL1" | b"EOF1" | b"EOF2" | b"UTL1"
        )
}

pub struct FaultyDrive {
    inner: Box<dyn TapeDrive>,
    faults: Faults,
    lbp: bool,
    written_blocks: u64,
    read_blocks: u64,
    written_bytes: u64,
}

impl FaultyDrive {
    pub fn new(inner: Box<dyn TapeDrive>, faults: Faults) -> Self {
        Self {
            inner,
            faults,
            lbp: false,
            written_blocks: 0,
            read_blocks: 0,
            written_bytes: 0,
        }
    }

    fn injected(&self, what: String) -> DriveError {
        DriveError::Injected {
            drive: self.inner.info().serial,
            what,
        }
    }

    fn stall(&self) -> Duration {
        self.faults.stall.map_or(Duration::ZERO, |s| s.0)
    }

    fn block_delay(&self) -> Duration {
        self.faults.block_delay.map_or(Duration::ZERO, |d| d.0)
    }

    fn maybe_stall(&self, n: u64) {
        if self.faults.stall_at_block != Some(n) {
            return;
        }
        match &self.faults.stall_until {
            Some(release) => {
                tracing::warn!(block = n, until = %release.display(), "injected fault: drive stalls");
                while !release.exists() {
                    std::thread::sleep(Duration::from_millis(10));
                }
                tracing::warn!(block = n, "injected fault: the stall is released");
            }
            None => {
                tracing::warn!(
                    block = n,
                    seconds = self.stall().as_secs_f64(),
                    "injected fault: drive stalls"
                );
                std::thread::sleep(self.stall());
            }
        }
    }
}

impl TapeDrive for FaultyDrive {
    forward_common!();

    fn read_block(&mut self, buf: &mut [u8]) -> Result<ReadOutcome, DriveError> {
        let outcome = self.inner.read_block(buf)?;
        let ReadOutcome::Data(n) = outcome else {
            return Ok(outcome);
        };
        let payload = if self.lbp {
            n.saturating_sub(LBP_CRC_LEN)
        } else {
            n
        };
        if is_label(&buf[..payload]) {
            return Ok(outcome);
        }
        self.read_blocks += 1;
        let nth = self.read_blocks;
        std::thread::sleep(self.block_delay());
        self.maybe_stall(nth);
        if self.faults.read_error_at_block == Some(nth) {
            return Err(self.injected(format!("medium error reading data block {nth}")));
        }
        if self.faults.corrupt_read_at_block == Some(nth) {
            buf[payload / 2] ^= 0x01;
            if self.lbp {
                let crc = crc32c::crc32c(&buf[..payload]);
                buf[payload..n].copy_from_slice(&crc.to_be_bytes());
            }
        }
        Ok(outcome)
    }

    fn write_block(&mut self, block: &[u8]) -> Result<WriteOutcome, DriveError> {
        let payload = &block[..block
            .len()
            .saturating_sub(if self.lbp { LBP_CRC_LEN } else { 0 })];
        if is_label(payload) {
            return self.inner.write_block(block);
        }
        let payload = payload.len() as u64;
        let nth = self.written_blocks + 1;
        std::thread::sleep(self.block_delay());
        self.maybe_stall(nth);
        if self.faults.write_error_at_block == Some(nth) {
            return Err(self.injected(format!("write error on data block {nth}")));
        }
        if let Some(limit) = self.faults.end_of_medium_after.map(u64::from)
            && self.written_bytes + payload > limit
        {
            return Err(DriveError::EndOfMedium {
                drive: self.inner.info().serial,
                len: payload as usize,
            });
        }
        let outcome = self.inner.write_block(block)?;
        self.written_blocks = nth;
        self.written_bytes += payload;
        match self.faults.early_warning_after.map(u64::from) {
            Some(limit) if self.written_bytes > limit => Ok(WriteOutcome::EarlyWarning),
            _ => Ok(outcome),
        }
    }
}

/// A drive for benchmarks: reads, positioning and flushes go to the
/// wrapped drive; everything written (data, labels, file marks) is
/// discarded after its CRC32C was computed by the pipeline (a real drive
/// checks it in hardware), so the cartridge is left as it was and nothing
/// "written" can be recalled. The report packer never records such files
/// as on tape.
pub struct NullDrive {
    inner: Box<dyn TapeDrive>,
}

impl NullDrive {
    pub fn new(inner: Box<dyn TapeDrive>) -> Self {
        Self { inner }
    }
}

impl TapeDrive for NullDrive {
    forward_to_inner! {
        fn load(&mut self) -> Result<(), DriveError>;
        fn rewind(&mut self) -> Result<(), DriveError>;
        fn locate(&mut self, block_id: u64) -> Result<(), DriveError>;
        fn space_filemarks(&mut self, count: i64) -> Result<(), DriveError>;
        fn position(&mut self) -> Result<u64, DriveError>;
        fn read_block(&mut self, buf: &mut [u8]) -> Result<ReadOutcome, DriveError>;
        fn flush(&mut self) -> Result<(), DriveError>;
        fn unload(&mut self) -> Result<(), DriveError>;
    }

    fn info(&self) -> DriveInfo {
        self.inner.info()
    }

    fn set_lbp(&mut self, on: bool) {
        self.inner.set_lbp(on);
    }

    fn write_block(&mut self, _block: &[u8]) -> Result<WriteOutcome, DriveError> {
        Ok(WriteOutcome::Written)
    }

    fn write_filemarks(&mut self, _count: u32, _sync: bool) -> Result<WriteOutcome, DriveError> {
        Ok(WriteOutcome::Written)
    }
}
