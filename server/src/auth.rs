//! Who is calling: the identity of a request, as the configured backend establishes it.
//!
//! Backends: `noauth` (everyone is "unknown" and may do everything), `proxy` (an
//! authenticating reverse proxy passes the user and groups in headers, believed only from
//! `auth_trusted_proxies`), `ssl` (the subject of a client certificate the server verified
//! itself, see [`crate::tls`]), `openidc` (bearer tokens of an OpenID provider, see
//! [`crate::oidc`]; actions need their scopes, [`Caller::require_scope`]), `kerberos` (SPNEGO
//! tokens accepted with the service keytab, see [`crate::kerberos`]) and the pairs
//! `kerberos_or_ssl` and `oidc_or_kerberos`, which take whichever credential a request
//! presents. Handlers only ever see a [`Caller`].

use std::future::ready;

use futures_util::future::LocalBoxFuture;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use odcs_common::config::{AuthBackend, Config};

use crate::error::ApiError;
use crate::kerberos::{negotiate_token, Accepted, KerberosAcceptor};
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

    /// Fails with 401 unless the caller is known (or authentication is off), saying what the
    /// reference says for the backend; the answer challenges the client to use the schemes the
    /// backend accepts.
    pub fn require_login(&self, config: &Config) -> Result<(), ApiError> {
        let message = match config.auth.backend {
            AuthBackend::Ssl | AuthBackend::KerberosOrSsl => "Cannot verify client: None",
            _ => "REMOTE_USER is not present in request.",
        };
        match self {
            Caller::Anonymous => match challenges(config.auth.backend) {
                [] => Err(ApiError::Unauthorized(message.into())),
                challenges => Err(ApiError::LoginRequired {
                    message: message.into(),
                    challenges,
                }),
            },
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

/// The `WWW-Authenticate` challenge of OpenID Connect bearer tokens.
const BEARER_CHALLENGE: &str = "Bearer realm=\"ODCS\"";

/// The `WWW-Authenticate` challenge of Kerberos (SPNEGO).
const NEGOTIATE_CHALLENGE: &str = "Negotiate";

/// The `WWW-Authenticate` challenges of the schemes `backend` takes from clients; none for
/// the backends whose credentials are not in the request's headers.
pub fn challenges(backend: AuthBackend) -> &'static [&'static str] {
    match backend {
        AuthBackend::Openidc => &[BEARER_CHALLENGE],
        AuthBackend::Kerberos | AuthBackend::KerberosOrSsl => &[NEGOTIATE_CHALLENGE],
        AuthBackend::OidcOrKerberos => &[BEARER_CHALLENGE, NEGOTIATE_CHALLENGE],
        AuthBackend::Noauth | AuthBackend::Proxy | AuthBackend::Ssl => &[],
    }
}

/// Establishes the caller of `req` under `config` from what needs no verification round:
/// proxy headers and client certificates (tokens are checked by [`Presented::verify`]).
pub fn identify(req: &HttpRequest, config: &Config) -> Caller {
    match config.auth.backend {
        AuthBackend::Noauth => Caller::NoAuth,
        AuthBackend::Proxy => from_proxy_headers(req, config),
        AuthBackend::Ssl | AuthBackend::KerberosOrSsl => from_client_certificate(req),
        AuthBackend::Openidc | AuthBackend::Kerberos | AuthBackend::OidcOrKerberos => {
            Caller::Anonymous
        }
    }
}

/// A token in the `Authorization` header that the backend takes.
enum Presented {
    /// An OpenID Connect access token.
    Bearer(String),
    /// A base64 SPNEGO token.
    Negotiate(String),
}

impl Presented {
    /// The token `req` presents, if the backend takes its scheme.
    fn find(req: &HttpRequest, backend: AuthBackend) -> Option<Presented> {
        let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
        if backend.uses_kerberos() {
            if let Some(token) = negotiate_token(value) {
                return Some(Presented::Negotiate(token.to_owned()));
            }
        }
        if backend.uses_openidc() {
            let (scheme, token) = value.trim().split_once(' ')?;
            let token = token.trim();
            if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() {
                return Some(Presented::Bearer(token.to_owned()));
            }
        }
        None
    }

    /// The caller the token speaks for, or the 401 saying why it speaks for nobody.
    async fn verify(self, req: HttpRequest, state: &AppState) -> Result<Caller, ApiError> {
        match (self, &state.oidc, &state.kerberos) {
            (Presented::Bearer(token), Some(verifier), _) => {
                from_bearer_token(&token, verifier).await
            }
            (Presented::Negotiate(token), _, Some(acceptor)) => {
                from_negotiate_token(req, token, acceptor.clone(), &state.config).await
            }
            _ => Err(ApiError::internal(
                "an authentication backend is configured without its verifier",
            )),
        }
    }
}

/// The mutual-authentication token a Kerberos exchange produced, returned by
/// [`return_negotiate_reply`] with the response.
#[derive(Debug, Clone)]
struct NegotiateReply(String);

/// The caller a Negotiate token speaks for: the client's principal, realm stripped for
/// `auth_realms`; a 401 asking to negotiate again when the token is refused.
async fn from_negotiate_token(
    req: HttpRequest,
    token: String,
    acceptor: std::sync::Arc<KerberosAcceptor>,
    config: &Config,
) -> Result<Caller, ApiError> {
    let accepted = web::block(move || acceptor.accept(&token))
        .await
        .map_err(ApiError::internal)?;
    match accepted {
        Ok(Accepted { principal, reply }) => {
            if let Some(reply) = reply {
                req.extensions_mut().insert(NegotiateReply(reply));
            }
            Ok(Caller::User {
                name: config.auth.user_name(&principal).to_owned(),
                groups: Vec::new(),
                scopes: None,
            })
        }
        Err(e) => {
            tracing::info!(error = %e, "Negotiate token refused");
            Err(ApiError::LoginRequired {
                message: e.to_string(),
                challenges: &[NEGOTIATE_CHALLENGE],
            })
        }
    }
}

/// Middleware: adds the Kerberos mutual-authentication token (`WWW-Authenticate: Negotiate
/// …`, RFC 4559) to the response of a request that negotiated one.
pub async fn return_negotiate_reply(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut response = next.call(req).await?;
    let reply = response
        .request()
        .extensions()
        .get::<NegotiateReply>()
        .cloned();
    if let Some(NegotiateReply(token)) = reply {
        if let Ok(value) = HeaderValue::from_str(&format!("Negotiate {token}")) {
            response
                .headers_mut()
                .append(header::WWW_AUTHENTICATE, value);
        }
    }
    Ok(response)
}

/// The caller a bearer token speaks for, or a 401 with the reason the token is invalid or
/// expired.
async fn from_bearer_token(token: &str, verifier: &OidcVerifier) -> Result<Caller, ApiError> {
    match verifier.verify(token).await {
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
        let presented = Presented::find(req, state.config.auth.backend);
        let req = req.clone();
        Box::pin(async move {
            let caller = match presented {
                Some(presented) => presented.verify(req, &state).await?,
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
