-- :n composes (psql -v n=10000) spread over states, source types and owners, like a busy
-- instance.
INSERT INTO composes (owner, source_type, source, state, state_reason, results, flags,
                      time_to_expire, time_submitted, time_started, time_done, arches,
                      multilib_arches, multilib_method, lookaside_repos, sigkeys, compose_type,
                      target_dir, koji_event)
SELECT 'user' || (i % 50),
       1 + (i % 7),
       'f' || (30 + i % 12) || '-build',
       (ARRAY[0, 1, 2, 3, 4])[1 + (i % 5)],
       'Compose is generated successfully',
       1, 0,
       now() + interval '1 day', now() - (i || ' seconds')::interval,
       now() - (i || ' seconds')::interval, now(),
       'x86_64', '', 0, '', 'FD431D51', 'test', '/srv/odcs', 1000000 + i
FROM generate_series(1, :n) AS i;
-- Pending composes as on a healthy instance: the waiting ones recently submitted and handed to
-- a queue, the generating ones under a running lease, so the server's beat, relay and
-- in-process workers have nothing to catch up on while the API is measured.
UPDATE composes SET time_submitted = now(), dispatched_at = now() WHERE state = 0;
UPDATE composes SET worker_id = 'bench', lease_expires_at = now() + interval '1 hour'
 WHERE state = 1;
-- As autovacuum would have by now: statistics, and a visibility map for index-only counts.
VACUUM ANALYZE composes;
-- And as the checkpointer would have: the rows just written are on disk, so flushing them does
-- not share the cores with the first measurements.
CHECKPOINT;
