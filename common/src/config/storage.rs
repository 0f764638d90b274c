//! Where things are kept: the compose store (database), the compose directories and their
//! public URL, and the package-metadata cache.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError};

/// The database and the directories composes and caches live in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageConfig {
    /// `postgres://...` in production, `sqlite://PATH` for standalone.
    pub database_url: String,
    /// Most database connections one process keeps open.
    pub database_pool_size: u32,
    /// Directory composes are written to.
    pub target_dir: PathBuf,
    /// Public URL of `target_dir`.
    pub target_dir_url: String,
    /// Further directories users may choose by name with `target_dir`.
    pub extra_target_dirs: BTreeMap<String, PathBuf>,
    /// Where workers keep the package-metadata cache shared by composes (and the Koji
    /// download cache).
    pub package_cache_dir: PathBuf,
    /// Largest size of the package-metadata cache's entries, in bytes; the least recently used
    /// go first.
    pub package_cache_max_bytes: u64,
    /// Package-metadata cache entries unused this many seconds are pruned.
    pub package_cache_max_age_seconds: u64,
    /// Compression of generated repodata: `gz` (what every client reads) or `zst`.
    pub repodata_compression: String,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            database_url: "sqlite://odcs-data/odcs.db".into(),
            database_pool_size: 8,
            target_dir: PathBuf::from("odcs-data/composes"),
            target_dir_url: "http://127.0.0.1:5005/composes".into(),
            extra_target_dirs: BTreeMap::new(),
            package_cache_dir: PathBuf::from("odcs-data/cache"),
            package_cache_max_bytes: 20 * 1024 * 1024 * 1024,
            package_cache_max_age_seconds: 30 * 24 * 60 * 60,
            repodata_compression: "gz".into(),
        }
    }
}

impl StorageConfig {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if !(self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://")
            || self.database_url.starts_with("sqlite:"))
        {
            return Err(invalid(
                "database_url",
                "must start with postgres://, postgresql:// or sqlite:",
            ));
        }
        if self.database_pool_size == 0 {
            return Err(invalid("database_pool_size", "must be at least 1"));
        }
        url::Url::parse(&self.target_dir_url).map_err(|e| {
            invalid(
                "target_dir_url",
                format!("{:?} is not a URL: {e}", self.target_dir_url),
            )
        })?;
        if !matches!(self.repodata_compression.as_str(), "gz" | "zst") {
            return Err(invalid("repodata_compression", "must be gz or zst"));
        }
        if self.extra_target_dirs.contains_key("default") {
            return Err(invalid(
                "extra_target_dirs",
                "\"default\" names target_dir and cannot be redefined",
            ));
        }
        Ok(())
    }

    /// The directory a `target_dir` name from a request stands for (`"default"`: `target_dir`).
    pub fn target_dir_named(&self, name: &str) -> Option<&Path> {
        if name == "default" {
            Some(&self.target_dir)
        } else {
            self.extra_target_dirs.get(name).map(PathBuf::as_path)
        }
    }

    /// The name a stored target directory is known by: `"default"`, an `extra_target_dirs`
    /// name, or `"unknown"` when the configuration no longer lists it.
    pub fn target_dir_name(&self, dir: Option<&str>) -> &str {
        match dir {
            None => "default",
            Some(dir) if Path::new(dir) == self.target_dir => "default",
            Some(dir) => self
                .extra_target_dirs
                .iter()
                .find(|(_, path)| path.as_path() == Path::new(dir))
                .map_or("unknown", |(name, _)| name.as_str()),
        }
    }
}
