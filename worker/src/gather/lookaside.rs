//! Lookaside repositories: RPM repositories (http, https or file URLs) whose packages may
//! satisfy dependencies but never enter the compose.

use thiserror::Error;

use crate::fetch::{FetchError, Fetcher};
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
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// A file could not be decompressed.
    #[error("cannot decompress {url}: {reason}")]
    Decompress {
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

impl LookasideError {
    /// Whether trying again later may succeed (the repository's server was unreachable).
    pub fn is_transient(&self) -> bool {
        matches!(self, LookasideError::Fetch(e) if e.is_transient())
    }
}

/// The dependency metadata of one repository, decompressed.
#[derive(Debug, Clone)]
pub struct RepositoryMetadata {
    /// primary.xml
    pub primary: Vec<u8>,
    /// filelists.xml
    pub filelists: Vec<u8>,
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
    // A location may not leave the repository: not another host, scheme or directory.
    let join = |href: &str| {
        let bad = |why: String| LookasideError::Repomd {
            url: base.to_string(),
            reason: format!("bad location {href:?}: {why}"),
        };
        let url = base.join(href).map_err(|e| bad(e.to_string()))?;
        if !url.as_str().starts_with(base.as_str()) {
            return Err(bad("it points outside the repository".into()));
        }
        Ok(url)
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
        decompress(&record.location, packed.as_slice(), fetcher.max_bytes()).map_err(|e| {
            LookasideError::Decompress {
                url: url.to_string(),
                reason: e.to_string(),
            }
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
