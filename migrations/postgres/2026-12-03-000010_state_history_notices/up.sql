-- The event streams of every API process (server/src/events) must hear of each state-change
-- message as soon as its transaction commits, whichever process or host wrote it, and the
-- compose change notices do not cover new composes. One notice per inserting statement (not per
-- row; and PostgreSQL folds equal notices of one transaction into one) on the
-- `odcs_state_history` channel says "read the history again"; the payload is empty because
-- message ids do not commit in id order, so a reader decides for itself what is new.
CREATE FUNCTION odcs_announce_state_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('odcs_state_history', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER messages_announce_history
    AFTER INSERT ON messages
    FOR EACH STATEMENT EXECUTE FUNCTION odcs_announce_state_history();
