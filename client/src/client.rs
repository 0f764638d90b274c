//! The ODCS API over HTTP: one method per route, errors carrying the server's status and
//! message.

use std::path::PathBuf;
use std::time::Duration;

use odcs_common::report::error_chain;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use odcs_common::api::{ComposeJson, ComposeList};
use odcs_common::compose::ComposeId;
use odcs_common::request::ComposeRequest;

use crate::error::ClientError;
use crate::kerberos::Negotiation;
use crate::model::ComposeFilter;

/// How requests prove who sends them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Auth {
    /// Anonymous (or a proxy that identifies the caller some other way).
    #[default]
    None,
    /// An OpenID Connect access token, sent as `Authorization: Bearer`.
    Bearer(String),
    /// A PEM file with a client certificate and its key, presented over TLS.
    Certificate(PathBuf),
    /// Kerberos (SPNEGO `Authorization: Negotiate`), as `principal` or the ticket cache's
    /// default principal; needs the `kerberos` feature.
    Kerberos {
        /// The principal to log in as (from a keytab, see
        /// [`crate::kerberos::use_client_keytab`]); `None`: the ticket cache's.
        principal: Option<String>,
    },
}

/// A client of one ODCS server.
#[derive(Debug, Clone)]
pub struct Client {
    base: url::Url,
    http: reqwest::Client,
    auth: Auth,
}

