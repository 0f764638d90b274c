// @generated automatically by Diesel CLI.

diesel::table! {
    composes (id) {
        id -> Int4,
        owner -> Varchar,
        source_type -> Int4,
        source -> Varchar,
        modular_koji_tags -> Nullable<Varchar>,
        module_defaults_url -> Nullable<Varchar>,
        koji_event -> Nullable<Int8>,
        sigkeys -> Nullable<Varchar>,
        state -> Int4,
        state_reason -> Nullable<Varchar>,
        results -> Int4,
        packages -> Nullable<Varchar>,
        builds -> Nullable<Varchar>,
        flags -> Int4,
        time_to_expire -> Timestamp,
        time_submitted -> Timestamp,
        time_started -> Nullable<Timestamp>,
        time_done -> Nullable<Timestamp>,
        time_removed -> Nullable<Timestamp>,
        removed_by -> Nullable<Varchar>,
        reused_id -> Nullable<Int4>,
        koji_task_id -> Nullable<Int8>,
        arches -> Nullable<Varchar>,
        multilib_arches -> Nullable<Varchar>,
        multilib_method -> Nullable<Int4>,
        lookaside_repos -> Nullable<Varchar>,
        label -> Nullable<Varchar>,
        compose_type -> Nullable<Varchar>,
        pungi_compose_id -> Nullable<Varchar>,
        pungi_config_dump -> Nullable<Varchar>,
        celery_task_id -> Nullable<Varchar>,
        target_dir -> Nullable<Varchar>,
        scratch_modules -> Nullable<Varchar>,
        scratch_build_tasks -> Nullable<Varchar>,
        parent_pungi_compose_ids -> Nullable<Varchar>,
        modules -> Nullable<Varchar>,
        respin_of -> Nullable<Varchar>,
        base_module_br_name -> Nullable<Varchar>,
        base_module_br_stream -> Nullable<Varchar>,
        base_module_br_stream_version_lte -> Nullable<Int8>,
        base_module_br_stream_version_gte -> Nullable<Int8>,
        traceparent -> Nullable<Varchar>,
        worker_id -> Nullable<Varchar>,
        lease_expires_at -> Nullable<Timestamp>,
        dispatched_at -> Nullable<Timestamp>,
        attempts -> Int4,
    }
}

diesel::table! {
    deployment (id) {
        id -> Varchar,
        adopted_up_to -> Nullable<Int8>,
    }
}

diesel::table! {
    messages (id) {
        id -> Int8,
        compose_id -> Int4,
        message_id -> Varchar,
        topic -> Varchar,
        body -> Varchar,
        created_at -> Timestamp,
        published_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    worker_heartbeats (name) {
        name -> Varchar,
        queues -> Varchar,
        concurrency -> Int4,
        started_at -> Timestamp,
        seen_at -> Timestamp,
    }
}

diesel::table! {
    idempotency_keys (owner, key) {
        owner -> Varchar,
        key -> Varchar,
        request_hash -> Varchar,
        compose_id -> Int4,
    }
}
