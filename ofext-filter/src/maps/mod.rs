//! eBPF maps shared by every dataplane worker.
//!
//! A filter program keeps state across packets in maps: `map_lookup_elem`
//! hands it a pointer into the map's value memory, which it then reads and
//! writes directly (including with atomic instructions), and
//! `map_update_elem` / `map_delete_elem` change the set of keys. The
//! controller reads and writes the same maps through MAP_UPDATE, MAP_DELETE,
//! MAP_DUMP and MAP_LOOKUP (EXTENSION.md §2–3), from the agent thread.
//!
//! # Types and semantics (EXTENSION.md §5; Linux's, unless noted)
//!
//! | type | keys | update | delete | full |
//! |---|---|---|---|---|
//! | HASH | any `key_size` bytes | new element replaces old | yes | [`MapError::Full`] |
//! | PERCPU_HASH | same | in place, this worker's slot | yes | [`MapError::Full`] |
//! | LRU_HASH | same | new element replaces old | yes | evicts |
//! | ARRAY | `u32` index, little-endian | in place | [`MapError::Invalid`] | — |
//! | PERCPU_ARRAY | same | in place, this worker's slot | [`MapError::Invalid`] | — |
//!
//! Update flags are [`BPF_ANY`], [`BPF_NOEXIST`] (present key →
//! [`MapError::KeyExists`]; always so for arrays) and [`BPF_EXIST`] (absent
//! key → [`MapError::KeyNotFound`]); anything else is [`MapError::Invalid`].
//! Array elements all exist and start zeroed; an array update with an index
//! out of range is [`MapError::Full`] (Linux's `E2BIG`), a lookup with one
//! finds nothing. A full HASH accepts updates of existing keys. An LRU_HASH
//! evicts approximately the least recently used element (second-chance sweep
//! over one list; see `hash.rs`); program lookups count as use, controller
//! lookups and dumps do not (as Linux's syscall path).
//!
//! A key or value of the wrong length is [`MapError::KeySize`] /
//! [`MapError::ValueSize`] (the agent answers `BAD_KEY_OR_VALUE`); every
//! other bad argument is [`MapError::Invalid`]. [`MapError::errno`] gives the
//! Linux errno a helper returns (negated) to the program.
//!
//! # Sharing, and how long a value pointer lives
//!
//! One [`Map`] is shared (`Send + Sync`, typically in an `Arc`) by every
//! worker and the agent. A worker wraps each program run in a [`RunGuard`],
//! which pins the current thread in the `crossbeam-epoch` collector (or, for
//! a run inside a [`BatchGuard`], relies on the batch's pin) and names the
//! worker's CPU slot. **Invariant: a pointer returned by [`Map::lookup`]
//! stays valid for reads and writes of `value_size` bytes until the guard it
//! was obtained under is dropped** — even if another thread deletes the key,
//! replaces it, clears the map, or drops the map meanwhile: memory is only
//! ever freed through the collector, after every thread that was pinned when
//! it became unreachable has unpinned. After a delete or a replace the pointer
//! designates the old, detached value: writes to it are lost, as in Linux.
//! Guards should be short (one run or one batch): while one is held, nothing
//! retired after it was taken can be freed.
//!
//! Lookups take no lock: hash, one bucket load, a chain walk comparing the
//! cached hash and the key words. Writers take a per-bucket-stripe lock held
//! for a few pointer stores and one allocation (LRU inserts also take the
//! list lock); the worker never waits for anything longer.
//!
//! # Memory model of value bytes
//!
//! Values live in `AtomicU64` words, so every value is 8-byte aligned (a
//! program may run 32- and 64-bit atomic instructions on it, and they are
//! atomic across workers). Programs write value memory through raw pointers
//! while other threads copy it, so **every Rust-side access to value memory
//! is atomic** (relaxed word or byte loads and stores; see `words.rs`, and
//! [`copy_from_shared`] / [`copy_to_shared`] for helpers); plain `memcpy`
//! on it would be a data race. Multi-word copies are not atomic as a whole
//! (a reader may see a torn value, as in Linux). The interpreter accesses
//! value memory with atomics of the instruction's width, so the same bytes
//! may see atomics of different sizes; the Rust memory model leaves racing
//! mixed-size atomics unspecified, while x86-64 and AArch64 guarantee them
//! single-copy atomic per access — we rely on the hardware here.
//!
//! # Controller formats
//!
//! Controller-side calls ([`Map::lookup_copy`], [`Map::update_from_controller`],
//! [`Map::delete_from_controller`], [`Map::dump`]) need no guard from the
//! caller. Array keys are `u32` indexes in little-endian (eBPF memory) order.
//! Per-CPU values travel as one `value_size`-byte value per worker,
//! concatenated without padding ([`Map::export_value_size`] bytes); an update
//! may also give a single value, written to every worker's slot.
//!
//! # Limits
//!
//! [`MAX_KEY_SIZE`], [`MAX_VALUE_SIZE`], [`MAX_CPUS`] and an estimate of the
//! map's memory bounded by [`MAX_MAP_BYTES`]; `Map::new` refuses anything
//! beyond with [`MapError::Invalid`]. `MapDef::flags` is recorded but not
//! interpreted: Linux's flags only choose allocation strategies here, and
//! Oko's map definitions use the word for something else.

