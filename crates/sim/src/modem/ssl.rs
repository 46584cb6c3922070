//! The emulated A7670's SSL contexts and certificate files ("A76XX Series AT Command Manual",
//! SSL chapter): `AT+CCERTDOWN="<file>",<len>` (the `>` prompt, exactly `<len>` bytes, `OK`;
//! the file kept in flash across power cycles), `AT+CSSLCFG="<key>",<ctx>,<value>` for
//! `sslversion`, `authmode` (0 none, 1 server, 2 server and client, 3 client), `cacert`,
//! `enableSNI` and a few the firmware does not use, per context 0-9 and per power cycle.
//!
//! The handshake is real: [`Modem::tls_client`] makes a rustls client (ring) from a context, so
//! a server whose certificate does not chain to the context's CA file, or does not carry the
//! host's name, fails as on the air (`+CCHOPEN: 0,15`, `+HTTPACTION: <m>,715,0`), and a context
//! without server authentication accepts any certificate, as the modem does.

use std::collections::HashMap;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::Modem;
use crate::net::TlsClient;

/// Largest certificate file `AT+CCERTDOWN` takes.
pub const MAX_CERT: usize = 10_240;
/// Seconds the modem waits for a certificate's bytes before it answers `ERROR`.
const CERT_TIMEOUT_S: u64 = 10;
/// SSL contexts `AT+CSSLCFG` takes (0-9).
const CONTEXTS: u8 = 10;

/// One SSL context's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct SslContext {
    /// 0 none (the default), 1 server, 2 server and client, 3 client.
    pub authmode: u8,
    /// The CA file the server's chain must lead to.
    pub cacert: Option<String>,
    /// Server Name Indication (off by default).
    pub sni: bool,
}

/// A certificate being received after the `>` prompt.
#[derive(Debug)]
pub(super) struct CertDownload {
    name: String,
    len: usize,
    bytes: Vec<u8>,
    timeout_tag: u64,
}

/// The SSL side of the modem: files (kept across power cycles) and contexts (not kept).
#[derive(Debug, Default)]
pub(super) struct Ssl {
    /// Certificate files in the modem's flash.
    pub files: HashMap<String, Vec<u8>>,
    /// Contexts set this power cycle.
    pub contexts: HashMap<u8, SslContext>,
    /// The certificate being received.
    pub download: Option<CertDownload>,
}

impl Ssl {
    /// A power cycle ends: contexts and a download in progress are lost, files are kept.
    pub fn reset(&mut self) {
        self.contexts.clear();
        self.download = None;
    }

    /// Context `index`'s settings (the defaults when never set).
    pub fn context(&self, index: u8) -> SslContext {
        self.contexts.get(&index).cloned().unwrap_or_default()
    }
}

/// Whether `name` is a certificate file name the modem takes: `.pem` or `.der`, no path.
fn valid_file_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    (lower.ends_with(".pem") || lower.ends_with(".der"))
        && name.len() > 4
        && name.len() <= 64
        && !name.contains(['/', '\\', '"'])
}

impl Modem {
    /// Whether bytes from the MCU are a certificate's.
    pub(super) fn receiving_cert(&self) -> bool {
        self.ssl.download.is_some()
    }

    /// `AT+CCERTDOWN="<file>",<len>`: the prompt, then [`Modem::cert_byte`] takes the bytes.
    pub(super) fn cert_down(&mut self, now: u64, arg: &str) {
        let Some((name, len)) = arg.rsplit_once(',') else {
            return self.error(now);
        };
        let name = name.trim();
        let quoted = name.len() >= 2 && name.starts_with('"') && name.ends_with('"');
        let name = name.trim_matches('"');
        let len = len.trim().parse::<usize>().ok();
        let (true, true, Some(len)) = (quoted, valid_file_name(name), len) else {
            return self.error(now);
        };
        if len == 0 || len > MAX_CERT {
            return self.error(now);
        }
        let delay = self.spec.timing.command_ms;
        self.send_at(now + delay, b"\r\n>".to_vec(), None);
        let timeout_tag = self.next_tag;
        self.next_tag += 1;
        self.send_at(
            now + delay + CERT_TIMEOUT_S * 1_000,
            b"\r\nERROR\r\n".to_vec(),
            Some(timeout_tag),
        );
        self.ssl.download = Some(CertDownload {
            name: name.to_owned(),
            len,
            bytes: Vec::with_capacity(len),
            timeout_tag,
        });
    }

