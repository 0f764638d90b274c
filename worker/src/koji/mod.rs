//! Koji, the build system most composes are made from: its XML-RPC hub (in Koji's dialect)
//! and its package storage.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use odcs_common::config::Config;

pub mod hub;
pub mod model;
pub mod rpms;
pub mod storage;
pub mod wire;

use hub::{HubSettings, KojiError, KojiHub};
use storage::{PackageStore, StoreSettings};

/// What a worker talks to for Koji composes: the hub and the package storage.
pub struct Koji {
    /// The hub.
    pub hub: KojiHub,
    /// Package files.
    pub store: PackageStore,
    /// Largest size of the download cache.
    pub cache_max_bytes: u64,
    /// Age after which downloaded packages are pruned.
    pub cache_max_age: Duration,
    /// Files used this recently may belong to a running compose and are never pruned (the
    /// longest a compose runs).
    pub protect: Duration,
    /// When this process last pruned the cache.
    last_prune: Mutex<Option<Instant>>,
}

/// Least time between two prunings by one process: a pruning walks the whole cache, which
/// should not happen after every compose of a busy worker.
const PRUNE_INTERVAL: Duration = Duration::from_secs(600);

fn configured(path: &Path) -> Option<PathBuf> {
    (!path.as_os_str().is_empty()).then(|| path.to_owned())
}

impl Koji {
    /// The Koji services `config` names; `None` when no hub is configured.
    pub fn from_config(config: &Config) -> Result<Option<Koji>, KojiError> {
        let koji = &config.koji;
        if !koji.is_enabled() {
            return Ok(None);
        }
        let timeout = Duration::from_secs(koji.timeout_seconds.max(1));
        let backoff = Duration::from_millis(koji.retry_backoff_ms);
        let hub = KojiHub::new(HubSettings {
            url: koji.hub_url.clone(),
            client_cert: configured(&koji.client_cert),
            server_ca: configured(&koji.server_ca),
            timeout,
            attempts: koji.attempts,
            backoff,
        })?;
        let store = PackageStore::new(StoreSettings {
            topdir: configured(&koji.topdir),
            topurl: (!koji.topurl.is_empty()).then(|| koji.topurl.clone()),
            cache_dir: config.storage.package_cache_dir.clone(),
            parallel: koji.download_parallel,
            attempts: koji.attempts,
            backoff,
            timeout,
            server_ca: configured(&koji.server_ca),
        })
        .map_err(|e| KojiError::Setup(e.to_string()))?;
        Ok(Some(Koji {
            hub,
            store,
            cache_max_bytes: koji.cache_max_bytes,
            cache_max_age: Duration::from_secs(koji.cache_max_age_seconds),
            protect: Duration::from_secs(config.workers.generate_timeout_seconds),
            last_prune: Mutex::new(None),
        }))
    }

    /// The local files of `wanted` (downloaded when not at hand), logged to `log`.
    pub fn fetch(
        &self,
        wanted: &[storage::WantedRpm],
        log: &crate::compose::ComposeLog,
    ) -> Result<Vec<PathBuf>, storage::StorageError> {
        let fetched = self.store.fetch(wanted)?;
        log.line(format_args!(
            "Fetched {} package files ({} downloaded, {} bytes)",
            fetched.paths.len(),
            fetched.downloaded,
            fetched.bytes
        ));
        Ok(fetched.paths)
    }

    /// Prunes the download cache to its configured age and size, at most once per
    /// [`PRUNE_INTERVAL`].
    pub fn prune_cache(&self) {
        {
            let mut last = self
                .last_prune
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.is_some_and(|t| t.elapsed() < PRUNE_INTERVAL) {
                return;
            }
            *last = Some(Instant::now());
        }
        match storage::prune(
            &self.store.cache_root(),
            self.cache_max_bytes,
            self.cache_max_age,
            self.protect,
        ) {
            Ok(p) if p.files > 0 => {
                tracing::info!(
                    files = p.files,
                    bytes = p.bytes,
                    "pruned the Koji package cache"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot prune the Koji package cache"),
        }
    }
}
