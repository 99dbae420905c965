//! The flow classifier: which flow of a table a packet hits.
//!
//! ## What it answers
//!
//! Given a packet's [`FlowKey`], the highest-priority flow whose fields match
//! and whose filter program (if it has one) answers 1 on the packet. A flow
//! whose program answers anything else is skipped and lookup goes on with
//! the next flow in order, exactly as if its fields had not matched (Oko's
//! semantics, EXTENSION.md §1).
//!
//! "In order" is a total order, the *rank*: priority descending, and among
//! equal priorities the rule that comes first in the vector given to
//! [`Classifier::build`]. OpenFlow leaves the choice between overlapping
//! flows of equal priority undefined; we make it deterministic so that every
//! worker, the cache and the linear reference in the tests agree, and so
//! that stateful programs run in a reproducible order. The agent passes
//! flows in insertion order, so the earlier-added flow wins.
//!
//! The answer, *and the sequence of programs run*, are those of the trivial
//! algorithm: scan the flows by rank, and for each whose fields match, run
//! its program (if any) and stop at the first flow without a program or
//! whose program answers 1. Programs are stateful (maps), so running one
//! more or one fewer program, or in another order, would be a different
//! result: the tuple-space search below is built to be indistinguishable.
//! The programs run are recorded, in order, with their answers, in the
//! caller's [`Trace`] (the "filter chain" the flow cache replays).
//!
//! ## Tiers (tuple-space search)
//!
//! Rules are grouped by mask into *subtables*. A subtable is an
//! open-addressing hash table from the masked key words (only the words
//! its mask touches) to a *bucket*: the rules of that mask and masked value,
//! by rank. A bucket keeps only the rules that can ever win: its leading
//! rules *with* a program, then the first rule *without* one (its "plain"
//! rule); rules after the plain rule are always shadowed by it and are
//! dropped at build time.
//!
//! Subtables are visited by their best (smallest) rank. Lookup keeps:
//! - `best`: the smallest plain rank found so far, the answer if no
//!   program says yes before it;
//! - a cursor per visited bucket that still has untried program rules with
//!   a rank below `best`.
//!
//! Before visiting a subtable whose best rank is `r`, every pending program
//! rule with rank `< r` (and `< best`) is tried, smallest rank first: no rule
//! in that subtable or any later one can come before it, so that is exactly
//! the next rule the linear scan would try. Once `best < r`, no later
//! subtable can matter (early exit); the remaining cursors are then drained
//! up to `best`. Without filter programs this is plain priority-sorted
//! tuple-space search with early exit (OVS's `classifier_lookup` without
//! tries and staged lookup).
//!
//! ## Invariants
//!
//! - `rules` is sorted by rank; a rule's rank is its index there, stable for
//!   the lifetime of the snapshot.
//! - `subtables` is sorted by `min_rank`; bucket rank lists are ascending.
//! - A bucket's leading list holds only ranks of rules with a filter; its
//!   `plain` is a rule without one (or [`NO_RANK`]).
//! - `FlowMatch::value` has no bit outside its mask, so rules with equal
//!   masks and equal masked values land in the same bucket.
//!
//! ## Thread safety and versioning
//!
//! A [`Classifier`] is immutable once built. The agent builds a new one for
//! every change and publishes it (inside its versioned snapshot) to the
//! workers, which read it without locks; `Classifier` is `Send + Sync`
//! whenever the payload and program handle are. The version number given to
//! [`Classifier::build`] must be distinct for every snapshot ever published
//! to a worker: the flow cache ([`crate::cache`]) keys its entries by it and
//! refers to rules by rank, which is only meaningful in the snapshot of
//! that version.
//!
//! Lookup never allocates once the caller's [`Trace`] has grown its cursor
//! buffer to the largest number of simultaneously pending buckets (a handful
//! even for adversarial tables; it is reused from packet to packet), and it
//! takes no lock and touches no shared counter: the caller's `run` closure
//! decides how a program runs and what it records.

mod flow_match;

pub use flow_match::FlowMatch;

use std::collections::HashMap;
use std::sync::Arc;

