//! Authentication: how the frontend learns who is calling.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError};

/// How the frontend learns who is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthBackend {
    /// Nobody is authenticated; every request may do everything and composes are owned by
    /// "unknown". For a first run and closed networks only.
    Noauth,
    /// An authenticating reverse proxy (httpd with mod_auth_gssapi or mod_ssl) passes the user
    /// and groups in headers; honoured only from `auth_trusted_proxies`.
    Proxy,
    /// The server verifies TLS client certificates itself (`tls_client_ca`); the certificate's
    /// subject (`CN=alice,O=Example`, as mod_ssl's `SSL_CLIENT_S_DN`) is the user.
    Ssl,
    /// OpenID Connect: `Authorization: Bearer` JWT access tokens, verified against the keys of
    /// the provider `auth_openidc_issuer` publishes; actions need their scopes.
    Openidc,
    /// Kerberos: the server verifies SPNEGO (`Authorization: Negotiate`) tokens with its keytab
    /// (`auth_kerberos_keytab`); the client's principal, realm stripped for `auth_realms`, is
    /// the user. Needs a server built with the `kerberos` feature.
    Kerberos,
    /// `kerberos` for requests with a Negotiate token, else `ssl`.
    KerberosOrSsl,
    /// `openidc` for requests with a bearer token, else `kerberos`.
    OidcOrKerberos,
}

impl AuthBackend {
    /// The name `/api/1/about/` reports.
    pub fn name(self) -> &'static str {
        match self {
            AuthBackend::Noauth => "noauth",
            AuthBackend::Proxy => "proxy",
            AuthBackend::Ssl => "ssl",
            AuthBackend::Openidc => "openidc",
            AuthBackend::Kerberos => "kerberos",
            AuthBackend::KerberosOrSsl => "kerberos_or_ssl",
            AuthBackend::OidcOrKerberos => "oidc_or_kerberos",
        }
    }

    /// Whether bearer tokens of the OpenID provider identify callers.
    pub fn uses_openidc(self) -> bool {
        matches!(self, AuthBackend::Openidc | AuthBackend::OidcOrKerberos)
    }

    /// Whether Kerberos (SPNEGO) tokens identify callers.
    pub fn uses_kerberos(self) -> bool {
        matches!(
            self,
            AuthBackend::Kerberos | AuthBackend::KerberosOrSsl | AuthBackend::OidcOrKerberos
        )
    }

    /// Whether verified TLS client certificates identify callers.
    pub fn uses_client_certificates(self) -> bool {
        matches!(self, AuthBackend::Ssl | AuthBackend::KerberosOrSsl)
    }
}

/// Who callers are and how that is established.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// How callers are identified.
    #[serde(rename = "auth_backend")]
    pub backend: AuthBackend,
    /// Header the proxy puts the user name in.
    #[serde(rename = "auth_user_header")]
    pub user_header: String,
    /// Header the proxy puts the user's groups in (comma or space separated); empty for none.
    #[serde(rename = "auth_groups_header")]
    pub groups_header: String,
    /// Addresses of the proxies whose identity headers are believed; none by default, so a
    /// proxy deployment names its proxies (any local process could otherwise claim to be one).
    #[serde(rename = "auth_trusted_proxies")]
    pub trusted_proxies: Vec<IpAddr>,
    /// Drop the Kerberos realm (`user@REALM` → `user`) from proxied user names, for the realms
    /// in `auth_realms` only.
    #[serde(rename = "auth_strip_realm")]
    pub strip_realm: bool,
    /// The Kerberos realms whose users are known by their bare names; a name from another realm
    /// keeps its realm, so `boss@OTHER.REALM` is never the admin `boss`.
    #[serde(rename = "auth_realms")]
    pub realms: Vec<String>,
    /// The LDAP server (`ldap://host[:port]`, `ldaps://host[:port]` or `ldapi://`) users'
    /// groups are looked up in; empty: groups come only from the backend (proxy headers,
    /// token claims).
    #[serde(rename = "auth_ldap_server")]
    pub ldap_server: String,
    /// `[search base, filter]` pairs searched one level below the base; `{}` in the filter is
    /// the user name (escaped), and the `cn` of every entry found is a group.
    #[serde(rename = "auth_ldap_groups")]
    pub ldap_groups: Vec<(String, String)>,
    /// Upgrade `ldap://` connections to TLS with StartTLS before searching.
    #[serde(rename = "auth_ldap_starttls")]
    pub ldap_starttls: bool,
    /// PEM file of the authorities the LDAP server's certificate is checked against (for
    /// `ldaps://` and StartTLS); empty: the system's.
    #[serde(rename = "auth_ldap_ca_cert")]
    pub ldap_ca_cert: String,
    /// How long a user's groups are reused before LDAP is asked again, in seconds.
    #[serde(rename = "auth_ldap_cache_seconds")]
    pub ldap_cache_seconds: u64,
    /// Timeout of one LDAP lookup, in seconds; past it the user has no LDAP groups.
    #[serde(rename = "auth_ldap_timeout_seconds")]
    pub ldap_timeout_seconds: u64,
    /// The OpenID provider's issuer URL (its discovery document is
    /// `{issuer}/.well-known/openid-configuration`).
    #[serde(rename = "auth_openidc_issuer")]
    pub openidc_issuer: String,
    /// The audience access tokens must be issued for (their `aud`).
    #[serde(rename = "auth_openidc_audience")]
    pub openidc_audience: String,
    /// The token claim holding the user name.
    #[serde(rename = "auth_openidc_user_claim")]
    pub openidc_user_claim: String,
    /// The token claim holding the user's groups (a list); missing: no groups.
    #[serde(rename = "auth_openidc_groups_claim")]
    pub openidc_groups_claim: String,
    /// Scopes every authenticated request needs (401 without them).
    #[serde(rename = "auth_openidc_required_scopes")]
    pub openidc_required_scopes: Vec<String>,
    /// The prefix of the per-action scopes (`{namespace}new-compose`, `renew-compose`,
    /// `delete-compose`; 403 without them).
    pub oidc_base_namespace: String,
    /// Seconds a token's expiry and not-before times may be off, for clocks that disagree.
    #[serde(rename = "auth_openidc_leeway_seconds")]
    pub openidc_leeway_seconds: u64,
    /// The server's own client id at the provider, used to introspect opaque tokens (RFC 7662);
    /// empty: only JWT access tokens are accepted.
    #[serde(rename = "auth_openidc_client_id")]
    pub openidc_client_id: String,
    /// The secret of `auth_openidc_client_id`.
    #[serde(rename = "auth_openidc_client_secret")]
    pub openidc_client_secret: String,
    /// How long an introspected token is believed before the provider is asked again (so a
    /// revoked token stops working within this time), in seconds.
    #[serde(rename = "auth_openidc_introspection_cache_seconds")]
    pub openidc_introspection_cache_seconds: u64,
    /// The keytab holding the service's keys (`HTTP/host@REALM`); empty: the Kerberos library's
    /// default (`KRB5_KTNAME`, else `/etc/krb5.keytab`).
    #[serde(rename = "auth_kerberos_keytab")]
    pub kerberos_keytab: String,
    /// The service principal clients must address (`HTTP/odcs.example.com@EXAMPLE.COM`);
    /// empty: any principal with a key in the keytab.
    #[serde(rename = "auth_kerberos_principal")]
    pub kerberos_principal: String,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            backend: AuthBackend::Noauth,
            user_header: "X-Remote-User".into(),
            groups_header: "X-Remote-Groups".into(),
            trusted_proxies: Vec::new(),
            strip_realm: true,
            realms: Vec::new(),
            ldap_server: String::new(),
            ldap_groups: Vec::new(),
            ldap_starttls: false,
            ldap_ca_cert: String::new(),
            ldap_cache_seconds: 300,
            ldap_timeout_seconds: 5,
            openidc_issuer: String::new(),
            openidc_audience: String::new(),
            openidc_user_claim: "sub".into(),
            openidc_groups_claim: "groups".into(),
            openidc_required_scopes: Vec::new(),
            oidc_base_namespace: "https://pagure.io/odcs/".into(),
            openidc_leeway_seconds: 30,
            openidc_client_id: String::new(),
            openidc_client_secret: String::new(),
            openidc_introspection_cache_seconds: 60,
            kerberos_keytab: String::new(),
            kerberos_principal: String::new(),
        }
    }
}

