-- The identity of this deployment's store: compose directories carry it in a marker file, so
-- the beat deletes only directories this deployment created (a target directory shared with
-- another deployment, or a fresh database, never loses composes).
CREATE TABLE deployment (
    id VARCHAR PRIMARY KEY
);
INSERT INTO deployment (id) VALUES (md5(random()::text || clock_timestamp()::text));
