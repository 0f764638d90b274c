//! Pulp: finds the repositories that publish content sets, for `pulp` composes.
//!
//! Two API generations are spoken, as `pulp_api` says: Pulp 2 ([`v2`]), which the reference
//! speaks (repositories with `notes`), and Pulp 3 ([`v3`]), where the same facts are labels of
//! RPM distributions. Both answer with [`PulpRepo`]s; [`Pulp`] is the one client sources use.

pub mod v2;
pub mod v3;

use std::collections::BTreeMap;
use std::time::Duration;

use odcs_common::config::{Config, PulpConfig};
use reqwest::blocking::{RequestBuilder, Response};
use reqwest::StatusCode;
use thiserror::Error;

/// Why Pulp could not answer.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PulpError {
    /// Pulp could not be reached, or failed, through every attempt.
    #[error("Pulp {url} is unreachable: {reason}")]
    Unreachable {
        /// The server.
        url: String,
        /// The last error.
        reason: String,
    },
    /// Pulp refused the worker's credentials.
    #[error(
        "Pulp {url} refused the worker's credentials (HTTP {status}): check pulp_ssl_cert, \
         pulp_ssl_key, pulp_username and pulp_password"
    )]
    Credentials {
        /// The server.
        url: String,
        /// 401 or 403.
        status: u16,
    },
    /// Pulp answered something that is not its API's JSON.
    #[error("Pulp {url} answered something unreadable: {reason}")]
    Protocol {
        /// The server.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// The client could not be set up (a certificate file unreadable).
    #[error("cannot set up the Pulp client: {0}")]
    Setup(String),
    /// The compose was told to stop while Pulp was being retried.
    #[error("Pulp lookup stopped ({cause}); last error: {last}")]
    Stopped {
        /// Why it stopped.
        cause: crate::cancel::Cancelled,
        /// The last error before it stopped.
        last: String,
    },
}

impl PulpError {
    /// Whether trying later may succeed (Pulp was down or failing).
    pub fn is_transient(&self) -> bool {
        matches!(self, PulpError::Unreachable { .. })
    }
}

/// One Pulp repository a compose can point at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulpRepo {
    /// Its id (Pulp 2) or distribution name (Pulp 3): the `.repo` section name.
    pub id: String,
    /// Where its content is served.
    pub url: String,
    /// The arch it holds, when Pulp says.
    pub arch: Option<String>,
    /// Keys its packages are signed with, sorted.
    pub sigkeys: Vec<String>,
    /// The content set it publishes, when it has one.
    pub content_set: Option<String>,
}

