//! An IEEE 802.1Q / 802.1ad VLAN tag as it follows its TPID: the 2-byte TCI
//! and the 2-byte ethertype of what follows. The TPID itself (0x8100 or
//! 0x88a8) is the ethertype field of the header before it, so a view starts
//! right after it.

use super::{WireError, rd16, truncated, view, wr16};

mod field {
    pub(super) const TCI: usize = 0;
    pub(super) const ETHERTYPE: usize = 2;
    pub(super) const PAYLOAD: usize = 4;
}

/// Length of a tag after its TPID.
pub const HEADER_LEN: usize = field::PAYLOAD;

view!(
    /// A view of a VLAN tag (TCI and inner ethertype).
    Tag
);

impl<T: AsRef<[u8]>> Tag<T> {
    /// Checks that the buffer holds the 4 bytes.
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        truncated(HEADER_LEN, self.buffer.as_ref().len())
    }

    /// The whole tag control information.
    #[inline]
    pub fn tci(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::TCI)
    }

    /// Priority code point (3 bits).
    #[inline]
    pub fn pcp(&self) -> u8 {
        (self.tci() >> 13) as u8
    }

    /// Drop eligible indicator (formerly CFI).
    #[inline]
    pub fn dei(&self) -> bool {
        self.tci() & 0x1000 != 0
    }

    /// VLAN identifier (12 bits).
    #[inline]
    pub fn vid(&self) -> u16 {
        self.tci() & 0x0fff
    }

    /// Ethertype of what follows the tag.
    #[inline]
    pub fn ethertype(&self) -> u16 {
        rd16(self.buffer.as_ref(), field::ETHERTYPE)
    }

    /// Everything after the tag.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Tag<T> {
    /// Sets the whole TCI.
    #[inline]
    pub fn set_tci(&mut self, v: u16) {
        wr16(self.buffer.as_mut(), field::TCI, v);
    }

    /// Sets the priority code point (low 3 bits of `v`).
    #[inline]
    pub fn set_pcp(&mut self, v: u8) {
        let t = (self.tci() & 0x1fff) | ((v as u16 & 7) << 13);
        self.set_tci(t);
    }

    /// Sets the drop eligible indicator.
    #[inline]
    pub fn set_dei(&mut self, v: bool) {
        let t = (self.tci() & !0x1000) | if v { 0x1000 } else { 0 };
        self.set_tci(t);
    }

    /// Sets the VLAN identifier (low 12 bits of `v`).
    #[inline]
    pub fn set_vid(&mut self, v: u16) {
        let t = (self.tci() & 0xf000) | (v & 0x0fff);
        self.set_tci(t);
    }

    /// Sets the inner ethertype.
    #[inline]
    pub fn set_ethertype(&mut self, t: u16) {
        wr16(self.buffer.as_mut(), field::ETHERTYPE, t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // PCP 5, DEI 1, VID 0x123, inner IPv4.
    const BYTES: [u8; 5] = [0xb1, 0x23, 0x08, 0x00, 0xee];

    #[test]
    fn test_parse() {
        let t = Tag::new_checked(&BYTES[..]).unwrap();
        assert_eq!(t.pcp(), 5);
        assert!(t.dei());
        assert_eq!(t.vid(), 0x123);
        assert_eq!(t.ethertype(), 0x0800);
        assert_eq!(t.payload(), &[0xee]);
    }

    #[test]
    fn test_emit() {
        let mut b = [0u8; 5];
        b[4] = 0xee;
        let mut t = Tag::new_checked(&mut b[..]).unwrap();
        t.set_vid(0xf123);
        t.set_pcp(0xfd);
        t.set_dei(true);
        t.set_ethertype(0x0800);
        assert_eq!(b, BYTES);
    }

    #[test]
    fn test_truncated() {
        assert!(matches!(
            Tag::new_checked(&BYTES[..3]),
            Err(WireError::Truncated { need: 4, have: 3 })
        ));
    }
}
