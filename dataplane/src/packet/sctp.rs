//! SCTP common header (RFC 9260), 12 bytes. The checksum is CRC32c over
//! the whole SCTP packet with the checksum field zero, stored little-endian.

use super::checksum::crc32c_raw;
use super::{WireError, rd16, rd32, truncated, view, wr16, wr32};

mod field {
    pub(super) const SRC_PORT: usize = 0;
    pub(super) const DST_PORT: usize = 2;
    pub(super) const VTAG: usize = 4;
    pub(super) const CHECKSUM: usize = 8;
    pub(super) const CHUNKS: usize = 12;
}

/// Length of the common header.
pub const HEADER_LEN: usize = field::CHUNKS;

view!(
    /// A view of an SCTP packet (the buffer is the whole SCTP packet).
    Packet
);

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks that the buffer holds the 12-byte common header.
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        truncated(HEADER_LEN, self.buffer.as_ref().len())
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// Verification tag.
    #[inline]
    pub fn verification_tag(&self) -> u32 {
        rd32(self.buffer.as_ref(), field::VTAG)
    }

    /// The checksum as the CRC value (decoded from little-endian).
    #[inline]
    pub fn checksum(&self) -> u32 {
        let b = self.buffer.as_ref();
        u32::from_le_bytes([b[8], b[9], b[10], b[11]])
    }

    /// The chunks.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::CHUNKS..]
    }

    /// The CRC32c of the buffer with the checksum field taken as zero.
    pub fn compute_checksum(&self) -> u32 {
        let b = self.buffer.as_ref();
        // The header with a zero checksum, then the chunks, without copying
        // the packet.
        let mut crc = crc32c_raw(!0, &b[..field::CHECKSUM]);
        crc = crc32c_raw(crc, &[0; 4]);
        crc = crc32c_raw(crc, &b[field::CHUNKS..]);
        !crc
    }

    /// True when the checksum is right.
    pub fn verify_checksum(&self) -> bool {
        self.compute_checksum() == self.checksum()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the source port.
    #[inline]
    pub fn set_src_port(&mut self, v: u16) {
        wr16(self.buffer.as_mut(), field::SRC_PORT, v);
    }

    /// Sets the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, v: u16) {
        wr16(self.buffer.as_mut(), field::DST_PORT, v);
    }

    /// Sets the verification tag.
    #[inline]
    pub fn set_verification_tag(&mut self, v: u32) {
        wr32(self.buffer.as_mut(), field::VTAG, v);
    }

    /// Recomputes the checksum over the whole buffer.
    pub fn fill_checksum(&mut self) {
        let c = self.compute_checksum();
        self.buffer.as_mut()[field::CHECKSUM..field::CHUNKS].copy_from_slice(&c.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::crc32c;

    fn bytes() -> [u8; 16] {
        let mut b = [
            0x0b, 0x59, 0x0b, 0x5a, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, 1, 2, 3, 4,
        ];
        let c = crc32c(&b);
        b[8..12].copy_from_slice(&c.to_le_bytes());
        b
    }

    #[test]
    fn test_parse() {
        let b = bytes();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.src_port(), 2905);
        assert_eq!(p.dst_port(), 2906);
        assert_eq!(p.verification_tag(), 0xdead_beef);
        assert_eq!(p.payload(), &[1, 2, 3, 4]);
        assert!(p.verify_checksum());
    }

    #[test]
    fn test_emit() {
        let mut b = [0u8; 16];
        b[12..].copy_from_slice(&[1, 2, 3, 4]);
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_src_port(2905);
        p.set_dst_port(2906);
        p.set_verification_tag(0xdead_beef);
        p.fill_checksum();
        assert_eq!(b, bytes());
        assert!(Packet::new_checked(&b[..11]).is_err());
    }
}
