//! Where a delivery may go. A webhook URL is chosen by a tenant and fetched
//! by the registry, from inside the operator's network: without a rule it
//! would let any tenant make the registry call internal services (SSRF).
//!
//! The rule: `https` only, and only public addresses — unless the operator
//! allows private ones (`HALL_WEBHOOK_ALLOW_PRIVATE=true`, for a registry
//! whose receivers live on its own network, and for tests), which also
//! allows `http`. It is applied twice: to the URL's literal host when the
//! endpoint is registered and again when each delivery is sent
//! ([`WebhookUrl::parse`]), and to every address the host resolves to
//! whenever the dispatcher opens a connection ([`is_public_ip`]), since a
//! name may resolve to a public address at registration and to a private
//! one later (DNS rebinding).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// The longest URL accepted.
pub const MAX_URL_LEN: usize = 2000;

/// An endpoint URL that passed the rule when it was parsed.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl(Url);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("url is not a valid absolute URL: {0}")]
    Malformed(String),
    #[error("url must be at most {MAX_URL_LEN} characters")]
    TooLong,
    #[error("url must use https (http is allowed only when the operator sets HALL_WEBHOOK_ALLOW_PRIVATE=true)")]
    NotHttps,
    #[error("url must not carry a user name or password")]
    Credentials,
    #[error("url must not have a #fragment")]
    Fragment,
    #[error("url needs a host")]
    NoHost,
    #[error("url points at {0}, a private, loopback or link-local address; webhooks go to public addresses only unless the operator sets HALL_WEBHOOK_ALLOW_PRIVATE=true")]
    PrivateAddress(String),
}

impl WebhookUrl {
    /// Parses an endpoint URL under the rule; `allow_private` is the
    /// operator's `HALL_WEBHOOK_ALLOW_PRIVATE`.
    pub fn parse(raw: &str, allow_private: bool) -> Result<Self, UrlError> {
        if raw.len() > MAX_URL_LEN {
            return Err(UrlError::TooLong);
        }
        let url = Url::parse(raw).map_err(|e| UrlError::Malformed(e.to_string()))?;
        match url.scheme() {
            "https" => {}
            "http" if allow_private => {}
            _ => return Err(UrlError::NotHttps),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlError::Credentials);
        }
        if url.fragment().is_some() {
            return Err(UrlError::Fragment);
        }
        let host = url.host().ok_or(UrlError::NoHost)?;
        if !allow_private {
            match host {
                Host::Ipv4(v4) if !is_public_ip(IpAddr::V4(v4)) => {
                    return Err(UrlError::PrivateAddress(v4.to_string()))
                }
                Host::Ipv6(v6) if !is_public_ip(IpAddr::V6(v6)) => {
                    return Err(UrlError::PrivateAddress(v6.to_string()))
                }
                Host::Domain(name) if is_local_name(name) => {
                    return Err(UrlError::PrivateAddress(name.to_string()))
                }
                _ => {}
            }
        }
        Ok(Self(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The host as a name or address literal (without IPv6 brackets).
    pub fn host(&self) -> String {
        match self.0.host() {
            Some(Host::Ipv6(v6)) => v6.to_string(),
            Some(h) => h.to_string(),
            None => String::new(),
        }
    }

    /// The literal address when the host is one (nothing to resolve).
    pub fn ip_literal(&self) -> Option<IpAddr> {
        match self.0.host() {
            Some(Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            _ => None,
        }
    }

    /// The port, explicit or the scheme's default.
    pub fn port(&self) -> u16 {
        self.0.port_or_known_default().unwrap_or(443)
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookUrl({})", self.0.as_str())
    }
}

/// Names that always mean this machine.
fn is_local_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// Whether a delivery may go to `ip` without the operator's permission:
/// not loopback, private, link-local, shared (CGNAT), unspecified,
/// broadcast, multicast, documentation, benchmarking or reserved; an
/// IPv4-mapped or NAT64 IPv6 address is judged by its IPv4 address.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    let o = ip.octets();
    // NAT64 (64:ff9b::/96) reaches the embedded IPv4 address.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return is_public_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    // 6to4 (2002::/16) relays to the IPv4 address in bits 16–47.
    if s[0] == 0x2002 {
        return is_public_v4(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || s[..6] == [0, 0, 0, 0, 0, 0] // IPv4-compatible and the like
        || s[..6] == [0, 0, 0, 0, 0xffff, 0] // IPv4-translated (::ffff:0:0:0/96)
        || (s[0] == 0x2001 && s[1] == 0) // Teredo: tunnels to an IPv4 host
        || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) // local-use NAT64 (64:ff9b:1::/48)
        || s[..4] == [0x100, 0, 0, 0]) // discard-only (100::/64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn public_addresses_are_public_and_internal_ones_are_not() {
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "2002:808:808::1",
        ] {
            assert!(is_public_ip(ip(public)), "{public}");
        }
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "2002:7f00:1::1",
            "2002:a00:1::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "64:ff9b:1::a00:1",
            "100::1",
            "::ffff:0:7f00:1",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public_ip(ip(internal)), "{internal}");
        }
    }

    #[test]
    fn https_to_a_public_host_is_accepted() {
        let u = WebhookUrl::parse("https://hooks.example.com/hall?x=1", false).unwrap();
        assert_eq!(u.host(), "hooks.example.com");
        assert_eq!(u.port(), 443);
        assert_eq!(u.ip_literal(), None);
    }

    #[test]
    fn http_and_private_hosts_are_refused_without_the_operators_permission() {
        assert_eq!(
            WebhookUrl::parse("http://hooks.example.com/", false),
            Err(UrlError::NotHttps)
        );
        for private in [
            "https://127.0.0.1/x",
            "https://[::1]:8443/x",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.5/",
            "https://localhost/",
            "https://api.localhost./",
        ] {
            assert!(
                matches!(
                    WebhookUrl::parse(private, false),
                    Err(UrlError::PrivateAddress(_))
                ),
                "{private}"
            );
        }
    }

    #[test]
    fn the_operators_permission_allows_http_and_private_hosts() {
        let u = WebhookUrl::parse("http://127.0.0.1:9000/hook", true).unwrap();
        assert_eq!(u.ip_literal(), Some(ip("127.0.0.1")));
        assert_eq!(u.port(), 9000);
        assert!(WebhookUrl::parse("http://[::1]/", true).is_ok());
    }

    #[test]
    fn other_schemes_credentials_and_fragments_are_refused_always() {
        assert_eq!(
            WebhookUrl::parse("ftp://example.com/", true),
            Err(UrlError::NotHttps)
        );
        assert_eq!(
            WebhookUrl::parse("https://u:p@example.com/", true),
            Err(UrlError::Credentials)
        );
        assert_eq!(
            WebhookUrl::parse("https://example.com/#x", true),
            Err(UrlError::Fragment)
        );
        assert!(matches!(
            WebhookUrl::parse("not a url", true),
            Err(UrlError::Malformed(_))
        ));
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(WebhookUrl::parse(&long, true), Err(UrlError::TooLong));
    }
}
