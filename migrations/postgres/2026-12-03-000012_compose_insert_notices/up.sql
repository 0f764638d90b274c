-- API processes keep the list pages they served in memory (server/src/page_cache.rs); a new
-- compose can belong on any of them, and the compose change notices (compose_change_notices)
-- leave inserts out. One notice per inserting statement (not per row: creates are stored in
-- batches, and PostgreSQL folds a transaction's equal notices into one) on the
-- `odcs_compose_changed` channel, payload `inserted`, tells every frontend to forget its pages.
CREATE FUNCTION odcs_announce_compose_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('odcs_compose_changed', 'inserted');
    RETURN NULL;
END
$$;

CREATE TRIGGER composes_announce_insert
    AFTER INSERT ON composes
    FOR EACH STATEMENT EXECUTE FUNCTION odcs_announce_compose_insert();
