//! Ethernet II header (IEEE 802.3 with an ethertype), 14 bytes.

use super::{Field, WireError, rd_mac, rd16, rd64, truncated, view, wr16};

/// Ethertypes the switch parses.
pub mod ethertype {
    /// IPv4
    pub const IPV4: u16 = 0x0800;
    /// ARP
    pub const ARP: u16 = 0x0806;
    /// 802.1Q customer VLAN tag
    pub const VLAN: u16 = 0x8100;
    /// 802.1ad service VLAN tag (QinQ)
    pub const QINQ: u16 = 0x88a8;
    /// IPv6
    pub const IPV6: u16 = 0x86dd;
    /// MPLS unicast
    pub const MPLS: u16 = 0x8847;
    /// MPLS multicast
    pub const MPLS_MC: u16 = 0x8848;
    /// 802.1ah provider backbone bridging I-TAG
    pub const PBB: u16 = 0x88e7;
    /// The `eth_type` of a frame without an ethertype (802.3 length field
    /// and no LLC/SNAP), as Open vSwitch reports it.
    pub const NONE: u16 = 0x05ff;
}

mod field {
    use super::Field;
    pub(super) const DST: Field = 0..6;
    pub(super) const SRC: Field = 6..12;
    pub(super) const ETHERTYPE: usize = 12;
    pub(super) const PAYLOAD: usize = 14;
}

/// Length of the Ethernet header.
pub const HEADER_LEN: usize = field::PAYLOAD;

view!(
    /// A view of an Ethernet II frame.
    Frame
);

impl<T: AsRef<[u8]>> Frame<T> {
    /// Checks that the buffer holds the 14-byte header.
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        truncated(HEADER_LEN, self.buffer.as_ref().len())
    }

    /// Destination MAC address.
    #[inline]
    pub fn dst_addr(&self) -> [u8; 6] {
        rd_mac(self.buffer.as_ref(), field::DST.start)
    }

    /// Source MAC address.
    #[inline]
    pub fn src_addr(&self) -> [u8; 6] {
        rd_mac(self.buffer.as_ref(), field::SRC.start)
    }

    /// Destination MAC address as the `u64` of its six bytes (the flow key
    /// form), read in one load.
    #[inline]
    pub fn dst_addr_u64(&self) -> u64 {
        rd64(self.buffer.as_ref(), 0) >> 16
    }

    /// Source MAC address as the `u64` of its six bytes.
    #[inline]
    pub fn src_addr_u64(&self) -> u64 {
        rd64(self.buffer.as_ref(), 4) & 0xffff_ffff_ffff
    }

    /// The ethertype (or 802.3 length) field.
    #[inline]
    pub fn ethertype(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::ETHERTYPE)
    }

    /// Everything after the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// Sets the destination MAC address.
    #[inline]
    pub fn set_dst_addr(&mut self, a: [u8; 6]) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a);
    }

    /// Sets the source MAC address.
    #[inline]
    pub fn set_src_addr(&mut self, a: [u8; 6]) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a);
    }

    /// Sets the ethertype.
    #[inline]
    pub fn set_ethertype(&mut self, t: u16) {
        wr16(self.buffer.as_mut(), field::ETHERTYPE, t);
    }

    /// Everything after the header, writable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BYTES: [u8; 16] = [
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x08, 0x00, 0xaa,
        0xbb,
    ];

    #[test]
    fn test_parse() {
        let f = Frame::new_checked(&BYTES[..]).unwrap();
        assert_eq!(f.dst_addr(), [1, 2, 3, 4, 5, 6]);
        assert_eq!(f.src_addr(), [0x11, 0x12, 0x13, 0x14, 0x15, 0x16]);
        assert_eq!(f.ethertype(), ethertype::IPV4);
        assert_eq!(f.dst_addr_u64(), 0x0102_0304_0506);
        assert_eq!(f.src_addr_u64(), 0x1112_1314_1516);
        assert_eq!(f.payload(), &[0xaa, 0xbb]);
        assert_eq!(f.as_bytes().len(), 16);
    }

    #[test]
    fn test_emit() {
        let mut b = [0u8; 16];
        let mut f = Frame::new_checked(&mut b[..]).unwrap();
        f.set_dst_addr([1, 2, 3, 4, 5, 6]);
        f.set_src_addr([0x11, 0x12, 0x13, 0x14, 0x15, 0x16]);
        f.set_ethertype(0x0800);
        f.payload_mut().copy_from_slice(&[0xaa, 0xbb]);
        assert_eq!(b, BYTES);
    }

    #[test]
    fn test_truncated() {
        assert_eq!(
            Frame::new_checked(&BYTES[..13]),
            Err(WireError::Truncated { need: 14, have: 13 })
        );
        assert!(
            Frame::new_checked(&BYTES[..14])
                .unwrap()
                .payload()
                .is_empty()
        );
    }
}
