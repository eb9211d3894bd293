//! MOVE MEDIUM in the emulated library, in two saved steps so that a
//! process killed at any instant loses and duplicates no cartridge:
//!
//! 1. under the library lock: check both ends, take the cartridge from its
//!    source into the path's picker and record the move (both ends
//!    reserved); save;
//! 2. the robot travels (the move time, or while a test holds the move);
//! 3. under the library lock: put the cartridge into its destination and
//!    forget the move; save.
//!
//! The mover holds the picker's lock from before step 1 to after step 3.
//! Whoever finds a recorded move whose picker lock is free knows its mover
//! died and puts the cartridge back (see `EmulatedLibrary::recover`). Moves
//! on one path wait for each other, as commands on one robot do; moves on
//! different paths run in parallel.

use std::time::{Duration, Instant};

use super::faults::Faults;
use super::state::Move;
use super::{EmulatedLibrary, EmulationError};
use crate::scsi::SenseKey;
use crate::scsi::smc::ElementType;

/// How a move ended when it did not end well.
#[derive(Debug, thiserror::Error)]
pub enum MoveFailure {
    /// What the device reports as CHECK CONDITION.
    #[error("{key:?} {asc:02X}/{ascq:02X}")]
    Check { key: SenseKey, asc: u8, ascq: u8 },
    /// The path stopped answering (no status comes back).
    #[error("the path does not answer")]
    Dead,
    /// The move completed but its answer came too late.
    #[error("the move completed after the initiator gave up")]
    Timeout,
    #[error(transparent)]
    Library(#[from] EmulationError),
}

fn illegal(asc: u8, ascq: u8) -> MoveFailure {
    MoveFailure::Check {
        key: SenseKey::IllegalRequest,
        asc,
        ascq,
    }
}

/// How often a held move looks whether it may go on.
const HOLD_POLL: Duration = Duration::from_millis(5);

impl EmulatedLibrary {
    /// Moves the cartridge in `source` to `destination` with the picker of
    /// changer path `path`.
    pub fn move_medium(
        &self,
        path: &str,
        source: u16,
        destination: u16,
        timeout: Duration,
    ) -> Result<(), MoveFailure> {
        let started = Instant::now();
        let faults = Faults::new(&self.root, path);
        let (picker, move_time) = self.with_state(|s| {
            let picker = s.picker_of(path).ok_or_else(|| EmulationError::NotAPath {
                path: self.root.join(path),
                reason: "the library has no such path".into(),
            })?;
            Ok((picker, s.move_time(source, destination)))
        })?;
        // Waits here while another move on this path runs.
        let picker_lock = self.picker_lock_file(picker)?;
        picker_lock.lock().map_err(self.io("lock picker"))?;
        if faults.door_open() {
            return Err(MoveFailure::Check {
                key: SenseKey::NotReady,
                asc: 0x04,
                ascq: 0x03,
            });
        }
        let m = Move {
            picker,
            source,
            destination,
        };
        let mut refused = None;
        let started_move = self.with_state(|s| {
            let movable = |kind| {
                matches!(
                    kind,
                    Some(
                        ElementType::Storage
                            | ElementType::ImportExport
                            | ElementType::DataTransfer
                    )
                )
            };
            if !movable(s.kind_of(source)) || !movable(s.kind_of(destination)) {
                refused = Some((0x21, 0x01));
                return Ok(false);
            }
            if source == destination {
                return Ok(false);
            }
            let source_full = s.content(source).is_some_and(|c| c.is_some());
            if !source_full || s.reserved(source) {
                refused = Some((0x3b, 0x0e));
                return Ok(false);
            }
            let destination_full = s.content(destination).is_some_and(|c| c.is_some());
            if destination_full || s.reserved(destination) {
                refused = Some((0x3b, 0x0d));
                return Ok(false);
            }
            if let Some(drive) = s.drives.iter().find(|d| d.address == source) {
                self.unlink_drive(drive)?;
            }
            let cartridge = s.content(source).and_then(Option::take);
            if let Some(content) = s.content(picker) {
                *content = cartridge;
            }
            s.moves.push(m.clone());
            Ok(true)
        })?;
        if let Some((asc, ascq)) = refused {
            return Err(illegal(asc, ascq));
        }
        if !started_move {
            return Ok(());
        }
        std::thread::sleep(faults.move_time().unwrap_or(move_time));
        while faults.held() {
            std::thread::sleep(HOLD_POLL);
        }
        if faults.dead() || faults.offline() {
            // The path failed mid-move: the robot puts the cartridge back.
            let home = self.with_state(|s| Ok(s.roll_back(&m)))?;
            tracing::warn!(path, source, destination, returned_to = ?home, "the path failed mid-move: the cartridge went back");
            return Err(if faults.dead() {
                MoveFailure::Dead
            } else {
                MoveFailure::Check {
                    key: SenseKey::NotReady,
                    asc: 0x04,
                    ascq: 0x12,
                }
            });
        }
        let completed = self.with_state(|s| {
            let source_kind = s.kind_of(source);
            let Some(mut cartridge) = s.content(picker).and_then(Option::take) else {
                s.moves.retain(|x| x != &m);
                return Ok(false);
            };
            if source_kind == Some(ElementType::Storage) {
                cartridge.source = Some(source);
            }
            s.moves.retain(|x| x != &m);
            match s.content(destination) {
                Some(content @ None) => {
                    *content = Some(cartridge);
                    Ok(true)
                }
                _ => {
                    // Filled behind the library's back: undo rather than drop it.
                    s.moves.push(m.clone());
                    if let Some(content) = s.content(picker) {
                        *content = Some(cartridge);
                    }
                    s.roll_back(&m);
                    Ok(false)
                }
            }
        })?;
        drop(picker_lock);
        if !completed {
            return Err(illegal(0x3b, 0x0d));
        }
        if faults.take("timeout-after-move") || started.elapsed() > timeout {
            return Err(MoveFailure::Timeout);
        }
        Ok(())
    }
}
