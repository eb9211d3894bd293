-- Version 12 (SQLite): storage classes and several copies. A class asks
-- for N copies; its routes send copy n to pool P (two copies never share
-- a pool, so never a cartridge). A file keeps its class; each copy is its
-- own queue entry (file, copy) and its own tape entry, and the file is on
-- tape only once every copy is. The queue and the copies are rebuilt with
-- their new keys (SQLite changes no key in place).
CREATE TABLE storage_classes (
    name TEXT PRIMARY KEY,
    copies INTEGER NOT NULL CHECK (copies BETWEEN 1 AND 9)
);
CREATE TABLE routes (
    class TEXT NOT NULL REFERENCES storage_classes(name),
    copy_nb INTEGER NOT NULL,
    pool TEXT NOT NULL REFERENCES tape_pools(name),
    PRIMARY KEY (class, copy_nb),
    UNIQUE (class, pool)
);
ALTER TABLE archive_files ADD COLUMN class TEXT;
DROP VIEW pending_archives;
DROP VIEW pending_recalls;
CREATE TABLE archive_queue_v12 (
    file_id INTEGER NOT NULL REFERENCES archive_files(id),
    copy_nb INTEGER NOT NULL DEFAULT 1,
    pool TEXT NOT NULL,
    size INTEGER NOT NULL,
    mount_id INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    queued REAL NOT NULL,
    last_error TEXT,
    end_of_medium INTEGER NOT NULL DEFAULT 0,
    last_mount_id INTEGER,
    PRIMARY KEY (file_id, copy_nb)
);
INSERT INTO archive_queue_v12 (file_id, copy_nb, pool, size, mount_id, attempts, queued,
                               last_error, end_of_medium, last_mount_id)
    SELECT file_id, 1, pool, size, mount_id, attempts, queued, last_error, end_of_medium,
           last_mount_id FROM archive_queue;
DROP TABLE archive_queue;
ALTER TABLE archive_queue_v12 RENAME TO archive_queue;
CREATE INDEX archive_queue_pool ON archive_queue(pool, mount_id, file_id);
CREATE INDEX archive_queue_age ON archive_queue(pool, mount_id, queued);
CREATE INDEX archive_queue_mount ON archive_queue(mount_id);
CREATE INDEX archive_queue_pending_age ON archive_queue(pool, queued) WHERE mount_id IS NULL;
CREATE INDEX archive_queue_pending_id ON archive_queue(pool, file_id) WHERE mount_id IS NULL;
CREATE TABLE tape_files_v12 (
    file_id INTEGER NOT NULL REFERENCES archive_files(id),
    vid TEXT NOT NULL REFERENCES tapes(vid),
    fseq INTEGER NOT NULL,
    block_id INTEGER NOT NULL,
    block_size INTEGER,
    bad TEXT,
    copy_nb INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (vid, fseq),
    UNIQUE (file_id, copy_nb)
);
INSERT INTO tape_files_v12 (file_id, vid, fseq, block_id, block_size, bad, copy_nb)
    SELECT file_id, vid, fseq, block_id, block_size, bad, 1 FROM tape_files;
DROP TABLE tape_files;
ALTER TABLE tape_files_v12 RENAME TO tape_files;
CREATE INDEX tape_files_by_file ON tape_files(file_id);
CREATE VIEW pending_archives AS
    SELECT q.file_id, q.pool, q.size, q.queued, q.last_mount_id, f.path
    FROM archive_queue q JOIN archive_files f ON f.id = q.file_id
    WHERE q.mount_id IS NULL AND f.state = 'queued';
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
