//! Helper functions callable from filter programs (EXTENSION.md §5), and the
//! pieces of run-time state they need, shared by the interpreter and (later)
//! the JIT.
//!
//! # What a helper sees
//!
//! A helper gets the five argument registers `r1`–`r5` as raw `u64`s and
//! returns `r0`. Arguments that are pointers are *guest addresses*: real
//! machine addresses, because the interpreter and the JIT keep one register
//! representation. Nothing is trusted: a helper reads guest memory only through
//! a [`GuestMemory`] implementation that checks every byte range against the
//! regions valid in the current run (the packet, the live stack frames, the map
//! values handed out so far), so even an unverified program cannot make a
//! helper read outside them.
//!
//! # Map handles
//!
//! `lddw rX, map:N` (`src = PSEUDO_MAP_FD`, `imm = N`) loads the address of the
//! program's N-th [`Map`] (`Arc::as_ptr`, kept alive by the program's
//! [`MapTable`]). Helpers never dereference a handle directly: they look it up
//! in the table, so a forged handle is an error, not a wild pointer.
//!
//! # Map value memory
//!
//! Values returned by `map_lookup_elem` are shared by every worker thread and
//! may be written concurrently (by atomics in programs, by updates from the
//! controller). To stay free of data races in the Rust memory model, every
//! access to value memory from this crate's execution engines goes through
//! [`shared`]: value memory is treated as an array of `AtomicU64` words (values
//! are 8-byte aligned and stored as such words by [`crate::maps`], which also
//! copies them in and out word by word); sub-word loads read the whole word and
//! extract bytes,
//! sub-word stores merge with a compare-exchange loop, and only the bytes of a
//! trailing partial word (when `value_size` is not a multiple of 8) are touched
//! with `AtomicU8`. Using one access width for whole words means racing
//! accesses never mix sizes, which the Rust model does not define.
//!
//! # Helper semantics
//!
//! - 1 `map_lookup_elem(map, key)`: address of the value or 0.
//! - 2 `map_update_elem(map, key, value, flags)`: 0, or a negative errno
//!   (`-ENOENT` = -2, `-EEXIST` = -17, `-E2BIG` = -7, `-EINVAL` = -22).
//! - 3 `map_delete_elem(map, key)`: as above.
//! - 5 `ktime_get_ns()`: the run's [`TimeSource`]: a batch time set by the
//!   dataplane, or the monotonic clock.
//! - 6 `hash(ptr, len)`: 32-bit FNV-1a of the `len` bytes (see [`hash`]).
//! - 7 `get_prandom_u32()`: the next output of the run environment's
//!   xorshift64* generator ([`Prng`]).

use core::ptr::NonNull;
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::Instant;

use crate::isa::helper as id;
use crate::maps::{Map, MapError, RunGuard};

/// The helpers a program may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Helper {
    /// `map_lookup_elem(map, key) -> value* | 0` (id 1).
    MapLookupElem,
    /// `map_update_elem(map, key, value, flags) -> 0 | -errno` (id 2).
    MapUpdateElem,
    /// `map_delete_elem(map, key) -> 0 | -errno` (id 3).
    MapDeleteElem,
    /// `ktime_get_ns() -> u64` (id 5).
    KtimeGetNs,
    /// `hash(ptr, len) -> u32` (id 6).
    Hash,
    /// `get_prandom_u32() -> u32` (id 7).
    GetPrandomU32,
}

impl Helper {
    /// The helper with call id `id`, if there is one.
    pub const fn from_id(n: i32) -> Option<Self> {
        match n {
            id::MAP_LOOKUP_ELEM => Some(Self::MapLookupElem),
            id::MAP_UPDATE_ELEM => Some(Self::MapUpdateElem),
            id::MAP_DELETE_ELEM => Some(Self::MapDeleteElem),
            id::KTIME_GET_NS => Some(Self::KtimeGetNs),
            id::HASH => Some(Self::Hash),
            id::GET_PRANDOM_U32 => Some(Self::GetPrandomU32),
            _ => None,
        }
    }

    /// The call id (the `imm` of `call`).
    pub const fn id(self) -> i32 {
        match self {
            Self::MapLookupElem => id::MAP_LOOKUP_ELEM,
            Self::MapUpdateElem => id::MAP_UPDATE_ELEM,
            Self::MapDeleteElem => id::MAP_DELETE_ELEM,
            Self::KtimeGetNs => id::KTIME_GET_NS,
            Self::Hash => id::HASH,
            Self::GetPrandomU32 => id::GET_PRANDOM_U32,
        }
    }

