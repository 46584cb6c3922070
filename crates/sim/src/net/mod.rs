//! The network behind the emulated modem and WiFi: HTTP requests performed for real, to the
//! configured server only.
//!
//! The simulation is single-threaded and deterministic: a request is sent and its answer awaited
//! before the simulated clock moves on (the modem then reports it after the latency its timing
//! model gives). [`HttpNetwork`] does so over blocking sockets that only its [`Gate`] opens, so
//! the simulator must run outside a tokio runtime's async tasks (`spawn_blocking`).

mod gate;

pub use gate::{Attempt, Gate, Target};

use std::cell::RefCell;
use std::time::{Duration, Instant};

/// A request as the modem's HTTP stack (or the WiFi stack) puts it on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// `GET`, `POST`, `PUT`, ...
    pub method: String,
    /// Absolute URL.
    pub url: String,
    /// Headers besides those the client adds (Host, Content-Length).
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    /// HTTP status.
    pub status: u16,
    /// The raw head as the modem's `AT+HTTPHEAD` shows it: status line, headers, blank line.
    pub head: Vec<u8>,
    /// The body.
    pub body: Vec<u8>,
    /// Real time the server took.
    pub elapsed: Duration,
}

/// Why no answer came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The host name did not resolve.
    #[error("name not resolved")]
    Dns,
    /// Nothing accepted the connection (server down).
    #[error("connection refused")]
    Connect,
    /// The TLS handshake failed.
    #[error("tls handshake failed")]
    Tls,
    /// No answer in time.
    #[error("timed out")]
    Timeout,
    /// The connection broke during the exchange.
    #[error("connection broken")]
    Broken,
}

/// Performs HTTP requests for the emulated links.
pub trait Network: std::fmt::Debug {
    /// Sends `request` at the simulated unix time `at_unix_ms` and waits for the answer.
    fn exchange(&self, request: &HttpRequest, at_unix_ms: i64)
    -> Result<HttpReply, TransportError>;

    /// Sends `request` over a connection of its own in TLS as `tls` says (the modem's HTTP
    /// stack: a connection and a handshake per request). A network without TLS refuses it.
    fn exchange_tls(
        &self,
        request: &HttpRequest,
        at_unix_ms: i64,
        tls: &TlsClient,
    ) -> Result<HttpReply, TransportError> {
        let _ = (request, at_unix_ms, tls);
        Err(TransportError::Tls)
    }

    /// Opens a TCP connection to the host and port of `url` (`http://host:port`), for the
    /// modem's socket service. A network that has none refuses it (the firmware then falls
    /// back to the modem's HTTP stack).
    fn connect(&self, url: &str) -> Result<RawConnection, TransportError> {
        let _ = url;
        Err(TransportError::Connect)
    }

    /// Writes one whole request (head and body, as the device sent it) on `connection` at the
    /// simulated unix time `at_unix_ms` and reads the one response.
    fn exchange_raw(
        &self,
        connection: &mut RawConnection,
        request: &[u8],
        at_unix_ms: i64,
    ) -> Result<RawReply, TransportError> {
        let _ = at_unix_ms;
        connection.exchange(request)
    }
}

/// One response as it came over a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawReply {
    /// Its bytes, head and body.
    pub bytes: Vec<u8>,
    /// The status (for statistics; the device parses `bytes` itself).
    pub status: u16,
    /// The server closes the connection after it (`Connection: close`, or the request asked).
    pub closed: bool,
}

/// A real TCP connection to the server, used one request and response at a time, in TLS once
/// [`RawConnection::start_tls`] succeeded. Only the [`Gate`] opens one.
#[derive(Debug)]
pub struct RawConnection {
    stream: Stream,
    /// Bytes read past the last response.
    buffered: Vec<u8>,
}

/// The bytes of a connection: as they are, or through rustls.
#[derive(Debug)]
enum Stream {
    Plain(std::net::TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>>),
}

impl std::io::Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(stream) => stream.read(buf),
            Self::Tls(stream) => stream.read(buf),
        }
    }
}

impl std::io::Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(stream) => stream.write(buf),
            Self::Tls(stream) => stream.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Plain(stream) => stream.flush(),
            Self::Tls(stream) => stream.flush(),
        }
    }
}

