//! The IEEE 802.1ah (provider backbone bridging) I-TAG TCI that follows the
//! ethertype 0x88e7: priority (3 bits), drop eligible (1), use customer
//! address (1), reserved (3), I-SID (24). The customer destination and
//! source addresses follow it as the start of the payload.

use super::{WireError, rd_mac, rd32, truncated, view, wr32};

/// Length of the I-TAG TCI.
pub const HEADER_LEN: usize = 4;

view!(
    /// A view of a PBB I-TAG.
    ITag
);

impl<T: AsRef<[u8]>> ITag<T> {
    /// Checks that the buffer holds the 4-byte TCI.
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        truncated(HEADER_LEN, self.buffer.as_ref().len())
    }

    /// The TCI as one word.
    #[inline]
    pub fn word(&self) -> u32 {
        rd32(self.buffer.as_ref(), 0)
    }

    /// Priority code point.
    #[inline]
    pub fn pcp(&self) -> u8 {
        (self.word() >> 29) as u8
    }

    /// Drop eligible indicator.
    #[inline]
    pub fn dei(&self) -> bool {
        self.word() & (1 << 28) != 0
    }

    /// Use customer address bit.
    #[inline]
    pub fn uca(&self) -> bool {
        self.word() & (1 << 27) != 0
    }

    /// Service instance identifier (24 bits).
    #[inline]
    pub fn isid(&self) -> u32 {
        self.word() & 0x00ff_ffff
    }

    /// The customer destination address, when the payload holds it.
    #[inline]
    pub fn customer_dst_addr(&self) -> Option<[u8; 6]> {
        let b = self.buffer.as_ref();
        (b.len() >= HEADER_LEN + 6).then(|| rd_mac(b, HEADER_LEN))
    }

    /// Everything after the TCI (the customer frame).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ITag<T> {
    /// Sets the TCI as one word.
    #[inline]
    pub fn set_word(&mut self, w: u32) {
        wr32(self.buffer.as_mut(), 0, w);
    }

    /// Sets the I-SID (low 24 bits of `v`).
    #[inline]
    pub fn set_isid(&mut self, v: u32) {
        self.set_word((self.word() & 0xff00_0000) | (v & 0x00ff_ffff));
    }

    /// Sets the priority code point (low 3 bits).
    #[inline]
    pub fn set_pcp(&mut self, v: u8) {
        self.set_word((self.word() & 0x1fff_ffff) | ((v as u32 & 7) << 29));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // PCP 3, DEI 0, UCA 1, I-SID 0xabcdef, then a customer DA.
    const BYTES: [u8; 10] = [0x68, 0xab, 0xcd, 0xef, 1, 2, 3, 4, 5, 6];

    #[test]
    fn test_parse() {
        let t = ITag::new_checked(&BYTES[..]).unwrap();
        assert_eq!(t.pcp(), 3);
        assert!(!t.dei());
        assert!(t.uca());
        assert_eq!(t.isid(), 0xabcdef);
        assert_eq!(t.customer_dst_addr(), Some([1, 2, 3, 4, 5, 6]));
        assert_eq!(
            ITag::new_checked(&BYTES[..9]).unwrap().customer_dst_addr(),
            None
        );
    }

    #[test]
    fn test_emit() {
        let mut b = BYTES;
        b[..4].copy_from_slice(&[0x08, 0, 0, 0]);
        let mut t = ITag::new_checked(&mut b[..]).unwrap();
        t.set_isid(0xffabcdef);
        t.set_pcp(3);
        assert_eq!(b, BYTES);
    }

    #[test]
    fn test_truncated() {
        assert!(ITag::new_checked(&BYTES[..3]).is_err());
    }
}
