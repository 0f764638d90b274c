//! OpenID Connect bearer tokens: JWT access tokens (RFC 9068) verified against the signing keys
//! the provider publishes (found through its discovery document, with `openidconnect`), then
//! their issuer, audience and lifetime checked; opaque tokens asked about at the provider's
//! introspection endpoint (RFC 7662) with the server's own client credentials, which also
//! notices revoked tokens. The user and groups come from configurable claims, the scopes from
//! `scope`. Verified tokens are remembered (a bounded cache keyed by the token's hash) until
//! they expire, introspected ones for at most `auth_openidc_introspection_cache_seconds`; the
//! provider's keys are fetched again when a token names a key not seen yet.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use odcs_common::config::AuthConfig;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreClaimName, CoreClaimType, CoreClientAuthMethod,
    CoreErrorResponseType, CoreGenderClaim, CoreGrantType, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreJwsSigningAlgorithm,
    CoreResponseMode, CoreResponseType, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreSubjectIdentifierType, CoreTokenResponse, CoreTokenType,
};
use openidconnect::{
    AccessToken, AdditionalProviderMetadata, Client, ClientId, ClientSecret, EmptyAdditionalClaims,
    EndpointNotSet, EndpointSet, ExtraTokenFields, IntrospectionUrl, IssuerUrl, JsonWebKey,
    JsonWebKeySet, ProviderMetadata, StandardErrorResponse, StandardTokenIntrospectionResponse,
    TokenIntrospectionResponse,
};
use serde::{Deserialize, Serialize};
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

/// The discovery document's fields besides the core ones: where tokens are introspected.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct IntrospectionMetadata {
    introspection_endpoint: Option<IntrospectionUrl>,
}

impl AdditionalProviderMetadata for IntrospectionMetadata {}

/// A provider's discovery document.
type DiscoveryDocument = ProviderMetadata<
    IntrospectionMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// The claims of an introspection answer besides the standard ones (the groups claim).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct OtherClaims {
    #[serde(flatten)]
    claims: serde_json::Map<String, Value>,
}

impl ExtraTokenFields for OtherClaims {}

/// An introspection answer.
type Introspection = StandardTokenIntrospectionResponse<OtherClaims, CoreTokenType>;

/// A client of the provider; it only ever introspects (`HasIntrospectionUrl` says whether
/// it knows where).
type IntrospectionClient<HasIntrospectionUrl = EndpointNotSet> = Client<
    EmptyAdditionalClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    CoreTokenResponse,
    Introspection,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointNotSet,
    EndpointNotSet,
    HasIntrospectionUrl,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
>;

/// What the discovery document told: the signing keys and the introspection endpoint.
#[derive(Debug, Clone)]
struct Discovered {
    at: Instant,
    keys: Vec<CoreJsonWebKey>,
    introspection: Option<IntrospectionUrl>,
}

/// A token verified earlier: until when it is valid, and when to ask the provider again.
#[derive(Debug, Clone)]
struct Verified {
    exp: i64,
    recheck: i64,
    identity: TokenIdentity,
}

