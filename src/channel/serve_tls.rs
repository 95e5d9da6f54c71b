//! HTTPS for `krait serve`: the certificate chain and key from PEM files, and an accept loop
//! that runs the TLS handshake before handing each connection to the same router as HTTP.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The PEM files `--tls-cert` and `--tls-key` name.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The server's certificate, then any intermediates.
    pub cert: PathBuf,
    /// The certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// A certificate or key that cannot be used.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{path}: {message}")]
#[diagnostic(help(
    "give --tls-cert a PEM certificate chain and --tls-key the PEM private key of its first certificate"
))]
pub struct TlsError {
    pub path: PathBuf,
    pub message: String,
}

fn invalid(path: &Path, message: impl ToString) -> TlsError {
    TlsError {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Reads the files into a TLS acceptor (HTTP/1.1, rustls's safe default protocol versions).
pub fn acceptor(files: &TlsFiles) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| invalid(&files.cert, e))?;
    if certs.is_empty() {
        return Err(invalid(&files.cert, "holds no PEM certificate"));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| invalid(&files.key, e))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(&files.cert, e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| invalid(&files.key, format!("does not fit the certificate: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Accepts connections until `shutdown` completes; each one is served by `app` after its
/// handshake (which must finish within the header timeout), with the peer address available
/// to handlers as `ConnectInfo`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    app: axum::Router,
    limits: super::serve_limits::Limits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let handshake = move |stream: tokio::net::TcpStream| {
        let acceptor = acceptor.clone();
        async move {
            // A client that does not trust the certificate hangs up during the handshake.
            acceptor
                .accept(stream)
                .await
                .inspect_err(|e| tracing::debug!("TLS handshake failed: {e}"))
                .ok()
        }
    };
    super::serve_limits::accept_loop(listener, app, limits, handshake, shutdown).await;
}
