-- Version 8 (SQLite): tapes may be broken (never mounted again), exported
-- (outside the library) or repacking (mounted only by its repack); who
-- set a tape's state, and when, is kept. SQLite cannot change a CHECK in
-- place: the table is rebuilt under its references (checked at commit).
DROP VIEW pending_recalls;
CREATE TABLE tapes_v8 (
    vid TEXT PRIMARY KEY,
    pool TEXT NOT NULL REFERENCES tape_pools(name),
    state TEXT NOT NULL DEFAULT 'active'
        CHECK (state IN ('active', 'full', 'disabled', 'read_only', 'broken', 'exported', 'repacking')),
    reason TEXT,
    capacity INTEGER NOT NULL,
    bytes_used INTEGER NOT NULL DEFAULT 0,
    last_fseq INTEGER NOT NULL DEFAULT 0,
    reclaimed BIGINT NOT NULL DEFAULT 0,
    state_by TEXT,
    state_since DOUBLE PRECISION
);
INSERT INTO tapes_v8 (vid, pool, state, reason, capacity, bytes_used, last_fseq, reclaimed)
    SELECT vid, pool, state, reason, capacity, bytes_used, last_fseq, reclaimed FROM tapes;
DROP TABLE tapes;
ALTER TABLE tapes_v8 RENAME TO tapes;
CREATE VIEW pending_recalls AS
    SELECT q.id AS recall_id, q.file_id, q.vid, q.fseq, q.destination, q.queued,
           q.staged_dev, q.staged_ino, q.staged_mtime, t.block_id, t.block_size, f.size, f.crc32c,
           q.not_before, f.mode, f.uid, f.gid
    FROM recall_queue q
    JOIN archive_files f ON f.id = q.file_id AND f.state = 'on_tape' AND f.deleted IS NULL
    JOIN tape_files t ON t.file_id = q.file_id AND t.vid = q.vid AND t.fseq = q.fseq
    JOIN tapes tp ON tp.vid = q.vid
        AND tp.state NOT IN ('disabled', 'broken', 'exported', 'repacking')
    WHERE q.state = 'queued' AND q.mount_id IS NULL;
