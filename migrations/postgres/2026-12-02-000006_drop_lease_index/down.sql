CREATE INDEX ix_composes_lease_expires_at ON composes (lease_expires_at);
