//! Where a webhook may go: HTTPS to a public address. Checked on the URL when an endpoint is
//! registered, and on every address its host resolves to when a delivery is sent (the
//! deliverer connects only to the addresses it checked, so a name that resolves to a public
//! address at registration and a private one later reaches nothing).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The longest endpoint URL.
pub const MAX_URL_LEN: usize = 2048;

/// Which addresses deliveries may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressPolicy {
    /// `make dev` and the tests: plain HTTP to this machine (`127.0.0.0/8`, `::1`,
    /// `localhost`), so a local receiver can be used. Never set on AWS.
    pub allow_loopback: bool,
    /// Public addresses: everywhere but in tests, which keep every delivery on this machine.
    pub allow_public: bool,
}

impl AddressPolicy {
    /// On AWS: public addresses over HTTPS only.
    pub const PUBLIC_ONLY: AddressPolicy = AddressPolicy {
        allow_loopback: false,
        allow_public: true,
    };

    /// `make dev`: public addresses, and this machine.
    pub const LOCAL: AddressPolicy = AddressPolicy {
        allow_loopback: true,
        allow_public: true,
    };

    /// The tests: this machine only, so nothing a test registers is ever sent elsewhere.
    pub const LOOPBACK_ONLY: AddressPolicy = AddressPolicy {
        allow_loopback: true,
        allow_public: false,
    };

    /// Whether a delivery may connect to `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        (self.allow_public && is_public(ip)) || (self.allow_loopback && ip.is_loopback())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("`url` is longer than {MAX_URL_LEN} characters")]
    TooLong,
    #[error("`url` is not an absolute URL: {0}")]
    Malformed(String),
    #[error("`url` must use https")]
    NotHttps,
    #[error(
        "`url` must not carry a user name or password (put credentials in the path, or verify the signature)"
    )]
    Credentials,
    #[error("`url` must not have a fragment")]
    Fragment,
    #[error("`url` has no host")]
    NoHost,
    #[error("`url` points to a private, loopback, link-local or reserved address")]
    AddressNotAllowed,
}

/// Reads an endpoint's URL: absolute, `https` (or `http` to this machine where `policy` allows
/// loopback), no credentials or fragment, and a host that is not an address `policy` refuses
/// (names are checked when resolved, at delivery).
pub fn check_url(raw: &str, policy: AddressPolicy) -> Result<url::Url, UrlError> {
    if raw.len() > MAX_URL_LEN {
        return Err(UrlError::TooLong);
    }
    let url = url::Url::parse(raw).map_err(|e| UrlError::Malformed(e.to_string()))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlError::Credentials);
    }
    if url.fragment().is_some() {
        return Err(UrlError::Fragment);
    }
    let host = url.host().ok_or(UrlError::NoHost)?;
    let loopback_name = matches!(&host, url::Host::Domain(name) if is_loopback_name(name));
    let address = match host {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    };
    let to_this_machine = loopback_name || address.is_some_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_loopback && to_this_machine => {}
        _ => return Err(UrlError::NotHttps),
    }
    if let Some(ip) = address
        && !policy.allows(ip)
    {
        return Err(UrlError::AddressNotAllowed);
    }
    let elsewhere = address.is_none() && !loopback_name;
    if (loopback_name && !policy.allow_loopback) || (elsewhere && !policy.allow_public) {
        return Err(UrlError::AddressNotAllowed);
    }
    Ok(url)
}