    /// The helper's name, as in Linux (`hash` is ours).
    pub const fn name(self) -> &'static str {
        match self {
            Self::MapLookupElem => "map_lookup_elem",
            Self::MapUpdateElem => "map_update_elem",
            Self::MapDeleteElem => "map_delete_elem",
            Self::KtimeGetNs => "ktime_get_ns",
            Self::Hash => "hash",
            Self::GetPrandomU32 => "get_prandom_u32",
        }
    }

    /// True for the helpers that take a map handle in `r1`.
    pub const fn uses_map(self) -> bool {
        matches!(
            self,
            Self::MapLookupElem | Self::MapUpdateElem | Self::MapDeleteElem
        )
    }
}

/// Why a helper call failed (a program error; a failing map operation is not
/// one: it returns a negative errno to the program).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HelperError {
    /// `r1` is not a handle of one of the program's maps.
    #[error("{handle:#x} is not a map handle of this program")]
    BadMapHandle {
        /// The value passed.
        handle: u64,
    },
    /// A pointer argument does not cover `len` readable bytes.
    #[error("argument {addr:#x} does not point to {len} readable bytes")]
    BadPointer {
        /// The address passed.
        addr: u64,
        /// The length required.
        len: u64,
    },
    /// The run has been handed more distinct map values than it tracks.
    #[error("more than {max} distinct map values looked up in one run")]
    TooManyValues {
        /// The limit.
        max: usize,
    },
}

/// The `r0` a program sees for a failed map operation: `-errno` as a `u64`
/// (`-ENOENT` = -2, `-E2BIG` = -7, `-EEXIST` = -17, `-EINVAL` = -22).
pub fn errno_of(e: MapError) -> u64 {
    (-i64::from(e.errno())) as u64
}

/// The maps of one program, indexed by the `imm` of `lddw rX, map:N`, and the
/// handle representation registers carry.
#[derive(Clone, Default)]
pub struct MapTable {
    maps: Vec<Arc<Map>>,
}

impl core::fmt::Debug for MapTable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MapTable")
            .field("len", &self.maps.len())
            .finish()
    }
}

impl MapTable {
    /// A table holding `maps` in program order.
    pub fn new(maps: Vec<Arc<Map>>) -> Self {
        Self { maps }
    }

    /// The maps in program order.
    pub fn maps(&self) -> &[Arc<Map>] {
        &self.maps
    }

    /// The handle of map `index`: the map's address, stable as long as this
    /// table (which holds an `Arc`) lives.
    pub fn handle(&self, index: usize) -> Option<u64> {
        self.maps.get(index).map(|m| Arc::as_ptr(m).addr() as u64)
    }

    /// The map whose handle is `handle`; `None` for any other value (a
    /// program can put anything in a register).
    #[inline]
    pub fn resolve(&self, handle: u64) -> Option<&Map> {
        self.maps
            .iter()
            .find(|m| Arc::as_ptr(m).addr() as u64 == handle)
            .map(|m| &**m)
    }
}

/// Where `ktime_get_ns` takes its answer from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSource {
    /// A time stamp the dataplane read once for the current batch of packets
    /// (a clock read per packet costs more than a short filter).
    Batch(u64),
    /// Read the monotonic clock at each call ([`monotonic_ns`]).
    Monotonic,
}

impl TimeSource {
    /// The current time under this source.
    #[inline]
    pub fn now_ns(self) -> u64 {
        match self {
            Self::Batch(t) => t,
            Self::Monotonic => monotonic_ns(),
        }
    }
}

/// Monotonic nanoseconds since a process-wide origin (the first call), plus one
/// second so that the value is never 0: programs can use 0 as "never".
pub fn monotonic_ns() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let origin = *ORIGIN.get_or_init(Instant::now);
    let ns = origin.elapsed().as_nanos();
    u64::try_from(ns)
        .unwrap_or(u64::MAX)
        .saturating_add(1_000_000_000)
}

/// The `get_prandom_u32` generator: xorshift64* (Vigna 2016), one per run
/// environment so workers never share state. Not cryptographic: it serves
/// sampling and load spreading in filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prng {
    state: u64,
}

