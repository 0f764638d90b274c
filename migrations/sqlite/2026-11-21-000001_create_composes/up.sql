-- The compose store. Column names are the reference ODCS's, so operators and
-- tools that know its schema find the same fields here.
CREATE TABLE composes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner TEXT NOT NULL,
    source_type INTEGER NOT NULL,
    source TEXT NOT NULL,
    modular_koji_tags TEXT,
    module_defaults_url TEXT,
    koji_event BIGINT,
    sigkeys TEXT,
    state INTEGER NOT NULL,
    state_reason TEXT,
    results INTEGER NOT NULL,
    packages TEXT,
    builds TEXT,
    flags INTEGER NOT NULL DEFAULT 0,
    time_to_expire TIMESTAMP NOT NULL,
    time_submitted TIMESTAMP NOT NULL,
    time_started TIMESTAMP,
    time_done TIMESTAMP,
    time_removed TIMESTAMP,
    removed_by TEXT,
    reused_id INTEGER,
    koji_task_id BIGINT,
    arches TEXT,
    multilib_arches TEXT,
    multilib_method INTEGER,
    lookaside_repos TEXT,
    label TEXT,
    compose_type TEXT,
    pungi_compose_id TEXT,
    pungi_config_dump TEXT,
    celery_task_id TEXT,
    target_dir TEXT,
    scratch_modules TEXT,
    scratch_build_tasks TEXT,
    parent_pungi_compose_ids TEXT,
    modules TEXT,
    respin_of TEXT,
    base_module_br_name TEXT,
    base_module_br_stream TEXT,
    base_module_br_stream_version_lte BIGINT,
    base_module_br_stream_version_gte BIGINT,
    traceparent TEXT
);

CREATE INDEX ix_composes_state ON composes (state);
CREATE INDEX ix_composes_time_to_expire ON composes (time_to_expire);
CREATE INDEX idx_source_type__state ON composes (source_type, state);
CREATE INDEX ix_composes_reused_id ON composes (reused_id);
CREATE INDEX ix_composes_owner ON composes (owner);
CREATE INDEX ix_composes_koji_task_id ON composes (koji_task_id);
