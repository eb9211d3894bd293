//! Where the tape is, for drives that say it (READ POSITION, LOCATE) and
//! for those that do not (tgt): the position is then counted block by
//! block as commands move the tape, LOCATE becomes REWIND + SPACE blocks,
//! and every READ advances the count.

use super::{IO_TIMEOUT, MAX_SPACE, POSITION_TIMEOUT, Positions, ScsiDrive};
use crate::scsi::ssc::{self, SpaceCode};
use crate::scsi::{Data, Sense, SenseKey};
use crate::tape::drive::{DriveError, ReadOutcome, TapeDrive};

impl ScsiDrive {
    /// Whether READ POSITION can be trusted: at BOT it must say BOP, block 0.
    pub(super) fn probe_positions(&mut self) -> Positions {
        let long = self
            .data_in(&ssc::read_position_long(), 32, IO_TIMEOUT)
            .ok()
            .and_then(|raw| ssc::decode_position_long(&raw));
        let at_bot = |p: Option<ssc::Position>| p.is_some_and(|p| p.beginning && p.block == 0);
        if at_bot(long) {
            return Positions::Device;
        }
        tracing::warn!(drive = %self.name, "the drive reports no usable READ POSITION at the beginning of tape: block positions are counted by the host");
        Positions::Host
    }

    /// SSC's "end of data": BLANK CHECK (tgt adds EOM, ASC 00/00), or 00/05.
    pub(super) fn end_of_data(sense: &Sense) -> bool {
        sense.key == SenseKey::BlankCheck || (sense.asc == 0x00 && sense.ascq == 0x05)
    }

    /// LOCATE by REWIND and SPACE blocks, for drives without LOCATE.
    pub(super) fn locate_by_spacing(&mut self, target: u64) -> Result<(), DriveError> {
        if self.position.is_none_or(|p| p > target) {
            self.rewind()?;
        }
        while let Some(at) = self.position
            && at < target
        {
            let n = (target - at).min(MAX_SPACE);
            let (_, sense) = self
                .execute(
                    &ssc::space_6(SpaceCode::Blocks, n as i32),
                    Data::None,
                    POSITION_TIMEOUT,
                )
                .map_err(self.scsi("SPACE blocks"))?;
            match sense {
                None => self.advance(n),
                // Stopped after a file mark: the information field is the residue.
                Some(s) if s.filemark => {
                    let residue = s.information.map_or(0, |i| u64::from(i as u32));
                    self.advance(n.saturating_sub(residue).max(1));
                }
                Some(s) if Self::end_of_data(&s) => {
                    return Err(DriveError::BeyondEndOfData {
                        drive: self.name.clone(),
                        block_id: target,
                        end: at,
                    });
                }
                Some(s) => return Err(self.scsi("SPACE blocks")(self.check(s))),
            }
        }
        Ok(())
    }
    /// One READ(6) of a variable block, position counted.
    pub(super) fn read_raw(&mut self, buf: &mut [u8]) -> Result<ReadOutcome, DriveError> {
        let len = buf.len().min(ssc::MAX_TRANSFER_6);
        let (done, sense) = self
            .execute(
                &ssc::read_6(len, true),
                Data::In(&mut buf[..len]),
                IO_TIMEOUT,
            )
            .map_err(self.scsi("READ"))?;
        let Some(s) = sense else {
            self.advance(1);
            return Ok(ReadOutcome::Data(done.transferred));
        };
        if s.filemark {
            self.advance(1);
            return Ok(ReadOutcome::FileMark);
        }
        if Self::end_of_data(&s) {
            return Ok(ReadOutcome::EndOfData);
        }
        if s.ili && matches!(s.key, SenseKey::NoSense) {
            // The information field is the residue: negative for a block
            // larger than the buffer (SILI or not, some drives report a
            // shorter block too, tgt among them).
            let residue = s.information.map_or(0, |i| i64::from(i as u32 as i32));
            self.advance(1);
            if residue < 0 {
                return Err(DriveError::BlockTooLarge {
                    drive: self.name.clone(),
                    block_id: self.position.map_or(0, |p| p.saturating_sub(1)),
                    len: len + residue.unsigned_abs() as usize,
                    buf: len,
                });
            }
            let block = len - (residue as usize).min(len);
            if done.transferred < block {
                // The drive says the block is `block` bytes but fewer came:
                // the device's residual is wrong (tgt before 1.0.94 moves
                // `asked - block` bytes, so a block over half the buffer
                // loses its tail). Read it again with its exact length,
                // which needs no residual at all.
                return self.reread_exact(buf, block, done.transferred);
            }
            return Ok(ReadOutcome::Data(block));
        }
        Err(self.scsi("READ")(self.check(s)))
    }

    /// Steps back over the block just read and reads it again asking for
    /// exactly its length. An error names both counts when even that does
    /// not bring the whole block.
    fn reread_exact(
        &mut self,
        buf: &mut [u8],
        block: usize,
        first: usize,
    ) -> Result<ReadOutcome, DriveError> {
        if !self.short_reads_seen {
            self.short_reads_seen = true;
            tracing::warn!(drive = %self.name, block, transferred = first, "the drive moved fewer bytes than the block it reported: short blocks are read again with their exact length");
        }
        self.step_back()?;
        let (done, sense) = self
            .execute(
                &ssc::read_6(block, true),
                Data::In(&mut buf[..block]),
                IO_TIMEOUT,
            )
            .map_err(self.scsi("READ"))?;
        self.advance(1);
        match sense {
            None if done.transferred == block => Ok(ReadOutcome::Data(block)),
            None => Err(DriveError::ShortTransfer {
                drive: self.name.clone(),
                block_id: self.position.map_or(0, |p| p.saturating_sub(1)),
                len: block,
                transferred: done.transferred,
            }),
            Some(s) => Err(self.scsi("READ")(self.check(s))),
        }
    }

    /// SPACE one block back. From the first block some drives (tgt) answer
    /// "beginning of medium" and leave the tape on that block, which is
    /// where it must be.
    fn step_back(&mut self) -> Result<(), DriveError> {
        let (_, sense) = self
            .execute(
                &ssc::space_6(SpaceCode::Blocks, -1),
                Data::None,
                POSITION_TIMEOUT,
            )
            .map_err(self.scsi("SPACE blocks"))?;
        match sense {
            None => {}
            Some(s) if s.asc == 0x00 && s.ascq == 0x04 && self.position == Some(1) => {}
            Some(s) => return Err(self.scsi("SPACE blocks")(self.check(s))),
        }
        if let Some(p) = &mut self.position {
            *p = p.saturating_sub(1);
        }
        Ok(())
    }
}
