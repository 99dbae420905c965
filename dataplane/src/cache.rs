//! The per-worker exact-match flow cache (EMC) in front of the classifier.
//!
//! Modelled on OVS's `emc_cache` (lib/dpif-netdev.c): a fixed array of
//! entries indexed by the hash of the whole [`FlowKey`], each key having two
//! candidate slots (two-way set associative; the second index comes from the
//! hash's high half). A hit costs one hash of 17 words, at most two key
//! compares, and the filter chain's re-runs — no tuple-space search.
//!
//! ## Filter chains (Oko's semantics)
//!
//! An entry stores, next to the key and the caller's value `V`, the filter
//! chain of the lookup that produced it: the programs that ran, in order,
//! and their answers. A packet with the same key runs the same programs
//! again, in the same order; the entry is used only if every answer is the
//! same. Because a classifier lookup is deterministic given the answers,
//! identical answers mean the classifier would have returned the same flow
//! after running exactly these programs: a hit is indistinguishable from a
//! lookup, even for stateful programs.
//!
//! On the first different answer the probe stops and the lookup resumes
//! through [`Classifier::lookup_replay`], which takes the answers already
//! obtained instead of running those programs again. So no program ever
//! runs twice for one packet, and cached and uncached switches run the same
//! programs in the same order (`tests/classifier.rs` checks this against a
//! linear reference under stateful programs). A chain longer than
//! [`MAX_CHAIN`](crate::classifier::MAX_CHAIN) is not recorded completely, so
//! such results are not cached.
//!
//! ## Versioning and lifetime safety
//!
//! Entries record the version of the classifier snapshot they were computed
//! in, and name programs by the *rank* of their rule in that snapshot rather
//! than holding `Arc`s (no reference-count traffic on a hit, and nothing in
//! the cache keeps an old snapshot's programs alive). An entry is used only
//! when its version equals the current classifier's, and then its ranks index
//! the very rule vector they were taken from; entries of any other version
//! are misses and are overwritten lazily (no sweep on a version change). An
//! out-of-range rank — impossible unless the agent reused a version number —
//! is a miss, never a panic. The cached `V` is likewise only meaningful in
//! its version; it is the caller's (an index into the snapshot is the
//! cheapest choice).
//!
//! ## Performance
//!
//! Capacity is fixed at construction; lookups and insertions never allocate
//! (an insertion drops the evicted `V` in place). The cache is owned by one
//! worker (`&mut self`); nothing in it is shared.
//!
//! A probe first reads the *tags* of its two slots: the key hashes, kept in
//! an array of their own (8 bytes a slot, 64 KiB for the default capacity,
//! so it stays in the core's L2 cache while the entries, ~200 bytes each,
//! need not). A miss touches only the two tags; a hit then compares one
//! entry's key. The hash can be computed ahead ([`FlowCache::hash`]) and
//! the slots prefetched ([`FlowCache::prefetch`]) for a whole batch of
//! packets before the first is looked up, as OVS's `dfc_processing` does.
//!
//! ## Throttled insertion
//!
//! When the working set is larger than the cache, nearly every lookup misses
//! and every miss would evict an entry for a key unlikely to come back
//! before it is evicted in turn: the insertions cost memory traffic and buy
//! nothing. Like OVS (`emc-insert-inv-prob`), the cache then inserts a new
//! key only one time in [`THROTTLE_INV_PROB`], so the entries it keeps
//! survive long enough to be hit. Unlike OVS it does so only while the hit
//! rate of the last window of lookups was below one half (a window ends at
//! the first miss after 1024 lookups, so a hit costs nothing extra); a
//! cache that works inserts every miss. Throttling never changes a result (a key not
//! cached is looked up in the classifier), and an existing entry of the same
//! key is always updated (a changed filter chain is recorded at once).

use std::sync::Arc;

use crate::buf::{prefetch, prefetch_ptr};
use crate::classifier::{Classifier, FilterChain, Rule, Trace};
use crate::key::{FlowKey, KeyHasher};

/// OVS's EMC size, a good default for one worker.
pub const DEFAULT_CAPACITY: usize = 8192;

/// While the cache thrashes, one new key in this many is inserted (see the
/// module docs; OVS's default is 1 in 100, a power of two makes it a mask).
pub const THROTTLE_INV_PROB: u32 = 32;

/// Lookups per throttle window.
const THROTTLE_WINDOW: u32 = 1024;