mod array;
mod hash;
mod keyhash;
mod words;

#[cfg(test)]
mod tests;

use core::fmt;
use core::ptr::NonNull;
use core::sync::atomic::AtomicU64;

pub use words::{copy_from_shared, copy_to_shared};

use array::ArrayTable;
use hash::HashTable;
use words::{load_bytes, store_bytes, words_for};

/// Update flag: create or replace.
pub const BPF_ANY: u64 = 0;
/// Update flag: create only; a present key is [`MapError::KeyExists`].
pub const BPF_NOEXIST: u64 = 1;
/// Update flag: replace only; an absent key is [`MapError::KeyNotFound`].
pub const BPF_EXIST: u64 = 2;

/// Largest accepted `key_size` (Linux's `MAX_BPF_STACK`: a key must fit on
/// the program's stack).
pub const MAX_KEY_SIZE: u32 = 512;
/// Largest accepted `value_size`.
pub const MAX_VALUE_SIZE: u32 = 64 * 1024;
/// Largest accepted number of workers.
pub const MAX_CPUS: usize = 4096;
/// Bound on the estimated memory of one map at capacity (bucket array plus
/// elements with their headers), so a controller cannot exhaust the switch's
/// memory with one map definition.
pub const MAX_MAP_BYTES: u64 = 512 * 1024 * 1024;

/// Map types (EXTENSION.md §5). Wire and `maps`-section numbers are Linux's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MapType {
    /// BPF_MAP_TYPE_HASH (1)
    Hash,
    /// BPF_MAP_TYPE_ARRAY (2)
    Array,
    /// BPF_MAP_TYPE_PERCPU_HASH (5)
    PercpuHash,
    /// BPF_MAP_TYPE_PERCPU_ARRAY (6)
    PercpuArray,
    /// BPF_MAP_TYPE_LRU_HASH (9)
    LruHash,
}

impl MapType {
    /// From the Linux map-type number.
    pub const fn from_linux(n: u32) -> Option<Self> {
        match n {
            1 => Some(Self::Hash),
            2 => Some(Self::Array),
            5 => Some(Self::PercpuHash),
            6 => Some(Self::PercpuArray),
            9 => Some(Self::LruHash),
            _ => None,
        }
    }

    /// The Linux map-type number (used in `map_desc.type` on the wire).
    pub const fn linux(self) -> u32 {
        match self {
            Self::Hash => 1,
            Self::Array => 2,
            Self::PercpuHash => 5,
            Self::PercpuArray => 6,
            Self::LruHash => 9,
        }
    }

    /// Whether each worker has its own value slot.
    pub const fn is_percpu(self) -> bool {
        matches!(self, Self::PercpuHash | Self::PercpuArray)
    }

    /// Whether the map is an array (keys are `u32` indexes, all present).
    pub const fn is_array(self) -> bool {
        matches!(self, Self::Array | Self::PercpuArray)
    }
}

/// A map definition as found in an object file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MapDef {
    /// ELF symbol name (at most 15 bytes go on the wire).
    pub name: String,
    /// Type.
    pub map_type: MapType,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Capacity.
    pub max_entries: u32,
    /// Flags word from the definition (recorded, not interpreted).
    pub flags: u32,
}

