//! Service configuration: one TOML file plus `ODCS_*` environment overrides.
//!
//! Keys keep the reference ODCS's names where it has one (`target_dir`, `seconds_to_live`,
//! `allowed_clients`, ...), so an ODCS operator recognises them. Every key has a default that
//! makes a first run work with no file at all: SQLite under `./odcs-data`, no authentication.
//! `docs/configuration.md` documents every key.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::compose::{ComposeFlag, ComposeResult, SourceType};

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

/// How the frontend learns who is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthBackend {
    /// Nobody is authenticated; every request may do everything and composes are owned by
    /// "unknown". For a first run and closed networks only.
    Noauth,
    /// An authenticating reverse proxy (httpd with mod_auth_gssapi or mod_ssl) passes the user
    /// and groups in headers; honoured only from `auth_trusted_proxies`. The reference's
    /// `kerberos`, `ssl` and `kerberos_or_ssl` names mean this backend here.
    #[serde(alias = "kerberos", alias = "ssl", alias = "kerberos_or_ssl")]
    Proxy,
}

impl AuthBackend {
    /// The name `/api/1/about/` reports.
    pub fn name(self) -> &'static str {
        match self {
            AuthBackend::Noauth => "noauth",
            AuthBackend::Proxy => "proxy",
        }
    }
}

/// What one user or group in `allowed_clients` may request. A missing list falls back to the
/// matching `allowed_*` key; a list holding only `""` allows any value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // each field restricts the compose attribute of the same name
pub struct ClientRule {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_types: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arches: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flags: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compose_types: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_dirs: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_config_keys: Option<Vec<String>>,
}

/// Who may create composes, by user name and by group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowedClients {
    /// Rules for single users.
    #[serde(default)]
    pub users: BTreeMap<String, ClientRule>,
    /// Rules for members of groups.
    #[serde(default)]
    pub groups: BTreeMap<String, ClientRule>,
}

/// Users and groups with every permission.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Admins {
    /// Admin users.
    #[serde(default)]
    pub users: Vec<String>,
    /// Groups whose members are admins.
    #[serde(default)]
    pub groups: Vec<String>,
}

impl Admins {
    /// Whether `user`, member of `groups`, is an admin.
    pub fn contains(&self, user: &str, groups: &[String]) -> bool {
        self.users.iter().any(|u| u == user) || groups.iter().any(|g| self.groups.contains(g))
    }
}

