//! ARRAY and PERCPU_ARRAY: one preallocated, zero-initialised block of words.
//!
//! Element `i` of CPU slot `s` starts at word `(i * slots + s) * value_words`.
//! Elements always exist, so updates write in place (as Linux does) and
//! nothing is ever reclaimed while the map lives; the block itself is freed
//! through the epoch collector when the map is dropped, so value pointers held
//! under a [`RunGuard`](super::RunGuard) outlive even the map.

use core::ptr::NonNull;
use core::sync::atomic::AtomicU64;

use super::words::zero;
use super::{MapError, UpdateFlag, ValueSrc, read_slots};

/// The storage of an array map.
pub(super) struct ArrayTable {
    storage: Box<[AtomicU64]>,
    max_entries: usize,
    /// Value slots per element: `n_cpus` for per-CPU arrays, else 1.
    slots: usize,
    value_size: usize,
    value_words: usize,
}

impl ArrayTable {
    /// Allocates `max_entries` zeroed elements. Sizes were validated (and the
    /// product bounded) by `Map::new`.
    pub(super) fn new(max_entries: usize, value_size: usize, slots: usize) -> Self {
        let value_words = super::words::words_for(value_size);
        let n = max_entries * slots * value_words;
        // Zeroed allocation lets the OS hand out lazily-zeroed pages instead of
        // touching every word of a large array up front.
        let storage = Box::<[AtomicU64]>::new_zeroed_slice(n);
        // SAFETY: an all-zero bit pattern is a valid `AtomicU64` (it has the
        // same in-memory representation as `u64`).
        let storage = unsafe { storage.assume_init() };
        Self {
            storage,
            max_entries,
            slots,
            value_size,
            value_words,
        }
    }

    /// The index a key names, if it is in range. Keys are `u32`s in eBPF
    /// (little-endian) memory order.
    fn index(&self, key: &[u8]) -> Option<usize> {
        let bytes: [u8; 4] = key.try_into().ok()?;
        let idx = u32::from_le_bytes(bytes) as usize;
        (idx < self.max_entries).then_some(idx)
    }

    /// All slots of element `idx` (`idx < max_entries`).
    fn element(&self, idx: usize) -> &[AtomicU64] {
        let stride = self.slots * self.value_words;
        &self.storage[idx * stride..(idx + 1) * stride]
    }

    /// Where element `i`'s value lives, for code that computes lookups
    /// itself (the JIT): `(base, stride)` with the value at `base + i *
    /// stride` for `i < max_entries`; only for arrays with one slot per
    /// element. The block lives as long as the table.
    pub(super) fn flat_layout(&self) -> Option<(NonNull<u8>, usize)> {
        (self.slots == 1).then(|| {
            (
                NonNull::from(&self.storage[..]).cast::<u8>(),
                self.value_words * 8,
            )
        })
    }

    /// Program-side lookup of slot `slot`.
    #[inline]
    pub(super) fn lookup(&self, key: &[u8], slot: usize) -> Option<NonNull<u8>> {
        let idx = self.index(key)?;
        if slot >= self.slots {
            return None;
        }
        let start = (idx * self.slots + slot) * self.value_words;
        // Derive the pointer from the slice (not from one `&AtomicU64`) so it
        // may reach every word of the value; the words are `UnsafeCell`s, so
        // writes through it are permitted.
        let words = self.storage.get(start..start + self.value_words)?;
        Some(NonNull::from(words).cast::<u8>())
    }

    /// Writes one element in place.
    ///
    /// Linux's order of checks: an index out of range is `E2BIG` (the array
    /// cannot grow), NOEXIST is `EEXIST` (every element exists).
    pub(super) fn update(
        &self,
        key: &[u8],
        src: ValueSrc<'_>,
        flag: UpdateFlag,
    ) -> Result<(), MapError> {
        let idx = self.index(key).ok_or(MapError::Full)?;
        if flag == UpdateFlag::NoExist {
            return Err(MapError::KeyExists);
        }
        src.write(self.element(idx), self.value_size, self.value_words);
        Ok(())
    }

    /// Copy of every slot of the element `key` names, concatenated.
    pub(super) fn lookup_copy(&self, key: &[u8]) -> Option<Vec<u8>> {
        let idx = self.index(key)?;
        Some(read_slots(
            self.element(idx),
            self.value_size,
            self.value_words,
            self.slots,
        ))
    }

    /// Every element, in index order.
    pub(super) fn dump(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        (0..self.max_entries)
            .map(|idx| {
                let key = (idx as u32).to_le_bytes().to_vec();
                let value = read_slots(
                    self.element(idx),
                    self.value_size,
                    self.value_words,
                    self.slots,
                );
                (key, value)
            })
            .collect()
    }

    /// Zeroes every element.
    pub(super) fn clear(&self) {
        zero(&self.storage);
    }

    /// Number of elements (always `max_entries`).
    pub(super) fn len(&self) -> usize {
        self.max_entries
    }
}

impl Drop for ArrayTable {
    fn drop(&mut self) {
        if self.storage.is_empty() {
            return;
        }
        // A worker may still hold a value pointer under a pinned RunGuard (the
        // map was dropped by a program replace while a run was in progress).
        // Hand the block to the epoch collector instead of freeing it now.
        let storage = core::mem::take(&mut self.storage);
        crossbeam_epoch::pin().defer(move || drop(storage));
    }
}
