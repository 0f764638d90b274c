//! HTTPS served by the frontend itself: the server's certificate, and client certificates
//! verified against `tls_client_ca` (requested, not required, so anonymous reads stay open).
//! A verified client certificate's subject is kept with its connection for the `ssl` backend.

use std::any::Any;
use std::path::Path;
use std::sync::Arc;

use actix_tls::accept::rustls_0_23::TlsStream;
use actix_web::dev::Extensions;
use actix_web::rt::net::TcpStream;
use odcs_common::config::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use thiserror::Error;

/// Why HTTPS cannot be set up; names the file at fault.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file cannot be read or holds nothing usable.
    #[error("{key} {path}: {message}")]
    File {
        /// The configuration key naming the file.
        key: &'static str,
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// rustls refuses the certificates or key.
    #[error("TLS set-up: {0}")]
    Rustls(#[from] rustls::Error),
}

fn file_error(key: &'static str, path: &Path, message: impl ToString) -> TlsError {
    TlsError::File {
        key,
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

pub(crate) fn certificates(
    key: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(key, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(key, path, e))?;
    if certs.is_empty() {
        return Err(file_error(key, path, "holds no certificate"));
    }
    Ok(certs)
}

/// A TLS client configuration trusting the authorities in the PEM file `ca` (named by the
/// configuration key `key`), for the connections the server makes (LDAP).
pub fn client_config(key: &'static str, ca: &Path) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(key, ca)? {
        roots.add(cert)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The rustls configuration `server` describes (its certificate, and the client CAs).
pub fn server_config(server: &ServerConfig) -> Result<rustls::ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = if server.verifies_clients() {
        let mut roots = RootCertStore::empty();
        for ca in certificates("tls_client_ca", &server.tls_client_ca)? {
            roots
                .add(ca)
                .map_err(|e| file_error("tls_client_ca", &server.tls_client_ca, e))?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .allow_unauthenticated()
            .build()
            .map_err(|e| file_error("tls_client_ca", &server.tls_client_ca, e))?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let chain = certificates("tls_cert", &server.tls_cert)?;
    let key = PrivateKeyDer::from_pem_file(&server.tls_key)
        .map_err(|e| file_error("tls_key", &server.tls_key, e))?;
    Ok(builder.with_single_cert(chain, key)?)
}

/// The subject of the verified client certificate of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSubject(pub String);

/// Keeps the subject of the connection's verified client certificate (rustls has checked it
/// against `tls_client_ca` during the handshake) for the requests on it.
pub fn remember_client(connection: &dyn Any, data: &mut Extensions) {
    let Some(tls) = connection.downcast_ref::<TlsStream<TcpStream>>() else {
        return;
    };
    let (_, session) = tls.get_ref();
    if let Some(subject) = session
        .peer_certificates()
        .and_then(|certs| certs.first())
        .and_then(|cert| subject_dn(cert.as_ref()))
    {
        data.insert(ClientSubject(subject));
    }
}

/// The subject of the DER certificate `der` as mod_ssl's `SSL_CLIENT_S_DN` writes it (RFC 2253:
/// most specific first, `CN=alice,OU=Builds,O=Example`).
pub fn subject_dn(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let registry = x509_parser::objects::oid_registry();
    let mut parts: Vec<String> = Vec::new();
    for rdn in cert.subject().iter().collect::<Vec<_>>().into_iter().rev() {
        let attrs: Vec<String> = rdn
            .iter()
            .map(|attr| {
                let oid = attr.attr_type();
                let name = match x509_parser::objects::oid2abbrev(oid, registry) {
                    // mod_ssl's name for PKCS #9 e-mail addresses.
                    Ok("Email") => "emailAddress".to_owned(),
                    Ok(abbrev) => abbrev.to_owned(),
                    Err(_) => oid.to_id_string(),
                };
                let value = attr.as_str().map(escape).unwrap_or_default();
                format!("{name}={value}")
            })
            .collect();
        parts.push(attrs.join("+"));
    }
    let dn = parts.join(",");
    (!dn.is_empty()).then_some(dn)
}

/// `value` with RFC 2253's special characters escaped.
fn escape(value: &str) -> String {
    let mut out = String::new();
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i + 1 == value.chars().count() && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_read_as_mod_ssl_writes_them() {
        let dir = std::env::temp_dir().join(format!("odcs-tls-{}", uuid::Uuid::new_v4()));
        let (cert, _) = odcs_common::test_pki::self_signed(
            &dir,
            "alice",
            "/O=Example/OU=Builds/CN=alice, the builder",
        );
        let cert = CertificateDer::from_pem_file(cert).expect("pem");
        assert_eq!(
            subject_dn(cert.as_ref()).as_deref(),
            Some("CN=alice\\, the builder,OU=Builds,O=Example")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
