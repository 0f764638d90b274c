//! Who is calling: the identity of a request, as the configured backend establishes it.
//!
//! Backends: `noauth` (everyone is "unknown" and may do everything), `proxy` (an
//! authenticating reverse proxy passes the user and groups in headers, believed only from
//! `auth_trusted_proxies`) and `ssl` (the subject of a client certificate the server verified
//! itself, see [`crate::tls`]). OIDC bearer tokens will be a third [`Caller`] source in
//! [`identify`]; handlers only ever see a [`Caller`].

use std::future::ready;

use futures_util::future::LocalBoxFuture;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use odcs_common::config::{AuthBackend, Config};

use crate::error::ApiError;
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

    /// Fails with 401 unless the caller is known (or authentication is off).
    pub fn require_login(&self) -> Result<(), ApiError> {
        match self {
            Caller::Anonymous => Err(ApiError::Unauthorized(
                "This action requires an authenticated user.".into(),
            )),
            Caller::NoAuth | Caller::User { .. } => Ok(()),
        }
    }

    /// Whether the caller is an admin; everyone is when authentication is off.
    pub fn is_admin(&self, config: &Config) -> bool {
        match self {
            Caller::NoAuth => true,
            Caller::User { name, groups } => config.policy.admins.contains(name, groups),
            Caller::Anonymous => false,
        }
    }
}

/// Establishes the caller of `req` under `config`.
pub fn identify(req: &HttpRequest, config: &Config) -> Caller {
    match config.auth.backend {
        AuthBackend::Noauth => Caller::NoAuth,
        AuthBackend::Proxy => from_proxy_headers(req, config),
        AuthBackend::Ssl => from_client_certificate(req),
    }
}

/// The user of a verified client certificate: its subject, with no groups (as the reference).
fn from_client_certificate(req: &HttpRequest) -> Caller {
    match req.conn_data::<ClientSubject>() {
        Some(ClientSubject(subject)) => Caller::User {
            name: subject.clone(),
            groups: Vec::new(),
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
        Box::pin(async move {
            match (caller, &state.ldap) {
                (Caller::User { name, mut groups }, Some(ldap)) => {
                    for group in ldap.groups_of(&name).await {
                        if !groups.contains(&group) {
                            groups.push(group);
                        }
                    }
                    Ok(Caller::User { name, groups })
                }
                (caller, _) => Ok(caller),
            }
        })
    }
}
