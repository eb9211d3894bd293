-- Version 8 (PostgreSQL): as sqlite_v8.sql, the CHECK changed in place.
ALTER TABLE tapes DROP CONSTRAINT tapes_state_check;
ALTER TABLE tapes ADD CONSTRAINT tapes_state_check
    CHECK (state IN ('active', 'full', 'disabled', 'read_only', 'broken', 'exported', 'repacking'));
ALTER TABLE tapes ADD COLUMN state_by TEXT;
ALTER TABLE tapes ADD COLUMN state_since DOUBLE PRECISION;
DROP VIEW pending_recalls;
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