/// Errors of map operations; helpers return them as negative errno values
/// ([`MapError::errno`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MapError {
    /// Key absent (ENOENT).
    #[error("key not found")]
    KeyNotFound,
    /// NOEXIST update of a present key (EEXIST).
    #[error("key exists")]
    KeyExists,
    /// max_entries reached, or an array index out of range in an update
    /// (E2BIG).
    #[error("map full")]
    Full,
    /// Bad flags, definition, CPU index, or a delete on an array (EINVAL).
    #[error("invalid argument")]
    Invalid,
    /// A key of the wrong length (EINVAL; the extension's BAD_KEY_OR_VALUE).
    #[error("key is {got} bytes, the map's keys are {expected}")]
    KeySize {
        /// The map's `key_size`.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// A value of the wrong length (EINVAL; the extension's
    /// BAD_KEY_OR_VALUE). For per-CPU maps `expected` is `value_size`;
    /// `n_cpus * value_size` is accepted too.
    #[error("value is {got} bytes, the map's values are {expected}")]
    ValueSize {
        /// The map's `value_size`.
        expected: usize,
        /// Length given.
        got: usize,
    },
}

impl MapError {
    /// The (positive) Linux errno of this error; helpers return its negation.
    pub const fn errno(self) -> i32 {
        match self {
            Self::KeyNotFound => 2,                                              // ENOENT
            Self::KeyExists => 17,                                               // EEXIST
            Self::Full => 7,                                                     // E2BIG
            Self::Invalid | Self::KeySize { .. } | Self::ValueSize { .. } => 22, // EINVAL
        }
    }
}

/// A parsed update flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UpdateFlag {
    Any,
    NoExist,
    Exist,
}

impl UpdateFlag {
    fn parse(flags: u64) -> Result<Self, MapError> {
        match flags {
            BPF_ANY => Ok(Self::Any),
            BPF_NOEXIST => Ok(Self::NoExist),
            BPF_EXIST => Ok(Self::Exist),
            _ => Err(MapError::Invalid),
        }
    }
}

/// Where the bytes of an update go, for an element's value words (all slots).
#[derive(Debug, Clone, Copy)]
enum ValueSrc<'a> {
    /// One value for slot `cpu` (for maps with one slot, slot 0). Other slots
    /// are untouched (zero in a fresh element).
    Cpu {
        /// Slot.
        cpu: usize,
        /// `value_size` bytes.
        bytes: &'a [u8],
    },
    /// One value for every slot.
    All(&'a [u8]),
    /// `slots * value_size` bytes, one value per slot.
    Each(&'a [u8]),
}

impl ValueSrc<'_> {
    /// Writes into `values` (all slots of one element). Lengths were checked
    /// by the caller; chunked iteration makes a mismatch harmless anyway.
    fn write(&self, values: &[AtomicU64], value_size: usize, value_words: usize) {
        let mut slots = values.chunks_exact(value_words);
        match *self {
            Self::Cpu { cpu, bytes } => {
                let cpu = if values.len() == value_words { 0 } else { cpu };
                if let Some(slot) = slots.nth(cpu) {
                    store_bytes(slot, bytes);
                }
            }
            Self::All(bytes) => slots.for_each(|slot| store_bytes(slot, bytes)),
            Self::Each(bytes) => slots
                .zip(bytes.chunks_exact(value_size))
                .for_each(|(slot, b)| store_bytes(slot, b)),
        }
    }
}

/// Copies `slots` values of `value_size` bytes out of `values`, concatenated.
fn read_slots(
    values: &[AtomicU64],
    value_size: usize,
    value_words: usize,
    slots: usize,
) -> Vec<u8> {
    let mut out = vec![0; slots * value_size];
    for (slot, dst) in values
        .chunks_exact(value_words)
        .zip(out.chunks_exact_mut(value_size))
    {
        load_bytes(slot, dst);
    }
    out
}

/// Held for the whole of one program run: value pointers handed out under it
/// stay valid until it is dropped. `cpu` selects the per-CPU slot.
///
/// It pins the thread in the epoch collector, so it is neither `Send` nor
/// `Sync`, and holding it delays every map's memory reclamation: drop it
/// between runs (or batches), never hold it across blocking.
#[derive(Debug)]
pub struct RunGuard {
    cpu: usize,
    /// `None` for a run inside a [`BatchGuard`] (see [`RunGuard::enter_run`]):
    /// the batch's pin covers it.
    epoch: Option<crossbeam_epoch::Guard>,
}

