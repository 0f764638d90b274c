-- Worker bookkeeping: who holds a generating compose and until when (a lease renewed while it
-- works), and when its job was last handed to the queue.
ALTER TABLE composes ADD COLUMN worker_id VARCHAR;
ALTER TABLE composes ADD COLUMN lease_expires_at TIMESTAMP;
ALTER TABLE composes ADD COLUMN dispatched_at TIMESTAMP;
CREATE INDEX ix_composes_lease_expires_at ON composes (lease_expires_at);

-- The outbox: a state-change message per transition, written in the transition's transaction
-- and deleted by the relay once the broker confirmed it.
CREATE TABLE messages (
    id BIGSERIAL PRIMARY KEY,
    compose_id INTEGER NOT NULL,
    message_id VARCHAR NOT NULL UNIQUE,
    topic VARCHAR NOT NULL,
    body VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX ix_messages_compose_id ON messages (compose_id, id);
