//! IPv6 fixed header (RFC 8200), 40 bytes, its extension headers, and the
//! extension-header walk behind OpenFlow's `ipv6_exthdr` pseudo-field.

use super::{WireError, rd16, rd32, rd128, truncated, view, wr32};

/// Bits of the OXM `ipv6_exthdr` pseudo-field (OpenFlow 1.3.5 §7.2.3.7,
/// `enum ofp_ipv6exthdr_flags`).
pub mod exthdr {
    /// "No next header" (59) encountered.
    pub const NONEXT: u16 = 1 << 0;
    /// Encapsulating security payload present.
    pub const ESP: u16 = 1 << 1;
    /// Authentication header present.
    pub const AUTH: u16 = 1 << 2;
    /// One or two destination options headers present.
    pub const DEST: u16 = 1 << 3;
    /// Fragment header present.
    pub const FRAG: u16 = 1 << 4;
    /// Routing header present.
    pub const ROUTER: u16 = 1 << 5;
    /// Hop-by-hop options header present.
    pub const HOP: u16 = 1 << 6;
    /// Unexpected repeats encountered.
    pub const UNREP: u16 = 1 << 7;
    /// Unexpected sequencing encountered.
    pub const UNSEQ: u16 = 1 << 8;
}

/// Next-header values of the extension headers OpenFlow knows.
pub mod next_header {
    /// Hop-by-hop options
    pub const HOP_BY_HOP: u8 = 0;
    /// Routing
    pub const ROUTING: u8 = 43;
    /// Fragment
    pub const FRAGMENT: u8 = 44;
    /// Encapsulating security payload
    pub const ESP: u8 = 50;
    /// Authentication header
    pub const AUTH: u8 = 51;
    /// No next header
    pub const NO_NEXT: u8 = 59;
    /// Destination options
    pub const DEST_OPTS: u8 = 60;
}

mod field {
    pub(super) const VER_TC_FL: usize = 0;
    pub(super) const LENGTH: usize = 4;
    pub(super) const NXT_HDR: usize = 6;
    pub(super) const HOP_LIMIT: usize = 7;
    pub(super) const SRC: usize = 8;
    pub(super) const DST: usize = 24;
    pub(super) const PAYLOAD: usize = 40;
}

/// Length of the fixed header.
pub const HEADER_LEN: usize = field::PAYLOAD;
/// Offset of the hop limit.
pub const HOP_LIMIT_OFFSET: usize = field::HOP_LIMIT;
/// Offset of the source address.
pub const SRC_OFFSET: usize = field::SRC;
/// Offset of the destination address.
pub const DST_OFFSET: usize = field::DST;

