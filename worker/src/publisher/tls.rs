//! TLS for brokers that want it: the CA bundle to trust and the client certificate to show,
//! as UMB-style buses require.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use odcs_common::config::MessagingConfig;

/// Why the TLS settings could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{what} {path}: {message}")]
pub struct TlsError {
    what: &'static str,
    path: String,
    message: String,
}

fn tls_error(what: &'static str, path: &Path, message: impl ToString) -> TlsError {
    TlsError {
        what,
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

/// The client configuration for `config`'s `messaging_ca_cert`, `messaging_cert_file` and
/// `messaging_key_file`: the CA bundle, else the Mozilla roots, and the client certificate
/// when one is set.
pub fn client_config(config: &MessagingConfig) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    match config.ca_bundle() {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| tls_error("messaging_ca_cert", path, e))?;
            for cert in certs {
                let cert = cert.map_err(|e| tls_error("messaging_ca_cert", path, e))?;
                roots
                    .add(cert)
                    .map_err(|e| tls_error("messaging_ca_cert", path, e))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("messaging TLS", Path::new(""), e))?
        .with_root_certificates(roots);
    let client = match config.client_certificate() {
        Some((cert_path, key_path)) => {
            let chain = CertificateDer::pem_file_iter(cert_path)
                .map_err(|e| tls_error("messaging_cert_file", cert_path, e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| tls_error("messaging_cert_file", cert_path, e))?;
            let key = PrivateKeyDer::from_pem_file(key_path)
                .map_err(|e| tls_error("messaging_key_file", key_path, e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| tls_error("messaging_cert_file", cert_path, e))?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(client))
}

/// A connector for `config`'s TLS settings and the name `host`'s certificate must carry (an
/// IP address is a name too: rustls checks it against the certificate's IP SANs).
pub fn connector_for(
    config: &MessagingConfig,
    host: &str,
) -> Result<(TlsConnector, ServerName<'static>), TlsError> {
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| tls_error("broker host", Path::new(host), e))?;
    Ok((TlsConnector::from(client_config(config)?), name))
}