/// What a TLS client needs: its configuration (roots, SNI) and the name the server's
/// certificate must carry (a host name or an IP address).
#[derive(Debug, Clone)]
pub struct TlsClient {
    /// rustls's client configuration.
    pub config: std::sync::Arc<rustls::ClientConfig>,
    /// The host as the device named it.
    pub server_name: rustls::pki_types::ServerName<'static>,
}

/// Longest response head taken.
const MAX_RAW_HEAD: usize = 16 * 1024;

impl RawConnection {
    fn new(stream: std::net::TcpStream) -> Self {
        Self {
            stream: Stream::Plain(stream),
            buffered: Vec::new(),
        }
    }

    /// The TLS handshake over this connection, as a client: [`TransportError::Tls`] when it
    /// fails (a certificate that does not chain to the client's roots or does not carry the
    /// server's name, a server that speaks no TLS), [`TransportError::Timeout`] when the server
    /// is silent.
    pub fn start_tls(self, client: &TlsClient) -> Result<Self, TransportError> {
        let Stream::Plain(mut tcp) = self.stream else {
            return Err(TransportError::Tls);
        };
        let mut tls =
            rustls::ClientConnection::new(client.config.clone(), client.server_name.clone())
                .map_err(|_| TransportError::Tls)?;
        while tls.is_handshaking() {
            if let Err(error) = tls.complete_io(&mut tcp) {
                tracing::debug!(%error, "TLS handshake failed");
                return Err(match error.kind() {
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                        TransportError::Timeout
                    }
                    _ => TransportError::Tls,
                });
            }
        }
        Ok(Self {
            stream: Stream::Tls(Box::new(rustls::StreamOwned::new(tls, tcp))),
            buffered: self.buffered,
        })
    }

    /// Writes `request` and reads one response: a head and a `Content-Length` body.
    pub fn exchange(&mut self, request: &[u8]) -> Result<RawReply, TransportError> {
        use std::io::Write as _;
        self.stream
            .write_all(request)
            .map_err(|_| TransportError::Broken)?;
        let head_end = loop {
            if let Some(end) = find(&self.buffered, b"\r\n\r\n") {
                break end + 4;
            }
            if self.buffered.len() > MAX_RAW_HEAD {
                return Err(TransportError::Broken);
            }
            self.fill()?;
        };
        let head = String::from_utf8_lossy(&self.buffered[..head_end]).to_ascii_lowercase();
        let status = head
            .get(9..12)
            .and_then(|code| code.parse().ok())
            .ok_or(TransportError::Broken)?;
        let header = |name: &str| {
            head.lines()
                .find_map(|line| line.strip_prefix(name).map(|v| v.trim().to_owned()))
        };
        // A HEAD's answer announces a length but carries no body.
        let body_len: usize = match header("content-length:") {
            Some(_) if request.starts_with(b"HEAD ") => 0,
            Some(len) => len.parse().map_err(|_| TransportError::Broken)?,
            None => 0,
        };
        while self.buffered.len() < head_end + body_len {
            self.fill()?;
        }
        let bytes: Vec<u8> = self.buffered.drain(..head_end + body_len).collect();
        let asked_close = find(request, b"\r\nConnection: close\r\n").is_some();
        let closed = asked_close || header("connection:").is_some_and(|v| v.contains("close"));
        Ok(RawReply {
            bytes,
            status,
            closed,
        })
    }

    fn fill(&mut self) -> Result<(), TransportError> {
        use std::io::Read as _;
        let mut chunk = [0; 8 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => Err(TransportError::Broken),
            Ok(n) => {
                self.buffered.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                Err(TransportError::Timeout)
            }
            Err(error) if error.kind() == std::io::ErrorKind::TimedOut => {
                Err(TransportError::Timeout)
            }
            Err(_) => Err(TransportError::Broken),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Called with the simulated unix time of each request before it is sent; a test whose server
/// runs on a manual clock moves that clock here, so both sides agree on the time.
pub type TimeHook = Box<dyn Fn(i64) + Send>;

/// Real HTTP/1.1 over the [`Gate`], one connection kept alive between requests.
pub struct HttpNetwork {
    gate: Gate,
    idle: RefCell<Option<RawConnection>>,
    on_time: Option<TimeHook>,
}

impl std::fmt::Debug for HttpNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpNetwork")
            .field("gate", &self.gate)
            .finish_non_exhaustive()
    }
}

