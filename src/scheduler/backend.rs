//! The scheduler over SQL: one implementation of [`Scheduler`] for both
//! databases, each call one transaction on a [`Conn`]. The queues live in
//! `queue`, mounts and tapes in `mounts`, read-only listings in `queries`,
//! operator requests and drive leases in `admin`.

use std::path::Path;
use std::time::Duration;

use super::clock::Clock;
use super::sql::postgres::PgConn;
use super::sql::sqlite::SqliteConn;
use super::sql::{Conn, Dialect};
use super::*;

mod admin;
mod classes;
mod deletion;
mod disk_buffer;
mod enqueue;
mod fallback;
mod fetch;
mod media;
mod mounts;
mod pools;
mod queries;
mod queue;
mod repack;
mod repack_advance;
mod rows;
mod stage;
mod verify;

/// The database's time now (its `ts_now()`), for what is decided in Rust
/// inside a transaction (which queue is due, which is backing off).
pub(super) fn db_now(c: &mut dyn Conn) -> Result<f64, SchedulerError> {
    c.query_one("SELECT ts_now()", &[])?.get(0)
}

pub struct SqlScheduler {
    conn: Box<dyn Conn>,
}

/// The embedded catalogue's name in tests and tools that open a file.
pub type SqliteScheduler = SqlScheduler;

impl SqlScheduler {
    /// The SQLite catalogue in `path` (created, or upgraded, as needed).
    pub fn open(path: &Path) -> Result<Self, SchedulerError> {
        Self::open_with_clock(path, Clock::Database)
    }

    /// As [`open`](Self::open), on `clock` (a simulator's).
    pub fn open_with_clock(path: &Path, clock: Clock) -> Result<Self, SchedulerError> {
        Ok(Self {
            conn: Box::new(SqliteConn::open(path, clock)?),
        })
    }

    /// A PostgreSQL catalogue shared with other servers.
    pub fn postgres(url: &str, password: Option<&str>) -> Result<Self, SchedulerError> {
        Self::postgres_with_clock(url, password, Clock::Database)
    }

    /// As [`postgres`](Self::postgres), on `clock`.
    pub fn postgres_with_clock(
        url: &str,
        password: Option<&str>,
        clock: Clock,
    ) -> Result<Self, SchedulerError> {
        let config = super::sql::postgres::config(url, password)?;
        Ok(Self {
            conn: Box::new(PgConn::open(config, clock)?),
        })
    }

    pub fn dialect(&self) -> Dialect {
        self.conn.dialect()
    }

    /// Runs `f` in one transaction: committed if it succeeds, rolled back
    /// otherwise.
    ///
    /// A connection the server ended (a restart, a failover) is found broken
    /// only when used. If it broke before the commit was sent, the server
    /// rolled the transaction back with the connection, so it runs once more
    /// on a new connection. A commit that broke is not repeated: it may
    /// have been applied.
    fn write<T>(
        &mut self,
        mut f: impl FnMut(&mut dyn Conn) -> Result<T, SchedulerError>,
    ) -> Result<T, SchedulerError> {
        let mut retried = false;
        loop {
            let done = self.conn.begin().and_then(|()| f(self.conn.as_mut()));
            match done {
                Ok(v) => {
                    self.conn.commit()?;
                    return Ok(v);
                }
                Err(e) if self.conn.lost() && !retried => {
                    tracing::warn!(error = %e, "scheduler connection lost: reconnecting");
                    retried = true;
                }
                Err(e) => {
                    self.conn.rollback();
                    return Err(e);
                }
            }
        }
    }

    /// A read, outside any transaction: it takes no write lock, and each
    /// statement sees a consistent snapshot. Repeated once on a new
    /// connection if the server had ended the old one.
    fn read<T>(
        &mut self,
        mut f: impl FnMut(&mut dyn Conn) -> Result<T, SchedulerError>,
    ) -> Result<T, SchedulerError> {
        match f(self.conn.as_mut()) {
            Err(e) if self.conn.lost() => {
                tracing::warn!(error = %e, "scheduler connection lost: reconnecting");
                f(self.conn.as_mut())
            }
            done => done,
        }
    }
}

