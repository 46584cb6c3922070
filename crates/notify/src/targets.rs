//! Which addresses a customer's URL (a webhook, a push endpoint) may reach. A customer must not
//! make the service call into its own network — loopback, private, link-local or otherwise
//! non-public addresses, however written (`http://2130706433/` is 127.0.0.1) — so with
//! [`Targets::PublicOnly`] such URLs are refused when saved ([`check_url`]) and again when
//! connecting, through a resolver that drops non-public answers (DNS can change in between).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// Where a sender may connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Targets {
    /// Anywhere (tests and development with peers on loopback).
    #[default]
    Any,
    /// Only public unicast addresses.
    PublicOnly,
}

/// Whether `ip` is a public unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier NAT)
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 192 && b == 0 && ip.octets()[2] == 0)) // IETF protocol assignments
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    let nat64 = ip.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || ip.is_unique_local()
        || ip.is_unicast_link_local()
        || first == 0x2001 && ip.segments()[1] == 0xdb8 // documentation
        || nat64 && !is_public_v4(Ipv4Addr::from_bits(ip.to_bits() as u32)))
}

/// Whether `url` may be a target under `targets`: its host, an address or every address the
/// name resolves to now, must be public. The error says why not, for the customer.
pub async fn check_url(url: &Url, targets: Targets) -> Result<(), String> {
    if targets == Targets::Any {
        return Ok(());
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let addresses: Vec<IpAddr> = match url.host() {
        Some(Host::Ipv4(ip)) => vec![IpAddr::V4(ip)],
        Some(Host::Ipv6(ip)) => vec![IpAddr::V6(ip)],
        Some(Host::Domain(name)) => tokio::net::lookup_host((name, port))
            .await
            .map_err(|_| format!("{name} does not resolve to an address"))?
            .map(|a| a.ip())
            .collect(),
        None => return Err("the URL has no host".to_owned()),
    };
    match addresses.iter().find(|ip| !is_public(**ip)) {
        Some(ip) => Err(format!(
            "{} points to {ip}, which is not a public address",
            url.host_str().unwrap_or("")
        )),
        None if addresses.is_empty() => Err("the host has no address".to_owned()),
        None => Ok(()),
    }
}

/// Whether a URL's host, when it is an address literal (no lookup), is allowed under `targets`.
pub(crate) fn literal_allowed(url: &Url, targets: Targets) -> bool {
    let ip = match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
        _ => return true,
    };
    targets == Targets::Any || is_public(ip)
}

/// The resolver of a [`Targets::PublicOnly`] client: the system's answers without the
/// non-public ones; a name with nothing left fails to resolve.
#[derive(Debug)]
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let public: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            let addrs: Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

/// Restricts a client's name lookups to `targets`.
pub(crate) fn restrict(
    builder: reqwest::ClientBuilder,
    targets: Targets,
) -> reqwest::ClientBuilder {
    match targets {
        Targets::Any => builder,
        Targets::PublicOnly => builder.dns_resolver(Arc::new(PublicOnly)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_not_public() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(ip(internal)), "{internal}");
        }
        for public in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(is_public(ip(public)), "{public}");
        }
    }

    #[tokio::test]
    async fn a_decimal_or_loopback_url_is_refused_only_when_public_targets_are_required() {
        let decimal = Url::parse("http://2130706433:18181/healthz").unwrap();
        let err = check_url(&decimal, Targets::PublicOnly).await.unwrap_err();
        assert!(err.contains("127.0.0.1"), "{err}");
        let named = Url::parse("http://localhost:8080/").unwrap();
        assert!(check_url(&named, Targets::PublicOnly).await.is_err());
        assert!(check_url(&named, Targets::Any).await.is_ok());
        let public = Url::parse("https://93.184.216.34/hook").unwrap();
        assert!(check_url(&public, Targets::PublicOnly).await.is_ok());
        assert!(!literal_allowed(&decimal, Targets::PublicOnly));
        assert!(literal_allowed(&decimal, Targets::Any));
    }
}