impl Prng {
    /// A generator seeded with `seed` (0 is replaced by a fixed non-zero
    /// constant: xorshift has no zero state).
    pub const fn new(seed: u64) -> Self {
        Self {
            state: if seed == 0 {
                0x9E37_79B9_7F4A_7C15
            } else {
                seed
            },
        }
    }

    /// The next 32 random bits.
    #[inline]
    pub fn next_u32(&mut self) -> u32 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        // The high half of the product has the best statistical quality.
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32
    }
}

/// The `hash` helper: 32-bit FNV-1a (offset basis `0x811c9dc5`, prime
/// `0x01000193`) over `data`. Chosen because it is fully specified in a few
/// lines, so controllers and C programs can compute the same value, and it is
/// fast on the short keys filters hash (addresses, ports, 5-tuples).
pub fn hash(data: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in data {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Checked access to guest memory for helpers, implemented by each engine.
pub trait GuestMemory {
    /// Copies the `out.len()` bytes at guest address `addr` into `out`.
    /// Returns false (copying nothing meaningful) unless the whole range lies
    /// inside one region valid for reading in this run.
    fn read(&self, addr: u64, out: &mut [u8]) -> bool;

    /// True when the `len` bytes at `addr` lie inside one region valid for
    /// reading (checked before a helper allocates a buffer of `len` bytes).
    fn readable(&self, addr: u64, len: u64) -> bool;

    /// Makes the `len` bytes of a map value at `ptr` accessible to the
    /// program for the rest of the run. Returns false when the engine cannot
    /// track another value.
    fn grant_value(&mut self, ptr: NonNull<u8>, len: usize) -> bool;

    /// The limit behind a false [`GuestMemory::grant_value`].
    fn max_values(&self) -> usize;
}

/// What a helper needs besides guest memory.
pub struct HelperCtx<'a> {
    /// The program's maps.
    pub maps: &'a MapTable,
    /// The run's guard (`None` when the program uses no map helper).
    pub guard: Option<&'a RunGuard>,
    /// The clock.
    pub time: TimeSource,
    /// The random generator.
    pub prng: &'a mut Prng,
}

/// Keys and values up to this size are copied on the native stack.
const INLINE_BUF: usize = 64;

/// Copies `len` guest bytes at `addr` and hands them to `f`.
fn with_guest_bytes<M: GuestMemory + ?Sized, R>(
    mem: &M,
    addr: u64,
    len: usize,
    f: impl FnOnce(&[u8]) -> R,
) -> Result<R, HelperError> {
    let bad = HelperError::BadPointer {
        addr,
        len: len as u64,
    };
    // Checked before anything is allocated: `len` comes from the program.
    if !mem.readable(addr, len as u64) {
        return Err(bad);
    }
    if len <= INLINE_BUF {
        let mut buf = [0u8; INLINE_BUF];
        let b = &mut buf[..len];
        if !mem.read(addr, b) {
            return Err(bad);
        }
        Ok(f(b))
    } else {
        let mut v = vec![0u8; len];
        if !mem.read(addr, &mut v) {
            return Err(bad);
        }
        Ok(f(&v))
    }
}

/// Calls `helper` with `args` = `r1`–`r5` and returns `r0`.
///
/// # Errors
/// A [`HelperError`] when an argument is not what the helper needs (unknown
/// map handle, pointer not covering the key or value); the program then stops.
pub fn call<M: GuestMemory + ?Sized>(
    helper: Helper,
    args: &[u64; 5],
    ctx: &mut HelperCtx<'_>,
    mem: &mut M,
) -> Result<u64, HelperError> {
    match helper {
        Helper::KtimeGetNs => Ok(ctx.time.now_ns()),
        Helper::GetPrandomU32 => Ok(u64::from(ctx.prng.next_u32())),
        Helper::Hash => {
            let len = usize::try_from(args[1]).map_err(|_| HelperError::BadPointer {
                addr: args[0],
                len: args[1],
            })?;
            with_guest_bytes(mem, args[0], len, |b| u64::from(hash(b)))
        }
        Helper::MapLookupElem | Helper::MapUpdateElem | Helper::MapDeleteElem => {
            let map = ctx
                .maps
                .resolve(args[0])
                .ok_or(HelperError::BadMapHandle { handle: args[0] })?;
            // The interpreter always passes a guard when the program names a
            // map helper; a missing one is treated like a missing map.
            let guard = ctx
                .guard
                .ok_or(HelperError::BadMapHandle { handle: args[0] })?;
            let key_size = map.def().key_size as usize;
            let value_size = map.def().value_size as usize;
            match helper {
                Helper::MapLookupElem => {
                    let found = with_guest_bytes(mem, args[1], key_size, |k| map.lookup(k, guard))?;
                    match found {
                        None => Ok(0),
                        Some(p) => {
                            if mem.grant_value(p, value_size) {
                                Ok(p.as_ptr().addr() as u64)
                            } else {
                                Err(HelperError::TooManyValues {
                                    max: mem.max_values(),
                                })
                            }
                        }
                    }
                }
                Helper::MapDeleteElem => {
                    let r = with_guest_bytes(mem, args[1], key_size, |k| map.delete(k, guard))?;
                    Ok(r.map_or_else(errno_of, |()| 0))
                }
                _ => {
                    // Copy the key first, then the value: both may live in
                    // the same map value, which another thread may be writing.
                    let r = with_guest_bytes(mem, args[1], key_size, |k| {
                        with_guest_bytes(mem, args[2], value_size, |v| {
                            map.update(k, v, args[3], guard)
                        })
                    })??;
                    Ok(r.map_or_else(errno_of, |()| 0))
                }
            }
        }
    }
}

/// Race-free access to map value memory (see the module essay).
///
/// Every function takes the value's base pointer and its `value_size`; the
/// caller guarantees that the value stays allocated (a [`RunGuard`] is held)
/// and that `off..off + len` lies inside `0..value_size`.
pub mod shared {
    use core::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering::Relaxed};

    /// The word containing byte `i` is entirely inside the value.
    #[inline]
    fn full_word(i: usize, vlen: usize) -> bool {
        (i & !7) + 8 <= vlen
    }

    /// Reads `out.len()` bytes at `base + off`.
    ///
    /// # Safety
    /// `base` is 8-byte aligned and valid for `vlen` bytes for the duration
    /// of the call; all concurrent accesses to it are atomic;
    /// `off + out.len() <= vlen`.
    pub unsafe fn read(base: *const u8, vlen: usize, off: usize, out: &mut [u8]) {
        let mut i = off;
        let end = off + out.len();
        while i < end {
            if full_word(i, vlen) {
                let w = i & !7;
                // SAFETY: w..w+8 is inside the value and 8-byte aligned.
                let word = unsafe { AtomicU64::from_ptr(base.add(w) as *mut u64) }.load(Relaxed);
                let bytes = word.to_le_bytes();
                let stop = end.min(w + 8);
                out[i - off..stop - off].copy_from_slice(&bytes[i - w..stop - w]);
                i = stop;
            } else {
                // SAFETY: i < vlen.
                out[i - off] = unsafe { AtomicU8::from_ptr(base.add(i) as *mut u8) }.load(Relaxed);
                i += 1;
            }
        }
    }

    /// Writes `data` at `base + off`.
    ///
    /// # Safety
    /// As for [`read`], with `off + data.len() <= vlen`, and the memory is
    /// writable.
    pub unsafe fn write(base: *mut u8, vlen: usize, off: usize, data: &[u8]) {
        let mut i = off;
        let end = off + data.len();
        while i < end {
            if full_word(i, vlen) {
                let w = i & !7;
                let stop = end.min(w + 8);
                // SAFETY: w..w+8 is inside the value and 8-byte aligned.
                let a = unsafe { AtomicU64::from_ptr(base.add(w) as *mut u64) };
                if i == w && stop == w + 8 {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&data[i - off..stop - off]);
                    a.store(u64::from_le_bytes(b), Relaxed);
                } else {
                    let src = &data[i - off..stop - off];
                    let _ = a.fetch_update(Relaxed, Relaxed, |old| {
                        let mut b = old.to_le_bytes();
                        b[i - w..stop - w].copy_from_slice(src);
                        Some(u64::from_le_bytes(b))
                    });
                }
                i = stop;
            } else {
                // SAFETY: i < vlen.
                unsafe { AtomicU8::from_ptr(base.add(i)) }.store(data[i - off], Relaxed);
                i += 1;
            }
        }
    }

    /// Reads an `n`-byte (1, 2, 4, 8) little-endian integer at `base + off`.
    ///
    /// # Safety
    /// As for [`read`] with `off + n <= vlen`.
    #[inline]
    pub unsafe fn load(base: *const u8, vlen: usize, off: usize, n: usize) -> u64 {
        let w = off & !7;
        if off + n <= w + 8 && w + 8 <= vlen {
            // SAFETY: the word is inside the value and aligned.
            let word = unsafe { AtomicU64::from_ptr(base.add(w) as *mut u64) }.load(Relaxed);
            let v = word >> ((off - w) * 8);
            if n == 8 {
                v
            } else {
                v & ((1u64 << (n * 8)) - 1)
            }
        } else {
            let mut b = [0u8; 8];
            // SAFETY: forwarded.
            unsafe { read(base, vlen, off, &mut b[..n]) };
            u64::from_le_bytes(b)
        }
    }

    /// Writes the low `n` bytes (1, 2, 4, 8) of `v` at `base + off`.
    ///
    /// # Safety
    /// As for [`write()`] with `off + n <= vlen`.
    #[inline]
    pub unsafe fn store(base: *mut u8, vlen: usize, off: usize, n: usize, v: u64) {
        if n == 8 && off & 7 == 0 && off + 8 <= vlen {
            // SAFETY: the word is inside the value and aligned.
            unsafe { AtomicU64::from_ptr(base.add(off) as *mut u64) }.store(v, Relaxed);
        } else {
            let b = v.to_le_bytes();
            // SAFETY: forwarded.
            unsafe { write(base, vlen, off, &b[..n]) };
        }
    }

    /// Applies `f` atomically to the naturally aligned `n`-byte (4 or 8)
    /// integer at `base + off` and returns its old value; `f` returning
    /// `None` (a failed compare-exchange) leaves memory unchanged. A 4-byte
    /// operand is updated with a compare-exchange on its containing word when
    /// that word is inside the value, so racing accesses never mix widths;
    /// only in a trailing partial word is it updated as an `AtomicU32`.
    ///
    /// # Safety
    /// As for [`write()`] with `off + n <= vlen` and `off % n == 0`.
    pub unsafe fn rmw(
        base: *mut u8,
        vlen: usize,
        off: usize,
        n: usize,
        f: impl Fn(u64) -> Option<u64>,
    ) -> u64 {
        let w = off & !7;
        if w + 8 > vlen {
            // SAFETY: off..off+4 is inside the value and 4-byte aligned
            // (values are 8-byte aligned).
            let a = unsafe { AtomicU32::from_ptr(base.add(off) as *mut u32) };
            let r = a.fetch_update(Relaxed, Relaxed, |old| {
                f(u64::from(old)).map(|new| new as u32)
            });
            return u64::from(match r {
                Ok(old) | Err(old) => old,
            });
        }
        // SAFETY: the word is inside the value and aligned.
        let a = unsafe { AtomicU64::from_ptr(base.add(w) as *mut u64) };
        if n == 8 {
            match a.fetch_update(Relaxed, Relaxed, &f) {
                Ok(old) | Err(old) => old,
            }
        } else {
            let shift = (off - w) * 8;
            let mask = 0xffff_ffffu64 << shift;
            let r = a.fetch_update(Relaxed, Relaxed, |word| {
                let old = (word & mask) >> shift;
                f(old).map(|new| (word & !mask) | ((new & 0xffff_ffff) << shift))
            });
            let word = match r {
                Ok(w) | Err(w) => w,
            };
            (word & mask) >> shift
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helper_ids_round_trip() {
        for h in [
            Helper::MapLookupElem,
            Helper::MapUpdateElem,
            Helper::MapDeleteElem,
            Helper::KtimeGetNs,
            Helper::Hash,
            Helper::GetPrandomU32,
        ] {
            assert_eq!(Helper::from_id(h.id()), Some(h));
        }
        assert_eq!(Helper::from_id(4), None);
        assert_eq!(Helper::from_id(0), None);
        assert_eq!(Helper::from_id(8), None);
        assert_eq!(Helper::from_id(-1), None);
        assert_eq!(Helper::MapLookupElem.id(), 1);
        assert_eq!(Helper::GetPrandomU32.id(), 7);
    }

    #[test]
    fn fnv1a_known_vectors() {
        // Published FNV-1a 32-bit test vectors.
        assert_eq!(hash(b""), 0x811c_9dc5);
        assert_eq!(hash(b"a"), 0xe40c_292c);
        assert_eq!(hash(b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn errno_values() {
        assert_eq!(errno_of(MapError::KeyNotFound) as i64, -2);
        assert_eq!(errno_of(MapError::KeyExists) as i64, -17);
        assert_eq!(errno_of(MapError::Full) as i64, -7);
        assert_eq!(errno_of(MapError::Invalid) as i64, -22);
    }

    #[test]
    fn prng_is_deterministic_and_varies() {
        let mut a = Prng::new(42);
        let mut b = Prng::new(42);
        let xs: Vec<u32> = (0..8).map(|_| a.next_u32()).collect();
        let ys: Vec<u32> = (0..8).map(|_| b.next_u32()).collect();
        assert_eq!(xs, ys);
        assert!(xs.windows(2).any(|w| w[0] != w[1]));
        let mut z = Prng::new(0);
        assert_ne!(z.next_u32(), z.next_u32());
    }

    #[test]
    fn time_sources() {
        assert_eq!(TimeSource::Batch(77).now_ns(), 77);
        let a = TimeSource::Monotonic.now_ns();
        let b = TimeSource::Monotonic.now_ns();
        assert!(a >= 1_000_000_000 && b >= a);
    }

    #[test]
    fn shared_access_words_and_tail() {
        // 12-byte value: one full word and a 4-byte tail.
        let mut buf = [0u64; 2];
        let base = buf.as_mut_ptr() as *mut u8;
        // SAFETY: `base` points at 16 bytes of a live, 8-byte aligned local
        // buffer that nothing else accesses; every offset used is inside it.
        unsafe {
            shared::store(base, 12, 0, 8, 0x1122_3344_5566_7788);
            assert_eq!(shared::load(base, 12, 0, 8), 0x1122_3344_5566_7788);
            assert_eq!(shared::load(base, 12, 1, 2), 0x6677);
            // Straddles the full word and the byte-wise tail.
            assert_eq!(shared::load(base, 12, 6, 4), 0x0000_1122);
            shared::store(base, 12, 3, 2, 0xbeef);
            assert_eq!(shared::load(base, 12, 0, 8), 0x1122_33be_ef66_7788);
            shared::store(base, 12, 6, 4, 0xdead_cafe);
            assert_eq!(shared::load(base, 12, 6, 4), 0xdead_cafe);
            assert_eq!(shared::load(base, 12, 8, 2), 0xdead);
            let mut out = [0u8; 12];
            shared::read(base, 12, 0, &mut out);
            assert_eq!(
                out,
                [
                    0x88, 0x77, 0x66, 0xef, 0xbe, 0x33, 0xfe, 0xca, 0xad, 0xde, 0, 0
                ]
            );
        }
    }

    #[test]
    fn shared_rmw() {
        let mut buf = [0u64; 2];
        let base = buf.as_mut_ptr() as *mut u8;
        // SAFETY: `base` points at 16 bytes of a live, 8-byte aligned local
        // buffer that nothing else accesses; every offset used is inside it.
        unsafe {
            shared::store(base, 16, 0, 8, 5);
            assert_eq!(shared::rmw(base, 16, 0, 8, |o| Some(o + 3)), 5);
            assert_eq!(shared::load(base, 16, 0, 8), 8);
            // 32-bit op on the high half leaves the low half alone.
            assert_eq!(shared::rmw(base, 16, 4, 4, |o| Some(o | 0xffff_ffff)), 0);
            assert_eq!(shared::load(base, 16, 0, 8), 0xffff_ffff_0000_0008);
            // Overflow of a 32-bit add stays inside its half.
            assert_eq!(shared::rmw(base, 16, 4, 4, |o| Some(o + 1)), 0xffff_ffff);
            assert_eq!(shared::load(base, 16, 0, 8), 8);
            // A refused update returns the old value and changes nothing.
            assert_eq!(shared::rmw(base, 16, 0, 8, |_| None), 8);
            assert_eq!(shared::load(base, 16, 0, 8), 8);
            // Trailing partial word: updated as a 32-bit atomic.
            assert_eq!(shared::rmw(base, 12, 8, 4, |o| Some(o + 7)), 0);
            assert_eq!(shared::load(base, 12, 8, 4), 7);
        }
    }
}
