//! TCP header (RFC 9293), 20 bytes plus options.

use super::{WireError, rd16, rd32, truncated, view, wr16};

mod field {
    pub(super) const SRC_PORT: usize = 0;
    pub(super) const DST_PORT: usize = 2;
    pub(super) const SEQ: usize = 4;
    pub(super) const ACK: usize = 8;
    pub(super) const OFF_FLAGS: usize = 12;
    pub(super) const WINDOW: usize = 14;
    pub(super) const CHECKSUM: usize = 16;
    pub(super) const URGENT: usize = 18;
    pub(super) const OPTIONS: usize = 20;
}

/// Offset of the checksum field.
pub const CHECKSUM_OFFSET: usize = field::CHECKSUM;
/// Length of the header without options.
pub const MIN_HEADER_LEN: usize = field::OPTIONS;

view!(
    /// A view of a TCP segment.
    Packet
);

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks that the buffer holds the fixed header and that the data
    /// offset is at least 5 and within the buffer.
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        truncated(MIN_HEADER_LEN, len)?;
        let hl = self.header_len();
        if hl < MIN_HEADER_LEN {
            return Err(WireError::Malformed);
        }
        truncated(hl, len)
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

    /// Sequence number.
    #[inline]
    pub fn seq_number(&self) -> u32 {
        rd32(self.buffer.as_ref(), field::SEQ)
    }

    /// Acknowledgment number.
    #[inline]
    pub fn ack_number(&self) -> u32 {
        rd32(self.buffer.as_ref(), field::ACK)
    }

    /// Header length in bytes (data offset * 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        ((self.buffer.as_ref()[field::OFF_FLAGS] >> 4) as usize) * 4
    }

    /// The 9 flag bits (NS CWR ECE URG ACK PSH RST SYN FIN).
    #[inline]
    pub fn flags(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::OFF_FLAGS) & 0x01ff
    }

    /// Window size.
    #[inline]
    pub fn window_len(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::WINDOW)
    }

    /// Checksum.
    #[inline]
    pub fn checksum(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Urgent pointer.
    #[inline]
    pub fn urgent_at(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::URGENT)
    }

    /// Options.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS..self.header_len()]
    }

    /// Data after the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
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

    /// Sets the data offset (header length in bytes) and flags.
    #[inline]
    pub fn set_header_len_and_flags(&mut self, header_len: usize, flags: u16) {
        let v = ((header_len as u16 / 4) << 12) | (flags & 0x01ff);
        wr16(self.buffer.as_mut(), field::OFF_FLAGS, v);
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

    const BYTES: [u8; 26] = [
        0x04, 0xd2, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 2, 0x60, 0x12, 0x10, 0x00, 0xab, 0xcd, 0, 0,
        2, 4, 5, 0xb4, 0x99, 0x98,
    ];

    #[test]
    fn test_parse() {
        let p = Packet::new_checked(&BYTES[..]).unwrap();
        assert_eq!(p.src_port(), 1234);
        assert_eq!(p.dst_port(), 80);
        assert_eq!(p.seq_number(), 1);
        assert_eq!(p.ack_number(), 2);
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.flags(), 0x12);
        assert_eq!(p.window_len(), 0x1000);
        assert_eq!(p.checksum(), 0xabcd);
        assert_eq!(p.urgent_at(), 0);
        assert_eq!(p.options(), &[2, 4, 5, 0xb4]);
        assert_eq!(p.payload(), &[0x99, 0x98]);
    }

    #[test]
    fn test_emit() {
        let mut b = BYTES;
        b[..4].fill(0);
        b[12..14].fill(0);
        b[16..18].fill(0);
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_src_port(1234);
        p.set_dst_port(80);
        p.set_header_len_and_flags(24, 0x12);
        p.set_checksum(0xabcd);
        assert_eq!(b, BYTES);
    }

    #[test]
    fn test_length_errors() {
        assert!(matches!(
            Packet::new_checked(&BYTES[..19]),
            Err(WireError::Truncated { .. })
        ));
        assert!(matches!(
            Packet::new_checked(&BYTES[..23]),
            Err(WireError::Truncated { need: 24, have: 23 })
        ));
        let mut b = BYTES;
        b[12] = 0x40;
        assert_eq!(Packet::new_checked(&b[..]), Err(WireError::Malformed));
    }
}
