-- Version 3: tapes may be read-only; per-pool counters of pending
-- archives (mount choice must not count a million rows); drive leases
-- (a server that stops renewing them is presumed dead and its mounts are
-- closed by another); indexes for the oldest pending request and for
-- counting mounts per tape.
DROP VIEW pending_archives;
DROP VIEW pending_recalls;
CREATE TABLE tapes_v3 (
    vid TEXT PRIMARY KEY,
    pool TEXT NOT NULL REFERENCES tape_pools(name),
    state TEXT NOT NULL DEFAULT 'active'
        CHECK (state IN ('active', 'full', 'disabled', 'read_only')),
    reason TEXT,
    capacity INTEGER NOT NULL,
    bytes_used INTEGER NOT NULL DEFAULT 0,
    last_fseq INTEGER NOT NULL DEFAULT 0
);
INSERT INTO tapes_v3 (vid, pool, state, reason, capacity, bytes_used, last_fseq)
    SELECT vid, pool, state, reason, capacity, bytes_used, last_fseq FROM tapes;
DROP TABLE tapes;
ALTER TABLE tapes_v3 RENAME TO tapes;
CREATE VIEW pending_archives AS
    SELECT q.file_id, q.pool, q.size, q.queued, q.last_mount_id, f.path
    FROM archive_queue q JOIN archive_files f ON f.id = q.file_id
    WHERE q.mount_id IS NULL AND f.state = 'queued';
CREATE VIEW pending_recalls AS
    SELECT q.id AS recall_id, q.file_id, q.vid, q.fseq, q.destination, q.queued,
           q.staged_dev, q.staged_ino, q.staged_mtime, t.block_id, t.block_size, f.size, f.crc32c
    FROM recall_queue q
    JOIN archive_files f ON f.id = q.file_id AND f.state = 'on_tape'
    JOIN tape_files t ON t.file_id = q.file_id AND t.vid = q.vid AND t.fseq = q.fseq
    JOIN tapes tp ON tp.vid = q.vid AND tp.state != 'disabled'
    WHERE q.state = 'queued' AND q.mount_id IS NULL;
CREATE TABLE archive_pending (
    pool TEXT PRIMARY KEY,
    files INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0
);
INSERT INTO archive_pending (pool, files, bytes)
    SELECT pool, COUNT(*), SUM(size) FROM pending_archives GROUP BY pool;
CREATE INDEX archive_queue_age ON archive_queue(pool, mount_id, queued);
CREATE INDEX recall_queue_mount ON recall_queue(mount_id);
CREATE INDEX archive_queue_mount ON archive_queue(mount_id);
CREATE INDEX mounts_by_vid ON mounts(vid, kind);
CREATE TABLE drive_leases (
    host TEXT NOT NULL,
    drive TEXT NOT NULL,
    expires REAL NOT NULL,
    PRIMARY KEY (host, drive)
);
