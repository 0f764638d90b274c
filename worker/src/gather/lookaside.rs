//! Lookaside repositories: RPM repositories (http, https or file URLs) whose packages may
//! satisfy dependencies but never enter the compose.

use std::time::Duration;

use thiserror::Error;

use crate::repodata::compress::decompress;
use crate::repodata::repomd::parse_locations;

/// Why a lookaside repository could not be read.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LookasideError {
    /// The URL is not one we can read.
    #[error("lookaside repository {url:?} is not an http, https or file URL")]
    UnsupportedUrl {
        /// The URL.
        url: String,
    },
    /// A file could not be fetched.
    #[error("cannot fetch {url}: {reason}")]
    Fetch {
        /// What was fetched.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// repomd.xml is unusable.
    #[error("lookaside repository {url}: {reason}")]
    Repomd {
        /// The repository.
        url: String,
        /// What is wrong.
        reason: String,
    },
}

/// The dependency metadata of one repository, decompressed.
#[derive(Debug, Clone)]
pub struct RepositoryMetadata {
    /// primary.xml
    pub primary: Vec<u8>,
    /// filelists.xml
    pub filelists: Vec<u8>,
}

/// Reads files by URL: local paths and `file://` directly, http(s) with retries.
pub struct Fetcher {
    http: reqwest::blocking::Client,
    attempts: u32,
    backoff: Duration,
}

impl Fetcher {
    /// A fetcher giving each request `timeout` and `attempts` tries.
    pub fn new(timeout: Duration, attempts: u32) -> Result<Fetcher, LookasideError> {
        let http = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("odcs-rs/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| LookasideError::Fetch {
                url: String::new(),
                reason: e.to_string(),
            })?;
        Ok(Fetcher {
            http,
            attempts: attempts.max(1),
            backoff: Duration::from_millis(500),
        })
    }

    /// The bytes at `url`.
    pub fn get(&self, url: &url::Url) -> Result<Vec<u8>, LookasideError> {
        let fail = |reason: String| LookasideError::Fetch {
            url: url.to_string(),
            reason,
        };
        match url.scheme() {
            "file" => {
                let path = url
                    .to_file_path()
                    .map_err(|()| fail("not a local path".into()))?;
                std::fs::read(&path).map_err(|e| fail(e.to_string()))
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
                                .map_err(|e| fail(e.to_string()));
                        }
                        Ok(response) if response.status().is_client_error() => {
                            return Err(fail(format!("HTTP {}", response.status())));
                        }
                        Ok(response) => last = format!("HTTP {}", response.status()),
                        Err(e) => last = e.to_string(),
                    }
                }
                Err(fail(last))
            }
            _ => Err(LookasideError::UnsupportedUrl {
                url: url.to_string(),
            }),
        }
    }
}

/// The repository base URL for `text` (a URL, or an absolute path), ending in `/`.
pub fn base_url(text: &str) -> Result<url::Url, LookasideError> {
    let unsupported = || LookasideError::UnsupportedUrl {
        url: text.to_owned(),
    };
    let mut url = if text.starts_with('/') {
        url::Url::from_directory_path(text).map_err(|()| unsupported())?
    } else {
        url::Url::parse(text).map_err(|_| unsupported())?
    };
    if !matches!(url.scheme(), "file" | "http" | "https") {
        return Err(unsupported());
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// Fetches the primary and filelists metadata of the repository at `text`.
pub fn fetch(fetcher: &Fetcher, text: &str) -> Result<RepositoryMetadata, LookasideError> {
    let base = base_url(text)?;
    let join = |href: &str| {
        base.join(href).map_err(|e| LookasideError::Repomd {
            url: base.to_string(),
            reason: format!("bad location {href:?}: {e}"),
        })
    };
    let repomd = fetcher.get(&join("repodata/repomd.xml")?)?;
    let repomd = String::from_utf8(repomd).map_err(|_| LookasideError::Repomd {
        url: base.to_string(),
        reason: "repomd.xml is not UTF-8".into(),
    })?;
    let records = parse_locations(&repomd).map_err(|reason| LookasideError::Repomd {
        url: base.to_string(),
        reason,
    })?;
    let document = |kind: &str| -> Result<Vec<u8>, LookasideError> {
        let record =
            records
                .iter()
                .find(|r| r.kind == kind)
                .ok_or_else(|| LookasideError::Repomd {
                    url: base.to_string(),
                    reason: format!("repomd.xml lists no {kind} metadata"),
                })?;
        let url = join(&record.location)?;
        let packed = fetcher.get(&url)?;
        decompress(&record.location, packed.as_slice()).map_err(|e| LookasideError::Fetch {
            url: url.to_string(),
            reason: e.to_string(),
        })
    };
    Ok(RepositoryMetadata {
        primary: document("primary")?,
        filelists: document("filelists")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases_end_in_a_slash_and_paths_become_file_urls() {
        assert_eq!(
            base_url("http://h/repo").expect("ok").as_str(),
            "http://h/repo/"
        );
        assert_eq!(base_url("/srv/r").expect("ok").as_str(), "file:///srv/r/");
        assert!(matches!(
            base_url("ftp://h/r"),
            Err(LookasideError::UnsupportedUrl { .. })
        ));
        assert!(base_url("not a url").is_err());
    }
}
