//! HTTPS served by the process itself, when `SMARTBOX_TLS_CERT` and `SMARTBOX_TLS_KEY` name PEM
//! files: rustls (on the ring provider, as everywhere in the process), HTTP/1.1 over ALPN, and a
//! certificate that can be replaced without a restart (`SIGHUP` reloads both files; a pair that
//! does not load is refused with a log line and the old one kept). The alternative, a reverse proxy
//! that terminates TLS, is in docs/operations.md.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::Context;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// Where the certificate chain and its key are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The acceptor of new connections, replaceable while the server runs.
#[derive(Clone)]
pub struct Tls {
    files: TlsFiles,
    current: Arc<RwLock<TlsAcceptor>>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Loads the files; an error names the file and what is wrong with it.
    pub fn load(files: TlsFiles) -> anyhow::Result<Tls> {
        let acceptor = acceptor(&files)?;
        Ok(Tls {
            files,
            current: Arc::new(RwLock::new(acceptor)),
        })
    }

    /// The acceptor for the next connection.
    pub fn acceptor(&self) -> TlsAcceptor {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Reads the files again; new connections use the new pair, open ones keep theirs. On an
    /// error the old pair stays.
    pub fn reload(&self) -> anyhow::Result<()> {
        let acceptor = acceptor(&self.files)?;
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = acceptor;
        Ok(())
    }

    /// Reloads on every `SIGHUP` until the process ends.
    pub fn reload_on_sighup(&self) {
        #[cfg(unix)]
        {
            let tls = self.clone();
            tokio::spawn(async move {
                use tokio::signal::unix::{SignalKind, signal};
                let Ok(mut hangups) = signal(SignalKind::hangup()) else {
                    tracing::warn!(
                        "cannot listen for SIGHUP: the certificate reloads only on restart"
                    );
                    return;
                };
                while hangups.recv().await.is_some() {
                    match tls.reload() {
                        Ok(()) => {
                            tracing::info!(cert = %tls.files.cert.display(), "TLS certificate reloaded")
                        }
                        Err(error) => {
                            tracing::error!(error = %format!("{error:#}"), "TLS certificate not reloaded; the old one stays")
                        }
                    }
                }
            });
        }
    }
}

fn acceptor(files: &TlsFiles) -> anyhow::Result<TlsAcceptor> {
    crate::server::install_crypto_provider();
    let certs = read_certs(&files.cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|err| {
        anyhow::anyhow!(
            "SMARTBOX_TLS_KEY: {}: no PEM private key ({err})",
            files.key.display()
        )
    })?;
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .with_context(|| {
            format!(
                "SMARTBOX_TLS_KEY: {} is not the key of {}",
                files.key.display(),
                files.cert.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn read_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|err| anyhow::anyhow!("SMARTBOX_TLS_CERT: {}: {err}", path.display()))?;
    if certs.is_empty() {
        anyhow::bail!(
            "SMARTBOX_TLS_CERT: {} holds no PEM certificate",
            path.display()
        );
    }
    Ok(certs)
}
