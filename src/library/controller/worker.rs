//! One thread per changer path: SCSI commands block (a move takes tens of
//! seconds on a robot), so each path runs its own, and moves on different
//! paths run in parallel. A worker opens its path on first use, identifies
//! what answers, and reopens it after a transport failure.

use crossbeam_channel::{Receiver, Sender};

use super::events::{Done, Event, Job, Outcome};
use crate::library::scsi_changer::{PathKind, ScsiChanger};
use crate::scsi::{ScsiError, TransportError};

/// Runs jobs for path `index` until the state thread goes away.
pub fn run(
    index: usize,
    device: String,
    kind: PathKind,
    jobs: Receiver<(u64, Job)>,
    events: Sender<Event>,
) {
    let mut changer: Option<ScsiChanger> = None;
    for (id, job) in jobs {
        let mut identity = None;
        let opened = match changer.take() {
            Some(c) => Ok(c),
            None => ScsiChanger::open(&device, kind).and_then(|mut c| {
                identity = Some(c.identify()?);
                Ok(c)
            }),
        };
        let result = opened.and_then(|mut c| {
            let r = match job {
                Job::Probe => c
                    .identify()
                    .map(|i| identity = Some(i))
                    .and_then(|()| c.test_unit_ready())
                    .map(|()| Done::Probed),
                Job::Inventory => c.inventory().map(Done::Inventory),
                Job::Move {
                    source,
                    destination,
                    timeout,
                } => c
                    .move_medium(source, destination, timeout)
                    .map(|()| Done::Moved),
            };
            // A path that failed at the transport is opened afresh next time.
            if !matches!(r, Err(ScsiError::Transport(_))) {
                changer = Some(c);
            }
            r
        });
        let outcome = Outcome { identity, result };
        if events
            .send(Event::Worker {
                path: index,
                job: id,
                outcome,
            })
            .is_err()
        {
            return;
        }
    }
}

/// Whether an error says the path (not the request) failed: it stops
/// answering, answers garbage, or reports the unit not ready or broken.
/// Such a path is taken out and the request goes to another.
pub fn path_failed(e: &ScsiError) -> bool {
    use crate::scsi::SenseKey;
    match e {
        ScsiError::Transport(TransportError::Unavailable(_)) => true,
        ScsiError::Transport(_)
        | ScsiError::Status { .. }
        | ScsiError::BadSense { .. }
        | ScsiError::Response { .. } => true,
        ScsiError::Check { sense, .. } => match sense.key {
            // Door open: the whole library waits for a person, not one path.
            SenseKey::NotReady => !(sense.asc == 0x04 && sense.ascq == 0x03),
            SenseKey::HardwareError | SenseKey::AbortedCommand => true,
            _ => false,
        },
    }
}
