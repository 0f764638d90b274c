//! Reading files by URL, for every stage that needs a remote file (lookaside repositories,
//! a Pungi compose's metadata): `file://` only inside the allowed roots, http(s) with bounded
//! retries and redirects, every file capped in size.

use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

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
    /// Networks URLs may not reach (`fetch_blocked_networks`), checked after DNS and on every
    /// redirect.
    pub blocked_networks: Vec<IpNet>,
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
        let blocked = Arc::new(policy.blocked_networks.clone());
        let on_redirect = blocked.clone();
        let http = reqwest::blocking::Client::builder()
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout.min(Duration::from_secs(30)))
            .dns_resolver(Arc::new(GuardedResolver { blocked }))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= MAX_REDIRECTS {
                    attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
                } else if names_blocked_address(&on_redirect, attempt.url()) {
                    attempt.error(BLOCKED)
                } else {
                    attempt.follow()
                }
            }))
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

    /// Networks this fetcher may not reach; other fetches on its behalf (git) check them too.
    pub fn blocked_networks(&self) -> &[IpNet] {
        &self.policy.blocked_networks
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
                if names_blocked_address(&self.policy.blocked_networks, url) {
                    return Err(fail(BLOCKED.into(), false));
                }
                let mut last = String::new();
                for attempt in 0..self.policy.attempts.max(1) {
                    if attempt > 0 {
                        crate::cancel::sleep_before_retry(self.backoff * 2u32.pow(attempt - 1))
                            .map_err(|c| fail(format!("{last} ({c})"), false))?;
                    }
                    match self.http.get(url.clone()).send() {
                        Ok(response) if response.status().is_success() => {
                            let body = self
                                .read_body(response)
                                .map_err(|(reason, transient)| fail(reason, transient))?;
                            if let Some(metrics) = crate::metrics::metrics() {
                                metrics.downloaded("metadata", body.len() as u64);
                            }
                            return Ok(body);
                        }
                        Ok(response) if response.status().is_client_error() => {
                            return Err(fail(format!("HTTP {}", response.status()), false));
                        }
                        Ok(response) => last = format!("HTTP {}", response.status()),
                        Err(e) => {
                            last = odcs_common::report::error_chain(&e);
                            // A refused address or a redirect loop stays so: no retry.
                            if last.contains(BLOCKED) || e.is_redirect() {
                                return Err(fail(last, false));
                            }
                        }
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

/// Why a URL naming (or resolving to, or redirected to) a blocked address is refused.
const BLOCKED: &str = "the address is in fetch_blocked_networks";

/// Whether `ip` is in one of the `blocked` networks (IPv4-mapped IPv6 addresses as IPv4).
pub fn is_blocked(blocked: &[IpNet], ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    blocked.iter().any(|net| net.contains(&ip))
}

/// Whether `url`'s host is an address literal in a blocked network (names go through
/// [`GuardedResolver`]).
fn names_blocked_address(blocked: &[IpNet], url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => is_blocked(blocked, IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => is_blocked(blocked, IpAddr::V6(ip)),
        _ => false,
    }
}

/// Resolves host names for the HTTP client, leaving out addresses in blocked networks: a name
/// that resolves only to such addresses cannot be connected to, whether it came in a request
/// or a redirect, and the addresses checked are the ones connected to.
struct GuardedResolver {
    blocked: Arc<Vec<IpNet>>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let blocked = self.blocked.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let allowed: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| !is_blocked(&blocked, addr.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(format!("{host}: {BLOCKED}").into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}