    /// One byte of the certificate being received; the last one stores the file.
    pub(super) fn cert_byte(&mut self, now: u64, byte: u8) {
        let Some(download) = self.ssl.download.as_mut() else {
            return;
        };
        download.bytes.push(byte);
        if download.bytes.len() < download.len {
            return;
        }
        let Some(download) = self.ssl.download.take() else {
            return;
        };
        let tag = download.timeout_tag;
        if !self.outbox.iter().any(|o| o.tag == Some(tag)) {
            // The modem gave up waiting (`ERROR` went out); these bytes are noise to it.
            return;
        }
        self.outbox.retain(|o| o.tag != Some(tag));
        self.ssl.files.insert(download.name, download.bytes);
        self.ok(now);
    }

    /// `AT+CSSLCFG="<key>",<ctx>,<value>`.
    pub(super) fn ssl_cfg(&mut self, now: u64, arg: &str) {
        let fields: Vec<&str> = arg.splitn(3, ',').map(str::trim).collect();
        let [key, index, value] = fields[..] else {
            return self.error(now);
        };
        let Some(index) = index.parse::<u8>().ok().filter(|i| *i < CONTEXTS) else {
            return self.error(now);
        };
        let mut context = self.ssl.context(index);
        let number = value.parse::<u32>().ok();
        match (key.trim_matches('"').to_ascii_lowercase().as_str(), number) {
            ("sslversion", Some(0..=4)) => {}
            ("authmode", Some(mode @ 0..=3)) => context.authmode = mode as u8,
            ("enablesni", Some(flag @ 0..=1)) => context.sni = flag == 1,
            ("ignorelocaltime", Some(0..=1)) | ("negotiatetime", Some(10..=300)) => {}
            ("cacert", None) => {
                let name = value.trim_matches('"');
                // The file must be in the modem already.
                if !self.ssl.files.contains_key(name) {
                    return self.error(now);
                }
                context.cacert = Some(name.to_owned());
            }
            _ => return self.error(now),
        }
        self.ssl.contexts.insert(index, context);
        self.ok(now);
    }

    /// A TLS client for `host` as context `index` says: `Err(())` when the context cannot make
    /// one (server authentication without a usable CA file), which fails the handshake.
    pub(super) fn tls_client(&self, index: u8, host: &str) -> Result<TlsClient, ()> {
        let context = self.ssl.context(index);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|_| ())?;
        let mut config = if matches!(context.authmode, 1 | 2) {
            let file = context.cacert.as_ref().ok_or(())?;
            let bytes = self.ssl.files.get(file).ok_or(())?;
            let mut roots = RootCertStore::empty();
            let certs: Vec<CertificateDer<'static>> = if bytes.starts_with(b"-----BEGIN") {
                CertificateDer::pem_slice_iter(bytes)
                    .collect::<Result<_, _>>()
                    .map_err(|_| ())?
            } else {
                vec![CertificateDer::from(bytes.clone())]
            };
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(());
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        } else {
            // No server authentication: any certificate is taken, as by the modem.
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth()
        };
        config.enable_sni = context.sni;
        let server_name = ServerName::try_from(host.to_owned()).map_err(|_| ())?;
        Ok(TlsClient {
            config: Arc::new(config),
            server_name,
        })
    }
}

/// The verifier of a context without server authentication: every certificate passes (the
/// signatures of the handshake are still checked, so the server holds the certificate's key).
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::valid_file_name;

    #[test]
    fn certificate_files_are_pem_or_der_without_a_path() {
        assert!(valid_file_name("smartbox_ca.pem"));
        assert!(valid_file_name("CA.DER"));
        assert!(!valid_file_name("ca.crt"));
        assert!(!valid_file_name(".pem"));
        assert!(!valid_file_name("../ca.pem"));
    }
}
