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
        if let Some(hook) = &self.on_time {
            hook(at_unix_ms);
        }
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
