//! Which network addresses a tenant's webhook endpoint may point at: public
//! ones only, unless the operator allows private targets. Refusing the
//! operator's own network (loopback, RFC 1918, link-local — the cloud
//! metadata service at 169.254.169.254 —, unique-local IPv6, ...) keeps a
//! tenant from using the outbox as a server-side request forgery.
//!
//! Pure: it classifies an address already parsed or resolved; the server
//! checks IP literals at registration and the webhook client checks every
//! address a name resolves to at delivery.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is not public.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonPublic {
    /// `0.0.0.0/8`, `::`.
    Unspecified,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918: `10/8`, `172.16/12`, `192.168/16`.
    Private,
    /// RFC 6598 carrier-grade NAT: `100.64/10`.
    SharedNat,
    /// `169.254/16` (cloud metadata services live here), `fe80::/10`.
    LinkLocal,
    /// `fc00::/7` (and the deprecated site-local `fec0::/10`).
    UniqueLocal,
    /// `224/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `192.0.2/24`, `198.51.100/24`, `203.0.113/24`, `2001:db8::/32`.
    Documentation,
    /// Other special-purpose ranges: `192.0.0/24`, `198.18/15`, the
    /// deprecated 6to4 relay anycast `192.88.99/24`, `240/4`, `100::/64`,
    /// `2001::/23`, IPv4-compatible `::/96`, local NAT64.
    Reserved,
}

impl fmt::Display for NonPublic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NonPublic::Unspecified => "unspecified",
            NonPublic::Loopback => "loopback",
            NonPublic::Private => "private",
            NonPublic::SharedNat => "shared (carrier-grade NAT)",
            NonPublic::LinkLocal => "link-local",
            NonPublic::UniqueLocal => "unique-local",
            NonPublic::Multicast => "multicast",
            NonPublic::Broadcast => "broadcast",
            NonPublic::Documentation => "documentation",
            NonPublic::Reserved => "reserved",
        })
    }
}

/// `None` when `ip` is a public unicast address; otherwise the kind of
/// range it is in. IPv6 forms that embed an IPv4 address (IPv4-mapped
/// `::ffff:a.b.c.d`, SIIT IPv4-translated `::ffff:0:a.b.c.d`, NAT64
/// `64:ff9b::a.b.c.d`, 6to4 `2002:aabb:ccdd::`) are judged by that address.
pub fn non_public(ip: IpAddr) -> Option<NonPublic> {
    match ip {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => non_public_v6(v6),
    }
}

/// Whether `ip` is a public unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    non_public(ip).is_none()
}

/// Whether a host name means this machine whatever DNS says: `localhost`
/// and any `*.localhost` (RFC 6761), in any case, with or without the
/// trailing dot.
pub fn is_local_name(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost")
}

/// Whether a URL's host (as `Url::host_str` gives it: an IPv6 literal in
/// brackets, IPv4 in dotted decimal) names an internal target: `Some` with
/// why, e.g. `169.254.169.254 is a link-local address`; `None` for a
/// public IP literal or any other name (whose addresses are only known
/// once resolved).
pub fn internal_host(host: &str) -> Option<String> {
    if is_local_name(host) {
        return Some(format!("`{host}` is this machine"));
    }
    let literal = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let ip: IpAddr = literal.parse().ok()?;
    non_public(ip).map(|kind| format!("{ip} is {} {kind} address", article(kind)))
}

fn article(kind: NonPublic) -> &'static str {
    match kind {
        NonPublic::Unspecified => "an",
        _ => "a",
    }
}

fn non_public_v4(ip: Ipv4Addr) -> Option<NonPublic> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => NonPublic::Unspecified,
        (127, _, _) => NonPublic::Loopback,
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => NonPublic::Private,
        (100, 64..=127, _) => NonPublic::SharedNat,
        (169, 254, _) => NonPublic::LinkLocal,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => NonPublic::Documentation,
        // 192.88.99/24: 6to4 relays (RFC 3068, deprecated by RFC 7526).
        (192, 0, 0) | (192, 88, 99) | (198, 18..=19, _) => NonPublic::Reserved,
        (224..=239, _, _) => NonPublic::Multicast,
        _ if ip == Ipv4Addr::BROADCAST => NonPublic::Broadcast,
        (240..=255, _, _) => NonPublic::Reserved,
        _ => return None,
    })
}