/// Verifies tokens of one provider.
pub struct OidcVerifier {
    issuer: String,
    audience: String,
    user_claim: String,
    groups_claim: String,
    leeway: i64,
    credentials: Option<(ClientId, ClientSecret)>,
    introspection_cache: i64,
    http: openidconnect::reqwest::Client,
    discovered: tokio::sync::Mutex<Option<Discovered>>,
    verified: Mutex<HashMap<[u8; 32], Verified>>,
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
        auth.backend.uses_openidc().then(|| OidcVerifier {
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
            credentials: (!auth.openidc_client_id.is_empty()).then(|| {
                (
                    ClientId::new(auth.openidc_client_id.clone()),
                    ClientSecret::new(auth.openidc_client_secret.clone()),
                )
            }),
            introspection_cache: i64::try_from(auth.openidc_introspection_cache_seconds)
                .unwrap_or(i64::MAX),
            discovered: tokio::sync::Mutex::new(None),
            verified: Mutex::new(HashMap::new()),
        })
    }

    /// Remembers a verified token.
    fn remember(&self, hash: [u8; 32], verified: Verified) {
        if let Ok(mut cache) = self.verified.lock() {
            if cache.len() >= MAX_CACHED_TOKENS {
                cache.clear();
            }
            cache.insert(hash, verified);
        }
    }

    /// Who `token` (opaque, or a JWT the provider should vouch for) speaks for, by the
    /// provider's introspection endpoint.
    async fn introspect(&self, token: &str, now: i64) -> Result<Verified, TokenError> {
        let Some((client_id, secret)) = &self.credentials else {
            return Err(invalid(
                "not a JWT (opaque tokens need auth_openidc_client_id to be introspected)",
            ));
        };
        let url = self
            .discovery(false)
            .await?
            .introspection
            .ok_or_else(|| invalid("not a JWT, and the provider publishes no introspection"))?;
        let issuer = IssuerUrl::new(self.issuer.clone())
            .map_err(|e| TokenError::Unavailable(e.to_string()))?;
        let client: IntrospectionClient<EndpointSet> =
            IntrospectionClient::new(client_id.clone(), issuer, JsonWebKeySet::default())
                .set_client_secret(secret.clone())
                .set_introspection_url(url);
        let access = AccessToken::new(token.to_owned());
        let answer = client
            .introspect(&access)
            .set_token_type_hint("access_token")
            .request_async(&self.http)
            .await
            .map_err(|e| TokenError::Unavailable(format!("introspection: {e}")))?;
        if !answer.active() {
            return Err(invalid(
                "the provider says it is not active (revoked or expired)",
            ));
        }
        if answer
            .iss()
            .is_some_and(|iss| iss.trim_end_matches('/') != self.issuer)
        {
            return Err(invalid("issued by another provider"));
        }
        if !answer.aud().is_some_and(|aud| aud.contains(&self.audience)) {
            return Err(invalid("issued for another audience"));
        }
        let exp = answer
            .exp()
            .map(|t| t.timestamp())
            .ok_or_else(|| invalid("no expiry"))?;
        if exp.saturating_add(self.leeway) <= now {
            return Err(TokenError::Expired);
        }
        let others = &answer.extra_fields().claims;
        let name = match self.user_claim.as_str() {
            // A token a client got for itself has no subject but its client, as the `sub` of
            // such JWT access tokens is (RFC 9068).
            "sub" => answer
                .sub()
                .map(str::to_owned)
                .or_else(|| answer.client_id().map(|c| c.to_string())),
            "username" => answer.username().map(str::to_owned),
            "client_id" => answer.client_id().map(|c| c.to_string()),
            claim => others.get(claim).and_then(Value::as_str).map(str::to_owned),
        }
        .filter(|n| !n.is_empty())
        .ok_or_else(|| invalid(format!("no {} claim", self.user_claim)))?;
        let identity = TokenIdentity {
            name,
            groups: string_list(others.get(self.groups_claim.as_str())),
            scopes: answer
                .scopes()
                .map(|s| s.iter().map(|s| s.to_string()).collect())
                .unwrap_or_default(),
        };
        Ok(Verified {
            exp,
            recheck: exp.min(now.saturating_add(self.introspection_cache)),
            identity,
        })
    }

    /// The identity `token` speaks for, or why it does not.
    pub async fn verify(&self, token: &str) -> Result<TokenIdentity, TokenError> {
        let now = chrono::Utc::now().timestamp();
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let cached = self
            .verified
            .lock()
            .ok()
            .and_then(|v| v.get(&hash).cloned());
        if let Some(cached) = cached {
            if cached.exp.saturating_add(self.leeway) <= now {
                return Err(TokenError::Expired);
            }
            if cached.recheck > now {
                return Ok(cached.identity);
            }
        }
        let parts: Vec<&str> = token.split('.').collect();
        let [header, claims, signature] = parts.as_slice() else {
            let verified = self.introspect(token, now).await?;
            self.remember(hash, verified.clone());
            return Ok(verified.identity);
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
        let groups = string_list(claims.get(self.groups_claim.as_str()));
        let scopes = claims["scope"]
            .as_str()
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        let identity = TokenIdentity {
            name,
            groups,
            scopes,
        };
        self.remember(
            hash,
            Verified {
                exp,
                recheck: exp,
                identity: identity.clone(),
            },
        );
        Ok(identity)
    }

    /// The provider's discovery document, fetched when not known yet or, with `refresh`,
    /// again unless it was fetched moments ago.
    async fn discovery(&self, refresh: bool) -> Result<Discovered, TokenError> {
        let mut discovered = self.discovered.lock().await;
        let fetch = match discovered.as_ref() {
            None => true,
            Some(known) => refresh && known.at.elapsed() >= MIN_REFRESH,
        };
        if fetch {
            let issuer = IssuerUrl::new(self.issuer.clone())
                .map_err(|e| TokenError::Unavailable(e.to_string()))?;
            let document = DiscoveryDocument::discover_async(issuer, &self.http)
                .await
                .map_err(|e| TokenError::Unavailable(e.to_string()))?;
            *discovered = Some(Discovered {
                at: Instant::now(),
                keys: document.jwks().keys().clone(),
                introspection: document
                    .additional_metadata()
                    .introspection_endpoint
                    .clone(),
            });
        }
        discovered
            .clone()
            .ok_or_else(|| TokenError::Unavailable("no discovery document".into()))
    }

    /// The provider's key `kid` (or its only key when the token names none), fetching the keys
    /// again when it is not known yet.
    async fn key(&self, kid: Option<&str>) -> Result<CoreJsonWebKey, TokenError> {
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
        if let Some(key) = find(&self.discovery(false).await?.keys) {
            return Ok(key);
        }
        find(&self.discovery(true).await?.keys)
            .ok_or_else(|| invalid("signed with a key the provider does not publish"))
    }
}

/// The strings of a claim holding a list (groups); none when it is missing or not a list.
fn string_list(claim: Option<&Value>) -> Vec<String> {
    claim
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}
