//! IPv4 header (RFC 791), 20 bytes plus options.

use super::checksum::internet_checksum;
use super::{WireError, rd16, rd32, truncated, view, wr16, wr32};

/// IP protocol numbers the switch parses.
pub mod protocol {
    /// ICMP
    pub const ICMP: u8 = 1;
    /// TCP
    pub const TCP: u8 = 6;
    /// UDP
    pub const UDP: u8 = 17;
    /// ICMPv6
    pub const ICMPV6: u8 = 58;
    /// SCTP
    pub const SCTP: u8 = 132;
}

mod field {
    pub(super) const VER_IHL: usize = 0;
    pub(super) const TOS: usize = 1;
    pub(super) const LENGTH: usize = 2;
    pub(super) const IDENT: usize = 4;
    pub(super) const FLG_OFF: usize = 6;
    pub(super) const TTL: usize = 8;
    pub(super) const PROTOCOL: usize = 9;
    pub(super) const CHECKSUM: usize = 10;
    pub(super) const SRC: usize = 12;
    pub(super) const DST: usize = 16;
    pub(super) const OPTIONS: usize = 20;
}

/// Offset of the checksum field (for incremental updates).
pub const CHECKSUM_OFFSET: usize = field::CHECKSUM;
/// Offset of the TTL field.
pub const TTL_OFFSET: usize = field::TTL;
/// Offset of the TOS (DSCP/ECN) field.
pub const TOS_OFFSET: usize = field::TOS;
/// Offset of the source address.
pub const SRC_OFFSET: usize = field::SRC;
/// Offset of the destination address.
pub const DST_OFFSET: usize = field::DST;
/// Length of the header without options.
pub const MIN_HEADER_LEN: usize = field::OPTIONS;

