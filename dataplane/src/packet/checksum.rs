//! The Internet checksum (RFC 1071), its incremental update (RFC 1624), and
//! CRC32c (Castagnoli) for SCTP (RFC 4960 appendix B).

/// The one's complement sum of `data` as 16-bit big-endian words (a
/// trailing odd byte is padded with zero), added to `initial`, folded to
/// 16 bits but not complemented.
pub fn ones_complement_sum(initial: u32, data: &[u8]) -> u16 {
    let mut sum = initial as u64;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u16::from_be_bytes([c[0], c[1]]) as u64;
    }
    if let [b] = chunks.remainder() {
        sum += (*b as u64) << 8;
    }
    fold(sum)
}

#[inline]
fn fold(mut sum: u64) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The Internet checksum of `data` (the value to store in a checksum field
/// that was zero while summing).
pub fn internet_checksum(data: &[u8]) -> u16 {
    !ones_complement_sum(0, data)
}

/// Incrementally updates checksum `csum` for a change of the 16-bit-aligned
/// bytes `old` into `new` (same length, even, and aligned on a 16-bit
/// boundary of the checksummed data), by RFC 1624 eqn. 3:
/// `HC' = ~(~HC + ~m + m')`.
#[inline]
pub fn internet_checksum_update(csum: u16, old: &[u8], new: &[u8]) -> u16 {
    let mut sum = (!csum) as u64;
    for (o, n) in old.chunks_exact(2).zip(new.chunks_exact(2)) {
        sum += (!u16::from_be_bytes([o[0], o[1]])) as u64;
        sum += u16::from_be_bytes([n[0], n[1]]) as u64;
    }
    !fold(sum)
}

const fn crc32c_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82f6_3b78
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static CRC32C: [u32; 256] = crc32c_table();

/// CRC32c (Castagnoli, reflected, initial and final value all ones) of
/// `data`. SCTP stores it little-endian in its checksum field.
pub fn crc32c(data: &[u8]) -> u32 {
    !crc32c_raw(!0, data)
}

/// Runs `data` through the CRC32c register `state` (no initial or final
/// inversion), so a CRC over pieces is `!crc32c_raw(crc32c_raw(!0, a), b)`.
#[inline]
pub(crate) fn crc32c_raw(mut c: u32, data: &[u8]) -> u32 {
    for &b in data {
        c = CRC32C[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: words 0001 f203 f4f5 f6f7 sum to ddf2.
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(ones_complement_sum(0, &d), 0xddf2);
        assert_eq!(internet_checksum(&d), !0xddf2);
        assert_eq!(ones_complement_sum(0, &[0xab]), 0xab00);
    }

    #[test]
    fn incremental_matches_recompute() {
        let mut d = [
            0x45u8, 0, 0, 0x54, 0x12, 0x34, 0x40, 0, 0x40, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let c = internet_checksum(&d);
        d[10..12].copy_from_slice(&c.to_be_bytes());
        let old = [d[12], d[13], d[14], d[15]];
        d[12..16].copy_from_slice(&[192, 168, 77, 9]);
        let inc = internet_checksum_update(c, &old, &d[12..16]);
        d[10..12].copy_from_slice(&[0, 0]);
        assert_eq!(inc, internet_checksum(&d));
    }

    #[test]
    fn crc32c_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(crc32c(&[0; 32]), 0x8a91_36aa);
    }
}
