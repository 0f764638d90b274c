-- The beat and the relay look for pending composes in trouble every few seconds: waiting too
-- long, jobs never handed over or to hand over again, leases run out, followers without a
-- lease. Pending composes are few and finished ones many: indexes over exactly those rows keep
-- the queries independent of the table's size (an index on the column alone leaves the planner
-- guessing, and it walks the whole primary key when it guesses wrong). Waiting composes are
-- found by submission time, not by `dispatched_at`: indexing that column would make recording
-- each dispatch rewrite every index of the row.
CREATE INDEX ix_composes_wait_submitted ON composes (time_submitted) WHERE state = 0;
CREATE INDEX ix_composes_generating_lease ON composes (lease_expires_at) WHERE state = 1;
CREATE INDEX ix_composes_generating_unleased ON composes (id)
    WHERE state = 1 AND lease_expires_at IS NULL;
