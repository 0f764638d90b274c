//! OpenID Connect login: an access token from the provider (found through its discovery
//! document, with `openidconnect`), by the client credentials grant for robots (a client
//! secret), or for people by the authorization code grant with PKCE in their browser, which
//! comes back to a one-shot listener on loopback (RFC 8252). Tokens are kept in a per-user
//! cache file and renewed shortly before they expire: by the refresh token when the provider
//! gave one, else by logging in again.

use std::path::{Path, PathBuf};
use std::time::Duration;

use odcs_common::report::error_chain;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl,
    RefreshToken, Scope,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::ClientError;

/// A cached token is renewed when it has less than this left.
const RENEW_BEFORE: i64 = 60;

/// How long the browser login may take.
const BROWSER_LOGIN_TIMEOUT: Duration = Duration::from_secs(300);

/// Who logs in where: the provider, the client, and what the token is for.
#[derive(Debug, Clone)]
pub struct OidcLogin {
    /// The provider's issuer URL.
    pub issuer: String,
    /// The client id (`OIDC_CLIENT_ID` for robots; the public client of the browser login).
    pub client_id: String,
    /// The client secret (`OIDC_CLIENT_SECRET`): with one, the client credentials grant; without,
    /// the browser login.
    pub client_secret: Option<String>,
    /// The scopes asked for.
    pub scopes: Vec<String>,
    /// The resource indicator (RFC 8707) the token is for, when the provider wants one.
    pub resource: Option<String>,
}

/// A token as the cache keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CachedToken {
    access_token: String,
    /// Seconds since the epoch; absent: the provider did not say.
    expires_at: Option<i64>,
    /// What renews it without the user, when the provider gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

impl CachedToken {
    fn from_response(response: &impl OAuth2TokenResponse, now: i64) -> CachedToken {
        CachedToken {
            access_token: response.access_token().secret().clone(),
            expires_at: response
                .expires_in()
                .map(|d| now.saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))),
            refresh_token: response.refresh_token().map(|t| t.secret().clone()),
        }
    }
}

fn login_failed(reason: impl std::fmt::Display) -> ClientError {
    ClientError::Login(format!("OpenID Connect: {reason}"))
}

impl OidcLogin {
    /// The cache file of this login under `cache_dir` (one per provider, client, scopes and
    /// resource; the secret is not part of the name).
    pub fn cache_file(&self, cache_dir: &Path) -> PathBuf {
        let mut hash = Sha256::new();
        for part in [
            self.issuer.as_str(),
            self.client_id.as_str(),
            &self.scopes.join(" "),
            self.resource.as_deref().unwrap_or_default(),
        ] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        let digest = hash.finalize();
        let name: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        cache_dir.join(format!("oidc-token-{name}.json"))
    }

    /// An access token: the cached one while it has more than a minute left, else a renewed
    /// one (refresh token, client credentials, or — when `interactive` — the browser login),
    /// then cached, readable by the user only.
    pub async fn access_token(
        &self,
        cache_dir: &Path,
        interactive: bool,
    ) -> Result<String, ClientError> {
        let file = self.cache_file(cache_dir);
        let now = chrono::Utc::now().timestamp();
        let cached = std::fs::read(&file)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<CachedToken>(&bytes).ok());
        if let Some(cached) = &cached {
            if cached.expires_at.is_some_and(|at| at - RENEW_BEFORE > now) {
                return Ok(cached.access_token.clone());
            }
        }
        let http = openidconnect::reqwest::ClientBuilder::new()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(login_failed)?;
        let issuer = IssuerUrl::new(self.issuer.clone()).map_err(login_failed)?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &http)
            .await
            .map_err(|e| login_failed(format!("discovery: {e}")))?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.client_id.clone()),
            self.client_secret.clone().map(ClientSecret::new),
        );
        let refreshed = match cached.and_then(|c| c.refresh_token) {
            Some(refresh) => self.refresh(&client, &http, refresh, now).await.ok(),
            None => None,
        };
        let fresh = match refreshed {
            Some(fresh) => fresh,
            None if self.client_secret.is_some() => {
                self.client_credentials(&client, &http, now).await?
            }
            None if interactive => self.browser_login(client, &http, now).await?,
            None => {
                return Err(login_failed(
                    "no valid token: log in in a browser with --oidc-login",
                ))
            }
        };
        if let Err(e) = store(&file, &fresh) {
            eprintln!(
                "odcs: cannot cache the access token in {}: {e}",
                file.display()
            );
        }
        Ok(fresh.access_token)
    }

    /// A new token by the refresh grant.
    async fn refresh(
        &self,
        client: &ProviderClient,
        http: &openidconnect::reqwest::Client,
        refresh: String,
        now: i64,
    ) -> Result<CachedToken, ClientError> {
        let refresh = RefreshToken::new(refresh);
        let response = client
            .exchange_refresh_token(&refresh)
            .map_err(login_failed)?
            .request_async(http)
            .await
            .map_err(|e| login_failed(format!("refresh: {}", error_chain(&e))))?;
        let mut fresh = CachedToken::from_response(&response, now);
        // A provider that does not rotate refresh tokens keeps the old one valid.
        fresh.refresh_token = fresh.refresh_token.or(Some(refresh.secret().clone()));
        Ok(fresh)
    }

    /// A new token by the client credentials grant.
    async fn client_credentials(
        &self,
        client: &ProviderClient,
        http: &openidconnect::reqwest::Client,
        now: i64,
    ) -> Result<CachedToken, ClientError> {
        let mut request = client
            .exchange_client_credentials()
            .map_err(login_failed)?
            .add_scopes(self.scopes.iter().cloned().map(Scope::new));
        if let Some(resource) = &self.resource {
            request = request.add_extra_param("resource", resource.clone());
        }
        let response = request
            .request_async(http)
            .await
            .map_err(|e| login_failed(format!("token: {}", error_chain(&e))))?;
        Ok(CachedToken::from_response(&response, now))
    }

    /// A new token by the authorization code grant with PKCE: the user logs in in a browser,
    /// which the provider sends back to a listener on loopback with the code.
    async fn browser_login(
        &self,
        client: ProviderClient,
        http: &openidconnect::reqwest::Client,
        now: i64,
    ) -> Result<CachedToken, ClientError> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(login_failed)?;
        let port = listener.local_addr().map_err(login_failed)?.port();
        let redirect =
            RedirectUrl::new(format!("http://127.0.0.1:{port}/")).map_err(login_failed)?;
        let client = client.set_redirect_uri(redirect);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut authorize = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge)
            .add_scopes(
                self.scopes
                    .iter()
                    .filter(|s| *s != "openid")
                    .cloned()
                    .map(Scope::new),
            );
        if let Some(resource) = &self.resource {
            authorize = authorize.add_extra_param("resource", resource.clone());
        }
        let (url, state, _nonce) = authorize.url();
        eprintln!("odcs: log in at {url}");
        open_browser(url.as_str());
        let code = tokio::time::timeout(BROWSER_LOGIN_TIMEOUT, receive_code(&listener, &state))
            .await
            .map_err(|_| login_failed("the browser login did not finish in 5 minutes"))??;
        let mut exchange = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(login_failed)?
            .set_pkce_verifier(verifier);
        if let Some(resource) = &self.resource {
            exchange = exchange.add_extra_param("resource", resource.clone());
        }
        let response = exchange
            .request_async(http)
            .await
            .map_err(|e| login_failed(format!("token: {}", error_chain(&e))))?;
        Ok(CachedToken::from_response(&response, now))
    }
}

