//! The network behind the emulated modem and WiFi: HTTP requests performed for real.
//!
//! The simulation is single-threaded and deterministic: a request is sent and its answer awaited
//! before the simulated clock moves on (the modem then reports it after the latency its timing
//! model gives). [`HttpNetwork`] does so with reqwest on a tokio runtime, blocking the simulator's
//! thread, so the simulator must run outside the runtime's async tasks (`spawn_blocking`).

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

/// A real TCP connection to the server, used one request and response at a time.
#[derive(Debug)]
pub struct RawConnection {
    stream: std::net::TcpStream,
    /// Bytes read past the last response.
    buffered: Vec<u8>,
}

/// Longest response head taken.
const MAX_RAW_HEAD: usize = 16 * 1024;

impl RawConnection {
    /// Connects to `url`'s host and port.
    pub fn open(url: &str) -> Result<Self, TransportError> {
        use std::net::ToSocketAddrs as _;
        let parsed = reqwest::Url::parse(url).map_err(|_| TransportError::Dns)?;
        let host = parsed.host_str().ok_or(TransportError::Dns)?;
        let port = parsed.port_or_known_default().ok_or(TransportError::Dns)?;
        let address = (host, port)
            .to_socket_addrs()
            .map_err(|_| TransportError::Dns)?
            .next()
            .ok_or(TransportError::Dns)?;
        let stream = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(5))
            .map_err(|_| TransportError::Connect)?;
        stream
            .set_read_timeout(Some(REAL_TIMEOUT))
            .map_err(|_| TransportError::Broken)?;
        let _ = stream.set_nodelay(true);
        Ok(Self {
            stream,
            buffered: Vec::new(),
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
        let body_len: usize = match header("content-length:") {
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

/// Real HTTP through reqwest, on a tokio runtime.
pub struct HttpNetwork {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
    on_time: Option<TimeHook>,
}

impl std::fmt::Debug for HttpNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpNetwork").finish_non_exhaustive()
    }
}

/// Real time allowed for one exchange before it counts as a timeout.
const REAL_TIMEOUT: Duration = Duration::from_secs(30);

impl HttpNetwork {
    /// A client whose requests run on `runtime`.
    pub fn new(runtime: tokio::runtime::Handle) -> anyhow::Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(REAL_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(4)
            .build()?;
        Ok(Self {
            client,
            runtime,
            on_time: None,
        })
    }

    /// Calls `hook` with each request's simulated unix time (see [`TimeHook`]).
    pub fn with_time_hook(mut self, hook: TimeHook) -> Self {
        self.on_time = Some(hook);
        self
    }
}

impl Network for HttpNetwork {
    fn exchange(
        &self,
        request: &HttpRequest,
        at_unix_ms: i64,
    ) -> Result<HttpReply, TransportError> {
        self.tick(at_unix_ms);
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| TransportError::Broken)?;
        let mut builder = self
            .client
            .request(method, &request.url)
            .body(request.body.clone());
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let started = Instant::now();
        self.runtime.block_on(async {
            let response = builder.send().await.map_err(classify)?;
            let status = response.status();
            let mut head = format!(
                "HTTP/1.1 {} {}\r\n",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            )
            .into_bytes();
            for (name, value) in response.headers() {
                head.extend_from_slice(name.as_str().as_bytes());
                head.extend_from_slice(b": ");
                head.extend_from_slice(value.as_bytes());
                head.extend_from_slice(b"\r\n");
            }
            head.extend_from_slice(b"\r\n");
            let body = response.bytes().await.map_err(classify)?.to_vec();
            if !status.is_success() {
                tracing::debug!(
                    status = status.as_u16(),
                    url = %request.url,
                    at_unix_ms,
                    body = %String::from_utf8_lossy(&body),
                    "device request refused"
                );
            }
            Ok(HttpReply {
                status: status.as_u16(),
                head,
                body,
                elapsed: started.elapsed(),
            })
        })
    }

    fn connect(&self, url: &str) -> Result<RawConnection, TransportError> {
        RawConnection::open(url)
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

impl HttpNetwork {
    fn tick(&self, at_unix_ms: i64) {
        if let Some(hook) = &self.on_time {
            hook(at_unix_ms);
        }
    }
}

fn classify(error: reqwest::Error) -> TransportError {
    if error.is_timeout() {
        TransportError::Timeout
    } else if error.is_connect() {
        let text = format!("{error:?}").to_ascii_lowercase();
        if text.contains("dns") || text.contains("resolve") {
            TransportError::Dns
        } else if text.contains("tls") || text.contains("certificate") {
            TransportError::Tls
        } else {
            TransportError::Connect
        }
    } else {
        TransportError::Broken
    }
}