view!(
    /// A view of an IPv4 packet.
    Packet
);

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks that the buffer holds the fixed header, that IHL is at least 5,
    /// and that `IHL*4 <= total length <= buffer length` (bytes after the
    /// total length, such as Ethernet padding, are allowed and ignored).
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        truncated(MIN_HEADER_LEN, len)?;
        let hl = self.header_len();
        if hl < MIN_HEADER_LEN {
            return Err(WireError::Malformed);
        }
        truncated(hl, len)?;
        let tl = self.total_len() as usize;
        if tl < hl {
            return Err(WireError::Malformed);
        }
        truncated(tl, len)
    }

    /// Version (4).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL*4).
    #[inline]
    pub fn header_len(&self) -> usize {
        ((self.buffer.as_ref()[field::VER_IHL] & 0x0f) as usize) * 4
    }

    /// The type-of-service byte.
    #[inline]
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }

    /// Differentiated services code point (6 bits).
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.tos() >> 2
    }

    /// Explicit congestion notification (2 bits).
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.tos() & 3
    }

    /// Total length (header and payload).
    #[inline]
    pub fn total_len(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Identification.
    #[inline]
    pub fn ident(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::IDENT)
    }

    /// Don't-fragment flag.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        rd16(self.buffer.as_ref(), field::FLG_OFF) & 0x4000 != 0
    }

    /// More-fragments flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        rd16(self.buffer.as_ref(), field::FLG_OFF) & 0x2000 != 0
    }

    /// Fragment offset in bytes.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (rd16(self.buffer.as_ref(), field::FLG_OFF) & 0x1fff) << 3
    }

    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Protocol of the payload.
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    /// Header checksum.
    #[inline]
    pub fn checksum(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Source address (the `u32` of its big-endian bytes).
    #[inline]
    pub fn src_addr(&self) -> u32 {
        rd32(self.buffer.as_ref(), field::SRC)
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> u32 {
        rd32(self.buffer.as_ref(), field::DST)
    }

    /// Options (between the fixed header and IHL*4).
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS..self.header_len()]
    }

    /// The payload, up to the total length.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..self.total_len() as usize]
    }

    /// True when the header checksum is right.
    pub fn verify_checksum(&self) -> bool {
        internet_checksum(&self.buffer.as_ref()[..self.header_len()]) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version 4 and the header length (bytes, a multiple of 4).
    #[inline]
    pub fn set_version_and_header_len(&mut self, header_len: usize) {
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | ((header_len / 4) as u8 & 0x0f);
    }

    /// Sets the type-of-service byte.
    #[inline]
    pub fn set_tos(&mut self, v: u8) {
        self.buffer.as_mut()[field::TOS] = v;
    }

    /// Sets the total length.
    #[inline]
    pub fn set_total_len(&mut self, v: u16) {
        wr16(self.buffer.as_mut(), field::LENGTH, v);
    }

    /// Sets the identification.
    #[inline]
    pub fn set_ident(&mut self, v: u16) {
        wr16(self.buffer.as_mut(), field::IDENT, v);
    }

    /// Sets flags and fragment offset (bytes, a multiple of 8).
    #[inline]
    pub fn set_frag(&mut self, dont_frag: bool, more_frags: bool, offset: u16) {
        let v = (offset >> 3)
            | if dont_frag { 0x4000 } else { 0 }
            | if more_frags { 0x2000 } else { 0 };
        wr16(self.buffer.as_mut(), field::FLG_OFF, v);
    }

    /// Sets the TTL.
    #[inline]
    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }

    /// Sets the protocol.
    #[inline]
    pub fn set_protocol(&mut self, v: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = v;
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        wr16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, v: u32) {
        wr32(self.buffer.as_mut(), field::SRC, v);
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, v: u32) {
        wr32(self.buffer.as_mut(), field::DST, v);
    }

    /// Recomputes the header checksum from scratch.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = internet_checksum(&self.buffer.as_ref()[..self.header_len()]);
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // IHL 6 (one option word), TOS 0xb9 (DSCP 46, ECN 1), total 28, ident
    // 0x1234, MF with offset 8, TTL 64, UDP, 10.0.0.1 -> 10.0.0.2, option
    // NOP x4, 4 payload bytes, then 2 bytes of padding.
    fn bytes() -> [u8; 30] {
        let mut b = [
            0x46, 0xb9, 0x00, 0x1c, 0x12, 0x34, 0x20, 0x01, 0x40, 0x11, 0x00, 0x00, 10, 0, 0, 1,
            10, 0, 0, 2, 1, 1, 1, 1, 0xde, 0xad, 0xbe, 0xef, 0, 0,
        ];
        let c = internet_checksum(&b[..24]);
        b[10..12].copy_from_slice(&c.to_be_bytes());
        b
    }

    #[test]
    fn test_parse() {
        let b = bytes();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.dscp(), 46);
        assert_eq!(p.ecn(), 1);
        assert_eq!(p.total_len(), 28);
        assert_eq!(p.ident(), 0x1234);
        assert!(!p.dont_frag());
        assert!(p.more_frags());
        assert_eq!(p.frag_offset(), 8);
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), protocol::UDP);
        assert_eq!(p.src_addr(), 0x0a00_0001);
        assert_eq!(p.dst_addr(), 0x0a00_0002);
        assert_eq!(p.options(), &[1, 1, 1, 1]);
        assert_eq!(p.payload(), &[0xde, 0xad, 0xbe, 0xef]);
        assert!(p.verify_checksum());
    }

    #[test]
    fn test_emit() {
        let mut b = [0u8; 30];
        b[20..28].copy_from_slice(&[1, 1, 1, 1, 0xde, 0xad, 0xbe, 0xef]);
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_version_and_header_len(24);
        p.set_tos(0xb9);
        p.set_total_len(28);
        p.set_ident(0x1234);
        p.set_frag(false, true, 8);
        p.set_ttl(64);
        p.set_protocol(17);
        p.set_src_addr(0x0a00_0001);
        p.set_dst_addr(0x0a00_0002);
        p.fill_checksum();
        assert_eq!(b, bytes());
    }

    #[test]
    fn test_length_errors() {
        let b = bytes();
        assert_eq!(
            Packet::new_checked(&b[..19]),
            Err(WireError::Truncated { need: 20, have: 19 })
        );
        assert_eq!(
            Packet::new_checked(&b[..22]),
            Err(WireError::Truncated { need: 24, have: 22 })
        );
        assert_eq!(
            Packet::new_checked(&b[..27]),
            Err(WireError::Truncated { need: 28, have: 27 })
        );
        let mut m = b;
        m[0] = 0x44;
        assert_eq!(Packet::new_checked(&m[..]), Err(WireError::Malformed));
        let mut m = b;
        m[3] = 20;
        assert_eq!(Packet::new_checked(&m[..]), Err(WireError::Malformed));
    }
}
