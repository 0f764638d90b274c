DROP TABLE messages;
DROP INDEX ix_composes_lease_expires_at;
ALTER TABLE composes DROP COLUMN dispatched_at;
ALTER TABLE composes DROP COLUMN lease_expires_at;
ALTER TABLE composes DROP COLUMN worker_id;
