//! Reading files by URL, for every stage that needs a remote file (lookaside repositories,
//! a Pungi compose's metadata): local paths and `file://` directly, http(s) with retries.

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

/// Reads files by URL: local paths and `file://` directly, http(s) with retries.
pub struct Fetcher {
    http: reqwest::blocking::Client,
    attempts: u32,
    backoff: Duration,
}

impl Fetcher {
    /// A fetcher giving each request `timeout` and `attempts` tries.
    pub fn new(timeout: Duration, attempts: u32) -> Result<Fetcher, FetchError> {
        let http = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("odcs-rs/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError::Failed {
                url: String::new(),
                reason: e.to_string(),
                transient: false,
            })?;
        Ok(Fetcher {
            http,
            attempts: attempts.max(1),
            backoff: Duration::from_millis(500),
        })
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
                let path = url
                    .to_file_path()
                    .map_err(|()| fail("not a local path".into(), false))?;
                std::fs::read(&path)
                    .map_err(|e| fail(e.to_string(), crate::durable::is_transient_io(&e)))
            }
            "http" | "https" => {
                let mut last = String::new();
                for attempt in 0..self.attempts {
                    if attempt > 0 {
                        std::thread::sleep(self.backoff * 2u32.pow(attempt - 1));
                    }
                    match self.http.get(url.clone()).send() {
                        Ok(response) if response.status().is_success() => {
                            return response
                                .bytes()
                                .map(|b| b.to_vec())
                                .map_err(|e| fail(e.to_string(), true));
                        }
                        Ok(response) if response.status().is_client_error() => {
                            return Err(fail(format!("HTTP {}", response.status()), false));
                        }
                        Ok(response) => last = format!("HTTP {}", response.status()),
                        Err(e) => last = e.to_string(),
                    }
                }
                Err(fail(last, true))
            }
            _ => Err(FetchError::UnsupportedUrl {
                url: url.to_string(),
            }),
        }
    }
}
