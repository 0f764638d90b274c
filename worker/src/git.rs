//! Configuration repositories: fetched with `git` into a cache of bare clones composes share
//! (one per repository URL, shallow where the server allows it, locked while one compose uses
//! it), then one commit's files written out for a compose. Credentials reach `git` through the
//! environment, never its command line, and only over https (or plain http to this host).

use std::fs::File;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::checksum::sha256_hex;
use nix::fcntl::{Flock, FlockArg};
use thiserror::Error;

use crate::cancel::Cancel;
use crate::command::{CommandError, ExternalCommand};
use odcs_common::config::GitCredentials;

/// How long one `git` command may take.
const GIT_TIMEOUT: Duration = Duration::from_secs(600);

/// Why a configuration repository could not be read.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum GitError {
    /// A cache directory or file cannot be used.
    #[error("git cache {path}: {message}")]
    Cache {
        /// The path.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A `git` command failed.
    #[error("{0}")]
    Command(#[from] CommandError),
    /// The repository has no such commit or branch.
    #[error("cannot fetch {commit:?} from {url}: {detail}")]
    NotFound {
        /// The repository.
        url: String,
        /// The commit or branch.
        commit: String,
        /// What git said.
        detail: String,
    },
    /// The commit's files cannot be written out safely.
    #[error("cannot check out {commit} of {url}: {message}")]
    Checkout {
        /// The repository.
        url: String,
        /// The commit.
        commit: String,
        /// What is wrong.
        message: String,
    },
}

/// The cache of configuration repositories.
#[derive(Debug, Clone)]
pub struct GitCache {
    dir: PathBuf,
}

/// A commit written out for one compose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedOut {
    /// The full commit id the request's commit or branch resolved to.
    pub commit: String,
}

fn cache_error(path: &Path) -> impl Fn(std::io::Error) -> GitError + '_ {
    move |e| GitError::Cache {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// Whether credentials may be sent to `url`: over https, or plain http to this host.
fn may_send_credentials(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    match parsed.scheme() {
        "https" => true,
        "http" => matches!(parsed.host_str(), Some("localhost" | "127.0.0.1" | "[::1]")),
        _ => false,
    }
}

impl GitCache {
    /// The cache in `dir`.
    pub fn new(dir: PathBuf) -> GitCache {
        GitCache { dir }
    }

    /// Fetches `commit` (a commit id or a branch) of `url` and writes its files into `dest`.
    pub fn checkout(
        &self,
        url: &str,
        commit: &str,
        credentials: Option<&GitCredentials>,
        dest: &Path,
        cancel: &Cancel,
    ) -> Result<CheckedOut, GitError> {
        let name = sha256_hex(url.as_bytes())[..24].to_owned();
        let repo = self.dir.join(format!("{name}.git"));
        std::fs::create_dir_all(&self.dir).map_err(cache_error(&self.dir))?;
        let lock_path = self.dir.join(format!("{name}.lock"));
        let lock_file = File::create(&lock_path).map_err(cache_error(&lock_path))?;
        let _lock =
            Flock::lock(lock_file, FlockArg::LockExclusive).map_err(|(_, e)| GitError::Cache {
                path: lock_path.clone(),
                message: e.to_string(),
            })?;
        let git = Git {
            repo: &repo,
            env: credentials
                .filter(|_| may_send_credentials(url))
                .map(credential_env)
                .unwrap_or_default(),
            cancel,
        };
        if !repo.join("HEAD").exists() {
            git.run(&["init", "--quiet", "--bare"])?;
        }
        let resolved = if is_commit_id(commit)
            && git
                .output(&["cat-file", "-e", &format!("{commit}^{{commit}}")])
                .is_ok()
        {
            commit.to_owned()
        } else {
            git.fetch(url, commit)?
        };
        git.export(&resolved, dest)
            .map_err(|message| GitError::Checkout {
                url: url.to_owned(),
                commit: resolved.clone(),
                message,
            })?;
        Ok(CheckedOut { commit: resolved })
    }
}

/// Whether `text` is a full commit id (which never changes what it names, unlike a branch).
fn is_commit_id(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The environment giving `git` a credential helper that answers with `credentials`.
fn credential_env(credentials: &GitCredentials) -> Vec<(String, String)> {
    [
        ("GIT_CONFIG_COUNT", "2"),
        ("GIT_CONFIG_KEY_0", "credential.helper"),
        (
            "GIT_CONFIG_VALUE_0",
            "!f() { test \"$1\" = get || exit 0; echo \"username=$ODCS_GIT_USERNAME\"; echo \"password=$ODCS_GIT_PASSWORD\"; }; f",
        ),
        ("GIT_CONFIG_KEY_1", "credential.useHttpPath"),
        ("GIT_CONFIG_VALUE_1", "true"),
        ("ODCS_GIT_USERNAME", credentials.username.as_str()),
        ("ODCS_GIT_PASSWORD", credentials.password.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

struct Git<'a> {
    repo: &'a Path,
    env: Vec<(String, String)>,
    cancel: &'a Cancel,
}

impl Git<'_> {
    fn base_env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("GIT_TERMINAL_PROMPT".to_owned(), "0".to_owned()),
            ("GIT_DIR".to_owned(), self.repo.display().to_string()),
        ];
        env.extend(self.env.iter().cloned());
        env
    }

    /// Runs `git args`, killable, with its errors in a file read back into the error.
    fn run(&self, args: &[&str]) -> Result<(), GitError> {
        let errors = self
            .repo
            .with_extension(format!("{}.stderr", uuid::Uuid::new_v4().simple()));
        let mut command = ExternalCommand::new(
            std::iter::once("git")
                .chain(args.iter().copied())
                .map(str::to_owned)
                .collect(),
            "git",
            GIT_TIMEOUT,
        );
        command.env = self.base_env();
        command.stderr = Some(errors.clone());
        let result = command.run(self.cancel);
        let detail = std::fs::read_to_string(&errors).unwrap_or_default();
        let _ = std::fs::remove_file(&errors);
        result.map_err(|e| match e {
            CommandError::Failed { command, status } => GitError::Command(CommandError::Failed {
                command: format!("{command} ({status}): {}", detail.trim()),
                status,
            }),
            other => GitError::Command(other),
        })
    }

    /// Runs a quick, local `git args` and returns its output.
    fn output(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("git")
            .args(args)
            .envs(self.base_env())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }

    /// Fetches `commit` of `url` and returns its full id: only that commit when the server
    /// allows a shallow fetch, else every branch and tag.
    fn fetch(&self, url: &str, commit: &str) -> Result<String, GitError> {
        let shallow = self.run(&["fetch", "--quiet", "--no-tags", "--depth=1", url, commit]);
        if shallow.is_ok() {
            if let Ok(id) = self.output(&["rev-parse", "--verify", "FETCH_HEAD^{commit}"]) {
                return Ok(id);
            }
        }
        let full = self.run(&[
            "fetch",
            "--quiet",
            "--no-tags",
            url,
            "+refs/heads/*:refs/odcs/heads/*",
            "+refs/tags/*:refs/odcs/tags/*",
        ]);
        if let Err(e) = full {
            // The server is unreachable or refuses us: say so, not that the commit is missing.
            return Err(shallow.err().unwrap_or(e));
        }
        for candidate in [
            format!("refs/odcs/heads/{commit}"),
            format!("refs/odcs/tags/{commit}"),
            commit.to_owned(),
        ] {
            if let Ok(id) = self.output(&[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("{candidate}^{{commit}}"),
            ]) {
                return Ok(id);
            }
        }
        Err(GitError::NotFound {
            url: url.to_owned(),
            commit: commit.to_owned(),
            detail: "no such commit, branch or tag".into(),
        })
    }

    /// Writes the files of `commit` into `dest`, refusing any that would leave it.
    fn export(&self, commit: &str, dest: &Path) -> Result<(), String> {
        std::fs::create_dir_all(dest).map_err(|e| e.to_string())?;
        let mut child = Command::new("git")
            .args(["archive", "--format=tar", commit])
            .envs(self.base_env())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let stdout = child.stdout.take().ok_or("git archive has no output")?;
        let unpacked = unpack(stdout, dest);
        let mut errors = String::new();
        if let Some(mut stderr) = child.stderr.take() {
            let _ = stderr.read_to_string(&mut errors);
        }
        let status = child.wait().map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("git archive failed: {}", errors.trim()));
        }
        unpacked
    }
}