view!(
    /// A view of an IPv6 packet.
    Packet
);

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks that the buffer holds the fixed header and the payload length
    /// (bytes beyond it, such as Ethernet padding, are ignored).
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        truncated(HEADER_LEN, len)?;
        truncated(HEADER_LEN + self.payload_len() as usize, len)
    }

    /// Version (6).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TC_FL] >> 4
    }

    /// Traffic class.
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        (rd16(self.buffer.as_ref(), field::VER_TC_FL) >> 4) as u8
    }

    /// DSCP (high 6 bits of the traffic class).
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.traffic_class() >> 2
    }

    /// ECN (low 2 bits of the traffic class).
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.traffic_class() & 3
    }

    /// Flow label (20 bits).
    #[inline]
    pub fn flow_label(&self) -> u32 {
        rd32(self.buffer.as_ref(), field::VER_TC_FL) & 0x000f_ffff
    }

    /// Payload length (extension headers included).
    #[inline]
    pub fn payload_len(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Next header of the fixed header.
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NXT_HDR]
    }

    /// Hop limit.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    /// Source address (the `u128` of its big-endian bytes).
    #[inline]
    pub fn src_addr(&self) -> u128 {
        rd128(self.buffer.as_ref(), field::SRC)
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> u128 {
        rd128(self.buffer.as_ref(), field::DST)
    }

    /// The payload (extension headers and upper layer), up to the payload
    /// length.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..field::PAYLOAD + self.payload_len() as usize]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version 6, the traffic class and the flow label.
    #[inline]
    pub fn set_version_tc_flow_label(&mut self, tc: u8, flow_label: u32) {
        let v = (6 << 28) | ((tc as u32) << 20) | (flow_label & 0x000f_ffff);
        wr32(self.buffer.as_mut(), field::VER_TC_FL, v);
    }

    /// Sets the traffic class.
    #[inline]
    pub fn set_traffic_class(&mut self, tc: u8) {
        let w = rd32(self.buffer.as_ref(), field::VER_TC_FL);
        wr32(
            self.buffer.as_mut(),
            field::VER_TC_FL,
            (w & 0xf00f_ffff) | ((tc as u32) << 20),
        );
    }

    /// Sets the flow label (low 20 bits).
    #[inline]
    pub fn set_flow_label(&mut self, fl: u32) {
        let w = rd32(self.buffer.as_ref(), field::VER_TC_FL);
        wr32(
            self.buffer.as_mut(),
            field::VER_TC_FL,
            (w & 0xfff0_0000) | (fl & 0x000f_ffff),
        );
    }

    /// Sets the payload length.
    #[inline]
    pub fn set_payload_len(&mut self, v: u16) {
        self.buffer.as_mut()[field::LENGTH..field::LENGTH + 2].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the next header.
    #[inline]
    pub fn set_next_header(&mut self, v: u8) {
        self.buffer.as_mut()[field::NXT_HDR] = v;
    }

    /// Sets the hop limit.
    #[inline]
    pub fn set_hop_limit(&mut self, v: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = v;
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, a: u128) {
        self.buffer.as_mut()[field::SRC..field::SRC + 16].copy_from_slice(&a.to_be_bytes());
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, a: u128) {
        self.buffer.as_mut()[field::DST..field::DST + 16].copy_from_slice(&a.to_be_bytes());
    }
}

view!(
    /// A view of an extension header in the common "next header, length"
    /// format (hop-by-hop, routing, destination options: length in 8-byte
    /// units not counting the first; authentication: in 4-byte units not
    /// counting the first two; see [`ExtHeader::header_len_for`]).
    ExtHeader
);

impl<T: AsRef<[u8]>> ExtHeader<T> {
    /// Checks that the buffer holds the first two bytes (use
    /// [`ExtHeader::header_len_for`] for the whole header).
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        truncated(2, self.buffer.as_ref().len())
    }

    /// Next header.
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    /// The raw length byte.
    #[inline]
    pub fn hdr_ext_len(&self) -> u8 {
        self.buffer.as_ref()[1]
    }

    /// Length in bytes of this header when it is of kind `nh` (the next
    /// header value that announced it).
    #[inline]
    pub fn header_len_for(&self, nh: u8) -> usize {
        match nh {
            next_header::AUTH => (self.hdr_ext_len() as usize + 2) * 4,
            next_header::FRAGMENT => FRAG_HEADER_LEN,
            _ => (self.hdr_ext_len() as usize + 1) * 8,
        }
    }
}

/// Length of the fragment header.
pub const FRAG_HEADER_LEN: usize = 8;

view!(
    /// A view of a fragment extension header.
    FragHeader
);

impl<T: AsRef<[u8]>> FragHeader<T> {
    /// Checks that the buffer holds the 8 bytes.
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        truncated(FRAG_HEADER_LEN, self.buffer.as_ref().len())
    }

    /// Next header.
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    /// Fragment offset in bytes.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        rd16(self.buffer.as_ref(), 2) & 0xfff8
    }

    /// More-fragments flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        rd16(self.buffer.as_ref(), 2) & 1 != 0
    }

    /// Identification.
    #[inline]
    pub fn ident(&self) -> u32 {
        rd32(self.buffer.as_ref(), 4)
    }
}

/// What [`walk_ext_headers`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtWalk {
    /// The `ipv6_exthdr` bits ([`exthdr`]).
    pub flags: u16,
    /// The upper-layer protocol (`ip_proto`): the first next-header value
    /// that is not a walked extension header; 50 after ESP, 59 for "no next
    /// header", the fragment's next header for a later fragment. `None` when
    /// an extension header is truncated.
    pub upper: Option<u8>,
    /// Offset of the upper-layer header from the start of the IPv6 payload.
    pub offset: usize,
    /// True when a fragment header with a non-zero offset was met: the
    /// upper-layer header is not in this packet.
    pub later_fragment: bool,
}

/// Walks the extension headers of an IPv6 `payload` whose first header is
/// `nh` (the fixed header's next header).
///
/// Sequencing follows RFC 8200 §4.1: hop-by-hop (only first), destination
/// options (before routing), routing, fragment, authentication, ESP,
/// destination options (final). A header out of this order sets UNSEQ; a
/// header met twice (a destination options header may appear once before
/// and once after routing/fragment/AH/ESP) sets UNREP. The walk stops at ESP
/// (what follows is encrypted), at "no next header", at a later fragment,
/// and at the first next-header value that is not one of the seven.
#[inline]
pub fn walk_ext_headers(nh: u8, payload: &[u8]) -> ExtWalk {
    use next_header as nhv;
    // Most packets have no extension header: answer those without the loop.
    if !matches!(
        nh,
        nhv::HOP_BY_HOP
            | nhv::ROUTING
            | nhv::FRAGMENT
            | nhv::ESP
            | nhv::AUTH
            | nhv::NO_NEXT
            | nhv::DEST_OPTS
    ) {
        return ExtWalk {
            flags: 0,
            upper: Some(nh),
            offset: 0,
            later_fragment: false,
        };
    }
    walk_slow(nh, payload)
}

