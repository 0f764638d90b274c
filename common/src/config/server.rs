//! The HTTP frontend: where it listens and how much one request may ask of it.

use std::net::SocketAddr;

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
    /// How long a list's `meta.total` may be reused for the same filters, in milliseconds
    /// (writes through this process clear it at once); 0 counts on every request.
    pub list_total_cache_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:5005".into(),
            http_workers: 0,
            max_body_bytes: 1024 * 1024,
            max_per_page: 1000,
            list_total_cache_ms: 1000,
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
        Ok(())
    }
}
