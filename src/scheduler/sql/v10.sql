-- Version 10 (both engines): media generations. A tape's media type (its
-- volume tag's suffix: L7, M8, L8, L9, LA...; NULL: unknown, any drive)
-- and each drive's LTO generation (kept with its lease; NULL: unknown) let
-- the scheduler offer a drive only the tapes it can read (recall, verify)
-- or write (migration).
ALTER TABLE tapes ADD COLUMN media TEXT;
ALTER TABLE drive_leases ADD COLUMN model TEXT;