impl SessionWork for SqlScheduler {
    fn fetch_archive_jobs(
        &mut self,
        mount_id: u64,
        max_files: u64,
        max_bytes: u64,
    ) -> Result<Vec<ArchiveJob>, SchedulerError> {
        self.write(|c| fetch::fetch_archive_jobs(c, mount_id, max_files, max_bytes))
    }

    fn fetch_recall_jobs(
        &mut self,
        mount_id: u64,
        max_files: u64,
        max_bytes: u64,
        room: Option<BufferRoom>,
    ) -> Result<Vec<RecallJob>, SchedulerError> {
        self.write(|c| fetch::fetch_recall_jobs(c, mount_id, max_files, max_bytes, room))
    }

    fn fetch_verify_jobs(&mut self, mount_id: u64) -> Result<Vec<VerifyJob>, SchedulerError> {
        self.write(|c| verify::fetch_verify_jobs(c, mount_id))
    }

    fn report_verify(
        &mut self,
        mount_id: u64,
        vid: &str,
        bad: &[BadCopy],
    ) -> Result<(), SchedulerError> {
        self.write(|c| verify::report_verify(c, mount_id, vid, bad))
    }

    fn yield_verify(
        &mut self,
        mount_id: u64,
        vid: &str,
        bad: &[BadCopy],
        through_fseq: u64,
    ) -> Result<(), SchedulerError> {
        self.write(|c| verify::yield_verify(c, mount_id, vid, bad, through_fseq))
    }

    fn last_file(&mut self, vid: &str) -> Result<Option<LastFile>, SchedulerError> {
        self.read(|c| queries::last_file(c, vid))
    }

    fn tape(&mut self, vid: &str) -> Result<TapeInfo, SchedulerError> {
        self.tapes()?
            .into_iter()
            .find(|t| t.vid == vid)
            .ok_or_else(|| SchedulerError::UnknownTape(vid.into()))
    }

    fn report_migration(
        &mut self,
        mount_id: u64,
        vid: &str,
        archived: &[ArchivedFile],
        failed: &[FailedFile],
        limits: &FileLimits,
    ) -> Result<(), SchedulerError> {
        self.write(|c| queue::report_migration(c, mount_id, vid, archived, failed, limits))
    }

    fn stage_recall(
        &mut self,
        mount_id: u64,
        recall_id: u64,
        file: &FileIdentity,
    ) -> Result<(), SchedulerError> {
        self.write(|c| queue::stage_recall(c, mount_id, recall_id, file))
    }

    fn report_recalls(
        &mut self,
        mount_id: u64,
        results: &[(u64, RecallEnd)],
    ) -> Result<(), SchedulerError> {
        self.write(|c| queue::report_recalls(c, mount_id, results))
    }

    fn end_empty_mount(&mut self, mount_id: u64) -> Result<(), SchedulerError> {
        self.write(|c| mounts::end_mount(c, mount_id, true))
    }

    fn claim_tape(
        &mut self,
        host: &str,
        drive: &str,
        vid: &str,
        kind: MountKind,
    ) -> Result<u64, SchedulerError> {
        match self.write(|c| mounts::claim_tape(c, host, drive, vid, kind)) {
            Err(e) if e.is_conflict() => Err(SchedulerError::TapeBusy(vid.into())),
            other => other,
        }
    }

    fn reset_tape(&mut self, vid: &str) -> Result<Vec<u64>, SchedulerError> {
        self.write(|c| mounts::reset_tape(c, vid))
    }

    fn queue_activity(&mut self, mount_id: u64) -> Result<QueueActivity, SchedulerError> {
        self.read(|c| queries::queue_activity(c, mount_id))
    }
}

