//! ICMPv6 (RFC 4443) and the Neighbor Discovery messages OpenFlow matches
//! (RFC 4861: Neighbor Solicitation 135, Neighbor Advertisement 136) with
//! their link-layer address options.

use super::checksum::ones_complement_sum;
use super::{WireError, rd_mac, rd16, rd128, truncated, view, wr16};

/// ICMPv6 types with special handling.
pub mod msg_type {
    /// Neighbor Solicitation
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    /// Neighbor Advertisement
    pub const NEIGHBOR_ADVERT: u8 = 136;
}

/// ND option types.
pub mod nd_option {
    /// Source link-layer address
    pub const SOURCE_LL_ADDR: u8 = 1;
    /// Target link-layer address
    pub const TARGET_LL_ADDR: u8 = 2;
}

/// Offset of the checksum field.
pub const CHECKSUM_OFFSET: usize = 2;
/// Length of the ICMPv6 header (type, code, checksum).
pub const HEADER_LEN: usize = 4;
/// Length of an NS/NA message without options.
pub const ND_LEN: usize = 24;
/// Offset of the ND target address.
pub const ND_TARGET_OFFSET: usize = 8;

view!(
    /// A view of an ICMPv6 message (the buffer is the whole message).
    Packet
);

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks that the buffer holds type, code and checksum.
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        truncated(HEADER_LEN, self.buffer.as_ref().len())
    }

    /// Message type.
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    /// Message code.
    #[inline]
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[1]
    }

    /// Checksum.
    #[inline]
    pub fn checksum(&self) -> u16 {
        rd16(self.buffer.as_ref(), CHECKSUM_OFFSET)
    }

    /// The message body after the checksum.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// The checksum over the IPv6 pseudo-header (`src`, `dst`, length,
    /// next header 58) and the whole buffer, with the checksum field taken
    /// as zero.
    pub fn compute_checksum(&self, src: u128, dst: u128) -> u16 {
        let b = self.buffer.as_ref();
        let mut ph = [0u8; 40];
        ph[..16].copy_from_slice(&src.to_be_bytes());
        ph[16..32].copy_from_slice(&dst.to_be_bytes());
        ph[32..36].copy_from_slice(&(b.len() as u32).to_be_bytes());
        ph[39] = 58;
        let s = ones_complement_sum(0, &ph);
        let s = ones_complement_sum(s as u32, &b[..CHECKSUM_OFFSET]);
        let s = ones_complement_sum(s as u32, &b[HEADER_LEN..]);
        !s
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the message type.
    #[inline]
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[0] = v;
    }

    /// Sets the message code.
    #[inline]
    pub fn set_msg_code(&mut self, v: u8) {
        self.buffer.as_mut()[1] = v;
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        wr16(self.buffer.as_mut(), CHECKSUM_OFFSET, v);
    }

    /// Recomputes the checksum with the pseudo-header of `src` and `dst`.
    pub fn fill_checksum(&mut self, src: u128, dst: u128) {
        let c = self.compute_checksum(src, dst);
        self.set_checksum(c);
    }
}

view!(
    /// A view of a Neighbor Solicitation or Advertisement (from the ICMPv6
    /// type byte on).
    NdPacket
);

