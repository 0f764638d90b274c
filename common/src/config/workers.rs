//! The workers and the beat job: how many composes run at once, how long a worker holds one,
//! how often the beat sweeps, and what workers may read.

use std::path::PathBuf;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError};

/// Compose generation and the beat job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerConfig {
    /// Composes one worker process generates at once.
    pub worker_concurrency: u16,
    /// Seconds a claimed compose stays with its worker unless the lease is renewed.
    pub lease_seconds: i64,
    /// Seconds between two runs of the beat job.
    pub beat_interval_seconds: u64,
    /// Seconds after which a compose still waiting is handed to the queue again.
    pub redispatch_after_seconds: i64,
    /// Seconds after which a compose still waiting fails.
    pub max_wait_seconds: i64,
    /// Seconds published state-change messages are kept as the composes' state history
    /// before the beat deletes them.
    pub message_retention_seconds: i64,
    /// How many worker processes should be alive: the `celery_workers_expected` metric, which
    /// alerting compares with `celery_workers_totals` (the reference's name).
    pub expected_backend_number: u32,
    /// Where `odcs-worker consume` serves its own Prometheus metrics (`GET /metrics`), e.g.
    /// `0.0.0.0:9105`; empty serves none. (A standalone server shows them in its own.)
    pub worker_metrics_listen: String,
    /// Longest time one generation of a compose may take; it then fails with that reason.
    /// Retries of Koji calls, downloads and lookaside fetches stop within it.
    pub generate_timeout_seconds: u64,
    /// Times a compose is generated before a transient failure (disk full, database, broker or
    /// hub unreachable) fails it for good.
    pub max_attempts: i32,
    /// Directories `repo` composes may read packages from (nothing else is allowed, and
    /// `file://` lookaside or Pungi-compose URLs only inside them); empty disables `repo`
    /// composes.
    pub repo_source_roots: Vec<PathBuf>,
    /// The most one metadata file (repomd, primary, filelists, comps, updateinfo, modules,
    /// rpms.json) may hold, downloaded or decompressed.
    pub max_metadata_bytes: u64,
    /// Networks that lookaside and Pungi-compose URLs may not reach (after DNS, and on every
    /// redirect): by default the host itself and link-local addresses (cloud metadata
    /// services), so a request cannot make a worker read its own local services.
    pub fetch_blocked_networks: Vec<String>,
}

/// A network in CIDR notation, or one address.
fn parse_network(text: &str) -> Result<IpNet, String> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is not a network (like 10.0.0.0/8) or an address"))
}

/// What `fetch_blocked_networks` holds unless configured.
fn default_blocked_networks() -> Vec<String> {
    [
        "127.0.0.0/8",
        "0.0.0.0/8",
        "169.254.0.0/16",
        "::1/128",
        "::/128",
        "fe80::/10",
    ]
    .map(String::from)
    .to_vec()
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            worker_concurrency: 2,
            lease_seconds: 120,
            beat_interval_seconds: 30,
            redispatch_after_seconds: 120,
            max_wait_seconds: 24 * 60 * 60,
            message_retention_seconds: 7 * 24 * 60 * 60,
            expected_backend_number: 0,
            worker_metrics_listen: String::new(),
            generate_timeout_seconds: 4 * 60 * 60,
            max_attempts: 3,
            repo_source_roots: Vec::new(),
            max_metadata_bytes: 2 * 1024 * 1024 * 1024,
            fetch_blocked_networks: default_blocked_networks(),
        }
    }
}

impl WorkerConfig {
    /// `fetch_blocked_networks`, parsed (checked at load; an entry that does not parse is
    /// left out).
    pub fn blocked_networks(&self) -> Vec<IpNet> {
        self.fetch_blocked_networks
            .iter()
            .filter_map(|net| parse_network(net).ok())
            .collect()
    }

    pub(super) fn check(&self) -> Result<(), ConfigError> {
        for net in &self.fetch_blocked_networks {
            parse_network(net).map_err(|e| invalid("fetch_blocked_networks", e))?;
        }
        if self.worker_concurrency == 0 {
            return Err(invalid("worker_concurrency", "must be at least 1"));
        }
        if self.lease_seconds < 5 {
            return Err(invalid("lease_seconds", "must be at least 5"));
        }
        if self.beat_interval_seconds == 0 {
            return Err(invalid("beat_interval_seconds", "must be at least 1"));
        }
        if self.generate_timeout_seconds == 0 {
            return Err(invalid("generate_timeout_seconds", "must be at least 1"));
        }
        if self.max_metadata_bytes == 0 {
            return Err(invalid("max_metadata_bytes", "must be at least 1"));
        }
        if self.max_attempts < 1 {
            return Err(invalid("max_attempts", "must be at least 1"));
        }
        Ok(())
    }
}
