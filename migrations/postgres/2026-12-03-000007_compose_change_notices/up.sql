-- API processes keep the composes they served in memory (server/src/compose_cache.rs) and must
-- hear of every later change, whichever process, host or operator made it. This trigger
-- announces each changed compose id on the `odcs_compose_changed` channel when the change
-- commits.
--
-- It fires for updates that set a column the API shows (`db::view::compose_json`); a new such
-- column must be added to the list. Updates of the columns the API never shows (worker_id,
-- lease_expires_at, dispatched_at, attempts, traceparent, celery_task_id) fire nothing: workers
-- renew leases and the frontend records dispatches all the time, and a trigger costs each
-- such row about as much again as the update itself. New composes are not announced either:
-- nothing can have kept a compose before it existed.
CREATE FUNCTION odcs_announce_compose_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('odcs_compose_changed', OLD.id::text);
    ELSE
        PERFORM pg_notify('odcs_compose_changed', NEW.id::text);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER composes_announce_change
    AFTER UPDATE OF id, owner, source_type, source, modular_koji_tags, module_defaults_url,
        koji_event, sigkeys, state, state_reason, results, packages, builds, flags,
        time_to_expire, time_submitted, time_started, time_done, time_removed, removed_by,
        reused_id, koji_task_id, arches, multilib_arches, multilib_method, lookaside_repos, label,
        compose_type, pungi_compose_id, pungi_config_dump, target_dir, scratch_modules,
        scratch_build_tasks, parent_pungi_compose_ids, modules, respin_of, base_module_br_name,
        base_module_br_stream, base_module_br_stream_version_lte,
        base_module_br_stream_version_gte
    OR DELETE ON composes
    FOR EACH ROW EXECUTE FUNCTION odcs_announce_compose_change();
