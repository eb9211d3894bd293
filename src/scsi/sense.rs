//! Sense data (SPC-4 4.5): fixed (response codes 70h/71h) and descriptor
//! (72h/73h) formats, the additional sense code names, and what a caller
//! should do about each: give up, retry soon, or retry later.

/// SPC sense keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SenseKey {
    NoSense,
    RecoveredError,
    NotReady,
    MediumError,
    HardwareError,
    IllegalRequest,
    UnitAttention,
    DataProtect,
    BlankCheck,
    VendorSpecific,
    CopyAborted,
    AbortedCommand,
    VolumeOverflow,
    Miscompare,
    Completed,
    Reserved(u8),
}

impl SenseKey {
    pub fn from_code(code: u8) -> Self {
        match code & 0x0f {
            0x0 => SenseKey::NoSense,
            0x1 => SenseKey::RecoveredError,
            0x2 => SenseKey::NotReady,
            0x3 => SenseKey::MediumError,
            0x4 => SenseKey::HardwareError,
            0x5 => SenseKey::IllegalRequest,
            0x6 => SenseKey::UnitAttention,
            0x7 => SenseKey::DataProtect,
            0x8 => SenseKey::BlankCheck,
            0x9 => SenseKey::VendorSpecific,
            0xa => SenseKey::CopyAborted,
            0xb => SenseKey::AbortedCommand,
            0xd => SenseKey::VolumeOverflow,
            0xe => SenseKey::Miscompare,
            0xf => SenseKey::Completed,
            other => SenseKey::Reserved(other),
        }
    }

    pub fn code(self) -> u8 {
        match self {
            SenseKey::NoSense => 0x0,
            SenseKey::RecoveredError => 0x1,
            SenseKey::NotReady => 0x2,
            SenseKey::MediumError => 0x3,
            SenseKey::HardwareError => 0x4,
            SenseKey::IllegalRequest => 0x5,
            SenseKey::UnitAttention => 0x6,
            SenseKey::DataProtect => 0x7,
            SenseKey::BlankCheck => 0x8,
            SenseKey::VendorSpecific => 0x9,
            SenseKey::CopyAborted => 0xa,
            SenseKey::AbortedCommand => 0xb,
            SenseKey::VolumeOverflow => 0xd,
            SenseKey::Miscompare => 0xe,
            SenseKey::Completed => 0xf,
            SenseKey::Reserved(c) => c,
        }
    }

    /// The name SPC gives it.
    pub fn name(self) -> &'static str {
        match self {
            SenseKey::NoSense => "No Sense",
            SenseKey::RecoveredError => "Recovered Error",
            SenseKey::NotReady => "Not Ready",
            SenseKey::MediumError => "Medium Error",
            SenseKey::HardwareError => "Hardware Error",
            SenseKey::IllegalRequest => "Illegal Request",
            SenseKey::UnitAttention => "Unit Attention",
            SenseKey::DataProtect => "Data Protect",
            SenseKey::BlankCheck => "Blank Check",
            SenseKey::VendorSpecific => "Vendor Specific",
            SenseKey::CopyAborted => "Copy Aborted",
            SenseKey::AbortedCommand => "Aborted Command",
            SenseKey::VolumeOverflow => "Volume Overflow",
            SenseKey::Miscompare => "Miscompare",
            SenseKey::Completed => "Completed",
            SenseKey::Reserved(_) => "Reserved",
        }
    }
}

/// Decoded sense data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sense {
    pub key: SenseKey,
    pub asc: u8,
    pub ascq: u8,
    /// Deferred error (71h/73h): about an earlier command.
    pub deferred: bool,
    pub descriptor_format: bool,
    /// SSC: a file mark was met.
    pub filemark: bool,
    /// SSC: end of medium (or partition) was met.
    pub eom: bool,
    /// The block was not the length asked for.
    pub ili: bool,
    /// The information field (SSC: the residue of a read or space), if valid.
    pub information: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SenseError {
    #[error("sense data is empty")]
    Empty,
    #[error("sense data has unknown response code {0:#04x}")]
    ResponseCode(u8),
    #[error("sense data is {0} bytes, too short for its format")]
    Short(usize),
}

/// What to do after a command failed with this sense.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryClass {
    /// Retrying cannot help (illegal request, data protect...).
    Fatal,
    /// A transient condition: retry after a short pause.
    ShortRetry,
    /// The device may recover (not ready, medium or hardware trouble): retry later.
    LongRetry,
}

