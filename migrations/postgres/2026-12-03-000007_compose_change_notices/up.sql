-- API processes keep the composes they served in memory (server/src/compose_cache.rs) and must
-- hear of every later change, whichever process, host or operator made it. This trigger
-- announces each changed compose id on the `odcs_compose_changed` channel when the change
-- commits. Changes only to the columns the API never shows (leases, dispatch records, attempt
-- counts, trace context) are not announced: workers renew leases all the time. New composes are
-- not announced either: nothing can have kept a compose before it existed.
CREATE FUNCTION odcs_announce_compose_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    internal CONSTANT text[] := ARRAY['worker_id', 'lease_expires_at', 'dispatched_at',
                                      'attempts', 'traceparent', 'celery_task_id'];
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('odcs_compose_changed', OLD.id::text);
    ELSIF to_jsonb(OLD) - internal IS DISTINCT FROM to_jsonb(NEW) - internal THEN
        PERFORM pg_notify('odcs_compose_changed', NEW.id::text);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER composes_announce_change
    AFTER UPDATE OR DELETE ON composes
    FOR EACH ROW EXECUTE FUNCTION odcs_announce_compose_change();