impl BufferKeeping for SqlScheduler {
    fn eviction_candidates(
        &mut self,
        beneath: &str,
        limit: u64,
    ) -> Result<Vec<EvictionCandidate>, SchedulerError> {
        self.read(|c| disk_buffer::candidates(c, beneath, limit))
    }

    fn claim_eviction(&mut self, file_id: u64) -> Result<EvictionClaim, SchedulerError> {
        self.write(|c| disk_buffer::claim(c, file_id))
    }

    fn unclaim_eviction(&mut self, file_id: u64) -> Result<(), SchedulerError> {
        self.write(|c| disk_buffer::unclaim(c, file_id))
    }

    fn recall_demand(&mut self) -> Result<RecallDemand, SchedulerError> {
        self.read(disk_buffer::demand)
    }

    fn buffer_usage(&mut self, beneath: &str) -> Result<BufferUsage, SchedulerError> {
        self.read(|c| disk_buffer::usage(c, beneath))
    }
}

impl StagerRequests for SqlScheduler {
    fn queue_archive(
        &mut self,
        files: &[NewArchiveFile],
        pool: &str,
    ) -> Result<Vec<u64>, SchedulerError> {
        self.write(|c| enqueue::queue_archive(c, files, pool))
    }

    fn queue_recall(
        &mut self,
        owner: &str,
        file_id: u64,
        destination: &str,
    ) -> Result<RecallTicket, SchedulerError> {
        self.write(|c| queue::queue_recall(c, owner, file_id, destination))
    }

    fn queue_archive_class(
        &mut self,
        files: &[NewArchiveFile],
        class: &str,
    ) -> Result<Vec<u64>, SchedulerError> {
        self.write(|c| enqueue::queue_archive_class(c, files, class))
    }

    fn copies_of(&mut self, owner: &str, file_id: u64) -> Result<Vec<CopyInfo>, SchedulerError> {
        self.read(|c| {
            if c.query_opt(
                "SELECT 1 FROM archive_files WHERE id = $1 AND owner = $2",
                crate::scheduler::sql::params![file_id, owner],
            )?
            .is_none()
            {
                return Err(SchedulerError::UnknownFile(file_id));
            }
            classes::copies_of(c, file_id)
        })
    }

    fn copies_of_files(
        &mut self,
        file_ids: &[u64],
    ) -> Result<std::collections::HashMap<u64, Vec<CopyInfo>>, SchedulerError> {
        self.read(|c| classes::copies_of_files(c, file_ids))
    }

    fn delete_files(
        &mut self,
        owner: &str,
        ids: &[u64],
        by: &str,
    ) -> Result<Vec<u64>, SchedulerError> {
        self.write(|c| deletion::delete_files(c, owner, ids, by))
    }

    fn files_of(
        &mut self,
        owner: &str,
        ids: &[u64],
        page: Page,
    ) -> Result<Vec<FileStatus>, SchedulerError> {
        self.read(|c| queries::file_status(c, Some(owner), ids, page))
    }

    fn recalls_of(
        &mut self,
        owner: &str,
        ids: &[u64],
        page: Page,
    ) -> Result<Vec<RecallStatus>, SchedulerError> {
        self.read(|c| queries::recall_status(c, Some(owner), ids, page))
    }

    fn tapes(&mut self) -> Result<Vec<TapeInfo>, SchedulerError> {
        self.read(queries::tapes)
    }

    fn tape_files_of(
        &mut self,
        owner: &str,
        vid: &str,
        page: Page,
    ) -> Result<Vec<TapeFile>, SchedulerError> {
        self.read(|c| queries::tape_files(c, Some(owner), vid, page))
    }
}

impl MountSelection for SqlScheduler {
    fn user_work_due(&mut self, policy: &MountPolicy) -> Result<UserWork, SchedulerError> {
        self.write(|c| mounts::user_work_due(c, policy))
    }

    fn next_mount(
        &mut self,
        host: &str,
        drive: &str,
        policy: &MountPolicy,
    ) -> Result<Option<Mount>, SchedulerError> {
        match self.write(|c| mounts::next_mount(c, host, drive, policy)) {
            // Another server recorded a mount of the same tape first.
            Err(e) if e.is_conflict() => Ok(None),
            other => other,
        }
    }

