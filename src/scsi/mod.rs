//! SCSI, named after the standards: CDBs and their responses for SPC
//! (`spc`), media changers (SMC, `smc`) and tape drives (SSC, `ssc`), sense
//! data (`sense`), and the one narrow transport every device is reached
//! through (`ScsiTransport`): SG_IO on `/dev/sg*`, iSCSI, or the emulated
//! library.

pub mod iscsi;
pub mod sense;
pub mod sg;
pub mod smc;
pub mod spc;
pub mod ssc;

use std::time::Duration;

pub use sense::{RetryClass, Sense, SenseKey};

/// SAM status codes.
pub const GOOD: u8 = 0x00;
pub const CHECK_CONDITION: u8 = 0x02;
pub const BUSY: u8 = 0x08;
pub const RESERVATION_CONFLICT: u8 = 0x18;
pub const TASK_SET_FULL: u8 = 0x28;

/// Where a command's data goes.
pub enum Data<'a> {
    None,
    /// From the device into this buffer.
    In(&'a mut [u8]),
    /// From this buffer to the device.
    Out(&'a [u8]),
}

/// How a command ended at the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub status: u8,
    /// Sense data when the status is CHECK CONDITION.
    pub sense: Vec<u8>,
    /// Bytes the device actually transferred (data-in or data-out).
    pub transferred: usize,
}

impl Completion {
    pub fn good(transferred: usize) -> Self {
        Self {
            status: GOOD,
            sense: Vec::new(),
            transferred,
        }
    }

    pub fn check(sense: Vec<u8>) -> Self {
        Self {
            status: CHECK_CONDITION,
            sense,
            transferred: 0,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("{path}: cannot open: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: the command did not complete: {reason}")]
    Failed { path: String, reason: String },
    #[error("{path}: no answer within {seconds} s")]
    Timeout { path: String, seconds: u64 },
    #[error("{path}: the path is offline")]
    Offline { path: String },
    #[error("{0}")]
    Unavailable(String),
}

/// The one thing every SCSI device needs: run a CDB, move its data, say
/// how it ended.
pub trait ScsiTransport: Send {
    fn execute(
        &mut self,
        cdb: &[u8],
        data: Data<'_>,
        timeout: Duration,
    ) -> Result<Completion, TransportError>;

    /// What operators call this path (a device, an iSCSI URL...).
    fn path(&self) -> &str;
}

#[derive(Debug, thiserror::Error)]
pub enum ScsiError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("{path}: {sense}")]
    Check { path: String, sense: Sense },
    #[error("{path}: CHECK CONDITION with undecodable sense data ({reason})")]
    BadSense { path: String, reason: String },
    #[error("{path}: status {status:#04x}")]
    Status { path: String, status: u8 },
    #[error("{path}: {what}")]
    Response { path: String, what: String },
}

impl ScsiError {
    /// The sense, for callers that act on it.
    pub fn sense(&self) -> Option<&Sense> {
        match self {
            ScsiError::Check { sense, .. } => Some(sense),
            _ => None,
        }
    }

    /// Whether trying again (soon, later) can help.
    pub fn retry_class(&self) -> RetryClass {
        match self {
            ScsiError::Check { sense, .. } => sense.retry_class(),
            ScsiError::Status { .. } | ScsiError::Transport(TransportError::Timeout { .. }) => {
                RetryClass::LongRetry
            }
            _ => RetryClass::Fatal,
        }
    }
}

/// Runs a command; anything but GOOD is an error carrying the sense.
/// Returns the bytes transferred.
pub fn run(
    t: &mut dyn ScsiTransport,
    cdb: &[u8],
    data: Data<'_>,
    timeout: Duration,
) -> Result<usize, ScsiError> {
    let done = t.execute(cdb, data, timeout)?;
    match done.status {
        GOOD => Ok(done.transferred),
        CHECK_CONDITION => match Sense::decode(&done.sense) {
            Ok(sense) => Err(ScsiError::Check {
                path: t.path().to_string(),
                sense,
            }),
            Err(e) => Err(ScsiError::BadSense {
                path: t.path().to_string(),
                reason: e.to_string(),
            }),
        },
        status => Err(ScsiError::Status {
            path: t.path().to_string(),
            status,
        }),
    }
}

/// Reads a big-endian integer of `N` bytes at `at`, or 0 past the end.
pub(crate) fn be(raw: &[u8], at: usize, n: usize) -> u64 {
    (0..n).fold(0u64, |acc, i| {
        (acc << 8) | u64::from(raw.get(at + i).copied().unwrap_or(0))
    })
}

/// ASCII text of a fixed field, trailing spaces and NULs trimmed.
pub(crate) fn text(raw: &[u8], at: usize, n: usize) -> String {
    let end = (at + n).min(raw.len());
    let field = raw.get(at.min(end)..end).unwrap_or_default();
    String::from_utf8_lossy(field)
        .trim_end_matches([' ', '\0'])
        .to_string()
}
