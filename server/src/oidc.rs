//! OpenID Connect bearer tokens: JWT access tokens (RFC 9068) verified against the signing keys
//! the provider publishes (found through its discovery document, with `openidconnect`), then
//! their issuer, audience and lifetime checked. The user and groups come from configurable
//! claims, the scopes from `scope`. Verified tokens are remembered until they expire (a bounded
//! cache keyed by the token's hash); the provider's keys are fetched again when a token names
//! a key not seen yet.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use odcs_common::config::AuthConfig;
use openidconnect::core::{CoreJsonWebKey, CoreJwsSigningAlgorithm, CoreProviderMetadata};
use openidconnect::{IssuerUrl, JsonWebKey};
use serde_json::Value;
use sha2::{Digest, Sha256};
use thiserror::Error;

/// Most verified tokens remembered; past this the cache starts over.
const MAX_CACHED_TOKENS: usize = 10_000;

/// Least time between two fetches of the provider's keys.
const MIN_REFRESH: Duration = Duration::from_secs(10);

/// Why a token is not accepted; the message is the 401's.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The token is not a well-formed JWT, or its signature, issuer or audience is wrong.
    #[error("Invalid OIDC token: {0}")]
    Invalid(String),
    /// The token has expired (or is not valid yet).
    #[error("OIDC token has expired")]
    Expired,
    /// The provider cannot be reached to fetch its keys.
    #[error("Cannot verify the OIDC token: the provider is unavailable: {0}")]
    Unavailable(String),
}

/// Who a verified token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenIdentity {
    /// The user name.
    pub name: String,
    /// The user's groups.
    pub groups: Vec<String>,
    /// The scopes granted.
    pub scopes: Vec<String>,
}

/// Verifies tokens of one provider.
pub struct OidcVerifier {
    issuer: String,
    audience: String,
    user_claim: String,
    groups_claim: String,
    leeway: i64,
    http: openidconnect::reqwest::Client,
    keys: tokio::sync::Mutex<Option<(Instant, Vec<CoreJsonWebKey>)>>,
    verified: Mutex<HashMap<[u8; 32], (i64, TokenIdentity)>>,
}

fn invalid(message: impl Into<String>) -> TokenError {
    TokenError::Invalid(message.into())
}

fn segment(part: &str) -> Result<Vec<u8>, TokenError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| invalid("not base64url"))
}

impl OidcVerifier {
    /// The verifier `auth` configures, if the backend is OpenID Connect.
    pub fn from_config(auth: &AuthConfig) -> Option<OidcVerifier> {
        (auth.backend == odcs_common::config::AuthBackend::Openidc).then(|| OidcVerifier {
            issuer: auth.openidc_issuer.trim_end_matches('/').to_owned(),
            audience: auth.openidc_audience.clone(),
            user_claim: auth.openidc_user_claim.clone(),
            groups_claim: auth.openidc_groups_claim.clone(),
            leeway: i64::try_from(auth.openidc_leeway_seconds).unwrap_or(i64::MAX),
            http: openidconnect::reqwest::ClientBuilder::new()
                .redirect(openidconnect::reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
            keys: tokio::sync::Mutex::new(None),
            verified: Mutex::new(HashMap::new()),
        })
    }

    /// The identity `token` speaks for, or why it does not.
    pub async fn verify(&self, token: &str) -> Result<TokenIdentity, TokenError> {
        let now = chrono::Utc::now().timestamp();
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some((exp, identity)) = self
            .verified
            .lock()
            .ok()
            .and_then(|v| v.get(&hash).cloned())
        {
            return if exp.saturating_add(self.leeway) > now {
                Ok(identity)
            } else {
                Err(TokenError::Expired)
            };
        }
        let parts: Vec<&str> = token.split('.').collect();
        let [header, claims, signature] = parts.as_slice() else {
            return Err(invalid("not a JWT"));
        };
        let header: Value =
            serde_json::from_slice(&segment(header)?).map_err(|_| invalid("bad header"))?;
        let alg: CoreJwsSigningAlgorithm = serde_json::from_value(header["alg"].clone())
            .map_err(|_| invalid("unknown signing algorithm"))?;
        if matches!(alg, CoreJwsSigningAlgorithm::None) {
            return Err(invalid("unsigned"));
        }
        let kid = header["kid"].as_str();
        let key = self.key(kid).await?;
        let message = format!("{}.{}", parts[0], parts[1]);
        key.verify_signature(&alg, message.as_bytes(), &segment(signature)?)
            .map_err(|e| invalid(format!("bad signature: {e}")))?;
        let claims: Value =
            serde_json::from_slice(&segment(claims)?).map_err(|_| invalid("bad claims"))?;
        if claims["iss"].as_str().map(|i| i.trim_end_matches('/')) != Some(self.issuer.as_str()) {
            return Err(invalid("issued by another provider"));
        }
        let audience_ok = match &claims["aud"] {
            Value::String(aud) => *aud == self.audience,
            Value::Array(auds) => auds.iter().any(|a| a.as_str() == Some(&self.audience)),
            _ => false,
        };
        if !audience_ok {
            return Err(invalid("issued for another audience"));
        }
        let exp = claims["exp"].as_i64().ok_or_else(|| invalid("no expiry"))?;
        if exp.saturating_add(self.leeway) <= now {
            return Err(TokenError::Expired);
        }
        if claims["nbf"]
            .as_i64()
            .is_some_and(|nbf| nbf.saturating_sub(self.leeway) > now)
        {
            return Err(TokenError::Expired);
        }
        let name = claims[self.user_claim.as_str()]
            .as_str()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| invalid(format!("no {} claim", self.user_claim)))?
            .to_owned();
        let groups = claims[self.groups_claim.as_str()]
            .as_array()
            .map(|g| {
                g.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let scopes = claims["scope"]
            .as_str()
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        let identity = TokenIdentity {
            name,
            groups,
            scopes,
        };
        if let Ok(mut verified) = self.verified.lock() {
            if verified.len() >= MAX_CACHED_TOKENS {
                verified.clear();
            }
            verified.insert(hash, (exp, identity.clone()));
        }
        Ok(identity)
    }

    /// The provider's key `kid` (or its only key when the token names none), fetching the keys
    /// again when it is not known yet.
    async fn key(&self, kid: Option<&str>) -> Result<CoreJsonWebKey, TokenError> {
        let mut keys = self.keys.lock().await;
        let find = |set: &[CoreJsonWebKey]| -> Option<CoreJsonWebKey> {
            match kid {
                Some(kid) => set
                    .iter()
                    .find(|k| k.key_id().map(|id| id.as_str()) == Some(kid))
                    .cloned(),
                None if set.len() == 1 => set.first().cloned(),
                None => None,
            }
        };
        if let Some((_, set)) = keys.as_ref() {
            if let Some(key) = find(set) {
                return Ok(key);
            }
        }
        let recently = keys
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() < MIN_REFRESH);
        if !recently {
            let issuer = IssuerUrl::new(self.issuer.clone())
                .map_err(|e| TokenError::Unavailable(e.to_string()))?;
            let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
                .await
                .map_err(|e| TokenError::Unavailable(e.to_string()))?;
            *keys = Some((Instant::now(), metadata.jwks().keys().clone()));
        }
        keys.as_ref()
            .and_then(|(_, set)| find(set))
            .ok_or_else(|| invalid("signed with a key the provider does not publish"))
    }
}
