//! What the controller's threads tell each other: requests from clients
//! and the lease, the jobs the state thread gives a path's worker, and how
//! they ended.

use std::time::Duration;

use crossbeam_channel::Sender;

use crate::library::DriveRef;
use crate::library::inventory::Inventory;
use crate::library::scsi_changer::Identity;
use crate::scsi::ScsiError;

/// ZMQ routing frames of a client (identity, delimiter).
pub type Peer = Vec<Vec<u8>>;

pub enum Event {
    Request {
        peer: Peer,
        id: String,
        op: Op,
    },
    Worker {
        path: usize,
        job: u64,
        outcome: Outcome,
    },
    /// The lease is ours: the file stays open (and locked) while we serve.
    Lease(std::fs::File),
    /// Liveness check (the systemd watchdog): answered at once.
    Alive(Sender<()>),
    Stop,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Mount { vid: String, drive: DriveRef },
    Dismount { vid: String, drive: DriveRef },
    Move { source: u16, destination: u16 },
    Status,
    Refresh,
    Path { device: String, enable: bool },
}

/// How an operation reads in a log line.
impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Op::Mount { vid, drive } => write!(f, "mount {vid} into {}", drive.name),
            Op::Dismount { vid, drive } => write!(f, "dismount {vid} from {}", drive.name),
            Op::Move {
                source,
                destination,
            } => write!(f, "move {source} to {destination}"),
            Op::Status => f.write_str("status"),
            Op::Refresh => f.write_str("refresh"),
            Op::Path { device, enable } => {
                write!(
                    f,
                    "{} path {device}",
                    if *enable { "enable" } else { "disable" }
                )
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// INQUIRY and TEST UNIT READY: is the path usable?
    Probe,
    Inventory,
    Move {
        source: u16,
        destination: u16,
        timeout: Duration,
    },
}

#[derive(Debug)]
pub enum Done {
    Probed,
    Inventory(Inventory),
    Moved,
}

#[derive(Debug)]
pub struct Outcome {
    /// Who answered, when the path was (re)opened for this job.
    pub identity: Option<Identity>,
    pub result: Result<Done, ScsiError>,
}