fn non_public_v6(ip: Ipv6Addr) -> Option<NonPublic> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return non_public_v4(v4);
    }
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    Some(match s {
        _ if ip.is_unspecified() => NonPublic::Unspecified,
        _ if ip.is_loopback() => NonPublic::Loopback,
        // IPv4-compatible (deprecated): no public use.
        [0, 0, 0, 0, 0, 0, _, _] => NonPublic::Reserved,
        // SIIT IPv4-translated (RFC 6145, `::ffff:0:0/96`): a translator
        // turns it into the IPv4 address it embeds.
        [0, 0, 0, 0, 0xffff, 0, hi, lo] => return non_public_v4(embedded(hi, lo)),
        // NAT64, well-known prefix: the IPv4 address it reaches.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => return non_public_v4(embedded(hi, lo)),
        // NAT64, local-use prefix (RFC 8215).
        [0x64, 0xff9b, 1, ..] => NonPublic::Reserved,
        // Discard-only.
        [0x100, 0, 0, 0, ..] => NonPublic::Reserved,
        [0x2001, 0xdb8, ..] => NonPublic::Documentation,
        // IETF protocol assignments (Teredo, ORCHID, benchmarking, ...).
        [0x2001, 0..=0x1ff, ..] => NonPublic::Reserved,
        // 6to4: the IPv4 address it reaches.
        [0x2002, hi, lo, ..] => return non_public_v4(embedded(hi, lo)),
        [x, ..] if x & 0xfe00 == 0xfc00 => NonPublic::UniqueLocal,
        [x, ..] if x & 0xffc0 == 0xfe80 => NonPublic::LinkLocal,
        [x, ..] if x & 0xffc0 == 0xfec0 => NonPublic::UniqueLocal,
        [x, ..] if x & 0xff00 == 0xff00 => NonPublic::Multicast,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_classified() {
        use NonPublic::*;
        let table: &[(&str, Option<NonPublic>)] = &[
            // Public.
            ("8.8.8.8", None),
            ("1.1.1.1", None),
            ("93.184.215.14", None),
            ("172.15.255.255", None),
            ("172.32.0.1", None),
            ("100.63.255.255", None),
            ("100.128.0.1", None),
            ("169.253.1.1", None),
            ("192.0.1.1", None),
            ("198.20.0.1", None),
            ("223.255.255.255", None),
            ("2606:4700:4700::1111", None),
            ("2a00:1450:4001:81b::200e", None),
            ("::ffff:8.8.8.8", None),
            ("64:ff9b::808:808", None),
            ("2002:808:808::1", None),
            ("::ffff:0:808:808", None),
            ("192.88.98.1", None),
            ("192.88.100.1", None),
            // IPv4, not public.
            ("0.0.0.0", Some(Unspecified)),
            ("0.1.2.3", Some(Unspecified)),
            ("127.0.0.1", Some(Loopback)),
            ("127.255.255.254", Some(Loopback)),
            ("10.0.0.1", Some(Private)),
            ("172.16.0.1", Some(Private)),
            ("172.31.255.255", Some(Private)),
            ("192.168.1.1", Some(Private)),
            ("100.64.0.1", Some(SharedNat)),
            ("100.127.255.255", Some(SharedNat)),
            ("169.254.169.254", Some(LinkLocal)),
            ("169.254.0.1", Some(LinkLocal)),
            ("192.0.2.1", Some(Documentation)),
            ("198.51.100.7", Some(Documentation)),
            ("203.0.113.9", Some(Documentation)),
            ("192.0.0.8", Some(Reserved)),
            ("198.18.0.1", Some(Reserved)),
            ("192.88.99.1", Some(Reserved)),
            ("192.88.99.255", Some(Reserved)),
            ("224.0.0.1", Some(Multicast)),
            ("239.255.255.250", Some(Multicast)),
            ("240.0.0.1", Some(Reserved)),
            ("255.255.255.255", Some(Broadcast)),
            // IPv6, not public.
            ("::", Some(Unspecified)),
            ("::1", Some(Loopback)),
            ("::7f00:1", Some(Reserved)),
            ("fc00::1", Some(UniqueLocal)),
            ("fd12:3456:789a::1", Some(UniqueLocal)),
            ("fec0::1", Some(UniqueLocal)),
            ("fe80::1", Some(LinkLocal)),
            ("febf::1", Some(LinkLocal)),
            ("ff02::1", Some(Multicast)),
            ("2001:db8::1", Some(Documentation)),
            ("2001::1", Some(Reserved)),
            ("100::1", Some(Reserved)),
            ("64:ff9b:1::1", Some(Reserved)),
            // IPv6 forms of IPv4 ranges.
            ("::ffff:127.0.0.1", Some(Loopback)),
            ("::ffff:169.254.169.254", Some(LinkLocal)),
            ("::ffff:10.1.2.3", Some(Private)),
            ("::ffff:0.0.0.0", Some(Unspecified)),
            ("64:ff9b::a9fe:a9fe", Some(LinkLocal)),
            ("2002:7f00:1::", Some(Loopback)),
            ("2002:c0a8:101::1", Some(Private)),
            // SIIT IPv4-translated (`::ffff:0:0/96`).
            ("::ffff:0:7f00:1", Some(Loopback)),
            ("::ffff:0:a9fe:a9fe", Some(LinkLocal)),
            ("::ffff:0:a01:203", Some(Private)),
            ("::ffff:0:0:0", Some(Unspecified)),
        ];
        for (text, expected) in table {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(non_public(ip), *expected, "{text}");
            assert_eq!(is_public(ip), expected.is_none(), "{text}");
        }
    }

    #[test]
    fn localhost_names_are_local() {
        for name in ["localhost", "LocalHost", "localhost.", "a.localhost", "x.y.LOCALHOST."] {
            assert!(is_local_name(name), "{name}");
        }
        for name in ["example.com", "localhost.example.com", "notlocalhost", "mylocalhost", ""] {
            assert!(!is_local_name(name), "{name}");
        }
    }

    #[test]
    fn url_hosts_are_judged_by_name_or_literal() {
        assert_eq!(internal_host("127.0.0.1").as_deref(), Some("127.0.0.1 is a loopback address"));
        assert_eq!(internal_host("[::1]").as_deref(), Some("::1 is a loopback address"));
        assert_eq!(internal_host("0.0.0.0").as_deref(), Some("0.0.0.0 is an unspecified address"));
        assert_eq!(
            internal_host("169.254.169.254").as_deref(),
            Some("169.254.169.254 is a link-local address")
        );
        assert_eq!(internal_host("[fd00::1]").as_deref(), Some("fd00::1 is a unique-local address"));
        // The review's SIIT form of 127.0.0.1, once accepted.
        assert_eq!(
            internal_host("[::ffff:0:7f00:1]").as_deref(),
            Some("::ffff:0:7f00:1 is a loopback address")
        );
        assert_eq!(internal_host("localhost").as_deref(), Some("`localhost` is this machine"));
        assert_eq!(internal_host("hooks.localhost").as_deref(), Some("`hooks.localhost` is this machine"));
        for public in ["8.8.8.8", "[2606:4700::1111]", "hooks.example.com", "[not an ip]", ""] {
            assert_eq!(internal_host(public), None, "{public}");
        }
    }

    #[test]
    fn kinds_read_as_words() {
        assert_eq!(NonPublic::LinkLocal.to_string(), "link-local");
        assert_eq!(NonPublic::Loopback.to_string(), "loopback");
    }
}