/// The tag of an empty slot. A key whose hash is 0 is tagged 1 instead:
/// tags only pre-select slots, the key compare decides.
const EMPTY_TAG: u64 = 0;

#[inline(always)]
fn tag_of(hash: u64) -> u64 {
    if hash == EMPTY_TAG { 1 } else { hash }
}

/// Counters of one cache (only its worker writes them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups with no usable entry (absent, or of another version).
    pub misses: u64,
    /// Entries found whose filter chain answered differently.
    pub chain_mismatches: u64,
    /// Results not cached because their chain overflowed.
    pub uncacheable: u64,
}

struct Entry<V> {
    version: u64,
    key: FlowKey,
    chain: FilterChain,
    value: V,
}

/// What [`FlowCache::probe`] found.
#[derive(Debug)]
pub enum Probe<'a, V> {
    /// A current entry whose chain answered the same: use the value.
    Hit {
        /// The cached value.
        value: &'a V,
        /// The programs just re-run, with their (unchanged) answers.
        chain: &'a FilterChain,
    },
    /// No usable entry. `replay` holds the programs already run for this
    /// packet with their (new) answers; pass it to
    /// [`Classifier::lookup_replay`] so they are not run again.
    Miss {
        /// Runs made during the probe (empty unless a chain mismatched).
        replay: FilterChain,
    },
}

/// A per-worker exact-match cache of classifier results (see the module docs).
pub struct FlowCache<V> {
    /// The hash of each slot's key ([`EMPTY_TAG`] when empty).
    tags: Box<[u64]>,
    slots: Box<[Option<Entry<V>>]>,
    wrap: usize,
    hasher: KeyHasher,
    stats: CacheStats,
    /// Lookups and hits (the `stats` sums) when the current throttle
    /// window began.
    window_start: u64,
    window_hits: u64,
    /// Whether new keys are inserted only one time in [`THROTTLE_INV_PROB`].
    throttled: bool,
    /// Counts throttled insertion attempts (sampling without a generator).
    sample: u32,
}

impl<V> core::fmt::Debug for FlowCache<V> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FlowCache")
            .field("capacity", &self.slots.len())
            .field("stats", &self.stats)
            .field("throttled", &self.throttled)
            .finish_non_exhaustive()
    }
}