/// `localhost` and its subdomains always mean this machine (RFC 6761).
fn is_loopback_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// A globally routable unicast address: none of the special-purpose ranges (IANA's registries)
/// through which a request could reach the service's own network, the instance metadata
/// endpoint (`169.254.169.254`, `fd00:ec2::254`), or nowhere.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => is_public_v6(ip),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let special = a == 0 // "this network"
        || a == 10 // private
        || a == 127 // loopback
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier NAT)
        || (a == 169 && b == 254) // link-local, the metadata endpoint
        || (a == 172 && (16..32).contains(&b)) // private
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // documentation
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168) // private
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // documentation
        || (a == 203 && b == 0 && c == 113) // documentation
        || a >= 224; // multicast, reserved, broadcast
    !special
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    // Addresses that carry an IPv4 address are as public as it is: a NAT64 gateway or the
    // host's own stack would reach that IPv4 address.
    if let Some(v4) = embedded_v4(ip) {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    let special = ip.is_unspecified()
        || ip.is_loopback()
        || (segments[0] & 0xfe00) == 0xfc00 // unique local (fd00:ec2::254 is the metadata)
        || (segments[0] & 0xffc0) == 0xfe80 // link-local
        || (segments[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (segments[0] & 0xff00) == 0xff00 // multicast
        || (segments[0] == 0x0100 && segments[1..4] == [0, 0, 0]) // discard-only
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
        || (segments[0] == 0x2001 && segments[1] < 0x0200) // Teredo, benchmarking, ORCHID…
        || (segments[0] == 0x0064 && segments[1] == 0xff9b && segments[2] == 0x0001) // local NAT64
        || (segments[0] & 0xe000) != 0x2000; // outside global unicast (2000::/3)
    !special
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`),
/// NAT64 (`64:ff9b::a.b.c.d`) or 6to4 (`2002:AABB:CCDD::`) address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let last =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, hi, lo] => Some(last(hi, lo)),
        // `::` and `::1` are handled as themselves.
        [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 => Some(last(hi, lo)),
        [0x0064, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(last(hi, lo)),
        [0x2002, hi, lo, ..] => Some(last(hi, lo)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn only_public_unicast_addresses_are_allowed_on_aws() {
        for refused in [
            "0.0.0.0",
            "10.1.2.3",
            "100.64.0.1",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:a9fe:a9fe::1",
            "fd00:ec2::254",
            "fc00::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "100::1",
        ] {
            assert!(
                !AddressPolicy::PUBLIC_ONLY.allows(ip(refused)),
                "{refused} was allowed"
            );
        }
        for allowed in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "192.169.0.1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
        ] {
            assert!(
                AddressPolicy::PUBLIC_ONLY.allows(ip(allowed)),
                "{allowed} was refused"
            );
        }
    }

    #[test]
    fn the_local_stack_also_reaches_this_machine_but_nothing_else_private() {
        let local = AddressPolicy::LOCAL;
        assert!(local.allows(ip("127.0.0.1")));
        assert!(local.allows(ip("::1")));
        assert!(!local.allows(ip("10.0.0.1")));
        assert!(!local.allows(ip("169.254.169.254")));
    }

    #[test]
    fn endpoint_urls_are_https_to_public_hosts() {
        let aws = AddressPolicy::PUBLIC_ONLY;
        assert!(check_url("https://hooks.example.com/tx?k=1", aws).is_ok());
        assert!(check_url("https://8.8.8.8:8443/", aws).is_ok());
        for (raw, error) in [
            ("http://hooks.example.com/", UrlError::NotHttps),
            ("ftp://hooks.example.com/", UrlError::NotHttps),
            ("https://user:pw@hooks.example.com/", UrlError::Credentials),
            ("https://hooks.example.com/#x", UrlError::Fragment),
            ("https://127.0.0.1/", UrlError::AddressNotAllowed),
            ("https://[::1]/", UrlError::AddressNotAllowed),
            (
                "https://169.254.169.254/latest",
                UrlError::AddressNotAllowed,
            ),
            ("https://[::ffff:10.0.0.1]/", UrlError::AddressNotAllowed),
            // Other spellings of private addresses, as the URL parser reads them.
            ("https://2130706433/", UrlError::AddressNotAllowed),
            ("https://0x7f.1/", UrlError::AddressNotAllowed),
            ("https://localhost/", UrlError::AddressNotAllowed),
            ("https://a.localhost./", UrlError::AddressNotAllowed),
        ] {
            assert_eq!(check_url(raw, aws).err(), Some(error), "{raw}");
        }
        assert!(matches!(
            check_url("hooks.example.com", aws),
            Err(UrlError::Malformed(_))
        ));
        assert_eq!(
            check_url(&format!("https://a.com/{}", "x".repeat(MAX_URL_LEN)), aws).err(),
            Some(UrlError::TooLong)
        );
    }

    #[test]
    fn the_local_stack_takes_plain_http_to_this_machine_only() {
        let local = AddressPolicy::LOCAL;
        assert!(check_url("http://127.0.0.1:9000/hook", local).is_ok());
        assert!(check_url("http://localhost:9000/hook", local).is_ok());
        assert!(check_url("http://[::1]:9000/hook", local).is_ok());
        assert_eq!(
            check_url("http://hooks.example.com/", local).err(),
            Some(UrlError::NotHttps)
        );
        assert_eq!(
            check_url("https://10.0.0.1/", local).err(),
            Some(UrlError::AddressNotAllowed)
        );
    }

    #[test]
    fn the_tests_reach_this_machine_and_nothing_else() {
        let tests = AddressPolicy::LOOPBACK_ONLY;
        assert!(check_url("http://127.0.0.1:9000/hook", tests).is_ok());
        assert!(tests.allows(ip("::1")));
        assert!(!tests.allows(ip("8.8.8.8")));
        for elsewhere in ["https://hooks.example.com/", "https://8.8.8.8/"] {
            assert_eq!(
                check_url(elsewhere, tests).err(),
                Some(UrlError::AddressNotAllowed),
                "{elsewhere}"
            );
        }
    }
}
