-- Version 14 (both engines): a verification that yields. A verify mount
-- pre-empted by user work records what it found so far and where it got
-- to; the next verify mount of the tape goes on after that fSeq, with the
-- same sample, and the tape's error count sums both.
ALTER TABLE verify_requests ADD COLUMN resume_fseq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE verify_requests ADD COLUMN seed BIGINT;
ALTER TABLE verify_requests ADD COLUMN errors BIGINT NOT NULL DEFAULT 0;
