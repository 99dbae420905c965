//! `ofp_port` (OpenFlow 1.3.5 §7.2.1) and the port-number, config, state and
//! feature constants that go with it.
//!
//! A port description is a fixed 64-byte structure; it travels in PORT_STATUS
//! and in the PORT_DESC multipart reply. The 16-byte name is kept as raw bytes
//! rather than a `String`: the spec only says it is NUL-terminated, switches in
//! the field send names padded with garbage after the NUL or without a NUL at
//! all, and keeping the bytes is the only way such a description round-trips.
//! [`Port::name_str`] and [`Port::with_name`] give the text view.
//!
//! Padding bytes are ignored on input and written as zeros.

use std::borrow::Cow;

use bytes::BufMut;

use crate::error::Element;
use crate::wire::{PResult, Wire, array_at, put_zeros, skip, take, u32_at};

/// Reserved port numbers (`ofp_port_no`).
pub mod port_no {
    /// OFPP_MAX: last usable physical port number.
    pub const MAX: u32 = 0xffff_ff00;
    /// OFPP_IN_PORT
    pub const IN_PORT: u32 = 0xffff_fff8;
    /// OFPP_TABLE
    pub const TABLE: u32 = 0xffff_fff9;
    /// OFPP_NORMAL
    pub const NORMAL: u32 = 0xffff_fffa;
    /// OFPP_FLOOD
    pub const FLOOD: u32 = 0xffff_fffb;
    /// OFPP_ALL
    pub const ALL: u32 = 0xffff_fffc;
    /// OFPP_CONTROLLER
    pub const CONTROLLER: u32 = 0xffff_fffd;
    /// OFPP_LOCAL
    pub const LOCAL: u32 = 0xffff_fffe;
    /// OFPP_ANY
    pub const ANY: u32 = 0xffff_ffff;
}

/// `ofp_port_config` bits (`Port::config`, PORT_MOD `config`/`mask`).
pub mod port_config {
    /// OFPPC_PORT_DOWN: the port is administratively down.
    pub const PORT_DOWN: u32 = 1 << 0;
    /// OFPPC_NO_RECV: drop all packets received by the port.
    pub const NO_RECV: u32 = 1 << 2;
    /// OFPPC_NO_FWD: drop packets forwarded to the port.
    pub const NO_FWD: u32 = 1 << 5;
    /// OFPPC_NO_PACKET_IN: do not send packet-in messages for the port.
    pub const NO_PACKET_IN: u32 = 1 << 6;
}

/// `ofp_port_state` bits (`Port::state`).
pub mod port_state {
    /// OFPPS_LINK_DOWN: no physical link present.
    pub const LINK_DOWN: u32 = 1 << 0;
    /// OFPPS_BLOCKED: the port is blocked (e.g. by spanning tree).
    pub const BLOCKED: u32 = 1 << 1;
    /// OFPPS_LIVE: live for fast-failover groups.
    pub const LIVE: u32 = 1 << 2;
}

/// `ofp_port_features` bits (`curr`, `advertised`, `supported`, `peer`).
///
/// The spec names start with a digit (`OFPPF_10MB_HD`), which Rust does not
/// allow, so the rate bits are spelled `RATE_*`.
pub mod port_features {
    /// OFPPF_10MB_HD
    pub const RATE_10MB_HD: u32 = 1 << 0;
    /// OFPPF_10MB_FD
    pub const RATE_10MB_FD: u32 = 1 << 1;
    /// OFPPF_100MB_HD
    pub const RATE_100MB_HD: u32 = 1 << 2;
    /// OFPPF_100MB_FD
    pub const RATE_100MB_FD: u32 = 1 << 3;
    /// OFPPF_1GB_HD
    pub const RATE_1GB_HD: u32 = 1 << 4;
    /// OFPPF_1GB_FD
    pub const RATE_1GB_FD: u32 = 1 << 5;
    /// OFPPF_10GB_FD
    pub const RATE_10GB_FD: u32 = 1 << 6;
    /// OFPPF_40GB_FD
    pub const RATE_40GB_FD: u32 = 1 << 7;
    /// OFPPF_100GB_FD
    pub const RATE_100GB_FD: u32 = 1 << 8;
    /// OFPPF_1TB_FD
    pub const RATE_1TB_FD: u32 = 1 << 9;
    /// OFPPF_OTHER: a rate not in the list above.
    pub const OTHER: u32 = 1 << 10;
    /// OFPPF_COPPER
    pub const COPPER: u32 = 1 << 11;
    /// OFPPF_FIBER
    pub const FIBER: u32 = 1 << 12;
    /// OFPPF_AUTONEG
    pub const AUTONEG: u32 = 1 << 13;
    /// OFPPF_PAUSE
    pub const PAUSE: u32 = 1 << 14;
    /// OFPPF_PAUSE_ASYM
    pub const PAUSE_ASYM: u32 = 1 << 15;
}