impl<V: Clone> FlowCache<V> {
    /// A cache of `capacity` entries, rounded up to a power of two (at least 2).
    pub fn new(capacity: usize) -> Self {
        let n = capacity.max(2).next_power_of_two();
        Self {
            tags: vec![EMPTY_TAG; n].into_boxed_slice(),
            slots: (0..n).map(|_| None).collect(),
            wrap: n - 1,
            hasher: KeyHasher::new(),
            stats: CacheStats::default(),
            window_start: 0,
            window_hits: 0,
            throttled: false,
            sample: 0,
        }
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// The counters.
    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    /// Whether insertions are throttled because the cache thrashes (see the
    /// module docs).
    pub fn throttled(&self) -> bool {
        self.throttled
    }

    /// Drops every entry.
    pub fn clear(&mut self) {
        for (t, s) in self.tags.iter_mut().zip(self.slots.iter_mut()) {
            *t = EMPTY_TAG;
            *s = None;
        }
    }

    /// The hash this cache files `key` under, for [`FlowCache::prefetch`]
    /// and the lookups of the pipeline that take it computed ahead.
    #[inline(always)]
    pub fn hash(&self, key: &FlowKey) -> u64 {
        self.hasher.hash(key)
    }

    /// The two candidate slots of a hash.
    #[inline(always)]
    fn ways(&self, hash: u64) -> [usize; 2] {
        let a = hash as usize & self.wrap;
        let b = (hash >> 32) as usize & self.wrap;
        [a, if b == a { a ^ 1 } else { b }]
    }

    /// Starts loading the two tags a lookup of `hash` reads first, so that
    /// a batch's lookups overlap their cache misses. Only a hint; see
    /// [`FlowCache::prefetch_entry`] for the second step.
    #[inline(always)]
    pub fn prefetch(&self, hash: u64) {
        let [a, b] = self.ways(hash);
        prefetch(&self.tags[a]);
        prefetch(&self.tags[b]);
    }

    /// Starts loading the entry a lookup of `hash` will compare its key
    /// with, if a tag says there is one (call a while after
    /// [`FlowCache::prefetch`], when the tags have arrived): a miss then
    /// costs no entry load at all. Only a hint.
    #[inline(always)]
    pub fn prefetch_entry(&self, hash: u64) {
        let tag = tag_of(hash);
        let [a, b] = self.ways(hash);
        let i = if self.tags[a] == tag {
            a
        } else if self.tags[b] == tag {
            b
        } else {
            return;
        };
        let e = &self.slots[i];
        // The key spans the entry's first lines.
        let base = (e as *const Option<Entry<V>>).cast::<u8>();
        prefetch_ptr(base);
        prefetch_ptr(base.wrapping_add(64));
        prefetch_ptr(base.wrapping_add(128));
    }

    /// The slot holding a current entry for `key`, if any.
    #[inline(always)]
    fn find(&self, hash: u64, key: &FlowKey, version: u64) -> Option<usize> {
        let tag = tag_of(hash);
        let [a, b] = self.ways(hash);
        if self.holds(a, tag, key, version) {
            Some(a)
        } else if self.holds(b, tag, key, version) {
            Some(b)
        } else {
            None
        }
    }

    /// Whether slot `i` holds a current entry for `key`.
    #[inline(always)]
    fn holds(&self, i: usize, tag: u64, key: &FlowKey, version: u64) -> bool {
        self.tags[i] == tag
            && match &self.slots[i] {
                Some(e) => e.version == version && e.key == *key,
                None => false,
            }
    }

    /// Closes the throttle window once it is [`THROTTLE_WINDOW`] lookups
    /// long. Called on misses only, so a hit costs nothing extra: a window
    /// full of hits closes at the next miss, and until a miss nothing is
    /// inserted anyway.
    #[inline(always)]
    fn count_miss(&mut self) {
        let s = &self.stats;
        let total = s.hits + s.misses + s.chain_mismatches;
        if total - self.window_start >= u64::from(THROTTLE_WINDOW) {
            self.end_window(total);
        }
    }

    #[cold]
    fn end_window(&mut self, total: u64) {
        let hits = self.stats.hits - self.window_hits;
        self.throttled = hits < (total - self.window_start) / 2;
        self.window_start = total;
        self.window_hits = self.stats.hits;
    }

    /// Looks `key` up for classifier snapshot `cls`, re-running the entry's
    /// filter chain through `run` (see the module docs).
    pub fn probe<T, P>(
        &mut self,
        cls: &Classifier<T, P>,
        key: &FlowKey,
        run: &mut impl FnMut(&P) -> bool,
    ) -> Probe<'_, V> {
        let found = self.find(self.hash(key), key, cls.version());
        self.probe_found(cls, found, run)
    }

