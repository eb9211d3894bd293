//! A SCSI tape drive (SSC) over any `ScsiTransport`: SG_IO on `/dev/sgN`,
//! or iSCSI. Variable-length blocks; the session's tape thread is its only
//! user.
//!
//! Two things real drives do that not every device does, and what this
//! drive does instead:
//! - **Positions.** A drive that reports READ POSITION with BOP at the
//!   beginning of tape is trusted (LOCATE, READ POSITION). One that does
//!   not (tgt answers zeros) has its position counted here, block by block
//!   (file marks count as blocks, as SSC's logical object ids do); LOCATE
//!   becomes REWIND + SPACE blocks, and spacing file marks forward reads
//!   through the blocks so their count is known.
//! - **Logical block protection.** A drive whose control data protection
//!   page takes CRC32C checks each block's CRC itself. Otherwise the CRC
//!   the session appends is checked here on write, recorded with the block,
//!   and checked again on every read, so what the session sees is the same.

use std::time::{Duration, Instant};

mod positions;

use super::drive::{DriveError, DriveInfo, ReadOutcome, TapeDrive, WriteOutcome, lbp_open};
use crate::scsi::iscsi::IscsiTransport;
use crate::scsi::sg::SgTransport;
use crate::scsi::spc::{self, StandardInquiry};
use crate::scsi::ssc::{self, SpaceCode};
use crate::scsi::{Completion, Data, ScsiError, ScsiTransport, Sense, SenseKey, TransportError};

