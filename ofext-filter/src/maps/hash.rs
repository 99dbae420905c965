//! HASH, PERCPU_HASH and LRU_HASH: a chained hash table with lock-free
//! readers, striped writer locks and epoch-based reclamation.
//!
//! # Layout
//!
//! `heads` holds one `AtomicPtr<Node>` per bucket (`max_entries` rounded up
//! to a power of two, as Linux sizes `htab` buckets). Each element is one
//! allocation: a [`Node`] header followed by `key_words + slots *
//! value_words` `AtomicU64`s (key first, then one value per slot). One
//! allocation means one pointer chase per chain step, and the value is 8-byte
//! aligned because the header is a multiple of 8 bytes.
//!
//! # Who reads and writes what
//!
//! - `heads[b]` and `Node::next`: read by anyone, lock-free, with `Acquire`;
//!   written only under the stripe lock `locks[b & lock_mask]`, with `Release`,
//!   after the node they publish is fully initialised. The `next` of a node is
//!   frozen once the node is unlinked, so a reader standing on an unlinked
//!   node still walks a well-formed (if stale) chain.
//! - `Node::hash` and the key words: written once before publication.
//! - Value words: written by programs (through lookup pointers) and, for
//!   per-CPU maps, by in-place updates; always with atomics.
//! - `Node::lru_prev`, `lru_next`, `in_lru`: only under the LRU list lock.
//! - `Node::referenced`: set by program lookups, cleared by the evictor;
//!   benign races by design (it is a hint).
//! - `count`: live elements plus slots reserved by inserts in flight; never
//!   above `max_entries`.
//!
//! # Reclamation
//!
//! A node is retired (handed to `Guard::defer_unchecked`) only after it has
//! been unlinked from its bucket and from the LRU list, so no new reference to
//! it can be made; every thread that may still hold one is pinned, and the
//! epoch collector frees it only after all of them have unpinned. Hence a value
//! pointer obtained under a pinned guard stays valid until that guard drops.
//!
//! # Lock order
//!
//! stripe lock → LRU list lock. The evictor takes the LRU lock alone, releases
//! it, and only then takes the victim's stripe lock; an insert that finds the
//! map full releases its stripe lock before it evicts (the same dance as
//! Linux's `prealloc_lru_pop` before `htab_lock_bucket`).
//!
//! # LRU approximation
//!
//! One list, most recent at the head, with a second-chance (CLOCK) sweep from
//! the tail: a referenced node is cleared and moved to the head, the first
//! unreferenced one is evicted. Program lookups only set a bit (and only if it
//! is clear, so hot entries do not bounce cache lines); inserts and evictions
//! take the list lock. A fresh insert starts unreferenced; an element that
//! replaces an existing key starts referenced (both as in Linux). Unlike
//! Linux, replacing an existing key never evicts another element.

use core::alloc::Layout;
use core::hash::BuildHasher;
use core::ptr::{self, NonNull};
use core::sync::atomic::{
    AtomicBool, AtomicPtr, AtomicU64, AtomicUsize,
    Ordering::{AcqRel, Acquire, Relaxed, Release},
};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crossbeam_epoch::Guard;
use crossbeam_utils::CachePadded;
use foldhash::fast::RandomState;

use super::keyhash;
use super::words::{eq_bytes, load_bytes, padded_word, store_bytes, words_for};
use super::{JitLookupFn, MapError, UpdateFlag, ValueSrc, read_slots};

/// Element header; the key and value words follow it in the same allocation.
#[repr(C)]
struct Node {
    next: AtomicPtr<Node>,
    hash: u64,
    lru_prev: AtomicPtr<Node>,
    lru_next: AtomicPtr<Node>,
    referenced: AtomicBool,
    in_lru: AtomicBool,
}

/// Offset of the first key word in a node.
const HEADER: usize = size_of::<Node>().next_multiple_of(8);

/// Bytes a node costs beyond its key and value words (for the memory bound).
pub(super) const NODE_OVERHEAD: usize = HEADER;