/// Maximum length of a port name including its terminating NUL
/// (`OFP_MAX_PORT_NAME_LEN`).
pub const OFP_MAX_PORT_NAME_LEN: usize = 16;

/// `ofp_port`: 64 bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Port {
    /// port_no
    pub port_no: u32,
    /// hw_addr
    pub hw_addr: [u8; 6],
    /// name: NUL-padded, kept as the 16 raw bytes so it round-trips.
    pub name: [u8; 16],
    /// config (OFPPC_*)
    pub config: u32,
    /// state (OFPPS_*)
    pub state: u32,
    /// curr (OFPPF_*)
    pub curr: u32,
    /// advertised
    pub advertised: u32,
    /// supported
    pub supported: u32,
    /// peer
    pub peer: u32,
    /// curr_speed, kbps
    pub curr_speed: u32,
    /// max_speed, kbps
    pub max_speed: u32,
}

impl Port {
    /// Size of `ofp_port` on the wire.
    pub const LEN: usize = 64;

    /// A description with the given number and address and every other field
    /// zero (no name, no features).
    pub fn new(port_no: u32, hw_addr: [u8; 6]) -> Self {
        Self {
            port_no,
            hw_addr,
            ..Self::default()
        }
    }

    /// Returns the description with its name set to `name` (see
    /// [`Port::set_name`]).
    #[must_use]
    pub fn with_name(mut self, name: &str) -> Self {
        self.set_name(name);
        self
    }

    /// Sets the name. At most 15 bytes are kept so that the name stays
    /// NUL-terminated, as the spec requires; a longer name is cut at the last
    /// character boundary that fits.
    pub fn set_name(&mut self, name: &str) {
        let mut end = name.len().min(OFP_MAX_PORT_NAME_LEN - 1);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        self.name = [0; 16];
        self.name[..end].copy_from_slice(&name.as_bytes()[..end]);
    }

    /// The name up to its first NUL (all 16 bytes when there is none). Bytes
    /// that are not UTF-8 are replaced with U+FFFD.
    pub fn name_str(&self) -> Cow<'_, str> {
        let end = self.name.iter().position(|&b| b == 0).unwrap_or(16);
        String::from_utf8_lossy(&self.name[..end])
    }

    /// Whether the port is administratively down (OFPPC_PORT_DOWN).
    pub fn is_admin_down(&self) -> bool {
        self.config & port_config::PORT_DOWN != 0
    }

    /// Whether the link is down (OFPPS_LINK_DOWN).
    pub fn is_link_down(&self) -> bool {
        self.state & port_state::LINK_DOWN != 0
    }
}

impl Wire for Port {
    fn parse(input: &[u8]) -> PResult<'_, Self> {
        const E: Element = Element::Port;
        // One length check up front; the field reads below cannot fail after it.
        let (rest, b) = take(E, input, Self::LEN)?;
        let (b, port_no) = u32_at(E, b)?;
        let (b, ()) = skip(E, b, 4)?;
        let (b, hw_addr) = array_at::<6>(E, b)?;
        let (b, ()) = skip(E, b, 2)?;
        let (b, name) = array_at::<16>(E, b)?;
        let (b, config) = u32_at(E, b)?;
        let (b, state) = u32_at(E, b)?;
        let (b, curr) = u32_at(E, b)?;
        let (b, advertised) = u32_at(E, b)?;
        let (b, supported) = u32_at(E, b)?;
        let (b, peer) = u32_at(E, b)?;
        let (b, curr_speed) = u32_at(E, b)?;
        let (_, max_speed) = u32_at(E, b)?;
        Ok((
            rest,
            Self {
                port_no,
                hw_addr,
                name,
                config,
                state,
                curr,
                advertised,
                supported,
                peer,
                curr_speed,
                max_speed,
            },
        ))
    }

    fn wire_len(&self) -> usize {
        Self::LEN
    }

    fn emit<B: BufMut>(&self, out: &mut B) {
        out.put_u32(self.port_no);
        put_zeros(out, 4);
        out.put_slice(&self.hw_addr);
        put_zeros(out, 2);
        out.put_slice(&self.name);
        out.put_u32(self.config);
        out.put_u32(self.state);
        out.put_u32(self.curr);
        out.put_u32(self.advertised);
        out.put_u32(self.supported);
        out.put_u32(self.peer);
        out.put_u32(self.curr_speed);
        out.put_u32(self.max_speed);
    }
}

/// Proptest strategies for port descriptions (other modules' tests use them).
#[cfg(test)]
pub(crate) mod strategy {
    use super::Port;
    use proptest::prelude::*;