use ofext_filter::program::Program;

use crate::key::{FlowKey, KEY_WORDS, KeyHasher};

/// The rank meaning "none".
pub const NO_RANK: u32 = u32::MAX;

/// How many program runs a [`FilterChain`] records; a lookup that runs more
/// marks its chain overflowed and its result uncacheable.
pub const MAX_CHAIN: usize = 8;

// The answers are a bitmask in a u16.
const _: () = assert!(MAX_CHAIN < 16);

/// One flow as the classifier sees it: priority, match, the program to run
/// (resolved from `m.filter_prog` by the agent) and the caller's payload.
///
/// `P` is the program handle handed to the caller's run closure; it is
/// `Arc<Program>` in the switch and anything convenient in tests.
#[derive(Debug)]
pub struct Rule<T, P = Arc<Program>> {
    /// OpenFlow priority (higher wins).
    pub priority: u16,
    /// The match.
    pub m: FlowMatch,
    /// The program that must answer 1 for the flow to match. Lookup runs
    /// this handle; `m.filter_prog` is only the id it was resolved from.
    pub filter: Option<P>,
    /// The caller's payload (instructions, counters, …).
    pub data: T,
}

/// The programs one lookup ran, in order, and their answers (Oko's filter
/// chain). Fixed size and `Copy`: no allocation per packet.
///
/// Programs are named by the rank of their rule in the classifier that ran
/// them; a chain is only meaningful together with that classifier's version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterChain {
    ranks: [u32; MAX_CHAIN],
    answers: u16,
    len: u8,
    overflow: bool,
}

impl Default for FilterChain {
    fn default() -> Self {
        Self::new()
    }
}

impl FilterChain {
    /// An empty chain.
    pub const fn new() -> Self {
        Self {
            ranks: [NO_RANK; MAX_CHAIN],
            answers: 0,
            len: 0,
            overflow: false,
        }
    }

    /// Forgets every entry.
    #[inline]
    pub fn clear(&mut self) {
        self.len = 0;
        self.answers = 0;
        self.overflow = false;
    }

    /// Appends a run; past [`MAX_CHAIN`] entries only the overflow flag is set.
    #[inline]
    pub fn push(&mut self, rank: u32, answer: bool) {
        let i = usize::from(self.len);
        if let Some(slot) = self.ranks.get_mut(i) {
            *slot = rank;
            self.answers |= u16::from(answer) << i;
            self.len += 1;
        } else {
            self.overflow = true;
        }
    }

    /// Number of recorded runs.
    #[inline]
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether no program ran.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether more runs happened than were recorded.
    #[inline]
    pub fn overflowed(&self) -> bool {
        self.overflow
    }

    /// Whether the chain is complete, so a result may be cached with it.
    #[inline]
    pub fn is_cacheable(&self) -> bool {
        !self.overflow
    }

    /// The `i`th run: the rule's rank and the program's answer.
    #[inline]
    pub fn get(&self, i: usize) -> Option<(u32, bool)> {
        (i < self.len()).then(|| (self.ranks[i], self.answers & (1 << i) != 0))
    }

    /// The recorded runs, in order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, bool)> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// The first `n` entries (no overflow flag).
    pub(crate) fn prefix(&self, n: usize) -> Self {
        let mut c = *self;
        c.len = n.min(self.len()) as u8;
        c.answers &= (1u16 << c.len) - 1;
        c.overflow = false;
        c
    }
}

/// A pending bucket: untried program rules `filtered[pos..end]`.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    pos: u32,
    end: u32,
}

/// Per-worker lookup state, reused from packet to packet: the filter chain
/// of the last lookup and the scratch space lookup needs.
#[derive(Debug, Default)]
pub struct Trace {
    chain: FilterChain,
    cursors: Vec<Cursor>,
}

impl Trace {
    /// An empty trace.
    pub fn new() -> Self {
        Self {
            chain: FilterChain::new(),
            cursors: Vec::with_capacity(8),
        }
    }

    /// The programs the last lookup ran, with their answers.
    pub fn chain(&self) -> &FilterChain {
        &self.chain
    }

