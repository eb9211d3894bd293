-- Version 13 (both engines): a recall that goes from copy to copy, and
-- repack.
--
-- A recall whose copy fails while read (a read error, a checksum that does
-- not match) keeps the reason per copy it tried and goes on with the next
-- good copy; it fails only when every copy has failed, with every reason.
CREATE TABLE recall_failures (
    recall_id BIGINT NOT NULL,
    vid TEXT NOT NULL,
    fseq BIGINT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (recall_id, vid, fseq)
);
-- A repack empties a tape: each live copy on it is read into the repack
-- buffer (a recall marked with the repacked VID) and archived again from
-- there (an archive queue entry whose source is the buffer file); the old
-- copy is replaced by the new one in the transaction that records it.
CREATE TABLE repacks (
    vid TEXT PRIMARY KEY REFERENCES tapes(vid),
    state TEXT NOT NULL,
    to_pool TEXT,
    add_copies BIGINT NOT NULL DEFAULT 0,
    reclaim BIGINT NOT NULL DEFAULT 0,
    files_total BIGINT NOT NULL DEFAULT 0,
    files_done BIGINT NOT NULL DEFAULT 0,
    files_failed BIGINT NOT NULL DEFAULT 0,
    bytes BIGINT NOT NULL DEFAULT 0,
    queued DOUBLE PRECISION NOT NULL,
    started DOUBLE PRECISION,
    ended DOUBLE PRECISION,
    requested_by TEXT,
    state_before TEXT,
    error TEXT
);
-- One row per file of a repack: `queued` (waiting for room in the
-- buffer), `reading` (its recall into `buffer` is queued), `archiving`
-- (in the buffer, its copies queued), `done` or `failed`. A row holds its
-- size of the buffer while `buffer` is set: from before its recall starts
-- until its file is removed.
CREATE TABLE repack_files (
    vid TEXT NOT NULL,
    file_id BIGINT NOT NULL,
    copy_nb BIGINT NOT NULL,
    size BIGINT NOT NULL,
    state TEXT NOT NULL,
    recall_id BIGINT,
    buffer TEXT,
    error TEXT,
    PRIMARY KEY (vid, file_id)
);
CREATE INDEX repack_files_state ON repack_files(vid, state);
ALTER TABLE recall_queue ADD COLUMN repack TEXT;
ALTER TABLE archive_queue ADD COLUMN source TEXT;
ALTER TABLE archive_queue ADD COLUMN repack TEXT;
-- A repack's recalls are served on its tape (which nobody else mounts)
-- and on any tape a user's recall could be.
DROP VIEW pending_recalls;
CREATE VIEW pending_recalls AS
    SELECT q.id AS recall_id, q.file_id, q.vid, q.fseq, q.destination, q.queued,
           q.staged_dev, q.staged_ino, q.staged_mtime, t.block_id, t.block_size, f.size, f.crc32c,
           q.not_before, f.mode, f.uid, f.gid, q.repack
    FROM recall_queue q
    JOIN archive_files f ON f.id = q.file_id AND f.state = 'on_tape' AND f.deleted IS NULL
    JOIN tape_files t ON t.file_id = q.file_id AND t.vid = q.vid AND t.fseq = q.fseq
    JOIN tapes tp ON tp.vid = q.vid
        AND tp.state NOT IN ('disabled', 'broken', 'exported')
        AND (tp.state <> 'repacking' OR q.repack IS NOT NULL)
    WHERE q.state = 'queued' AND q.mount_id IS NULL;