    /// Any port description (every value is canonical: the name is raw bytes).
    pub(crate) fn port() -> impl Strategy<Value = Port> {
        (
            any::<u32>(),
            any::<[u8; 6]>(),
            any::<[u8; 16]>(),
            any::<[u32; 8]>(),
        )
            .prop_map(|(port_no, hw_addr, name, f)| Port {
                port_no,
                hw_addr,
                name,
                config: f[0],
                state: f[1],
                curr: f[2],
                advertised: f[3],
                supported: f[4],
                peer: f[5],
                curr_speed: f[6],
                max_speed: f[7],
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorCode, ParseErrorKind};
    use crate::wire::into_error;
    use proptest::prelude::*;

    #[rustfmt::skip]
    static PORT_BYTES: [u8; 64] = [
        0x00, 0x00, 0x00, 0x03,                         // port_no 3
        0x00, 0x00, 0x00, 0x00,                         // pad
        0x02, 0x00, 0x00, 0x00, 0x00, 0x03,             // hw_addr
        0x00, 0x00,                                     // pad
        b'v', b'e', b't', b'h', b'3', 0, 0, 0,          // name "veth3"
        0, 0, 0, 0, 0, 0, 0, 0,
        0x00, 0x00, 0x00, 0x01,                         // config PORT_DOWN
        0x00, 0x00, 0x00, 0x04,                         // state LIVE
        0x00, 0x00, 0x28, 0x40,                         // curr 10GB_FD|COPPER|AUTONEG
        0x00, 0x00, 0x20, 0x40,                         // advertised
        0x00, 0x00, 0x20, 0x7f,                         // supported
        0x00, 0x00, 0x00, 0x00,                         // peer
        0x00, 0x98, 0x96, 0x80,                         // curr_speed 10_000_000 kbps
        0x00, 0x98, 0x96, 0x80,                         // max_speed
    ];

    fn port_value() -> Port {
        Port {
            port_no: 3,
            hw_addr: [0x02, 0, 0, 0, 0, 0x03],
            name: *b"veth3\0\0\0\0\0\0\0\0\0\0\0",
            config: port_config::PORT_DOWN,
            state: port_state::LIVE,
            curr: port_features::RATE_10GB_FD | port_features::COPPER | port_features::AUTONEG,
            advertised: port_features::RATE_10GB_FD | port_features::AUTONEG,
            supported: 0x207f,
            peer: 0,
            curr_speed: 10_000_000,
            max_speed: 10_000_000,
        }
    }

    #[test]
    fn parse_port() {
        let (rest, p) = Port::parse(&PORT_BYTES).unwrap();
        assert!(rest.is_empty());
        assert_eq!(p, port_value());
        assert_eq!(p.name_str(), "veth3");
        assert!(p.is_admin_down());
        assert!(!p.is_link_down());
    }

    #[test]
    fn emit_port() {
        let p = port_value();
        assert_eq!(p.wire_len(), 64);
        assert_eq!(p.to_vec(), PORT_BYTES);
    }

    #[test]
    fn padding_is_ignored_on_input() {
        let mut b = PORT_BYTES;
        b[4..8].copy_from_slice(&[0xff; 4]);
        b[14..16].copy_from_slice(&[0xff; 2]);
        assert_eq!(Port::parse(&b).unwrap().1, port_value());
    }

    #[test]
    fn parse_leaves_following_bytes() {
        let mut b = PORT_BYTES.to_vec();
        b.extend_from_slice(&[9, 9]);
        assert_eq!(Port::parse(&b).unwrap().0, &[9, 9]);
    }

    #[test]
    fn truncated_port_is_typed() {
        let e = into_error(Port::parse(&PORT_BYTES[..63]).unwrap_err(), &[]);
        assert_eq!(
            e.kind(),
            &ParseErrorKind::Truncated {
                element: Element::Port,
                needed: 64,
                available: 63
            }
        );
        assert_eq!(e.offset(), 63);
        assert_eq!(e.error_code(), ErrorCode::from_raw(1, 6));
    }

    #[test]
    fn names() {
        let p = Port::new(1, [0; 6]).with_name("eth0");
        assert_eq!(&p.name[..5], b"eth0\0");
        assert_eq!(p.name_str(), "eth0");
        // Long names keep a terminating NUL.
        let p = Port::default().with_name("a-very-long-port-name");
        assert_eq!(p.name_str(), "a-very-long-por");
        assert_eq!(p.name[15], 0);
        // Never splits a character: 'é' is 2 bytes, 8 of them are 16 bytes.
        let p = Port::default().with_name("éééééééé");
        assert_eq!(p.name_str(), "ééééééé");
        // A name without NUL uses all 16 bytes.
        let p = Port {
            name: *b"0123456789abcdef",
            ..Port::default()
        };
        assert_eq!(p.name_str(), "0123456789abcdef");
        // Garbage after the NUL is not part of the name.
        let p = Port {
            name: *b"br0\0xxxxxxxxxxxx",
            ..Port::default()
        };
        assert_eq!(p.name_str(), "br0");
    }

    proptest! {
        #[test]
        fn round_trip(p in strategy::port()) {
            let b = p.to_vec();
            prop_assert_eq!(b.len(), p.wire_len());
            let (rest, q) = Port::parse(&b).unwrap();
            prop_assert!(rest.is_empty());
            prop_assert_eq!(q, p);
        }

        #[test]
        fn parse_never_panics(b in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = Port::parse(&b);
        }
    }
}
