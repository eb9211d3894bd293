-- Version 7 (both engines): deletion and reclaim. A deleted file keeps its
-- rows, and its copy stays on tape, until its tape is reclaimed: `deleted`
-- is when it was deleted (NULL: live), `deleted_by` who deleted it. It is
-- never recalled again; an operator may undelete it within the recycle
-- retention while its tape has not been reclaimed.
ALTER TABLE archive_files ADD COLUMN deleted DOUBLE PRECISION;
ALTER TABLE archive_files ADD COLUMN deleted_by TEXT;
-- How many times the tape was reclaimed: a reclaimed tape with no file in
-- the catalogue is written again from fSeq 1, over what it held.
ALTER TABLE tapes ADD COLUMN reclaimed BIGINT NOT NULL DEFAULT 0;
CREATE INDEX tape_files_by_file ON tape_files(file_id);
DROP VIEW pending_recalls;
CREATE VIEW pending_recalls AS
    SELECT q.id AS recall_id, q.file_id, q.vid, q.fseq, q.destination, q.queued,
           q.staged_dev, q.staged_ino, q.staged_mtime, t.block_id, t.block_size, f.size, f.crc32c,
           q.not_before, f.mode, f.uid, f.gid
    FROM recall_queue q
    JOIN archive_files f ON f.id = q.file_id AND f.state = 'on_tape' AND f.deleted IS NULL
    JOIN tape_files t ON t.file_id = q.file_id AND t.vid = q.vid AND t.fseq = q.fseq
    JOIN tapes tp ON tp.vid = q.vid AND tp.state != 'disabled'
    WHERE q.state = 'queued' AND q.mount_id IS NULL;
