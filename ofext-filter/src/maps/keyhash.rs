//! The hash of a map key: one folded multiply per 16 bytes.
//!
//! Map keys are short (a 5-tuple is 13 to 40 bytes, an address 4 to 20) and
//! every program lookup hashes one, so the function is written for that
//! case: 8-byte loads straight from the key, the last 16 (or 8, or 4) bytes
//! read from the end of the key so that no chunk is copied or padded, and a
//! 64 × 64 → 128-bit multiply folded to 64 bits (`lo ^ hi`) per 16 bytes, as
//! in foldhash and wyhash, plus one to finish. The two seeds are random per
//! table, so an outsider who picks keys cannot aim them at one bucket
//! without learning the seeds; the length enters the first step, so keys of
//! different lengths that share bytes do not collide systematically.

/// `lo ^ hi` of the full product: every input bit reaches the middle bits,
/// which both halves carry.
#[inline(always)]
fn fold(x: u64, y: u64) -> u64 {
    let p = u128::from(x).wrapping_mul(u128::from(y));
    (p as u64) ^ ((p >> 64) as u64)
}

/// The two little-endian words of 16 bytes.
#[inline(always)]
fn words16(c: &[u8; 16]) -> (u64, u64) {
    let (x, y) = c.split_at(8);
    let w = |h: &[u8]| h.try_into().map_or(0, u64::from_le_bytes);
    (w(x), w(y))
}

/// The first and last 8 bytes of a key of 8 to 16 bytes.
#[inline(always)]
fn ends8(key: &[u8]) -> Option<(u64, u64)> {
    let (first, _) = key.split_first_chunk::<8>()?;
    let (_, last) = key.split_last_chunk::<8>()?;
    Some((u64::from_le_bytes(*first), u64::from_le_bytes(*last)))
}

/// The hash of `key` under `seeds`.
#[inline]
pub(super) fn hash(key: &[u8], seeds: &[u64; 2]) -> u64 {
    let n = key.len();
    let mut acc = seeds[0] ^ (n as u64);
    let (a, b) = if let Some((_, last)) = key.split_last_chunk::<16>()
        && n > 16
    {
        // 16 bytes at a time while more than 16 are left, then the last 16
        // (overlapping the chunk before unless n is a multiple of 16).
        let mut rest = key;
        while rest.len() > 16 {
            let Some((c, r)) = rest.split_first_chunk::<16>() else {
                break;
            };
            let (x, y) = words16(c);
            acc = fold(x ^ acc, y ^ seeds[1]);
            rest = r;
        }
        words16(last)
    } else if let Some(ab) = ends8(key) {
        ab
    } else if let (Some((first, _)), Some((_, last))) =
        (key.split_first_chunk::<4>(), key.split_last_chunk::<4>())
    {
        (
            u64::from(u32::from_le_bytes(*first)),
            u64::from(u32::from_le_bytes(*last)),
        )
    } else if n > 0 {
        // 1 to 3 bytes: first, middle and last (some may coincide).
        let v = u64::from(key[0]) | u64::from(key[n / 2]) << 8 | u64::from(key[n - 1]) << 16;
        (v, 0)
    } else {
        (0, 0)
    };
    // One more multiply: a single one is nearly linear in an input that
    // varies only in a few low bits (a port), which the bucket index (the
    // low bits) would show.
    let h = fold(a ^ acc, b ^ seeds[1]);
    fold(h ^ seeds[1], seeds[0] ^ MIX)
}

/// An odd constant with well-spread bits (the fractional part of π).
const MIX: u64 = 0x243f_6a88_85a3_08d3;

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::hash;

    const SEEDS: [u64; 2] = [0xa409_3822_299f_31d1, 0x1319_8a2e_0370_7344];

    #[test]
    fn every_byte_of_every_length_matters() {
        for len in 0..=72usize {
            let key: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let h = hash(&key, &SEEDS);
            for i in 0..len {
                for bit in [0, 3, 7] {
                    let mut k = key.clone();
                    k[i] ^= 1 << bit;
                    assert_ne!(hash(&k, &SEEDS), h, "len {len}, byte {i}, bit {bit}");
                }
            }
        }
    }

    #[test]
    fn lengths_and_seeds_matter() {
        let zeros = [0u8; 64];
        let all: HashSet<u64> = (0..=64).map(|n| hash(&zeros[..n], &SEEDS)).collect();
        assert_eq!(all.len(), 65);
        let key = [1u8; 40];
        assert_ne!(hash(&key, &SEEDS), hash(&key, &[SEEDS[0], SEEDS[1] ^ 1]));
        assert_ne!(hash(&key, &SEEDS), hash(&key, &[SEEDS[0] ^ 1, SEEDS[1]]));
    }

    #[test]
    fn low_bits_spread_sequential_keys() {
        // 5-tuples that differ in one port, as a conntrack table sees them:
        // the bucket index (low bits) must spread them evenly.
        let buckets = 1024usize;
        let mut count = vec![0u32; buckets];
        for port in 0..16 * buckets as u32 {
            let mut key = [0u8; 40];
            key[..4].copy_from_slice(&[10, 0, 0, 1]);
            key[16..20].copy_from_slice(&[10, 0, 0, 2]);
            key[32..34].copy_from_slice(&(port as u16).to_be_bytes());
            key[34..36].copy_from_slice(&80u16.to_be_bytes());
            key[36] = 4;
            key[37] = 6;
            count[hash(&key, &SEEDS) as usize & (buckets - 1)] += 1;
        }
        // 16 per bucket on average; a fair hash keeps every bucket far
        // from empty and far from crowded.
        let (min, max) = (count.iter().min().unwrap(), count.iter().max().unwrap());
        assert!(*min >= 3 && *max <= 40, "min {min} max {max}");
    }
}
