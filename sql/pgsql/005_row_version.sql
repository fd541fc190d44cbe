-- A counter raised by every change of a user or an integration row, so
-- that an update computed from an earlier read fails instead of undoing
-- a change made in between.
ALTER TABLE users ADD COLUMN row_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE integrations ADD COLUMN row_version INTEGER NOT NULL DEFAULT 0;
