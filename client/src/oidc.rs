//! OpenID Connect login for robots and scripts: an access token from the provider's token
//! endpoint (found through its discovery document, with `openidconnect`) by the client
//! credentials grant, kept in a per-user cache file and fetched again shortly before it
//! expires, so consecutive commands do not each ask the provider.

use std::path::{Path, PathBuf};
use std::time::Duration;

use openidconnect::core::{CoreClient, CoreProviderMetadata};
use openidconnect::{ClientId, ClientSecret, IssuerUrl, OAuth2TokenResponse, Scope};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ClientError;

/// A cached token is fetched again when it has less than this left.
const RENEW_BEFORE: i64 = 60;

/// Who logs in where: the provider, the client's credentials, and what the token is for.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    /// The provider's issuer URL.
    pub issuer: String,
    /// The client id (`OIDC_CLIENT_ID`).
    pub client_id: String,
    /// The client secret (`OIDC_CLIENT_SECRET`).
    pub client_secret: String,
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
}

fn login_failed(reason: impl std::fmt::Display) -> ClientError {
    ClientError::Login(format!("OpenID Connect: {reason}"))
}

impl ClientCredentials {
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

    /// An access token: the cached one while it has more than a minute left, else a new one
    /// from the provider (then cached, readable by the user only).
    pub async fn access_token(&self, cache_dir: &Path) -> Result<String, ClientError> {
        let file = self.cache_file(cache_dir);
        let now = chrono::Utc::now().timestamp();
        if let Some(cached) = std::fs::read(&file)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<CachedToken>(&bytes).ok())
        {
            if cached.expires_at.is_some_and(|at| at - RENEW_BEFORE > now) {
                return Ok(cached.access_token);
            }
        }
        let fresh = self.fetch(now).await?;
        if let Err(e) = store(&file, &fresh) {
            eprintln!(
                "odcs: cannot cache the access token in {}: {e}",
                file.display()
            );
        }
        Ok(fresh.access_token)
    }

    /// A new token by the client credentials grant.
    async fn fetch(&self, now: i64) -> Result<CachedToken, ClientError> {
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
            Some(ClientSecret::new(self.client_secret.clone())),
        );
        let mut request = client
            .exchange_client_credentials()
            .map_err(login_failed)?
            .add_scopes(self.scopes.iter().cloned().map(Scope::new));
        if let Some(resource) = &self.resource {
            request = request.add_extra_param("resource", resource.clone());
        }
        let response = request.request_async(&http).await.map_err(|e| {
            login_failed(format!("token: {}", odcs_common::report::error_chain(&e)))
        })?;
        Ok(CachedToken {
            access_token: response.access_token().secret().clone(),
            expires_at: response
                .expires_in()
                .map(|d| now.saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))),
        })
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

    fn login(scopes: &[&str]) -> ClientCredentials {
        ClientCredentials {
            issuer: "https://id.example.com".into(),
            client_id: "robot".into(),
            client_secret: "secret".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            resource: None,
        }
    }

    #[test]
    fn each_login_has_its_own_cache_file_whatever_the_secret() {
        let dir = Path::new("/cache");
        assert_ne!(login(&["a"]).cache_file(dir), login(&["b"]).cache_file(dir));
        let mut other_secret = login(&["a"]);
        other_secret.client_secret = "rotated".into();
        assert_eq!(login(&["a"]).cache_file(dir), other_secret.cache_file(dir));
    }
}
