//! Pungi: how workers run `raw_config` composes (the named configurations themselves are
//! policy, in `raw_config_urls`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError};

/// A user name and password for a private configuration repository.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitCredentials {
    /// The user.
    pub username: String,
    /// The password or token.
    pub password: String,
}

impl std::fmt::Debug for GitCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The Pungi tools, their arguments and time limits, and where configurations are fetched to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PungiConfig {
    /// The `pungi-koji` command (a name on `PATH` or a full path).
    pub pungi_koji: String,
    /// Arguments every `pungi-koji` run gets.
    pub pungi_koji_args: Vec<String>,
    /// Arguments runs of one `raw_config_urls` key get instead of `pungi_koji_args`.
    pub raw_config_pungi_koji_args: BTreeMap<String, Vec<String>>,
    /// The `pungi-config-validate` command; empty: configurations are not validated.
    pub pungi_config_validate: String,
    /// Seconds a Pungi run may take before it is killed (a `raw_config_urls` entry's
    /// `pungi_timeout` overrides it).
    pub pungi_timeout: u64,
    /// Seconds a `post_script` may take before it is killed.
    pub post_script_timeout: u64,
    /// A wrapper configuration (a template rendered with the compose's JSON) that becomes
    /// `pungi.conf` and imports the named configuration as `raw_config.conf`; empty: none.
    pub raw_config_wrapper_conf_path: PathBuf,
    /// A JSON schema override every validation gets (`--schema-override`); empty: none.
    pub raw_config_schema_override: PathBuf,
    /// Credentials for private configuration repositories: by `raw_config_urls` key, then by
    /// a regular expression the repository URL must match.
    pub raw_config_credentials: BTreeMap<String, BTreeMap<String, GitCredentials>>,
    /// Where workers keep the clones of configuration repositories composes share.
    pub raw_config_git_cache_dir: PathBuf,
    /// The command that makes a compose's `boot.iso` result (what Pungi's buildinstall phase
    /// runs lorax for), run once per arch; `{arch}`, `{repo}` (the arch's os tree, an RPM
    /// repository), `{output}` (the file to write) and `{volid}` are filled in. Empty:
    /// `boot.iso` is refused.
    pub boot_iso_command: Vec<String>,
}

/// What [`PungiConfig::boot_iso_command`] must write to.
pub const BOOT_ISO_OUTPUT: &str = "{output}";

impl Default for PungiConfig {
    fn default() -> Self {
        PungiConfig {
            pungi_koji: "pungi-koji".into(),
            pungi_koji_args: Vec::new(),
            raw_config_pungi_koji_args: BTreeMap::new(),
            pungi_config_validate: String::new(),
            pungi_timeout: 3600,
            post_script_timeout: 600,
            raw_config_wrapper_conf_path: PathBuf::new(),
            raw_config_schema_override: PathBuf::new(),
            raw_config_credentials: BTreeMap::new(),
            raw_config_git_cache_dir: PathBuf::from("odcs-data/cache/git"),
            boot_iso_command: Vec::new(),
        }
    }
}

impl PungiConfig {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if self.pungi_koji.is_empty() {
            return Err(invalid("pungi_koji", "must name the pungi-koji command"));
        }
        if self.pungi_timeout == 0 {
            return Err(invalid("pungi_timeout", "must be positive"));
        }
        if self.post_script_timeout == 0 {
            return Err(invalid("post_script_timeout", "must be positive"));
        }
        if !self.boot_iso_command.is_empty()
            && !self
                .boot_iso_command
                .iter()
                .any(|a| a.contains(BOOT_ISO_OUTPUT))
        {
            return Err(invalid(
                "boot_iso_command",
                "must say where to write the image ({output})",
            ));
        }
        for (name, hosts) in &self.raw_config_credentials {
            for pattern in hosts.keys() {
                regex::Regex::new(pattern).map_err(|e| {
                    invalid(
                        &format!("raw_config_credentials.{name}"),
                        format!("{pattern:?} is not a regular expression: {e}"),
                    )
                })?;
            }
        }
        Ok(())
    }

    /// The credentials for `url` of `raw_config_urls` key `name`: the first pattern matching.
    pub fn credentials_for(&self, name: &str, url: &str) -> Option<&GitCredentials> {
        self.raw_config_credentials
            .get(name)?
            .iter()
            .find(|(pattern, _)| regex::Regex::new(pattern).is_ok_and(|r| r.is_match(url)))
            .map(|(_, credentials)| credentials)
    }

    /// The `pungi-koji` arguments of runs of `raw_config_urls` key `name`.
    pub fn koji_args_for(&self, name: &str) -> &[String] {
        self.raw_config_pungi_koji_args
            .get(name)
            .unwrap_or(&self.pungi_koji_args)
    }
}
