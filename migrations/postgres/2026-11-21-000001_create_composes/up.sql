-- The compose store. Column names are the reference ODCS's, so operators and
-- tools that know its schema find the same fields here.
CREATE TABLE composes (
    id SERIAL PRIMARY KEY,
    owner VARCHAR NOT NULL,
    source_type INTEGER NOT NULL,
    source VARCHAR NOT NULL,
    modular_koji_tags VARCHAR,
    module_defaults_url VARCHAR,
    koji_event BIGINT,
    sigkeys VARCHAR,
    state INTEGER NOT NULL,
    state_reason VARCHAR,
    results INTEGER NOT NULL,
    packages VARCHAR,
    builds VARCHAR,
    flags INTEGER NOT NULL DEFAULT 0,
    time_to_expire TIMESTAMP NOT NULL,
    time_submitted TIMESTAMP NOT NULL,
    time_started TIMESTAMP,
    time_done TIMESTAMP,
    time_removed TIMESTAMP,
    removed_by VARCHAR,
    reused_id INTEGER,
    koji_task_id BIGINT,
    arches VARCHAR,
    multilib_arches VARCHAR,
    multilib_method INTEGER,
    lookaside_repos VARCHAR,
    label VARCHAR,
    compose_type VARCHAR,
    pungi_compose_id VARCHAR,
    pungi_config_dump VARCHAR,
    celery_task_id VARCHAR,
    target_dir VARCHAR,
    scratch_modules VARCHAR,
    scratch_build_tasks VARCHAR,
    parent_pungi_compose_ids VARCHAR,
    modules VARCHAR,
    respin_of VARCHAR,
    base_module_br_name VARCHAR,
    base_module_br_stream VARCHAR,
    base_module_br_stream_version_lte BIGINT,
    base_module_br_stream_version_gte BIGINT,
    traceparent VARCHAR
);

CREATE INDEX ix_composes_state ON composes (state);
CREATE INDEX ix_composes_time_to_expire ON composes (time_to_expire);
CREATE INDEX idx_source_type__state ON composes (source_type, state);
CREATE INDEX ix_composes_reused_id ON composes (reused_id);
CREATE INDEX ix_composes_owner ON composes (owner);
CREATE INDEX ix_composes_koji_task_id ON composes (koji_task_id);
