//! The SQLite scheduler: the embedded default (WAL, `synchronous=FULL`).
//! Writes take the database lock up front (`BEGIN IMMEDIATE`) so that two
//! processes never deadlock upgrading a read lock. The queues live in
//! `queue`, mounts and tapes in `mounts`, read-only listings in `queries`;
//! schema versions in `migrate`.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, TransactionBehavior};

use super::*;

mod migrate;
mod mounts;
mod queries;
mod queue;

const SCHEMA: &str = include_str!("sqlite/schema.sql");

pub struct SqliteScheduler {
    conn: Connection,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
}

impl SqliteScheduler {
    pub fn open(path: &Path) -> Result<Self, SchedulerError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| SchedulerError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        migrate::upgrade(&mut conn)?;
        Ok(Self { conn })
    }

    fn write(&mut self) -> Result<rusqlite::Transaction<'_>, SchedulerError> {
        Ok(self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }
}

impl Scheduler for SqliteScheduler {
    fn add_pool(&mut self, name: &str) -> Result<(), SchedulerError> {
        mounts::add_pool(&self.conn, name)
    }

    fn add_tape(&mut self, vid: &str, pool: &str, capacity: u64) -> Result<(), SchedulerError> {
        mounts::add_tape(self.write()?, vid, pool, capacity)
    }

    fn queue_archive(
        &mut self,
        files: &[NewArchiveFile],
        pool: &str,
    ) -> Result<Vec<u64>, SchedulerError> {
        queue::queue_archive(self.write()?, files, pool)
    }

    fn queue_recall(
        &mut self,
        file_id: u64,
        destination: &str,
    ) -> Result<RecallTicket, SchedulerError> {
        queue::queue_recall(self.write()?, file_id, destination)
    }

    fn next_mount(
        &mut self,
        host: &str,
        drive: &str,
        criteria: &MountCriteria,
    ) -> Result<Option<Mount>, SchedulerError> {
        mounts::next_mount(self.write()?, host, drive, criteria)
    }

    fn fetch_archive_jobs(
        &mut self,
        mount_id: u64,
        max_files: u64,
        max_bytes: u64,
    ) -> Result<Vec<ArchiveJob>, SchedulerError> {
        queue::fetch_archive_jobs(self.write()?, mount_id, max_files, max_bytes)
    }

    fn fetch_recall_jobs(
        &mut self,
        mount_id: u64,
        max_files: u64,
        max_bytes: u64,
    ) -> Result<Vec<RecallJob>, SchedulerError> {
        queue::fetch_recall_jobs(self.write()?, mount_id, max_files, max_bytes)
    }

    fn last_file(&mut self, vid: &str) -> Result<Option<LastFile>, SchedulerError> {
        queries::last_file(&self.conn, vid)
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
        queue::report_migration(self.write()?, mount_id, vid, archived, failed, limits)
    }

    fn count_attempt(
        &mut self,
        mount_id: u64,
        file_id: u64,
        reason: &str,
        limits: &FileLimits,
    ) -> Result<(), SchedulerError> {
        queue::count_attempt(self.write()?, mount_id, file_id, reason, limits)
    }

    fn stage_recall(
        &mut self,
        mount_id: u64,
        recall_id: u64,
        file: &FileIdentity,
    ) -> Result<(), SchedulerError> {
        queue::stage_recall(self.write()?, mount_id, recall_id, file)
    }

    fn report_recalls(
        &mut self,
        mount_id: u64,
        results: &[(u64, Option<String>)],
    ) -> Result<(), SchedulerError> {
        queue::report_recalls(self.write()?, mount_id, results)
    }

    fn set_tape_state(
        &mut self,
        vid: &str,
        state: TapeState,
        reason: &str,
    ) -> Result<(), SchedulerError> {
        mounts::set_tape_state(&self.conn, vid, state, reason)
    }

    fn end_mount(&mut self, mount_id: u64) -> Result<(), SchedulerError> {
        mounts::end_mount(self.write()?, mount_id, false)
    }

    fn end_empty_mount(&mut self, mount_id: u64) -> Result<(), SchedulerError> {
        mounts::end_mount(self.write()?, mount_id, true)
    }

    fn release_work_of_drive(
        &mut self,
        host: &str,
        drive: &str,
    ) -> Result<Vec<u64>, SchedulerError> {
        mounts::release_work_of_drive(self.write()?, host, drive)
    }

    fn end_mounts_of_drive(&mut self, host: &str, drive: &str) -> Result<Vec<u64>, SchedulerError> {
        let ids: Vec<u64> = {
            let mut stmt = self.conn.prepare(
                "SELECT id FROM mounts WHERE host = ?1 AND drive = ?2 AND ended IS NULL",
            )?;
            let rows = stmt.query_map(rusqlite::params![host, drive], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        for id in &ids {
            self.end_mount(*id)?;
        }
        Ok(ids)
    }

    fn claim_tape(
        &mut self,
        host: &str,
        drive: &str,
        vid: &str,
        kind: MountKind,
    ) -> Result<u64, SchedulerError> {
        mounts::claim_tape(self.write()?, host, drive, vid, kind)
    }

    fn open_mounts(&mut self) -> Result<Vec<OpenMount>, SchedulerError> {
        queries::open_mounts(&self.conn)
    }

    fn reset_tape(&mut self, vid: &str) -> Result<Vec<u64>, SchedulerError> {
        mounts::reset_tape(self.write()?, vid)
    }

    fn file_status(&mut self, ids: &[u64]) -> Result<Vec<FileStatus>, SchedulerError> {
        queries::file_status(&self.conn, ids)
    }

    fn recall_status(&mut self, ids: &[u64]) -> Result<Vec<RecallStatus>, SchedulerError> {
        queries::recall_status(&self.conn, ids)
    }

    fn tapes(&mut self) -> Result<Vec<TapeInfo>, SchedulerError> {
        queries::tapes(&self.conn)
    }

    fn tape_files(&mut self, vid: &str) -> Result<Vec<TapeFile>, SchedulerError> {
        queries::tape_files(&self.conn, vid)
    }
}

#[cfg(test)]
mod tests;
