//! UDP header (RFC 768), 8 bytes.

use super::{WireError, rd16, truncated, view, wr16};

mod field {
    pub(super) const SRC_PORT: usize = 0;
    pub(super) const DST_PORT: usize = 2;
    pub(super) const LENGTH: usize = 4;
    pub(super) const CHECKSUM: usize = 6;
    pub(super) const PAYLOAD: usize = 8;
}

/// Offset of the checksum field.
pub const CHECKSUM_OFFSET: usize = field::CHECKSUM;
/// Length of the header.
pub const HEADER_LEN: usize = field::PAYLOAD;

view!(
    /// A view of a UDP datagram. The length field is not checked against the
    /// buffer (the IP header's length bounds the datagram).
    Packet
);

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks that the buffer holds the 8-byte header.
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

    /// Length field.
    #[inline]
    pub fn len(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::LENGTH)
    }

    /// True when the length field is zero.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checksum (0 over IPv4 means "none").
    #[inline]
    pub fn checksum(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Data after the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
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

    /// Sets the length field.
    #[inline]
    pub fn set_len(&mut self, v: u16) {
        wr16(self.buffer.as_mut(), field::LENGTH, v);
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        wr16(self.buffer.as_mut(), field::CHECKSUM, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BYTES: [u8; 10] = [0x00, 0x35, 0x30, 0x39, 0x00, 0x0a, 0x12, 0x34, 0xaa, 0xbb];

    #[test]
    fn test_parse() {
        let p = Packet::new_checked(&BYTES[..]).unwrap();
        assert_eq!(p.src_port(), 53);
        assert_eq!(p.dst_port(), 12345);
        assert_eq!(p.len(), 10);
        assert!(!p.is_empty());
        assert_eq!(p.checksum(), 0x1234);
        assert_eq!(p.payload(), &[0xaa, 0xbb]);
    }

    #[test]
    fn test_emit() {
        let mut b = [0u8; 10];
        b[8] = 0xaa;
        b[9] = 0xbb;
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_src_port(53);
        p.set_dst_port(12345);
        p.set_len(10);
        p.set_checksum(0x1234);
        assert_eq!(b, BYTES);
        assert!(Packet::new_checked(&BYTES[..7]).is_err());
    }
}
