//! Koji client configuration the way Koji users keep it: a profile (`koji_profile`) read from
//! koji.conf files, as the reference (through `koji.read_config`) does. Files are read in
//! koji's order, later ones overriding earlier ones key by key: `{etc}/koji.conf.d/*.conf`,
//! `{etc}/koji.conf`, then either `koji_config` (which must exist) or the user's
//! `~/.koji/config.d/*.conf` and `~/.koji/config`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{invalid, ConfigError, KojiConfig};

/// Where the profile's files are looked for.
#[derive(Debug, Clone)]
pub struct ProfileSources {
    /// The system configuration directory (`/etc`).
    pub etc: PathBuf,
    /// The user's home directory, if known.
    pub home: Option<PathBuf>,
}

impl Default for ProfileSources {
    fn default() -> Self {
        ProfileSources {
            etc: PathBuf::from("/etc"),
            home: std::env::var_os("HOME").map(PathBuf::from),
        }
    }
}

/// The keys of a profile this service takes; koji's other client settings (`weburl`,
/// `poll_interval`, ...) are the CLI's and mean nothing to a compose service.
const TAKEN: [&str; 7] = [
    "server", "topurl", "topdir", "cert", "serverca", "timeout", "authtype",
];

impl ProfileSources {
    /// The files to read, in order; `config` is `koji_config` (empty: the user's files).
    fn files(&self, config: &Path) -> Result<Vec<PathBuf>, ConfigError> {
        let mut files = conf_dir(&self.etc.join("koji.conf.d"));
        files.push(self.etc.join("koji.conf"));
        if config.as_os_str().is_empty() {
            if let Some(home) = &self.home {
                files.extend(conf_dir(&home.join(".koji/config.d")));
                files.push(home.join(".koji/config"));
            }
        } else if config.is_file() {
            files.push(config.to_owned());
        } else {
            return Err(invalid(
                "koji_config",
                format!("{} is not a readable file", config.display()),
            ));
        }
        Ok(files)
    }
}

/// The `*.conf` files of `dir`, sorted by name (none if it does not exist).
fn conf_dir(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "conf") && p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// The settings of `profile` across `files` (later files win), keys lower-cased as Python's
/// configparser reads them; `None` if no file has the profile.
fn read_profile(
    files: &[PathBuf],
    profile: &str,
) -> Result<Option<BTreeMap<String, String>>, ConfigError> {
    let mut found: Option<BTreeMap<String, String>> = None;
    for file in files.iter().filter(|f| f.is_file()) {
        let parsed = ini::Ini::load_from_file(file).map_err(|e| {
            invalid(
                "koji_profile",
                format!("cannot read {}: {e}", file.display()),
            )
        })?;
        if let Some(section) = parsed.section(Some(profile)) {
            let settings = found.get_or_insert_with(BTreeMap::new);
            for (key, value) in section.iter() {
                settings.insert(key.to_ascii_lowercase(), value.trim().to_owned());
            }
        }
    }
    Ok(found)
}

/// `~/x` with the home directory, as koji expands certificate paths.
fn expand_home(value: &str, home: Option<&Path>) -> PathBuf {
    match (value.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(value),
    }
}

