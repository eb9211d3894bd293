//! The SQLite scheduler: the embedded default (WAL, `synchronous=FULL`).
//! Writes take the database lock up front (`BEGIN IMMEDIATE`) so that two
//! processes never deadlock upgrading a read lock.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::*;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS tape_pools (
    name TEXT PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS tapes (
    vid TEXT PRIMARY KEY,
    pool TEXT NOT NULL REFERENCES tape_pools(name),
    state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'full', 'disabled')),
    reason TEXT,
    capacity INTEGER NOT NULL,
    bytes_used INTEGER NOT NULL DEFAULT 0,
    last_fseq INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS archive_files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    pool TEXT NOT NULL REFERENCES tape_pools(name),
    crc32c INTEGER,
    state TEXT NOT NULL CHECK (state IN ('queued', 'on_tape', 'failed', 'lost')),
    error TEXT,
    created REAL NOT NULL
);
-- One copy per file: a file is never archived twice into the catalogue.
CREATE TABLE IF NOT EXISTS tape_files (
    file_id INTEGER NOT NULL UNIQUE REFERENCES archive_files(id),
    vid TEXT NOT NULL REFERENCES tapes(vid),
    fseq INTEGER NOT NULL,
    block_id INTEGER NOT NULL,
    PRIMARY KEY (vid, fseq)
);
CREATE TABLE IF NOT EXISTS archive_queue (
    file_id INTEGER PRIMARY KEY REFERENCES archive_files(id),
    pool TEXT NOT NULL,
    size INTEGER NOT NULL,
    mount_id INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    queued REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS archive_queue_pool ON archive_queue(pool, mount_id, file_id);
CREATE TABLE IF NOT EXISTS recall_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    file_id INTEGER NOT NULL REFERENCES archive_files(id),
    vid TEXT NOT NULL,
    fseq INTEGER NOT NULL,
    destination TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'done', 'failed')),
    mount_id INTEGER,
    error TEXT,
    queued REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS recall_queue_vid ON recall_queue(state, vid, mount_id, fseq);
