-- Every query over leases also asks for generating composes, which ix_composes_generating_lease
-- serves over the pending rows alone. The index on the whole column only cost each new
-- compose one more index entry.
DROP INDEX ix_composes_lease_expires_at;
