-- Version 16 (both engines): the disk buffer's bookkeeping.
--
-- `disk_used`: when the file's disk copy was last used (staged back, or
-- found on disk by a stage request); the collector evicts the least
-- recently used first, by this or else the archive time. `evicted`: when
-- its disk copy was evicted (NULL: it is on disk, as far as the catalogue
-- knows). Set before the copy is removed, in the transaction that checks
-- no stage pins it, so a stage request made meanwhile recalls the file
-- rather than pin a copy about to go; cleared when a recall brings the
-- file back to its own path.
ALTER TABLE archive_files ADD COLUMN disk_used DOUBLE PRECISION;
ALTER TABLE archive_files ADD COLUMN evicted DOUBLE PRECISION;
CREATE INDEX archive_files_evictable ON archive_files(state, evicted, disk_used);
