//! Service configuration: one TOML file plus `ODCS_*` environment overrides.
//!
//! Keys keep the reference ODCS's names where it has one (`target_dir`, `seconds_to_live`,
//! `allowed_clients`, ...), so an ODCS operator recognises them, and they stay flat in the file
//! and the environment. In code they are grouped by concern, one section per file: [`server`],
//! [`storage`], [`messaging`], [`workers`], [`koji`], [`mbs`], [`pulp`], [`pungi`],
//! [`auth`] and [`policy`]. Every key has a default that makes a first run work with no file at all: SQLite under `./odcs-data`, no
//! authentication. `docs/configuration.md` documents every key.

pub mod auth;
mod env;
pub mod koji;
pub mod koji_profile;
pub mod mbs;
pub mod messaging;
pub mod policy;
pub mod pulp;
pub mod pungi;
pub mod server;
pub mod storage;
pub mod workers;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use auth::{AuthBackend, AuthConfig};
pub use koji::KojiConfig;
pub use mbs::MbsConfig;
pub use messaging::{MessagingBackend, MessagingConfig};
pub use policy::{Admins, AllowedClients, ClientRule, PolicyConfig, PostScript, RawConfigSource};
pub use pulp::PulpConfig;
pub use pungi::{GitCredentials, PungiConfig};
pub use server::ServerConfig;
pub use storage::StorageConfig;
pub use workers::WorkerConfig;

/// Why the configuration cannot be used; the message names the offending key.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the filesystem said.
        #[source]
        source: std::io::Error,
    },
    /// The file or an environment variable does not parse, or a value has the wrong type.
    #[error("invalid configuration: {0}")]
    Parse(String),
    /// A key has a value of the right type that cannot be used.
    #[error("invalid configuration: key `{key}`: {message}")]
    Invalid {
        /// The key.
        key: String,
        /// What is wrong with its value.
        message: String,
    },
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        message: message.into(),
    }
}

/// The whole configuration of the frontend, the workers and the beat job: every section's keys
/// side by side, as the file and the environment spell them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The HTTP frontend.
    #[serde(flatten)]
    pub server: ServerConfig,
    /// The database and the directories.
    #[serde(flatten)]
    pub storage: StorageConfig,
    /// The broker.
    #[serde(flatten)]
    pub messaging: MessagingConfig,
    /// Workers and the beat.
    #[serde(flatten)]
    pub workers: WorkerConfig,
    /// Koji.
    #[serde(flatten)]
    pub koji: KojiConfig,
    /// The Module Build Service.
    #[serde(flatten)]
    pub mbs: MbsConfig,
    /// Pulp.
    #[serde(flatten)]
    pub pulp: PulpConfig,
    /// Pungi, for `raw_config` composes.
    #[serde(flatten)]
    pub pungi: PungiConfig,
    /// Authentication.
    #[serde(flatten)]
    pub auth: AuthConfig,
    /// What may be requested, by whom, and the defaults.
    #[serde(flatten)]
    pub policy: PolicyConfig,
}

/// The prefix of environment variables that override configuration keys.
pub const ENV_PREFIX: &str = "ODCS_";

impl Config {
    /// Reads `path` (if given) and applies `ODCS_*` overrides from `env`, then checks the result.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                toml::from_str::<toml::Table>(&text).map_err(|e| {
                    ConfigError::Parse(format!("{}: {}", path.display(), e.message()))
                })?
            }
            None => toml::Table::new(),
        };
        let known = Config::keys();
        if let Some(unknown) = table.keys().find(|k| !known.contains(k)) {
            return Err(ConfigError::Parse(format!("unknown key `{unknown}`")));
        }
        env::apply_env(&mut table, env)?;
        let mut config: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse(e.message().to_owned()))?;
        config
            .koji
            .apply_profile(&koji_profile::ProfileSources::default())?;
        config.check()?;
        Ok(config)
    }

    /// Every key, as the file and the environment name them.
    pub fn keys() -> Vec<String> {
        match toml::Value::try_from(Config::default()) {
            Ok(toml::Value::Table(table)) => table.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// The rules every loaded configuration satisfies.
    fn check(&self) -> Result<(), ConfigError> {
        self.server.check()?;
        self.storage.check()?;
        self.messaging.check()?;
        self.workers.check()?;
        self.mbs.check()?;
        self.pulp.check()?;
        self.pungi.check()?;
        self.auth.check()?;
        if self.auth.backend.uses_client_certificates() && !self.server.verifies_clients() {
            return Err(invalid(
                "auth_backend",
                "ssl verifies client certificates in the server: set tls_cert, tls_key and \
                 tls_client_ca (or use proxy behind an httpd doing TLS)",
            ));
        }
        self.policy.check()
    }
}

#[cfg(test)]
mod tests;
