//! Module defaults from a git repository (`module_defaults_url`: a URL and a branch, tag or
//! commit), as Fedora's `module-defaults` repository holds them: YAML files of
//! `modulemd-defaults` documents.

use std::collections::HashSet;
use std::net::ToSocketAddrs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use thiserror::Error;

use super::modulemd::{read_documents, Document, ModuleDefaults};

/// How long one git command may take.
const GIT_TIMEOUT: Duration = Duration::from_secs(300);
/// The most one defaults file may hold.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Why the defaults could not be read.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DefaultsError {
    /// The URL is not one workers may fetch.
    #[error("module_defaults_url {url:?}: {reason}")]
    Refused {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// git failed.
    #[error("cannot fetch module defaults from {url} at {commit}: {reason}")]
    Git {
        /// The URL.
        url: String,
        /// The branch, tag or commit.
        commit: String,
        /// What git said (its last line).
        reason: String,
    },
    /// A file is unusable.
    #[error("module defaults {file}: {reason}")]
    File {
        /// The file, relative to the repository.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// The compose was told to stop while git ran.
    #[error("fetching module defaults stopped: {0}")]
    Stopped(#[from] crate::cancel::Cancelled),
}

/// Where defaults may come from: `http`, `https` and `git` URLs whose host is outside
/// `blocked_networks`, and `file` URLs inside `file_roots` (git's other transports run
/// commands or reach anything; they are refused).
pub struct DefaultsPolicy<'a> {
    /// Directories `file://` URLs may name.
    pub file_roots: &'a [PathBuf],
    /// Networks (`fetch_blocked_networks`) the host may not resolve to.
    pub blocked_networks: &'a [ipnet::IpNet],
}

/// The defaults of the modules named in `modules` in the git repository `url` at `commit`,
/// checked out under `scratch`.
pub fn fetch_defaults(
    url: &str,
    commit: &str,
    modules: &HashSet<String>,
    policy: &DefaultsPolicy<'_>,
    scratch: &Path,
) -> Result<Vec<ModuleDefaults>, DefaultsError> {
    let pinned = check_url(url, policy)?;
    let valid_commit = !commit.is_empty()
        && !commit.starts_with('-')
        && commit
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/-".contains(c));
    if !valid_commit {
        return Err(DefaultsError::Refused {
            url: url.to_owned(),
            reason: format!("{commit:?} is not a branch, tag or commit name"),
        });
    }
    let git_error = |reason: String| DefaultsError::Git {
        url: url.to_owned(),
        commit: commit.to_owned(),
        reason,
    };
    let checkout = scratch.join("module-defaults");
    let _ = std::fs::remove_dir_all(&checkout);
    std::fs::create_dir_all(&checkout).map_err(|e| git_error(e.to_string()))?;
    let dir = checkout.display().to_string();
    git(&["init", "-q", &dir]).map_err(git_error)?;
    let mut fetch: Vec<&str> = vec!["-C", &dir];
    for setting in &pinned {
        fetch.extend(["-c", setting.as_str()]);
    }
    fetch.extend(["fetch", "-q", "--depth", "1", url, commit]);
    git(&fetch).map_err(git_error)?;
    git(&["-C", &dir, "checkout", "-q", "FETCH_HEAD"]).map_err(git_error)?;
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(&checkout)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".git")
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    for path in files {
        let file = path
            .strip_prefix(&checkout)
            .unwrap_or(&path)
            .display()
            .to_string();
        let bytes =
            crate::repodata::compress::read_limited(&path, MAX_FILE_BYTES).map_err(|e| {
                DefaultsError::File {
                    file: file.clone(),
                    reason: e.to_string(),
                }
            })?;
        let text = String::from_utf8_lossy(&bytes);
        let documents = read_documents(&text, &file).map_err(|e| DefaultsError::File {
            file: file.clone(),
            reason: e.reason,
        })?;
        out.extend(documents.into_iter().filter_map(|d| match d {
            Document::Defaults(d) if modules.contains(&d.module) => Some(d),
            _ => None,
        }));
    }
    let _ = std::fs::remove_dir_all(&checkout);
    Ok(out)
}

