//! Scalar values in `ovs-ofctl` notation: integers (decimal or `0x` hex),
//! Ethernet and IP addresses with masks or prefix lengths, port numbers and
//! their reserved names, durations.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use openflow::port::port_no;

use super::SyntaxError;

/// Parses a decimal or `0x`-prefixed hexadecimal integer.
pub(crate) fn parse_u64(s: &str, token: &str) -> Result<u64, SyntaxError> {
    let s = s.trim();
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse::<u64>(),
    };
    r.map_err(|_| SyntaxError::bad(token, "not a number (decimal or 0x hex)"))
}

/// Parses an integer no larger than `max`.
pub(crate) fn parse_max(s: &str, max: u64, token: &str) -> Result<u64, SyntaxError> {
    let v = parse_u64(s, token)?;
    if v > max {
        return Err(SyntaxError::bad(token, "value out of range"));
    }
    Ok(v)
}

/// Parses an integer that fits in `T`.
pub(crate) fn parse_int<T: TryFrom<u64>>(s: &str, token: &str) -> Result<T, SyntaxError> {
    let v = parse_u64(s, token)?;
    T::try_from(v).map_err(|_| SyntaxError::bad(token, "value out of range"))
}

/// Splits `value/mask`.
pub(crate) fn split_mask(s: &str) -> (&str, Option<&str>) {
    match s.split_once('/') {
        Some((v, m)) => (v, Some(m)),
        None => (s, None),
    }
}

/// Parses `V[/M]` integers of at most `max`; returns the canonical form:
/// the value ANDed with the mask, `None` for an all-ones mask, and `None`
/// overall for an all-zero mask (the field is wildcarded).
pub(crate) fn parse_masked(
    s: &str,
    max: u64,
    token: &str,
) -> Result<Option<(u64, Option<u64>)>, SyntaxError> {
    let (v, m) = split_mask(s);
    let v = parse_max(v, max, token)?;
    match m {
        None => Ok(Some((v, None))),
        Some(m) => {
            let m = parse_max(m, max, token)?;
            Ok(canon(v, m, max))
        }
    }
}

/// Canonical value/mask: see [`parse_masked`].
pub(crate) fn canon(v: u64, m: u64, all: u64) -> Option<(u64, Option<u64>)> {
    if m == 0 {
        None
    } else if m == all {
        Some((v, None))
    } else {
        Some((v & m, Some(m)))
    }
}

/// Parses `xx:xx:xx:xx:xx:xx`.
pub(crate) fn parse_mac(s: &str, token: &str) -> Result<[u8; 6], SyntaxError> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut out {
        let p = parts
            .next()
            .filter(|p| !p.is_empty() && p.len() <= 2)
            .ok_or_else(|| SyntaxError::bad(token, "not an Ethernet address"))?;
        *b = u8::from_str_radix(p, 16)
            .map_err(|_| SyntaxError::bad(token, "not an Ethernet address"))?;
    }
    if parts.next().is_some() {
        return Err(SyntaxError::bad(token, "not an Ethernet address"));
    }
    Ok(out)
}

fn mac_u64(m: [u8; 6]) -> u64 {
    m.iter().fold(0, |a, b| a << 8 | u64::from(*b))
}

