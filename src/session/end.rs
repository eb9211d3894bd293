//! How a session ends, and the one place where that becomes an exit code
//! and back: the session returns a [`SessionEnd`], exits with its code, and
//! the parent turns the code (or the killing signal) into an [`EndKind`]
//! for its transition table (`daemon::catalogue::transitions`).
//!
//! | code | end | the parent |
//! |---|---|---|
//! | 0 | `Done` | drive up |
//! | 1 | `DriveDown` | drive down |
//! | 2 | `NeedsCleaner` | runs a cleaner |
//! | 3 | `Failed` | an operator session failed; drive up |
//! | 4 | `SchedulerUnavailable` | drive up, no new mount on it for a while |
//! | 5 | `TapeUnusable`, `NotInLibrary` | drive up, the tape is disabled with the reason |
//! | signal | killed | runs a cleaner |

/// How a session ended, with the reason the parent also hears in its last report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEnd {
    Done,
    DriveDown(String),
    NeedsCleaner(String),
    /// An operator session (label, readtp) failed; the drive is fine.
    Failed(String),
    /// The scheduler could not be reached: nothing was mounted, or the
    /// session stopped asking for work. The drive is fine.
    SchedulerUnavailable(String),
    /// The cartridge cannot be used (it failed validation on load): the
    /// drive is fine, the tape must not be mounted again.
    TapeUnusable(String),
    /// The library holds no such cartridge (a mistyped VID, a cartridge
    /// taken out): nothing was mounted. For the parent it is the tape's
    /// problem (exit 5); an operator session turns it into its own failure.
    NotInLibrary(String),
}

/// What the parent knows of an ending: the kind of [`SessionEnd`] the exit
/// code says, or that a signal killed the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EndKind {
    Done,
    DriveDown,
    NeedsCleaner,
    Failed,
    SchedulerUnavailable,
    TapeUnusable,
    Killed,
    /// An exit code no session returns (a panic's 101, say).
    UnknownExit,
}

impl EndKind {
    pub const ALL: [EndKind; 8] = [
        EndKind::Done,
        EndKind::DriveDown,
        EndKind::NeedsCleaner,
        EndKind::Failed,
        EndKind::SchedulerUnavailable,
        EndKind::TapeUnusable,
        EndKind::Killed,
        EndKind::UnknownExit,
    ];

    /// The kind of ending behind an exit code or a killing signal.
    pub fn from_exit(code: Option<i32>, signal: Option<i32>) -> Self {
        match (code, signal) {
            (_, Some(_)) => EndKind::Killed,
            (Some(0), _) => EndKind::Done,
            (Some(1), _) => EndKind::DriveDown,
            (Some(2), _) => EndKind::NeedsCleaner,
            (Some(3), _) => EndKind::Failed,
            (Some(4), _) => EndKind::SchedulerUnavailable,
            (Some(5), _) => EndKind::TapeUnusable,
            _ => EndKind::UnknownExit,
        }
    }

    /// Its name in metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            EndKind::Done => "done",
            EndKind::DriveDown => "drive_down",
            EndKind::NeedsCleaner => "needs_cleaner",
            EndKind::Failed => "failed",
            EndKind::SchedulerUnavailable => "scheduler_unavailable",
            EndKind::TapeUnusable => "tape_unusable",
            EndKind::Killed => "killed",
            EndKind::UnknownExit => "unknown_exit",
        }
    }

    /// The exit code a session returns for this kind (None: not an exit).
    pub fn exit_code(self) -> Option<i32> {
        match self {
            EndKind::Done => Some(0),
            EndKind::DriveDown => Some(1),
            EndKind::NeedsCleaner => Some(2),
            EndKind::Failed => Some(3),
            EndKind::SchedulerUnavailable => Some(4),
            EndKind::TapeUnusable => Some(5),
            EndKind::Killed | EndKind::UnknownExit => None,
        }
    }
}

impl SessionEnd {
    pub fn kind(&self) -> EndKind {
        match self {
            SessionEnd::Done => EndKind::Done,
            SessionEnd::DriveDown(_) => EndKind::DriveDown,
            SessionEnd::NeedsCleaner(_) => EndKind::NeedsCleaner,
            SessionEnd::Failed(_) => EndKind::Failed,
            SessionEnd::SchedulerUnavailable(_) => EndKind::SchedulerUnavailable,
            SessionEnd::TapeUnusable(_) | SessionEnd::NotInLibrary(_) => EndKind::TapeUnusable,
        }
    }

    pub fn exit_code(&self) -> i32 {
        // Every SessionEnd kind has a code; 1 (drive down) is the safe fallback.
        self.kind().exit_code().unwrap_or(1)
    }

    /// How serious an outcome is: what the worse of two keeps.
    fn severity(&self) -> u8 {
        match self {
            SessionEnd::Done => 0,
            SessionEnd::Failed(_) | SessionEnd::SchedulerUnavailable(_) => 1,
            SessionEnd::TapeUnusable(_) | SessionEnd::NotInLibrary(_) => 2,
            SessionEnd::DriveDown(_) => 3,
            SessionEnd::NeedsCleaner(_) => 4,
        }
    }

    /// An operator session's end: a cartridge the library does not hold is
    /// the operator's mistake (exit 3, the drive up), not the tape's.
    pub fn for_operator(self) -> SessionEnd {
        match self {
            SessionEnd::NotInLibrary(r) => SessionEnd::Failed(r),
            other => other,
        }
    }

    /// Keeps the more serious of two outcomes.
    pub fn worst(self, other: SessionEnd) -> SessionEnd {
        if other.severity() > self.severity() {
            other
        } else {
            self
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            SessionEnd::Done => None,
            SessionEnd::DriveDown(r)
            | SessionEnd::NeedsCleaner(r)
            | SessionEnd::Failed(r)
            | SessionEnd::SchedulerUnavailable(r)
            | SessionEnd::TapeUnusable(r)
            | SessionEnd::NotInLibrary(r) => Some(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_end_survives_its_exit_code() {
        let ends = [
            SessionEnd::Done,
            SessionEnd::DriveDown("d".into()),
            SessionEnd::NeedsCleaner("c".into()),
            SessionEnd::Failed("f".into()),
            SessionEnd::SchedulerUnavailable("s".into()),
            SessionEnd::TapeUnusable("t".into()),
            SessionEnd::NotInLibrary("n".into()),
        ];
        for end in ends {
            let code = end.exit_code();
            assert_eq!(EndKind::from_exit(Some(code), None), end.kind(), "{end:?}");
        }
        for kind in EndKind::ALL {
            if let Some(code) = kind.exit_code() {
                assert_eq!(EndKind::from_exit(Some(code), None), kind);
            }
        }
        assert_eq!(EndKind::from_exit(None, Some(9)), EndKind::Killed);
        assert_eq!(EndKind::from_exit(Some(101), None), EndKind::UnknownExit);
        assert_eq!(EndKind::from_exit(None, None), EndKind::UnknownExit);
    }

    #[test]
    fn the_worse_end_wins() {
        let down = SessionEnd::DriveDown("x".into());
        assert_eq!(SessionEnd::Done.worst(down.clone()), down);
        let clean = SessionEnd::NeedsCleaner("y".into());
        assert_eq!(clean.clone().worst(down), clean);
        let unusable = SessionEnd::TapeUnusable("z".into());
        assert_eq!(
            SessionEnd::SchedulerUnavailable("s".into()).worst(unusable.clone()),
            unusable
        );
    }
}
