//! Kerberos login (SPNEGO, RFC 4559): a `Negotiate` token for the server's `HTTP` service from
//! the user's ticket cache, or from a keytab (`KRB5_CLIENT_KTNAME`) for robots, and the check
//! of the server's mutual-authentication answer. Built with the `kerberos` feature; without it
//! Kerberos login fails with a message saying so.

use crate::error::ClientError;

/// Makes the Kerberos library log in from `keytab` when no ticket cache holds the principal.
/// Call before starting threads (it sets the process environment).
pub fn use_client_keytab(keytab: &std::path::Path) {
    std::env::set_var("KRB5_CLIENT_KTNAME", format!("FILE:{}", keytab.display()));
}

fn login_failed(reason: impl std::fmt::Display) -> ClientError {
    ClientError::Login(format!("Kerberos: {reason}"))
}

#[cfg(feature = "kerberos")]
mod gss {
    use base64::Engine;
    use libgssapi::context::{ClientCtx, CtxFlags, SecurityContext};
    use libgssapi::credential::{Cred, CredUsage};
    use libgssapi::name::Name;
    use libgssapi::oid::{GSS_MECH_SPNEGO, GSS_NT_HOSTBASED_SERVICE, GSS_NT_KRB5_PRINCIPAL};

    use super::login_failed;
    use crate::error::ClientError;

    /// One request's Kerberos exchange with the server at `host`.
    pub struct Negotiation {
        context: ClientCtx,
    }

    impl std::fmt::Debug for Negotiation {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Negotiation").finish_non_exhaustive()
        }
    }

    impl Negotiation {
        /// Starts an exchange as `principal` (default: the ticket cache's) with `HTTP@host`,
        /// returning the `Authorization` header value. Blocking: it may ask the KDC for a
        /// service ticket.
        pub fn start(
            host: &str,
            principal: Option<&str>,
        ) -> Result<(Negotiation, String), ClientError> {
            let cred = match principal {
                Some(principal) => {
                    let name = Name::new(principal.as_bytes(), Some(&GSS_NT_KRB5_PRINCIPAL))
                        .map_err(login_failed)?;
                    Some(
                        Cred::acquire(Some(&name), None, CredUsage::Initiate, None)
                            .map_err(login_failed)?,
                    )
                }
                None => None,
            };
            let target = Name::new(
                format!("HTTP@{host}").as_bytes(),
                Some(&GSS_NT_HOSTBASED_SERVICE),
            )
            .map_err(login_failed)?;
            let mut context = ClientCtx::new(
                cred,
                target,
                CtxFlags::GSS_C_MUTUAL_FLAG,
                Some(&GSS_MECH_SPNEGO),
            );
            let token = context
                .step(None, None)
                .map_err(login_failed)?
                .ok_or_else(|| login_failed("GSSAPI produced no token"))?;
            let header = format!(
                "Negotiate {}",
                base64::engine::general_purpose::STANDARD.encode(&*token)
            );
            Ok((Negotiation { context }, header))
        }

        /// Checks the server's answer (`WWW-Authenticate: Negotiate …`): it must prove the
        /// server holds the service's key.
        pub fn finish(mut self, challenge: Option<&str>) -> Result<(), ClientError> {
            let Some(token) = challenge.and_then(|c| {
                let (scheme, token) = c.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("negotiate").then_some(token)
            }) else {
                return Err(login_failed(
                    "the server did not authenticate itself (no Negotiate answer)",
                ));
            };
            let token = base64::engine::general_purpose::STANDARD
                .decode(token.trim())
                .map_err(|_| login_failed("the server's Negotiate answer is not base64"))?;
            self.context.step(Some(&token), None).map_err(|e| {
                login_failed(format!("the server failed mutual authentication: {e}"))
            })?;
            if self.context.is_complete() {
                Ok(())
            } else {
                Err(login_failed("the server's Negotiate answer is incomplete"))
            }
        }
    }
}

#[cfg(feature = "kerberos")]
pub use gss::Negotiation;

/// Stands in for the exchange in clients built without the `kerberos` feature: starting one
/// fails with a message saying so.
#[cfg(not(feature = "kerberos"))]
#[derive(Debug)]
pub enum Negotiation {}

#[cfg(not(feature = "kerberos"))]
impl Negotiation {
    /// Always fails: Kerberos is not built in.
    pub fn start(
        _host: &str,
        _principal: Option<&str>,
    ) -> Result<(Negotiation, String), ClientError> {
        Err(login_failed(
            "this odcs was built without Kerberos support (the `kerberos` feature)",
        ))
    }

    /// Never called: no exchange exists.
    pub fn finish(self, _challenge: Option<&str>) -> Result<(), ClientError> {
        match self {}
    }
}
