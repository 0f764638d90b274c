//! Reading files by URL, for every stage that needs a remote file (lookaside repositories,
//! a Pungi compose's metadata): `file://` only inside the allowed roots, http(s) with bounded
//! retries and redirects, every file capped in size.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

/// Why a file could not be fetched.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The URL's scheme is not one we read.
    #[error("{url:?} is not an http, https or file URL")]
    UnsupportedUrl {
        /// The URL.
        url: String,
    },
    /// The file could not be had.
    #[error("cannot fetch {url}: {reason}")]
    Failed {
        /// What was fetched.
        url: String,
        /// What went wrong.
        reason: String,
        /// Whether trying later may succeed (the server was unreachable or failed), unlike a
        /// missing file or a refusal.
        transient: bool,
    },
}

impl FetchError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            FetchError::Failed {
                transient: true,
                ..
            }
        )
    }
}

/// What a fetcher may read and how hard it tries.
#[derive(Debug, Clone)]
pub struct FetchPolicy {
    /// Timeout of one HTTP request.
    pub timeout: Duration,
    /// Tries per file.
    pub attempts: u32,
    /// Directories `file://` URLs may name files in (after resolving symlinks); empty: none.
    pub file_roots: Vec<PathBuf>,
    /// The most one file may hold.
    pub max_bytes: u64,
}

/// Redirects followed before a fetch fails.
const MAX_REDIRECTS: usize = 5;

/// Reads files by URL: `file://` inside the allowed roots, http(s) with retries, each capped in
/// size.
pub struct Fetcher {
    http: reqwest::blocking::Client,
    policy: FetchPolicy,
    file_roots: Vec<PathBuf>,
    backoff: Duration,
}

impl Fetcher {
    /// A fetcher following `policy`.
    pub fn new(policy: FetchPolicy) -> Result<Fetcher, FetchError> {
        let http = reqwest::blocking::Client::builder()
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout.min(Duration::from_secs(30)))
            .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
            .user_agent(concat!("odcs-rs/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError::Failed {
                url: String::new(),
                reason: e.to_string(),
                transient: false,
            })?;
        let file_roots = policy
            .file_roots
            .iter()
            .filter_map(|r| std::fs::canonicalize(r).ok())
            .collect();
        Ok(Fetcher {
            http,
            file_roots,
            policy,
            backoff: Duration::from_millis(500),
        })
    }

    /// The most one file may hold.
    pub fn max_bytes(&self) -> u64 {
        self.policy.max_bytes
    }

    /// The bytes at `url`.
    pub fn get(&self, url: &url::Url) -> Result<Vec<u8>, FetchError> {
        let fail = |reason: String, transient: bool| FetchError::Failed {
            url: url.to_string(),
            reason,
            transient,
        };
        match url.scheme() {
            "file" => {
                // Whether a path outside the roots exists is never told.
                let refused = || {
                    fail(
                        "file URLs may only name files inside repo_source_roots".into(),
                        false,
                    )
                };
                let path = url.to_file_path().map_err(|()| refused())?;
                let real = std::fs::canonicalize(&path).map_err(|_| refused())?;
                if !self.file_roots.iter().any(|r| real.starts_with(r)) {
                    return Err(refused());
                }
                if !real.metadata().is_ok_and(|m| m.is_file()) {
                    return Err(fail("not a regular file".into(), false));
                }
                crate::repodata::compress::read_limited(&real, self.policy.max_bytes)
                    .map_err(|e| fail(e.to_string(), crate::durable::is_transient_io(&e)))
            }
            "http" | "https" => {
                let mut last = String::new();
                for attempt in 0..self.policy.attempts.max(1) {
                    if attempt > 0 {
                        crate::cancel::sleep_before_retry(self.backoff * 2u32.pow(attempt - 1))
                            .map_err(|c| fail(format!("{last} ({c})"), false))?;
                    }
                    match self.http.get(url.clone()).send() {
                        Ok(response) if response.status().is_success() => {
                            return self
                                .read_body(response)
                                .map_err(|(reason, transient)| fail(reason, transient));
                        }
                        Ok(response) if response.status().is_client_error() => {
                            return Err(fail(format!("HTTP {}", response.status()), false));
                        }
                        Ok(response) => last = format!("HTTP {}", response.status()),
                        Err(e) => last = odcs_common::report::error_chain(&e),
                    }
                }
                Err(fail(last, true))
            }
            _ => Err(FetchError::UnsupportedUrl {
                url: url.to_string(),
            }),
        }
    }

    /// The body of `response`, refusing more than the policy's limit.
    fn read_body(&self, response: reqwest::blocking::Response) -> Result<Vec<u8>, (String, bool)> {
        let max = self.policy.max_bytes;
        let too_large = || (format!("more than {max} bytes (max_metadata_bytes)"), false);
        if response.content_length().is_some_and(|n| n > max) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        response
            .take(max.saturating_add(1))
            .read_to_end(&mut body)
            .map_err(|e| (e.to_string(), true))?;
        if body.len() as u64 > max {
            return Err(too_large());
        }
        Ok(body)
    }
}
