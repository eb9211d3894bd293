//! A scheduler connection with the test faults of `crate::faults` (test
//! scaffolding): it waits before every call (a slow database must not slow
//! the tape) and can fail the first fetches of work or closings of mounts
//! as an unreachable database would.

use std::time::Duration;

use super::*;
use crate::faults::SchedulerFaults;

pub struct TestScheduler {
    inner: Box<dyn Scheduler>,
    delay: Duration,
    /// Fetches of work still to fail.
    failing_fetches: u64,
    /// Closings of a drive's mounts still to fail.
    failing_closes: u64,
}

/// What an injected failure looks like: the database out of reach.
fn unreachable() -> SchedulerError {
    SchedulerError::Unavailable("injected fault: the database is unreachable".into())
}

impl TestScheduler {
    pub fn new(inner: Box<dyn Scheduler>, faults: &SchedulerFaults) -> Self {
        Self {
            inner,
            delay: faults.call_delay.map_or(Duration::ZERO, |d| d.0),
            failing_fetches: faults.failing_fetches,
            failing_closes: faults.failing_closes,
        }
    }

    fn close_fault(&mut self) -> Result<(), SchedulerError> {
        if self.failing_closes == 0 {
            return Ok(());
        }
        self.failing_closes -= 1;
        Err(unreachable())
    }

    fn fetch_fault(&mut self) -> Result<(), SchedulerError> {
        if self.failing_fetches == 0 {
            return Ok(());
        }
        self.failing_fetches -= 1;
        Err(unreachable())
    }
}

