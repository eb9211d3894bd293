-- The scheduler's tables (SQLite). Created if missing at every open.
CREATE TABLE IF NOT EXISTS tape_pools (
    name TEXT PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS tapes (
    vid TEXT PRIMARY KEY,
    pool TEXT NOT NULL REFERENCES tape_pools(name),
    state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'full', 'disabled')),
    reason TEXT,
    capacity INTEGER NOT NULL,
    bytes_used INTEGER NOT NULL DEFAULT 0,
    last_fseq INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS archive_files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    pool TEXT NOT NULL REFERENCES tape_pools(name),
    crc32c INTEGER,
    state TEXT NOT NULL CHECK (state IN ('queued', 'on_tape', 'failed', 'lost')),
    error TEXT,
    created REAL NOT NULL
);
-- One copy per file: a file is never archived twice into the catalogue.
CREATE TABLE IF NOT EXISTS tape_files (
    file_id INTEGER NOT NULL UNIQUE REFERENCES archive_files(id),
    vid TEXT NOT NULL REFERENCES tapes(vid),
    fseq INTEGER NOT NULL,
    block_id INTEGER NOT NULL,
    PRIMARY KEY (vid, fseq)
);
CREATE TABLE IF NOT EXISTS archive_queue (
    file_id INTEGER PRIMARY KEY REFERENCES archive_files(id),
    pool TEXT NOT NULL,
    size INTEGER NOT NULL,
    mount_id INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    queued REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS archive_queue_pool ON archive_queue(pool, mount_id, file_id);
CREATE TABLE IF NOT EXISTS recall_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    file_id INTEGER NOT NULL REFERENCES archive_files(id),
    vid TEXT NOT NULL,
    fseq INTEGER NOT NULL,
    destination TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'done', 'failed')),
    mount_id INTEGER,
    error TEXT,
    queued REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS recall_queue_vid ON recall_queue(state, vid, mount_id, fseq);
CREATE TABLE IF NOT EXISTS mounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    vid TEXT NOT NULL,
    pool TEXT NOT NULL,
    host TEXT NOT NULL,
    drive TEXT NOT NULL,
    started REAL NOT NULL,
    ended REAL
);
-- A tape is never mounted twice, a drive never holds two mounts.
CREATE UNIQUE INDEX IF NOT EXISTS mounts_open_vid ON mounts(vid) WHERE ended IS NULL;
CREATE UNIQUE INDEX IF NOT EXISTS mounts_open_drive ON mounts(host, drive) WHERE ended IS NULL;