impl AuthConfig {
    /// `principal` as the user name it stands for: without its realm when the realm is one
    /// of `auth_realms` and realms are stripped, else whole.
    pub fn user_name<'a>(&self, principal: &'a str) -> &'a str {
        match principal.rsplit_once('@') {
            Some((name, realm)) if self.strip_realm && self.realms.iter().any(|r| r == realm) => {
                name
            }
            _ => principal,
        }
    }

    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if !self.ldap_server.is_empty() {
            if !["ldap://", "ldaps://", "ldapi://"]
                .iter()
                .any(|scheme| self.ldap_server.starts_with(scheme))
            {
                return Err(invalid(
                    "auth_ldap_server",
                    "must be an ldap://, ldaps:// or ldapi:// URL",
                ));
            }
            if self.ldap_starttls && !self.ldap_server.starts_with("ldap://") {
                return Err(invalid(
                    "auth_ldap_starttls",
                    "StartTLS upgrades ldap:// connections only",
                ));
            }
            if self.ldap_groups.is_empty() {
                return Err(invalid(
                    "auth_ldap_groups",
                    "an LDAP server needs at least one [search base, filter] pair",
                ));
            }
        }
        if self.backend.uses_openidc() {
            match url::Url::parse(&self.openidc_issuer) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => {}
                _ => {
                    return Err(invalid(
                        "auth_openidc_issuer",
                        "OpenID Connect authentication needs the provider's issuer URL",
                    ))
                }
            }
            if self.openidc_audience.is_empty() {
                return Err(invalid(
                    "auth_openidc_audience",
                    "OpenID Connect authentication needs the audience tokens are issued for",
                ));
            }
            if self.openidc_user_claim.is_empty() {
                return Err(invalid("auth_openidc_user_claim", "must name a claim"));
            }
        }
        if self.ldap_timeout_seconds == 0 {
            return Err(invalid("auth_ldap_timeout_seconds", "must be at least 1"));
        }
        if self.backend == AuthBackend::Proxy {
            if self.user_header.trim().is_empty() {
                return Err(invalid(
                    "auth_user_header",
                    "the proxy backend needs a header name",
                ));
            }
            if self.trusted_proxies.is_empty() {
                return Err(invalid(
                    "auth_trusted_proxies",
                    "the proxy backend needs at least one trusted proxy address",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_configured_realms_are_stripped() {
        let config = AuthConfig {
            realms: vec!["EXAMPLE.COM".into()],
            ..AuthConfig::default()
        };
        assert_eq!(config.user_name("alice@EXAMPLE.COM"), "alice");
        assert_eq!(config.user_name("boss@EVIL.REALM"), "boss@EVIL.REALM");
        assert_eq!(config.user_name("alice"), "alice");
        let keep = AuthConfig {
            strip_realm: false,
            ..config
        };
        assert_eq!(keep.user_name("alice@EXAMPLE.COM"), "alice@EXAMPLE.COM");
    }
}
