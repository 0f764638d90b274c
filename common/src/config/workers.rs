//! The workers and the beat job: how many composes run at once, how long a worker holds one,
//! how often the beat sweeps, and what workers may read.

use std::path::PathBuf;

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
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            worker_concurrency: 2,
            lease_seconds: 120,
            beat_interval_seconds: 30,
            redispatch_after_seconds: 120,
            max_wait_seconds: 24 * 60 * 60,
            generate_timeout_seconds: 4 * 60 * 60,
            max_attempts: 3,
            repo_source_roots: Vec::new(),
            max_metadata_bytes: 2 * 1024 * 1024 * 1024,
        }
    }
}

impl WorkerConfig {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
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
