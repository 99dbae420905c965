//! Per-flow and per-table counters: one single-writer slot per worker,
//! summed when the agent reads them.
//!
//! A worker bumps its own slot with a relaxed load and store (no locked
//! read-modify-write on the hot path, no cache line shared with another
//! worker); readers sum the slots and may see a count a few packets old,
//! which is all OpenFlow statistics promise. Counters are never reset in
//! place: a FLOW_MOD with RESET_COUNTS gives the flow a new [`FlowCounters`],
//! so no reader ever races a writer's store with a reset.
//!
//! Times are nanoseconds of [`ofext_filter::helpers::monotonic_ns`], the
//! clock the workers read once per batch (and filter programs see through
//! `ktime_get_ns`), never 0.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use openflow::multipart::Counters;

/// Adds `n` to a counter that only one thread writes.
#[inline]
pub(crate) fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

#[derive(Debug, Default)]
#[repr(align(64))]
struct FlowSlot {
    packets: AtomicU64,
    bytes: AtomicU64,
    last_used_ns: AtomicU64,
}

/// A flow's packet and byte counters and the time it last matched a packet
/// (for idle timeouts).
#[derive(Debug)]
pub struct FlowCounters {
    created: Instant,
    created_ns: u64,
    slots: Box<[FlowSlot]>,
}

impl FlowCounters {
    /// Zeroed counters for `n_workers` workers (at least one slot), for a
    /// flow installed at `created` (= `created_ns` on the workers' clock).
    pub fn new(n_workers: usize, created: Instant, created_ns: u64) -> Self {
        Self {
            created,
            created_ns,
            slots: (0..n_workers.max(1)).map(|_| FlowSlot::default()).collect(),
        }
    }

    /// Counts one packet of `bytes` bytes matched by `worker` at `now_ns`.
    /// An out-of-range worker index counts in the last slot (never panics).
    #[inline]
    pub fn hit(&self, worker: usize, bytes: u64, now_ns: u64) {
        self.hit_n(worker, 1, bytes, now_ns);
    }

    /// Counts `packets` packets of `bytes` bytes in all, matched by
    /// `worker` at `now_ns` (a batch's hits on one flow at once).
    #[inline]
    pub fn hit_n(&self, worker: usize, packets: u64, bytes: u64, now_ns: u64) {
        let i = worker.min(self.slots.len() - 1);
        let s = &self.slots[i];
        bump(&s.packets, packets);
        bump(&s.bytes, bytes);
        if s.last_used_ns.load(Ordering::Relaxed) != now_ns {
            s.last_used_ns.store(now_ns, Ordering::Relaxed);
        }
    }

    /// When the flow was installed.
    pub fn created(&self) -> Instant {
        self.created
    }

    /// Packets and bytes over all workers.
    pub fn totals(&self) -> Counters {
        let mut c = Counters::default();
        for s in self.slots.iter() {
            c.packet_count = c
                .packet_count
                .wrapping_add(s.packets.load(Ordering::Relaxed));
            c.byte_count = c.byte_count.wrapping_add(s.bytes.load(Ordering::Relaxed));
        }
        c
    }

    /// The last time (workers' clock) any worker matched a packet to the
    /// flow, or its creation time if none has.
    pub fn last_used_ns(&self) -> u64 {
        self.slots
            .iter()
            .map(|s| s.last_used_ns.load(Ordering::Relaxed))
            .fold(self.created_ns, u64::max)
    }

    /// Number of worker slots.
    pub fn n_workers(&self) -> usize {
        self.slots.len()
    }
}

#[derive(Debug, Default)]
#[repr(align(64))]
struct TableSlot {
    lookups: AtomicU64,
    matched: AtomicU64,
}

/// A flow table's lookup and matched counters (TABLE stats).
#[derive(Debug)]
pub struct TableCounters {
    slots: Box<[TableSlot]>,
}

impl TableCounters {
    /// Zeroed counters for `n_workers` workers.
    pub fn new(n_workers: usize) -> Self {
        Self {
            slots: (0..n_workers.max(1))
                .map(|_| TableSlot::default())
                .collect(),
        }
    }

    /// Counts one lookup by `worker`, matched or not.
    #[inline]
    pub fn lookup(&self, worker: usize, matched: bool) {
        self.lookup_n(worker, 1, u64::from(matched));
    }

    /// Counts `lookups` lookups by `worker`, `matched` of which matched.
    #[inline]
    pub fn lookup_n(&self, worker: usize, lookups: u64, matched: u64) {
        let s = &self.slots[worker.min(self.slots.len() - 1)];
        bump(&s.lookups, lookups);
        if matched != 0 {
            bump(&s.matched, matched);
        }
    }

    /// `(lookup_count, matched_count)` over all workers.
    pub fn totals(&self) -> (u64, u64) {
        self.slots.iter().fold((0, 0), |(l, m), s| {
            (
                l.wrapping_add(s.lookups.load(Ordering::Relaxed)),
                m.wrapping_add(s.matched.load(Ordering::Relaxed)),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn flow_counters_sum_slots_and_track_last_use() {
        let c = FlowCounters::new(2, Instant::now(), 100);
        assert_eq!(c.last_used_ns(), 100);
        c.hit(0, 60, 150);
        c.hit(1, 1500, 120);
        c.hit(7, 64, 130); // out of range: last slot
        let t = c.totals();
        assert_eq!((t.packet_count, t.byte_count), (3, 1624));
        assert_eq!(c.last_used_ns(), 150);
        assert_eq!(c.n_workers(), 2);
    }

    #[test]
    fn table_counters() {
        let t = TableCounters::new(0);
        t.lookup(0, true);
        t.lookup(3, false);
        assert_eq!(t.totals(), (2, 1));
    }

    #[test]
    fn concurrent_single_writers_lose_nothing() {
        let c = Arc::new(FlowCounters::new(4, Instant::now(), 1));
        let hs: Vec<_> = (0..4)
            .map(|w| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000 {
                        c.hit(w, 10, i + 2);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let t = c.totals();
        assert_eq!((t.packet_count, t.byte_count), (40_000, 400_000));
    }
}
