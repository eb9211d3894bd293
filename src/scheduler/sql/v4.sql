-- Version 4 (both engines): the pending part of the archive queue by pool,
-- in age and in id order, so the oldest request and the next batch of a
-- pool are read from the front of an index at any queue length.
CREATE INDEX archive_queue_pending_age ON archive_queue(pool, queued) WHERE mount_id IS NULL;
CREATE INDEX archive_queue_pending_id ON archive_queue(pool, file_id) WHERE mount_id IS NULL;
