//! The SQLite scheduler: the embedded default (WAL, `synchronous=FULL`).
//! Writes take the database lock up front (`BEGIN IMMEDIATE`) so that two
//! processes never deadlock upgrading a read lock.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::*;

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
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self { conn })
    }

    fn write(&mut self) -> Result<rusqlite::Transaction<'_>, SchedulerError> {
        Ok(self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }
}

/// Oldest queued request of each candidate, with its count and bytes.
struct Candidate {
    key: String,
    files: u64,
    bytes: u64,
    oldest: f64,
}

fn worth_mounting(c: &Candidate, criteria: &MountCriteria, now: f64) -> bool {
    c.files >= criteria.min_files
        || c.bytes >= criteria.min_bytes
        || now - c.oldest >= criteria.max_age.as_secs_f64()
}

impl Scheduler for SqliteScheduler {
    fn add_pool(&mut self, name: &str) -> Result<(), SchedulerError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO tape_pools (name) VALUES (?1)",
            [name],
        )?;
        Ok(())
    }

    fn add_tape(&mut self, vid: &str, pool: &str, capacity: u64) -> Result<(), SchedulerError> {
        let tx = self.write()?;
        let pool_known: bool = tx.query_row(
            "SELECT COUNT(*) > 0 FROM tape_pools WHERE name = ?1",
            [pool],
            |r| r.get(0),
        )?;
        if !pool_known {
            return Err(SchedulerError::UnknownPool(pool.into()));
        }
        tx.execute(
            "INSERT OR IGNORE INTO tapes (vid, pool, capacity) VALUES (?1, ?2, ?3)",
            params![vid, pool, capacity],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn queue_archive(
        &mut self,
        files: &[NewArchiveFile],
        pool: &str,
    ) -> Result<Vec<u64>, SchedulerError> {
        let tx = self.write()?;
        let pool_known: bool = tx.query_row(
            "SELECT COUNT(*) > 0 FROM tape_pools WHERE name = ?1",
            [pool],
            |r| r.get(0),
        )?;
        if !pool_known {
            return Err(SchedulerError::UnknownPool(pool.into()));
        }
        let t = now();
        let mut ids = Vec::with_capacity(files.len());
        {
            let mut file = tx.prepare(
                "INSERT INTO archive_files (path, size, pool, state, created) VALUES (?1, ?2, ?3, 'queued', ?4)",
            )?;
            let mut queue = tx.prepare(
                "INSERT INTO archive_queue (file_id, pool, size, queued) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for f in files {
                file.execute(params![f.path, f.size, pool, t])?;
                let id = tx.last_insert_rowid() as u64;
                queue.execute(params![id, pool, f.size, t])?;
                ids.push(id);
            }
        }
        tx.commit()?;
        Ok(ids)
    }

    fn queue_recall(
        &mut self,
        file_id: u64,
        destination: &str,
    ) -> Result<RecallTicket, SchedulerError> {
        let tx = self.write()?;
        let row: Option<(String, Option<String>, Option<u64>)> = tx
            .query_row(
                "SELECT f.state, t.vid, t.fseq FROM archive_files f
                 LEFT JOIN tape_files t ON t.file_id = f.id WHERE f.id = ?1",
                [file_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let (vid, fseq) = match row {
            None => return Err(SchedulerError::UnknownFile(file_id)),
            Some((state, Some(vid), Some(fseq))) if state == "on_tape" => (vid, fseq),
            Some((state, ..)) => return Err(SchedulerError::NotOnTape { id: file_id, state }),
        };
        tx.execute(
            "INSERT INTO recall_queue (file_id, vid, fseq, destination, state, queued) VALUES (?1, ?2, ?3, ?4, 'queued', ?5)",
            params![file_id, vid, fseq, destination, now()],
        )?;
        let recall_id = tx.last_insert_rowid() as u64;
        tx.commit()?;
        Ok(RecallTicket {
            recall_id,
            vid,
            fseq,
        })
    }

    fn next_mount(
        &mut self,
        host: &str,
        drive: &str,
        criteria: &MountCriteria,
    ) -> Result<Option<Mount>, SchedulerError> {
        let tx = self.write()?;
        let t = now();
        let busy: bool = tx.query_row(
            "SELECT COUNT(*) > 0 FROM mounts WHERE host = ?1 AND drive = ?2 AND ended IS NULL",
            params![host, drive],
            |r| r.get(0),
        )?;
        if busy {
            return Ok(None);
        }
        let candidates = |sql: &str| -> Result<Vec<Candidate>, SchedulerError> {
            let mut stmt = tx.prepare(sql)?;
            let rows = stmt.query_map([], |r| {
                Ok(Candidate {
                    key: r.get(0)?,
                    files: r.get(1)?,
                    bytes: r.get(2)?,
                    oldest: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        };
        let recalls = candidates(
            "SELECT q.vid, COUNT(*), COALESCE(SUM(f.size), 0), MIN(q.queued) FROM recall_queue q
             JOIN archive_files f ON f.id = q.file_id JOIN tapes t ON t.vid = q.vid
             WHERE q.state = 'queued' AND q.mount_id IS NULL AND t.state != 'disabled'
               AND q.vid NOT IN (SELECT vid FROM mounts WHERE ended IS NULL)
             GROUP BY q.vid",
        )?;
        let archives = candidates(
            "SELECT pool, COUNT(*), COALESCE(SUM(size), 0), MIN(queued) FROM archive_queue
             WHERE mount_id IS NULL GROUP BY pool",
        )?;
        let mut choices: Vec<(MountKind, &Candidate)> = recalls
            .iter()
            .map(|c| (MountKind::Recall, c))
            .chain(archives.iter().map(|c| (MountKind::Migration, c)))
            .filter(|(_, c)| worth_mounting(c, criteria, t))
            .collect();
        choices.sort_by(|a, b| a.1.oldest.total_cmp(&b.1.oldest));
        for (kind, c) in choices {
            let target: Option<(String, String)> = match kind {
                MountKind::Recall => tx
                    .query_row("SELECT vid, pool FROM tapes WHERE vid = ?1", [&c.key], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?,
                // Fill the fullest tape first so partly used tapes get finished.
                MountKind::Migration => tx
                    .query_row(
                        "SELECT vid, pool FROM tapes WHERE pool = ?1 AND state = 'active' AND bytes_used < capacity
                           AND vid NOT IN (SELECT vid FROM mounts WHERE ended IS NULL)
                         ORDER BY bytes_used DESC, vid LIMIT 1",
                        [&c.key],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?,
            };
            let Some((vid, pool)) = target else { continue };
            tx.execute(
                "INSERT INTO mounts (kind, vid, pool, host, drive, started) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![kind.as_str(), vid, pool, host, drive, t],
            )?;
            let id = tx.last_insert_rowid() as u64;
            tx.commit()?;
            return Ok(Some(Mount {
                id,
                kind,
                vid,
                pool,
            }));
        }
        Ok(None)
    }

    fn fetch_archive_jobs(
        &mut self,
        mount_id: u64,
        max_files: u64,
        max_bytes: u64,
    ) -> Result<Vec<ArchiveJob>, SchedulerError> {
        let tx = self.write()?;
        let pool: Option<String> = tx
            .query_row(
                "SELECT pool FROM mounts WHERE id = ?1 AND ended IS NULL AND kind = 'migration'",
                [mount_id],
                |r| r.get(0),
            )
            .optional()?;
        let Some(pool) = pool else {
            return Ok(Vec::new());
        };
        let mut jobs = Vec::new();
        {
            let mut stmt = tx.prepare(
                "SELECT q.file_id, f.path, f.size FROM archive_queue q JOIN archive_files f ON f.id = q.file_id
                 WHERE q.pool = ?1 AND q.mount_id IS NULL ORDER BY q.file_id LIMIT ?2",
            )?;
            let mut rows = stmt.query(params![pool, max_files])?;
            let mut bytes = 0u64;
            while let Some(r) = rows.next()? {
                let job = ArchiveJob {
                    file_id: r.get(0)?,
                    path: r.get(1)?,
                    size: r.get(2)?,
                };
                if !jobs.is_empty() && bytes + job.size > max_bytes {
                    break;
                }
                bytes += job.size;
                jobs.push(job);
            }
            let mut assign =
                tx.prepare("UPDATE archive_queue SET mount_id = ?1 WHERE file_id = ?2")?;
            for job in &jobs {
                assign.execute(params![mount_id, job.file_id])?;
            }
        }
        tx.commit()?;
        Ok(jobs)
    }

    fn fetch_recall_jobs(
        &mut self,
        mount_id: u64,
        max_files: u64,
        max_bytes: u64,
    ) -> Result<Vec<RecallJob>, SchedulerError> {
        let tx = self.write()?;
        let vid: Option<String> = tx
            .query_row(
                "SELECT vid FROM mounts WHERE id = ?1 AND ended IS NULL AND kind = 'recall'",
                [mount_id],
                |r| r.get(0),
            )
            .optional()?;
        let Some(vid) = vid else {
            return Ok(Vec::new());
        };
        let mut jobs = Vec::new();
        {
            let mut stmt = tx.prepare(
                "SELECT q.id, q.file_id, q.fseq, t.block_id, f.size, f.crc32c, q.destination
                 FROM recall_queue q JOIN archive_files f ON f.id = q.file_id
                 JOIN tape_files t ON t.file_id = q.file_id AND t.vid = q.vid
                 WHERE q.vid = ?1 AND q.state = 'queued' AND q.mount_id IS NULL
                 ORDER BY q.fseq, q.id LIMIT ?2",
            )?;
            let mut rows = stmt.query(params![vid, max_files])?;
            let mut bytes = 0u64;
            while let Some(r) = rows.next()? {
                let job = RecallJob {
                    recall_id: r.get(0)?,
                    file_id: r.get(1)?,
                    fseq: r.get(2)?,
                    block_id: r.get(3)?,
                    size: r.get(4)?,
                    crc32c: r.get::<_, Option<u32>>(5)?.unwrap_or_default(),
                    destination: r.get(6)?,
                };
                if !jobs.is_empty() && bytes + job.size > max_bytes {
                    break;
                }
                bytes += job.size;
                jobs.push(job);
            }
            let mut assign = tx.prepare("UPDATE recall_queue SET mount_id = ?1 WHERE id = ?2")?;
            for job in &jobs {
                assign.execute(params![mount_id, job.recall_id])?;
            }
        }
        tx.commit()?;
        Ok(jobs)
    }

    fn last_file(&mut self, vid: &str) -> Result<Option<LastFile>, SchedulerError> {
        Ok(self
            .conn
            .query_row(
                "SELECT fseq, file_id, block_id FROM tape_files WHERE vid = ?1 ORDER BY fseq DESC LIMIT 1",
                [vid],
                |r| {
                    Ok(LastFile {
                        fseq: r.get(0)?,
                        file_id: r.get(1)?,
                        block_id: r.get(2)?,
                    })
                },
            )
            .optional()?)
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
        failed: &[(u64, String)],
    ) -> Result<(), SchedulerError> {
        let tx = self.write()?;
        {
            let mut owner = tx.prepare("SELECT mount_id FROM archive_queue WHERE file_id = ?1")?;
            for file_id in archived
                .iter()
                .map(|a| a.file_id)
                .chain(failed.iter().map(|f| f.0))
            {
                let mount: Option<Option<u64>> =
                    owner.query_row([file_id], |r| r.get(0)).optional()?;
                if mount != Some(Some(mount_id)) {
                    return Err(SchedulerError::StaleMount { mount_id, file_id });
                }
            }
            let mut tape_file = tx.prepare(
                "INSERT INTO tape_files (file_id, vid, fseq, block_id) VALUES (?1, ?2, ?3, ?4)",
            )?;
            let mut on_tape =
                tx.prepare("UPDATE archive_files SET state = 'on_tape', crc32c = ?2, error = NULL WHERE id = ?1")?;
            let mut dequeue = tx.prepare("DELETE FROM archive_queue WHERE file_id = ?1")?;
            for a in archived {
                tape_file.execute(params![a.file_id, vid, a.fseq, a.block_id])?;
                on_tape.execute(params![a.file_id, a.crc32c])?;
                dequeue.execute([a.file_id])?;
            }
            let mut fail =
                tx.prepare("UPDATE archive_files SET state = 'failed', error = ?2 WHERE id = ?1")?;
            for (file_id, reason) in failed {
                fail.execute(params![file_id, reason])?;
                dequeue.execute([file_id])?;
            }
        }
        if let Some(max_fseq) = archived.iter().map(|a| a.fseq).max() {
            let bytes: u64 = archived.iter().map(|a| a.size).sum();
            tx.execute(
                "UPDATE tapes SET last_fseq = MAX(last_fseq, ?2), bytes_used = bytes_used + ?3 WHERE vid = ?1",
                params![vid, max_fseq, bytes],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn report_recalls(
        &mut self,
        mount_id: u64,
        results: &[(u64, Option<String>)],
    ) -> Result<(), SchedulerError> {
        let tx = self.write()?;
        {
            let mut stmt = tx.prepare(
                "UPDATE recall_queue SET state = ?3, error = ?4 WHERE id = ?1 AND mount_id = ?2 AND state = 'queued'",
            )?;
            for (recall_id, error) in results {
                let state = if error.is_some() { "failed" } else { "done" };
                stmt.execute(params![recall_id, mount_id, state, error])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn requeue_archive(&mut self, mount_id: u64, file_ids: &[u64]) -> Result<(), SchedulerError> {
        let tx = self.write()?;
        {
            let mut stmt = tx.prepare(
                "UPDATE archive_queue SET mount_id = NULL, attempts = attempts + 1 WHERE file_id = ?1 AND mount_id = ?2",
            )?;
            for id in file_ids {
                stmt.execute(params![id, mount_id])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn set_tape_state(
        &mut self,
        vid: &str,
        state: TapeState,
        reason: &str,
    ) -> Result<(), SchedulerError> {
        let n = self.conn.execute(
            "UPDATE tapes SET state = ?2, reason = ?3 WHERE vid = ?1",
            params![vid, state.as_str(), reason],
        )?;
        if n == 0 {
            return Err(SchedulerError::UnknownTape(vid.into()));
        }
        Ok(())
    }

    fn end_mount(&mut self, mount_id: u64) -> Result<(), SchedulerError> {
        let tx = self.write()?;
        tx.execute(
            "UPDATE mounts SET ended = ?2 WHERE id = ?1 AND ended IS NULL",
            params![mount_id, now()],
        )?;
        tx.execute(
            "UPDATE archive_queue SET mount_id = NULL WHERE mount_id = ?1",
            [mount_id],
        )?;
        tx.execute(
            "UPDATE recall_queue SET mount_id = NULL WHERE mount_id = ?1 AND state = 'queued'",
            [mount_id],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn end_mounts_of_drive(&mut self, host: &str, drive: &str) -> Result<Vec<u64>, SchedulerError> {
        let ids: Vec<u64> = {
            let mut stmt = self.conn.prepare(
                "SELECT id FROM mounts WHERE host = ?1 AND drive = ?2 AND ended IS NULL",
            )?;
            let rows = stmt.query_map(params![host, drive], |r| r.get(0))?;
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
        kind: &str,
    ) -> Result<u64, SchedulerError> {
        let tx = self.write()?;
        let (known, busy): (bool, bool) = tx.query_row(
            "SELECT (SELECT COUNT(*) > 0 FROM tapes WHERE vid = ?1),
                    (SELECT COUNT(*) > 0 FROM mounts WHERE ended IS NULL AND (vid = ?1 OR (host = ?2 AND drive = ?3)))",
            params![vid, host, drive],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if !known {
            return Err(SchedulerError::UnknownTape(vid.into()));
        }
        if busy {
            return Err(SchedulerError::TapeBusy(vid.into()));
        }
        let pool: String =
            tx.query_row("SELECT pool FROM tapes WHERE vid = ?1", [vid], |r| r.get(0))?;
        tx.execute(
            "INSERT INTO mounts (kind, vid, pool, host, drive, started) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![kind, vid, pool, host, drive, now()],
        )?;
        let id = tx.last_insert_rowid() as u64;
        tx.commit()?;
        Ok(id)
    }

    fn open_mounts_of_drive(
        &mut self,
        host: &str,
        drive: &str,
    ) -> Result<Vec<(u64, String)>, SchedulerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, vid FROM mounts WHERE host = ?1 AND drive = ?2 AND ended IS NULL ORDER BY id")?;
        let rows = stmt.query_map(params![host, drive], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn reset_tape(&mut self, vid: &str) -> Result<Vec<u64>, SchedulerError> {
        let tx = self.write()?;
        let ids: Vec<u64> = {
            let mut stmt =
                tx.prepare("SELECT file_id FROM tape_files WHERE vid = ?1 ORDER BY fseq")?;
            let rows = stmt.query_map([vid], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        tx.execute(
            "UPDATE archive_files SET state = 'lost', error = ?2 WHERE id IN (SELECT file_id FROM tape_files WHERE vid = ?1)",
            params![vid, format!("tape {vid} was relabelled")],
        )?;
        tx.execute("DELETE FROM tape_files WHERE vid = ?1", [vid])?;
        let n = tx.execute(
            "UPDATE tapes SET last_fseq = 0, bytes_used = 0, state = 'active', reason = NULL WHERE vid = ?1",
            [vid],
        )?;
        if n == 0 {
            return Err(SchedulerError::UnknownTape(vid.into()));
        }
        tx.commit()?;
        Ok(ids)
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

mod queries;

#[cfg(test)]
mod tests;
