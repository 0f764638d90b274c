//! Tells the database, every [`INTERVAL`], that this worker process is alive and which queues
//! it consumes (the `worker_heartbeats` table): the API's metrics count live workers and the
//! workers of each queue from it, as the reference counted Celery workers by pinging them.

use std::time::Duration;

use odcs_common::db::models::WorkerHeartbeat;
use odcs_common::db::{with_conn, DbPool};
use odcs_common::time::now;
use tokio::sync::watch;

/// How often a worker says it is alive (see `WorkerHeartbeat::is_alive`).
pub const INTERVAL: Duration = Duration::from_secs(15);

/// This process's name among the workers sharing the database: host and process id.
pub fn process_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into());
    format!("{host}-{}", std::process::id())
}

/// Beats until `stop` is set, then removes this process's row (it no longer works).
pub async fn run(
    pool: DbPool,
    queues: Vec<String>,
    concurrency: u16,
    mut stop: watch::Receiver<bool>,
) {
    let name = process_name();
    let started_at = now();
    loop {
        let beat = WorkerHeartbeat {
            name: name.clone(),
            queues: queues.join(","),
            concurrency: i32::from(concurrency),
            started_at,
            seen_at: now(),
        };
        if let Err(e) = with_conn(&pool, move |c| Ok(beat.record(c)?)).await {
            tracing::warn!(error = %e, "heartbeat not recorded");
        }
        tokio::select! {
            _ = tokio::time::sleep(INTERVAL) => {}
            _ = stop.wait_for(|stop| *stop) => break,
        }
    }
    let gone = name.clone();
    let _ = with_conn(&pool, move |c| Ok(WorkerHeartbeat::forget(c, &gone)?)).await;
}