/// Real time allowed for one exchange before it counts as a timeout.
const REAL_TIMEOUT: Duration = Duration::from_secs(30);

impl HttpNetwork {
    /// A network that reaches the server at `server_url` (on loopback) and nothing else.
    pub fn new(server_url: &str) -> anyhow::Result<Self> {
        Ok(Self {
            gate: Gate::new(server_url)?,
            idle: RefCell::new(None),
            on_time: None,
        })
    }

    /// Calls `hook` with each request's simulated unix time (see [`TimeHook`]).
    pub fn with_time_hook(mut self, hook: TimeHook) -> Self {
        self.on_time = Some(hook);
        self
    }

    /// The gate every connection goes through, with its record of attempts.
    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    fn tick(&self, at_unix_ms: i64) {
        if let Some(hook) = &self.on_time {
            hook(at_unix_ms);
        }
    }
}

impl Network for HttpNetwork {
    fn exchange(
        &self,
        request: &HttpRequest,
        at_unix_ms: i64,
    ) -> Result<HttpReply, TransportError> {
        self.tick(at_unix_ms);
        let wire = wire(request)?;
        let started = Instant::now();
        let reused = self.idle.borrow_mut().take();
        let (connection, reply) = match reused {
            Some(mut connection) => match connection.exchange(&wire) {
                Ok(reply) => (connection, reply),
                // The server closed the idle connection before this request reached it.
                Err(TransportError::Broken) => {
                    let mut fresh = self.gate.open(&request.url)?;
                    let reply = fresh.exchange(&wire)?;
                    (fresh, reply)
                }
                Err(error) => return Err(error),
            },
            None => {
                let mut fresh = self.gate.open(&request.url)?;
                let reply = fresh.exchange(&wire)?;
                (fresh, reply)
            }
        };
        let answer = answer(request, at_unix_ms, &reply, started);
        if !reply.closed {
            *self.idle.borrow_mut() = Some(connection);
        }
        Ok(answer)
    }

    fn exchange_tls(
        &self,
        request: &HttpRequest,
        at_unix_ms: i64,
        tls: &TlsClient,
    ) -> Result<HttpReply, TransportError> {
        self.tick(at_unix_ms);
        let wire = wire(request)?;
        let started = Instant::now();
        let mut connection = self.gate.open(&request.url)?.start_tls(tls)?;
        let reply = connection.exchange(&wire)?;
        Ok(answer(request, at_unix_ms, &reply, started))
    }

    fn connect(&self, url: &str) -> Result<RawConnection, TransportError> {
        self.gate.open(url)
    }

    fn exchange_raw(
        &self,
        connection: &mut RawConnection,
        request: &[u8],
        at_unix_ms: i64,
    ) -> Result<RawReply, TransportError> {
        self.tick(at_unix_ms);
        connection.exchange(request)
    }
}

/// `request` as the modem's HTTP stack writes it: request line, `Host`, `Content-Length`, the
/// custom headers, the body.
fn wire(request: &HttpRequest) -> Result<Vec<u8>, TransportError> {
    let target = Target::parse(&request.url).ok_or(TransportError::Dns)?;
    let mut wire = format!(
        "{} {} HTTP/1.1\r\nHost: {}:{}\r\nContent-Length: {}\r\n",
        request.method,
        target.path,
        target.host,
        target.port,
        request.body.len()
    )
    .into_bytes();
    for (name, value) in &request.headers {
        wire.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    wire.extend_from_slice(b"\r\n");
    wire.extend_from_slice(&request.body);
    Ok(wire)
}

/// The answer to `request` split into head and body as `AT+HTTPHEAD`/`AT+HTTPREAD` show it.
fn answer(request: &HttpRequest, at_unix_ms: i64, reply: &RawReply, started: Instant) -> HttpReply {
    let head_end = find(&reply.bytes, b"\r\n\r\n").map_or(reply.bytes.len(), |end| end + 4);
    let (head, body) = reply.bytes.split_at(head_end);
    if !(200..300).contains(&reply.status) {
        tracing::debug!(
            status = reply.status,
            url = %request.url,
            at_unix_ms,
            body = %String::from_utf8_lossy(body),
            "device request refused"
        );
    }
    HttpReply {
        status: reply.status,
        head: head.to_vec(),
        body: body.to_vec(),
        elapsed: started.elapsed(),
    }
}
