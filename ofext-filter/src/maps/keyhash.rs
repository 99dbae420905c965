//! The hash of a map key: one folded multiply per 16 bytes.
//!
//! Map keys are short (a 5-tuple is 13 to 40 bytes, an address 4 to 20) and
//! every program lookup hashes one. The hash is defined on the key's padded
//! words, the same little-endian `u64`s the table stores it in (word `i`
//! holds bytes `8i..8i + 8`, zeros past the end), so a lookup builds the
//! words once, in registers, and both hashes and compares with them. Each
//! pair of words goes through a 64 × 64 → 128-bit multiply folded to 64 bits
//! (`lo ^ hi`), as in foldhash and wyhash, with seeds that depend on its
//! position, the pairs independently (in parallel); one more multiply
//! finishes. The two seeds are random per table, so an outsider who picks
//! keys cannot aim them at one bucket without learning the seeds; the length
//! is mixed in too, so keys that differ only in trailing zeros do not
//! collide.

use super::words::padded_word;

/// `lo ^ hi` of the full product: every input bit reaches the middle bits,
/// which both halves carry.
#[inline(always)]
fn fold(x: u64, y: u64) -> u64 {
    let p = u128::from(x).wrapping_mul(u128::from(y));
    (p as u64) ^ ((p >> 64) as u64)
}

/// An odd constant with well-spread bits (the fractional part of π).
const MIX: u64 = 0x243f_6a88_85a3_08d3;

/// The hash of a key of `len` bytes whose `count` padded words `words`
/// gives.
///
/// Each pair of words is folded with seeds that depend on its position,
/// independently of the others, so the multiplies run in parallel (a
/// lookup waits for the hash before its first load); the results are
/// combined and folded once more.
#[inline(always)]
pub(super) fn hash_words(
    len: usize,
    count: usize,
    words: impl Fn(usize) -> u64,
    seeds: &[u64; 2],
) -> u64 {
    let mut acc = seeds[0] ^ (len as u64);
    let mut i = 0;
    while i < count {
        let b = if i + 1 < count { words(i + 1) } else { 0 };
        let at = (i as u64).wrapping_mul(STEP);
        acc ^= fold(
            words(i) ^ seeds[0].wrapping_add(at),
            b ^ seeds[1].wrapping_sub(at),
        );
        i += 2;
    }
    // One more multiply: a single one is nearly linear in an input that
    // varies only in a few low bits (a port), which the bucket index (the
    // low bits) would show.
    fold(acc ^ seeds[1], seeds[0] ^ MIX)
}

/// Odd, well-spread: separates the seeds of successive pairs.
const STEP: u64 = 0x9e37_79b9_7f4a_7c15;

/// The hash of `key` under `seeds`.
#[inline]
pub(super) fn hash(key: &[u8], seeds: &[u64; 2]) -> u64 {
    hash_words(
        key.len(),
        key.len().div_ceil(8),
        |i| padded_word(key, i),
        seeds,
    )
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::{hash, hash_words, padded_word as word};

    const SEEDS: [u64; 2] = [0xa409_3822_299f_31d1, 0x1319_8a2e_0370_7344];

    #[test]
    fn every_byte_of_every_length_matters() {
        for len in 0..=72usize {
            let key: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let h = hash(&key, &SEEDS);
            // The same from words built any other way (the specialised
            // lookups build them in an array).
            let words: Vec<u64> = (0..len.div_ceil(8)).map(|i| word(&key, i)).collect();
            assert_eq!(hash_words(len, words.len(), |i| words[i], &SEEDS), h);
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
    fn the_position_of_each_pair_matters() {
        // Swapping two 16-byte halves, or two words inside a pair, changes
        // the hash (the pairs' results are combined by xor).
        let a: Vec<u8> = (0..32).collect();
        let mut halves = a[16..].to_vec();
        halves.extend_from_slice(&a[..16]);
        let mut words = a[8..16].to_vec();
        words.extend_from_slice(&a[..8]);
        words.extend_from_slice(&a[16..]);
        for b in [halves, words] {
            assert_ne!(hash(&a, &SEEDS), hash(&b, &SEEDS));
        }
        // Two equal pairs do not cancel.
        let twice = [7u8; 32];
        assert_ne!(hash(&twice, &SEEDS), hash(&[0u8; 32], &SEEDS));
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
        // 5-tuples that differ in one port, as a conntrack table sees them,
        // and addresses that differ in their last byte: the bucket index
        // (low bits) must spread them evenly.
        let buckets = 1024usize;
        for key_of in [
            (|n: u32| {
                let mut key = vec![0u8; 40];
                key[..4].copy_from_slice(&[10, 0, 0, 1]);
                key[16..20].copy_from_slice(&[10, 0, 0, 2]);
                key[32..34].copy_from_slice(&(n as u16).to_be_bytes());
                key[34..36].copy_from_slice(&80u16.to_be_bytes());
                key[36] = 4;
                key[37] = 6;
                key
            }) as fn(u32) -> Vec<u8>,
            |n| {
                let mut key = vec![0u8; 20];
                key[..4].copy_from_slice(&(0x0a00_0000 + n).to_be_bytes());
                key[16] = 4;
                key
            },
        ] {
            let mut count = vec![0u32; buckets];
            for n in 0..16 * buckets as u32 {
                count[hash(&key_of(n), &SEEDS) as usize & (buckets - 1)] += 1;
            }
            // 16 per bucket on average; a fair hash keeps every bucket far
            // from empty and far from crowded.
            let (min, max) = (count.iter().min().unwrap(), count.iter().max().unwrap());
            assert!(*min >= 3 && *max <= 40, "min {min} max {max}");
        }
    }
}
