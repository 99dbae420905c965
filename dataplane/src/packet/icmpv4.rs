//! ICMPv4 header (RFC 792): type, code, checksum and the 4-byte rest of
//! header that every message has.

use super::checksum::internet_checksum;
use super::{WireError, rd16, rd32, truncated, view, wr16, wr32};

/// Offset of the checksum field.
pub const CHECKSUM_OFFSET: usize = 2;
/// Length of the header.
pub const HEADER_LEN: usize = 8;

view!(
    /// A view of an ICMPv4 message (the buffer is the whole message).
    Packet
);

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks that the buffer holds the 8-byte header.
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

    /// The type-specific rest of the header (e.g. echo identifier and
    /// sequence number).
    #[inline]
    pub fn rest_of_header(&self) -> u32 {
        rd32(self.buffer.as_ref(), 4)
    }

    /// Data after the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// True when the checksum over the whole buffer is right.
    pub fn verify_checksum(&self) -> bool {
        internet_checksum(self.buffer.as_ref()) == 0
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

    /// Sets the rest of the header.
    #[inline]
    pub fn set_rest_of_header(&mut self, v: u32) {
        wr32(self.buffer.as_mut(), 4, v);
    }

    /// Recomputes the checksum over the whole buffer.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = internet_checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Echo request, id 0x1234, seq 1, payload "ab"; checksum by hand:
    // 0800 + 0000 + 1234 + 0001 + 6162 = 0x7b97 -> !0x7b97 = 0x8468.
    const BYTES: [u8; 10] = [8, 0, 0x84, 0x68, 0x12, 0x34, 0x00, 0x01, 0x61, 0x62];

    #[test]
    fn test_parse() {
        let p = Packet::new_checked(&BYTES[..]).unwrap();
        assert_eq!(p.msg_type(), 8);
        assert_eq!(p.msg_code(), 0);
        assert_eq!(p.checksum(), 0x8468);
        assert_eq!(p.rest_of_header(), 0x1234_0001);
        assert_eq!(p.payload(), b"ab");
        assert!(p.verify_checksum());
    }

    #[test]
    fn test_emit() {
        let mut b = [0u8; 10];
        b[8..].copy_from_slice(b"ab");
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_msg_type(8);
        p.set_msg_code(0);
        p.set_rest_of_header(0x1234_0001);
        p.fill_checksum();
        assert_eq!(b, BYTES);
        assert!(Packet::new_checked(&BYTES[..7]).is_err());
    }
}
