-- Version 2: retry bookkeeping per file (attempts, end of medium, the
-- mount that last failed it), block size per tape file, the file a recall
-- staged, empty and fetching mounts, and the one definition of pending work
-- that mount selection and fetching share.
ALTER TABLE archive_queue ADD COLUMN last_error TEXT;
ALTER TABLE archive_queue ADD COLUMN end_of_medium INTEGER NOT NULL DEFAULT 0;
ALTER TABLE archive_queue ADD COLUMN last_mount_id INTEGER;
ALTER TABLE tape_files ADD COLUMN block_size INTEGER;
ALTER TABLE recall_queue ADD COLUMN staged_dev INTEGER;
ALTER TABLE recall_queue ADD COLUMN staged_ino INTEGER;
ALTER TABLE recall_queue ADD COLUMN staged_mtime INTEGER;
ALTER TABLE mounts ADD COLUMN empty INTEGER NOT NULL DEFAULT 0;
-- Set by the mount's first fetch: until then its queue gets no other mount.
ALTER TABLE mounts ADD COLUMN fetched INTEGER NOT NULL DEFAULT 0;
CREATE INDEX mounts_by_queue ON mounts(kind, pool, vid, id);
-- Work a new mount may take: queued, unassigned, and its file queued too.
CREATE VIEW pending_archives AS
    SELECT q.file_id, q.pool, q.size, q.queued, q.last_mount_id, f.path
    FROM archive_queue q JOIN archive_files f ON f.id = q.file_id
    WHERE q.mount_id IS NULL AND f.state = 'queued';
-- Recalls a new mount may take: queued, unassigned, the file still on the
-- tape the recall names, and the tape not disabled.
CREATE VIEW pending_recalls AS
    SELECT q.id AS recall_id, q.file_id, q.vid, q.fseq, q.destination, q.queued,
           q.staged_dev, q.staged_ino, q.staged_mtime, t.block_id, t.block_size, f.size, f.crc32c
    FROM recall_queue q
    JOIN archive_files f ON f.id = q.file_id AND f.state = 'on_tape'
    JOIN tape_files t ON t.file_id = q.file_id AND t.vid = q.vid AND t.fseq = q.fseq
    JOIN tapes tp ON tp.vid = q.vid AND tp.state != 'disabled'
    WHERE q.state = 'queued' AND q.mount_id IS NULL;
