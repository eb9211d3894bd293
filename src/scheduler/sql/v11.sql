-- Version 11 (both engines): import and export. An exported tape keeps
-- the storage slot it came from and the state it had, so an import puts
-- it back where it was, as it was.
ALTER TABLE tapes ADD COLUMN home_slot BIGINT;
ALTER TABLE tapes ADD COLUMN state_before_export TEXT;