    fn count_attempt(
        &mut self,
        mount_id: u64,
        file_id: u64,
        reason: &str,
        limits: &FileLimits,
    ) -> Result<(), SchedulerError> {
        self.write(|c| queue::count_attempt(c, mount_id, file_id, reason, limits))
    }

    fn end_mount(&mut self, mount_id: u64) -> Result<(), SchedulerError> {
        self.write(|c| mounts::end_mount(c, mount_id, false))
    }

    fn release_work_of_drive(
        &mut self,
        host: &str,
        drive: &str,
    ) -> Result<Vec<u64>, SchedulerError> {
        self.write(|c| mounts::release_work_of_drive(c, host, drive))
    }

    fn end_mounts_of_drive(&mut self, host: &str, drive: &str) -> Result<Vec<u64>, SchedulerError> {
        self.write(|c| mounts::end_mounts_of_drive(c, host, drive))
    }

    fn open_mounts(&mut self) -> Result<Vec<OpenMount>, SchedulerError> {
        self.read(queries::open_mounts)
    }

    fn renew_leases(
        &mut self,
        host: &str,
        drives: &[String],
        ttl: Duration,
    ) -> Result<(), SchedulerError> {
        self.write(|c| admin::renew_leases(c, host, drives, ttl.as_secs_f64()))
    }

    fn advance_repacks(
        &mut self,
        settings: &RepackSettings,
    ) -> Result<Vec<String>, SchedulerError> {
        self.write(|c| repack_advance::advance(c, settings))
    }

    fn buffers_removed(&mut self, paths: &[String]) -> Result<(), SchedulerError> {
        self.write(|c| repack_advance::buffers_removed(c, paths))
    }

    fn queue_stale_verifications(&mut self, interval: Duration) -> Result<u64, SchedulerError> {
        self.write(|c| verify::queue_stale_verifications(c, interval.as_secs_f64()))
    }

    fn set_drive_models(
        &mut self,
        host: &str,
        models: &[(String, Option<String>)],
    ) -> Result<(), SchedulerError> {
        self.write(|c| media::set_drive_models(c, host, models))
    }

    fn drive_leases(&mut self, drives: &[String]) -> Result<Vec<DriveLease>, SchedulerError> {
        self.read(|c| admin::drive_leases(c, drives))
    }

    fn expired_mounts(&mut self, host: &str) -> Result<Vec<OpenMount>, SchedulerError> {
        self.read(|c| queries::expired_mounts(c, host))
    }
}

impl Administration for SqlScheduler {
    fn file_status(&mut self, ids: &[u64]) -> Result<Vec<FileStatus>, SchedulerError> {
        self.read(|c| queries::file_status(c, None, ids, Page::ALL))
    }

    fn recall_status(&mut self, ids: &[u64]) -> Result<Vec<RecallStatus>, SchedulerError> {
        self.read(|c| queries::recall_status(c, None, ids, Page::ALL))
    }

    fn tape_files(&mut self, vid: &str) -> Result<Vec<TapeFile>, SchedulerError> {
        self.read(|c| queries::tape_files(c, None, vid, Page::ALL))
    }

    fn add_pool(&mut self, name: &str) -> Result<(), SchedulerError> {
        self.write(|c| pools::add_pool(c, name))
    }

    fn add_tape(&mut self, vid: &str, pool: &str, capacity: u64) -> Result<(), SchedulerError> {
        self.write(|c| pools::add_tape(c, vid, pool, capacity))
    }

    fn set_tape_state(
        &mut self,
        vid: &str,
        state: TapeState,
        reason: &str,
    ) -> Result<(), SchedulerError> {
        self.write(|c| rows::set_tape_state(c, vid, state, reason, SYSTEM))
    }

