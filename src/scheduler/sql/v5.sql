-- Version 5 (both engines): a recall that failed for a reason that passes
-- (its destination's filesystem full) goes back to the queue, to be tried
-- again no sooner than `not_before`, a limited number of times.
ALTER TABLE recall_queue ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE recall_queue ADD COLUMN not_before DOUBLE PRECISION NOT NULL DEFAULT 0;
DROP VIEW pending_recalls;
CREATE VIEW pending_recalls AS
    SELECT q.id AS recall_id, q.file_id, q.vid, q.fseq, q.destination, q.queued,
           q.staged_dev, q.staged_ino, q.staged_mtime, t.block_id, t.block_size, f.size, f.crc32c,
           q.not_before
    FROM recall_queue q
    JOIN archive_files f ON f.id = q.file_id AND f.state = 'on_tape'
    JOIN tape_files t ON t.file_id = q.file_id AND t.vid = q.vid AND t.fseq = q.fseq
    JOIN tapes tp ON tp.vid = q.vid AND tp.state != 'disabled'
    WHERE q.state = 'queued' AND q.mount_id IS NULL;