std::thread_local! {
    /// [`BatchGuard`]s alive on this thread.
    static BATCHES: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

impl RunGuard {
    /// Enters a run on worker `cpu` (0-based, below the `n_cpus` the maps
    /// were created with; per-CPU operations under a larger index fail).
    pub fn enter(cpu: usize) -> Self {
        Self {
            cpu,
            epoch: Some(crossbeam_epoch::pin()),
        }
    }

    /// The guard an engine takes for one run it executes from start to end
    /// without returning to its caller: inside a [`BatchGuard`] it does not
    /// pin again (the batch's pin cannot end before the run does, since
    /// nothing of the caller's runs in between), which saves the pin's and
    /// unpin's bookkeeping on every packet.
    pub(crate) fn enter_run(cpu: usize) -> Self {
        if Self::in_batch() {
            Self { cpu, epoch: None }
        } else {
            Self::enter(cpu)
        }
    }

    /// True while a [`BatchGuard`] is alive on this thread (one
    /// thread-local read).
    #[inline]
    pub(crate) fn in_batch() -> bool {
        BATCHES.with(core::cell::Cell::get) > 0
    }

    /// The guard [`RunGuard::enter_run`] returns inside a batch, made
    /// ahead of time so that an engine can keep one per worker instead of
    /// building it for every run.
    ///
    /// # Safety
    /// The guard must be used (lent to map operations) only during runs
    /// that start when [`RunGuard::in_batch`] is true and, as for
    /// [`RunGuard::enter_run`], end without returning to their caller in
    /// between (so before the batch's guard can be dropped).
    #[cfg_attr(not(all(target_arch = "x86_64", unix)), allow(dead_code))]
    pub(crate) const unsafe fn batch_witness(cpu: usize) -> Self {
        Self { cpu, epoch: None }
    }

    /// The worker index this run uses for per-CPU slots.
    pub fn cpu(&self) -> usize {
        self.cpu
    }

    /// A guard for lock-free reads: the pinned one, or in a batch a stand-in
    /// whose only use is to witness that the thread is pinned. Never for
    /// deferring destruction ([`RunGuard::with_epoch`]).
    fn read_witness(&self) -> &crossbeam_epoch::Guard {
        match &self.epoch {
            Some(g) => g,
            // SAFETY: only lock-free reads use it (lookups, which never
            // defer or flush), and the thread is pinned by the batch for as
            // long as `self` lives (see `enter_run`).
            None => unsafe { crossbeam_epoch::unprotected() },
        }
    }

    /// Runs `f` with a real pinned guard (for writes, which may retire
    /// memory).
    fn with_epoch<R>(&self, f: impl FnOnce(&crossbeam_epoch::Guard) -> R) -> R {
        match &self.epoch {
            Some(g) => f(g),
            None => f(&crossbeam_epoch::pin()),
        }
    }
}

/// Keeps the thread pinned across a batch of runs, so that the runs do not
/// pin and unpin themselves (a memory barrier when the thread is not pinned
/// yet, thread-local bookkeeping otherwise, on every packet).
///
/// Optional: runs are correct without it. The rules of a [`RunGuard`] apply:
/// it is neither `Send` nor `Sync`, and it delays every map's memory
/// reclamation while held, so hold it for one batch of packets, never
/// across blocking.
#[derive(Debug)]
pub struct BatchGuard {
    _epoch: crossbeam_epoch::Guard,
}

impl BatchGuard {
    /// Pins the current thread until the guard is dropped.
    #[must_use]
    pub fn enter() -> Self {
        let g = Self {
            _epoch: crossbeam_epoch::pin(),
        };
        BATCHES.with(|b| b.set(b.get() + 1));
        g
    }
}

impl Drop for BatchGuard {
    fn drop(&mut self) {
        BATCHES.with(|b| b.set(b.get().saturating_sub(1)));
    }
}

// The hash variant is larger (cache-padded counters), but there is one `Kind`
// per map and boxing it would add a pointer chase to every lookup.
#[allow(clippy::large_enum_variant)]
enum Kind {
    Array(ArrayTable),
    Hash(HashTable),
}

/// A program lookup a JIT calls directly (see [`Map::jit_lookup`]):
/// `(table, key)` to the value's address or null.
pub type JitLookupFn = unsafe extern "C" fn(*const (), *const u8) -> *mut u8;

/// Where a plain ARRAY keeps its values (see [`Map::array_layout`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArrayLayout {
    /// Element 0's value.
    pub base: NonNull<u8>,
    /// Bytes from one element's value to the next (a multiple of 8).
    pub stride: usize,
    /// Number of elements.
    pub max_entries: u32,
}

