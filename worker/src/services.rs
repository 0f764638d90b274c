//! The long-running services, shared by `odcs-worker` and the standalone server: the beat
//! loop, the relay, and the workers, each stopping when told to.

use std::sync::Arc;
use std::time::Duration;

use odcs_common::config::Config;
use odcs_common::db::{with_conn, DbError, DbPool};
use odcs_common::dispatch::{dispatch, Dispatcher};
use odcs_common::time::now;
use tokio::sync::watch;

use crate::beat::{sweep, Sweep};
use crate::fetch::{FetchPolicy, Fetcher};
use crate::koji::Koji;
use crate::modules::mbs::Mbs;
use crate::pipeline::Worker;
use crate::pulp::Pulp;
use crate::repodata::PackageCache;
use crate::source::raw_config::RawConfigServices;

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
            _ = tokio::time::sleep(Duration::from_secs(config.workers.beat_interval_seconds)) => {}
        }
    }
}

/// Why workers cannot be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// The Koji client (an unreadable certificate, say).
    #[error(transparent)]
    Koji(#[from] crate::koji::hub::KojiError),
    /// The HTTP client for remote repositories.
    #[error(transparent)]
    Http(#[from] crate::fetch::FetchError),
    /// The MBS client.
    #[error(transparent)]
    Mbs(#[from] crate::modules::mbs::MbsError),
    /// The Pulp client (an unreadable certificate, say).
    #[error(transparent)]
    Pulp(#[from] crate::pulp::PulpError),
}

/// Builds workers named after this host and process. Fails when Koji is configured but its
/// client cannot be set up (an unreadable certificate, say), so a misconfigured worker does
/// not start and fail every Koji compose.
pub fn worker_factory(
    config: Arc<Config>,
    pool: DbPool,
    cache: Arc<PackageCache>,
) -> Result<crate::consumer::WorkerFactory, SetupError> {
    let process = crate::heartbeat::process_name();
    let fetcher = Arc::new(fetcher(&config)?);
    let koji = Koji::from_config(&config)?.map(Arc::new);
    let mbs = Mbs::from_config(&config)?.map(Arc::new);
    let pulp = Pulp::from_config(&config)?.map(Arc::new);
    let raw_config = Arc::new(RawConfigServices::new(&config));
    Ok(Arc::new(move |slot| Worker {
        id: format!("{process}-{slot}"),
        config: config.clone(),
        pool: pool.clone(),
        cache: cache.clone(),
        fetcher: fetcher.clone(),
        koji: koji.clone(),
        mbs: mbs.clone(),
        pulp: pulp.clone(),
        raw_config: raw_config.clone(),
        deployment: Default::default(),
    }))
}

/// Per-request timeout for remote repositories.
const FETCH_TIMEOUT: Duration = Duration::from_secs(120);

/// Tries per remote file before giving up.
const FETCH_ATTEMPTS: u32 = 4;

/// The fetcher workers use for lookaside repositories and Pungi composes: `file://` only inside
/// `repo_source_roots`, files capped at `max_metadata_bytes`.
pub fn fetcher(config: &Config) -> Result<Fetcher, crate::fetch::FetchError> {
    Fetcher::new(FetchPolicy {
        timeout: FETCH_TIMEOUT,
        attempts: FETCH_ATTEMPTS,
        file_roots: config.workers.repo_source_roots.clone(),
        max_bytes: config.workers.max_metadata_bytes,
        blocked_networks: config.workers.blocked_networks(),
    })
}

/// A fetcher for an operator's own command line (`depsolve`): any local file, large files.
pub fn trusted_fetcher() -> Result<Fetcher, crate::fetch::FetchError> {
    Fetcher::new(FetchPolicy {
        timeout: FETCH_TIMEOUT,
        attempts: FETCH_ATTEMPTS,
        file_roots: vec![std::path::PathBuf::from("/")],
        max_bytes: crate::repodata::MAX_METADATA_BYTES,
        blocked_networks: Vec::new(),
    })
}

/// Opens the package cache in `package_cache_dir`, or a private in-memory one if the
/// shared one cannot be opened.
pub fn open_cache(
    config: &Config,
) -> Result<Arc<PackageCache>, crate::repodata::cache::CacheError> {
    match PackageCache::open(&config.storage.package_cache_dir) {
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
