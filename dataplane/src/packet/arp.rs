//! ARP (RFC 826) for Ethernet hardware and IPv4 protocol addresses, the only
//! kind OpenFlow matches: 28 bytes.

use super::{WireError, rd_mac, rd16, rd32, truncated, view, wr16, wr32};

mod field {
    pub(super) const HTYPE: usize = 0;
    pub(super) const PTYPE: usize = 2;
    pub(super) const HLEN: usize = 4;
    pub(super) const PLEN: usize = 5;
    pub(super) const OPER: usize = 6;
    pub(super) const SHA: usize = 8;
    pub(super) const SPA: usize = 14;
    pub(super) const THA: usize = 18;
    pub(super) const TPA: usize = 24;
    pub(super) const END: usize = 28;
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const HEADER_LEN: usize = field::END;

view!(
    /// A view of an Ethernet/IPv4 ARP packet.
    Packet
);

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks that the buffer holds the 28 bytes of an Ethernet/IPv4 ARP
    /// packet (whether it is one is [`Self::is_ethernet_ipv4`]).
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        truncated(HEADER_LEN, self.buffer.as_ref().len())
    }

    /// Hardware type (1 for Ethernet).
    #[inline]
    pub fn hardware_type(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::HTYPE)
    }

    /// Protocol type (0x0800 for IPv4).
    #[inline]
    pub fn protocol_type(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::PTYPE)
    }

    /// Hardware address length.
    #[inline]
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    /// Protocol address length.
    #[inline]
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    /// True when the address types and lengths are Ethernet and IPv4, so the
    /// address accessors read the right bytes.
    #[inline]
    pub fn is_ethernet_ipv4(&self) -> bool {
        self.hardware_type() == 1
            && self.protocol_type() == 0x0800
            && self.hardware_len() == 6
            && self.protocol_len() == 4
    }

    /// Operation (1 request, 2 reply).
    #[inline]
    pub fn operation(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::OPER)
    }

    /// Sender hardware address.
    #[inline]
    pub fn sha(&self) -> [u8; 6] {
        rd_mac(self.buffer.as_ref(), field::SHA)
    }

    /// Sender protocol address.
    #[inline]
    pub fn spa(&self) -> u32 {
        rd32(self.buffer.as_ref(), field::SPA)
    }

    /// Target hardware address.
    #[inline]
    pub fn tha(&self) -> [u8; 6] {
        rd_mac(self.buffer.as_ref(), field::THA)
    }

    /// Target protocol address.
    #[inline]
    pub fn tpa(&self) -> u32 {
        rd32(self.buffer.as_ref(), field::TPA)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the operation.
    #[inline]
    pub fn set_operation(&mut self, v: u16) {
        wr16(self.buffer.as_mut(), field::OPER, v);
    }

    /// Sets the sender hardware address.
    #[inline]
    pub fn set_sha(&mut self, a: [u8; 6]) {
        self.buffer.as_mut()[field::SHA..field::SHA + 6].copy_from_slice(&a);
    }

    /// Sets the sender protocol address.
    #[inline]
    pub fn set_spa(&mut self, v: u32) {
        wr32(self.buffer.as_mut(), field::SPA, v);
    }

    /// Sets the target hardware address.
    #[inline]
    pub fn set_tha(&mut self, a: [u8; 6]) {
        self.buffer.as_mut()[field::THA..field::THA + 6].copy_from_slice(&a);
    }

    /// Sets the target protocol address.
    #[inline]
    pub fn set_tpa(&mut self, v: u32) {
        wr32(self.buffer.as_mut(), field::TPA, v);
    }

    /// Writes the Ethernet/IPv4 type and length fields.
    #[inline]
    pub fn set_ethernet_ipv4(&mut self) {
        let b = self.buffer.as_mut();
        wr16(b, field::HTYPE, 1);
        wr16(b, field::PTYPE, 0x0800);
        b[field::HLEN] = 6;
        b[field::PLEN] = 4;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BYTES: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, // request
        0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 10, 0, 0, 1, // sender
        0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 10, 0, 0, 2, // target
    ];

    #[test]
    fn test_parse() {
        let p = Packet::new_checked(&BYTES[..]).unwrap();
        assert!(p.is_ethernet_ipv4());
        assert_eq!(p.operation(), 1);
        assert_eq!(p.sha(), [0x11, 0x12, 0x13, 0x14, 0x15, 0x16]);
        assert_eq!(p.spa(), 0x0a00_0001);
        assert_eq!(p.tha(), [0x21, 0x22, 0x23, 0x24, 0x25, 0x26]);
        assert_eq!(p.tpa(), 0x0a00_0002);
    }

    #[test]
    fn test_emit() {
        let mut b = [0u8; 28];
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_ethernet_ipv4();
        p.set_operation(1);
        p.set_sha([0x11, 0x12, 0x13, 0x14, 0x15, 0x16]);
        p.set_spa(0x0a00_0001);
        p.set_tha([0x21, 0x22, 0x23, 0x24, 0x25, 0x26]);
        p.set_tpa(0x0a00_0002);
        assert_eq!(b, BYTES);
    }

    #[test]
    fn test_not_ethernet_ipv4_and_truncated() {
        let mut b = BYTES;
        b[5] = 16;
        assert!(!Packet::new_checked(&b[..]).unwrap().is_ethernet_ipv4());
        assert!(Packet::new_checked(&BYTES[..27]).is_err());
    }
}