fn u64_mac(v: u64) -> [u8; 6] {
    let b = v.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// A canonical Ethernet address and mask; `None`: wildcarded.
pub(crate) type MacMasked = Option<([u8; 6], Option<[u8; 6]>)>;

/// Parses `MAC[/MASK]` in canonical form (see [`parse_masked`]).
pub(crate) fn parse_mac_masked(s: &str, token: &str) -> Result<MacMasked, SyntaxError> {
    let (v, m) = split_mask(s);
    let v = mac_u64(parse_mac(v, token)?);
    let m = match m {
        Some(m) => mac_u64(parse_mac(m, token)?),
        None => (1 << 48) - 1,
    };
    Ok(canon(v, m, (1 << 48) - 1).map(|(v, m)| (u64_mac(v), m.map(u64_mac))))
}

/// Parses `a.b.c.d[/N | /a.b.c.d]` in canonical form.
pub(crate) fn parse_ipv4_masked(
    s: &str,
    token: &str,
) -> Result<Option<(Ipv4Addr, Option<Ipv4Addr>)>, SyntaxError> {
    let bad = || SyntaxError::bad(token, "not an IPv4 address[/prefix or /mask]");
    let (v, m) = split_mask(s);
    let v: Ipv4Addr = v.parse().map_err(|_| bad())?;
    let m: u32 = match m {
        None => u32::MAX,
        Some(m) if m.contains('.') => m.parse::<Ipv4Addr>().map_err(|_| bad())?.to_bits(),
        Some(m) => {
            let n: u32 = m.parse().map_err(|_| bad())?;
            match n {
                0 => 0,
                1..=32 => u32::MAX << (32 - n),
                _ => return Err(bad()),
            }
        }
    };
    Ok(
        canon(u64::from(v.to_bits()), u64::from(m), u64::from(u32::MAX)).map(|(v, m)| {
            let ip = |x: u64| Ipv4Addr::from_bits(x as u32);
            (ip(v), m.map(ip))
        }),
    )
}

/// Parses `addr[/N | /mask]` (IPv6) in canonical form.
pub(crate) fn parse_ipv6_masked(
    s: &str,
    token: &str,
) -> Result<Option<(Ipv6Addr, Option<Ipv6Addr>)>, SyntaxError> {
    let bad = || SyntaxError::bad(token, "not an IPv6 address[/prefix or /mask]");
    let (v, m) = split_mask(s);
    let v: Ipv6Addr = v.parse().map_err(|_| bad())?;
    let m: u128 = match m {
        None => u128::MAX,
        Some(m) if m.contains(':') => m.parse::<Ipv6Addr>().map_err(|_| bad())?.to_bits(),
        Some(m) => {
            let n: u32 = m.parse().map_err(|_| bad())?;
            match n {
                0 => 0,
                1..=128 => u128::MAX << (128 - n),
                _ => return Err(bad()),
            }
        }
    };
    let v = v.to_bits();
    Ok(if m == 0 {
        None
    } else if m == u128::MAX {
        Some((Ipv6Addr::from_bits(v), None))
    } else {
        Some((Ipv6Addr::from_bits(v & m), Some(Ipv6Addr::from_bits(m))))
    })
}

/// Reserved port names, in `ofputil_port_from_string` spelling.
const PORT_NAMES: [(&str, u32); 8] = [
    ("IN_PORT", port_no::IN_PORT),
    ("TABLE", port_no::TABLE),
    ("NORMAL", port_no::NORMAL),
    ("FLOOD", port_no::FLOOD),
    ("ALL", port_no::ALL),
    ("CONTROLLER", port_no::CONTROLLER),
    ("LOCAL", port_no::LOCAL),
    ("ANY", port_no::ANY),
];

/// The reserved port named `s` (case-insensitive; `NONE` is OVS's old
/// spelling of `ANY`).
pub(crate) fn reserved_port(s: &str) -> Option<u32> {
    if s.eq_ignore_ascii_case("NONE") {
        return Some(port_no::ANY);
    }
    PORT_NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(s))
        .map(|(_, p)| *p)
}

/// Parses a port number as `ovs-ofctl --no-names` does: a reserved name
/// (`LOCAL`, `CONTROLLER`, `IN_PORT`, `ALL`, `FLOOD`, `TABLE`, `NORMAL`,
/// `ANY`, case-insensitive) or a number (decimal or `0x` hex). The
/// OpenFlow 1.0 spellings of the reserved ports (0xfff8–0xffff) mean the
/// OpenFlow 1.3 reserved ports, as in `ovs-ofctl`.
pub fn parse_port_name(s: &str) -> Result<u32, SyntaxError> {
    parse_port(s, s)
}

/// [`parse_port_name`], with `token` named in errors.
pub(crate) fn parse_port(s: &str, token: &str) -> Result<u32, SyntaxError> {
    if let Some(p) = reserved_port(s) {
        return Ok(p);
    }
    let n =
        parse_u64(s, token).map_err(|_| SyntaxError::bad(token, "not a port number or name"))?;
    match n {
        0xfff8..=0xffff => Ok(0xffff_0000 | n as u32),
        _ => u32::try_from(n).map_err(|_| SyntaxError::bad(token, "port number out of range")),
    }
}

/// Formats a port the way `ovs-ofctl --no-names` does: reserved ports by
/// name (`LOCAL`, `CONTROLLER`, …), others as a decimal number.
pub fn format_port(p: u32) -> String {
    match PORT_NAMES.iter().find(|(_, n)| *n == p) {
        Some((name, _)) => (*name).to_string(),
        None => p.to_string(),
    }
}

