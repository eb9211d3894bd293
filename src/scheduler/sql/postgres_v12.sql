-- Version 12 (PostgreSQL): as sqlite_v12.sql, the keys changed in place.
CREATE TABLE storage_classes (
    name TEXT PRIMARY KEY,
    copies BIGINT NOT NULL CHECK (copies BETWEEN 1 AND 9)
);
CREATE TABLE routes (
    class TEXT NOT NULL REFERENCES storage_classes(name),
    copy_nb BIGINT NOT NULL,
    pool TEXT NOT NULL REFERENCES tape_pools(name),
    PRIMARY KEY (class, copy_nb),
    UNIQUE (class, pool)
);
ALTER TABLE archive_files ADD COLUMN class TEXT;
ALTER TABLE archive_queue ADD COLUMN copy_nb BIGINT NOT NULL DEFAULT 1;
ALTER TABLE archive_queue DROP CONSTRAINT archive_queue_pkey;
ALTER TABLE archive_queue ADD PRIMARY KEY (file_id, copy_nb);
ALTER TABLE tape_files ADD COLUMN copy_nb BIGINT NOT NULL DEFAULT 1;
ALTER TABLE tape_files DROP CONSTRAINT tape_files_file_id_key;
ALTER TABLE tape_files ADD CONSTRAINT tape_files_copy UNIQUE (file_id, copy_nb);