impl Client {
    /// A client of the server at `server` (e.g. `https://odcs.example.com/`), trusting the CA
    /// in the PEM file `ca` besides the public ones.
    pub fn new(
        server: &str,
        auth: Auth,
        ca: Option<&std::path::Path>,
        timeout: Duration,
    ) -> Result<Client, ClientError> {
        let mut base = url::Url::parse(server)
            .map_err(|e| ClientError::Config(format!("server URL {server:?}: {e}")))?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("odcs-rs-client/", env!("CARGO_PKG_VERSION")));
        if let Auth::Certificate(path) = &auth {
            let pem = std::fs::read(path)
                .map_err(|e| ClientError::Config(format!("{}: {e}", path.display())))?;
            let identity = reqwest::Identity::from_pem(&pem)
                .map_err(|e| ClientError::Config(format!("{}: {e}", path.display())))?;
            builder = builder.identity(identity);
        }
        if let Some(path) = ca {
            let pem = std::fs::read(path)
                .map_err(|e| ClientError::Config(format!("{}: {e}", path.display())))?;
            let certificate = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| ClientError::Config(format!("{}: {e}", path.display())))?;
            builder = builder.add_root_certificate(certificate);
        }
        let http = builder
            .build()
            .map_err(|e| ClientError::Config(e.to_string()))?;
        Ok(Client { base, http, auth })
    }

    /// The server's base URL.
    pub fn server(&self) -> &url::Url {
        &self.base
    }

    pub(crate) fn url(&self, path: &str) -> Result<url::Url, ClientError> {
        self.base
            .join(&format!("api/1/{path}"))
            .map_err(|e| ClientError::Config(e.to_string()))
    }

    pub(crate) fn request(&self, method: Method, url: url::Url) -> RequestBuilder {
        let request = self.http.request(method, url);
        match &self.auth {
            Auth::Bearer(token) => request.bearer_auth(token),
            _ => request,
        }
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<T, ClientError> {
        self.send_with_key(method, path, query, body, None).await
    }

    /// [`Client::send`], with an `Idempotency-Key` header when `key` is given.
    async fn send_with_key<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
        key: Option<&str>,
    ) -> Result<T, ClientError> {
        let url = self.url(path)?;
        let mut request = self.request(method, url.clone()).query(query);
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(key) = key {
            request = request.header(IDEMPOTENCY_KEY, key);
        }
        let negotiation = match &self.auth {
            Auth::Kerberos { principal } => {
                let (negotiation, header) = negotiate(&url, principal.clone()).await?;
                request = request.header(reqwest::header::AUTHORIZATION, header);
                Some(negotiation)
            }
            _ => None,
        };
        let response = request.send().await.map_err(|e| unreachable(&url, &e))?;
        let status = response.status();
        let challenge = response
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = response.text().await.map_err(|e| unreachable(&url, &e))?;
        if !status.is_success() {
            return Err(api_error(status, &text));
        }
        if let (Some(negotiation), Some(challenge)) = (negotiation, challenge) {
            negotiation.finish(Some(&challenge))?;
        }
        serde_json::from_str(&text).map_err(|e| ClientError::Decode {
            url: url.to_string(),
            reason: e.to_string(),
        })
    }

    /// Requests a new compose (`POST /composes/`) under a fresh `Idempotency-Key` (see
    /// [`Client::create_raw`]).
    pub async fn create(&self, request: &ComposeRequest) -> Result<ComposeJson, ClientError> {
        let body = request.to_json();
        self.create_idempotent(&body, &new_idempotency_key()).await
    }

    /// Sends a hand-made request body (`POST /composes/`) under `key` (an `Idempotency-Key`):
    /// sent again with the same key, or by a process retrying after a lost answer, it is
    /// answered with the compose the first request stored instead of storing another. A
    /// request that could not be sent at all (no connection) is sent again here, up to
    /// [`CREATE_ATTEMPTS`] times.
    pub async fn create_raw(&self, body: &Value, key: &str) -> Result<Value, ClientError> {
        self.create_idempotent(body, key).await
    }

    async fn create_idempotent<T: DeserializeOwned>(
        &self,
        body: &Value,
        key: &str,
    ) -> Result<T, ClientError> {
        let mut attempt = 1;
        loop {
            let sent = self
                .send_with_key(Method::POST, "composes/", &[], Some(body), Some(key))
                .await;
            match sent {
                Err(ClientError::Unreachable {
                    request_sent: false,
                    ..
                }) if attempt < CREATE_ATTEMPTS => {
                    tokio::time::sleep(std::time::Duration::from_secs(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// One compose (`GET /composes/ID`).
    pub async fn get(&self, id: ComposeId) -> Result<ComposeJson, ClientError> {
        self.send(Method::GET, &format!("composes/{id}"), &[], None)
            .await
    }

    /// A page of composes matching `filter` (`GET /composes/`).
    pub async fn find(&self, filter: &ComposeFilter) -> Result<ComposeList, ClientError> {
        self.send(Method::GET, "composes/", &filter.query(), None)
            .await
    }

    /// Extends a compose's life or regenerates it (`PATCH /composes/ID`).
    pub async fn renew(
        &self,
        id: ComposeId,
        seconds_to_live: Option<i64>,
        label: Option<&str>,
    ) -> Result<ComposeJson, ClientError> {
        let mut body = json!({});
        if let Some(seconds) = seconds_to_live {
            body["seconds_to_live"] = json!(seconds);
        }
        if let Some(label) = label {
            body["label"] = json!(label);
        }
        self.send(Method::PATCH, &format!("composes/{id}"), &[], Some(&body))
            .await
    }

    /// Cancels a waiting compose or expires a finished one (`DELETE /composes/ID`).
    pub async fn delete(&self, id: ComposeId) -> Result<Value, ClientError> {
        self.send(Method::DELETE, &format!("composes/{id}"), &[], None)
            .await
    }

    /// The server's description of itself (`GET /about/`).
    pub async fn about(&self) -> Result<Value, ClientError> {
        self.send(Method::GET, "about/", &[], None).await
    }

    /// Reads the compose log from byte `offset` with an HTTP Range request: the new text,
    /// or `None` while the log does not exist yet.
    pub async fn read_log(
        &self,
        compose: &ComposeJson,
        offset: u64,
    ) -> Result<Option<String>, ClientError> {
        let top = compose.toplevel_url.as_str();
        if top.is_empty() {
            return Ok(None);
        }
        let url = url::Url::parse(&format!(
            "{}/{}",
            top.trim_end_matches('/'),
            odcs_common::api::COMPOSE_LOG
        ))
        .map_err(|e| ClientError::Config(e.to_string()))?;
        let response = self
            .request(Method::GET, url.clone())
            .header(reqwest::header::RANGE, format!("bytes={offset}-"))
            .send()
            .await
            .map_err(|e| unreachable(&url, &e))?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            StatusCode::RANGE_NOT_SATISFIABLE => Ok(Some(String::new())),
            status if status.is_success() => {
                let whole = status == StatusCode::OK;
                let text = response.text().await.map_err(|e| unreachable(&url, &e))?;
                // A server that ignores Range sends everything: keep only what is new.
                let skip = if whole { offset as usize } else { 0 };
                Ok(Some(text.get(skip..).unwrap_or_default().to_owned()))
            }
            status => Err(ClientError::Decode {
                url: url.to_string(),
                reason: format!("HTTP {status} for the compose log"),
            }),
        }
    }
}

/// Starts the Kerberos exchange for a request to `url` off the async threads (it may ask the
/// KDC for a service ticket).
async fn negotiate(
    url: &url::Url,
    principal: Option<String>,
) -> Result<(Negotiation, String), ClientError> {
    let host = url.host_str().unwrap_or_default().to_owned();
    tokio::task::spawn_blocking(move || Negotiation::start(&host, principal.as_deref()))
        .await
        .map_err(|e| ClientError::Login(format!("Kerberos: {e}")))?
}

pub(crate) fn unreachable(url: &url::Url, e: &reqwest::Error) -> ClientError {
    ClientError::Unreachable {
        url: url.to_string(),
        reason: error_chain(e),
        request_sent: !e.is_connect(),
    }
}

/// The header that makes a create safe to send again.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// How many times a create that could not be sent is tried.
pub const CREATE_ATTEMPTS: u64 = 3;

/// A new random `Idempotency-Key`: one per compose request a caller means to make once.
pub fn new_idempotency_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The server's JSON error, or the status and a short body when it is not JSON.
fn api_error(status: StatusCode, text: &str) -> ClientError {
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    let message = field("message").unwrap_or_else(|| {
        let line = text.lines().next().unwrap_or_default().trim();
        line.chars().take(200).collect()
    });
    ClientError::Api {
        status: status.as_u16(),
        error: field("error")
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("Error").to_owned()),
        message,
    }
}
