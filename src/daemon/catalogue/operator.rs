//! Operator requests on drives: `tpconfig up|down`, and the shutdown.

use std::time::Instant;

use super::{Catalogue, DriveState};
use crate::messaging::refusal::Refusal;

impl Catalogue {
    /// tpconfig up/down. `holds` says whether the drive holds a cartridge
    /// (then `up` runs a cleaner first). Ok(message) or Err(error).
    pub fn configure(
        &mut self,
        name: &str,
        up: bool,
        holds: Option<&str>,
        now: Instant,
    ) -> Result<(String, Option<String>), Refusal> {
        if self.shutting_down && up {
            return Err(Refusal::unavailable("the daemon is shutting down"));
        }
        let names = self.names();
        let drive = self.drives.get_mut(name).ok_or_else(|| {
            Refusal::not_found(format!(
                "no drive named {name} (the drives: {})",
                names.join(", ")
            ))
        })?;
        drive.asking.not_before = now;
        match (up, drive.state) {
            (true, DriveState::Down) => {
                drive.down_wanted = false;
                drive.last_error = None;
                drive.failures_in_a_row = 0;
                if let Some(vid) = holds {
                    return Ok((
                        format!(
                            "drive {name} holds {vid}: a cleaner unloads it, then the drive is up"
                        ),
                        Some(vid.to_string()),
                    ));
                }
                Self::transition(drive, DriveState::Up, "operator: tpconfig up", now);
                Ok((format!("drive {name} is up"), None))
            }
            (true, DriveState::Draining) => {
                drive.down_wanted = false;
                Self::transition(
                    drive,
                    DriveState::Running,
                    "operator: tpconfig up cancels the drain",
                    now,
                );
                Ok((format!("drive {name} is running and stays up"), None))
            }
            (true, DriveState::Cleaning) => {
                drive.down_wanted = false;
                Ok((format!("drive {name} is cleaning and comes up after"), None))
            }
            (true, state) => Ok((format!("drive {name} is already {}", state.as_str()), None)),
            (false, DriveState::Up) => {
                drive.down_wanted = true;
                Self::transition(drive, DriveState::Down, "operator: tpconfig down", now);
                Ok((format!("drive {name} is down"), None))
            }
            (false, DriveState::Starting | DriveState::Running) => {
                drive.down_wanted = true;
                Self::transition(
                    drive,
                    DriveState::Draining,
                    "operator: tpconfig down while running",
                    now,
                );
                Ok((
                    format!("drive {name} is draining: it goes down when its session ends"),
                    None,
                ))
            }
            (false, DriveState::Cleaning) => {
                drive.down_wanted = true;
                Ok((
                    format!("drive {name} is cleaning and goes down after"),
                    None,
                ))
            }
            (false, state) => Ok((format!("drive {name} is already {}", state.as_str()), None)),
        }
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down
    }

    /// SIGTERM: no new sessions; idle drives stop, running sessions finish.
    pub fn shutting_down(&mut self, now: Instant) {
        self.shutting_down = true;
        for drive in self.drives.values_mut() {
            if matches!(drive.state, DriveState::Up | DriveState::Down) {
                Self::transition(drive, DriveState::ShuttingDown, "daemon shutting down", now);
            }
        }
    }
}
