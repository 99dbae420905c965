//! Connection targets, written as Open vSwitch writes them.
//!
//! | target | meaning |
//! |---|---|
//! | `tcp:HOST[:PORT]` | connect to a switch listening on HOST:PORT |
//! | `ssl:HOST[:PORT]` | the same over mutual TLS |
//! | `ptcp:[PORT][:IP]` | listen for switches that dial in (all addresses when IP is absent) |
//! | `pssl:[PORT][:IP]` | the same over mutual TLS |
//!
//! PORT defaults to 6653, the IANA OpenFlow port; `ptcp:0` asks the system
//! for a free port (tests). IPv6 addresses are written in brackets, as in
//! OVS: `tcp:[::1]:6653`, `ptcp:6653:[::1]`. HOST may also be a DNS name; it
//! is resolved when connecting.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use super::error::TargetError;

/// The default OpenFlow port (IANA).
pub const DEFAULT_PORT: u16 = 6653;

/// Where to connect to, or where to listen.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Target {
    /// `tcp:HOST:PORT`: connect over plain TCP.
    Tcp {
        /// Host name or IP address (IPv6 without brackets).
        host: String,
        /// TCP port.
        port: u16,
    },
    /// `ssl:HOST:PORT`: connect over mutual TLS.
    Ssl {
        /// Host name or IP address (IPv6 without brackets).
        host: String,
        /// TCP port.
        port: u16,
    },
    /// `ptcp:PORT:IP`: listen over plain TCP.
    Ptcp {
        /// TCP port (0: any free port).
        port: u16,
        /// Local address to bind; `None` for all IPv4 addresses.
        ip: Option<IpAddr>,
    },
    /// `pssl:PORT:IP`: listen over mutual TLS.
    Pssl {
        /// TCP port (0: any free port).
        port: u16,
        /// Local address to bind; `None` for all IPv4 addresses.
        ip: Option<IpAddr>,
    },
}

impl Target {
    /// Parses a target string (see the module documentation).
    pub fn parse(s: &str) -> Result<Self, TargetError> {
        let (method, rest) = s.split_once(':').unwrap_or((s, ""));
        match method {
            "tcp" | "ssl" => {
                let (host, port) = parse_active(s, rest)?;
                Ok(if method == "tcp" {
                    Self::Tcp { host, port }
                } else {
                    Self::Ssl { host, port }
                })
            }
            "ptcp" | "pssl" => {
                let (port, ip) = parse_passive(s, rest)?;
                Ok(if method == "ptcp" {
                    Self::Ptcp { port, ip }
                } else {
                    Self::Pssl { port, ip }
                })
            }
            _ => Err(TargetError::UnknownMethod {
                target: s.to_string(),
                method: method.to_string(),
            }),
        }
    }

    /// Whether this is a listening target (`ptcp:`, `pssl:`).
    pub fn is_passive(&self) -> bool {
        matches!(self, Self::Ptcp { .. } | Self::Pssl { .. })
    }

    /// Whether this target uses TLS (`ssl:`, `pssl:`).
    pub fn is_tls(&self) -> bool {
        matches!(self, Self::Ssl { .. } | Self::Pssl { .. })
    }
}

fn bad_port(target: &str, port: &str) -> TargetError {
    TargetError::BadPort {
        target: target.to_string(),
        port: port.to_string(),
    }
}

fn bad_address(target: &str, address: &str) -> TargetError {
    TargetError::BadAddress {
        target: target.to_string(),
        address: address.to_string(),
    }
}

fn parse_port(target: &str, port: &str) -> Result<u16, TargetError> {
    if port.is_empty() {
        return Ok(DEFAULT_PORT);
    }
    // `u16::from_str` accepts a leading `+`; a port is digits only.
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad_port(target, port));
    }
    port.parse().map_err(|_| bad_port(target, port))
}

/// `HOST[:PORT]` with HOST possibly `[v6]`.
fn parse_active(target: &str, rest: &str) -> Result<(String, u16), TargetError> {
    let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
        let (addr, after) = inner
            .split_once(']')
            .ok_or_else(|| bad_address(target, rest))?;
        if addr.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad_address(target, addr));
        }
        let port = match after {
            "" => "",
            p => p
                .strip_prefix(':')
                .ok_or_else(|| bad_address(target, rest))?,
        };
        (addr, port)
    } else {
        let (host, port) = rest.split_once(':').unwrap_or((rest, ""));
        if port.contains(':') {
            // An unbracketed IPv6 address: ambiguous with the port.
            return Err(bad_address(target, rest));
        }
        (host, port)
    };
    if host.is_empty() {
        return Err(TargetError::MissingHost {
            target: target.to_string(),
        });
    }
    Ok((host.to_string(), parse_port(target, port)?))
}

/// `[PORT][:IP]` with IP possibly `[v6]` (or a bare v6 address, which is
/// unambiguous after the port).
fn parse_passive(target: &str, rest: &str) -> Result<(u16, Option<IpAddr>), TargetError> {
    let (port, ip) = match rest.split_once(':') {
        Some((port, ip)) => (port, Some(ip)),
        None => (rest, None),
    };
    let port = parse_port(target, port)?;
    let ip = match ip {
        None | Some("") => None,
        Some(ip) => {
            let bare = ip
                .strip_prefix('[')
                .and_then(|i| i.strip_suffix(']'))
                .unwrap_or(ip);
            Some(bare.parse().map_err(|_| bad_address(target, ip))?)
        }
    };
    Ok((port, ip))
}

