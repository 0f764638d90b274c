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
ANALYZE composes;
