//! The client's IP address, which the per-address limits key on. It is the socket's peer, unless
//! that peer is one of `SMARTBOX_TRUSTED_PROXIES`: then it is the nearest address in
//! `X-Forwarded-For` that is not itself a trusted proxy. A header from anyone else is ignored, so
//! a client cannot pick its own address.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::Extensions;
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;

/// Proxies whose `X-Forwarded-For` is believed: addresses and CIDR blocks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// Parses `10.0.0.1, 10.1.0.0/16, ::1`.
    pub fn parse(text: &str) -> Result<TrustedProxies, String> {
        let mut blocks = Vec::new();
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (ip, bits) = item.split_once('/').unwrap_or((item, ""));
            let ip: IpAddr = ip
                .parse()
                .map_err(|_| format!("{item:?} is not an IP address or CIDR block"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let bits = if bits.is_empty() {
                max
            } else {
                bits.parse::<u8>()
                    .ok()
                    .filter(|b| *b <= max)
                    .ok_or_else(|| format!("{item:?} has a bad prefix length"))?
            };
            blocks.push((ip, bits));
        }
        Ok(TrustedProxies(blocks))
    }

    /// Whether `ip` is one of the proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|&(block, bits)| match (block, ip) {
            (IpAddr::V4(b), IpAddr::V4(i)) => same_prefix(&b.octets(), &i.octets(), bits),
            (IpAddr::V6(b), IpAddr::V6(i)) => same_prefix(&b.octets(), &i.octets(), bits),
            _ => false,
        })
    }

    /// The client behind `peer` given its `X-Forwarded-For` values (in header order).
    pub fn client(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let hops: Vec<IpAddr> = forwarded_for
            .iter()
            .flat_map(|value| value.split(','))
            .filter_map(|hop| hop.trim().parse().ok())
            .collect();
        hops.iter()
            .rev()
            .find(|hop| !self.contains(**hop))
            .or(hops.first())
            .copied()
            .unwrap_or(peer)
    }
}

fn same_prefix(a: &[u8], b: &[u8], bits: u8) -> bool {
    let bits = usize::from(bits);
    let (whole, rest) = (bits / 8, bits % 8);
    a[..whole] == b[..whole] && (rest == 0 || (a[whole] ^ b[whole]) & (0xFF_u8 << (8 - rest)) == 0)
}

/// The address a request came from, as [`resolve`] found it.
#[derive(Debug, Clone)]
struct ClientAddress(String);

/// Middleware: finds the client's address once per request.
pub async fn resolve(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        let forwarded: Vec<&str> = request
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let client = state
            .config
            .trusted_proxies
            .client(peer.ip(), &forwarded)
            .to_string();
        request.extensions_mut().insert(ClientAddress(client));
    }
    next.run(request).await
}

/// The client's IP address; "unknown" when the server was not started with connection info.
pub fn client_address(extensions: &Extensions) -> String {
    extensions
        .get::<ClientAddress>()
        .map(|ClientAddress(a)| a.clone())
        .or_else(|| {
            extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(a)| a.ip().to_string())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_proxy() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, ::1").unwrap();
        assert_eq!(
            proxies.client(ip("10.1.2.3"), &["198.51.100.7"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            proxies.client(ip("192.0.2.9"), &["198.51.100.7"]),
            ip("192.0.2.9")
        );
        // A client-written first entry is skipped: the nearest untrusted hop is the client.
        assert_eq!(
            proxies.client(ip("10.0.0.1"), &["1.2.3.4, 198.51.100.7", "10.0.0.2"]),
            ip("198.51.100.7")
        );
        assert_eq!(proxies.client(ip("::1"), &["garbage"]), ip("::1"));
    }

    #[test]
    fn bad_entries_are_refused() {
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("proxy.local").is_err());
        assert!(TrustedProxies::parse("").unwrap().0.is_empty());
        let one = TrustedProxies::parse("192.168.1.128/25").unwrap();
        assert!(one.contains(ip("192.168.1.200")) && !one.contains(ip("192.168.1.1")));
    }
}
