DROP INDEX ix_messages_published_at;
DROP INDEX ix_messages_unpublished;
ALTER TABLE messages DROP COLUMN published_at;
