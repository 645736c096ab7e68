//! Who is asking: the client's address, scheme and host, believing `X-Forwarded-*` headers only from
//! the reverse proxies `[Network] trustedReverseProxy` names (Trilium hands that value to Express's
//! `trust proxy`; these are its meanings).
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};

/// `[Network] trustedReverseProxy`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TrustedProxy {
    /// `false` (the default): the TCP peer is the client; forwarded headers are ignored.
    #[default]
    None,
    /// `true`: every proxy is trusted; the client is the leftmost `X-Forwarded-For` address.
    All,
    /// A number: that many proxy hops in front of Canopy are trusted.
    Hops(usize),
    /// Proxy addresses and ranges that are trusted.
    List(Vec<IpRange>),
}

/// An address range in CIDR notation (a single address is a full-length prefix).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpRange {
    base: IpAddr,
    prefix: u8,
}

impl IpRange {
    fn parse(text: &str) -> Option<IpRange> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let base: IpAddr = addr.trim().parse().ok()?;
        let max = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.trim().parse::<u8>().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(IpRange { base, prefix })
    }

    fn contains(&self, addr: IpAddr) -> bool {
        let bits = |ip: IpAddr| -> Option<u128> {
            match (self.base, ip) {
                (IpAddr::V4(_), IpAddr::V4(v4)) => Some(u128::from(u32::from(v4)) << 96),
                (IpAddr::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map(|v4| u128::from(u32::from(v4)) << 96),
                (IpAddr::V6(_), IpAddr::V6(v6)) => Some(u128::from(v6)),
                (IpAddr::V6(_), IpAddr::V4(_)) => None,
            }
        };
        let (Some(base), Some(addr)) = (bits(self.base), bits(addr)) else { return false };
        let mask = if self.prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(self.prefix)) };
        // An IPv4 base sits in the top 32 bits, so its prefix counts from there too.
        base & mask == addr & mask
    }
}

/// Express's named ranges.
fn named_ranges(name: &str) -> Option<&'static [&'static str]> {
    match name {
        "loopback" => Some(&["127.0.0.1/8", "::1/128"]),
        "linklocal" => Some(&["169.254.0.0/16", "fe80::/10"]),
        "uniquelocal" => Some(&["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]),
        _ => None,
    }
}

impl TrustedProxy {
    pub fn parse(value: &str) -> Result<TrustedProxy, String> {
        let value = value.trim();
        match value.to_ascii_lowercase().as_str() {
            "" | "false" => return Ok(TrustedProxy::None),
            "true" => return Ok(TrustedProxy::All),
            _ => {}
        }
        if let Ok(hops) = value.parse::<usize>() {
            return Ok(if hops == 0 { TrustedProxy::None } else { TrustedProxy::Hops(hops) });
        }
        let mut ranges = Vec::new();
        for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            match named_ranges(item) {
                Some(names) => ranges.extend(names.iter().filter_map(|r| IpRange::parse(r))),
                None => ranges.push(IpRange::parse(item).ok_or_else(|| {
                    format!("'{value}' is not true, false, a number of hops or a list of addresses and CIDR ranges ('{item}')")
                })?),
            }
        }
        Ok(TrustedProxy::List(ranges))
    }

    /// Whether the hop `index` away from Canopy (0: the TCP peer), at `addr`, is a trusted proxy.
    fn trusts(&self, addr: IpAddr, index: usize) -> bool {
        match self {
            TrustedProxy::None => false,
            TrustedProxy::All => true,
            TrustedProxy::Hops(hops) => index < *hops,
            TrustedProxy::List(ranges) => ranges.iter().any(|r| r.contains(addr)),
        }
    }

    /// Express's `req.ip`: walk from the TCP peer back through `X-Forwarded-For` (right to left)
    /// while each address is a trusted proxy; the first one that is not is the client.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer, 0) {
            return peer;
        }
        let forwarded: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for (index, text) in forwarded.iter().rev().enumerate() {
            let Ok(addr) = text.parse::<IpAddr>() else { break };
            client = addr;
            if !self.trusts(addr, index + 1) {
                break;
            }
        }
        client
    }

    /// The first value of a forwarded header, when the TCP peer is a trusted proxy.
    fn forwarded<'h>(&self, peer: IpAddr, headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
        if !self.trusts(peer, 0) {
            return None;
        }
        headers.get(name)?.to_str().ok()?.split(',').next().map(str::trim).filter(|v| !v.is_empty())
    }
}

/// What the gate works out about every request (and puts into its extensions).
#[derive(Clone, Debug)]
pub struct ClientInfo {
    /// The client's address: the TCP peer, or what a trusted proxy forwarded.
    pub ip: IpAddr,
    /// Served over https: by Canopy itself, or by a trusted proxy that says so.
    pub secure: bool,
    /// The host (and port) the browser asked for, to compare `Origin` against.
    pub host: Option<String>,
}

impl ClientInfo {
    pub fn of(proxy: &TrustedProxy, tls: bool, peer: SocketAddr, headers: &HeaderMap) -> ClientInfo {
        let peer = peer.ip();
        let ip = proxy.client_ip(peer, headers);
        let secure = tls || proxy.forwarded(peer, headers, "x-forwarded-proto").is_some_and(|p| p.eq_ignore_ascii_case("https"));
        let host = proxy
            .forwarded(peer, headers, "x-forwarded-host")
            .or_else(|| headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()))
            .map(str::to_ascii_lowercase);
        ClientInfo { ip, secure, host }
    }
}

/// The client's address for handlers (the login limiter, logs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if let Some(info) = parts.extensions.get::<ClientInfo>() {
            return Ok(ClientIp(info.ip));
        }
        // Routers served without the gate (unit tests of a sub-router) fall back to the TCP peer.
        match parts.extensions.get::<ConnectInfo<SocketAddr>>() {
            Some(ConnectInfo(addr)) => Ok(ClientIp(addr.ip())),
            None => Err((StatusCode::INTERNAL_SERVER_ERROR, "the client's address is unknown")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().unwrap());
        h
    }

    #[test]
    fn forwarded_for_is_believed_only_as_configured() {
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        let h = headers("203.0.113.7, 10.0.0.2");
        let ip = |p: &str| TrustedProxy::parse(p).unwrap().client_ip(peer, &h).to_string();
        assert_eq!(ip("false"), "127.0.0.1");
        assert_eq!(ip("true"), "203.0.113.7");
        assert_eq!(ip("1"), "10.0.0.2");
        assert_eq!(ip("2"), "203.0.113.7");
        assert_eq!(ip("9"), "203.0.113.7");
        assert_eq!(ip("loopback"), "10.0.0.2");
        assert_eq!(ip("loopback, 10.0.0.0/8"), "203.0.113.7");
        assert_eq!(ip("192.168.0.1"), "127.0.0.1", "the peer is not a trusted proxy");
        assert_eq!(TrustedProxy::parse("true").unwrap().client_ip(peer, &headers("junk")).to_string(), "127.0.0.1");
    }

    #[test]
    fn ranges_parse_and_match() {
        assert!(TrustedProxy::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxy::parse("not-an-address").is_err());
        let r = IpRange::parse("172.16.0.0/12").unwrap();
        assert!(r.contains("172.31.255.1".parse().unwrap()));
        assert!(!r.contains("172.32.0.1".parse().unwrap()));
        assert!(r.contains("::ffff:172.16.0.9".parse().unwrap()));
        assert!(IpRange::parse("fc00::/7").unwrap().contains("fd12::1".parse().unwrap()));
        assert!(IpRange::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
    }
}
