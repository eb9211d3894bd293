-- Version 6 (both engines): every file belongs to the client (or client
-- group) that archived it: the stager endpoint shows a client its own files
-- and recalls only ('local': the local stagers, and every file archived
-- before this version). A file keeps its source's permission bits and
-- owner, which its recalls restore.
ALTER TABLE archive_files ADD COLUMN owner TEXT NOT NULL DEFAULT 'local';
ALTER TABLE archive_files ADD COLUMN mode BIGINT;
ALTER TABLE archive_files ADD COLUMN uid BIGINT;
ALTER TABLE archive_files ADD COLUMN gid BIGINT;
CREATE INDEX archive_files_owner ON archive_files(owner, id);
DROP VIEW pending_recalls;
CREATE VIEW pending_recalls AS
    SELECT q.id AS recall_id, q.file_id, q.vid, q.fseq, q.destination, q.queued,
           q.staged_dev, q.staged_ino, q.staged_mtime, t.block_id, t.block_size, f.size, f.crc32c,
           q.not_before, f.mode, f.uid, f.gid
    FROM recall_queue q
    JOIN archive_files f ON f.id = q.file_id AND f.state = 'on_tape'
    JOIN tape_files t ON t.file_id = q.file_id AND t.vid = q.vid AND t.fseq = q.fseq
    JOIN tapes tp ON tp.vid = q.vid AND tp.state != 'disabled'
    WHERE q.state = 'queued' AND q.mount_id IS NULL;
