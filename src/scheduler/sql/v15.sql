-- Version 15 (both engines): bulk stage requests (the WLCG Tape REST API's
-- STAGE, served by tapegw through the stager protocol) and the pins they
-- hold on disk copies.
--
-- A stage request is kept here, not in a gateway's memory, so that any
-- gateway of a site answers for it and a gateway killed loses nothing.
-- `owner` is the stager client that submitted it (whose files it stages),
-- `requester` who asked through that client (a token's subject): only the
-- same pair sees, cancels, releases or deletes it.
CREATE TABLE stage_requests (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    requester TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    deleted DOUBLE PRECISION
);
-- One row per distinct path of a request. `recall_id` is the recall that
-- brings the file back to its path (shared by requests that stage the
-- same evicted file); NULL when the file was on disk already or could not
-- be staged (`error`). `state` holds what the recall does not say:
-- `completed` (on disk at submission), `failed` (refused at submission),
-- `cancelled`; NULL while the recall decides. The pin holds the disk copy
-- until `pinned_until` unless `released`.
CREATE TABLE stage_files (
    request_id TEXT NOT NULL REFERENCES stage_requests(id),
    path TEXT NOT NULL,
    file_id BIGINT,
    recall_id BIGINT,
    state TEXT,
    error TEXT,
    started DOUBLE PRECISION,
    finished DOUBLE PRECISION,
    pinned_until DOUBLE PRECISION NOT NULL,
    released BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (request_id, path)
);
CREATE INDEX stage_files_file ON stage_files(file_id);
CREATE INDEX stage_files_recall ON stage_files(recall_id);
-- When a recall was taken by a mount (a stage's file STARTED).
ALTER TABLE recall_queue ADD COLUMN started DOUBLE PRECISION;
ALTER TABLE recall_queue ADD COLUMN finished DOUBLE PRECISION;
CREATE INDEX archive_files_path ON archive_files(path, owner);
-- A stage shares the queued recall of the same file to the same path.
CREATE INDEX recall_queue_file ON recall_queue(file_id, state);
