//! What a session's end does to its drive: one table keyed by the class of
//! session and how it ended (`session::end` turns exit codes into
//! [`EndKind`]s), so every pair has exactly one answer and the test below
//! lists them all.

use crate::proto::session::SessionKind;
use crate::session::end::EndKind;

/// Sessions whose ends the table tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SessionClass {
    /// Migration and recall: work the scheduler gave the drive.
    Data,
    /// Label and readtp: an operator waits for the answer.
    Operator,
    /// Unloads what another session left; its failure blames the tape.
    Cleaner,
}

impl SessionClass {
    pub const ALL: [SessionClass; 3] = [
        SessionClass::Data,
        SessionClass::Operator,
        SessionClass::Cleaner,
    ];

    pub fn of(kind: SessionKind) -> Self {
        match kind {
            SessionKind::Cleaner => SessionClass::Cleaner,
            SessionKind::Label | SessionKind::Readtp => SessionClass::Operator,
            SessionKind::Migration
            | SessionKind::Recall
            | SessionKind::Verify
            | SessionKind::Unspecified => SessionClass::Data,
        }
    }
}

/// Where the drive goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Up, or Down if an operator asked, or ShuttingDown.
    Idle,
    Down,
    /// A cleaner must run first; the mounts stay open until it ends.
    Cleaning,
}

/// What the loop does besides moving the drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// Close the drive's mounts, requeueing what they left.
    CloseMounts,
    /// Close the mounts and ask no mount for the drive for a while.
    CloseMountsAndBackOff,
    /// Close the mounts and disable the tape, with the session's reason.
    DisableTape,
    /// Start a cleaner for the session's tape.
    Cleaner,
}

/// How the end counts toward "sessions in a row that ended badly".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriveBlame {
    /// The drive did its job: the count restarts.
    Clear,
    /// The drive (or something in it) failed: one more.
    Count,
    /// Not the drive's doing (the scheduler, the tape): unchanged.
    Keep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub target: Target,
    pub then: Then,
    pub blame: DriveBlame,
}

const fn t(target: Target, then: Then, blame: DriveBlame) -> Transition {
    Transition {
        target,
        then,
        blame,
    }
}

/// The table.
pub fn transition(class: SessionClass, end: EndKind) -> Transition {
    use DriveBlame::*;
    use Target::*;
    use Then::*;
    match (class, end) {
        (SessionClass::Cleaner, EndKind::Done) => t(Idle, CloseMounts, Keep),
        // The cleaner unloaded a cartridge it could not use: the tape's fault.
        (SessionClass::Cleaner, EndKind::TapeUnusable) => t(Idle, DisableTape, Keep),
        // Anything else leaves a tape nobody could identify or unload:
        // disable it (no mount loop on a bad cartridge), the drive waits.
        (SessionClass::Cleaner, _) => t(Down, DisableTape, Keep),
        (_, EndKind::Done | EndKind::Failed) => t(Idle, CloseMounts, Clear),
        (_, EndKind::DriveDown) => t(Down, CloseMounts, Count),
        (_, EndKind::NeedsCleaner | EndKind::Killed | EndKind::UnknownExit) => {
            t(Cleaning, Cleaner, Count)
        }
        (_, EndKind::SchedulerUnavailable) => t(Idle, CloseMountsAndBackOff, Keep),
        (_, EndKind::TapeUnusable) => t(Idle, DisableTape, Keep),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DriveBlame::*;
    use EndKind as E;
    use SessionClass as C;
    use Target::*;
    use Then::*;

    /// Every (class, end) pair and what it must do, written out.
    const EXPECTED: [(C, E, Target, Then, DriveBlame); 24] = [
        (C::Data, E::Done, Idle, CloseMounts, Clear),
        (C::Data, E::DriveDown, Down, CloseMounts, Count),
        (C::Data, E::NeedsCleaner, Cleaning, Cleaner, Count),
        (C::Data, E::Failed, Idle, CloseMounts, Clear),
        (
            C::Data,
            E::SchedulerUnavailable,
            Idle,
            CloseMountsAndBackOff,
            Keep,
        ),
        (C::Data, E::TapeUnusable, Idle, DisableTape, Keep),
        (C::Data, E::Killed, Cleaning, Cleaner, Count),
        (C::Data, E::UnknownExit, Cleaning, Cleaner, Count),
        (C::Operator, E::Done, Idle, CloseMounts, Clear),
        (C::Operator, E::DriveDown, Down, CloseMounts, Count),
        (C::Operator, E::NeedsCleaner, Cleaning, Cleaner, Count),
        (C::Operator, E::Failed, Idle, CloseMounts, Clear),
        (
            C::Operator,
            E::SchedulerUnavailable,
            Idle,
            CloseMountsAndBackOff,
            Keep,
        ),
        (C::Operator, E::TapeUnusable, Idle, DisableTape, Keep),
        (C::Operator, E::Killed, Cleaning, Cleaner, Count),
        (C::Operator, E::UnknownExit, Cleaning, Cleaner, Count),
        (C::Cleaner, E::Done, Idle, CloseMounts, Keep),
        (C::Cleaner, E::DriveDown, Down, DisableTape, Keep),
        (C::Cleaner, E::NeedsCleaner, Down, DisableTape, Keep),
        (C::Cleaner, E::Failed, Down, DisableTape, Keep),
        (C::Cleaner, E::SchedulerUnavailable, Down, DisableTape, Keep),
        (C::Cleaner, E::TapeUnusable, Idle, DisableTape, Keep),
        (C::Cleaner, E::Killed, Down, DisableTape, Keep),
        (C::Cleaner, E::UnknownExit, Down, DisableTape, Keep),
    ];

    #[test]
    fn every_pair_has_its_written_answer() {
        let mut seen = std::collections::BTreeSet::new();
        for (class, end, target, then, blame) in EXPECTED {
            assert!(seen.insert((class, end)), "{class:?} {end:?} listed twice");
            assert_eq!(
                transition(class, end),
                Transition {
                    target,
                    then,
                    blame
                },
                "{class:?} {end:?}"
            );
        }
        for class in C::ALL {
            for end in E::ALL {
                assert!(seen.contains(&(class, end)), "{class:?} {end:?} not listed");
            }
        }
    }

    #[test]
    fn a_cleaner_never_follows_a_cleaner_and_only_cleaners_disable_after_failing() {
        for end in E::ALL {
            assert_ne!(transition(C::Cleaner, end).then, Cleaner);
            for class in [C::Data, C::Operator] {
                let tr = transition(class, end);
                assert_eq!(
                    tr.target == Cleaning,
                    tr.then == Cleaner,
                    "{class:?} {end:?}"
                );
            }
        }
    }
}