/// The client `from_provider_metadata` makes.
type ProviderClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Opens `url` in the user's browser (`$BROWSER`, else `xdg-open`); the URL is printed too, so
/// a failure here only means the user opens it by hand.
fn open_browser(url: &str) {
    let browser = std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| "xdg-open".into());
    let _ = std::process::Command::new(browser)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

/// Waits for the provider's redirect on `listener` and returns its code, after checking it
/// answers our `state`; the browser is told it may close.
async fn receive_code(
    listener: &tokio::net::TcpListener,
    state: &CsrfToken,
) -> Result<String, ClientError> {
    loop {
        let (mut stream, _) = listener.accept().await.map_err(login_failed)?;
        let mut head = vec![0u8; 16 * 1024];
        let read = stream.read(&mut head).await.map_err(login_failed)?;
        let head = String::from_utf8_lossy(&head[..read]);
        let Some(url) = head
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("GET "))
            .and_then(|rest| rest.split(' ').next())
            .and_then(|target| url::Url::parse(&format!("http://127.0.0.1{target}")).ok())
        else {
            continue;
        };
        let param = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        if param("state").as_deref() != Some(state.secret().as_str()) {
            // Not the provider's redirect (a favicon, a stale tab): keep waiting.
            let _ = stream
                .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                .await;
            continue;
        }
        let (body, outcome) = match param("code") {
            Some(code) => (
                "You are logged in to ODCS; you may close this window.",
                Ok(code),
            ),
            None => (
                "The login failed; see the terminal.",
                Err(login_failed(format!(
                    "the provider refused the login: {}",
                    param("error_description")
                        .or(param("error"))
                        .unwrap_or_default()
                ))),
            ),
        };
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(reply.as_bytes()).await;
        return outcome;
    }
}

/// Writes `token` to `file` (created readable by the user only), replacing it atomically.
fn store(file: &Path, token: &CachedToken) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let partial = file.with_extension("json.partial");
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)?;
    out.write_all(&serde_json::to_vec(token).map_err(std::io::Error::other)?)?;
    out.sync_all()?;
    std::fs::rename(&partial, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(scopes: &[&str]) -> OidcLogin {
        OidcLogin {
            issuer: "https://id.example.com".into(),
            client_id: "robot".into(),
            client_secret: Some("secret".into()),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            resource: None,
        }
    }

    #[test]
    fn each_login_has_its_own_cache_file_whatever_the_secret() {
        let dir = Path::new("/cache");
        assert_ne!(login(&["a"]).cache_file(dir), login(&["b"]).cache_file(dir));
        let mut other_secret = login(&["a"]);
        other_secret.client_secret = Some("rotated".into());
        assert_eq!(login(&["a"]).cache_file(dir), other_secret.cache_file(dir));
    }
}