    /// [`FlowCache::probe`] once [`FlowCache::find`] gave `found`.
    #[inline]
    fn probe_found<T, P>(
        &mut self,
        cls: &Classifier<T, P>,
        found: Option<usize>,
        run: &mut impl FnMut(&P) -> bool,
    ) -> Probe<'_, V> {
        let Some(i) = found else {
            self.stats.misses += 1;
            self.count_miss();
            return Probe::Miss {
                replay: FilterChain::new(),
            };
        };
        let Some(entry) = self.slots[i].as_ref() else {
            // `find` only returns occupied slots.
            self.stats.misses += 1;
            return Probe::Miss {
                replay: FilterChain::new(),
            };
        };
        let mut missed = None;
        for (n, (rank, answer)) in entry.chain.iter().enumerate() {
            let Some(p) = cls.rule(rank).and_then(|r| r.filter.as_ref()) else {
                // Only with a reused version number: treat as absent.
                missed = Some((entry.chain.prefix(n), false));
                break;
            };
            let now = run(p);
            if now != answer {
                let mut replay = entry.chain.prefix(n);
                replay.push(rank, now);
                missed = Some((replay, true));
                break;
            }
        }
        if let Some((replay, mismatch)) = missed {
            if mismatch {
                self.stats.chain_mismatches += 1;
            } else {
                self.stats.misses += 1;
            }
            self.count_miss();
            return Probe::Miss { replay };
        }
        self.stats.hits += 1;
        match self.slots[i].as_ref() {
            Some(entry) => Probe::Hit {
                value: &entry.value,
                chain: &entry.chain,
            },
            None => Probe::Miss {
                replay: FilterChain::new(),
            },
        }
    }

    /// Stores `value` for `key` with the chain that produced it, computed in
    /// snapshot `version`. An overflowed chain is not stored.
    pub fn insert(&mut self, key: &FlowKey, version: u64, chain: &FilterChain, value: V) {
        let hash = self.hash(key);
        self.insert_hashed(key, hash, version, chain, value);
    }

    /// [`FlowCache::insert`] with the key's [`FlowCache::hash`] computed
    /// ahead. While the cache is throttled (see the module docs) a key not
    /// in it yet is stored only one time in [`THROTTLE_INV_PROB`].
    pub(crate) fn insert_hashed(
        &mut self,
        key: &FlowKey,
        hash: u64,
        version: u64,
        chain: &FilterChain,
        value: V,
    ) {
        if !chain.is_cacheable() {
            self.stats.uncacheable += 1;
            return;
        }
        let tag = tag_of(hash);
        let ways = self.ways(hash);
        // Same key first, then an empty or stale slot, then a victim picked
        // by a hash bit (so two hot keys sharing both slots still both fit
        // most of the time).
        let same = ways.into_iter().find(|&i| {
            self.tags[i] == tag && self.slots[i].as_ref().is_some_and(|e| e.key == *key)
        });
        let pick = match same {
            Some(i) => i,
            None => {
                if self.throttled {
                    self.sample = self.sample.wrapping_add(1);
                    if self.sample & (THROTTLE_INV_PROB - 1) != 0 {
                        return;
                    }
                }
                ways.into_iter()
                    .find(|&i| self.slots[i].as_ref().is_none_or(|e| e.version != version))
                    .unwrap_or(ways[(hash >> 63) as usize])
            }
        };
        self.tags[pick] = tag;
        self.slots[pick] = Some(Entry {
            version,
            key: *key,
            chain: *chain,
            value,
        });
    }

    /// Probe, and on a miss classify (resuming after any mismatched chain),
    /// compute the value with `make` and insert it: the whole per-packet
    /// path. Returns the value and whether it came from the cache; either
    /// way `trace.chain()` holds the programs run for this packet.
    pub fn classify<T, P>(
        &mut self,
        cls: &Classifier<T, P>,
        key: &FlowKey,
        trace: &mut Trace,
        run: &mut impl FnMut(&P) -> bool,
        make: impl FnOnce(Option<&Arc<Rule<T, P>>>) -> V,
    ) -> (V, bool) {
        self.classify_with(cls, key, trace, run, |_, rule| make(rule))
    }

    /// [`FlowCache::classify`] whose `make` also gets the rank of the hit
    /// ([`NO_RANK`](crate::classifier::NO_RANK) on a miss): caching the rank
    /// alone is the cheapest value, no reference count is touched on a hit.
    pub fn classify_with<T, P>(
        &mut self,
        cls: &Classifier<T, P>,
        key: &FlowKey,
        trace: &mut Trace,
        run: &mut impl FnMut(&P) -> bool,
        make: impl FnOnce(u32, Option<&Arc<Rule<T, P>>>) -> V,
    ) -> (V, bool) {
        let hash = self.hash(key);
        let found = self.find(hash, key, cls.version());
        self.classify_found(cls, key, hash, found, trace, run, make)
    }

    /// [`FlowCache::classify_with`] once the key's [`FlowCache::hash`] is
    /// `hash` and [`FlowCache::find`] gave `found`.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn classify_found<T, P>(
        &mut self,
        cls: &Classifier<T, P>,
        key: &FlowKey,
        hash: u64,
        found: Option<usize>,
        trace: &mut Trace,
        run: &mut impl FnMut(&P) -> bool,
        make: impl FnOnce(u32, Option<&Arc<Rule<T, P>>>) -> V,
    ) -> (V, bool) {
        let replay = match self.probe_found(cls, found, run) {
            Probe::Hit { value, chain } => {
                trace.set_chain(chain);
                return (value.clone(), true);
            }
            Probe::Miss { replay } => replay,
        };
        let rank = cls.lookup_replay_rank(key, trace, &replay, run);
        let value = make(rank, cls.rule(rank));
        self.insert_hashed(key, hash, cls.version(), trace.chain(), value.clone());
        (value, false)
    }
}

