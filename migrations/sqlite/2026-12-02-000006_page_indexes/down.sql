CREATE INDEX ix_composes_lease_expires_at ON composes (lease_expires_at);
DROP INDEX ix_composes_state_id;
CREATE INDEX ix_composes_state ON composes (state);
DROP INDEX ix_composes_source_type_state_id;
CREATE INDEX idx_source_type__state ON composes (source_type, state);
DROP INDEX ix_composes_owner_id;
CREATE INDEX ix_composes_owner ON composes (owner);