impl KojiConfig {
    /// Fills what this configuration leaves empty from `koji_profile`, if one is named: the
    /// hub (`server`), `topurl`, `topdir` (only when it exists here: koji's default
    /// `/mnt/koji` is rarely mounted on a worker), the client certificate (`cert`) and its CA
    /// (`serverca`), and `timeout`. Keys set in this configuration win over the profile's.
    pub fn apply_profile(&mut self, sources: &ProfileSources) -> Result<(), ConfigError> {
        if self.profile.is_empty() {
            if !self.config.as_os_str().is_empty() {
                return Err(invalid(
                    "koji_config",
                    "it is read for koji_profile, which is not set",
                ));
            }
            return Ok(());
        }
        let files = sources.files(&self.config)?;
        let Some(settings) = read_profile(&files, &self.profile)? else {
            let read: Vec<String> = files
                .iter()
                .filter(|f| f.is_file())
                .map(|f| f.display().to_string())
                .collect();
            return Err(invalid(
                "koji_profile",
                format!(
                    "no configuration for profile {:?} in {}",
                    self.profile,
                    if read.is_empty() {
                        "any koji configuration file (none found)".to_owned()
                    } else {
                        read.join(", ")
                    }
                ),
            ));
        };
        for (key, value) in &settings {
            if TAKEN.contains(&key.as_str()) && value.contains("%(") {
                return Err(invalid(
                    "koji_profile",
                    format!("{key} = {value}: %(...)s interpolation is not supported"),
                ));
            }
        }
        let get = |key: &str| settings.get(key).filter(|v| !v.is_empty());
        let home = sources.home.as_deref();
        match get("authtype").map(|a| a.to_ascii_lowercase()).as_deref() {
            None | Some("ssl") | Some("noauth") => {}
            Some(other) => {
                return Err(invalid(
                    "koji_profile",
                    format!(
                        "profile {:?} logs in with authtype {other}; workers log in with a \
                         client certificate (authtype ssl) or anonymously",
                        self.profile
                    ),
                ))
            }
        }
        if self.hub_url.is_empty() {
            self.hub_url = get("server").cloned().unwrap_or_default();
        }
        if self.topurl.is_empty() {
            self.topurl = get("topurl").cloned().unwrap_or_default();
        }
        if self.topdir.as_os_str().is_empty() {
            if let Some(dir) = get("topdir").map(|d| expand_home(d, home)) {
                if dir.is_dir() {
                    self.topdir = dir;
                }
            }
        }
        if self.client_cert.as_os_str().is_empty() {
            if let Some(cert) = get("cert") {
                self.client_cert = expand_home(cert, home);
            }
        }
        if self.server_ca.as_os_str().is_empty() {
            if let Some(ca) = get("serverca") {
                self.server_ca = expand_home(ca, home);
            }
        }
        if let Some(timeout) = get("timeout") {
            self.timeout_seconds = timeout.parse().map_err(|_| {
                invalid(
                    "koji_profile",
                    format!("timeout = {timeout}: not a number of seconds"),
                )
            })?;
        }
        if self.hub_url.is_empty() {
            return Err(invalid(
                "koji_profile",
                format!("profile {:?} names no server", self.profile),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("odcs-koji-conf-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("etc/koji.conf.d")).expect("etc");
        std::fs::create_dir_all(dir.join("home/.koji")).expect("home");
        dir
    }

    fn sources(dir: &Path) -> ProfileSources {
        ProfileSources {
            etc: dir.join("etc"),
            home: Some(dir.join("home")),
        }
    }

    fn profile(name: &str) -> KojiConfig {
        KojiConfig {
            profile: name.into(),
            ..KojiConfig::default()
        }
    }

    #[test]
    fn a_profile_fills_the_hub_and_later_files_win() {
        let dir = scratch();
        std::fs::write(
            dir.join("etc/koji.conf"),
            "[koji]\nserver = https://old.example/kojihub\ntopurl = https://old.example/kojifiles\n\
             weburl = https://old.example/koji\n[stg]\nserver = https://stg.example/kojihub\n",
        )
        .expect("koji.conf");
        std::fs::write(
            dir.join("home/.koji/config"),
            "[koji]\nServer = https://koji.example/kojihub\ncert = ~/.koji/client.pem\n\
             authtype = ssl\ntimeout: 30\ntopdir = /nonexistent/koji\n",
        )
        .expect("user config");
        let mut koji = profile("koji");
        koji.apply_profile(&sources(&dir)).expect("profile");
        assert_eq!(koji.hub_url, "https://koji.example/kojihub");
        assert_eq!(koji.topurl, "https://old.example/kojifiles");
        assert_eq!(koji.client_cert, dir.join("home/.koji/client.pem"));
        assert_eq!(koji.timeout_seconds, 30);
        assert_eq!(
            koji.topdir,
            PathBuf::new(),
            "a topdir not mounted here is left out"
        );

        // Keys set in our configuration win; koji_config replaces the user's files.
        let mine = dir.join("mine.conf");
        std::fs::write(&mine, "[stg]\ntopurl = https://stg.example/files\n").expect("mine");
        let mut koji = KojiConfig {
            config: mine,
            topurl: "https://mirror.example/files".into(),
            ..profile("stg")
        };
        koji.apply_profile(&sources(&dir)).expect("stg");
        assert_eq!(koji.hub_url, "https://stg.example/kojihub");
        assert_eq!(koji.topurl, "https://mirror.example/files");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn what_cannot_be_used_is_refused_by_name() {
        let dir = scratch();
        std::fs::write(
            dir.join("etc/koji.conf.d/brew.conf"),
            "[brew]\nserver = https://brew.example/brewhub\nauthtype = kerberos\n\
             [interp]\nserver = %(base)s/kojihub\n[empty]\nweburl = https://x\n",
        )
        .expect("brew.conf");
        let refused = |koji: KojiConfig, key: &str, words: &str| {
            let mut koji = koji;
            let err = koji.apply_profile(&sources(&dir)).expect_err("refused");
            let text = err.to_string();
            assert!(text.contains(&format!("`{key}`")), "{text}");
            assert!(text.contains(words), "{text}");
        };
        refused(profile("brew"), "koji_profile", "authtype kerberos");
        refused(profile("interp"), "koji_profile", "interpolation");
        refused(profile("empty"), "koji_profile", "names no server");
        refused(
            profile("nope"),
            "koji_profile",
            "no configuration for profile \"nope\"",
        );
        refused(
            KojiConfig {
                config: dir.join("missing.conf"),
                ..profile("brew")
            },
            "koji_config",
            "not a readable file",
        );
        refused(
            KojiConfig {
                config: dir.join("missing.conf"),
                ..KojiConfig::default()
            },
            "koji_config",
            "koji_profile, which is not set",
        );
        std::fs::remove_dir_all(dir).ok();
    }
}
