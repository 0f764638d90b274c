-- State-change messages stay after the relay has published them, as each compose's state
-- history (the events a client can replay); the beat deletes those published longer than
-- `message_retention_seconds` ago. The relay reads only what it has not published yet, from
-- an index over those rows alone.
ALTER TABLE messages ADD COLUMN published_at TIMESTAMP;
CREATE INDEX ix_messages_unpublished ON messages (id) WHERE published_at IS NULL;
CREATE INDEX ix_messages_published_at ON messages (published_at) WHERE published_at IS NOT NULL;
