//! The client configuration file: named profiles of server, credentials and broker.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// `~/.config/odcs/client.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The profile used when none is named.
    pub default_profile: Option<String>,
    /// Profiles by name.
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// One server and how to talk to it.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Server URL.
    pub server: Option<String>,
    /// Access token.
    pub token: Option<String>,
    /// File holding the access token.
    pub token_file: Option<PathBuf>,
    /// PEM with a client certificate and key.
    pub cert: Option<PathBuf>,
    /// OpenID provider (issuer URL) for the client credentials login.
    pub id_provider: Option<String>,
    /// Public client id of the browser login (the reference's name for it).
    pub oidc_authz_code_client_id: Option<String>,
    /// Scopes to ask the OpenID provider for.
    pub oidc_scopes: Option<Vec<String>>,
    /// Resource indicator to ask the OpenID provider's tokens for.
    pub oidc_resource: Option<String>,
    /// Log in with Kerberos from the ticket cache.
    #[serde(default)]
    pub kerberos: bool,
    /// PEM of a CA to trust besides the public ones.
    pub ca_cert: Option<PathBuf>,
    /// Broker to wait on state-change messages from.
    pub amqp_url: Option<String>,
    /// The server's messaging exchange (default `amq.topic`).
    pub amqp_exchange: Option<String>,
    /// The server's state-change topic (default `odcs.state.change`).
    pub amqp_topic: Option<String>,
}

/// Where cached access tokens are kept: `$XDG_CACHE_HOME/odcs`, else `~/.cache/odcs`.
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("odcs"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/odcs"))
}

/// Where the configuration file is looked for.
pub fn default_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("odcs/client.toml"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config/odcs/client.toml"))
}

/// Reads `path`; a missing default file is an empty configuration, a missing named one an
/// error.
pub fn load(path: Option<&Path>) -> Result<ConfigFile, String> {
    let (path, explicit) = match path {
        Some(p) => (p.to_owned(), true),
        None => match default_path() {
            Some(p) => (p, false),
            None => return Ok(ConfigFile::default()),
        },
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok(ConfigFile::default())
        }
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message()))
}

impl ConfigFile {
    /// The profile `name` (or the default one); an unknown name is an error.
    pub fn profile(&self, name: Option<&str>) -> Result<Profile, String> {
        let name = name.or(self.default_profile.as_deref());
        match name {
            None => Ok(Profile::default()),
            Some(name) => self.profiles.get(name).cloned().ok_or_else(|| {
                let known: Vec<&str> = self.profiles.keys().map(String::as_str).collect();
                format!(
                    "no profile {name:?} in the configuration (known: {})",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                )
            }),
        }
    }
}
