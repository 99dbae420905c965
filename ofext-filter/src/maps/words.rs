//! Byte copies into and out of shared value memory.
//!
//! Map memory (keys and values) is stored as `AtomicU64` words. Value words
//! may be written at any moment by a program on another worker, so every
//! Rust-side copy goes through relaxed atomic loads and stores, one word at a
//! time: a plain `memcpy` racing with such a write would be a data race, which
//! is undefined behaviour even when the bytes copied are "only" torn. Copies of
//! more than one word are therefore not atomic as a whole (neither are Linux's);
//! each word is.
//!
//! Bytes are laid out in memory order (`to_ne_bytes`), so a program that reads
//! the value through its pointer sees the same bytes as the controller sent.
//! The padding bytes of a final partial word are never reachable by a program
//! (the verifier bounds accesses by `value_size`) and are written as zero.

use core::sync::atomic::{AtomicU8, AtomicU64, Ordering::Relaxed};

/// Number of 8-byte words needed to hold `bytes` bytes.
pub(super) const fn words_for(bytes: usize) -> usize {
    bytes.div_ceil(8)
}

/// Copies the first `dst.len()` bytes held by `src` into `dst`.
///
/// Bytes beyond `src.len() * 8` are left untouched.
pub(super) fn load_bytes(src: &[AtomicU64], dst: &mut [u8]) {
    for (word, chunk) in src.iter().zip(dst.chunks_mut(8)) {
        let bytes = word.load(Relaxed).to_ne_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
}

/// Stores `src` into the leading words of `dst`; a final partial word gets
/// zero padding. Bytes that do not fit are dropped.
pub(super) fn store_bytes(dst: &[AtomicU64], src: &[u8]) {
    for (word, chunk) in dst.iter().zip(src.chunks(8)) {
        let mut bytes = [0u8; 8];
        bytes[..chunk.len()].copy_from_slice(chunk);
        word.store(u64::from_ne_bytes(bytes), Relaxed);
    }
}

/// Zeroes every word of `dst`.
pub(super) fn zero(dst: &[AtomicU64]) {
    for word in dst {
        word.store(0, Relaxed);
    }
}

/// Whether the words hold exactly `bytes` (followed by zero padding).
///
/// Used for keys, which are written once before their node is published and
/// never again, so the relaxed loads always see the final bytes.
///
/// The probe key is local memory: it is read with plain unaligned word loads,
/// and its final partial word is assembled in a register with shifts. Copying
/// it into a zeroed buffer and reading that back as one word would make the
/// load wait for the narrower stores (no store-to-load forwarding), which
/// cost more than the whole comparison.
#[inline]
pub(super) fn eq_bytes(words: &[AtomicU64], bytes: &[u8]) -> bool {
    if words.len() != words_for(bytes.len()) {
        return false;
    }
    let chunks = bytes.chunks_exact(8);
    let rest = chunks.remainder();
    for (w, chunk) in words.iter().zip(chunks) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        if w.load(Relaxed) != u64::from_ne_bytes(b) {
            return false;
        }
    }
    if rest.is_empty() {
        return true;
    }
    // `rest` is 1 to 7 bytes; `words` has one more word (checked above).
    let Some(last) = words.last() else {
        return false;
    };
    // The word holds the padded bytes in memory order (`from_ne_bytes`):
    // read as little-endian it is `tail_le(rest)`.
    u64::from_le(last.load(Relaxed)) == tail_le(rest)
}

/// Word `i` of `bytes` padded with zeros, as the table stores it
/// (`from_ne_bytes` of the 8 bytes); 0 past the end. Plain loads only, as
/// in [`eq_bytes`].
#[inline(always)]
pub(super) fn padded_word(bytes: &[u8], i: usize) -> u64 {
    let rest = bytes.get(8 * i..).unwrap_or_default();
    match rest.split_first_chunk::<8>() {
        Some((w, _)) => u64::from_ne_bytes(*w),
        None => tail_le(rest).to_le(),
    }
}

