//! Which client a request comes from, for the per-address rate limits.
//!
//! Behind a reverse proxy every request's peer is the proxy: limiting by the
//! peer would put every client in one bucket. The proxies named in
//! `HALL_TRUSTED_PROXIES` are trusted to append the address they saw to
//! `X-Forwarded-For`; the client is the right-most address that is not a
//! trusted proxy (anything left of it could be made up by the client). A
//! peer that is not trusted is the client, whatever the header says. IPv6
//! clients are bucketed by their /64 (one subscriber's usual allocation), so
//! walking a prefix does not buy new buckets.

use std::net::IpAddr;
use std::str::FromStr;

/// Addresses or networks (`10.0.0.0/8`, `::1`) whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl FromStr for TrustedProxies {
    type Err = String;

    /// A comma-separated list; empty trusts nobody.
    fn from_str(list: &str) -> Result<Self, String> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|entry| {
                let (addr, bits) = match entry.split_once('/') {
                    Some((a, b)) => (a, Some(b)),
                    None => (entry, None),
                };
                let addr: IpAddr = addr
                    .parse()
                    .map_err(|_| format!("{entry:?} is not an IP address or network"))?;
                let max = if addr.is_ipv4() { 32 } else { 128 };
                let bits =
                    match bits {
                        None => max,
                        Some(b) => b.parse::<u8>().ok().filter(|b| *b <= max).ok_or_else(|| {
                            format!("{entry:?} has no prefix length from 0 to {max}")
                        })?,
                    };
                Ok((addr, bits))
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }
}

impl TrustedProxies {
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0
            .iter()
            .any(|(net, bits)| same_prefix(*net, ip, *bits))
    }

    /// The client of a request from `peer` carrying `forwarded_for`.
    pub fn client(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let mut client = peer;
        for hop in forwarded_for.unwrap_or("").rsplit(',').map(str::trim) {
            match hop.parse::<IpAddr>() {
                Ok(ip) => {
                    client = ip;
                    if !self.contains(ip) {
                        break;
                    }
                }
                // A hop that is no address ends what can be believed.
                Err(_) => break,
            }
        }
        client
    }
}

fn same_prefix(net: IpAddr, ip: IpAddr, bits: u8) -> bool {
    let (net, ip, width) = match (net, ip.to_canonical()) {
        (IpAddr::V4(n), IpAddr::V4(i)) => (u128::from(u32::from(n)), u128::from(u32::from(i)), 32),
        (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
        _ => return false,
    };
    let shift = width - u32::from(bits);
    shift >= width || (net >> shift) == (ip >> shift)
}

/// The rate-limit bucket of a client: its IPv4 address, or its IPv6 /64.
pub fn bucket(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_list_of_addresses_and_networks_parses_and_bad_entries_are_named() {
        let t: TrustedProxies = "10.0.0.0/8, 127.0.0.1,::1, fd00::/8".parse().unwrap();
        assert!(t.contains(ip("10.2.3.4")));
        assert!(t.contains(ip("127.0.0.1")));
        assert!(!t.contains(ip("127.0.0.2")));
        assert!(t.contains(ip("fd12::1")));
        assert!(!t.contains(ip("2001:db8::1")));
        assert_eq!(
            "".parse::<TrustedProxies>().unwrap(),
            TrustedProxies::default()
        );
        for bad in ["10.0.0.0/33", "nope", "::1/129", "10.0.0.0/x"] {
            let e = bad.parse::<TrustedProxies>().unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }

    #[test]
    fn the_client_is_the_right_most_address_no_trusted_proxy_added() {
        let t: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        // Through two of our proxies; the left-most entry is the client's own claim.
        assert_eq!(
            t.client(ip("10.0.0.1"), Some("6.6.6.6, 203.0.113.7, 10.0.0.9")),
            ip("203.0.113.7")
        );
        assert_eq!(t.client(ip("10.0.0.1"), None), ip("10.0.0.1"));
        assert_eq!(
            t.client(ip("10.0.0.1"), Some("junk, 10.0.0.2")),
            ip("10.0.0.2")
        );
        // Not a trusted peer: the header is the client's word, not believed.
        assert_eq!(
            t.client(ip("198.51.100.1"), Some("203.0.113.7")),
            ip("198.51.100.1")
        );
        // Nobody trusted: always the peer.
        let none = TrustedProxies::default();
        assert_eq!(
            none.client(ip("10.0.0.1"), Some("203.0.113.7")),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn ipv6_clients_share_a_bucket_per_slash_64_and_ipv4_is_per_address() {
        assert_eq!(
            bucket(ip("2001:db8:1:2:aaaa::1")),
            bucket(ip("2001:db8:1:2:ffff:1:2:3"))
        );
        assert_ne!(bucket(ip("2001:db8:1:2::1")), bucket(ip("2001:db8:1:3::1")));
        assert_ne!(bucket(ip("192.0.2.1")), bucket(ip("192.0.2.2")));
        assert_eq!(bucket(ip("::ffff:192.0.2.1")), bucket(ip("192.0.2.1")));
    }
}