/// A live map.
pub struct Map {
    def: MapDef,
    n_cpus: usize,
    kind: Kind,
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Map")
            .field("def", &self.def)
            .field("n_cpus", &self.n_cpus)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

/// Estimated bytes of a map at capacity, or `None` on overflow.
fn footprint(def: &MapDef, n_cpus: usize) -> Option<u64> {
    let slots = if def.map_type.is_percpu() {
        n_cpus as u64
    } else {
        1
    };
    let value_bytes = 8 * words_for(def.value_size as usize) as u64 * slots;
    let max = u64::from(def.max_entries);
    if def.map_type.is_array() {
        return value_bytes.checked_mul(max);
    }
    let element =
        hash::NODE_OVERHEAD as u64 + 8 * words_for(def.key_size as usize) as u64 + value_bytes;
    let buckets = max.checked_next_power_of_two()?.checked_mul(8)?;
    element.checked_mul(max)?.checked_add(buckets)
}

impl Map {
    /// Creates an empty map for `n_cpus` workers.
    ///
    /// Fails with [`MapError::Invalid`] when a size is zero or beyond the
    /// limits, an array's key is not 4 bytes, `n_cpus` is 0 or above
    /// [`MAX_CPUS`], or the map could take more than [`MAX_MAP_BYTES`].
    pub fn new(def: MapDef, n_cpus: usize) -> Result<Self, MapError> {
        let sizes_ok = def.key_size > 0
            && def.key_size <= MAX_KEY_SIZE
            && def.value_size > 0
            && def.value_size <= MAX_VALUE_SIZE
            && def.max_entries > 0
            && (!def.map_type.is_array() || def.key_size == 4)
            && (1..=MAX_CPUS).contains(&n_cpus);
        if !sizes_ok || footprint(&def, n_cpus).is_none_or(|b| b > MAX_MAP_BYTES) {
            return Err(MapError::Invalid);
        }
        let slots = if def.map_type.is_percpu() { n_cpus } else { 1 };
        let (key, value, max) = (
            def.key_size as usize,
            def.value_size as usize,
            def.max_entries as usize,
        );
        let kind = match def.map_type {
            MapType::Array | MapType::PercpuArray => {
                Kind::Array(ArrayTable::new(max, value, slots))
            }
            MapType::Hash => Kind::Hash(HashTable::new(key, value, max, slots, false, false)?),
            MapType::PercpuHash => Kind::Hash(HashTable::new(key, value, max, slots, true, false)?),
            MapType::LruHash => Kind::Hash(HashTable::new(key, value, max, slots, false, true)?),
        };
        Ok(Self { def, n_cpus, kind })
    }

    /// The definition.
    pub fn def(&self) -> &MapDef {
        &self.def
    }

    /// The number of workers (per-CPU slots) the map was created for.
    pub fn n_cpus(&self) -> usize {
        self.n_cpus
    }

    /// Bytes of one value as the controller sees it: `value_size`, or
    /// `n_cpus * value_size` for per-CPU maps.
    pub fn export_value_size(&self) -> usize {
        self.slots() * self.def.value_size as usize
    }

    fn slots(&self) -> usize {
        if self.def.map_type.is_percpu() {
            self.n_cpus
        } else {
            1
        }
    }

    /// The slot a run on `cpu` uses, if valid.
    fn slot_of(&self, cpu: usize) -> Option<usize> {
        if !self.def.map_type.is_percpu() {
            Some(0)
        } else {
            (cpu < self.n_cpus).then_some(cpu)
        }
    }

    fn check_key(&self, key: &[u8]) -> Result<(), MapError> {
        let expected = self.def.key_size as usize;
        if key.len() == expected {
            Ok(())
        } else {
            Err(MapError::KeySize {
                expected,
                got: key.len(),
            })
        }
    }