impl FromStr for Target {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Self, TargetError> {
        Self::parse(s)
    }
}

/// Writes a host, bracketing IPv6 addresses so the port stays readable.
fn write_host(f: &mut fmt::Formatter<'_>, host: &str) -> fmt::Result {
    if host.contains(':') {
        write!(f, "[{host}]")
    } else {
        f.write_str(host)
    }
}

impl fmt::Display for Target {
    /// The canonical string form, which parses back to the same target.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp { host, port } | Self::Ssl { host, port } => {
                f.write_str(if matches!(self, Self::Tcp { .. }) {
                    "tcp:"
                } else {
                    "ssl:"
                })?;
                write_host(f, host)?;
                write!(f, ":{port}")
            }
            Self::Ptcp { port, ip } | Self::Pssl { port, ip } => {
                let method = if matches!(self, Self::Ptcp { .. }) {
                    "ptcp"
                } else {
                    "pssl"
                };
                write!(f, "{method}:{port}")?;
                match ip {
                    Some(IpAddr::V6(v6)) => write!(f, ":[{v6}]"),
                    Some(IpAddr::V4(v4)) => write!(f, ":{v4}"),
                    None => Ok(()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn active_targets() {
        assert_eq!(
            Target::parse("tcp:127.0.0.1:6633").unwrap(),
            Target::Tcp {
                host: "127.0.0.1".into(),
                port: 6633
            }
        );
        assert_eq!(
            Target::parse("ssl:switch.example").unwrap(),
            Target::Ssl {
                host: "switch.example".into(),
                port: DEFAULT_PORT
            }
        );
        assert_eq!(
            Target::parse("tcp:[::1]:7000").unwrap(),
            Target::Tcp {
                host: "::1".into(),
                port: 7000
            }
        );
        assert_eq!(
            Target::parse("tcp:[fe80::1]").unwrap(),
            Target::Tcp {
                host: "fe80::1".into(),
                port: DEFAULT_PORT
            }
        );
    }

    #[test]
    fn passive_targets() {
        assert_eq!(
            Target::parse("ptcp:").unwrap(),
            Target::Ptcp {
                port: DEFAULT_PORT,
                ip: None
            }
        );
        assert_eq!(
            Target::parse("ptcp").unwrap(),
            Target::Ptcp {
                port: DEFAULT_PORT,
                ip: None
            }
        );
        assert_eq!(
            Target::parse("pssl:6654:127.0.0.1").unwrap(),
            Target::Pssl {
                port: 6654,
                ip: Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
            }
        );
        assert_eq!(
            Target::parse("ptcp::[::1]").unwrap(),
            Target::Ptcp {
                port: DEFAULT_PORT,
                ip: Some(IpAddr::V6(Ipv6Addr::LOCALHOST))
            }
        );
        assert_eq!(
            Target::parse("ptcp:0:::1").unwrap(),
            Target::Ptcp {
                port: 0,
                ip: Some(IpAddr::V6(Ipv6Addr::LOCALHOST))
            }
        );
    }

    #[test]
    fn errors_are_typed() {
        assert!(matches!(
            Target::parse("unix:/tmp/x"),
            Err(TargetError::UnknownMethod { method, .. }) if method == "unix"
        ));
        assert!(matches!(
            Target::parse("tcp:"),
            Err(TargetError::MissingHost { .. })
        ));
        assert!(matches!(
            Target::parse("tcp::6653"),
            Err(TargetError::MissingHost { .. })
        ));
        assert!(matches!(
            Target::parse("tcp:h:70000"),
            Err(TargetError::BadPort { port, .. }) if port == "70000"
        ));
        assert!(matches!(
            Target::parse("tcp:h:+1"),
            Err(TargetError::BadPort { .. })
        ));
        assert!(matches!(
            Target::parse("tcp:::1:6653"),
            Err(TargetError::BadAddress { .. })
        ));
        assert!(matches!(
            Target::parse("tcp:[::1"),
            Err(TargetError::BadAddress { .. })
        ));
        assert!(matches!(
            Target::parse("tcp:[nothost]:1"),
            Err(TargetError::BadAddress { .. })
        ));
        assert!(matches!(
            Target::parse("ptcp:6653:notanip"),
            Err(TargetError::BadAddress { .. })
        ));
        assert!(matches!(
            Target::parse("pssl:x"),
            Err(TargetError::BadPort { .. })
        ));
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "tcp:127.0.0.1:6653",
            "ssl:switch.example:6654",
            "tcp:[::1]:7000",
            "ptcp:6653",
            "ptcp:0:127.0.0.1",
            "pssl:6653:[::1]",
        ] {
            let t = Target::parse(s).unwrap();
            assert_eq!(t.to_string(), s);
            assert_eq!(t.to_string().parse::<Target>().unwrap(), t);
        }
        assert!(Target::parse("ptcp:1").unwrap().is_passive());
        assert!(!Target::parse("ssl:h").unwrap().is_passive());
        assert!(Target::parse("pssl:1").unwrap().is_tls());
        assert!(!Target::parse("tcp:h").unwrap().is_tls());
    }
}