    /// Records a chain obtained elsewhere (a flow-cache hit).
    pub(crate) fn set_chain(&mut self, chain: &FilterChain) {
        self.chain = *chain;
    }
}

/// One distinct masked value of a subtable.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Leading program rules: `filtered[lead_start..lead_start + lead_len]`.
    lead_start: u32,
    lead_len: u32,
    /// The first rule without a program, or [`NO_RANK`].
    plain: u32,
}

/// All rules with one mask.
#[derive(Debug)]
struct Subtable {
    /// The smallest rank of the subtable's rules.
    min_rank: u32,
    n_words: usize,
    /// The key words the mask touches (`words[..n_words]`) and the mask of
    /// each (`mask[j]` is the mask of word `words[j]`): packed, so a lookup
    /// reads only what it uses.
    words: [u8; KEY_WORDS],
    mask: [u64; KEY_WORDS],
    /// Open addressing: `(hash tag, bucket + 1)`, 0 = empty; power-of-two size.
    slots: Box<[(u32, u32)]>,
    /// Masked values of the buckets, `n_words` per bucket.
    values: Box<[u64]>,
    buckets: Box<[Bucket]>,
}

impl Subtable {
    #[inline]
    fn hash(&self, state: &KeyHasher, key: &FlowKey) -> u64 {
        state.hash_masked(key, &self.words[..self.n_words], &self.mask)
    }

    /// The bucket `key` falls into, if any.
    #[inline]
    fn find(&self, state: &KeyHasher, key: &FlowKey) -> Option<&Bucket> {
        let h = self.hash(state, key);
        let tag = (h >> 32) as u32;
        let n = self.n_words;
        let wrap = self.slots.len() - 1;
        let mut i = h as usize & wrap;
        loop {
            let (t, b) = self.slots[i];
            if b == 0 {
                return None;
            }
            if t == tag {
                let b = (b - 1) as usize;
                let vals = &self.values[b * n..b * n + n];
                let same = self.words[..n]
                    .iter()
                    .zip(&self.mask)
                    .zip(vals)
                    .all(|((&w, &m), &v)| key.w[usize::from(w)] & m == v);
                if same {
                    return self.buckets.get(b);
                }
            }
            i = (i + 1) & wrap;
        }
    }
}

/// Build-time grouping of the rules of one mask.
struct MaskGroup {
    mask: FlowKey,
    /// Masked values, one per bucket, in order of their first rule.
    values: Vec<FlowKey>,
    /// Rules per bucket (then, after counting, where each bucket's ranks
    /// start in `ranks`).
    counts: Vec<u32>,
    /// Masked value → index in `values`.
    index: HashMap<FlowKey, u32, foldhash::fast::RandomState>,
}

/// An immutable, versioned classifier over rules with payload `T` and
/// program handle `P` (see the module docs).
#[derive(Debug)]
pub struct Classifier<T, P = Arc<Program>> {
    version: u64,
    /// Rules by rank.
    rules: Vec<Arc<Rule<T, P>>>,
    /// By `min_rank`.
    subtables: Vec<Subtable>,
    /// Ranks of the leading program rules of every bucket.
    filtered: Vec<u32>,
    hasher: KeyHasher,
}

