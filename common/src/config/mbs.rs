//! The Module Build Service: where `module` composes find module builds by name and stream
//! (unless they name `modular_koji_tags`).

use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError};

/// The MBS API and how hard workers try it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MbsConfig {
    /// The MBS API root, e.g. `https://mbs.fedoraproject.org/module-build-service`; empty:
    /// `module` composes need `modular_koji_tags`.
    #[serde(rename = "mbs_url")]
    pub url: String,
    /// Timeout of one MBS request, in seconds.
    #[serde(rename = "mbs_timeout_seconds")]
    pub timeout_seconds: u64,
    /// Attempts per request (connection errors and 5xx answers are retried).
    #[serde(rename = "mbs_attempts")]
    pub attempts: u32,
    /// Wait before the first retry, in milliseconds; doubles after each.
    #[serde(rename = "mbs_retry_backoff_ms")]
    pub retry_backoff_ms: u64,
}

impl Default for MbsConfig {
    fn default() -> Self {
        MbsConfig {
            url: String::new(),
            timeout_seconds: 120,
            attempts: 5,
            retry_backoff_ms: 1000,
        }
    }
}

impl MbsConfig {
    /// Whether an MBS is configured.
    pub fn is_enabled(&self) -> bool {
        !self.url.is_empty()
    }

    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if self.is_enabled() && url::Url::parse(&self.url).is_err() {
            return Err(invalid("mbs_url", "must be an http or https URL"));
        }
        if self.attempts == 0 {
            return Err(invalid("mbs_attempts", "must be at least 1"));
        }
        if self.timeout_seconds == 0 {
            return Err(invalid("mbs_timeout_seconds", "must be at least 1"));
        }
        Ok(())
    }
}
