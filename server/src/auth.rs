//! Who is calling: the identity of a request, as the configured backend establishes it.
//!
//! Backends: `noauth` (everyone is "unknown" and may do everything), `proxy` (an
//! authenticating reverse proxy passes the user and groups in headers, believed only from
//! `auth_trusted_proxies`), `ssl` (the subject of a client certificate the server verified
//! itself, see [`crate::tls`]) and `openidc` (bearer tokens of an OpenID provider, see
//! [`crate::oidc`]; actions need their scopes, [`Caller::require_scope`]). OIDC bearer tokens will be a third [`Caller`] source in
//! [`identify`]; handlers only ever see a [`Caller`].

use std::future::ready;

use futures_util::future::LocalBoxFuture;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use odcs_common::config::{AuthBackend, Config};

use crate::error::ApiError;
use crate::oidc::{OidcVerifier, TokenError};
use crate::state::AppState;
use crate::tls::ClientSubject;

/// The user name composes get when authentication is off, as in the reference.
pub const NOAUTH_USER: &str = "unknown";

/// The identity behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// Authentication is off: anyone may do anything.
    NoAuth,
    /// An authenticated user and the groups they belong to.
    User {
        /// The user name (Kerberos realm stripped when configured).
        name: String,
        /// Group names.
        groups: Vec<String>,
        /// The scopes an OpenID Connect token granted; `None`: the backend has no scopes.
        scopes: Option<Vec<String>>,
    },
    /// Nobody we can believe; only anonymous reads are allowed.
    Anonymous,
}

impl Caller {
    /// The name to record as owner, canceller or remover.
    pub fn name(&self) -> &str {
        match self {
            Caller::User { name, .. } => name,
            Caller::NoAuth | Caller::Anonymous => NOAUTH_USER,
        }
    }

    /// The caller's groups.
    pub fn groups(&self) -> &[String] {
        match self {
            Caller::User { groups, .. } => groups,
            Caller::NoAuth | Caller::Anonymous => &[],
        }
    }

    /// Fails with 401 unless the caller is known (or authentication is off); under `openidc`
    /// the answer asks for a bearer token.
    pub fn require_login(&self, config: &Config) -> Result<(), ApiError> {
        const MESSAGE: &str = "This action requires an authenticated user.";
        match self {
            Caller::Anonymous if config.auth.backend == AuthBackend::Openidc => {
                Err(ApiError::TokenRequired(MESSAGE.into()))
            }
            Caller::Anonymous => Err(ApiError::Unauthorized(MESSAGE.into())),
            Caller::NoAuth | Caller::User { .. } => Ok(()),
        }
    }

    /// Fails unless the caller's token grants what `action` (`new-compose`, `renew-compose`,
    /// `delete-compose`) needs, as the reference checks: the required scopes (401), and
    /// `{oidc_base_namespace}{action}` (403). Callers of backends without scopes pass.
    pub fn require_scope(&self, config: &Config, action: &str) -> Result<(), ApiError> {
        let Caller::User {
            scopes: Some(scopes),
            ..
        } = self
        else {
            return Ok(());
        };
        let auth = &config.auth;
        if let Some(missing) = auth
            .openidc_required_scopes
            .iter()
            .find(|s| !scopes.contains(s))
        {
            return Err(ApiError::Unauthorized(format!(
                "Required OIDC scope {missing} not present."
            )));
        }
        let full = format!("{}{action}", auth.oidc_base_namespace);
        if !scopes.contains(&full) {
            return Err(ApiError::Forbidden(format!(
                "Request does not have required scope {action}"
            )));
        }
        Ok(())
    }

    /// Whether the caller is an admin; everyone is when authentication is off.
    pub fn is_admin(&self, config: &Config) -> bool {
        match self {
            Caller::NoAuth => true,
            Caller::User { name, groups, .. } => config.policy.admins.contains(name, groups),
            Caller::Anonymous => false,
        }
    }
}

/// Establishes the caller of `req` under `config`, for the backends that need no network
/// (OpenID Connect tokens are checked by [`from_bearer_token`]).
pub fn identify(req: &HttpRequest, config: &Config) -> Caller {
    match config.auth.backend {
        AuthBackend::Noauth => Caller::NoAuth,
        AuthBackend::Proxy => from_proxy_headers(req, config),
        AuthBackend::Ssl => from_client_certificate(req),
        AuthBackend::Openidc => Caller::Anonymous,
    }
}

/// The `Authorization: Bearer` token of `req`, if it has one.
fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
        .filter(|t| !t.is_empty())
}

/// The caller a bearer token speaks for: none without a token (anonymous reads), a 401 with
/// the reason for a token that is invalid or expired.
async fn from_bearer_token(
    token: Option<String>,
    verifier: &OidcVerifier,
) -> Result<Caller, ApiError> {
    let Some(token) = token else {
        return Ok(Caller::Anonymous);
    };
    match verifier.verify(&token).await {
        Ok(identity) => Ok(Caller::User {
            name: identity.name,
            groups: identity.groups,
            scopes: Some(identity.scopes),
        }),
        Err(TokenError::Unavailable(reason)) => {
            tracing::warn!(reason, "cannot verify an OIDC token");
            Err(ApiError::Unavailable)
        }
        Err(e) => Err(ApiError::InvalidToken(e.to_string())),
    }
}

/// The user of a verified client certificate: its subject, with no groups (as the reference).
fn from_client_certificate(req: &HttpRequest) -> Caller {
    match req.conn_data::<ClientSubject>() {
        Some(ClientSubject(subject)) => Caller::User {
            name: subject.clone(),
            groups: Vec::new(),
            scopes: None,
        },
        None => Caller::Anonymous,
    }
}

fn from_proxy_headers(req: &HttpRequest, config: &Config) -> Caller {
    let trusted = req
        .peer_addr()
        .is_some_and(|peer| config.auth.trusted_proxies.contains(&peer.ip()));
    if !trusted {
        return Caller::Anonymous;
    }
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let Some(user) = header(&config.auth.user_header) else {
        return Caller::Anonymous;
    };
    let name = config.auth.user_name(user);
    if name.is_empty() {
        return Caller::Anonymous;
    }
    let groups = if config.auth.groups_header.is_empty() {
        Vec::new()
    } else {
        header(&config.auth.groups_header)
            .map(|g| {
                g.split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|g| !g.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    Caller::User {
        name: name.to_owned(),
        groups,
        scopes: None,
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Caller, ApiError>>;

    /// The caller as the backend establishes it, with their LDAP groups added when an LDAP
    /// server is configured.
    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
            return Box::pin(ready(Err(ApiError::internal(
                "application state is not configured",
            ))));
        };
        let caller = identify(req, &state.config);
        let token = bearer_token(req);
        Box::pin(async move {
            let caller = match &state.oidc {
                Some(verifier) => from_bearer_token(token, verifier).await?,
                None => caller,
            };
            match (caller, &state.ldap) {
                (
                    Caller::User {
                        name,
                        mut groups,
                        scopes,
                    },
                    Some(ldap),
                ) => {
                    for group in ldap.groups_of(&name).await {
                        if !groups.contains(&group) {
                            groups.push(group);
                        }
                    }
                    Ok(Caller::User {
                        name,
                        groups,
                        scopes,
                    })
                }
                (caller, _) => Ok(caller),
            }
        })
    }
}
