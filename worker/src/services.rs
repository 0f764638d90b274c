//! The long-running services, shared by `odcs-worker` and the standalone server: the beat
//! loop, the relay, and the workers, each stopping when told to.

use std::sync::Arc;
use std::time::Duration;

use odcs_common::config::Config;
use odcs_common::db::lifecycle::mark_dispatched;
use odcs_common::db::models::Compose;
use odcs_common::db::view::compose_json;
use odcs_common::db::{DbError, DbPool};
use odcs_common::time::now;
use tokio::sync::watch;

use crate::beat::{sweep, Sweep};
use crate::dispatch::Dispatcher;
use crate::gather::lookaside::Fetcher;
use crate::koji::Koji;
use crate::pipeline::Worker;
use crate::repodata::PackageCache;

/// Runs `work` with a pooled connection on the blocking pool.
pub async fn with_conn<T: Send + 'static>(
    pool: &DbPool,
    work: impl FnOnce(&mut odcs_common::db::DbConnection) -> Result<T, DbError> + Send + 'static,
) -> Result<T, DbError> {
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get()?;
        work(&mut conn)
    })
    .await
    .map_err(|e| DbError::Task(e.to_string()))?
}

/// Dispatches compose `id`'s job and records when; a failure is logged and left for the beat.
pub async fn dispatch(dispatcher: &Dispatcher, config: &Config, pool: &DbPool, id: i32) {
    let cfg = config.clone();
    let json = with_conn(pool, move |c| {
        Ok(Compose::find(c, id)?.map(|row| compose_json(&row, &cfg, false)))
    })
    .await;
    let json = match json {
        Ok(Some(json)) => json,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(compose.id = id, error = %e, "cannot load compose to dispatch");
            return;
        }
    };
    let value = serde_json::to_value(&json).unwrap_or_default();
    match dispatcher.dispatch(config, &value).await {
        Ok(()) => {
            if let Err(e) = with_conn(pool, move |c| Ok(mark_dispatched(c, id, now())?)).await {
                tracing::warn!(compose.id = id, error = %e, "dispatch not recorded");
            }
        }
        Err(e) => {
            tracing::warn!(compose.id = id, error = %e, "dispatch failed; the beat will retry")
        }
    }
}

/// One beat: a sweep, then dispatching what it found waiting.
pub async fn beat_once(
    config: &Arc<Config>,
    pool: &DbPool,
    dispatcher: &Dispatcher,
) -> Result<Sweep, DbError> {
    let cfg = config.clone();
    let result = with_conn(pool, move |c| sweep(c, &cfg, now())).await?;
    for id in &result.to_dispatch {
        dispatch(dispatcher, config, pool, *id).await;
    }
    if !result.removed.is_empty() || !result.requeued.is_empty() || !result.timed_out.is_empty() {
        tracing::info!(
            removed = result.removed.len(),
            requeued = result.requeued.len(),
            timed_out = result.timed_out.len(),
            dispatched = result.to_dispatch.len(),
            "beat"
        );
    }
    Ok(result)
}

/// Runs the beat every `beat_interval_seconds` until `stop` is set.
pub async fn run_beat(
    config: Arc<Config>,
    pool: DbPool,
    dispatcher: Arc<Dispatcher>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if let Err(e) = beat_once(&config, &pool, &dispatcher).await {
            tracing::warn!(error = %e, "beat failed");
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(Duration::from_secs(config.beat_interval_seconds)) => {}
        }
    }
}

/// Builds workers named after this host and process. Fails when Koji is configured but its
/// client cannot be set up (an unreadable certificate, say), so a misconfigured worker does
/// not start and fail every Koji compose.
pub fn worker_factory(
    config: Arc<Config>,
    pool: DbPool,
    cache: Arc<PackageCache>,
) -> Result<crate::consumer::WorkerFactory, crate::koji::hub::KojiError> {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into());
    let pid = std::process::id();
    let fetcher = Arc::new(default_fetcher());
    let koji = Koji::from_config(&config)?.map(Arc::new);
    Ok(Arc::new(move |slot| Worker {
        id: format!("{host}-{pid}-{slot}"),
        config: config.clone(),
        pool: pool.clone(),
        cache: cache.clone(),
        fetcher: fetcher.clone(),
        koji: koji.clone(),
    }))
}

/// Per-request timeout for remote repositories.
const FETCH_TIMEOUT: Duration = Duration::from_secs(120);

/// Tries per remote file before giving up.
const FETCH_ATTEMPTS: u32 = 4;

/// The fetcher workers use for remote repositories.
pub fn default_fetcher() -> Fetcher {
    // Building a client fails only when TLS cannot initialise, which is a broken install.
    #[allow(clippy::expect_used)]
    Fetcher::new(FETCH_TIMEOUT, FETCH_ATTEMPTS).expect("the HTTP client initialises")
}

/// Opens the package cache in `config.package_cache_dir`, or a private in-memory one if the
/// shared one cannot be opened.
pub fn open_cache(
    config: &Config,
) -> Result<Arc<PackageCache>, crate::repodata::cache::CacheError> {
    match PackageCache::open(&config.package_cache_dir) {
        Ok(cache) => Ok(Arc::new(cache)),
        Err(e) => {
            tracing::warn!(error = %e, "package cache unavailable; using a private one");
            Ok(Arc::new(PackageCache::in_memory()?))
        }
    }
}

/// A watch that turns true on SIGTERM or SIGINT.
pub fn shutdown_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return,
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("stopping");
        let _ = tx.send(true);
    });
    rx
}