/// Reads and writes of one block.
const IO_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Rewinds, spaces and locates cross a whole tape.
const POSITION_TIMEOUT: Duration = Duration::from_secs(3 * 3600);
/// How long a loaded cartridge may take to become ready.
const READY_WAIT: Duration = Duration::from_secs(10 * 60);
const MAX_SPACE: u64 = 0x7f_ffff;
/// The buffer the first block is read into when a cartridge is loaded
/// (labels are 80 bytes; anything up to this is read whole).
const PROBE_BUFFER: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Positions {
    /// READ POSITION and LOCATE are trusted.
    Device,
    /// Counted here (`position`).
    Host,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lbp {
    Off,
    /// The drive checks CRC32C (control data protection page).
    Drive,
    /// The drive cannot: checked here.
    Host,
}

pub struct ScsiDrive {
    name: String,
    transport: Result<Box<dyn ScsiTransport>, String>,
    info: DriveInfo,
    is_tape: bool,
    want_lbp: bool,
    lbp: Lbp,
    positions: Positions,
    /// The current block id when counted here; None when unknown.
    position: Option<u64>,
    loaded: bool,
    scratch: Vec<u8>,
    /// A short block came with fewer bytes than its length (logged once).
    short_reads_seen: bool,
}

/// Opens an SG device or an iSCSI URL.
pub fn open_transport(device: &str) -> Result<Box<dyn ScsiTransport>, TransportError> {
    if device.starts_with("iscsi://") {
        Ok(Box::new(IscsiTransport::connect(device)?))
    } else {
        Ok(Box::new(SgTransport::open(device)?))
    }
}

impl ScsiDrive {
    /// Opens the drive and asks who it is. A drive that cannot be opened
    /// fails at `load`, with the reason.
    pub fn open(name: &str, device: &str) -> Self {
        let transport = open_transport(device).map_err(|e| e.to_string());
        let mut drive = Self::with_transport(name, transport);
        drive.identify();
        drive
    }

    pub fn with_transport(name: &str, transport: Result<Box<dyn ScsiTransport>, String>) -> Self {
        Self {
            name: name.to_string(),
            transport,
            info: DriveInfo {
                vendor: String::new(),
                model: String::new(),
                serial: String::new(),
            },
            is_tape: false,
            want_lbp: false,
            lbp: Lbp::Off,
            positions: Positions::Host,
            position: None,
            loaded: false,
            scratch: Vec::new(),
            short_reads_seen: false,
        }
    }

    fn identify(&mut self) {
        let Ok(raw) = self.data_in(&spc::inquiry(None, 96), 96, IO_TIMEOUT) else {
            return;
        };
        if let Some(inquiry) = StandardInquiry::decode(&raw) {
            self.is_tape = inquiry.device_type == spc::TYPE_TAPE;
            self.info.vendor = inquiry.vendor;
            self.info.model = inquiry.product;
        }
        if let Ok(raw) = self.data_in(
            &spc::inquiry(Some(spc::VPD_UNIT_SERIAL), 255),
            255,
            IO_TIMEOUT,
        ) && let Some(serial) = spc::unit_serial(&raw)
        {
            self.info.serial = serial;
        }
    }

    fn scsi(&self, op: &'static str) -> impl Fn(ScsiError) -> DriveError + '_ {
        move |source| DriveError::Scsi {
            drive: self.name.clone(),
            op,
            source: Box::new(source),
        }
    }

    /// Runs a command and returns how it ended, CHECK CONDITION included.
    fn execute(
        &mut self,
        cdb: &[u8],
        data: Data<'_>,
        timeout: Duration,
    ) -> Result<(Completion, Option<Sense>), ScsiError> {
        let t = match &mut self.transport {
            Ok(t) => t,
            Err(e) => return Err(ScsiError::Transport(TransportError::Unavailable(e.clone()))),
        };
        let done = t.execute(cdb, data, timeout)?;
        let sense = match done.status {
            crate::scsi::GOOD => None,
            crate::scsi::CHECK_CONDITION => match Sense::decode(&done.sense) {
                Ok(s) => Some(s),
                Err(e) => {
                    return Err(ScsiError::BadSense {
                        path: t.path().to_string(),
                        reason: e.to_string(),
                    });
                }
            },
            status => {
                return Err(ScsiError::Status {
                    path: t.path().to_string(),
                    status,
                });
            }
        };
        Ok((done, sense))
    }

    /// Runs a command that must end GOOD.
    fn run(&mut self, cdb: &[u8], data: Data<'_>, timeout: Duration) -> Result<usize, ScsiError> {
        let (done, sense) = self.execute(cdb, data, timeout)?;
        match sense {
            None => Ok(done.transferred),
            Some(sense) => Err(self.check(sense)),
        }
    }

    fn check(&self, sense: Sense) -> ScsiError {
        ScsiError::Check {
            path: self
                .transport
                .as_ref()
                .map_or_else(|_| self.name.clone(), |t| t.path().to_string()),
            sense,
        }
    }

    fn data_in(
        &mut self,
        cdb: &[u8],
        alloc: usize,
        timeout: Duration,
    ) -> Result<Vec<u8>, ScsiError> {
        let mut buf = vec![0u8; alloc];
        let n = self.run(cdb, Data::In(&mut buf), timeout)?;
        buf.truncate(n);
        Ok(buf)
    }

    /// TEST UNIT READY until the cartridge is ready, through the unit
    /// attentions a load raises and the "becoming ready" of a drive threading.
    fn wait_ready(&mut self) -> Result<(), DriveError> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(50);
        loop {
            let (_, sense) = self
                .execute(&spc::test_unit_ready(), Data::None, IO_TIMEOUT)
                .map_err(self.scsi("TEST UNIT READY"))?;
            let Some(sense) = sense else {
                return Ok(());
            };
            let waiting = match (sense.key, sense.asc) {
                (SenseKey::UnitAttention, _) => true,
                (SenseKey::NotReady, 0x04) => sense.ascq != 0x03,
                // No cartridge yet: the robot may still be inserting it.
                (SenseKey::NotReady, 0x3a) => true,
                _ => false,
            };
            if !waiting {
                return Err(self.scsi("TEST UNIT READY")(self.check(sense)));
            }
            if started.elapsed() > READY_WAIT {
                if sense.asc == 0x3a {
                    return Err(DriveError::NoCartridge {
                        drive: self.name.clone(),
                    });
                }
                return Err(self.scsi("waiting for the cartridge")(self.check(sense)));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }

    /// Turns logical block protection on or off where the drive allows it.
    fn apply_lbp(&mut self) {
        let page = self
            .data_in(
                &spc::mode_sense_10_subpage(
                    ssc::CONTROL_PAGE,
                    ssc::CONTROL_DATA_PROTECTION_SUBPAGE,
                    64,
                ),
                64,
                IO_TIMEOUT,
            )
            .ok()
            .and_then(|raw| spc::mode_page_10(&raw).and_then(ssc::decode_protection));
        if page.is_none() {
            if self.want_lbp {
                tracing::info!(drive = %self.name, "the drive has no control data protection page: block CRCs are checked by the host");
            }
            self.lbp = if self.want_lbp { Lbp::Host } else { Lbp::Off };
            return;
        }
        let protection = ssc::Protection {
            method: if self.want_lbp { 2 } else { 0 },
            length: if self.want_lbp { 4 } else { 0 },
            on_write: self.want_lbp,
            on_read: self.want_lbp,
        };
        let params = spc::mode_select_10_parameters(&ssc::encode_protection(&protection));
        let selected = self.run(
            &spc::mode_select_10(params.len() as u16),
            Data::Out(&params),
            IO_TIMEOUT,
        );
        self.lbp = match (selected, self.want_lbp) {
            (Ok(_), true) => Lbp::Drive,
            (Ok(_), false) => Lbp::Off,
            (Err(e), true) => {
                tracing::warn!(drive = %self.name, error = %e, "the drive refused CRC32C protection: block CRCs are checked by the host");
                Lbp::Host
            }
            (Err(_), false) => Lbp::Off,
        };
    }

    /// Reads the first block twice, with a large buffer and with one
    /// between its length and twice that, and refuses the drive if the two
    /// differ: a drive whose short blocks do not come back whole must never
    /// be written to (what it writes could not be recalled). A blank tape
    /// has nothing to read; the tape is rewound after.
    fn probe_reads(&mut self) -> Result<(), DriveError> {
        let mut large = vec![0u8; PROBE_BUFFER];
        let refused = |drive: &Self, len: usize, why: String| DriveError::ReadBack {
            drive: drive.name.clone(),
            len,
            why,
        };
        let first = match self.read_raw(&mut large) {
            Ok(ReadOutcome::Data(n)) if n >= 2 => n,
            Ok(_) => return self.rewind(),
            Err(DriveError::BlockTooLarge { .. }) => return self.rewind(),
            Err(DriveError::ShortTransfer {
                len, transferred, ..
            }) => {
                return Err(refused(
                    self,
                    len,
                    format!("even read with its exact length only {transferred} bytes came"),
                ));
            }
            Err(e) => return Err(e),
        };
        self.rewind()?;
        let mut snug = vec![0u8; first + first / 2];
        let second = match self.read_raw(&mut snug) {
            Err(DriveError::ShortTransfer { transferred, .. }) => {
                return Err(refused(
                    self,
                    first,
                    format!("read again with its exact length only {transferred} bytes came"),
                ));
            }
            other => other?,
        };
        self.rewind()?;
        match second {
            ReadOutcome::Data(n) if n == first && snug[..n] == large[..n] => Ok(()),
            other => Err(refused(
                self,
                first,
                match other {
                    ReadOutcome::Data(n) if n != first => {
                        format!(
                            "read again with a {}-byte buffer it came back as {n} bytes",
                            snug.len()
                        )
                    }
                    ReadOutcome::Data(_) => format!(
                        "read again with a {}-byte buffer its bytes differ",
                        snug.len()
                    ),
                    other => format!("read again it came back as {other:?}"),
                },
            )),
        }
    }

    fn advance(&mut self, n: u64) {
        if let Some(p) = &mut self.position {
            *p += n;
        }
    }
}

impl TapeDrive for ScsiDrive {
    fn load(&mut self) -> Result<(), DriveError> {
        if let Err(e) = &self.transport {
            return Err(DriveError::Scsi {
                drive: self.name.clone(),
                op: "open",
                source: Box::new(ScsiError::Transport(TransportError::Unavailable(e.clone()))),
            });
        }
        if self.info.vendor.is_empty() {
            self.identify();
        }
        if !self.is_tape {
            return Err(DriveError::Scsi {
                drive: self.name.clone(),
                op: "INQUIRY",
                source: Box::new(ScsiError::Response {
                    path: self.name.clone(),
                    what: format!(
                        "{} {} is not a tape drive",
                        self.info.vendor, self.info.model
                    ),
                }),
            });
        }
        self.wait_ready()?;
        // Drives that load on insertion refuse or ignore LOAD: either is fine.
        let _ = self.execute(&ssc::load_unload(true, false), Data::None, IO_TIMEOUT);
        self.wait_ready()?;
        self.rewind()?;
        self.positions = self.probe_positions();
        self.apply_lbp();
        self.probe_reads()?;
        self.loaded = true;
        Ok(())
    }

    fn rewind(&mut self) -> Result<(), DriveError> {
        self.run(&ssc::rewind(false), Data::None, POSITION_TIMEOUT)
            .map_err(self.scsi("REWIND"))?;
        self.position = Some(0);
        Ok(())
    }

    fn locate(&mut self, block_id: u64) -> Result<(), DriveError> {
        if self.positions == Positions::Device {
            let (_, sense) = self
                .execute(
                    &ssc::locate_16(block_id, false),
                    Data::None,
                    POSITION_TIMEOUT,
                )
                .map_err(self.scsi("LOCATE"))?;
            match sense {
                None => return Ok(()),
                Some(s) if s.key == SenseKey::IllegalRequest && s.asc == 0x20 => {
                    tracing::warn!(drive = %self.name, "the drive has no LOCATE(16): positions are counted by the host");
                    self.positions = Positions::Host;
                    self.position = None;
                }
                Some(s) if Self::end_of_data(&s) => {
                    return Err(DriveError::BeyondEndOfData {
                        drive: self.name.clone(),
                        block_id,
                        end: 0,
                    });
                }
                Some(s) => return Err(self.scsi("LOCATE")(self.check(s))),
            }
        }
        self.locate_by_spacing(block_id)
    }

    fn space_filemarks(&mut self, count: i64) -> Result<(), DriveError> {
        let failed = |d: &Self| DriveError::SpaceFailed {
            drive: d.name.clone(),
            count,
            from: d.position.unwrap_or(0),
        };
        if self.positions == Positions::Host && count > 0 {
            // Read through, so the block count stays known.
            if self.scratch.is_empty() {
                self.scratch = vec![0u8; crate::units::MAX_BLOCK_SIZE as usize + 4];
            }
            let mut marks = 0;
            let mut scratch = std::mem::take(&mut self.scratch);
            let result = loop {
                if marks == count {
                    break Ok(());
                }
                match self.read_raw(&mut scratch) {
                    Ok(ReadOutcome::FileMark) => marks += 1,
                    Ok(ReadOutcome::Data(_)) => {}
                    Ok(ReadOutcome::EndOfData) => break Err(failed(self)),
                    Err(e) => break Err(e),
                }
            };
            self.scratch = scratch;
            return result;
        }
        let (_, sense) = self
            .execute(
                &ssc::space_6(SpaceCode::Filemarks, count as i32),
                Data::None,
                POSITION_TIMEOUT,
            )
            .map_err(self.scsi("SPACE file marks"))?;
        if self.positions == Positions::Host {
            self.position = None;
        }
        match sense {
            None => Ok(()),
            Some(s) if Self::end_of_data(&s) || s.eom || s.asc == 0x00 => Err(failed(self)),
            Some(s) => Err(self.scsi("SPACE file marks")(self.check(s))),
        }
    }

    fn position(&mut self) -> Result<u64, DriveError> {
        match self.positions {
            Positions::Device => {
                let raw = self
                    .data_in(&ssc::read_position_long(), 32, IO_TIMEOUT)
                    .map_err(self.scsi("READ POSITION"))?;
                ssc::decode_position_long(&raw)
                    .map(|p| p.block)
                    .ok_or_else(|| DriveError::PositionUnknown {
                        drive: self.name.clone(),
                        why: "short READ POSITION data",
                    })
            }
            Positions::Host => self.position.ok_or_else(|| DriveError::PositionUnknown {
                drive: self.name.clone(),
                why: "spaced backwards on a drive without READ POSITION",
            }),
        }
    }

    fn read_block(&mut self, buf: &mut [u8]) -> Result<ReadOutcome, DriveError> {
        let outcome = self.read_raw(buf)?;
        if let ReadOutcome::Data(n) = outcome
            && self.lbp == Lbp::Host
            && lbp_open(&buf[..n]).is_none()
        {
            return Err(DriveError::Crc {
                drive: self.name.clone(),
                block_id: self.position.map_or(0, |p| p.saturating_sub(1)),
            });
        }
        Ok(outcome)
    }

    fn write_block(&mut self, block: &[u8]) -> Result<WriteOutcome, DriveError> {
        if self.lbp == Lbp::Host && lbp_open(block).is_none() {
            return Err(DriveError::LbpCheck {
                drive: self.name.clone(),
                block_id: self.position.unwrap_or(0),
            });
        }
        let (_, sense) = self
            .execute(&ssc::write_6(block.len()), Data::Out(block), IO_TIMEOUT)
            .map_err(self.scsi("WRITE"))?;
        match sense {
            None => {
                self.advance(1);
                Ok(WriteOutcome::Written)
            }
            Some(s) if s.eom && matches!(s.key, SenseKey::NoSense | SenseKey::RecoveredError) => {
                self.advance(1);
                Ok(WriteOutcome::EarlyWarning)
            }
            Some(s) if s.key == SenseKey::VolumeOverflow => Err(DriveError::EndOfMedium {
                drive: self.name.clone(),
                len: block.len(),
            }),
            Some(s) => Err(self.scsi("WRITE")(self.check(s))),
        }
    }

    fn write_filemarks(&mut self, count: u32, sync: bool) -> Result<WriteOutcome, DriveError> {
        let (_, sense) = self
            .execute(
                &ssc::write_filemarks_6(count, !sync),
                Data::None,
                IO_TIMEOUT,
            )
            .map_err(self.scsi("WRITE FILEMARKS"))?;
        match sense {
            None => {
                self.advance(u64::from(count));
                Ok(WriteOutcome::Written)
            }
            Some(s) if s.eom && matches!(s.key, SenseKey::NoSense | SenseKey::RecoveredError) => {
                self.advance(u64::from(count));
                Ok(WriteOutcome::EarlyWarning)
            }
            Some(s) => Err(self.scsi("WRITE FILEMARKS")(self.check(s))),
        }
    }

    fn flush(&mut self) -> Result<(), DriveError> {
        self.write_filemarks(0, true).map(drop)
    }

    fn unload(&mut self) -> Result<(), DriveError> {
        self.run(
            &ssc::load_unload(false, false),
            Data::None,
            POSITION_TIMEOUT,
        )
        .map_err(self.scsi("UNLOAD"))?;
        self.position = None;
        self.loaded = false;
        Ok(())
    }

    fn info(&self) -> DriveInfo {
        self.info.clone()
    }

    fn set_lbp(&mut self, on: bool) {
        self.want_lbp = on;
        if self.loaded {
            self.apply_lbp();
        }
    }
}

#[cfg(test)]
mod tests;