/// Unpacks the tar stream `input` into `dest`: regular files and directories, and symlinks
/// that point inside `dest`.
fn unpack(input: impl Read, dest: &Path) -> Result<(), String> {
    let mut archive = tar::Archive::new(input);
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let path = entry.path().map_err(|e| e.to_string())?.into_owned();
        if path
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(format!(
                "{} is not a path inside the repository",
                path.display()
            ));
        }
        if entry.header().entry_type().is_symlink() {
            let target = entry
                .link_name()
                .map_err(|e| e.to_string())?
                .unwrap_or_default()
                .into_owned();
            if !stays_inside(&path, &target) {
                return Err(format!(
                    "{} is a symlink to {}, outside the repository",
                    path.display(),
                    target.display()
                ));
            }
        }
        entry.unpack_in(dest).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Whether symlink `link` (relative to the repository) pointing at `target` stays inside it.
fn stays_inside(link: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth: i64 = link.components().count() as i64 - 1;
    for component in target.components() {
        match component {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            _ => return false,
        }
        if depth < 0 {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_must_stay_inside_the_repository() {
        assert!(stays_inside(Path::new("a/link"), Path::new("../b.conf")));
        assert!(stays_inside(Path::new("link"), Path::new("sub/x")));
        assert!(!stays_inside(Path::new("link"), Path::new("../x")));
        assert!(!stays_inside(
            Path::new("a/link"),
            Path::new("../../etc/passwd")
        ));
        assert!(!stays_inside(Path::new("link"), Path::new("/etc/passwd")));
        assert!(!stays_inside(
            Path::new("a/link"),
            Path::new("b/../../../x")
        ));
    }

    #[test]
    fn credentials_go_only_over_https_or_to_this_host() {
        assert!(may_send_credentials("https://git.example.com/r.git"));
        assert!(may_send_credentials("http://127.0.0.1:8080/r.git"));
        assert!(!may_send_credentials("http://git.example.com/r.git"));
        assert!(!may_send_credentials("git://git.example.com/r.git"));
    }

    #[test]
    fn only_full_ids_name_fixed_commits() {
        assert!(is_commit_id(&"a".repeat(40)));
        assert!(!is_commit_id("main"));
        assert!(!is_commit_id("abc123"));
    }
}
