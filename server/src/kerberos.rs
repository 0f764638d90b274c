//! Kerberos: SPNEGO (`Authorization: Negotiate`, RFC 4559) tokens accepted with the service's
//! keytab through MIT GSSAPI (`libgssapi`). HTTP Negotiate is stateless here: the client's
//! first token must complete the exchange (as Kerberos inside SPNEGO does); the acceptor's
//! answer goes back as the mutual-authentication token of the response.
//!
//! Without the `kerberos` feature the backends that need this refuse to start.

#[cfg(feature = "kerberos")]
use base64::Engine;
use odcs_common::config::AuthConfig;
use thiserror::Error;

/// Why a Negotiate token identifies nobody, or why the service cannot accept any.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KerberosError {
    /// The token is not base64, not a Kerberos/SPNEGO token, forged, replayed, or for another
    /// service; the message is the 401's.
    #[error("Kerberos authentication failed: {0}")]
    Rejected(String),
    /// The service's own credentials cannot be used (keytab missing or without the principal).
    #[error("cannot use the service's Kerberos keytab: {0}")]
    Credentials(String),
    /// This server was built without the `kerberos` feature.
    #[error("this odcs-server was built without Kerberos support (the `kerberos` feature)")]
    NotBuilt,
}

/// Who a Negotiate token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The client's principal, `user@REALM`.
    pub principal: String,
    /// The token to return in `WWW-Authenticate: Negotiate …` (mutual authentication), base64.
    pub reply: Option<String>,
}

/// Points the Kerberos library at the configured keytab. Called once at start-up, before any
/// thread that could read the environment exists.
pub fn use_configured_keytab(auth: &AuthConfig) {
    if !auth.kerberos_keytab.is_empty() {
        std::env::set_var("KRB5_KTNAME", format!("FILE:{}", auth.kerberos_keytab));
    }
}

/// The token of an `Authorization: Negotiate <token>` header value.
pub fn negotiate_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("negotiate")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(feature = "kerberos")]
fn decode(token: &str) -> Result<Vec<u8>, KerberosError> {
    base64::engine::general_purpose::STANDARD
        .decode(token)
        .map_err(|_| KerberosError::Rejected("the Negotiate token is not base64".into()))
}

#[cfg(feature = "kerberos")]
mod gss {
    use base64::Engine;
    use libgssapi::context::{SecurityContext, ServerCtx};
    use libgssapi::credential::{Cred, CredUsage};
    use libgssapi::name::Name;
    use libgssapi::oid::{OidSet, GSS_MECH_KRB5, GSS_MECH_SPNEGO, GSS_NT_KRB5_PRINCIPAL};
    use odcs_common::config::AuthConfig;

    use super::{decode, Accepted, KerberosError};

    /// Accepts Negotiate tokens for the service's principal(s).
    pub struct KerberosAcceptor {
        cred: Cred,
    }

    impl std::fmt::Debug for KerberosAcceptor {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("KerberosAcceptor").finish_non_exhaustive()
        }
    }

    impl KerberosAcceptor {
        /// The acceptor `auth` configures; fails when the keytab cannot serve it, so a
        /// misconfigured server stops at start-up rather than rejecting every user.
        pub fn from_config(auth: &AuthConfig) -> Result<KerberosAcceptor, KerberosError> {
            let credentials =
                |e: libgssapi::error::Error| KerberosError::Credentials(e.to_string());
            let name = if auth.kerberos_principal.is_empty() {
                None
            } else {
                Some(
                    Name::new(
                        auth.kerberos_principal.as_bytes(),
                        Some(&GSS_NT_KRB5_PRINCIPAL),
                    )
                    .map_err(credentials)?,
                )
            };
            let mut mechs = OidSet::new().map_err(credentials)?;
            mechs.add(&GSS_MECH_SPNEGO).map_err(credentials)?;
            mechs.add(&GSS_MECH_KRB5).map_err(credentials)?;
            let cred = Cred::acquire(name.as_ref(), None, CredUsage::Accept, Some(&mechs))
                .map_err(credentials)?;
            Ok(KerberosAcceptor { cred })
        }

        /// The principal behind `token` (base64, as sent), with the reply token. Blocking: it
        /// reads the keytab and the replay cache.
        pub fn accept(&self, token: &str) -> Result<Accepted, KerberosError> {
            let rejected = |e: libgssapi::error::Error| KerberosError::Rejected(e.to_string());
            let mut context = ServerCtx::new(Some(self.cred.clone()));
            let reply = context.step(&decode(token)?).map_err(rejected)?;
            if !context.is_complete() {
                return Err(KerberosError::Rejected(
                    "the exchange needs more than one round trip (offer Kerberos first)".into(),
                ));
            }
            let principal = context.source_name().map_err(rejected)?.to_string();
            Ok(Accepted {
                principal,
                reply: reply.map(|r| base64::engine::general_purpose::STANDARD.encode(&*r)),
            })
        }
    }
}

#[cfg(feature = "kerberos")]
pub use gss::KerberosAcceptor;

/// Stands in for the acceptor in servers built without the `kerberos` feature: configuring a
/// Kerberos backend fails at start-up with [`KerberosError::NotBuilt`].
#[cfg(not(feature = "kerberos"))]
#[derive(Debug)]
pub enum KerberosAcceptor {}

#[cfg(not(feature = "kerberos"))]
impl KerberosAcceptor {
    /// Always [`KerberosError::NotBuilt`].
    pub fn from_config(_auth: &AuthConfig) -> Result<KerberosAcceptor, KerberosError> {
        Err(KerberosError::NotBuilt)
    }

    /// Never called: no acceptor exists.
    pub fn accept(&self, _token: &str) -> Result<Accepted, KerberosError> {
        match *self {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiate_tokens_are_found_in_any_case() {
        assert_eq!(negotiate_token("Negotiate YIIB"), Some("YIIB"));
        assert_eq!(negotiate_token("negotiate  YIIB "), Some("YIIB"));
        assert_eq!(negotiate_token("Bearer abc"), None);
        assert_eq!(negotiate_token("Negotiate "), None);
    }

    #[cfg(feature = "kerberos")]
    #[test]
    fn a_token_that_is_not_base64_is_rejected() {
        assert!(matches!(
            decode("not base64!"),
            Err(KerberosError::Rejected(_))
        ));
    }
}