/// Each method sleeps, then calls the wrapped scheduler; fetches may fail first.
macro_rules! knobs {
    (
        $role:ident
        plain { $(fn $name:ident(&mut self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)* }
        fetch { $(fn $fname:ident(&mut self $(, $farg:ident: $fty:ty)*) -> $fret:ty;)* }
        close { $(fn $cname:ident(&mut self $(, $carg:ident: $cty:ty)*) -> $cret:ty;)* }
    ) => {
        impl $role for TestScheduler {
            $(fn $name(&mut self $(, $arg: $ty)*) -> $ret {
                std::thread::sleep(self.delay);
                self.inner.$name($($arg),*)
            })*
            $(fn $fname(&mut self $(, $farg: $fty)*) -> $fret {
                std::thread::sleep(self.delay);
                self.fetch_fault()?;
                self.inner.$fname($($farg),*)
            })*
            $(fn $cname(&mut self $(, $carg: $cty)*) -> $cret {
                std::thread::sleep(self.delay);
                self.close_fault()?;
                self.inner.$cname($($carg),*)
            })*
        }
    };
}

knobs! {
    SessionWork
    plain {
    fn last_file(&mut self, vid: &str) -> Result<Option<LastFile>, SchedulerError>;
    fn tape(&mut self, vid: &str) -> Result<TapeInfo, SchedulerError>;
    fn report_migration(&mut self, mount_id: u64, vid: &str, archived: &[ArchivedFile], failed: &[FailedFile], limits: &FileLimits) -> Result<(), SchedulerError>;
    fn stage_recall(&mut self, mount_id: u64, recall_id: u64, file: &FileIdentity) -> Result<(), SchedulerError>;
    fn report_recalls(&mut self, mount_id: u64, results: &[(u64, RecallEnd)]) -> Result<(), SchedulerError>;
    fn end_empty_mount(&mut self, mount_id: u64) -> Result<(), SchedulerError>;
    fn claim_tape(&mut self, host: &str, drive: &str, vid: &str, kind: MountKind) -> Result<u64, SchedulerError>;
    fn reset_tape(&mut self, vid: &str) -> Result<Vec<u64>, SchedulerError>;
    fn queue_activity(&mut self, mount_id: u64) -> Result<QueueActivity, SchedulerError>;
    fn fetch_verify_jobs(&mut self, mount_id: u64) -> Result<Vec<VerifyJob>, SchedulerError>;
    fn report_verify(&mut self, mount_id: u64, vid: &str, bad: &[BadCopy]) -> Result<(), SchedulerError>;
    fn yield_verify(&mut self, mount_id: u64, vid: &str, bad: &[BadCopy], through_fseq: u64) -> Result<(), SchedulerError>;
    }
    fetch {
    fn fetch_archive_jobs(&mut self, mount_id: u64, max_files: u64, max_bytes: u64) -> Result<Vec<ArchiveJob>, SchedulerError>;
    fn fetch_recall_jobs(&mut self, mount_id: u64, max_files: u64, max_bytes: u64, room: Option<BufferRoom>) -> Result<Vec<RecallJob>, SchedulerError>;
    }
    close {
    }
}

knobs! {
    StageRequests
    plain {
    fn files_by_paths(&mut self, owner: &str, paths: &[String]) -> Result<std::collections::HashMap<String, FileStatus>, SchedulerError>;
    fn create_stage(&mut self, id: &str, owner: &str, requester: &str, entries: &[StageEntry]) -> Result<(), SchedulerError>;
    fn stage_status(&mut self, id: &str, owner: &str, requester: &str) -> Result<StageStatus, SchedulerError>;
    fn cancel_stage(&mut self, id: &str, owner: &str, requester: &str, paths: &[String]) -> Result<(), SchedulerError>;
    fn delete_stage(&mut self, id: &str, owner: &str, requester: &str) -> Result<(), SchedulerError>;
    fn release_stage(&mut self, id: &str, owner: &str, requester: &str, paths: &[String]) -> Result<(), SchedulerError>;
    fn pinned(&mut self, file_id: u64) -> Result<bool, SchedulerError>;
    }
    fetch {
    }
    close {
    }
}

knobs! {
    BufferKeeping
    plain {
    fn eviction_candidates(&mut self, beneath: &str, limit: u64) -> Result<Vec<EvictionCandidate>, SchedulerError>;
    fn claim_eviction(&mut self, file_id: u64) -> Result<EvictionClaim, SchedulerError>;
    fn unclaim_eviction(&mut self, file_id: u64) -> Result<(), SchedulerError>;
    fn recall_demand(&mut self) -> Result<RecallDemand, SchedulerError>;
    fn buffer_usage(&mut self, beneath: &str) -> Result<BufferUsage, SchedulerError>;
    }
    fetch {
    }
    close {
    }
}

knobs! {
    StagerRequests
    plain {
    fn queue_archive(&mut self, files: &[NewArchiveFile], pool: &str) -> Result<Vec<u64>, SchedulerError>;
    fn queue_recall(&mut self, owner: &str, file_id: u64, destination: &str) -> Result<RecallTicket, SchedulerError>;
    fn files_of(&mut self, owner: &str, ids: &[u64], page: Page) -> Result<Vec<FileStatus>, SchedulerError>;
    fn recalls_of(&mut self, owner: &str, ids: &[u64], page: Page) -> Result<Vec<RecallStatus>, SchedulerError>;
    fn tapes(&mut self) -> Result<Vec<TapeInfo>, SchedulerError>;
    fn tape_files_of(&mut self, owner: &str, vid: &str, page: Page) -> Result<Vec<TapeFile>, SchedulerError>;
    fn delete_files(&mut self, owner: &str, ids: &[u64], by: &str) -> Result<Vec<u64>, SchedulerError>;
    fn queue_archive_class(&mut self, files: &[NewArchiveFile], class: &str) -> Result<Vec<u64>, SchedulerError>;
    fn copies_of(&mut self, owner: &str, file_id: u64) -> Result<Vec<CopyInfo>, SchedulerError>;
    fn copies_of_files(&mut self, file_ids: &[u64]) -> Result<std::collections::HashMap<u64, Vec<CopyInfo>>, SchedulerError>;
    }
    fetch {
    }
    close {
    }
}

knobs! {
    MountSelection
    plain {
    fn next_mount(&mut self, host: &str, drive: &str, policy: &MountPolicy) -> Result<Option<Mount>, SchedulerError>;
    fn user_work_due(&mut self, policy: &MountPolicy) -> Result<UserWork, SchedulerError>;
    fn end_mount(&mut self, mount_id: u64) -> Result<(), SchedulerError>;
    fn release_work_of_drive(&mut self, host: &str, drive: &str) -> Result<Vec<u64>, SchedulerError>;
    fn count_attempt(&mut self, mount_id: u64, file_id: u64, reason: &str, limits: &FileLimits) -> Result<(), SchedulerError>;
    fn open_mounts(&mut self) -> Result<Vec<OpenMount>, SchedulerError>;
    fn renew_leases(&mut self, host: &str, drives: &[String], ttl: Duration) -> Result<(), SchedulerError>;
    fn set_drive_models(&mut self, host: &str, models: &[(String, Option<String>)]) -> Result<(), SchedulerError>;
    fn queue_stale_verifications(&mut self, interval: Duration) -> Result<u64, SchedulerError>;
    fn advance_repacks(&mut self, settings: &RepackSettings) -> Result<Vec<String>, SchedulerError>;
    fn buffers_removed(&mut self, paths: &[String]) -> Result<(), SchedulerError>;
    fn expired_mounts(&mut self, host: &str) -> Result<Vec<OpenMount>, SchedulerError>;
    fn drive_leases(&mut self, drives: &[String]) -> Result<Vec<DriveLease>, SchedulerError>;
    }
    fetch {
    }
    close {
    fn end_mounts_of_drive(&mut self, host: &str, drive: &str) -> Result<Vec<u64>, SchedulerError>;
    }
}

knobs! {
    Administration
    plain {
    fn file_status(&mut self, ids: &[u64]) -> Result<Vec<FileStatus>, SchedulerError>;
    fn recall_status(&mut self, ids: &[u64]) -> Result<Vec<RecallStatus>, SchedulerError>;
    fn tape_files(&mut self, vid: &str) -> Result<Vec<TapeFile>, SchedulerError>;
    fn add_pool(&mut self, name: &str) -> Result<(), SchedulerError>;
    fn add_tape(&mut self, vid: &str, pool: &str, capacity: u64) -> Result<(), SchedulerError>;
    fn set_tape_state(&mut self, vid: &str, state: TapeState, reason: &str) -> Result<(), SchedulerError>;
    fn pools(&mut self) -> Result<Vec<PoolInfo>, SchedulerError>;
    fn cancel_archive(&mut self, file_id: u64) -> Result<(), SchedulerError>;
    fn cancel_recall(&mut self, recall_id: u64) -> Result<(), SchedulerError>;
    fn retry_archive(&mut self, file_id: u64) -> Result<(), SchedulerError>;
    fn retry_recall(&mut self, recall_id: u64) -> Result<(), SchedulerError>;
    fn mount_history(&mut self) -> Result<Vec<MountRecord>, SchedulerError>;
    fn undelete(&mut self, file_id: u64, retention: std::time::Duration) -> Result<(), SchedulerError>;
    fn reclaim(&mut self, vid: &str) -> Result<u64, SchedulerError>;
    fn queue_repack(&mut self, vid: &str, request: &RepackRequest, by: &str) -> Result<u64, SchedulerError>;
    fn repacks(&mut self) -> Result<Vec<RepackInfo>, SchedulerError>;
    fn move_tape(&mut self, vid: &str, pool: &str) -> Result<(), SchedulerError>;
    fn add_class(&mut self, name: &str, copies: u64) -> Result<(), SchedulerError>;
    fn add_route(&mut self, class: &str, copy_nb: u64, pool: &str) -> Result<(), SchedulerError>;
    fn classes(&mut self) -> Result<Vec<StorageClass>, SchedulerError>;
    fn set_tape_state_by(&mut self, vid: &str, state: TapeState, reason: &str, by: &str) -> Result<(), SchedulerError>;
    fn queue_verify(&mut self, vid: &str, sample: u64, by: &str) -> Result<(), SchedulerError>;
    fn set_tape_media(&mut self, vid: &str, media: Option<&str>) -> Result<(), SchedulerError>;
    fn begin_export(&mut self, vid: &str, home_slot: u16, by: &str) -> Result<TapeState, SchedulerError>;
    fn finish_import(&mut self, vid: &str, by: &str) -> Result<Option<u16>, SchedulerError>;
    }
    fetch {
    }
    close {
    }
}

knobs! {
    MetricsSource
    plain {
    fn queues(&mut self) -> Result<Vec<QueueInfo>, SchedulerError>;
    fn pool_drives(&mut self) -> Result<PoolDrives, SchedulerError>;
    }
    fetch {
    }
    close {
    }
}