    fn value_size_error(&self, got: usize) -> MapError {
        MapError::ValueSize {
            expected: self.def.value_size as usize,
            got,
        }
    }

    /// Program-side lookup: pointer to `value_size` bytes (8-byte aligned), valid
    /// while `g` lives. For per-CPU maps, the slot of `g.cpu()`.
    ///
    /// Access the memory only with atomic operations (see the module essay).
    /// A key of the wrong length, or a per-CPU lookup with `g.cpu()` out of
    /// range, finds nothing.
    #[inline]
    pub fn lookup(&self, key: &[u8], g: &RunGuard) -> Option<NonNull<u8>> {
        if key.len() != self.def.key_size as usize {
            return None;
        }
        let slot = self.slot_of(g.cpu)?;
        match &self.kind {
            Kind::Array(a) => a.lookup(key, slot),
            Kind::Hash(h) => h.lookup(key, slot, g.read_witness()),
        }
    }

    /// For a JIT: a function computing this map's program lookups and its
    /// first argument, when the map is a HASH or LRU_HASH (not per-CPU)
    /// with keys of at most 64 bytes. `f(table, key)` returns what
    /// [`Map::lookup`] would (the value's address, or null), provided `key`
    /// points at `key_size` readable bytes nothing writes during the call,
    /// the map outlives the call, and the calling thread is pinned (holds a
    /// [`RunGuard`] or [`BatchGuard`]) for as long as it uses the result.
    pub fn jit_lookup(&self) -> Option<(JitLookupFn, *const ())> {
        match &self.kind {
            Kind::Hash(h) if !self.def.map_type.is_percpu() => h
                .fixed_lookup()
                .map(|f| (f, (h as *const HashTable).cast::<()>())),
            _ => None,
        }
    }

    /// The layout of a (non-per-CPU) ARRAY's values, for a JIT that
    /// computes lookups inline: program-side [`Map::lookup`] of index `i <
    /// max_entries` is `base + i * stride`, and the memory stays valid (under
    /// the same rules as a lookup's pointer) while the map lives. `None` for
    /// every other map type.
    pub fn array_layout(&self) -> Option<ArrayLayout> {
        match &self.kind {
            Kind::Array(a) if !self.def.map_type.is_percpu() => {
                a.flat_layout().map(|(base, stride)| ArrayLayout {
                    base,
                    stride,
                    max_entries: self.def.max_entries,
                })
            }
            _ => None,
        }
    }

    /// Program-side update with BPF_ANY (0) / BPF_NOEXIST (1) / BPF_EXIST (2).
    ///
    /// For per-CPU maps only `g.cpu()`'s slot is written (a new element's
    /// other slots are zero).
    pub fn update(
        &self,
        key: &[u8],
        value: &[u8],
        flags: u64,
        g: &RunGuard,
    ) -> Result<(), MapError> {
        let flag = UpdateFlag::parse(flags)?;
        self.check_key(key)?;
        if value.len() != self.def.value_size as usize {
            return Err(self.value_size_error(value.len()));
        }
        let cpu = self.slot_of(g.cpu).ok_or(MapError::Invalid)?;
        g.with_epoch(|e| self.update_with(key, ValueSrc::Cpu { cpu, bytes: value }, flag, e))
    }

    fn update_with(
        &self,
        key: &[u8],
        src: ValueSrc<'_>,
        flag: UpdateFlag,
        g: &crossbeam_epoch::Guard,
    ) -> Result<(), MapError> {
        match &self.kind {
            Kind::Array(a) => a.update(key, src, flag),
            Kind::Hash(h) => h.update(key, src, flag, g),
        }
    }

    /// Program-side delete. Arrays: [`MapError::Invalid`].
    pub fn delete(&self, key: &[u8], g: &RunGuard) -> Result<(), MapError> {
        g.with_epoch(|e| self.delete_with(key, e))
    }

    fn delete_with(&self, key: &[u8], g: &crossbeam_epoch::Guard) -> Result<(), MapError> {
        self.check_key(key)?;
        match &self.kind {
            Kind::Array(_) => Err(MapError::Invalid),
            Kind::Hash(h) => h.delete(key, g),
        }
    }

