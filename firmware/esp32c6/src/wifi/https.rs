//! One request to the device API over the WiFi's network stack: a TCP connection to the server,
//! TLS 1.3 on it for an `https` URL (embedded-tls, the server's certificate chain verified
//! against the CA compiled in from `SMARTBOX_CA_CERT`, its name against the URL's host), the
//! core's HTTP/1.1 head and strict response parser over it, `Connection: close`.
//!
//! One connection per request: WiFi is the fallback link, used when the cellular one failed,
//! and a connection per request keeps the code small (keep-alive across the wake's requests, as
//! the modem's socket does, is the next step if WiFi ever carries most wakes). A build without a
//! CA refuses `https` over WiFi rather than trust any certificate.

use embassy_net::tcp::TcpSocket;
use embassy_net::{IpAddress, Stack};
use embassy_time::Duration;
use embedded_io_async::{Read, Write};
use embedded_tls::pki::CertVerifier;
use embedded_tls::{
    Aes128GcmSha256, Certificate, CryptoProvider, NoClock, TlsConfig, TlsConnection, TlsContext,
    TlsError, TlsVerifier,
};
use esp_hal::rng::Trng;
use heapless::String;
use smartbox_firmware::http::{NetError, Request, Response};
use smartbox_firmware::http1::{ResponseParser, request_head};

/// The CA the server's chain must lead to (DER), empty when the build had none; the modem
/// verifies against the same one ([`crate::provision::Provision::modem_settings`]).
pub(crate) const CA_DER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/ca.der"));
/// Largest server certificate the verifier keeps while checking the handshake's signature.
const CERT_BYTES: usize = 4096;
/// A connection that neither sends nor receives for this long is given up.
const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// TCP and TLS record buffers, one set for the board's one connection.
#[derive(Debug)]
pub struct Buffers {
    tcp_rx: [u8; 4096],
    tcp_tx: [u8; 4096],
    /// A whole TLS record: 16 KiB of plaintext and its overhead.
    tls_read: [u8; 16_640],
    tls_write: [u8; 4096],
}

impl Buffers {
    /// Zeroed buffers (for a `ConstStaticCell`).
    pub const fn new() -> Self {
        Self {
            tcp_rx: [0; 4096],
            tcp_tx: [0; 4096],
            tls_read: [0; 16_640],
            tls_write: [0; 4096],
        }
    }
}

/// Where the device API is: from the provisioned URL.
#[derive(Debug, Clone)]
pub struct Server {
    /// `https` (else plain `http`).
    pub tls: bool,
    /// Host name, for DNS, SNI and the certificate's name.
    pub host: String<96>,
    /// `Host` header: the host, and the port when it is not the scheme's.
    pub authority: String<104>,
    pub port: u16,
}

impl Server {
    /// Parses `http(s)://host[:port]` (the provisioning record's checked URL).
    pub fn parse(url: &str) -> Option<Self> {
        let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else {
            (false, url.strip_prefix("http://")?)
        };
        let authority = rest.split('/').next()?;
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host, port.parse().ok()?),
            None => (authority, if tls { 443 } else { 80 }),
        };
        Some(Self {
            tls,
            host: String::try_from(host).ok()?,
            authority: String::try_from(authority).ok()?,
            port,
        })
    }
}

/// The crypto of one handshake: the TRNG (the radio is an entropy source while it runs) and
/// the verifier of the server's chain against [`CA_DER`].
struct Verified<'a> {
    rng: Trng,
    verifier: CertVerifier<'a, Aes128GcmSha256, NoClock, CERT_BYTES>,
}

impl CryptoProvider for Verified<'_> {
    type CipherSuite = Aes128GcmSha256;
    type Signature = [u8; 0];

    fn rng(&mut self) -> impl rand_core::CryptoRngCore {
        &mut self.rng
    }

    fn verifier(&mut self) -> Result<&mut impl TlsVerifier<Self::CipherSuite>, TlsError> {
        Ok(&mut self.verifier)
    }
}

/// Sends `request` to `server` at `address` and reads its answer's body into `answer`.
pub async fn exchange(
    stack: Stack<'_>,
    buffers: &mut Buffers,
    server: &Server,
    address: IpAddress,
    request: &Request<'_>,
    answer: &mut [u8],
) -> Result<Response, NetError> {
    let Buffers {
        tcp_rx,
        tcp_tx,
        tls_read,
        tls_write,
    } = buffers;
    let mut socket = TcpSocket::new(stack, tcp_rx, tcp_tx);
    socket.set_timeout(Some(IO_TIMEOUT));
    socket
        .connect((address, server.port))
        .await
        .map_err(|_| NetError::Link)?;
    if !server.tls {
        let result = http(&mut socket, server, request, answer).await;
        socket.close();
        return result;
    }
    if CA_DER.is_empty() {
        socket.abort();
        return Err(NetError::Link);
    }
    let rng = Trng::try_new().map_err(|_| NetError::Link)?;
    let provider = Verified {
        rng,
        verifier: CertVerifier::new(Certificate::X509(CA_DER)),
    };
    let config = TlsConfig::new().with_server_name(server.host.as_str());
    let mut tls = TlsConnection::new(socket, tls_read, tls_write);
    tls.open(TlsContext::new(&config, provider))
        .await
        .map_err(|_| NetError::Stack(715))?;
    let result = http(&mut tls, server, request, answer).await;
    let _ = tls.close().await;
    result
}

/// One HTTP/1.1 exchange over `stream`, the connection closed by the server after it.
async fn http<S: Read + Write>(
    stream: &mut S,
    server: &Server,
    request: &Request<'_>,
    answer: &mut [u8],
) -> Result<Response, NetError> {
    let head =
        request_head(request, server.authority.as_str(), true).map_err(|_| NetError::Link)?;
    stream.write_all(&head).await.map_err(|_| NetError::Link)?;
    stream
        .write_all(request.body)
        .await
        .map_err(|_| NetError::Link)?;
    stream.flush().await.map_err(|_| NetError::Link)?;
    let mut parser = ResponseParser::new();
    let mut chunk = [0_u8; 512];
    loop {
        let read = stream.read(&mut chunk).await.map_err(|_| NetError::Link)?;
        if read == 0 {
            return Err(NetError::Link);
        }
        let mut at = 0;
        while at < read {
            let (taken, parsed) = parser
                .feed(&chunk[at..read], answer)
                .map_err(|_| NetError::Link)?;
            if let Some(parsed) = parsed {
                return Ok(Response {
                    status: parsed.status,
                    body_len: parsed.body_len,
                    content_len: parsed.content_len,
                    date: parsed.date,
                    retry_after_s: parsed.retry_after_s,
                });
            }
            at += taken;
        }
    }
}
