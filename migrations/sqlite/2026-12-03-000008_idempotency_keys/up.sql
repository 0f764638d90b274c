-- A create sent with an Idempotency-Key header is stored with the key, per owner, in the same
-- transaction as the compose: a retried or concurrent POST with the key finds the compose the
-- first one stored (the primary key lets only one of them in), and the request's hash tells a
-- retry from a different request reusing the key. A key lives as long as its compose row; once
-- the compose is removed, the key may name a new one.
CREATE TABLE idempotency_keys (
    owner VARCHAR NOT NULL,
    key VARCHAR NOT NULL,
    request_hash VARCHAR NOT NULL,
    compose_id INTEGER NOT NULL REFERENCES composes (id) ON DELETE CASCADE,
    PRIMARY KEY (owner, key)
);
CREATE INDEX ix_idempotency_keys_compose_id ON idempotency_keys (compose_id);
