//! An MPLS label stack entry (RFC 3032): label (20 bits), traffic class
//! (3 bits), bottom of stack (1 bit), TTL (8 bits).

use super::{WireError, rd32, truncated, view, wr32};

/// Length of one label stack entry.
pub const HEADER_LEN: usize = 4;

view!(
    /// A view of one MPLS label stack entry.
    Lse
);

impl<T: AsRef<[u8]>> Lse<T> {
    /// Checks that the buffer holds the 4 bytes.
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        truncated(HEADER_LEN, self.buffer.as_ref().len())
    }

    /// The entry as one word.
    #[inline]
    pub fn word(&self) -> u32 {
        rd32(self.buffer.as_ref(), 0)
    }

    /// Label (20 bits).
    #[inline]
    pub fn label(&self) -> u32 {
        self.word() >> 12
    }

    /// Traffic class (3 bits).
    #[inline]
    pub fn tc(&self) -> u8 {
        ((self.word() >> 9) & 7) as u8
    }

    /// Bottom of stack.
    #[inline]
    pub fn bos(&self) -> bool {
        self.word() & 0x100 != 0
    }

    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.word() as u8
    }

    /// Everything after this entry.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Lse<T> {
    /// Sets the entry as one word.
    #[inline]
    pub fn set_word(&mut self, w: u32) {
        wr32(self.buffer.as_mut(), 0, w);
    }

    /// Sets the label (low 20 bits of `v`).
    #[inline]
    pub fn set_label(&mut self, v: u32) {
        self.set_word((self.word() & 0xfff) | ((v & 0xf_ffff) << 12));
    }

    /// Sets the traffic class (low 3 bits of `v`).
    #[inline]
    pub fn set_tc(&mut self, v: u8) {
        self.set_word((self.word() & !0xe00) | ((v as u32 & 7) << 9));
    }

    /// Sets the bottom-of-stack bit.
    #[inline]
    pub fn set_bos(&mut self, v: bool) {
        self.set_word((self.word() & !0x100) | if v { 0x100 } else { 0 });
    }

    /// Sets the TTL.
    #[inline]
    pub fn set_ttl(&mut self, v: u8) {
        self.set_word((self.word() & !0xff) | v as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Label 0x12345, TC 5, BoS, TTL 64.
    const BYTES: [u8; 4] = [0x12, 0x34, 0x5b, 0x40];

    #[test]
    fn test_parse() {
        let l = Lse::new_checked(&BYTES[..]).unwrap();
        assert_eq!(l.label(), 0x12345);
        assert_eq!(l.tc(), 5);
        assert!(l.bos());
        assert_eq!(l.ttl(), 64);
        assert!(l.payload().is_empty());
    }

    #[test]
    fn test_emit() {
        let mut b = [0xffu8; 4];
        let mut l = Lse::new_checked(&mut b[..]).unwrap();
        l.set_label(0xf12345);
        l.set_tc(0xd);
        l.set_bos(true);
        l.set_ttl(64);
        assert_eq!(b, BYTES);
        let mut l = Lse::new_checked(&mut b[..]).unwrap();
        l.set_bos(false);
        assert_eq!(b, [0x12, 0x34, 0x5a, 0x40]);
    }

    #[test]
    fn test_truncated() {
        assert!(Lse::new_checked(&BYTES[..3]).is_err());
    }
}