/// Splits a comma separated list of signing keys, as Pulp notes and labels hold them (kept as
/// written, as the reference records them).
fn sigkeys(text: &str) -> Vec<String> {
    let mut keys: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Whether a Pulp note or label value says yes: `True` as Pulp 2's notes hold it, in any case.
fn is_true(value: &str) -> bool {
    value.eq_ignore_ascii_case("true")
}

/// The API generation a [`Pulp`] speaks.
enum Api {
    V2,
    V3,
}

/// A client of one Pulp server.
pub struct Pulp {
    http: Http,
    api: Api,
}

impl Pulp {
    /// The Pulp `config` names, if any.
    pub fn from_config(config: &Config) -> Result<Option<Pulp>, PulpError> {
        let pulp = &config.pulp;
        if !pulp.is_enabled() {
            return Ok(None);
        }
        Ok(Some(Pulp {
            http: Http::new(pulp)?,
            api: if pulp.api == 3 { Api::V3 } else { Api::V2 },
        }))
    }

    /// The server's root URL.
    pub fn url(&self) -> &str {
        &self.http.server
    }

    /// Repositories publishing `content_sets`, by content set; unpublished ones only when
    /// `include_unpublished`.
    pub fn repos_by_content_set(
        &self,
        content_sets: &[String],
        include_unpublished: bool,
    ) -> Result<BTreeMap<String, Vec<PulpRepo>>, PulpError> {
        match self.api {
            Api::V2 => v2::repos_by_content_set(&self.http, content_sets, include_unpublished),
            Api::V3 => v3::repos_by_content_set(&self.http, content_sets, include_unpublished),
        }
    }

    /// The repositories named `ids` that exist (and are published, unless
    /// `include_unpublished`), by id.
    pub fn repos_by_id(
        &self,
        ids: &[String],
        include_unpublished: bool,
    ) -> Result<BTreeMap<String, PulpRepo>, PulpError> {
        match self.api {
            Api::V2 => v2::repos_by_id(&self.http, ids, include_unpublished),
            Api::V3 => v3::repos_by_id(&self.http, ids, include_unpublished),
        }
    }
}

/// HTTP to one Pulp server: its credentials, and retries of what may pass.
pub(crate) struct Http {
    client: reqwest::blocking::Client,
    /// The server root, without a trailing `/`.
    server: String,
    username: Option<(String, String)>,
    attempts: u32,
    backoff: Duration,
}

impl Http {
    fn new(config: &PulpConfig) -> Result<Http, PulpError> {
        let read = |path: &std::path::Path| {
            std::fs::read(path).map_err(|e| PulpError::Setup(format!("{}: {e}", path.display())))
        };
        let mut builder = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(config.timeout_seconds))
            .user_agent(concat!("odcs-rs/", env!("CARGO_PKG_VERSION")));
        if !config.ssl_cert.as_os_str().is_empty() {
            let mut pem = read(&config.ssl_cert)?;
            if !config.ssl_key.as_os_str().is_empty() {
                pem.push(b'\n');
                pem.extend(read(&config.ssl_key)?);
            }
            let identity = reqwest::Identity::from_pem(&pem)
                .map_err(|e| PulpError::Setup(format!("{}: {e}", config.ssl_cert.display())))?;
            builder = builder.identity(identity);
        }
        if !config.server_ca.as_os_str().is_empty() {
            let ca = reqwest::Certificate::from_pem(&read(&config.server_ca)?)
                .map_err(|e| PulpError::Setup(format!("{}: {e}", config.server_ca.display())))?;
            builder = builder.add_root_certificate(ca);
        }
        let client = builder
            .build()
            .map_err(|e| PulpError::Setup(odcs_common::report::error_chain(&e)))?;
        Ok(Http {
            client,
            server: config.server_url.trim_end_matches('/').to_owned(),
            username: (!config.username.is_empty())
                .then(|| (config.username.clone(), config.password.clone())),
            attempts: config.attempts.max(1),
            backoff: Duration::from_millis(config.retry_backoff_ms),
        })
    }

    /// `path` (relative to the server root) as an absolute URL.
    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.server, path.trim_start_matches('/'))
    }

    /// Sends the request `build` makes, retrying connection errors and 5xx answers. Answers
    /// `None` for a 404, the JSON body for a success.
    fn send(
        &self,
        build: impl Fn(&reqwest::blocking::Client) -> RequestBuilder,
    ) -> Result<Option<serde_json::Value>, PulpError> {
        let mut last = String::new();
        let mut wait = self.backoff;
        for attempt in 0..self.attempts {
            if attempt > 0 {
                crate::cancel::sleep_before_retry(wait).map_err(|cause| PulpError::Stopped {
                    cause,
                    last: last.clone(),
                })?;
                wait = wait.saturating_mul(2);
            }
            let mut request = build(&self.client);
            if let Some((user, password)) = &self.username {
                request = request.basic_auth(user, Some(password));
            }
            match request.send() {
                Ok(response) => match self.answer(response)? {
                    Answer::Retry(reason) => last = reason,
                    Answer::Done(value) => return Ok(value),
                },
                Err(e) => last = odcs_common::report::error_chain(&e),
            }
        }
        Err(PulpError::Unreachable {
            url: self.server.clone(),
            reason: last,
        })
    }

    /// What one response means.
    fn answer(&self, response: Response) -> Result<Answer, PulpError> {
        let status = response.status();
        let url = response.url().to_string();
        if status.is_server_error() {
            return Ok(Answer::Retry(format!("HTTP {status} for {url}")));
        }
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            return Err(PulpError::Credentials {
                url: self.server.clone(),
                status: status.as_u16(),
            });
        }
        if status == StatusCode::NOT_FOUND {
            return Ok(Answer::Done(None));
        }
        let protocol = |reason: String| PulpError::Protocol {
            url: self.server.clone(),
            reason,
        };
        if !status.is_success() {
            return Err(protocol(format!("HTTP {status} for {url}")));
        }
        let body = match response.bytes() {
            Ok(body) => body,
            Err(e) => return Ok(Answer::Retry(odcs_common::report::error_chain(&e))),
        };
        serde_json::from_slice(&body)
            .map(|v| Answer::Done(Some(v)))
            .map_err(|e| protocol(format!("{url}: not JSON: {e}")))
    }

    /// GETs `path` (relative to the server root); `None` when Pulp says it does not exist.
    fn get(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Option<serde_json::Value>, PulpError> {
        self.get_url(&self.url(path), query)
    }

    /// GETs the absolute `url` (a page link Pulp gave).
    fn get_url(
        &self,
        url: &str,
        query: &[(&str, &str)],
    ) -> Result<Option<serde_json::Value>, PulpError> {
        self.send(|client| client.get(url).query(query))
    }

    /// POSTs `body` as JSON to `path`.
    fn post(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<Option<serde_json::Value>, PulpError> {
        let url = self.url(path);
        let body = body.to_string();
        self.send(|client| {
            client
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
        })
    }

    /// An error saying Pulp's answer lacked what its API promises.
    fn protocol(&self, reason: impl Into<String>) -> PulpError {
        PulpError::Protocol {
            url: self.server.clone(),
            reason: reason.into(),
        }
    }
}

/// What a response says to do.
enum Answer {
    Retry(String),
    Done(Option<serde_json::Value>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigkeys_are_split_sorted_and_unique() {
        assert_eq!(
            sigkeys("FD431D51, 37017186,,FD431D51"),
            vec!["37017186".to_owned(), "FD431D51".to_owned()]
        );
        assert!(sigkeys("").is_empty());
    }

    #[test]
    fn only_true_is_true() {
        assert!(is_true("True") && is_true("true"));
        assert!(!is_true("False") && !is_true("") && !is_true("1"));
    }
}
