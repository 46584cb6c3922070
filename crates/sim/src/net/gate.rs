//! The one door out of the simulator: every socket the emulated modem or WiFi opens goes through
//! [`Gate::open`], which connects only to the configured server, on loopback.
//!
//! A byte lost on the emulated UART can turn `127.0.0.1` into `12.0.0.1`, or the port into
//! another; a real modem would then look that name up or dial it, and so would a simulator that
//! hands the URL to an HTTP client. The gate answers such a request the way the modem's stack
//! reports a failed name lookup ([`TransportError::Dns`]) or a refused connection
//! ([`TransportError::Connect`]) without opening anything, and records every attempt, allowed or
//! not, so a test can prove that no traffic left the machine.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs as _};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{REAL_TIMEOUT, RawConnection, TransportError};

/// Time allowed to connect to the server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One connection attempt seen by the gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The host as the device wrote it.
    pub host: String,
    /// The port (the scheme's default when the URL names none).
    pub port: u16,
    /// The address a socket was opened to; `None` when the gate refused the attempt.
    pub opened: Option<SocketAddr>,
}

/// Connects to the server and nowhere else; see the module documentation.
#[derive(Debug, Clone)]
pub struct Gate {
    host: String,
    port: u16,
    address: SocketAddr,
    attempts: Arc<Mutex<Vec<Attempt>>>,
}

/// A URL split the way the modem's stack reads it: `scheme://host[:port]path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target<'u> {
    /// The host, lowercased by the caller when compared.
    pub host: &'u str,
    /// The port, or the scheme's default.
    pub port: u16,
    /// The path and query (`/` when empty).
    pub path: &'u str,
}

impl<'u> Target<'u> {
    /// Splits an `http://` or `https://` URL; `None` for anything else (the stack cannot
    /// resolve what it cannot parse).
    pub fn parse(url: &'u str) -> Option<Self> {
        let (rest, default_port) = if let Some(rest) = url.strip_prefix("http://") {
            (rest, 80)
        } else {
            (url.strip_prefix("https://")?, 443)
        };
        let (authority, path) = match rest.find('/') {
            Some(at) => rest.split_at(at),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host, port.parse().ok()?),
            None => (authority, default_port),
        };
        (!host.is_empty()).then_some(Self { host, port, path })
    }
}

impl Gate {
    /// A gate to the server at `server_url` (`http://127.0.0.1:8080`). The server must be on
    /// loopback: simulated traffic never leaves the machine.
    pub fn new(server_url: &str) -> anyhow::Result<Self> {
        let target = Target::parse(server_url)
            .ok_or_else(|| anyhow::anyhow!("{server_url:?} is not an http:// URL"))?;
        let address = (target.host, target.port)
            .to_socket_addrs()?
            .find(|a| a.ip().is_loopback())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "{server_url:?} is not on loopback: simulated mailboxes only talk to a server on this machine (127.0.0.1)"
                )
            })?;
        Ok(Self {
            host: target.host.to_ascii_lowercase(),
            port: target.port,
            address,
            attempts: Arc::default(),
        })
    }

    /// Opens a connection for `url` when it names the server; otherwise answers as the modem's
    /// stack would (a host that is not the server's does not resolve; another port refuses)
    /// and opens nothing.
    pub fn open(&self, url: &str) -> Result<RawConnection, TransportError> {
        let Some(target) = Target::parse(url) else {
            self.record(url, 0, None);
            return Err(TransportError::Dns);
        };
        if !target.host.eq_ignore_ascii_case(&self.host) && !self.is_server_ip(target.host) {
            self.record(target.host, target.port, None);
            return Err(TransportError::Dns);
        }
        if target.port != self.port {
            self.record(target.host, target.port, None);
            return Err(TransportError::Connect);
        }
        self.record(target.host, target.port, Some(self.address));
        let stream = std::net::TcpStream::connect_timeout(&self.address, CONNECT_TIMEOUT)
            .map_err(|_| TransportError::Connect)?;
        stream
            .set_read_timeout(Some(REAL_TIMEOUT))
            .map_err(|_| TransportError::Broken)?;
        let _ = stream.set_nodelay(true);
        Ok(RawConnection::new(stream))
    }

    /// Every attempt so far, in order.
    pub fn attempts(&self) -> Vec<Attempt> {
        self.attempts.lock().map(|a| a.clone()).unwrap_or_default()
    }

    /// The server's address: the only one the gate ever connects to.
    pub fn server(&self) -> SocketAddr {
        self.address
    }

    /// The server's own address written as an IP literal (`127.0.0.1` for `localhost`).
    fn is_server_ip(&self, host: &str) -> bool {
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        literal.parse::<IpAddr>().ok() == Some(self.address.ip())
    }

    fn record(&self, host: &str, port: u16, opened: Option<SocketAddr>) {
        if let Ok(mut attempts) = self.attempts.lock() {
            attempts.push(Attempt {
                host: host.to_owned(),
                port,
                opened,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener() -> (std::net::TcpListener, String) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        (listener, url)
    }

    #[test]
    fn urls_split_as_the_modem_reads_them() {
        assert_eq!(
            Target::parse("http://127.0.0.1:8080/api/device/v1/events"),
            Some(Target {
                host: "127.0.0.1",
                port: 8080,
                path: "/api/device/v1/events"
            })
        );
        assert_eq!(
            Target::parse("https://box.example").map(|t| (t.port, t.path)),
            Some((443, "/"))
        );
        assert_eq!(Target::parse("http://127.0.0.1:80x0/"), None);
        assert_eq!(Target::parse("ftp://127.0.0.1/"), None);
    }

    #[test]
    fn a_server_off_loopback_is_refused_at_the_start() {
        let error = Gate::new("http://192.0.2.1:8080").expect_err("not loopback");
        assert!(error.to_string().contains("loopback"), "{error}");
    }

    #[test]
    fn another_host_does_not_resolve_and_another_port_refuses_and_nothing_is_opened() {
        let (server, url) = listener();
        let (elsewhere, elsewhere_url) = listener();
        let gate = Gate::new(&url).expect("gate");
        let port = gate.server().port();

        assert_eq!(
            gate.open(&format!("http://12.0.0.1:{port}/x")).err(),
            Some(TransportError::Dns)
        );
        assert_eq!(
            gate.open(&format!("http://localhos:{port}/x")).err(),
            Some(TransportError::Dns)
        );
        assert_eq!(
            gate.open(&elsewhere_url).err(),
            Some(TransportError::Connect)
        );
        assert!(elsewhere.accept().is_err(), "nothing connected elsewhere");
        assert!(server.accept().is_err(), "nor to the server");

        gate.open(&format!("{url}/api/device/v1/heartbeat"))
            .expect("the server itself");
        assert!(server.accept().is_ok());
        let opened: Vec<_> = gate.attempts().iter().map(|a| a.opened).collect();
        assert_eq!(opened, [None, None, None, Some(gate.server())]);
    }
}
