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
#[inline]
pub(super) fn eq_bytes(words: &[AtomicU64], bytes: &[u8]) -> bool {
    let mut chunks = bytes.chunks_exact(8);
    let mut words = words.iter();
    for chunk in &mut chunks {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        match words.next() {
            Some(w) if w.load(Relaxed) == u64::from_ne_bytes(b) => {}
            _ => return false,
        }
    }
    let rest = chunks.remainder();
    if rest.is_empty() {
        return true;
    }
    let mut b = [0u8; 8];
    b[..rest.len()].copy_from_slice(rest);
    matches!(words.next(), Some(w) if w.load(Relaxed) == u64::from_ne_bytes(b))
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