/// A Pungi configuration users may name in a `raw_config` compose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawConfigSource {
    /// The git repository holding the configuration.
    pub url: String,
    /// The configuration's file name in that repository.
    pub config_filename: String,
    /// Default lifetime of composes from this configuration, overriding `seconds_to_live`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds_to_live: Option<i64>,
    /// Longest lifetime of composes from this configuration, overriding `max_seconds_to_live`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_seconds_to_live: Option<i64>,
    /// Any further keys (e.g. `pungi_timeout`, `schema_override`), kept for later stages.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// The whole configuration of the frontend, the workers and the beat job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `postgres://...` in production, `sqlite://PATH` for standalone.
    pub database_url: String,
    /// Most database connections one process keeps open.
    pub database_pool_size: u32,
    /// Address the HTTP frontend listens on.
    pub listen: String,
    /// HTTP worker threads of the frontend; 0 means one per core.
    pub http_workers: usize,
    /// AMQP broker URL; empty means the in-process queue (standalone).
    pub amqp_url: String,
    /// Exchange state-change messages are published to.
    pub messaging_exchange: String,
    /// Prefix of the state-change topic, e.g. `org.fedoraproject.prod.`.
    pub messaging_topic_prefix: String,
    /// The state-change topic after the prefix.
    pub messaging_topic: String,
    /// Compose jobs go to the first queue whose rules all match the compose JSON: a rule maps
    /// a property to a list of accepted values or to a regular expression (a string).
    pub queue_routes: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
    /// The queue for composes no route matches.
    pub default_queue: String,
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
    /// Largest request body accepted, in bytes; larger ones get 413.
    pub max_body_bytes: usize,
    /// Most composes one page of the list endpoint returns.
    pub max_per_page: i64,
    /// How long a list's `meta.total` may be reused for the same filters, in milliseconds
    /// (writes through this process clear it at once); 0 counts on every request.
    pub list_total_cache_ms: u64,
    /// Directory composes are written to.
    pub target_dir: PathBuf,
    /// Public URL of `target_dir`.
    pub target_dir_url: String,
    /// Directories `repo` composes may read packages from (nothing else is allowed); empty
    /// disables `repo` composes.
    pub repo_source_roots: Vec<PathBuf>,
    /// Where workers keep the package-metadata cache shared by composes.
    pub package_cache_dir: PathBuf,
    /// Compression of generated repodata: `gz` (what every client reads) or `zst`.
    pub repodata_compression: String,
    /// Further directories users may choose by name with `target_dir`.
    pub extra_target_dirs: BTreeMap<String, PathBuf>,
    /// Default compose lifetime in seconds.
    pub seconds_to_live: i64,
    /// Longest lifetime a request may ask for.
    pub max_seconds_to_live: i64,
    /// Arches composes are built for when a request names none.
    pub arches: Vec<String>,
    /// Signing keys required when a request names none.
    pub sigkeys: Vec<String>,
    /// Base modules (e.g. `platform`) that cannot be requested as modules.
    pub base_module_names: Vec<String>,
    /// Who may create composes and with what.
    pub allowed_clients: AllowedClients,
    /// Who may do everything.
    pub admins: Admins,
    /// How callers are identified.
    pub auth_backend: AuthBackend,
    /// Header the proxy puts the user name in.
    pub auth_user_header: String,
    /// Header the proxy puts the user's groups in (comma or space separated); empty for none.
    pub auth_groups_header: String,
    /// Addresses of the proxies whose identity headers are believed.
    pub auth_trusted_proxies: Vec<IpAddr>,
    /// Drop the Kerberos realm (`user@REALM` → `user`) from proxied user names.
    pub auth_strip_realm: bool,
    /// Pungi configurations users may name in `raw_config` composes.
    pub raw_config_urls: BTreeMap<String, RawConfigSource>,
    /// Source types a client rule without `source_types` allows.
    pub allowed_source_types: Vec<String>,
    /// Flags a client rule without `flags` allows.
    pub allowed_flags: Vec<String>,
    /// Arches a client rule without `arches` allows.
    pub allowed_arches: Vec<String>,
    /// Results a client rule without `results` allows.
    pub allowed_results: Vec<String>,
    /// Sources a client rule without `sources` allows (`[""]`: any).
    pub allowed_sources: Vec<String>,
    /// Compose types a client rule without `compose_types` allows (`[""]`: any).
    pub allowed_compose_types: Vec<String>,
    /// Koji hub XML-RPC endpoint; empty disables `tag`, `build` and `pungi_compose` composes.
    pub koji_hub_url: String,
    /// Koji's top URL, where package files are downloaded from (`.../packages/N/V/R/...`).
    pub koji_topurl: String,
    /// Koji's top directory when mounted on the workers: package files are used in place
    /// (empty: download from `koji_topurl`).
    pub koji_topdir: PathBuf,
    /// PEM file with a client certificate and key: workers log in with `sslLogin` (empty:
    /// anonymous reads).
    pub koji_client_cert: PathBuf,
    /// PEM file of the CA of the hub's certificate, when not a public one (empty: system CAs).
    pub koji_server_ca: PathBuf,
    /// Timeout of one hub call or package download, in seconds.
    pub koji_timeout_seconds: u64,
    /// Attempts per hub call or download before the compose fails.
    pub koji_attempts: u32,
    /// Wait before the first retry, in milliseconds; doubles after each.
    pub koji_retry_backoff_ms: u64,
    /// Package downloads one compose runs at once.
    pub koji_download_parallel: usize,
    /// Largest size of the downloaded-package cache, in bytes; the oldest files go first.
    pub koji_cache_max_bytes: u64,
    /// Downloaded packages older than this many seconds are pruned.
    pub koji_cache_max_age_seconds: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: "sqlite://odcs-data/odcs.db".into(),
            database_pool_size: 8,
            listen: "127.0.0.1:5005".into(),
            http_workers: 0,
            amqp_url: String::new(),
            messaging_exchange: "amq.topic".into(),
            messaging_topic_prefix: String::new(),
            messaging_topic: "odcs.state.change".into(),
            queue_routes: BTreeMap::from([(
                "pulp_composes".to_owned(),
                BTreeMap::from([("source_type".to_owned(), serde_json::json!([4]))]),
            )]),
            default_queue: "pungi_composes".into(),
            worker_concurrency: 2,
            lease_seconds: 120,
            beat_interval_seconds: 30,
            redispatch_after_seconds: 120,
            max_wait_seconds: 24 * 60 * 60,
            max_body_bytes: 1024 * 1024,
            max_per_page: 1000,
            list_total_cache_ms: 1000,
            target_dir: PathBuf::from("odcs-data/composes"),
            target_dir_url: "http://127.0.0.1:5005/composes".into(),
            repo_source_roots: Vec::new(),
            package_cache_dir: PathBuf::from("odcs-data/cache"),
            repodata_compression: "gz".into(),
            extra_target_dirs: BTreeMap::new(),
            seconds_to_live: 24 * 60 * 60,
            max_seconds_to_live: 72 * 60 * 60,
            arches: vec!["x86_64".into()],
            sigkeys: Vec::new(),
            base_module_names: vec!["platform".into(), "bootstrap".into()],
            allowed_clients: AllowedClients::default(),
            admins: Admins::default(),
            auth_backend: AuthBackend::Noauth,
            auth_user_header: "X-Remote-User".into(),
            auth_groups_header: "X-Remote-Groups".into(),
            auth_trusted_proxies: vec![
                IpAddr::from([127, 0, 0, 1]),
                IpAddr::from([0, 0, 0, 0, 0, 0, 0, 1]),
            ],
            auth_strip_realm: true,
            raw_config_urls: BTreeMap::new(),
            allowed_source_types: vec!["tag".into(), "module".into(), "build".into()],
            allowed_flags: ComposeFlag::ALL.iter().map(|f| f.name().into()).collect(),
            allowed_arches: vec!["x86_64".into()],
            allowed_results: ComposeResult::ALL.iter().map(|r| r.name().into()).collect(),
            allowed_sources: vec![String::new()],
            allowed_compose_types: vec![String::new()],
            koji_hub_url: String::new(),
            koji_topurl: String::new(),
            koji_topdir: PathBuf::new(),
            koji_client_cert: PathBuf::new(),
            koji_server_ca: PathBuf::new(),
            koji_timeout_seconds: 120,
            koji_attempts: 5,
            koji_retry_backoff_ms: 1000,
            koji_download_parallel: 8,
            koji_cache_max_bytes: 100 * 1024 * 1024 * 1024,
            koji_cache_max_age_seconds: 14 * 24 * 60 * 60,
        }
    }
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
        apply_env(&mut table, env)?;
        let config: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse(e.message().to_owned()))?;
        config.check()?;
        Ok(config)
    }

    /// The rules every loaded configuration satisfies.
    fn check(&self) -> Result<(), ConfigError> {
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
        self.listen.parse::<SocketAddr>().map_err(|e| {
            invalid(
                "listen",
                format!("{:?} is not an address: {e}", self.listen),
            )
        })?;
        url::Url::parse(&self.target_dir_url).map_err(|e| {
            invalid(
                "target_dir_url",
                format!("{:?} is not a URL: {e}", self.target_dir_url),
            )
        })?;
        let amqp_ok = self.amqp_url.is_empty()
            || self.amqp_url.starts_with("amqp://")
            || self.amqp_url.starts_with("amqps://");
        if !amqp_ok {
            return Err(invalid("amqp_url", "must start with amqp:// or amqps://"));
        }
        if !matches!(self.repodata_compression.as_str(), "gz" | "zst") {
            return Err(invalid("repodata_compression", "must be gz or zst"));
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
        for (queue, rules) in &self.queue_routes {
            for (property, rule) in rules {
                let key = format!("queue_routes.{queue}.{property}");
                match rule {
                    serde_json::Value::Array(_) => {}
                    serde_json::Value::String(pattern) => {
                        regex::Regex::new(pattern).map_err(|e| invalid(&key, e.to_string()))?;
                    }
                    _ => return Err(invalid(&key, "must be a list of values or a regex")),
                }
            }
        }
        if self.max_body_bytes == 0 {
            return Err(invalid("max_body_bytes", "must be at least 1"));
        }
        if self.max_per_page < 1 {
            return Err(invalid("max_per_page", "must be at least 1"));
        }
        if self.seconds_to_live <= 0 {
            return Err(invalid("seconds_to_live", "must be positive"));
        }
        if self.max_seconds_to_live < self.seconds_to_live {
            return Err(invalid(
                "max_seconds_to_live",
                "must not be less than seconds_to_live",
            ));
        }
        if self.arches.is_empty() {
            return Err(invalid("arches", "must name at least one arch"));
        }
        if self.extra_target_dirs.contains_key("default") {
            return Err(invalid(
                "extra_target_dirs",
                "\"default\" names target_dir and cannot be redefined",
            ));
        }
        for (name, raw) in &self.raw_config_urls {
            let key = format!("raw_config_urls.{name}");
            if raw.seconds_to_live.is_some_and(|s| s <= 0) {
                return Err(invalid(&key, "seconds_to_live must be positive"));
            }
            let default = raw.seconds_to_live.unwrap_or(self.seconds_to_live);
            if raw.max_seconds_to_live.unwrap_or(self.max_seconds_to_live) < default {
                return Err(invalid(
                    &key,
                    "max_seconds_to_live must not be less than seconds_to_live",
                ));
            }
        }
        check_names::<SourceType>("allowed_source_types", &self.allowed_source_types)?;
        check_names::<ComposeFlag>("allowed_flags", &self.allowed_flags)?;
        check_names::<ComposeResult>("allowed_results", &self.allowed_results)?;
        for (kind, rules) in [
            ("users", &self.allowed_clients.users),
            ("groups", &self.allowed_clients.groups),
        ] {
            for (name, rule) in rules {
                let key = |attr: &str| format!("allowed_clients.{kind}.{name}.{attr}");
                if let Some(types) = &rule.source_types {
                    check_names::<SourceType>(&key("source_types"), types)?;
                }
                if let Some(flags) = &rule.flags {
                    check_names::<ComposeFlag>(&key("flags"), flags)?;
                }
                if let Some(results) = &rule.results {
                    check_names::<ComposeResult>(&key("results"), results)?;
                }
            }
        }
        if self.auth_backend == AuthBackend::Proxy {
            if self.auth_user_header.trim().is_empty() {
                return Err(invalid(
                    "auth_user_header",
                    "the proxy backend needs a header name",
                ));
            }
            if self.auth_trusted_proxies.is_empty() {
                return Err(invalid(
                    "auth_trusted_proxies",
                    "the proxy backend needs at least one trusted proxy address",
                ));
            }
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

    /// Default and longest lifetime for composes of raw config `key` (or of any other source).
    pub fn lifetimes(&self, raw_config_key: Option<&str>) -> (i64, i64) {
        let raw = raw_config_key.and_then(|k| self.raw_config_urls.get(k));
        (
            raw.and_then(|r| r.seconds_to_live)
                .unwrap_or(self.seconds_to_live),
            raw.and_then(|r| r.max_seconds_to_live)
                .unwrap_or(self.max_seconds_to_live),
        )
    }
}

fn check_names<T: std::str::FromStr>(key: &str, names: &[String]) -> Result<(), ConfigError>
where
    T::Err: std::fmt::Display,
{
    for name in names.iter().filter(|n| !n.is_empty()) {
        if name == "no_flags" {
            continue;
        }
        name.parse::<T>().map_err(|e| invalid(key, e.to_string()))?;
    }
    Ok(())
}

/// Overrides keys of `table` with `ODCS_<KEY>` variables from `env`.
///
/// A value is read as the key's type: strings as they are, numbers and booleans parsed, lists
/// as JSON (`["a","b"]`) or as comma/space separated words, tables as JSON objects.
fn apply_env(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    let defaults = match toml::Value::try_from(Config::default()) {
        Ok(toml::Value::Table(t)) => t,
        _ => toml::Table::new(),
    };
    let overrides: BTreeMap<String, String> = env
        .into_iter()
        .filter_map(|(k, v)| {
            k.strip_prefix(ENV_PREFIX)
                .map(|key| (key.to_ascii_lowercase(), v))
        })
        .collect();
    for (key, default) in &defaults {
        let Some(raw) = overrides.get(key) else {
            continue;
        };
        let var = format!("{ENV_PREFIX}{}", key.to_ascii_uppercase());
        let bad = |what: &str| ConfigError::Parse(format!("{var}: {what}, got {raw:?}"));
        let value = match default {
            toml::Value::String(_) => toml::Value::String(raw.clone()),
            toml::Value::Integer(_) => {
                toml::Value::Integer(raw.trim().parse().map_err(|_| bad("expected an integer"))?)
            }
            toml::Value::Boolean(_) => toml::Value::Boolean(match raw.trim() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => return Err(bad("expected true or false")),
            }),
            toml::Value::Array(_) if raw.trim_start().starts_with('[') => {
                json_to_toml(raw).ok_or_else(|| bad("expected a JSON list"))?
            }
            toml::Value::Array(_) => toml::Value::Array(
                raw.split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|w| !w.is_empty())
                    .map(|w| toml::Value::String(w.to_owned()))
                    .collect(),
            ),
            _ => json_to_toml(raw).ok_or_else(|| bad("expected a JSON object"))?,
        };
        table.insert(key.clone(), value);
    }
    Ok(())
}