CREATE TABLE IF NOT EXISTS mounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    vid TEXT NOT NULL,
    pool TEXT NOT NULL,
    host TEXT NOT NULL,
    drive TEXT NOT NULL,
    started REAL NOT NULL,
    ended REAL
);
-- A tape is never mounted twice, a drive never holds two mounts.
CREATE UNIQUE INDEX IF NOT EXISTS mounts_open_vid ON mounts(vid) WHERE ended IS NULL;
CREATE UNIQUE INDEX IF NOT EXISTS mounts_open_drive ON mounts(host, drive) WHERE ended IS NULL;
"#;

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
        let sql =
            "SELECT f.id, f.path, f.size, f.state, f.crc32c, t.vid, t.fseq, t.block_id, f.error
                   FROM archive_files f LEFT JOIN tape_files t ON t.file_id = f.id";
        let map = |r: &rusqlite::Row<'_>| {
            Ok(FileStatus {
                id: r.get(0)?,
                path: r.get(1)?,
                size: r.get(2)?,
                state: r.get(3)?,
                crc32c: r.get(4)?,
                vid: r.get(5)?,
                fseq: r.get(6)?,
                block_id: r.get(7)?,
                error: r.get(8)?,
            })
        };
        if ids.is_empty() {
            let mut stmt = self.conn.prepare(&format!("{sql} ORDER BY f.id"))?;
            return Ok(stmt.query_map([], map)?.collect::<Result<_, _>>()?);
        }
        let mut stmt = self.conn.prepare(&format!("{sql} WHERE f.id = ?1"))?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            match stmt.query_row([id], map).optional()? {
                Some(status) => out.push(status),
                None => return Err(SchedulerError::UnknownFile(*id)),
            }
        }
        Ok(out)
    }

    fn recall_status(&mut self, ids: &[u64]) -> Result<Vec<RecallStatus>, SchedulerError> {
        let mut stmt = self.conn.prepare(
            "SELECT q.id, q.file_id, q.destination, q.state, f.size, q.error FROM recall_queue q
             JOIN archive_files f ON f.id = q.file_id WHERE q.id = ?1",
        )?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let status = stmt
                .query_row([id], |r| {
                    Ok(RecallStatus {
                        id: r.get(0)?,
                        file_id: r.get(1)?,
                        destination: r.get(2)?,
                        state: r.get(3)?,
                        size: r.get(4)?,
                        error: r.get(5)?,
                    })
                })
                .optional()?
                .ok_or_else(|| SchedulerError::Invalid(format!("no recall with id {id}")))?;
            out.push(status);
        }
        Ok(out)
    }

    fn tapes(&mut self) -> Result<Vec<TapeInfo>, SchedulerError> {
        let mut stmt = self.conn.prepare(
            "SELECT t.vid, t.pool, t.state, t.capacity, t.bytes_used, t.last_fseq,
                    (SELECT COUNT(*) FROM tape_files f WHERE f.vid = t.vid)
             FROM tapes t ORDER BY t.vid",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(TapeInfo {
                vid: r.get(0)?,
                pool: r.get(1)?,
                state: r.get(2)?,
                capacity: r.get(3)?,
                bytes_used: r.get(4)?,
                last_fseq: r.get(5)?,
                files: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn tape_files(&mut self, vid: &str) -> Result<Vec<TapeFile>, SchedulerError> {
        self.tape(vid)?;
        let mut stmt = self.conn.prepare(
            "SELECT t.fseq, t.block_id, t.file_id, f.size, COALESCE(f.crc32c, 0), f.path
             FROM tape_files t JOIN archive_files f ON f.id = t.file_id WHERE t.vid = ?1 ORDER BY t.fseq",
        )?;
        let rows = stmt.query_map([vid], |r| {
            Ok(TapeFile {
                fseq: r.get(0)?,
                block_id: r.get(1)?,
                file_id: r.get(2)?,
                size: r.get(3)?,
                crc32c: r.get(4)?,
                path: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: MountCriteria = MountCriteria {
        min_files: 1,
        min_bytes: u64::MAX,
        max_age: Duration::from_secs(3600),
    };

    fn scheduler() -> (tempfile::TempDir, SqliteScheduler) {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = SqliteScheduler::open(&tmp.path().join("db/scheduler.db")).unwrap();
        s.add_pool("default").unwrap();
        s.add_tape("V00001", "default", 1 << 40).unwrap();
        s.add_tape("V00002", "default", 1 << 40).unwrap();
        (tmp, s)
    }

    fn files(n: u64) -> Vec<NewArchiveFile> {
        (0..n)
            .map(|i| NewArchiveFile {
                path: format!("/data/f{i}"),
                size: 100 * (i + 1),
            })
            .collect()
    }

    fn archived(jobs: &[ArchiveJob], first_fseq: u64) -> Vec<ArchivedFile> {
        jobs.iter()
            .enumerate()
            .map(|(i, j)| ArchivedFile {
                file_id: j.file_id,
                fseq: first_fseq + i as u64,
                block_id: 1 + 6 * i as u64,
                size: j.size,
                crc32c: 7,
            })
            .collect()
    }

    #[test]
    fn archive_then_recall_round_trip() {
        let (_tmp, mut s) = scheduler();
        let ids = s.queue_archive(&files(3), "default").unwrap();
        assert_eq!(ids.len(), 3);
        let mount = s.next_mount("h", "d0", &NOW).unwrap().unwrap();
        assert_eq!(mount.kind, MountKind::Migration);
        let jobs = s.fetch_archive_jobs(mount.id, 10, u64::MAX).unwrap();
        assert_eq!(jobs.iter().map(|j| j.file_id).collect::<Vec<_>>(), ids);
        s.report_migration(mount.id, &mount.vid, &archived(&jobs, 1), &[])
            .unwrap();
        s.end_mount(mount.id).unwrap();
        let status = s.file_status(&ids).unwrap();
        assert!(
            status
                .iter()
                .all(|f| f.state == "on_tape" && f.vid.as_deref() == Some(mount.vid.as_str()))
        );
        assert_eq!(s.last_file(&mount.vid).unwrap().unwrap().fseq, 3);
        assert_eq!(s.tape(&mount.vid).unwrap().bytes_used, 600);

        let ticket = s.queue_recall(ids[1], "/data/back").unwrap();
        assert_eq!((ticket.vid.as_str(), ticket.fseq), (mount.vid.as_str(), 2));
        let mount = s.next_mount("h", "d1", &NOW).unwrap().unwrap();
        assert_eq!(mount.kind, MountKind::Recall);
        let jobs = s.fetch_recall_jobs(mount.id, 10, u64::MAX).unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].crc32c, 7);
        s.report_recalls(mount.id, &[(jobs[0].recall_id, None)])
            .unwrap();
        assert_eq!(
            s.recall_status(&[ticket.recall_id]).unwrap()[0].state,
            "done"
        );
    }

    #[test]
    fn a_tape_is_never_mounted_twice() {
        let (_tmp, mut s) = scheduler();
        s.queue_archive(&files(2), "default").unwrap();
        let m1 = s.next_mount("h", "d0", &NOW).unwrap().unwrap();
        // The queue still has unassigned work: the second drive gets the other tape.
        let m2 = s.next_mount("h", "d1", &NOW).unwrap().unwrap();
        assert_ne!(m1.vid, m2.vid);
        // No tape left in the pool.
        assert_eq!(s.next_mount("h", "d2", &NOW).unwrap(), None);
        // A drive with an open mount gets nothing more.
        assert_eq!(s.next_mount("h", "d0", &NOW).unwrap(), None);
    }

    #[test]
    fn bulk_limits_files_and_bytes() {
        let (_tmp, mut s) = scheduler();
        s.queue_archive(&files(10), "default").unwrap();
        let m = s.next_mount("h", "d0", &NOW).unwrap().unwrap();
        assert_eq!(s.fetch_archive_jobs(m.id, 3, u64::MAX).unwrap().len(), 3);
        // 400 + 500 > 600: only one; at least one even if it alone is too big.
        assert_eq!(s.fetch_archive_jobs(m.id, 10, 600).unwrap().len(), 1);
        assert_eq!(s.fetch_archive_jobs(m.id, 10, 1).unwrap().len(), 1);
    }

    #[test]
    fn mount_criteria_hold_back_small_queues() {
        let (_tmp, mut s) = scheduler();
        s.queue_archive(&files(2), "default").unwrap();
        let strict = MountCriteria {
            min_files: 3,
            min_bytes: 1 << 30,
            max_age: Duration::from_secs(3600),
        };
        assert_eq!(s.next_mount("h", "d0", &strict).unwrap(), None);
        let old_enough = MountCriteria {
            max_age: Duration::ZERO,
            ..strict
        };
        assert!(s.next_mount("h", "d0", &old_enough).unwrap().is_some());
    }

    #[test]
    fn ended_mount_requeues_unreported_work() {
        let (_tmp, mut s) = scheduler();
        let ids = s.queue_archive(&files(4), "default").unwrap();
        let m = s.next_mount("h", "d0", &NOW).unwrap().unwrap();
        let jobs = s.fetch_archive_jobs(m.id, 10, u64::MAX).unwrap();
        s.report_migration(
            m.id,
            &m.vid,
            &archived(&jobs[..2], 1),
            &[(jobs[2].file_id, "vanished".into())],
        )
        .unwrap();
        assert_eq!(s.end_mounts_of_drive("h", "d0").unwrap(), vec![m.id]);
        let states: Vec<String> = s
            .file_status(&ids)
            .unwrap()
            .into_iter()
            .map(|f| f.state)
            .collect();
        assert_eq!(states, ["on_tape", "on_tape", "failed", "queued"]);
        // A late report from the dead session is refused: no double archiving.
        let late = archived(&jobs[3..], 3);
        assert!(matches!(
            s.report_migration(m.id, &m.vid, &late, &[]),
            Err(SchedulerError::StaleMount { .. })
        ));
        let m2 = s.next_mount("h", "d0", &NOW).unwrap().unwrap();
        assert_eq!(m2.vid, m.vid, "the partly used tape is filled first");
        let jobs = s.fetch_archive_jobs(m2.id, 10, u64::MAX).unwrap();
        assert_eq!(
            jobs.iter().map(|j| j.file_id).collect::<Vec<_>>(),
            vec![ids[3]]
        );
    }

    #[test]
    fn recall_of_unknown_or_queued_file_is_refused() {
        let (_tmp, mut s) = scheduler();
        assert!(matches!(
            s.queue_recall(42, "/x"),
            Err(SchedulerError::UnknownFile(42))
        ));
        let ids = s.queue_archive(&files(1), "default").unwrap();
        assert!(matches!(
            s.queue_recall(ids[0], "/x"),
            Err(SchedulerError::NotOnTape { .. })
        ));
        assert!(matches!(
            s.file_status(&[99]),
            Err(SchedulerError::UnknownFile(99))
        ));
        assert!(matches!(
            s.queue_archive(&files(1), "nopool"),
            Err(SchedulerError::UnknownPool(_))
        ));
    }

    #[test]
    fn disabled_or_full_tapes_are_not_mounted() {
        let (_tmp, mut s) = scheduler();
        s.set_tape_state("V00001", TapeState::Disabled, "test")
            .unwrap();
        s.set_tape_state("V00002", TapeState::Full, "test").unwrap();
        s.queue_archive(&files(1), "default").unwrap();
        assert_eq!(s.next_mount("h", "d0", &NOW).unwrap(), None);
    }

    #[test]
    fn claimed_tape_is_not_mounted_and_reset_marks_files_lost() {
        let (_tmp, mut s) = scheduler();
        let ids = s.queue_archive(&files(2), "default").unwrap();
        let m = s.next_mount("h", "d0", &NOW).unwrap().unwrap();
        let jobs = s.fetch_archive_jobs(m.id, 10, u64::MAX).unwrap();
        s.report_migration(m.id, &m.vid, &archived(&jobs, 1), &[])
            .unwrap();
        assert!(matches!(
            s.claim_tape("h", "d1", &m.vid, "label"),
            Err(SchedulerError::TapeBusy(_))
        ));
        s.end_mount(m.id).unwrap();
        let claim = s.claim_tape("h", "d1", &m.vid, "label").unwrap();
        assert_eq!(
            s.open_mounts_of_drive("h", "d1").unwrap(),
            vec![(claim, m.vid.clone())]
        );
        assert_eq!(s.reset_tape(&m.vid).unwrap(), ids);
        assert!(
            s.file_status(&ids)
                .unwrap()
                .iter()
                .all(|f| f.state == "lost" && f.vid.is_none())
        );
        let tape = s.tape(&m.vid).unwrap();
        assert_eq!((tape.files, tape.last_fseq, tape.bytes_used), (0, 0, 0));
        assert!(matches!(
            s.claim_tape("h", "d2", "NOPE", "label"),
            Err(SchedulerError::UnknownTape(_))
        ));
    }

    #[test]
    fn two_connections_share_the_queue() {
        let (tmp, mut s) = scheduler();
        let mut other = SqliteScheduler::open(&tmp.path().join("db/scheduler.db")).unwrap();
        let ids = s.queue_archive(&files(1), "default").unwrap();
        assert_eq!(other.file_status(&ids).unwrap()[0].state, "queued");
    }
}