impl Sense {
    pub fn decode(raw: &[u8]) -> Result<Sense, SenseError> {
        let first = *raw.first().ok_or(SenseError::Empty)?;
        let code = first & 0x7f;
        match code {
            0x70 | 0x71 => Self::decode_fixed(raw, code == 0x71),
            0x72 | 0x73 => Self::decode_descriptor(raw, code == 0x73),
            other => Err(SenseError::ResponseCode(other)),
        }
    }

    fn decode_fixed(raw: &[u8], deferred: bool) -> Result<Sense, SenseError> {
        if raw.len() < 3 {
            return Err(SenseError::Short(raw.len()));
        }
        // The additional length says how much follows byte 7; ASC/ASCQ are
        // bytes 12-13 and may be missing from a short (18-byte-less) buffer.
        let at = |i: usize| raw.get(i).copied().unwrap_or(0);
        let valid = raw[0] & 0x80 != 0;
        let information = u32::from_be_bytes([at(3), at(4), at(5), at(6)]);
        Ok(Sense {
            key: SenseKey::from_code(raw[2]),
            asc: at(12),
            ascq: at(13),
            deferred,
            descriptor_format: false,
            filemark: raw[2] & 0x80 != 0,
            eom: raw[2] & 0x40 != 0,
            ili: raw[2] & 0x20 != 0,
            information: (valid && raw.len() >= 7).then_some(u64::from(information)),
        })
    }

    fn decode_descriptor(raw: &[u8], deferred: bool) -> Result<Sense, SenseError> {
        if raw.len() < 8 {
            return Err(SenseError::Short(raw.len()));
        }
        let mut sense = Sense {
            key: SenseKey::from_code(raw[1]),
            asc: raw[2],
            ascq: raw[3],
            deferred,
            descriptor_format: true,
            filemark: false,
            eom: false,
            ili: false,
            information: None,
        };
        let end = (8 + raw[7] as usize).min(raw.len());
        let mut at = 8;
        // Each descriptor: type, additional length, then that many bytes.
        while at + 2 <= end {
            let kind = raw[at];
            let len = raw[at + 1] as usize;
            let body = &raw[at + 2..(at + 2 + len).min(end)];
            match kind {
                // Information: VALID bit, reserved, then an 8-byte field.
                0x00 if body.len() >= 10 && body[0] & 0x80 != 0 => {
                    let mut field = [0u8; 8];
                    field.copy_from_slice(&body[2..10]);
                    sense.information = Some(u64::from_be_bytes(field));
                }
                // Stream commands (SSC): FILEMARK, EOM, ILI.
                0x04 if body.len() >= 2 => {
                    sense.filemark = body[1] & 0x80 != 0;
                    sense.eom = body[1] & 0x40 != 0;
                    sense.ili = body[1] & 0x20 != 0;
                }
                _ => {}
            }
            at += 2 + len;
        }
        Ok(sense)
    }

    /// The SPC name of the additional sense code.
    pub fn asc_name(&self) -> String {
        asc_name(self.asc, self.ascq)
    }

    /// Retrying policy by sense key and code (after Phobos' classification,
    /// with becoming-ready and unit attentions as short retries).
    pub fn retry_class(&self) -> RetryClass {
        match (self.key, self.asc, self.ascq) {
            (SenseKey::NoSense | SenseKey::RecoveredError, ..) => RetryClass::ShortRetry,
            (SenseKey::UnitAttention, ..) => RetryClass::ShortRetry,
            (SenseKey::NotReady, 0x04, 0x01) => RetryClass::ShortRetry,
            (SenseKey::NotReady, 0x04, 0x03) => RetryClass::Fatal,
            (SenseKey::NotReady, ..) => RetryClass::LongRetry,
            (SenseKey::IllegalRequest | SenseKey::DataProtect | SenseKey::BlankCheck, ..) => {
                RetryClass::Fatal
            }
            (SenseKey::Miscompare | SenseKey::VolumeOverflow, ..) => RetryClass::Fatal,
            _ => RetryClass::LongRetry,
        }
    }

    /// True for UNIT ATTENTION 28/xx and 29/xx: the medium or the device
    /// changed under us; what we know of it must be read again.
    pub fn state_changed(&self) -> bool {
        self.key == SenseKey::UnitAttention && matches!(self.asc, 0x28 | 0x29 | 0x2a | 0x3f)
    }
}

impl std::fmt::Display for Sense {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {:02X}/{:02X} ({})",
            self.key.name(),
            self.asc,
            self.ascq,
            self.asc_name()
        )?;
        for (set, flag) in [(self.filemark, "FMK"), (self.eom, "EOM"), (self.ili, "ILI")] {
            if set {
                write!(f, " {flag}")?;
            }
        }
        Ok(())
    }
}

