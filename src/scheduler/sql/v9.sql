-- Version 9 (both engines): verification. An operator (or the verify
-- interval) queues a tape for verification; a verify mount, the lowest
-- priority of all, reads its live files (or a sample of them) and checks
-- them block by block and whole against the catalogue. A copy found bad
-- keeps the reason; the tape keeps when it was last verified and how many
-- bad copies that found.
CREATE TABLE verify_requests (
    vid TEXT PRIMARY KEY,
    sample BIGINT NOT NULL DEFAULT 0,
    queued DOUBLE PRECISION NOT NULL,
    requested_by TEXT,
    mount_id BIGINT
);
ALTER TABLE tapes ADD COLUMN last_verified DOUBLE PRECISION;
ALTER TABLE tapes ADD COLUMN verify_errors BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tape_files ADD COLUMN bad TEXT;