#[inline(never)]
fn walk_slow(mut nh: u8, payload: &[u8]) -> ExtWalk {
    use next_header as nhv;
    let mut w = ExtWalk {
        flags: 0,
        upper: None,
        offset: 0,
        later_fragment: false,
    };
    let mut last_rank = 0u8;
    let mut dest_early = false;
    let mut dest_late = false;
    loop {
        let (flag, rank) = match nh {
            nhv::HOP_BY_HOP => (exthdr::HOP, 1),
            nhv::ROUTING => (exthdr::ROUTER, 3),
            nhv::FRAGMENT => (exthdr::FRAG, 4),
            nhv::AUTH => (exthdr::AUTH, 5),
            nhv::ESP => (exthdr::ESP, 6),
            nhv::DEST_OPTS => {
                let late =
                    w.flags & (exthdr::ROUTER | exthdr::FRAG | exthdr::AUTH | exthdr::ESP) != 0;
                (exthdr::DEST, if late { 7 } else { 2 })
            }
            nhv::NO_NEXT => {
                w.flags |= exthdr::NONEXT;
                w.upper = Some(nh);
                return w;
            }
            _ => {
                w.upper = Some(nh);
                return w;
            }
        };
        let rest = payload.get(w.offset..).unwrap_or(&[]);
        let len = if nh == nhv::ESP {
            0
        } else {
            let Ok(h) = ExtHeader::new_checked(rest) else {
                return w;
            };
            let len = h.header_len_for(nh);
            if rest.len() < len {
                return w;
            }
            len
        };
        let repeated = if flag == exthdr::DEST {
            let seen = if rank == 2 {
                &mut dest_early
            } else {
                &mut dest_late
            };
            core::mem::replace(seen, true)
        } else {
            w.flags & flag != 0
        };
        if repeated {
            w.flags |= exthdr::UNREP;
        }
        // Hop-by-hop must come right after the fixed header; the others must
        // not go backwards in the RFC order.
        if (flag == exthdr::HOP && w.flags != 0 && !repeated) || rank < last_rank {
            w.flags |= exthdr::UNSEQ;
        }
        last_rank = last_rank.max(rank);
        w.flags |= flag;
        if nh == nhv::ESP {
            w.upper = Some(nh);
            return w;
        }
        if nh == nhv::FRAGMENT {
            let f = FragHeader::new_unchecked(rest);
            if f.frag_offset() != 0 {
                w.later_fragment = true;
                w.offset += len;
                w.upper = Some(f.next_header());
                return w;
            }
        }
        nh = rest[0];
        w.offset += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes() -> [u8; 44] {
        let mut b = [0u8; 44];
        // TC 0xb9 (DSCP 46, ECN 1), flow label 0x12345.
        b[..4].copy_from_slice(&[0x6b, 0x91, 0x23, 0x45]);
        b[4..6].copy_from_slice(&[0, 4]);
        b[6] = 17;
        b[7] = 64;
        b[8] = 0x20;
        b[9] = 0x01;
        b[23] = 1;
        b[24] = 0xfe;
        b[25] = 0x80;
        b[39] = 2;
        b[40..44].copy_from_slice(&[1, 2, 3, 4]);
        b
    }

    #[test]
    fn test_parse() {
        let b = bytes();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0xb9);
        assert_eq!(p.dscp(), 46);
        assert_eq!(p.ecn(), 1);
        assert_eq!(p.flow_label(), 0x12345);
        assert_eq!(p.payload_len(), 4);
        assert_eq!(p.next_header(), 17);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.src_addr(), 0x2001 << 112 | 1);
        assert_eq!(p.dst_addr(), 0xfe80 << 112 | 2);
        assert_eq!(p.payload(), &[1, 2, 3, 4]);
    }

    #[test]
    fn test_emit() {
        let mut b = [0u8; 44];
        b[40..44].copy_from_slice(&[1, 2, 3, 4]);
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_version_tc_flow_label(0, 0);
        p.set_traffic_class(0xb9);
        p.set_flow_label(0xf12345);
        p.set_payload_len(4);
        p.set_next_header(17);
        p.set_hop_limit(64);
        p.set_src_addr(0x2001 << 112 | 1);
        p.set_dst_addr(0xfe80 << 112 | 2);
        assert_eq!(b, bytes());
    }

    #[test]
    fn test_length_errors() {
        let b = bytes();
        assert!(Packet::new_checked(&b[..39]).is_err());
        assert_eq!(
            Packet::new_checked(&b[..43]),
            Err(WireError::Truncated { need: 44, have: 43 })
        );
    }

    #[test]
    fn ext_header_views() {
        let h = [6u8, 1, 0, 0];
        let e = ExtHeader::new_checked(&h[..]).unwrap();
        assert_eq!(e.next_header(), 6);
        assert_eq!(e.header_len_for(next_header::HOP_BY_HOP), 16);
        assert_eq!(e.header_len_for(next_header::AUTH), 12);
        assert_eq!(e.header_len_for(next_header::FRAGMENT), 8);
        let f = [17u8, 0, 0x01, 0x91, 0xde, 0xad, 0xbe, 0xef];
        let f = FragHeader::new_checked(&f[..]).unwrap();
        assert_eq!(f.next_header(), 17);
        assert_eq!(f.frag_offset(), 0x190);
        assert!(f.more_frags());
        assert_eq!(f.ident(), 0xdead_beef);
        assert!(FragHeader::new_checked(&[0u8; 7][..]).is_err());
    }

    fn hdr(nh: u8, len8: usize) -> Vec<u8> {
        let mut v = vec![0u8; len8 * 8];
        v[0] = nh;
        v[1] = (len8 - 1) as u8;
        v
    }

    #[test]
    fn walk_in_order() {
        let p = [
            hdr(60, 1),                                // hop-by-hop
            hdr(43, 1),                                // destination options
            hdr(44, 3),                                // routing
            vec![51, 0, 0, 0, 0, 0, 0, 0],             // fragment, offset 0
            vec![60, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], // AH, 12 bytes
            hdr(6, 1),                                 // destination options
            vec![0; 20],
        ]
        .concat();
        let w = walk_ext_headers(0, &p);
        assert_eq!(
            w.flags,
            exthdr::HOP | exthdr::DEST | exthdr::ROUTER | exthdr::FRAG | exthdr::AUTH
        );
        assert_eq!(w.upper, Some(6));
        assert_eq!(w.offset, 8 + 8 + 24 + 8 + 12 + 8);
        assert!(!w.later_fragment);
    }

    #[test]
    fn walk_unrep_unseq_and_stops() {
        // Hop-by-hop twice.
        let mut p = hdr(0, 1);
        p.extend(hdr(6, 1));
        let w = walk_ext_headers(0, &p);
        assert_eq!(w.flags, exthdr::HOP | exthdr::UNREP);
        // Routing after fragment.
        let mut p = vec![43, 0, 0, 0, 0, 0, 0, 0];
        p.extend(hdr(17, 1));
        assert_eq!(
            walk_ext_headers(44, &p).flags,
            exthdr::FRAG | exthdr::ROUTER | exthdr::UNSEQ
        );
        // Hop-by-hop not first.
        let p = [hdr(0, 1), hdr(59, 1)].concat();
        let w = walk_ext_headers(60, &p);
        assert_eq!(
            w.flags,
            exthdr::DEST | exthdr::HOP | exthdr::UNSEQ | exthdr::NONEXT
        );
        assert_eq!(w.upper, Some(59));
        // Two destination options around routing are fine; a third repeats.
        let p = [hdr(43, 1), hdr(60, 1), hdr(60, 1), hdr(6, 1)].concat();
        let w = walk_ext_headers(60, &p);
        assert_eq!(w.flags, exthdr::DEST | exthdr::ROUTER | exthdr::UNREP);
        let w = walk_ext_headers(60, &p[..16]);
        assert_eq!(w.flags, exthdr::DEST | exthdr::ROUTER);
        assert_eq!(w.upper, None, "third header missing");
        // ESP stops the walk.
        let w = walk_ext_headers(50, &[]);
        assert_eq!((w.flags, w.upper), (exthdr::ESP, Some(50)));
        // A later fragment stops too.
        let w = walk_ext_headers(44, &[17, 0, 0, 0x10, 0, 0, 0, 1, 0xff]);
        assert_eq!(
            (w.flags, w.upper, w.offset, w.later_fragment),
            (exthdr::FRAG, Some(17), 8, true)
        );
        // Truncated header.
        let w = walk_ext_headers(0, &[6, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!((w.flags, w.upper), (0, None));
        // No extension header at all.
        let w = walk_ext_headers(6, &[]);
        assert_eq!((w.flags, w.upper, w.offset), (0, Some(6), 0));
    }
}