/// `xx:xx:xx:xx:xx:xx`.
pub(crate) fn fmt_mac(m: &[u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// `MAC[/MASK]`.
pub(crate) fn fmt_mac_masked(v: &[u8; 6], m: Option<&[u8; 6]>) -> String {
    match m {
        Some(m) if *m != [0xff; 6] => format!("{}/{}", fmt_mac(v), fmt_mac(m)),
        _ => fmt_mac(v),
    }
}

/// `a.b.c.d[/N | /mask]` as `format_ip_netmask`: a CIDR mask as a prefix
/// length, any other mask in dotted quad.
pub(crate) fn fmt_ipv4_masked(v: Ipv4Addr, m: Option<Ipv4Addr>) -> String {
    match m.map(Ipv4Addr::to_bits) {
        None | Some(u32::MAX) => v.to_string(),
        Some(m) if m.leading_ones() + m.trailing_zeros() == 32 => {
            format!("{v}/{}", m.leading_ones())
        }
        Some(m) => format!("{v}/{}", Ipv4Addr::from_bits(m)),
    }
}

/// `addr[/N | /mask]` (IPv6), as `format_ipv6_netmask`.
pub(crate) fn fmt_ipv6_masked(v: Ipv6Addr, m: Option<Ipv6Addr>) -> String {
    match m.map(Ipv6Addr::to_bits) {
        None | Some(u128::MAX) => v.to_string(),
        Some(m) if m.leading_ones() + m.trailing_zeros() == 128 => {
            format!("{v}/{}", m.leading_ones())
        }
        Some(m) => format!("{v}/{}", Ipv6Addr::from_bits(m)),
    }
}

/// `0xV[/0xM]` (mask omitted when all ones), as `format_be64_masked`.
pub(crate) fn fmt_hex_masked(v: u64, m: Option<u64>, all: u64) -> String {
    match m {
        Some(m) if m != all => format!("{v:#x}/{m:#x}"),
        _ => format!("{v:#x}"),
    }
}

/// A duration as `ofp_print_duration`: seconds, then no decimals, three
/// (whole milliseconds) or as many as needed, then `s`.
pub(crate) fn fmt_duration(sec: u32, nsec: u32) -> String {
    let mut s = sec.to_string();
    if nsec > 0 {
        if nsec.is_multiple_of(1_000_000) {
            let _ = write!(s, ".{:03}", nsec / 1_000_000);
        } else {
            let frac = format!("{nsec:09}");
            s.push('.');
            s.push_str(frac.trim_end_matches('0'));
        }
    }
    s.push('s');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_like_ovs() {
        assert_eq!(fmt_duration(1, 234_000_000), "1.234s");
        assert_eq!(fmt_duration(3, 0), "3s");
        assert_eq!(fmt_duration(0, 500_000_000), "0.500s");
        assert_eq!(fmt_duration(2, 1_500), "2.0000015s");
    }

    #[test]
    fn masks_and_prefixes() {
        let (v, m) = parse_ipv4_masked("10.1.2.3/8", "t").unwrap().unwrap();
        assert_eq!(fmt_ipv4_masked(v, m), "10.0.0.0/8");
        let (v, m) = parse_ipv4_masked("1.2.3.4/255.0.255.0", "t")
            .unwrap()
            .unwrap();
        assert_eq!(fmt_ipv4_masked(v, m), "1.0.3.0/255.0.255.0");
        assert_eq!(parse_ipv4_masked("1.2.3.4/0", "t").unwrap(), None);
        let (v, m) = parse_ipv6_masked("2001:db8::1/ffff:ffff::", "t")
            .unwrap()
            .unwrap();
        assert_eq!(fmt_ipv6_masked(v, m), "2001:db8::/32");
        let (v, m) = parse_mac_masked("00:11:22:33:44:55/ff:ff:ff:00:00:00", "t")
            .unwrap()
            .unwrap();
        assert_eq!(
            fmt_mac_masked(&v, m.as_ref()),
            "00:11:22:00:00:00/ff:ff:ff:00:00:00"
        );
        assert_eq!(
            parse_masked("0x5/0xff", u64::MAX, "t").unwrap(),
            Some((5, Some(0xff)))
        );
        assert!(parse_masked("7/-1", u64::MAX, "t").is_err());
    }

    #[test]
    fn ports() {
        assert_eq!(parse_port("local", "t").unwrap(), port_no::LOCAL);
        assert_eq!(parse_port("65534", "t").unwrap(), port_no::LOCAL);
        assert_eq!(parse_port("7", "t").unwrap(), 7);
        assert!(parse_port("x", "t").is_err());
        assert_eq!(format_port(port_no::CONTROLLER), "CONTROLLER");
        assert_eq!(format_port(65280), "65280");
    }
}