/// Checks `url` against `policy`; returns git settings that keep the fetch on the checked
/// address (HTTP redirects off, the host pinned to the address checked).
fn check_url(url: &str, policy: &DefaultsPolicy<'_>) -> Result<Vec<String>, DefaultsError> {
    let refused = |reason: &str| DefaultsError::Refused {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let parsed = url::Url::parse(url).map_err(|_| refused("not a URL"))?;
    match parsed.scheme() {
        "http" | "https" | "git" => {
            let host = parsed
                .host_str()
                .filter(|h| !h.is_empty())
                .ok_or_else(|| refused("the URL names no host"))?;
            let port = parsed.port_or_known_default().unwrap_or(9418);
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            let addresses: Vec<std::net::SocketAddr> = (bare, port)
                .to_socket_addrs()
                .map_err(|e| refused(&format!("cannot resolve {host}: {e}")))?
                .collect();
            let Some(first) = addresses.first() else {
                return Err(refused(&format!("{host} resolves to no address")));
            };
            if addresses
                .iter()
                .any(|a| crate::fetch::is_blocked(policy.blocked_networks, a.ip()))
            {
                return Err(refused("the address is in fetch_blocked_networks"));
            }
            if parsed.scheme() == "git" {
                return Ok(Vec::new());
            }
            let ip = match first.ip() {
                std::net::IpAddr::V6(v6) => format!("[{v6}]"),
                v4 => v4.to_string(),
            };
            Ok(vec![
                "http.followRedirects=false".to_owned(),
                format!("http.curloptResolve={bare}:{port}:{ip}"),
            ])
        }
        "file" => {
            let inside = parsed
                .to_file_path()
                .ok()
                .and_then(|p| std::fs::canonicalize(p).ok())
                .is_some_and(|real| {
                    policy
                        .file_roots
                        .iter()
                        .filter_map(|r| std::fs::canonicalize(r).ok())
                        .any(|root| real.starts_with(root))
                });
            if inside {
                Ok(Vec::new())
            } else {
                Err(refused(
                    "file URLs may only name repositories inside repo_source_roots",
                ))
            }
        }
        _ => Err(refused("only http, https, git and file URLs are fetched")),
    }
}

/// Runs git with `args`, its transports limited to the safe ones, no prompts, within
/// [`GIT_TIMEOUT`] and the compose's deadline; the last line of its error output on failure.
fn git(args: &[&str]) -> Result<(), String> {
    let mut child = Command::new("git")
        .args(args)
        .env("GIT_ALLOW_PROTOCOL", "http:https:git:file")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run git: {e}"))?;
    let deadline = Instant::now() + GIT_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                if status.success() {
                    return Ok(());
                }
                let mut err = String::new();
                if let Some(mut stderr) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut stderr, &mut err);
                }
                let last = err.lines().rfind(|l| !l.trim().is_empty());
                return Err(last.unwrap_or("git failed").trim().to_owned());
            }
            Ok(None) => {}
            Err(e) => return Err(e.to_string()),
        }
        let stopped = crate::cancel::current().and_then(|c| c.check().err());
        if Instant::now() > deadline || stopped.is_some() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(match stopped {
                Some(cause) => cause.to_string(),
                None => format!("git took longer than {} s", GIT_TIMEOUT.as_secs()),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(url: &str, roots: &[PathBuf]) -> Option<String> {
        let blocked: Vec<ipnet::IpNet> = ["127.0.0.0/8", "::1/128", "169.254.0.0/16"]
            .iter()
            .map(|n| n.parse().expect("net"))
            .collect();
        let policy = DefaultsPolicy {
            file_roots: roots,
            blocked_networks: &blocked,
        };
        check_url(url, &policy).err().map(|e| e.to_string())
    }

    #[test]
    fn hosts_in_blocked_networks_are_refused_by_literal_and_by_name() {
        for url in [
            "http://127.0.0.1/defaults.git",
            "https://[::1]:8443/defaults.git",
            "git://169.254.169.254/defaults.git",
            "http://localhost/defaults.git",
        ] {
            let reason = refusal(url, &[]).unwrap_or_else(|| panic!("{url} was allowed"));
            assert!(reason.contains("fetch_blocked_networks"), "{reason}");
        }
    }

    #[test]
    fn transports_that_run_commands_and_files_outside_the_roots_are_refused() {
        for url in [
            "ext::sh -c touch% /tmp/pwned",
            "ssh://git@example.com/defaults.git",
            "fd::17",
        ] {
            assert!(refusal(url, &[]).is_some(), "{url} was allowed");
        }
        let root = std::env::temp_dir();
        let outside = refusal("file:///etc", std::slice::from_ref(&root)).expect("refused");
        assert!(outside.contains("repo_source_roots"), "{outside}");
        assert_eq!(
            refusal(&format!("file://{}", root.display()), &[root]),
            None
        );
    }

    #[test]
    fn fetches_over_http_are_pinned_to_the_checked_address_without_redirects() {
        let policy = DefaultsPolicy {
            file_roots: &[],
            blocked_networks: &[],
        };
        let settings = check_url("http://127.0.0.1:8080/d.git", &policy).expect("allowed");
        assert_eq!(
            settings,
            vec![
                "http.followRedirects=false".to_owned(),
                "http.curloptResolve=127.0.0.1:8080:127.0.0.1".to_owned()
            ]
        );
    }
}