impl<T, P> Classifier<T, P> {
    /// Builds the classifier of `rules` as snapshot `version`. Among rules of
    /// equal priority, earlier ones in `rules` win.
    pub fn build(mut rules: Vec<Arc<Rule<T, P>>>, version: u64) -> Self {
        // Stable: equal priorities keep their input order.
        rules.sort_by_key(|r| std::cmp::Reverse(r.priority));
        // Rank NO_RANK is reserved; a table that large cannot be built anyway.
        rules.truncate(NO_RANK as usize);
        // Randomly seeded: keys are chosen by whoever sends packets, so
        // bucket placement should not be predictable from outside.
        let hasher = KeyHasher::new();

        // Group: mask -> masked value -> ranks, in rank order. Built in two
        // passes over flat arrays (each rule's bucket, then the ranks per
        // bucket by counting), not a vector per bucket: tables of 100,000
        // flows are rebuilt on every publication that touches them.
        let mut by_mask: HashMap<FlowKey, usize, foldhash::fast::RandomState> = HashMap::default();
        let mut groups: Vec<MaskGroup> = Vec::new();
        let mut assign: Vec<(u32, u32)> = Vec::with_capacity(rules.len());
        for r in &rules {
            let gi = *by_mask.entry(r.m.mask).or_insert_with(|| {
                groups.push(MaskGroup {
                    mask: r.m.mask,
                    values: Vec::new(),
                    counts: Vec::new(),
                    index: HashMap::default(),
                });
                groups.len() - 1
            });
            let MaskGroup {
                values,
                counts,
                index,
                ..
            } = &mut groups[gi];
            let value = r.m.value.masked(&r.m.mask);
            let bi = *index.entry(value).or_insert_with(|| {
                values.push(value);
                counts.push(0);
                (values.len() - 1) as u32
            });
            counts[bi as usize] += 1;
            assign.push((gi as u32, bi));
        }
        // Per group: bucket starts (prefix sums), then the ranks in rank
        // order, so each bucket's slice is ascending.
        let mut group_ranks: Vec<Vec<u32>> = Vec::with_capacity(groups.len());
        for g in &mut groups {
            let mut start = 0u32;
            for c in g.counts.iter_mut() {
                let n = *c;
                *c = start;
                start += n;
            }
            g.counts.push(start);
            group_ranks.push(vec![0; start as usize]);
        }
        let mut next: Vec<Vec<u32>> = groups.iter().map(|g| g.counts.clone()).collect();
        for (rank, &(gi, bi)) in assign.iter().enumerate() {
            let at = &mut next[gi as usize][bi as usize];
            group_ranks[gi as usize][*at as usize] = rank as u32;
            *at += 1;
        }

        // Groups were created in rank order of their first rule, so they are
        // already sorted by min_rank.
        let mut filtered = Vec::new();
        let mut subtables = Vec::with_capacity(groups.len());
        for (
            MaskGroup {
                mask,
                values: bucket_values,
                counts: starts,
                ..
            },
            all_ranks,
        ) in groups.into_iter().zip(group_ranks)
        {
            let n_buckets = bucket_values.len();
            let mut words = [0u8; KEY_WORDS];
            let mut packed = [0u64; KEY_WORDS];
            let mut n_words = 0;
            for (i, &m) in mask.w.iter().enumerate() {
                if m != 0 {
                    words[n_words] = i as u8;
                    packed[n_words] = m;
                    n_words += 1;
                }
            }
            let mut st = Subtable {
                min_rank: all_ranks.first().copied().unwrap_or(NO_RANK),
                n_words,
                words,
                mask: packed,
                slots: vec![(0, 0); (n_buckets * 2).next_power_of_two().max(2)].into_boxed_slice(),
                values: Box::default(),
                buckets: Box::default(),
            };
            let mut values = Vec::with_capacity(n_buckets * n_words);
            let mut out = Vec::with_capacity(n_buckets);
            for (bi, value) in bucket_values.iter().enumerate() {
                let ranks = &all_ranks[starts[bi] as usize..starts[bi + 1] as usize];
                let lead_start = filtered.len() as u32;
                let mut plain = NO_RANK;
                for &rank in ranks {
                    if rules[rank as usize].filter.is_some() {
                        filtered.push(rank);
                    } else {
                        plain = rank;
                        break;
                    }
                }
                out.push(Bucket {
                    lead_start,
                    lead_len: filtered.len() as u32 - lead_start,
                    plain,
                });
                values.extend(words[..n_words].iter().map(|&w| value.w[usize::from(w)]));
                let h = st.hash(&hasher, value);
                let wrap = st.slots.len() - 1;
                let mut i = h as usize & wrap;
                while st.slots[i].1 != 0 {
                    i = (i + 1) & wrap;
                }
                st.slots[i] = ((h >> 32) as u32, bi as u32 + 1);
            }
            st.values = values.into_boxed_slice();
            st.buckets = out.into_boxed_slice();
            subtables.push(st);
        }
        Self {
            version,
            rules,
            subtables,
            filtered,
            hasher,
        }
    }

