ALTER TABLE composes DROP COLUMN attempts;
