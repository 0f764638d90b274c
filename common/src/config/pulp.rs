//! Pulp: where `pulp` composes find the repositories that publish content sets.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError};

/// The Pulp server, how workers log in to it and how hard they try it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PulpConfig {
    /// The Pulp server's root, e.g. `https://pulp.example.com`; empty disables `pulp` composes.
    #[serde(rename = "pulp_server_url")]
    pub server_url: String,
    /// The Pulp REST API generation the server speaks: 2 (as the reference) or 3.
    #[serde(rename = "pulp_api")]
    pub api: u8,
    /// PEM client certificate workers present to Pulp (empty: none).
    #[serde(rename = "pulp_ssl_cert")]
    pub ssl_cert: PathBuf,
    /// PEM key of `pulp_ssl_cert` (empty: the key is in the certificate's file).
    #[serde(rename = "pulp_ssl_key")]
    pub ssl_key: PathBuf,
    /// User for HTTP basic authentication (empty: none).
    #[serde(rename = "pulp_username")]
    pub username: String,
    /// Password of `pulp_username`.
    #[serde(rename = "pulp_password")]
    pub password: String,
    /// PEM file of the CA of Pulp's certificate, when not a public one (empty: system CAs).
    #[serde(rename = "pulp_server_ca")]
    pub server_ca: PathBuf,
    /// Timeout of one Pulp request, in seconds.
    #[serde(rename = "pulp_timeout_seconds")]
    pub timeout_seconds: u64,
    /// Attempts per request (connection errors and 5xx answers are retried).
    #[serde(rename = "pulp_attempts")]
    pub attempts: u32,
    /// Wait before the first retry, in milliseconds; doubles after each.
    #[serde(rename = "pulp_retry_backoff_ms")]
    pub retry_backoff_ms: u64,
}

impl Default for PulpConfig {
    fn default() -> Self {
        PulpConfig {
            server_url: String::new(),
            api: 2,
            ssl_cert: PathBuf::new(),
            ssl_key: PathBuf::new(),
            username: String::new(),
            password: String::new(),
            server_ca: PathBuf::new(),
            timeout_seconds: 120,
            attempts: 5,
            retry_backoff_ms: 1000,
        }
    }
}

impl PulpConfig {
    /// Whether a Pulp server is configured.
    pub fn is_enabled(&self) -> bool {
        !self.server_url.is_empty()
    }

    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if self.is_enabled() {
            match url::Url::parse(&self.server_url) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => {}
                _ => return Err(invalid("pulp_server_url", "must be an http or https URL")),
            }
        }
        if !matches!(self.api, 2 | 3) {
            return Err(invalid("pulp_api", "must be 2 or 3"));
        }
        if self.ssl_cert.as_os_str().is_empty() && !self.ssl_key.as_os_str().is_empty() {
            return Err(invalid("pulp_ssl_key", "needs pulp_ssl_cert"));
        }
        if self.username.is_empty() && !self.password.is_empty() {
            return Err(invalid("pulp_password", "needs pulp_username"));
        }
        if self.attempts == 0 {
            return Err(invalid("pulp_attempts", "must be at least 1"));
        }
        if self.timeout_seconds == 0 {
            return Err(invalid("pulp_timeout_seconds", "must be at least 1"));
        }
        Ok(())
    }
}