    /// The snapshot version given to [`Classifier::build`].
    #[inline]
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The rules by rank.
    pub fn rules(&self) -> &[Arc<Rule<T, P>>] {
        &self.rules
    }

    /// The rule of rank `rank`.
    #[inline]
    pub fn rule(&self, rank: u32) -> Option<&Arc<Rule<T, P>>> {
        self.rules.get(rank as usize)
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there is no rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Number of distinct masks (subtables).
    pub fn n_subtables(&self) -> usize {
        self.subtables.len()
    }

    /// The flow `key` hits (see the module docs), running programs through
    /// `run`. The programs run are recorded in `trace.chain()`.
    #[inline]
    pub fn lookup(
        &self,
        key: &FlowKey,
        trace: &mut Trace,
        run: &mut impl FnMut(&P) -> bool,
    ) -> Option<&Arc<Rule<T, P>>> {
        let rank = self.lookup_rank(key, trace, &mut |_, p| run(p));
        self.rule(rank)
    }

    /// Like [`Classifier::lookup`], but the first runs take their answers
    /// from `replay` instead of running the program, as long as the rule
    /// about to run is the one `replay` names. The flow cache uses this to
    /// resume a lookup after a chain mismatch without running any program
    /// twice for one packet. The chain in `trace` records every run,
    /// replayed or not.
    pub fn lookup_replay(
        &self,
        key: &FlowKey,
        trace: &mut Trace,
        replay: &FilterChain,
        run: &mut impl FnMut(&P) -> bool,
    ) -> Option<&Arc<Rule<T, P>>> {
        self.rule(self.lookup_replay_rank(key, trace, replay, run))
    }

    /// [`Classifier::lookup_replay`] returning the rank of the hit (or
    /// [`NO_RANK`]).
    pub fn lookup_replay_rank(
        &self,
        key: &FlowKey,
        trace: &mut Trace,
        replay: &FilterChain,
        run: &mut impl FnMut(&P) -> bool,
    ) -> u32 {
        let mut i = 0;
        self.lookup_rank(key, trace, &mut |rank, p| match replay.get(i) {
            Some((r, answer)) if r == rank => {
                i += 1;
                answer
            }
            _ => {
                // A lookup is deterministic given the answers, so this only
                // happens after the replay is used up.
                i = MAX_CHAIN;
                run(p)
            }
        })
    }

    /// The lookup proper: the rank of the hit or [`NO_RANK`]. `run` gets the
    /// rank of the rule whose program it runs.
    #[inline]
    pub fn lookup_rank(
        &self,
        key: &FlowKey,
        trace: &mut Trace,
        run: &mut impl FnMut(u32, &P) -> bool,
    ) -> u32 {
        trace.chain.clear();
        trace.cursors.clear();
        let mut best = NO_RANK;
        for st in &self.subtables {
            if st.min_rank > best {
                break;
            }
            if !trace.cursors.is_empty() {
                let hit = self.drain(trace, st.min_rank.min(best), run);
                if hit != NO_RANK {
                    return hit;
                }
            }
            if let Some(b) = st.find(&self.hasher, key) {
                if b.lead_len > 0 && self.filtered[b.lead_start as usize] < best {
                    trace.cursors.push(Cursor {
                        pos: b.lead_start,
                        end: b.lead_start + b.lead_len,
                    });
                }
                best = best.min(b.plain);
            }
        }
        if !trace.cursors.is_empty() {
            let hit = self.drain(trace, best, run);
            if hit != NO_RANK {
                return hit;
            }
        }
        best
    }

    /// Tries pending program rules with rank `< limit`, smallest first, and
    /// returns the first whose program says yes (or [`NO_RANK`]).
    fn drain(&self, trace: &mut Trace, limit: u32, run: &mut impl FnMut(u32, &P) -> bool) -> u32 {
        loop {
            let mut min = (NO_RANK, usize::MAX);
            for (ci, c) in trace.cursors.iter().enumerate() {
                let head = self.filtered[c.pos as usize];
                if head < min.0 {
                    min = (head, ci);
                }
            }
            let (rank, ci) = min;
            if rank >= limit {
                return NO_RANK;
            }
            let answer = match &self.rules[rank as usize].filter {
                Some(p) => run(rank, p),
                None => true,
            };
            trace.chain.push(rank, answer);
            if answer {
                return rank;
            }
            let c = &mut trace.cursors[ci];
            c.pos += 1;
            if c.pos == c.end {
                trace.cursors.swap_remove(ci);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{FieldLoc, field};

    /// A rule on the given `(field, value, mask)` triples with an optional
    /// fake program id; the payload is a name for the assertions.
    fn rule(
        priority: u16,
        fields: &[(FieldLoc, u64, u64)],
        filter: Option<u32>,
        name: &'static str,
    ) -> Arc<Rule<&'static str, u32>> {
        let mut m = FlowMatch::catch_all();
        for &(f, v, mask) in fields {
            m.mask.set(f, mask);
            m.value.set(f, v & mask);
        }
        m.filter_prog = filter;
        Arc::new(Rule {
            priority,
            m,
            filter,
            data: name,
        })
    }

    fn key(fields: &[(FieldLoc, u64)]) -> FlowKey {
        let mut k = FlowKey::new();
        for &(f, v) in fields {
            k.set(f, v);
        }
        k
    }

    /// Looks up with programs that answer from `yes` (ids that say 1) and
    /// returns the hit's name and the programs run with their answers.
    fn look(
        c: &Classifier<&'static str, u32>,
        k: &FlowKey,
        yes: &[u32],
    ) -> (Option<&'static str>, Vec<(u32, bool)>) {
        let mut t = Trace::new();
        let mut ran = Vec::new();
        let hit = c.lookup(k, &mut t, &mut |&p| {
            let a = yes.contains(&p);
            ran.push((p, a));
            a
        });
        let chain: Vec<(u32, bool)> = t
            .chain()
            .iter()
            .map(|(rank, a)| (c.rule(rank).unwrap().filter.unwrap(), a))
            .collect();
        assert_eq!(chain, ran, "the chain records exactly the runs");
        (hit.map(|r| r.data), ran)
    }

    const ALL: u64 = u64::MAX;

    #[test]
    fn empty_and_catch_all() {
        let c: Classifier<&str, u32> = Classifier::build(vec![], 1);
        assert!(c.is_empty());
        assert_eq!(look(&c, &FlowKey::new(), &[]).0, None);
        let c = Classifier::build(vec![rule(0, &[], None, "miss")], 2);
        assert_eq!(c.version(), 2);
        assert_eq!(look(&c, &key(&[(field::IN_PORT, 5)]), &[]).0, Some("miss"));
    }

    #[test]
    fn priorities_and_masks() {
        let c = Classifier::build(
            vec![
                rule(0, &[], None, "default"),
                rule(10, &[(field::ETH_TYPE, 0x0800, ALL)], None, "ip"),
                rule(
                    20,
                    &[
                        (field::ETH_TYPE, 0x0800, ALL),
                        (field::IPV4_DST, 0x0a00_0000, 0xff00_0000),
                    ],
                    None,
                    "10/8",
                ),
                rule(
                    30,
                    &[
                        (field::ETH_TYPE, 0x0800, ALL),
                        (field::IPV4_DST, 0x0a01_0000, 0xffff_0000),
                    ],
                    None,
                    "10.1/16",
                ),
                rule(5, &[(field::IN_PORT, 1, ALL)], None, "port1"),
            ],
            1,
        );
        assert_eq!(c.n_subtables(), 5);
        let ip = |a: u64| {
            key(&[
                (field::ETH_TYPE, 0x0800),
                (field::IPV4_DST, a),
                (field::IN_PORT, 1),
            ])
        };
        assert_eq!(look(&c, &ip(0x0a01_0203), &[]).0, Some("10.1/16"));
        assert_eq!(look(&c, &ip(0x0a02_0203), &[]).0, Some("10/8"));
        assert_eq!(look(&c, &ip(0x0b00_0001), &[]).0, Some("ip"));
        assert_eq!(look(&c, &key(&[(field::IN_PORT, 1)]), &[]).0, Some("port1"));
        assert_eq!(
            look(&c, &key(&[(field::IN_PORT, 2)]), &[]).0,
            Some("default")
        );
    }

    #[test]
    fn equal_priority_earlier_rule_wins() {
        let a = rule(7, &[(field::IN_PORT, 1, ALL)], None, "a");
        let b = rule(7, &[(field::ETH_TYPE, 0x0800, ALL)], None, "b");
        let k = key(&[(field::IN_PORT, 1), (field::ETH_TYPE, 0x0800)]);
        let c = Classifier::build(vec![a.clone(), b.clone()], 1);
        assert_eq!(look(&c, &k, &[]).0, Some("a"));
        let c = Classifier::build(vec![b, a], 1);
        assert_eq!(look(&c, &k, &[]).0, Some("b"));
        // Same mask and value too (one bucket).
        let c = Classifier::build(
            vec![
                rule(7, &[(field::IN_PORT, 1, ALL)], None, "first"),
                rule(7, &[(field::IN_PORT, 1, ALL)], None, "second"),
            ],
            1,
        );
        assert_eq!(look(&c, &k, &[]).0, Some("first"));
    }

    #[test]
    fn filter_falls_through_within_a_bucket() {
        let c = Classifier::build(
            vec![
                rule(30, &[(field::IN_PORT, 1, ALL)], Some(1), "p1"),
                rule(20, &[(field::IN_PORT, 1, ALL)], Some(2), "p2"),
                rule(10, &[(field::IN_PORT, 1, ALL)], None, "plain"),
                rule(5, &[(field::IN_PORT, 1, ALL)], Some(3), "shadowed"),
            ],
            1,
        );
        let k = key(&[(field::IN_PORT, 1)]);
        assert_eq!(look(&c, &k, &[1, 2, 3]), (Some("p1"), vec![(1, true)]));
        assert_eq!(
            look(&c, &k, &[2]),
            (Some("p2"), vec![(1, false), (2, true)])
        );
        assert_eq!(
            look(&c, &k, &[3]),
            (Some("plain"), vec![(1, false), (2, false)])
        );
        assert_eq!(look(&c, &key(&[(field::IN_PORT, 2)]), &[1]), (None, vec![]));
    }

    #[test]
    fn filter_falls_through_across_subtables_in_rank_order() {
        // Interleaved priorities across three masks; programs must run in
        // global priority order, and only down to the winner.
        let c = Classifier::build(
            vec![
                rule(50, &[(field::IN_PORT, 1, ALL)], Some(50), "a50"),
                rule(40, &[(field::ETH_TYPE, 0x0800, ALL)], Some(40), "b40"),
                rule(30, &[(field::IN_PORT, 1, ALL)], Some(30), "a30"),
                rule(20, &[(field::ETH_TYPE, 0x0800, ALL)], None, "b20"),
                rule(25, &[(field::VLAN_PCP, 3, ALL)], Some(25), "c25"),
                rule(10, &[(field::IN_PORT, 1, ALL)], None, "a10"),
                rule(45, &[(field::VLAN_PCP, 3, ALL)], Some(45), "c45"),
            ],
            1,
        );
        let k = key(&[
            (field::IN_PORT, 1),
            (field::ETH_TYPE, 0x0800),
            (field::VLAN_PCP, 3),
        ]);
        let f = |v: &[u32]| v.iter().map(|&p| (p, false)).collect::<Vec<_>>();
        assert_eq!(look(&c, &k, &[]), (Some("b20"), f(&[50, 45, 40, 30, 25])));
        assert_eq!(
            look(&c, &k, &[30]),
            (Some("a30"), [f(&[50, 45, 40]), vec![(30, true)]].concat())
        );
        assert_eq!(
            look(&c, &k, &[25, 45]),
            (Some("c45"), vec![(50, false), (45, true)])
        );
        // Without the ETH_TYPE subtable matching, b20 is out: a10 wins.
        let k2 = key(&[(field::IN_PORT, 1), (field::VLAN_PCP, 3)]);
        assert_eq!(look(&c, &k2, &[]), (Some("a10"), f(&[50, 45, 30, 25])));
    }

    #[test]
    fn early_exit_skips_lower_subtables_but_not_pending_programs() {
        // A plain high-priority hit: no lower program may run.
        let c = Classifier::build(
            vec![
                rule(100, &[(field::IN_PORT, 1, ALL)], None, "top"),
                rule(90, &[(field::ETH_TYPE, 0x0800, ALL)], Some(90), "below"),
                rule(
                    95,
                    &[(field::IN_PORT, 1, ALL), (field::ETH_TYPE, 0x0800, ALL)],
                    Some(95),
                    "never",
                ),
            ],
            1,
        );
        let k = key(&[(field::IN_PORT, 1), (field::ETH_TYPE, 0x0800)]);
        assert_eq!(look(&c, &k, &[90, 95]), (Some("top"), vec![]));
        // A program rule in an early subtable whose bucket's plain rule has a
        // low priority must still lose to a plain rule found later.
        let c = Classifier::build(
            vec![
                rule(100, &[(field::IN_PORT, 1, ALL)], Some(1), "p100"),
                rule(80, &[(field::ETH_TYPE, 0x0800, ALL)], None, "plain80"),
                rule(60, &[(field::IN_PORT, 1, ALL)], Some(2), "p60"),
                rule(10, &[(field::IN_PORT, 1, ALL)], None, "plain10"),
            ],
            1,
        );
        assert_eq!(look(&c, &k, &[2]), (Some("plain80"), vec![(1, false)]));
        assert_eq!(look(&c, &k, &[1]), (Some("p100"), vec![(1, true)]));
        let k2 = key(&[(field::IN_PORT, 1)]);
        assert_eq!(
            look(&c, &k2, &[2]),
            (Some("p60"), vec![(1, false), (2, true)])
        );
        assert_eq!(
            look(&c, &k2, &[]),
            (Some("plain10"), vec![(1, false), (2, false)])
        );
    }

    #[test]
    fn chain_overflow_is_flagged() {
        let rules = (0..MAX_CHAIN as u32 + 2)
            .map(|i| {
                rule(
                    100 - i as u16,
                    &[(field::IN_PORT, u64::from(i), 0)],
                    Some(i),
                    "p",
                )
            })
            .collect();
        let c = Classifier::build(rules, 1);
        let mut t = Trace::new();
        assert!(c.lookup(&FlowKey::new(), &mut t, &mut |_| false).is_none());
        assert_eq!(t.chain().len(), MAX_CHAIN);
        assert!(t.chain().overflowed() && !t.chain().is_cacheable());
        assert!(
            c.lookup(&FlowKey::new(), &mut t, &mut |&p| p == 1)
                .is_some()
        );
        assert!(t.chain().is_cacheable());
        assert_eq!(
            t.chain().iter().collect::<Vec<_>>(),
            vec![(0, false), (1, true)]
        );
    }

    #[test]
    fn replay_answers_are_not_rerun() {
        let c = Classifier::build(
            vec![
                rule(3, &[], Some(7), "a"),
                rule(2, &[], Some(8), "b"),
                rule(1, &[], None, "c"),
            ],
            1,
        );
        let mut replay = FilterChain::new();
        replay.push(0, false);
        let mut t = Trace::new();
        let mut ran = Vec::new();
        let hit = c.lookup_replay(&FlowKey::new(), &mut t, &replay, &mut |&p| {
            ran.push(p);
            true
        });
        assert_eq!(hit.map(|r| r.data), Some("b"));
        assert_eq!(ran, vec![8]);
        assert_eq!(
            t.chain().iter().collect::<Vec<_>>(),
            vec![(0, false), (1, true)]
        );
    }
}
