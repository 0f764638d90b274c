-- Each worker process records that it is alive, and which queues it consumes, every few
-- seconds: the API's metrics count the workers alive (the reference's celery_workers_* families,
-- which it got by pinging Celery) and the workers per queue from these rows, with no broker
-- round trip. Rows of workers gone for a day are deleted by the beat.
CREATE TABLE worker_heartbeats (
    name VARCHAR PRIMARY KEY NOT NULL,
    queues VARCHAR NOT NULL,
    concurrency INTEGER NOT NULL,
    started_at TIMESTAMP NOT NULL,
    seen_at TIMESTAMP NOT NULL
);