    fn set_tape_state_by(
        &mut self,
        vid: &str,
        state: TapeState,
        reason: &str,
        by: &str,
    ) -> Result<(), SchedulerError> {
        self.write(|c| rows::set_tape_state(c, vid, state, reason, by))
    }

    fn pools(&mut self) -> Result<Vec<PoolInfo>, SchedulerError> {
        self.read(admin::pools)
    }

    fn undelete(&mut self, file_id: u64, retention: Duration) -> Result<(), SchedulerError> {
        self.write(|c| deletion::undelete(c, file_id, retention.as_secs_f64()))
    }

    fn reclaim(&mut self, vid: &str) -> Result<u64, SchedulerError> {
        self.write(|c| deletion::reclaim(c, vid))
    }

    fn queue_repack(
        &mut self,
        vid: &str,
        request: &RepackRequest,
        by: &str,
    ) -> Result<u64, SchedulerError> {
        self.write(|c| repack::queue_repack(c, vid, request, by))
    }

    fn repacks(&mut self) -> Result<Vec<RepackInfo>, SchedulerError> {
        self.write(repack::repacks)
    }

    fn add_class(&mut self, name: &str, copies: u64) -> Result<(), SchedulerError> {
        self.write(|c| classes::add_class(c, name, copies))
    }

    fn add_route(&mut self, class: &str, copy_nb: u64, pool: &str) -> Result<(), SchedulerError> {
        self.write(|c| classes::add_route(c, class, copy_nb, pool))
    }

    fn classes(&mut self) -> Result<Vec<StorageClass>, SchedulerError> {
        self.read(classes::classes)
    }

    fn move_tape(&mut self, vid: &str, pool: &str) -> Result<(), SchedulerError> {
        self.write(|c| deletion::move_tape(c, vid, pool))
    }

    fn begin_export(
        &mut self,
        vid: &str,
        home_slot: u16,
        by: &str,
    ) -> Result<TapeState, SchedulerError> {
        self.write(|c| media::begin_export(c, vid, home_slot, by))
    }

    fn finish_import(&mut self, vid: &str, by: &str) -> Result<Option<u16>, SchedulerError> {
        self.write(|c| media::finish_import(c, vid, by))
    }

    fn set_tape_media(&mut self, vid: &str, media: Option<&str>) -> Result<(), SchedulerError> {
        self.write(|c| media::set_tape_media(c, vid, media))
    }

    fn queue_verify(&mut self, vid: &str, sample: u64, by: &str) -> Result<(), SchedulerError> {
        self.write(|c| verify::queue_verify(c, vid, sample, by))
    }

    fn cancel_archive(&mut self, file_id: u64) -> Result<(), SchedulerError> {
        self.write(|c| admin::cancel_archive(c, file_id))
    }

    fn cancel_recall(&mut self, recall_id: u64) -> Result<(), SchedulerError> {
        self.write(|c| admin::cancel_recall(c, recall_id))
    }

    fn retry_archive(&mut self, file_id: u64) -> Result<(), SchedulerError> {
        self.write(|c| admin::retry_archive(c, file_id))
    }

    fn retry_recall(&mut self, recall_id: u64) -> Result<(), SchedulerError> {
        self.write(|c| admin::retry_recall(c, recall_id))
    }

    fn mount_history(&mut self) -> Result<Vec<MountRecord>, SchedulerError> {
        self.read(queries::mount_history)
    }
}

impl MetricsSource for SqlScheduler {
    fn queues(&mut self) -> Result<Vec<QueueInfo>, SchedulerError> {
        self.read(admin::queues)
    }

    fn pool_drives(&mut self) -> Result<PoolDrives, SchedulerError> {
        self.read(mounts::pool_drives)
    }
}

#[cfg(test)]
mod buffer_tests;
#[cfg(test)]
mod copies_tests;
#[cfg(test)]
mod lifecycle_tests;
#[cfg(test)]
mod owner_tests;
#[cfg(test)]
mod shares_tests;
#[cfg(test)]
mod site_tests;
#[cfg(test)]
mod stage_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod yield_tests;