/// The key and value words of node `p` (`n` words in all).
///
/// # Safety
///
/// `p` must be a node allocated by a table whose nodes hold at least `n`
/// words, and must not be freed during `'a` (the caller is pinned and the
/// node was reachable after it pinned, or the node is not yet published).
unsafe fn node_words<'a>(p: *mut Node, n: usize) -> &'a [AtomicU64] {
    // SAFETY: the allocation is `HEADER + 8 * n` bytes or more, aligned to 8,
    // zero-initialised at allocation (a valid `[AtomicU64]`), and `p` carries
    // the provenance of the whole allocation (it came from `alloc`, never from
    // a `&Node`).
    unsafe { core::slice::from_raw_parts(p.cast::<u8>().add(HEADER).cast::<AtomicU64>(), n) }
}

/// The header of node `p`.
///
/// # Safety
///
/// As for [`node_words`].
unsafe fn header<'a>(p: *mut Node) -> &'a Node {
    // SAFETY: `p` is a live, initialised, aligned node (caller's contract).
    unsafe { &*p }
}

/// Frees a node allocation.
///
/// # Safety
///
/// `p` was allocated with `layout` and no reference to it remains.
unsafe fn free_node(p: *mut Node, layout: Layout) {
    // SAFETY: caller's contract; `Node` and `AtomicU64` have no drop glue.
    unsafe { std::alloc::dealloc(p.cast::<u8>(), layout) }
}

/// Retirements between two explicit collection steps (see `retire`).
const FLUSH_EVERY: u32 = 128;

std::thread_local! {
    /// Retirements by this thread since its last explicit collection step.
    static RETIRED: core::cell::Cell<u32> = const { core::cell::Cell::new(0) };
}

/// Sizes of one element.
#[derive(Debug, Clone, Copy)]
struct Shape {
    key_size: usize,
    key_words: usize,
    value_size: usize,
    value_words: usize,
    /// Value slots per element: `n_cpus` for per-CPU maps, else 1.
    slots: usize,
    layout: Layout,
}

impl Shape {
    fn words(&self) -> usize {
        self.key_words + self.slots * self.value_words
    }
}

/// The LRU list: intrusive, doubly linked through `Node::lru_*`.
///
/// Invariant: every node on the list is linked in a bucket or is being
/// evicted by the thread that took it off the list; no node on the list has
/// been retired, so all of them are valid memory while the lock is held.
struct LruList {
    /// Most recently inserted.
    head: *mut Node,
    /// Eviction candidate.
    tail: *mut Node,
    len: usize,
}

// SAFETY: the list holds pointers to nodes that are shared between threads by
// design (all their fields are atomics or immutable); the list itself is only
// touched under its `Mutex`.
unsafe impl Send for LruList {}

impl LruList {
    /// Links `n` at the head.
    ///
    /// # Safety
    ///
    /// `n` is a live node of this table that is not on the list.
    unsafe fn push_head(&mut self, n: *mut Node) {
        // SAFETY: caller's contract.
        let node = unsafe { header(n) };
        node.lru_prev.store(ptr::null_mut(), Relaxed);
        node.lru_next.store(self.head, Relaxed);
        if self.head.is_null() {
            self.tail = n;
        } else {
            // SAFETY: list invariant: the head is a live node.
            unsafe { header(self.head) }.lru_prev.store(n, Relaxed);
        }
        self.head = n;
        node.in_lru.store(true, Relaxed);
        self.len += 1;
    }

    /// Unlinks `n`.
    ///
    /// # Safety
    ///
    /// `n` is on this list.
    unsafe fn unlink(&mut self, n: *mut Node) {
        // SAFETY: caller's contract.
        let node = unsafe { header(n) };
        let prev = node.lru_prev.load(Relaxed);
        let next = node.lru_next.load(Relaxed);
        if prev.is_null() {
            self.head = next;
        } else {
            // SAFETY: list invariant: neighbours are live nodes.
            unsafe { header(prev) }.lru_next.store(next, Relaxed);
        }
        if next.is_null() {
            self.tail = prev;
        } else {
            // SAFETY: as above.
            unsafe { header(next) }.lru_prev.store(prev, Relaxed);
        }
        node.in_lru.store(false, Relaxed);
        self.len -= 1;
    }
}

/// The nodes left in a dropped table, freed by the epoch collector.
struct Garbage {
    nodes: Vec<*mut Node>,
    layout: Layout,
}