impl FlowCache<u32> {
    /// The rank `key` hits in `cls` ([`NO_RANK`](crate::classifier::NO_RANK) for none), through the
    /// cache: the pipeline's lookup. `hash` is the key's
    /// [`FlowCache::hash`]. The hit path runs the entry's chain and copies
    /// nothing else; `trace.chain()` holds this packet's runs only after a
    /// miss (a hit's are the entry's, unchanged).
    #[inline(always)]
    pub(crate) fn lookup_rank<T, P>(
        &mut self,
        cls: &Classifier<T, P>,
        key: &FlowKey,
        hash: u64,
        trace: &mut Trace,
        run: &mut impl FnMut(&P) -> bool,
    ) -> u32 {
        let found = self.find(hash, key, cls.version());
        if let Some(i) = found
            && let Some(e) = self.slots[i].as_ref()
            && e.chain.is_empty()
        {
            let rank = e.value;
            self.stats.hits += 1;
            return rank;
        }
        self.lookup_rank_slow(cls, key, hash, found, trace, run)
    }

    /// A miss, or an entry with a filter chain to re-run (`found` is the
    /// slot [`FlowCache::find`] gave: not searched twice).
    #[inline(never)]
    fn lookup_rank_slow<T, P>(
        &mut self,
        cls: &Classifier<T, P>,
        key: &FlowKey,
        hash: u64,
        found: Option<usize>,
        trace: &mut Trace,
        run: &mut impl FnMut(&P) -> bool,
    ) -> u32 {
        self.classify_found(cls, key, hash, found, trace, run, |r, _| r)
            .0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::{FlowMatch, MAX_CHAIN};
    use crate::key::field;

    type C = Classifier<u32, u32>;

    /// Rules `0..n` with programs `0..n` at falling priority, then a plain
    /// catch-all with payload `n`.
    fn chain_table(n: u32, version: u64) -> C {
        let mut rules: Vec<Arc<Rule<u32, u32>>> = (0..n)
            .map(|i| {
                Arc::new(Rule {
                    priority: 100 - i as u16,
                    m: FlowMatch::catch_all(),
                    filter: Some(i),
                    data: i,
                })
            })
            .collect();
        rules.push(Arc::new(Rule {
            priority: 0,
            m: FlowMatch::catch_all(),
            filter: None,
            data: n,
        }));
        Classifier::build(rules, version)
    }

    fn key(port: u64) -> FlowKey {
        let mut k = FlowKey::new();
        k.set(field::IN_PORT, port);
        k
    }

    fn classify(cache: &mut FlowCache<u32>, cls: &C, k: &FlowKey, yes: Option<u32>) -> (u32, bool) {
        let mut t = Trace::new();
        cache.classify(cls, k, &mut t, &mut |&p| Some(p) == yes, |r| {
            r.map_or(u32::MAX, |r| r.data)
        })
    }

    #[test]
    fn overflowed_chains_are_not_cached() {
        let cls = chain_table(MAX_CHAIN as u32 + 1, 1);
        let mut cache = FlowCache::new(16);
        assert_eq!(
            classify(&mut cache, &cls, &key(1), None),
            (MAX_CHAIN as u32 + 1, false)
        );
        assert_eq!(
            classify(&mut cache, &cls, &key(1), None),
            (MAX_CHAIN as u32 + 1, false)
        );
        assert_eq!(cache.stats().uncacheable, 2);
        // Short enough when an early program says yes.
        assert_eq!(classify(&mut cache, &cls, &key(1), Some(2)), (2, false));
        assert_eq!(classify(&mut cache, &cls, &key(1), Some(2)), (2, true));
    }

    #[test]
    fn mismatch_then_new_entry() {
        let cls = chain_table(3, 1);
        let mut cache = FlowCache::new(16);
        assert_eq!(classify(&mut cache, &cls, &key(1), None), (3, false));
        assert_eq!(classify(&mut cache, &cls, &key(1), None), (3, true));
        assert_eq!(classify(&mut cache, &cls, &key(1), Some(1)), (1, false));
        assert_eq!(cache.stats().chain_mismatches, 1);
        assert_eq!(classify(&mut cache, &cls, &key(1), Some(1)), (1, true));
        // Another key is another entry.
        assert_eq!(classify(&mut cache, &cls, &key(2), Some(0)), (0, false));
        assert_eq!(classify(&mut cache, &cls, &key(1), Some(1)), (1, true));
    }

    #[test]
    fn versions_invalidate() {
        let v1 = chain_table(0, 1);
        let v2 = chain_table(0, 2);
        let mut cache = FlowCache::new(2);
        assert_eq!(cache.capacity(), 2);
        assert_eq!(classify(&mut cache, &v1, &key(1), None), (0, false));
        assert_eq!(classify(&mut cache, &v1, &key(1), None), (0, true));
        assert_eq!(classify(&mut cache, &v2, &key(1), None), (0, false));
        assert_eq!(classify(&mut cache, &v2, &key(1), None), (0, true));
        cache.clear();
        assert_eq!(classify(&mut cache, &v2, &key(1), None), (0, false));
    }

    #[test]
    fn thrashing_throttles_insertion_and_a_working_cache_does_not() {
        let cls = chain_table(0, 1);
        // Large enough that four keys practically never share both ways.
        let mut cache = FlowCache::new(1024);
        // Far more distinct keys than slots, in a loop: every lookup misses.
        for i in 0..4 * THROTTLE_WINDOW as u64 {
            classify(&mut cache, &cls, &key(i), None);
        }
        assert!(cache.throttled());
        // Few keys: they get in (one insertion in THROTTLE_INV_PROB tries),
        // the hit rate climbs and insertion is no longer throttled.
        for _ in 0..THROTTLE_WINDOW * THROTTLE_INV_PROB / 4 {
            for i in 0..4 {
                classify(&mut cache, &cls, &key(1_000_000 + i), None);
            }
        }
        // The window closes at the next miss.
        assert_eq!(
            classify(&mut cache, &cls, &key(2_000_000), None),
            (0, false)
        );
        assert!(!cache.throttled());
        // (That miss may have evicted a hot key; unthrottled, it is back
        // after one more pass.)
        for i in 0..4 {
            classify(&mut cache, &cls, &key(1_000_000 + i), None);
        }
        let before = cache.stats().hits;
        for i in 0..4 {
            assert_eq!(
                classify(&mut cache, &cls, &key(1_000_000 + i), None),
                (0, true)
            );
        }
        assert_eq!(cache.stats().hits, before + 4);
    }

    #[test]
    fn throttled_cache_still_updates_an_existing_entry() {
        let cls = chain_table(3, 1);
        let mut cache = FlowCache::new(16);
        for i in 0..2 * THROTTLE_WINDOW as u64 {
            classify(&mut cache, &cls, &key(100 + i), None);
        }
        assert!(cache.throttled());
        // A new key gets in within THROTTLE_INV_PROB misses.
        let mut tries = 0;
        while !classify(&mut cache, &cls, &key(1), None).1 {
            tries += 1;
            assert!(tries <= THROTTLE_INV_PROB);
        }
        assert!(cache.throttled());
        // Its chain changes: the entry is rewritten at once.
        let m = cache.stats().chain_mismatches;
        assert_eq!(classify(&mut cache, &cls, &key(1), Some(1)), (1, false));
        assert_eq!(cache.stats().chain_mismatches, m + 1);
        assert_eq!(classify(&mut cache, &cls, &key(1), Some(1)), (1, true));
    }

    #[test]
    fn keys_differing_only_in_the_tail_are_different_entries() {
        let cls = chain_table(0, 1);
        // Large: no two of these keys share both slots.
        let mut cache = FlowCache::new(DEFAULT_CAPACITY);
        let a = key(1);
        let mut b = a;
        b.set128(field::IPV6_DST, 1);
        let mut c = a;
        c.set(field::ARP_OP, 2);
        for k in [&a, &b, &c] {
            assert_eq!(classify(&mut cache, &cls, k, None), (0, false));
            assert_eq!(classify(&mut cache, &cls, k, None), (0, true));
        }
        // `a` is still there, `b` and `c` did not overwrite it.
        assert_eq!(classify(&mut cache, &cls, &a, None), (0, true));
        let mut d = b;
        d.set128(field::IPV6_DST, 2);
        assert_eq!(classify(&mut cache, &cls, &d, None), (0, false));
    }

    #[test]
    fn two_ways_hold_two_keys() {
        // With two slots both ways of every key are the same two slots: two
        // keys fit at once, a third evicts one.
        let cls = chain_table(0, 1);
        let mut cache = FlowCache::new(2);
        classify(&mut cache, &cls, &key(1), None);
        classify(&mut cache, &cls, &key(2), None);
        let before = cache.stats().hits;
        classify(&mut cache, &cls, &key(1), None);
        classify(&mut cache, &cls, &key(2), None);
        assert_eq!(cache.stats().hits, before + 2);
    }
}