impl<T: AsRef<[u8]>> NdPacket<T> {
    /// Checks that the buffer holds the header and the target address.
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        truncated(ND_LEN, self.buffer.as_ref().len())
    }

    /// The R/S/O flags (NA) in the top three bits.
    #[inline]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[4] & 0xe0
    }

    /// Target address.
    #[inline]
    pub fn target_addr(&self) -> u128 {
        rd128(self.buffer.as_ref(), ND_TARGET_OFFSET)
    }

    /// The options area.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[ND_LEN..]
    }

    /// The offset (from the start of the message) of the link-layer address
    /// in the single Ethernet option of type `kind`; `Ok(None)` when there
    /// is none. `Err(Malformed)` when an option has length 0 or runs past
    /// the end, or when two options of type `kind` are present.
    pub fn link_layer_addr_offset(&self, kind: u8) -> Result<Option<usize>, WireError> {
        let opts = self.options();
        let mut at = 0;
        let mut found = None;
        while at < opts.len() {
            let o = NdOption::new_checked(&opts[at..])?;
            if o.option_type() == kind && o.len_bytes() == 8 {
                if found.is_some() {
                    return Err(WireError::Malformed);
                }
                found = Some(ND_LEN + at + 2);
            }
            at += o.len_bytes();
        }
        Ok(found)
    }

    /// The Ethernet address in the option of type `kind` (see
    /// [`Self::link_layer_addr_offset`]).
    pub fn link_layer_addr(&self, kind: u8) -> Result<Option<[u8; 6]>, WireError> {
        Ok(self
            .link_layer_addr_offset(kind)?
            .map(|at| rd_mac(self.buffer.as_ref(), at)))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> NdPacket<T> {
    /// Sets the target address.
    #[inline]
    pub fn set_target_addr(&mut self, a: u128) {
        self.buffer.as_mut()[ND_TARGET_OFFSET..ND_LEN].copy_from_slice(&a.to_be_bytes());
    }
}

view!(
    /// A view of one ND option (type, length in 8-byte units, data).
    NdOption
);

impl<T: AsRef<[u8]>> NdOption<T> {
    /// Checks that the length byte is present, non-zero, and that the
    /// option fits the buffer.
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        let b = self.buffer.as_ref();
        truncated(2, b.len())?;
        if b[1] == 0 {
            return Err(WireError::Malformed);
        }
        truncated(b[1] as usize * 8, b.len())
    }

    /// Option type.
    #[inline]
    pub fn option_type(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    /// Option length in bytes.
    #[inline]
    pub fn len_bytes(&self) -> usize {
        self.buffer.as_ref()[1] as usize * 8
    }

    /// The option data after type and length.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[2..self.len_bytes()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns() -> Vec<u8> {
        let mut b = vec![135, 0, 0, 0, 0, 0, 0, 0];
        b.extend((0xfe80u128 << 112 | 0x1234).to_be_bytes());
        b.extend([1, 1, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]);
        b.extend([14, 1, 0, 0, 0, 0, 0, 0]); // nonce option, skipped
        b
    }

    #[test]
    fn test_parse() {
        let b = ns();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.msg_type(), msg_type::NEIGHBOR_SOLICIT);
        assert_eq!(p.msg_code(), 0);
        assert_eq!(p.payload().len(), b.len() - 4);
        let nd = NdPacket::new_checked(&b[..]).unwrap();
        assert_eq!(nd.target_addr(), 0xfe80u128 << 112 | 0x1234);
        assert_eq!(nd.flags(), 0);
        assert_eq!(
            nd.link_layer_addr(nd_option::SOURCE_LL_ADDR),
            Ok(Some([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]))
        );
        assert_eq!(nd.link_layer_addr(nd_option::TARGET_LL_ADDR), Ok(None));
        let o = NdOption::new_checked(&b[24..]).unwrap();
        assert_eq!((o.option_type(), o.len_bytes(), o.data().len()), (1, 8, 6));
    }

    #[test]
    fn test_emit_and_checksum() {
        let mut b = ns();
        let (src, dst) = (0xfe80u128 << 112 | 1, 0xff02u128 << 112 | 0x1_ff00_1234);
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_msg_type(135);
        p.set_msg_code(0);
        p.fill_checksum(src, dst);
        let c = p.checksum();
        // Verify by summing everything including the checksum field.
        let mut all = Vec::new();
        all.extend(src.to_be_bytes());
        all.extend(dst.to_be_bytes());
        all.extend((b.len() as u32).to_be_bytes());
        all.extend([0, 0, 0, 58]);
        all.extend(&b);
        assert_eq!(ones_complement_sum(0, &all), 0xffff);
        assert_ne!(c, 0);
        let mut nd = NdPacket::new_checked(&mut b[..]).unwrap();
        nd.set_target_addr(7);
        assert_eq!(nd.target_addr(), 7);
    }

    #[test]
    fn malformed_options() {
        let mut b = ns();
        b[25] = 0;
        let nd = NdPacket::new_checked(&b[..]).unwrap();
        assert_eq!(nd.link_layer_addr(1), Err(WireError::Malformed));
        let mut b = ns();
        b[33] = 2; // nonce option claims 16 bytes
        let nd = NdPacket::new_checked(&b[..]).unwrap();
        assert!(matches!(
            nd.link_layer_addr(1),
            Err(WireError::Truncated { .. })
        ));
        let mut b = ns();
        b[32] = 1; // second SLL option
        let nd = NdPacket::new_checked(&b[..]).unwrap();
        assert_eq!(nd.link_layer_addr(1), Err(WireError::Malformed));
        assert!(NdPacket::new_checked(&ns()[..23]).is_err());
        assert!(Packet::new_checked(&[1u8, 2, 3][..]).is_err());
    }
}
