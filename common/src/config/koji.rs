//! Koji: the hub `tag`, `build` and `pungi_compose` composes are resolved against, and where
//! its package files come from.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The Koji hub and its package storage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KojiConfig {
    /// A profile of the koji.conf files (`[koji]`, `[stg]`, ...) that fills the settings
    /// below left empty, as Koji's own clients read it (see [`super::koji_profile`]).
    #[serde(rename = "koji_profile")]
    pub profile: String,
    /// A koji.conf file read for `koji_profile` instead of the user's `~/.koji` files.
    #[serde(rename = "koji_config")]
    pub config: PathBuf,
    /// Koji hub XML-RPC endpoint; empty disables `tag`, `build` and `pungi_compose` composes.
    #[serde(rename = "koji_hub_url")]
    pub hub_url: String,
    /// Koji's top URL, where package files are downloaded from (`.../packages/N/V/R/...`).
    #[serde(rename = "koji_topurl")]
    pub topurl: String,
    /// Koji's top directory when mounted on the workers: package files are used in place
    /// (empty: download from `koji_topurl`).
    #[serde(rename = "koji_topdir")]
    pub topdir: PathBuf,
    /// PEM file with a client certificate and key: workers log in with `sslLogin` (empty:
    /// anonymous reads).
    #[serde(rename = "koji_client_cert")]
    pub client_cert: PathBuf,
    /// PEM file of the CA of the hub's certificate, when not a public one (empty: system CAs).
    #[serde(rename = "koji_server_ca")]
    pub server_ca: PathBuf,
    /// Timeout of one hub call or package download, in seconds.
    #[serde(rename = "koji_timeout_seconds")]
    pub timeout_seconds: u64,
    /// Attempts per hub call or download before the compose fails.
    #[serde(rename = "koji_attempts")]
    pub attempts: u32,
    /// Wait before the first retry, in milliseconds; doubles after each.
    #[serde(rename = "koji_retry_backoff_ms")]
    pub retry_backoff_ms: u64,
    /// Package downloads one compose runs at once.
    #[serde(rename = "koji_download_parallel")]
    pub download_parallel: usize,
    /// Largest size of the downloaded-package cache, in bytes; the oldest files go first.
    #[serde(rename = "koji_cache_max_bytes")]
    pub cache_max_bytes: u64,
    /// Downloaded packages older than this many seconds are pruned.
    #[serde(rename = "koji_cache_max_age_seconds")]
    pub cache_max_age_seconds: u64,
}

impl Default for KojiConfig {
    fn default() -> Self {
        KojiConfig {
            profile: String::new(),
            config: PathBuf::new(),
            hub_url: String::new(),
            topurl: String::new(),
            topdir: PathBuf::new(),
            client_cert: PathBuf::new(),
            server_ca: PathBuf::new(),
            timeout_seconds: 120,
            attempts: 5,
            retry_backoff_ms: 1000,
            download_parallel: 8,
            cache_max_bytes: 100 * 1024 * 1024 * 1024,
            cache_max_age_seconds: 14 * 24 * 60 * 60,
        }
    }
}

impl KojiConfig {
    /// Whether a hub is configured (Koji composes are possible).
    pub fn is_enabled(&self) -> bool {
        !self.hub_url.is_empty()
    }
}