/// Builds fixed-format sense (what an emulated device returns).
pub fn fixed(key: SenseKey, asc: u8, ascq: u8) -> Vec<u8> {
    let mut raw = vec![0u8; 18];
    raw[0] = 0x70;
    raw[2] = key.code();
    raw[7] = 10;
    raw[12] = asc;
    raw[13] = ascq;
    raw
}

/// The SPC names of the additional sense codes a tape server meets.
const ASC_NAMES: &[(u8, u8, &str)] = &[
    (0x00, 0x00, "No additional sense information"),
    (0x00, 0x01, "Filemark detected"),
    (0x00, 0x02, "End-of-partition/medium detected"),
    (0x00, 0x04, "Beginning-of-partition/medium detected"),
    (0x00, 0x05, "End-of-data detected"),
    (0x00, 0x16, "Operation in progress"),
    (0x03, 0x02, "Excessive write errors"),
    (0x04, 0x00, "Logical unit not ready, cause not reportable"),
    (0x04, 0x01, "Logical unit is in process of becoming ready"),
    (
        0x04,
        0x02,
        "Logical unit not ready, initializing command required",
    ),
    (
        0x04,
        0x03,
        "Logical unit not ready, manual intervention required",
    ),
    (0x04, 0x04, "Logical unit not ready, format in progress"),
    (0x04, 0x07, "Logical unit not ready, operation in progress"),
    (0x04, 0x12, "Logical unit not ready, offline"),
    (0x08, 0x00, "Logical unit communication failure"),
    (0x08, 0x01, "Logical unit communication time-out"),
    (0x0b, 0x00, "Warning"),
    (0x0c, 0x00, "Write error"),
    (0x10, 0x01, "Logical block guard check failed"),
    (0x11, 0x00, "Unrecovered read error"),
    (0x11, 0x01, "Read retries exhausted"),
    (0x14, 0x00, "Recorded entity not found"),
    (0x14, 0x01, "Record not found"),
    (0x1a, 0x00, "Parameter list length error"),
    (0x20, 0x00, "Invalid command operation code"),
    (0x21, 0x01, "Invalid element address"),
    (0x24, 0x00, "Invalid field in cdb"),
    (0x25, 0x00, "Logical unit not supported"),
    (0x26, 0x00, "Invalid field in parameter list"),
    (0x27, 0x00, "Write protected"),
    (
        0x28,
        0x00,
        "Not ready to ready change, medium may have changed",
    ),
    (0x28, 0x01, "Import or export element accessed"),
    (0x29, 0x00, "Power on, reset, or bus device reset occurred"),
    (0x29, 0x01, "Power on occurred"),
    (0x2a, 0x01, "Mode parameters changed"),
    (0x30, 0x00, "Incompatible medium installed"),
    (0x30, 0x03, "Cleaning cartridge installed"),
    (0x31, 0x00, "Medium format corrupted"),
    (0x3a, 0x00, "Medium not present"),
    (0x3a, 0x02, "Medium not present - tray open"),
    (0x3b, 0x00, "Sequential positioning error"),
    (0x3b, 0x08, "Reposition error"),
    (0x3b, 0x0d, "Medium destination element full"),
    (0x3b, 0x0e, "Medium source element empty"),
    (0x3b, 0x11, "Medium magazine not accessible"),
    (0x3b, 0x12, "Medium magazine removed"),
    (0x3b, 0x1a, "Data transfer device removed"),
    (0x3f, 0x01, "Microcode has been changed"),
    (0x44, 0x00, "Internal target failure"),
    (0x47, 0x00, "SCSI parity error"),
    (0x4e, 0x00, "Overlapped commands attempted"),
    (0x50, 0x00, "Write append error"),
    (0x51, 0x00, "Erase failure"),
    (0x52, 0x00, "Cartridge fault"),
    (0x53, 0x00, "Media load or eject failed"),
    (0x53, 0x02, "Medium removal prevented"),
    (0x55, 0x00, "System resource failure"),
    (0x5d, 0x00, "Failure prediction threshold exceeded"),
];

pub fn asc_name(asc: u8, ascq: u8) -> String {
    match ASC_NAMES.iter().find(|(a, q, _)| *a == asc && *q == ascq) {
        Some((_, _, name)) => (*name).to_string(),
        None if asc >= 0x80 || ascq >= 0x80 => {
            format!("vendor specific ASC={asc:02X}, ASCQ={ascq:02X}")
        }
        None => format!("ASC={asc:02X}, ASCQ={ascq:02X}"),
    }
}

#[cfg(test)]
mod tests;