// SAFETY: the nodes are unreachable from any table; the only thing done with
// them is freeing, which may happen on any thread.
unsafe impl Send for Garbage {}

impl Garbage {
    fn free(self) {
        for p in self.nodes {
            // SAFETY: each node was allocated with `layout`, and the epoch
            // collector runs this only once no pinned thread can hold it.
            unsafe { free_node(p, self.layout) }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // No critical section here can panic half-way through a pointer update
    // (allocation failure aborts), so a poisoned lock guards consistent data.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A hash table of one of the three hash map types.
pub(super) struct HashTable {
    shape: Shape,
    /// Per-CPU values are updated in place; others are replaced by a new node.
    percpu: bool,
    max_entries: usize,
    mask: usize,
    heads: Box<[AtomicPtr<Node>]>,
    lock_mask: usize,
    locks: Box<[CachePadded<Mutex<()>>]>,
    /// Random per table (see `keyhash`).
    seeds: [u64; 2],
    /// `Some` for LRU_HASH.
    lru: Option<Mutex<LruList>>,
    count: CachePadded<AtomicUsize>,
}

impl HashTable {
    /// An empty table. Sizes were validated (and bounded) by `Map::new`.
    pub(super) fn new(
        key_size: usize,
        value_size: usize,
        max_entries: usize,
        slots: usize,
        percpu: bool,
        lru: bool,
    ) -> Result<Self, MapError> {
        let key_words = words_for(key_size);
        let value_words = words_for(value_size);
        let words = key_words + slots * value_words;
        let layout = Layout::from_size_align(HEADER + 8 * words, align_of::<Node>().max(8))
            .map_err(|_| MapError::Invalid)?;
        let n_buckets = max_entries.next_power_of_two();
        // Enough stripes that writers on different buckets rarely meet, few
        // enough that a small map stays small.
        let n_locks = n_buckets.min(256);
        Ok(Self {
            shape: Shape {
                key_size,
                key_words,
                value_size,
                value_words,
                slots,
                layout,
            },
            percpu,
            max_entries,
            mask: n_buckets - 1,
            heads: (0..n_buckets)
                .map(|_| AtomicPtr::new(ptr::null_mut()))
                .collect(),
            lock_mask: n_locks - 1,
            locks: (0..n_locks)
                .map(|_| CachePadded::new(Mutex::new(())))
                .collect(),
            seeds: {
                let s = RandomState::default();
                [s.hash_one(0u64) | 1, s.hash_one(1u64) | 1]
            },
            lru: lru.then(|| {
                Mutex::new(LruList {
                    head: ptr::null_mut(),
                    tail: ptr::null_mut(),
                    len: 0,
                })
            }),
            count: CachePadded::new(AtomicUsize::new(0)),
        })
    }

    #[inline]
    fn hash(&self, key: &[u8]) -> u64 {
        keyhash::hash(key, &self.seeds)
    }

    #[inline]
    fn bucket(&self, hash: u64) -> usize {
        hash as usize & self.mask
    }

    fn lock_bucket(&self, b: usize) -> MutexGuard<'_, ()> {
        lock(&self.locks[b & self.lock_mask])
    }

    /// Lock-free search. The result stays valid while `g` is pinned.
    #[inline]
    fn find(&self, key: &[u8], hash: u64, g: &Guard) -> *mut Node {
        self.find_by(hash, g, |key_words| eq_bytes(key_words, key))
    }

    /// [`HashTable::find`] for keys of `W` words (`shape.key_words == W`):
    /// the key's padded words are built once, in registers, then hashed and
    /// compared without loops (the common program lookup).
    #[inline(always)]
    fn find_words<const W: usize>(&self, key: &[u8], g: &Guard) -> *mut Node {
        if key.len() <= 8 * (W - 1) {
            // Not W words after all (the callers check): the general path.
            // Knowing the length from here on, the compiler loads every
            // word but the last with one plain load.
            return self.find(key, self.hash(key), g);
        }
        let probe: [u64; W] = core::array::from_fn(|i| padded_word(key, i));
        let hash = keyhash::hash_words(key.len(), W, |i| probe[i], &self.seeds);
        self.find_by(hash, g, |key_words| {
            key_words
                .iter()
                .zip(&probe)
                .fold(0, |diff, (w, p)| diff | (w.load(Relaxed) ^ p))
                == 0
        })
    }

    /// The node in bucket `hash` whose key words `matches` accepts.
    #[inline(always)]
    fn find_by(&self, hash: u64, _g: &Guard, matches: impl Fn(&[AtomicU64]) -> bool) -> *mut Node {
        let mut p = self.heads[self.bucket(hash)].load(Acquire);
        while !p.is_null() {
            // SAFETY: `p` was read from a bucket head or a `next` link after
            // `_g` was pinned. Links of unlinked nodes are frozen, so `p` was
            // reachable at some instant after the pin, and is therefore
            // retired (if at all) after it: not freed before `_g` unpins.
            let (node, key_words) = unsafe { (header(p), node_words(p, self.shape.key_words)) };
            if node.hash == hash && matches(key_words) {
                return p;
            }
            p = node.next.load(Acquire);
        }
        p
    }

    /// Search under the stripe lock of bucket `b`: returns the link that
    /// points at the node (or the chain's final null link) and the node.
    fn find_locked<'a>(
        &'a self,
        b: usize,
        key: &[u8],
        hash: u64,
        _g: &'a Guard,
    ) -> (&'a AtomicPtr<Node>, *mut Node) {
        let mut link = &self.heads[b];
        loop {
            let p = link.load(Acquire);
            if p.is_null() {
                return (link, p);
            }
            // SAFETY: under the stripe lock the chain cannot change, so `p` is
            // linked in bucket `b`; it stays allocated while `_g` is pinned.
            let (node, key_words) = unsafe { (header(p), node_words(p, self.shape.key_words)) };
            if node.hash == hash && eq_bytes(key_words, key) {
                return (link, p);
            }
            link = &node.next;
        }
    }

    /// Allocates and fills an unpublished node.
    fn alloc_node(&self, key: &[u8], hash: u64, src: &ValueSrc<'_>) -> *mut Node {
        let layout = self.shape.layout;
        // SAFETY: the layout has non-zero size (at least the header).
        let raw = unsafe { std::alloc::alloc_zeroed(layout) };
        if raw.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        let p = raw.cast::<Node>();
        // SAFETY: `raw` is a fresh allocation of `layout`, which begins with a
        // `Node` and is aligned for it.
        unsafe {
            p.write(Node {
                next: AtomicPtr::new(ptr::null_mut()),
                hash,
                lru_prev: AtomicPtr::new(ptr::null_mut()),
                lru_next: AtomicPtr::new(ptr::null_mut()),
                referenced: AtomicBool::new(false),
                in_lru: AtomicBool::new(false),
            });
        }
        // SAFETY: `p` was just allocated with room for `words()` words and is
        // not yet shared.
        let words = unsafe { node_words(p, self.shape.words()) };
        let (key_words, values) = words.split_at(self.shape.key_words);
        store_bytes(key_words, key);
        // Fresh values are zero, so a one-CPU write leaves the other CPUs' slots
        // zeroed, as Linux's per-CPU update does.
        src.write(values, self.shape.value_size, self.shape.value_words);
        p
    }

    /// Hands an unlinked node to the epoch collector.
    fn retire(&self, p: *mut Node, g: &Guard) {
        let layout = self.shape.layout;
        // SAFETY: `p` has been unlinked from its bucket and from the LRU list,
        // so no new reference to it can be made; threads still holding one
        // are pinned, and the collector runs the closure only after all of
        // them have unpinned. The closure only frees memory, which is fine on
        // any thread.
        unsafe { g.defer_unchecked(move || free_node(p, layout)) }
        // crossbeam-epoch collects at most 8 bags (512 objects) every 128
        // pins; a worker that replaces an element per packet and pins once
        // per batch retires far more than that, and garbage would grow
        // without bound (measured: ~100 B per update). So every
        // `FLUSH_EVERY` retirements this thread also pushes its bag and runs a
        // collection step, which keeps reclamation ahead of retirement.
        let due = RETIRED.with(|n| {
            let v = n.get() + 1;
            n.set(if v >= FLUSH_EVERY { 0 } else { v });
            v >= FLUSH_EVERY
        });
        if due {
            g.flush();
        }
    }

    fn try_reserve(&self) -> bool {
        self.count
            .fetch_update(Relaxed, Relaxed, |c| {
                (c < self.max_entries).then_some(c + 1)
            })
            .is_ok()
    }

    /// Program-side lookup: pointer to value slot `slot`.
    #[inline]
    pub(super) fn lookup(&self, key: &[u8], slot: usize, g: &Guard) -> Option<NonNull<u8>> {
        if slot >= self.shape.slots {
            return None;
        }
        // Keys of up to 64 bytes (every filter's) take a path specialised
        // to their width; `Map::lookup` checked `key.len() == key_size`.
        let p = match self.shape.key_words {
            1 => self.find_words::<1>(key, g),
            2 => self.find_words::<2>(key, g),
            3 => self.find_words::<3>(key, g),
            4 => self.find_words::<4>(key, g),
            5 => self.find_words::<5>(key, g),
            6 => self.find_words::<6>(key, g),
            7 => self.find_words::<7>(key, g),
            8 => self.find_words::<8>(key, g),
            _ => self.find(key, self.hash(key), g),
        };
        self.value_of(p, slot)
    }

    /// The value slot `slot` (< `shape.slots`) of node `p` found by a
    /// program lookup (null: none), marking the node used for LRU.
    #[inline(always)]
    fn value_of(&self, p: *mut Node, slot: usize) -> Option<NonNull<u8>> {
        if p.is_null() {
            return None;
        }
        if self.lru.is_some() {
            // SAFETY: `find` returned a node valid while the caller is
            // pinned.
            let node = unsafe { header(p) };
            // Write only when clear: a hot entry's line stays shared.
            if !node.referenced.load(Relaxed) {
                node.referenced.store(true, Relaxed);
            }
        }
        let offset = HEADER + 8 * (self.shape.key_words + slot * self.shape.value_words);
        // SAFETY: `slot < slots`, so the offset is inside the node allocation
        // that `p` points to.
        NonNull::new(unsafe { p.cast::<u8>().add(offset) })
    }

    /// The program lookup of a table with one value slot per key and keys
    /// of `W` words, as a function a JIT calls directly (see
    /// [`super::Map::jit_lookup`]): the value's address, or null.
    ///
    /// # Safety
    /// `table` is a live table of that shape, `key` points at `key_size`
    /// readable bytes that nothing writes during the call, and the calling
    /// thread is pinned for as long as it uses the result.
    pub(super) unsafe extern "C" fn lookup_fixed<const W: usize>(
        table: *const (),
        key: *const u8,
    ) -> *mut u8 {
        // SAFETY: per the contract.
        let (table, key) = unsafe {
            let t = &*table.cast::<Self>();
            (t, core::slice::from_raw_parts(key, t.shape.key_size))
        };
        // SAFETY: only a witness for the lock-free read; the caller is
        // pinned (contract).
        let g = unsafe { crossbeam_epoch::unprotected() };
        table
            .value_of(table.find_words::<W>(key, g), 0)
            .map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    /// [`HashTable::lookup_fixed`] for this table's key width, if it has
    /// one slot per key and keys of at most 8 words.
    pub(super) fn fixed_lookup(&self) -> Option<JitLookupFn> {
        if self.shape.slots != 1 {
            return None;
        }
        Some(match self.shape.key_words {
            1 => Self::lookup_fixed::<1>,
            2 => Self::lookup_fixed::<2>,
            3 => Self::lookup_fixed::<3>,
            4 => Self::lookup_fixed::<4>,
            5 => Self::lookup_fixed::<5>,
            6 => Self::lookup_fixed::<6>,
            7 => Self::lookup_fixed::<7>,
            8 => Self::lookup_fixed::<8>,
            _ => return None,
        })
    }

    /// Insert or update with Linux's flag semantics.
    pub(super) fn update(
        &self,
        key: &[u8],
        src: ValueSrc<'_>,
        flag: UpdateFlag,
        g: &Guard,
    ) -> Result<(), MapError> {
        let hash = self.hash(key);
        let b = self.bucket(hash);
        // Whether we hold one reserved unit of `count`.
        let mut token = false;
        let result = loop {
            let stripe = self.lock_bucket(b);
            let (link, old) = self.find_locked(b, key, hash, g);
            if !old.is_null() {
                if flag == UpdateFlag::NoExist {
                    break Err(MapError::KeyExists);
                }
                if self.percpu {
                    // SAFETY: `old` is linked (we hold its stripe lock) and
                    // allocated while `g` is pinned.
                    let words = unsafe { node_words(old, self.shape.words()) };
                    src.write(
                        &words[self.shape.key_words..],
                        self.shape.value_size,
                        self.shape.value_words,
                    );
                    break Ok(());
                }
                let new = self.alloc_node(key, hash, &src);
                // SAFETY: `old` is linked and we hold its stripe lock; `new`
                // is ours until published.
                let (old_node, new_node) = unsafe { (header(old), header(new)) };
                new_node.next.store(old_node.next.load(Relaxed), Relaxed);
                link.store(new, Release);
                if let Some(lru) = &self.lru {
                    new_node.referenced.store(true, Relaxed);
                    let mut list = lock(lru);
                    // SAFETY: `old` is on the list iff `in_lru` (read under
                    // the list lock); `new` is live and not on it.
                    unsafe {
                        if old_node.in_lru.load(Relaxed) {
                            list.unlink(old);
                        }
                        list.push_head(new);
                    }
                }
                drop(stripe);
                self.retire(old, g);
                break Ok(());
            }
            if flag == UpdateFlag::Exist {
                break Err(MapError::KeyNotFound);
            }
            if !token {
                token = self.try_reserve();
            }
            if token {
                token = false;
                let new = self.alloc_node(key, hash, &src);
                let head = &self.heads[b];
                // SAFETY: `new` is ours until published.
                unsafe { header(new) }
                    .next
                    .store(head.load(Relaxed), Relaxed);
                head.store(new, Release);
                if let Some(lru) = &self.lru {
                    // SAFETY: `new` is live and not on the list.
                    unsafe { lock(lru).push_head(new) };
                }
                break Ok(());
            }
            drop(stripe);
            if self.lru.is_none() {
                break Err(MapError::Full);
            }
            token = self.evict_one(g);
            if !token {
                // Every slot is held by inserts in flight or the victim went
                // away under us; either resolves within a few instructions.
                core::hint::spin_loop();
            }
        };
        if token {
            self.count.fetch_sub(1, Relaxed);
        }
        result
    }

    /// Evicts one element by the second-chance sweep. On success the caller
    /// inherits the victim's unit of `count`.
    fn evict_one(&self, g: &Guard) -> bool {
        let Some(lru) = &self.lru else {
            return false;
        };
        let victim = {
            let mut list = lock(lru);
            // After one full pass every bit is clear, so `len + 1` steps
            // always find a victim on a non-empty list.
            let mut budget = list.len + 1;
            loop {
                let t = list.tail;
                if t.is_null() || budget == 0 {
                    break ptr::null_mut();
                }
                budget -= 1;
                // SAFETY: list invariant: `t` is live under the list lock.
                let node = unsafe { header(t) };
                if node.referenced.load(Relaxed) {
                    node.referenced.store(false, Relaxed);
                    // SAFETY: `t` is on the list, then live and off it.
                    unsafe {
                        list.unlink(t);
                        list.push_head(t);
                    }
                } else {
                    // SAFETY: `t` is on the list.
                    unsafe { list.unlink(t) };
                    break t;
                }
            }
        };
        if victim.is_null() {
            return false;
        }
        // SAFETY: `victim` was on the list, hence not retired, while we were
        // pinned by `g`; so it stays allocated until `g` unpins.
        let hash = unsafe { header(victim) }.hash;
        let b = self.bucket(hash);
        let stripe = self.lock_bucket(b);
        let mut link = &self.heads[b];
        loop {
            let p = link.load(Acquire);
            if p.is_null() {
                // Deleted or replaced meanwhile: whoever unlinked it has
                // released (or reused) its unit of `count`.
                return false;
            }
            // SAFETY: linked in bucket `b`, under its stripe lock.
            let node = unsafe { header(p) };
            if p == victim {
                link.store(node.next.load(Relaxed), Release);
                drop(stripe);
                self.retire(victim, g);
                return true;
            }
            link = &node.next;
        }
    }

    /// Deletes `key`.
    pub(super) fn delete(&self, key: &[u8], g: &Guard) -> Result<(), MapError> {
        let hash = self.hash(key);
        let b = self.bucket(hash);
        let stripe = self.lock_bucket(b);
        let (link, p) = self.find_locked(b, key, hash, g);
        if p.is_null() {
            return Err(MapError::KeyNotFound);
        }
        // SAFETY: linked in bucket `b`, under its stripe lock.
        let node = unsafe { header(p) };
        link.store(node.next.load(Relaxed), Release);
        self.forget_unlinked(node, p);
        drop(stripe);
        self.retire(p, g);
        Ok(())
    }

    /// Takes a node just unlinked from its bucket off the LRU list and
    /// releases its unit of `count`. Called under the node's stripe lock.
    fn forget_unlinked(&self, node: &Node, p: *mut Node) {
        if let Some(lru) = &self.lru {
            let mut list = lock(lru);
            if node.in_lru.load(Relaxed) {
                // SAFETY: `in_lru` read under the list lock says it is on it.
                unsafe { list.unlink(p) };
            }
        }
        self.count.fetch_sub(1, Relaxed);
    }

    /// Removes every element.
    pub(super) fn clear(&self, g: &Guard) {
        for b in 0..self.heads.len() {
            let _stripe = self.lock_bucket(b);
            let mut p = self.heads[b].swap(ptr::null_mut(), AcqRel);
            while !p.is_null() {
                // SAFETY: the chain was linked in bucket `b` until the swap,
                // and we hold its stripe lock, so nobody else unlinks it.
                let node = unsafe { header(p) };
                let next = node.next.load(Relaxed);
                self.forget_unlinked(node, p);
                self.retire(p, g);
                p = next;
            }
        }
    }

    /// Weakly consistent walk over the elements: each element present for
    /// the whole walk is visited exactly once; concurrent changes may or may
    /// not be seen. `f` gets the key words and the value words (all slots).
    fn for_each(&self, _g: &Guard, mut f: impl FnMut(&[AtomicU64], &[AtomicU64])) {
        for head in self.heads.iter() {
            let mut p = head.load(Acquire);
            while !p.is_null() {
                // SAFETY: as in `find`.
                let (node, words) = unsafe { (header(p), node_words(p, self.shape.words())) };
                let (k, v) = words.split_at(self.shape.key_words);
                f(k, v);
                p = node.next.load(Acquire);
            }
        }
    }

    /// Copy of the value (all slots, concatenated) of `key`.
    pub(super) fn lookup_copy(&self, key: &[u8], g: &Guard) -> Option<Vec<u8>> {
        let p = self.find(key, self.hash(key), g);
        if p.is_null() {
            return None;
        }
        // SAFETY: `find` returned a node valid while `g` is pinned.
        let words = unsafe { node_words(p, self.shape.words()) };
        Some(self.copy_values(&words[self.shape.key_words..]))
    }

    fn copy_values(&self, values: &[AtomicU64]) -> Vec<u8> {
        read_slots(
            values,
            self.shape.value_size,
            self.shape.value_words,
            self.shape.slots,
        )
    }

    /// Copies of every element.
    pub(super) fn dump(&self, g: &Guard) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::with_capacity(self.len());
        self.for_each(g, |k, v| {
            let mut key = vec![0; self.shape.key_size];
            load_bytes(k, &mut key);
            out.push((key, self.copy_values(v)));
        });
        out
    }

    /// Number of elements (plus inserts in flight).
    pub(super) fn len(&self) -> usize {
        self.count.load(Relaxed)
    }
}

impl Drop for HashTable {
    fn drop(&mut self) {
        let mut nodes = Vec::new();
        for head in self.heads.iter_mut() {
            let mut p = *head.get_mut();
            while !p.is_null() {
                nodes.push(p);
                // SAFETY: with `&mut self` no one else touches the table; the
                // chain's nodes are live (linked).
                p = unsafe { header(p) }.next.load(Relaxed);
            }
        }
        if nodes.is_empty() {
            return;
        }
        // Value pointers into these nodes may still be held by pinned runs;
        // free through the collector, like a delete.
        let garbage = Garbage {
            nodes,
            layout: self.shape.layout,
        };
        crossbeam_epoch::pin().defer(move || garbage.free());
    }
}