    /// Controller-side lookup (MAP_LOOKUP): a copy of the value, or `None`
    /// when absent (array index out of range included). Per-CPU maps: one
    /// value per worker, concatenated. Does not count as use for LRU.
    pub fn lookup_copy(&self, key: &[u8]) -> Result<Option<Vec<u8>>, MapError> {
        self.check_key(key)?;
        Ok(match &self.kind {
            Kind::Array(a) => a.lookup_copy(key),
            Kind::Hash(h) => h.lookup_copy(key, &crossbeam_epoch::pin()),
        })
    }

    /// Controller-side update (MAP_UPDATE) with the program-side flags.
    ///
    /// For per-CPU maps `value` is either `value_size` bytes, written to every
    /// worker's slot, or `n_cpus * value_size` bytes, one value per worker;
    /// updating an existing per-CPU element writes every slot.
    pub fn update_from_controller(
        &self,
        key: &[u8],
        value: &[u8],
        flags: u64,
    ) -> Result<(), MapError> {
        let flag = UpdateFlag::parse(flags)?;
        self.check_key(key)?;
        let vs = self.def.value_size as usize;
        let src = if value.len() == vs {
            ValueSrc::All(value)
        } else if self.def.map_type.is_percpu() && value.len() == self.n_cpus * vs {
            ValueSrc::Each(value)
        } else {
            return Err(self.value_size_error(value.len()));
        };
        self.update_with(key, src, flag, &crossbeam_epoch::pin())
    }

    /// Controller-side delete (MAP_DELETE). Arrays: [`MapError::Invalid`].
    pub fn delete_from_controller(&self, key: &[u8]) -> Result<(), MapError> {
        self.delete_with(key, &crossbeam_epoch::pin())
    }

    /// Controller-side dump (MAP_DUMP): every `(key, value)`; arrays every
    /// index in order, hashes in bucket order; per-CPU values concatenated.
    ///
    /// Weakly consistent under concurrent updates: an element present for
    /// the whole dump appears exactly once, others may or may not.
    pub fn dump(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        match &self.kind {
            Kind::Array(a) => a.dump(),
            Kind::Hash(h) => h.dump(&crossbeam_epoch::pin()),
        }
    }

    /// Number of elements: `max_entries` for arrays; for hashes the live
    /// elements (momentarily including inserts in flight).
    pub fn len(&self) -> usize {
        match &self.kind {
            Kind::Array(a) => a.len(),
            Kind::Hash(h) => h.len(),
        }
    }

    /// Whether [`Map::len`] is 0 (never for arrays).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every element (arrays: zeroes every value).
    pub fn clear(&self) {
        match &self.kind {
            Kind::Array(a) => a.clear(),
            Kind::Hash(h) => h.clear(&crossbeam_epoch::pin()),
        }
    }

    /// Replaces this map's contents with a copy of `other`'s (PROG_LOAD
    /// KEEP_MAPS, warm restart).
    ///
    /// Types, key and value sizes must match ([`MapError::Invalid`]
    /// otherwise; the caller compares names). Capacities and worker counts
    /// may differ: per-CPU values are copied slot by slot (extra slots of
    /// this map stay zero, extra slots of `other` are dropped). Elements that
    /// do not fit (a smaller HASH/PERCPU_HASH, array indexes beyond this
    /// map's size) are left out and reported as [`MapError::Full`] after
    /// everything that fits was copied; a smaller LRU_HASH evicts instead.
    pub fn clone_contents_from(&self, other: &Map) -> Result<(), MapError> {
        if self.def.map_type != other.def.map_type
            || self.def.key_size != other.def.key_size
            || self.def.value_size != other.def.value_size
        {
            return Err(MapError::Invalid);
        }
        if core::ptr::eq(self, other) {
            return Ok(());
        }
        self.clear();
        let vs = self.def.value_size as usize;
        let mut value = vec![0; self.export_value_size()];
        let mut overflow = false;
        for (key, theirs) in other.dump() {
            value.fill(0);
            for (dst, src) in value.chunks_exact_mut(vs).zip(theirs.chunks_exact(vs)) {
                dst.copy_from_slice(src);
            }
            match self.update_from_controller(&key, &value, BPF_ANY) {
                Ok(()) => {}
                Err(MapError::Full) => overflow = true,
                Err(e) => return Err(e),
            }
        }
        if overflow {
            Err(MapError::Full)
        } else {
            Ok(())
        }
    }
}
