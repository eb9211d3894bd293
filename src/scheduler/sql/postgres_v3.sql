-- The scheduler's tables (PostgreSQL), created at schema version 3: the
-- same tables, views and constraints as the SQLite catalogue at that
-- version. Integers are BIGINT, times seconds since the epoch.
CREATE TABLE tape_pools (
    name TEXT PRIMARY KEY
);
CREATE TABLE tapes (
    vid TEXT PRIMARY KEY,
    pool TEXT NOT NULL REFERENCES tape_pools(name),
    state TEXT NOT NULL DEFAULT 'active'
        CHECK (state IN ('active', 'full', 'disabled', 'read_only')),
    reason TEXT,
    capacity BIGINT NOT NULL,
    bytes_used BIGINT NOT NULL DEFAULT 0,
    last_fseq BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE archive_files (
    id BIGSERIAL PRIMARY KEY,
    path TEXT NOT NULL,
    size BIGINT NOT NULL,
    pool TEXT NOT NULL REFERENCES tape_pools(name),
    crc32c BIGINT,
    state TEXT NOT NULL CHECK (state IN ('queued', 'on_tape', 'failed', 'lost')),
    error TEXT,
    created DOUBLE PRECISION NOT NULL
);
-- One copy per file: a file is never archived twice into the catalogue.
CREATE TABLE tape_files (
    file_id BIGINT NOT NULL UNIQUE REFERENCES archive_files(id),
    vid TEXT NOT NULL REFERENCES tapes(vid),
    fseq BIGINT NOT NULL,
    block_id BIGINT NOT NULL,
    block_size BIGINT,
    PRIMARY KEY (vid, fseq)
);
CREATE TABLE archive_queue (
    file_id BIGINT PRIMARY KEY REFERENCES archive_files(id),
    pool TEXT NOT NULL,
    size BIGINT NOT NULL,
    mount_id BIGINT,
    attempts BIGINT NOT NULL DEFAULT 0,
    queued DOUBLE PRECISION NOT NULL,
    last_error TEXT,
    end_of_medium BIGINT NOT NULL DEFAULT 0,
    last_mount_id BIGINT
);
CREATE INDEX archive_queue_pool ON archive_queue(pool, mount_id, file_id);
CREATE INDEX archive_queue_age ON archive_queue(pool, mount_id, queued);
CREATE INDEX archive_queue_mount ON archive_queue(mount_id);
CREATE TABLE recall_queue (
    id BIGSERIAL PRIMARY KEY,
    file_id BIGINT NOT NULL REFERENCES archive_files(id),
    vid TEXT NOT NULL,
    fseq BIGINT NOT NULL,
    destination TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'done', 'failed')),
    mount_id BIGINT,
    error TEXT,
    queued DOUBLE PRECISION NOT NULL,
    staged_dev BIGINT,
    staged_ino BIGINT,
    staged_mtime BIGINT
);
CREATE INDEX recall_queue_vid ON recall_queue(state, vid, mount_id, fseq);
CREATE INDEX recall_queue_mount ON recall_queue(mount_id);
CREATE TABLE mounts (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    vid TEXT NOT NULL,
    pool TEXT NOT NULL,
    host TEXT NOT NULL,
    drive TEXT NOT NULL,
    started DOUBLE PRECISION NOT NULL,
    ended DOUBLE PRECISION,
    empty BIGINT NOT NULL DEFAULT 0,
    -- Set by the mount's first fetch: until then its queue gets no other mount.
    fetched BIGINT NOT NULL DEFAULT 0
);
-- A tape is never mounted twice, a drive never holds two mounts.
CREATE UNIQUE INDEX mounts_open_vid ON mounts(vid) WHERE ended IS NULL;
CREATE UNIQUE INDEX mounts_open_drive ON mounts(host, drive) WHERE ended IS NULL;
CREATE INDEX mounts_by_queue ON mounts(kind, pool, vid, id);
CREATE INDEX mounts_by_vid ON mounts(vid, kind);
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
    files BIGINT NOT NULL DEFAULT 0,
    bytes BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE drive_leases (
    host TEXT NOT NULL,
    drive TEXT NOT NULL,
    expires DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (host, drive)
);
