-- How many times workers have started generating a compose: a transient failure puts it back
-- in the queue until this reaches max_attempts, then it fails for good.
ALTER TABLE composes ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
