//! A scheduler that waits before every call: the test-only knob behind the
//! latency-shadowing benchmark (a slow database must not slow the tape).

use std::time::Duration;

use super::*;

pub struct DelayedScheduler {
    inner: Box<dyn Scheduler>,
    delay: Duration,
}

impl DelayedScheduler {
    pub fn new(inner: Box<dyn Scheduler>, delay: Duration) -> Self {
        Self { inner, delay }
    }
}

/// Each method sleeps, then calls the wrapped scheduler.
macro_rules! delayed {
    ($(fn $name:ident(&mut self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)*) => {
        impl Scheduler for DelayedScheduler {
            $(fn $name(&mut self $(, $arg: $ty)*) -> $ret {
                std::thread::sleep(self.delay);
                self.inner.$name($($arg),*)
            })*
        }
    };
}

delayed! {
    fn add_pool(&mut self, name: &str) -> Result<(), SchedulerError>;
    fn add_tape(&mut self, vid: &str, pool: &str, capacity: u64) -> Result<(), SchedulerError>;
    fn queue_archive(&mut self, files: &[NewArchiveFile], pool: &str) -> Result<Vec<u64>, SchedulerError>;
    fn queue_recall(&mut self, file_id: u64, destination: &str) -> Result<RecallTicket, SchedulerError>;
    fn next_mount(&mut self, host: &str, drive: &str, criteria: &MountCriteria) -> Result<Option<Mount>, SchedulerError>;
    fn fetch_archive_jobs(&mut self, mount_id: u64, max_files: u64, max_bytes: u64) -> Result<Vec<ArchiveJob>, SchedulerError>;
    fn fetch_recall_jobs(&mut self, mount_id: u64, max_files: u64, max_bytes: u64) -> Result<Vec<RecallJob>, SchedulerError>;
    fn last_file(&mut self, vid: &str) -> Result<Option<LastFile>, SchedulerError>;
    fn tape(&mut self, vid: &str) -> Result<TapeInfo, SchedulerError>;
    fn report_migration(&mut self, mount_id: u64, vid: &str, archived: &[ArchivedFile], failed: &[(u64, String)]) -> Result<(), SchedulerError>;
    fn report_recalls(&mut self, mount_id: u64, results: &[(u64, Option<String>)]) -> Result<(), SchedulerError>;
    fn requeue_archive(&mut self, mount_id: u64, file_ids: &[u64]) -> Result<(), SchedulerError>;
    fn set_tape_state(&mut self, vid: &str, state: TapeState, reason: &str) -> Result<(), SchedulerError>;
    fn end_mount(&mut self, mount_id: u64) -> Result<(), SchedulerError>;
    fn end_mounts_of_drive(&mut self, host: &str, drive: &str) -> Result<Vec<u64>, SchedulerError>;
    fn claim_tape(&mut self, host: &str, drive: &str, vid: &str, kind: &str) -> Result<u64, SchedulerError>;
    fn open_mounts_of_drive(&mut self, host: &str, drive: &str) -> Result<Vec<(u64, String)>, SchedulerError>;
    fn reset_tape(&mut self, vid: &str) -> Result<Vec<u64>, SchedulerError>;
    fn file_status(&mut self, ids: &[u64]) -> Result<Vec<FileStatus>, SchedulerError>;
    fn recall_status(&mut self, ids: &[u64]) -> Result<Vec<RecallStatus>, SchedulerError>;
    fn tapes(&mut self) -> Result<Vec<TapeInfo>, SchedulerError>;
    fn tape_files(&mut self, vid: &str) -> Result<Vec<TapeFile>, SchedulerError>;
}
