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

use std::sync::Arc;

use crate::classifier::{Classifier, FilterChain, Rule, Trace};
use crate::key::{FlowKey, KeyHasher};

/// OVS's EMC size, a good default for one worker.
pub const DEFAULT_CAPACITY: usize = 8192;

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
    hash: u64,
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
    slots: Box<[Option<Entry<V>>]>,
    wrap: usize,
    hasher: KeyHasher,
    stats: CacheStats,
}

impl<V> core::fmt::Debug for FlowCache<V> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FlowCache")
            .field("capacity", &self.slots.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<V: Clone> FlowCache<V> {
    /// A cache of `capacity` entries, rounded up to a power of two (at least 2).
    pub fn new(capacity: usize) -> Self {
        let n = capacity.max(2).next_power_of_two();
        Self {
            slots: (0..n).map(|_| None).collect(),
            wrap: n - 1,
            hasher: KeyHasher::new(),
            stats: CacheStats::default(),
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

    /// Drops every entry.
    pub fn clear(&mut self) {
        for s in self.slots.iter_mut() {
            *s = None;
        }
    }

    #[inline]
    fn hash(&self, key: &FlowKey) -> u64 {
        self.hasher.hash(key)
    }

    /// The two candidate slots of a hash.
    #[inline]
    fn ways(&self, hash: u64) -> [usize; 2] {
        let a = hash as usize & self.wrap;
        let b = (hash >> 32) as usize & self.wrap;
        [a, if b == a { a ^ 1 } else { b }]
    }

    /// Looks `key` up for classifier snapshot `cls`, re-running the entry's
    /// filter chain through `run` (see the module docs).
    pub fn probe<T, P>(
        &mut self,
        cls: &Classifier<T, P>,
        key: &FlowKey,
        run: &mut impl FnMut(&P) -> bool,
    ) -> Probe<'_, V> {
        let hash = self.hash(key);
        let version = cls.version();
        let found = self.ways(hash).into_iter().find(|&i| {
            self.slots[i]
                .as_ref()
                .is_some_and(|e| e.hash == hash && e.version == version && e.key == *key)
        });
        let Some(i) = found else {
            self.stats.misses += 1;
            return Probe::Miss {
                replay: FilterChain::new(),
            };
        };
        let Some(entry) = self.slots[i].as_ref() else {
            self.stats.misses += 1;
            return Probe::Miss {
                replay: FilterChain::new(),
            };
        };
        for (n, (rank, answer)) in entry.chain.iter().enumerate() {
            let Some(p) = cls.rule(rank).and_then(|r| r.filter.as_ref()) else {
                // Only with a reused version number: treat as absent.
                self.stats.misses += 1;
                return Probe::Miss {
                    replay: entry.chain.prefix(n),
                };
            };
            let now = run(p);
            if now != answer {
                self.stats.chain_mismatches += 1;
                let mut replay = entry.chain.prefix(n);
                replay.push(rank, now);
                return Probe::Miss { replay };
            }
        }
        self.stats.hits += 1;
        Probe::Hit {
            value: &entry.value,
            chain: &entry.chain,
        }
    }

    /// Stores `value` for `key` with the chain that produced it, computed in
    /// snapshot `version`. An overflowed chain is not stored.
    pub fn insert(&mut self, key: &FlowKey, version: u64, chain: &FilterChain, value: V) {
        if !chain.is_cacheable() {
            self.stats.uncacheable += 1;
            return;
        }
        let hash = self.hash(key);
        let ways = self.ways(hash);
        // Same key first, then an empty or stale slot, then a victim picked
        // by a hash bit (so two hot keys sharing both slots still both fit
        // most of the time).
        let pick = ways
            .into_iter()
            .find(|&i| {
                self.slots[i]
                    .as_ref()
                    .is_some_and(|e| e.hash == hash && e.key == *key)
            })
            .or_else(|| {
                ways.into_iter()
                    .find(|&i| self.slots[i].as_ref().is_none_or(|e| e.version != version))
            })
            .unwrap_or(ways[(hash >> 63) as usize]);
        self.slots[pick] = Some(Entry {
            hash,
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
        let replay = match self.probe(cls, key, run) {
            Probe::Hit { value, chain } => {
                trace.set_chain(chain);
                return (value.clone(), true);
            }
            Probe::Miss { replay } => replay,
        };
        let rank = cls.lookup_replay_rank(key, trace, &replay, run);
        let value = make(rank, cls.rule(rank));
        self.insert(key, cls.version(), trace.chain(), value.clone());
        (value, false)
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
