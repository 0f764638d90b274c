//! The HTTP frontend: where it listens and how much one request may ask of it.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError};

/// How the API is served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    /// Address the HTTP frontend listens on.
    pub listen: String,
    /// HTTP worker threads of the frontend; 0 means one per core.
    pub http_workers: usize,
    /// Largest request body accepted, in bytes; larger ones get 413.
    pub max_body_bytes: usize,
    /// Most composes one page of the list endpoint returns.
    pub max_per_page: i64,
    /// How long a list's `meta.total` may be reused for the same filters, in milliseconds,
    /// where no change notices keep it exact (writes through this process clear it at once);
    /// 0 counts on every request.
    pub list_total_cache_ms: u64,
    /// How many composes' JSON a frontend keeps in memory for `GET /api/1/composes/{id}`,
    /// forgotten on every change the database announces (PostgreSQL only); 0 keeps none.
    pub compose_cache_entries: usize,
    /// How many pages of the compose list a frontend keeps in memory, forgotten on every change
    /// the database announces (PostgreSQL only); 0 keeps none.
    pub list_cache_pages: usize,
    /// PEM certificate chain to serve HTTPS with; empty: plain HTTP (behind a proxy).
    pub tls_cert: PathBuf,
    /// PEM private key of `tls_cert`.
    pub tls_key: PathBuf,
    /// PEM certificates of the authorities whose client certificates the server verifies
    /// (requested, not required: anonymous reads stay open); empty: none are requested.
    pub tls_client_ca: PathBuf,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:5005".into(),
            http_workers: 0,
            max_body_bytes: 1024 * 1024,
            max_per_page: 1000,
            list_total_cache_ms: 1000,
            compose_cache_entries: 20_000,
            list_cache_pages: 1_000,
            tls_cert: PathBuf::new(),
            tls_key: PathBuf::new(),
            tls_client_ca: PathBuf::new(),
        }
    }
}

impl ServerConfig {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        self.listen.parse::<SocketAddr>().map_err(|e| {
            invalid(
                "listen",
                format!("{:?} is not an address: {e}", self.listen),
            )
        })?;
        if self.max_body_bytes == 0 {
            return Err(invalid("max_body_bytes", "must be at least 1"));
        }
        if self.max_per_page < 1 {
            return Err(invalid("max_per_page", "must be at least 1"));
        }
        let set = |p: &PathBuf| !p.as_os_str().is_empty();
        if set(&self.tls_cert) != set(&self.tls_key) {
            return Err(invalid("tls_key", "tls_cert and tls_key go together"));
        }
        if set(&self.tls_client_ca) && !set(&self.tls_cert) {
            return Err(invalid(
                "tls_client_ca",
                "client certificates need the server to serve HTTPS: set tls_cert and tls_key",
            ));
        }
        Ok(())
    }

    /// Whether the server serves HTTPS itself.
    pub fn serves_tls(&self) -> bool {
        !self.tls_cert.as_os_str().is_empty()
    }

    /// Whether the server verifies client certificates.
    pub fn verifies_clients(&self) -> bool {
        !self.tls_client_ca.as_os_str().is_empty()
    }
}