fn json_to_toml(raw: &str) -> Option<toml::Value> {
    let json: serde_json::Value = serde_json::from_str(raw).ok()?;
    toml::Value::try_from(json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_need_no_file() {
        let config = Config::load(None, env(&[])).expect("defaults are valid");
        assert_eq!(config.auth_backend, AuthBackend::Noauth);
        assert!(config.database_url.starts_with("sqlite:"));
        assert_eq!(config.seconds_to_live, 86400);
    }

    #[test]
    fn environment_overrides_each_kind_of_key() {
        let config = Config::load(
            None,
            env(&[
                ("ODCS_SECONDS_TO_LIVE", "60"),
                ("ODCS_ARCHES", "x86_64, aarch64"),
                ("ODCS_SIGKEYS", r#"["ABC", ""]"#),
                ("ODCS_AUTH_STRIP_REALM", "false"),
                ("ODCS_DATABASE_URL", "postgres://db/odcs"),
                (
                    "ODCS_ADMINS",
                    r#"{"users": ["root"], "groups": ["releng"]}"#,
                ),
                ("UNRELATED", "x"),
            ]),
        )
        .expect("valid overrides");
        assert_eq!(config.seconds_to_live, 60);
        assert_eq!(config.arches, ["x86_64", "aarch64"]);
        assert_eq!(config.sigkeys, ["ABC", ""]);
        assert!(!config.auth_strip_realm);
        assert_eq!(config.database_url, "postgres://db/odcs");
        assert!(config.admins.contains("root", &[]));
        assert!(config.admins.contains("x", &["releng".into()]));
    }

    #[test]
    fn bad_values_name_their_key() {
        let err =
            Config::load(None, env(&[("ODCS_SECONDS_TO_LIVE", "soon")])).expect_err("not a number");
        assert!(err.to_string().contains("ODCS_SECONDS_TO_LIVE"), "{err}");

        let err = Config::load(None, env(&[("ODCS_MAX_SECONDS_TO_LIVE", "10")]))
            .expect_err("max below default");
        assert!(err.to_string().contains("max_seconds_to_live"), "{err}");

        let err = Config::load(None, env(&[("ODCS_ALLOWED_FLAGS", "no_deps,bogus")]))
            .expect_err("unknown flag");
        assert!(err.to_string().contains("allowed_flags"), "{err}");
    }

    #[test]
    fn env_example_lists_every_key_with_a_valid_default() {
        let text = include_str!("../../.env.example");
        let pairs: Vec<(String, String)> = text
            .lines()
            .filter(|l| l.starts_with(ENV_PREFIX) && !l.starts_with("ODCS_CONFIG="))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let defaults = match toml::Value::try_from(Config::default()) {
            Ok(toml::Value::Table(t)) => t,
            other => panic!("defaults must be a table: {other:?}"),
        };
        for key in defaults.keys() {
            let var = format!("{ENV_PREFIX}{}", key.to_ascii_uppercase());
            assert!(
                pairs.iter().any(|(k, _)| *k == var),
                "{var} missing from .env.example"
            );
        }
        let loaded = Config::load(None, pairs).expect(".env.example values load");
        assert_eq!(loaded, Config::default(), ".env.example shows the defaults");
    }

    #[test]
    fn file_keys_are_checked() {
        let dir = std::env::temp_dir().join(format!("odcs-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("odcs.toml");
        std::fs::write(&path, "target_dirr = \"/srv\"\n").expect("write");
        let err = Config::load(Some(&path), env(&[])).expect_err("typo");
        assert!(err.to_string().contains("target_dirr"), "{err}");

        std::fs::write(
            &path,
            r#"
auth_backend = "kerberos"
target_dir = "/srv/odcs"
[extra_target_dirs]
private = "/srv/private"
[raw_config_urls.pungi_cfg]
url = "https://git.example.com/cfg.git"
config_filename = "pungi.conf"
max_seconds_to_live = 604800
[allowed_clients.users.alice]
source_types = ["tag", "repo"]
"#,
        )
        .expect("write");
        let config = Config::load(Some(&path), env(&[])).expect("valid file");
        assert_eq!(config.auth_backend, AuthBackend::Proxy);
        assert_eq!(config.target_dir_name(Some("/srv/private")), "private");
        assert_eq!(config.target_dir_name(Some("/srv/odcs")), "default");
        assert_eq!(config.target_dir_name(Some("/elsewhere")), "unknown");
        assert_eq!(config.lifetimes(Some("pungi_cfg")), (86400, 604800));
        std::fs::remove_dir_all(dir).ok();
    }
}