/// The little-endian value of `rest` (at most 7 bytes) followed by zeros,
/// built in a register from at most three plain loads.
#[inline(always)]
fn tail_le(rest: &[u8]) -> u64 {
    let mut tail = 0u64;
    let mut at = 0;
    if let Some(w) = rest.first_chunk::<4>() {
        tail = u64::from(u32::from_le_bytes(*w));
        at = 4;
    }
    if let Some(h) = rest.get(at..).and_then(<[u8]>::first_chunk::<2>) {
        tail |= u64::from(u16::from_le_bytes(*h)) << (8 * at);
        at += 2;
    }
    if let Some(&byte) = rest.get(at) {
        tail |= u64::from(byte) << (8 * at);
    }
    tail
}

/// Copies `dst.len()` bytes from map memory at `src` with relaxed atomic byte
/// loads.
///
/// For helpers whose pointer arguments (a key or a value) may point into a map
/// value that another worker writes concurrently: such memory must not be
/// viewed as a `&[u8]`.
///
/// # Safety
///
/// `src` must be valid for reads of `dst.len()` bytes for the duration of the
/// call (for a map value: the [`RunGuard`](super::RunGuard) it was looked up
/// under is alive), and every concurrent access to those bytes must be atomic.
pub unsafe fn copy_from_shared(src: *const u8, dst: &mut [u8]) {
    for (i, d) in dst.iter_mut().enumerate() {
        // SAFETY: the caller guarantees `src..src + dst.len()` is valid for
        // reads and only accessed atomically; `AtomicU8` has alignment 1.
        let byte = unsafe { AtomicU8::from_ptr(src.add(i).cast_mut()) };
        *d = byte.load(Relaxed);
    }
}

/// Copies `src` into map memory at `dst` with relaxed atomic byte stores.
///
/// # Safety
///
/// `dst` must be valid for writes of `src.len()` bytes for the duration of
/// the call, and every concurrent access to those bytes must be atomic.
pub unsafe fn copy_to_shared(dst: *mut u8, src: &[u8]) {
    for (i, s) in src.iter().enumerate() {
        // SAFETY: the caller guarantees `dst..dst + src.len()` is valid for
        // writes and only accessed atomically; `AtomicU8` has alignment 1.
        let byte = unsafe { AtomicU8::from_ptr(dst.add(i)) };
        byte.store(*s, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words_of(bytes: &[u8]) -> Vec<AtomicU64> {
        let words: Vec<AtomicU64> = (0..words_for(bytes.len()))
            .map(|_| AtomicU64::new(u64::MAX))
            .collect();
        store_bytes(&words, bytes);
        words
    }

    #[test]
    fn eq_bytes_every_length_and_position() {
        for len in 0..=24usize {
            let key: Vec<u8> = (0..len).map(|i| i as u8 + 1).collect();
            let words = words_of(&key);
            assert!(eq_bytes(&words, &key), "len {len}");
            for i in 0..len {
                let mut other = key.clone();
                other[i] ^= 0x80;
                assert!(!eq_bytes(&words, &other), "len {len}, byte {i}");
            }
            // A shorter probe never matches (its last byte is nonzero).
            if len > 0 {
                assert!(!eq_bytes(&words, &key[..len - 1]), "len {len}, shorter");
            }
        }
    }

    #[test]
    fn padded_words_are_the_stored_words() {
        for len in 0..=24usize {
            let key: Vec<u8> = (0..len).map(|i| i as u8 + 1).collect();
            let words = words_of(&key);
            for (i, w) in words.iter().enumerate() {
                assert_eq!(padded_word(&key, i), w.load(Relaxed), "len {len}, word {i}");
            }
            assert_eq!(padded_word(&key, words.len()), 0);
        }
    }

    #[test]
    fn eq_bytes_padding_must_be_zero() {
        let words = [AtomicU64::new(u64::from_ne_bytes([1, 2, 3, 0, 0, 0, 0, 9]))];
        assert!(!eq_bytes(&words, &[1, 2, 3]));
        words[0].store(u64::from_ne_bytes([1, 2, 3, 0, 0, 0, 0, 0]), Relaxed);
        assert!(eq_bytes(&words, &[1, 2, 3]));
    }
}
