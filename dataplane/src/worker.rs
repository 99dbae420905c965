//! Worker threads and the lock-free channel between them and the agent.
//!
//! ## Threads and ownership
//!
//! [`Dataplane::start`] spreads the ports over `n_workers` threads (port *i*
//! to worker *i mod n*), each optionally pinned to a core. A worker owns its
//! ports' receive and transmit sides, its buffer pool, its [`Executor`]
//! (caches, scratch) and a tx link into every port another worker owns. Its
//! loop, run to completion and without locks:
//!
//! 1. if the agent published a new snapshot, switch to it (between batches,
//!    never inside one) and acknowledge its version;
//! 2. read the clock once for the batch (the filter programs'
//!    `ktime_get_ns`, meters, idle timeouts) and pin the maps' epoch once;
//! 3. run queued packet-outs, transmit what other workers queued for its
//!    ports, receive up to [`MAX_BATCH`] frames per port and run them
//!    through the pipeline as a batch ([`Executor::process_batch`]), flush;
//! 4. every 100 ms look at its ports' links and at every port's liveness
//!    (fast-failover groups);
//! 5. with nothing to do for a while, back off: `poll(2)` on AF_PACKET
//!    sockets, or short sleeps for ports without a descriptor, so an idle
//!    switch does not burn its cores (OVS's PMD threads spin; we trade
//!    ~50 µs of wake-up latency on an idle worker for a quiet machine).
//!
//! Outputs find their port through a dense table indexed by port number
//! (numbers below 1024; others by binary search), built once: the ports of
//! a dataplane never change.
//!
//! ## Publication and acknowledgement
//!
//! The agent publishes an immutable [`Snapshot`] with [`Dataplane::publish`]
//! (an `ArcSwap` store and a version number); workers load it at step 1
//! and store the version they run in their own cache-padded slot.
//! [`Dataplane::wait_acked`] returns once every worker runs a version at
//! least as new: the agent answers a BARRIER only then. Old snapshots are
//! freed when the last worker lets go of them.
//!
//! ## Packet-ins and packet-outs
//!
//! Packet-ins go to the agent through one bounded lock-free MPMC queue
//! (`crossbeam_queue::ArrayQueue`); a full queue drops and counts, a worker
//! never waits for the agent. Packet-outs go to the worker that owns the
//! packet's in_port (worker 0 for the reserved ports) through a bounded
//! queue per worker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use crossbeam_queue::ArrayQueue;
use crossbeam_utils::CachePadded;
use ofext_filter::helpers::{TimeSource, monotonic_ns};
use ofext_filter::maps::BatchGuard;

use crate::buf::{BufPool, MAX_FRAME, PacketBuf};
use crate::counters::bump;
use crate::group::{GroupView, LivePorts};
use crate::pipeline::actions::Act;
use crate::pipeline::{Ctx, ExecStats, Executor, PacketInMeta, Sink, Snapshot};
use crate::port::afpacket::poll_readable;
use crate::port::{MAX_BATCH, Port, PortInfo, PortStats, TxLinkReceiver, TxLinkSender, tx_link};

/// Dataplane settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataplaneConfig {
    /// Worker threads (at least 1).
    pub n_workers: usize,
    /// Pin worker *i* to core *i mod cores*.
    pub pin: bool,
    /// Exact-match cache entries per table per worker (0 disables).
    pub cache_capacity: usize,
    /// Packet-ins queued for the agent before drops.
    pub packet_in_capacity: usize,
    /// Packet-outs queued per worker before refusals.
    pub packet_out_capacity: usize,
    /// Frames a tx link between two workers holds.
    pub link_capacity: usize,
}

impl Default for DataplaneConfig {
    fn default() -> Self {
        Self {
            n_workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            pin: true,
            cache_capacity: crate::cache::DEFAULT_CAPACITY,
            packet_in_capacity: 4096,
            packet_out_capacity: 1024,
            link_capacity: 1024,
        }
    }
}

/// A packet-in for the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketInEvent {
    /// Reason, table, cookie, ports, max_len.
    pub meta: PacketInMeta,
    /// The whole frame as it was when sent.
    pub frame: Vec<u8>,
}

/// A packet-out for a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketOutReq {
    /// `in_port` of the PACKET_OUT (a port or `OFPP_CONTROLLER`).
    pub in_port: u32,
    /// Compiled actions.
    pub acts: Box<[Act]>,
    /// The frame.
    pub frame: Vec<u8>,
}

/// Why the dataplane could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// Two ports with one number.
    #[error("port number {0} is configured twice")]
    DuplicatePort(u32),
    /// A worker thread could not be spawned.
    #[error("cannot start worker thread: {0}")]
    Spawn(#[from] std::io::Error),
}

/// A port as the agent sees it.
#[derive(Debug, Clone)]
pub struct PortHandle {
    /// OpenFlow port number.
    pub port_no: u32,
    /// What `ofp_port` reports.
    pub info: PortInfo,
    /// Live counters and link state.
    pub stats: Arc<PortStats>,
    /// The worker that owns it.
    pub worker: usize,
}

/// One worker's counters, published once per batch.
#[derive(Debug, Default)]
struct WorkerCounters {
    version: AtomicU64,
    packets: AtomicU64,
    table_miss_drops: AtomicU64,
    meter_drops: AtomicU64,
    invalid_ttl: AtomicU64,
    modify_errors: AtomicU64,
    port_config_drops: AtomicU64,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    link_drops: AtomicU64,
}

struct Shared {
    snapshot: ArcSwap<Snapshot>,
    published: AtomicU64,
    workers: Box<[CachePadded<WorkerCounters>]>,
    packet_ins: ArrayQueue<PacketInEvent>,
    packet_in_drops: AtomicU64,
    packet_outs: Box<[ArrayQueue<PacketOutReq>]>,
    stop: AtomicBool,
}

/// Summed worker counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DataplaneStats {
    /// Pipeline drop counters.
    pub exec: ExecStats,
    /// Exact-match cache hits.
    pub cache_hits: u64,
    /// Exact-match cache misses.
    pub cache_misses: u64,
    /// Frames dropped on full tx links between workers.
    pub link_drops: u64,
    /// Packet-ins dropped on a full queue.
    pub packet_in_drops: u64,
}

/// The running dataplane: worker threads plus the agent's side of the
/// channel.
pub struct Dataplane {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    ports: Vec<PortHandle>,
}

impl core::fmt::Debug for Dataplane {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Dataplane")
            .field("workers", &self.threads.len())
            .field("ports", &self.ports)
            .finish_non_exhaustive()
    }
}

impl Dataplane {
    /// Starts `cfg.n_workers` workers over `ports` (OpenFlow number, port),
    /// running `initial` until the first [`Dataplane::publish`].
    pub fn start(
        cfg: &DataplaneConfig,
        ports: Vec<(u32, Port)>,
        initial: Snapshot,
    ) -> Result<Self, StartError> {
        let n = cfg.n_workers.max(1);
        let mut seen = std::collections::BTreeSet::new();
        for (no, _) in &ports {
            if !seen.insert(*no) {
                return Err(StartError::DuplicatePort(*no));
            }
        }
        let shared = Arc::new(Shared {
            published: AtomicU64::new(initial.version),
            snapshot: ArcSwap::from_pointee(initial),
            workers: (0..n)
                .map(|_| CachePadded::new(WorkerCounters::default()))
                .collect(),
            packet_ins: ArrayQueue::new(cfg.packet_in_capacity.max(1)),
            packet_in_drops: AtomicU64::new(0),
            packet_outs: (0..n)
                .map(|_| ArrayQueue::new(cfg.packet_out_capacity.max(1)))
                .collect(),
            stop: AtomicBool::new(false),
        });
        let handles: Vec<PortHandle> = ports
            .iter()
            .enumerate()
            .map(|(i, (no, p))| PortHandle {
                port_no: *no,
                info: p.info().clone(),
                stats: p.stats().clone(),
                worker: i % n,
            })
            .collect();
        // Ports per worker, and a tx link from every worker into every port
        // it does not own.
        let mut local: Vec<Vec<(u32, Port)>> = (0..n).map(|_| Vec::new()).collect();
        for (i, (no, p)) in ports.into_iter().enumerate() {
            local[i % n].push((no, p));
        }
        // Sorted now: the tx links below name a port by its index here, and
        // the worker looks ports up by number in this order.
        for l in &mut local {
            l.sort_by_key(|(no, _)| *no);
        }
        let mut senders: Vec<Vec<(u32, TxLinkSender)>> = (0..n).map(|_| Vec::new()).collect();
        let mut receivers: Vec<Vec<(usize, TxLinkReceiver)>> = (0..n).map(|_| Vec::new()).collect();
        for h in &handles {
            for (w, s) in senders.iter_mut().enumerate() {
                if w != h.worker {
                    let (tx, rx) = tx_link(cfg.link_capacity);
                    s.push((h.port_no, tx));
                    // Every handle's port is in its worker's list.
                    if let Ok(idx) = local[h.worker].binary_search_by_key(&h.port_no, |(no, _)| *no)
                    {
                        receivers[h.worker].push((idx, rx));
                    }
                }
            }
        }
        let all_stats: Arc<[(u32, Arc<PortStats>)]> = handles
            .iter()
            .map(|h| (h.port_no, h.stats.clone()))
            .collect();
        let cores = core_affinity::get_core_ids().unwrap_or_default();
        let mut threads = Vec::with_capacity(n);
        let mut parts = local.into_iter().zip(senders).zip(receivers);
        for w in 0..n {
            let Some(((local, mut remote), links)) = parts.next() else {
                break;
            };
            remote.sort_by_key(|(no, _)| *no);
            let shared = shared.clone();
            let all_stats = all_stats.clone();
            let core = if cfg.pin && !cores.is_empty() {
                Some(cores[w % cores.len()])
            } else {
                None
            };
            let cache = cfg.cache_capacity;
            let t = std::thread::Builder::new()
                .name(format!("okod-worker-{w}"))
                .spawn(move || {
                    if let Some(c) = core {
                        // Best effort: a container may forbid the core.
                        core_affinity::set_for_current(c);
                    }
                    Worker::new(w, shared, local, remote, links, all_stats, cache).run();
                })?;
            threads.push(t);
        }
        Ok(Self {
            shared,
            threads,
            ports: handles,
        })
    }

    /// Publishes a new state. Its version must be new (greater than every
    /// earlier one): workers and caches tell snapshots apart by it.
    pub fn publish(&self, snap: Snapshot) {
        let v = snap.version;
        self.shared.snapshot.store(Arc::new(snap));
        self.shared.published.store(v, Ordering::Release);
    }

    /// The snapshot published last.
    pub fn current(&self) -> Arc<Snapshot> {
        self.shared.snapshot.load_full()
    }

    /// Whether every worker runs `version` or a newer one.
    pub fn acked(&self, version: u64) -> bool {
        self.shared
            .workers
            .iter()
            .all(|w| w.version.load(Ordering::Acquire) >= version)
    }

    /// Waits (sleeping in short steps) until every worker runs `version`;
    /// false on timeout.
    pub fn wait_acked(&self, version: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut step = Duration::from_micros(20);
        loop {
            if self.acked(version) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(step);
            step = (step * 2).min(Duration::from_millis(1));
        }
    }

    /// Queues a packet-out for the worker that owns its in_port; gives the
    /// request back when that queue is full.
    pub fn packet_out(&self, req: PacketOutReq) -> Result<(), PacketOutReq> {
        let w = self
            .ports
            .iter()
            .find(|p| p.port_no == req.in_port)
            .map_or(0, |p| p.worker);
        self.shared.packet_outs[w].push(req)
    }

    /// The next packet-in, if any.
    pub fn pop_packet_in(&self) -> Option<PacketInEvent> {
        self.shared.packet_ins.pop()
    }

    /// The ports, in configuration order.
    pub fn ports(&self) -> &[PortHandle] {
        &self.ports
    }

    /// Number of workers.
    pub fn n_workers(&self) -> usize {
        self.shared.workers.len()
    }

    /// Counters summed over workers.
    pub fn stats(&self) -> DataplaneStats {
        let mut s = DataplaneStats {
            packet_in_drops: self.shared.packet_in_drops.load(Ordering::Relaxed),
            ..DataplaneStats::default()
        };
        for w in self.shared.workers.iter() {
            let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
            s.exec.packets += l(&w.packets);
            s.exec.table_miss_drops += l(&w.table_miss_drops);
            s.exec.meter_drops += l(&w.meter_drops);
            s.exec.invalid_ttl += l(&w.invalid_ttl);
            s.exec.modify_errors += l(&w.modify_errors);
            s.exec.port_config_drops += l(&w.port_config_drops);
            s.cache_hits += l(&w.cache_hits);
            s.cache_misses += l(&w.cache_misses);
            s.link_drops += l(&w.link_drops);
        }
        s
    }

    /// Stops the workers and waits for them.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Dataplane {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Port numbers below this are looked up in a worker's dense destination
/// table; larger ones (`OFPP_LOCAL`, unusual numbering) by binary search.
const DENSE_PORTS: u32 = 1024;

/// Where a frame for a port number goes, from one worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dest {
    /// No such port.
    None,
    /// `local[i]`: a port this worker owns.
    Local(u32),
    /// `remote[i]`: the tx link into another worker's port.
    Remote(u32),
}

/// The dense port-number → destination table of a worker (index = port
/// number, for numbers below [`DENSE_PORTS`]): one load per output instead
/// of two binary searches. Ports are fixed for the dataplane's lifetime.
fn dest_table(local: &[(u32, Port)], remote: &[(u32, TxLinkSender)]) -> Box<[Dest]> {
    let nos = local
        .iter()
        .map(|(no, _)| *no)
        .chain(remote.iter().map(|(no, _)| *no));
    let len = nos
        .filter(|&no| no < DENSE_PORTS)
        .max()
        .map_or(0, |m| m as usize + 1);
    let mut t = vec![Dest::None; len];
    for (i, (no, _)) in local.iter().enumerate() {
        if let Some(d) = t.get_mut(*no as usize) {
            *d = Dest::Local(i as u32);
        }
    }
    for (i, (no, _)) in remote.iter().enumerate() {
        if let Some(d) = t.get_mut(*no as usize)
            && *d == Dest::None
        {
            *d = Dest::Remote(i as u32);
        }
    }
    t.into_boxed_slice()
}

/// Where a worker's pipeline sends things.
struct WorkerSink<'a> {
    local: &'a mut [(u32, Port)],
    remote: &'a mut [(u32, TxLinkSender)],
    dests: &'a [Dest],
    shared: &'a Shared,
}

impl WorkerSink<'_> {
    #[inline(always)]
    fn dest(&self, port: u32) -> Dest {
        lookup_dest(self.dests, self.local, self.remote, port)
    }
}

/// Where port `port` is: in the dense table, or (large numbers) by binary
/// search of the sorted port lists.
#[inline(always)]
fn lookup_dest(
    dests: &[Dest],
    local: &[(u32, Port)],
    remote: &[(u32, TxLinkSender)],
    port: u32,
) -> Dest {
    if port < DENSE_PORTS {
        return dests.get(port as usize).copied().unwrap_or(Dest::None);
    }
    if let Ok(i) = local.binary_search_by_key(&port, |(no, _)| *no) {
        Dest::Local(i as u32)
    } else if let Ok(i) = remote.binary_search_by_key(&port, |(no, _)| *no) {
        Dest::Remote(i as u32)
    } else {
        Dest::None
    }
}

impl Sink for WorkerSink<'_> {
    #[inline(always)]
    fn output(&mut self, port: u32, pkt: PacketBuf, pool: &mut BufPool) {
        match self.dest(port) {
            Dest::Local(i) => match self.local.get_mut(i as usize) {
                Some((_, p)) => p.tx(pkt, pool),
                None => pool.put(pkt),
            },
            Dest::Remote(i) => match self.remote.get_mut(i as usize) {
                Some((_, l)) => {
                    l.send(pkt, pool);
                }
                None => pool.put(pkt),
            },
            Dest::None => pool.put(pkt),
        }
    }

    fn packet_in(&mut self, meta: &PacketInMeta, frame: &[u8]) {
        let ev = PacketInEvent {
            meta: *meta,
            frame: frame.to_vec(),
        };
        if self.shared.packet_ins.push(ev).is_err() {
            self.shared.packet_in_drops.fetch_add(1, Ordering::Relaxed);
        }
    }
}

const LINK_CHECK_NS: u64 = 100_000_000;

struct Worker {
    id: usize,
    shared: Arc<Shared>,
    local: Vec<(u32, Port)>,
    remote: Vec<(u32, TxLinkSender)>,
    /// Port number → destination (see [`dest_table`]).
    dests: Box<[Dest]>,
    links: Vec<(usize, TxLinkReceiver)>,
    all_stats: Arc<[(u32, Arc<PortStats>)]>,
    ex: Executor,
    pool: BufPool,
}

impl Worker {
    fn new(
        id: usize,
        shared: Arc<Shared>,
        local: Vec<(u32, Port)>,
        remote: Vec<(u32, TxLinkSender)>,
        links: Vec<(usize, TxLinkReceiver)>,
        all_stats: Arc<[(u32, Arc<PortStats>)]>,
        cache: usize,
    ) -> Self {
        Self {
            id,
            shared,
            dests: dest_table(&local, &remote),
            local,
            remote,
            links,
            all_stats,
            ex: Executor::new(id, cache),
            pool: BufPool::with_capacity(4 * MAX_BATCH),
        }
    }

    fn liveness(&self) -> LivePorts {
        let mut live = LivePorts::new();
        for (no, s) in self.all_stats.iter() {
            live.set(*no, s.link_up());
        }
        live
    }

    fn run(mut self) {
        let mut snap = self.shared.snapshot.load_full();
        let mut live = self.liveness();
        let mut groups = GroupView::new(snap.groups.clone(), &live);
        let mut version = snap.version;
        let me = &self.shared.workers[self.id];
        me.version.store(version, Ordering::Release);
        let mut batch: Vec<PacketBuf> = Vec::with_capacity(MAX_BATCH);
        let mut last_link_check = 0u64;
        let mut idle = 0u32;
        let mut reported = ExecStats::default();
        while !self.shared.stop.load(Ordering::Acquire) {
            if self.shared.published.load(Ordering::Acquire) != version {
                snap = self.shared.snapshot.load_full();
                groups = GroupView::new(snap.groups.clone(), &live);
                version = snap.version;
                me.version.store(version, Ordering::Release);
            }
            let now = monotonic_ns();
            self.ex.env_mut().set_time(TimeSource::Batch(now));
            let mut work = 0usize;
            {
                let _epoch = BatchGuard::enter();
                let cx = Ctx {
                    snap: &snap,
                    groups: &groups,
                    now_ns: now,
                };
                while let Some(po) = self.shared.packet_outs[self.id].pop() {
                    work += 1;
                    let mut b = self.pool.get();
                    if po.frame.len() > MAX_FRAME || !b.fill(&po.frame) {
                        self.pool.put(b);
                        continue;
                    }
                    let mut sink = WorkerSink {
                        local: &mut self.local,
                        remote: &mut self.remote,
                        dests: &self.dests,
                        shared: &self.shared,
                    };
                    self.ex
                        .packet_out(&cx, b, po.in_port, &po.acts, &mut sink, &mut self.pool);
                }
                for (idx, rx) in self.links.iter_mut() {
                    if let Some((_, port)) = self.local.get_mut(*idx) {
                        work += port.drain_link(rx, &mut self.pool, MAX_BATCH);
                    }
                }
                for i in 0..self.local.len() {
                    let port_no = self.local[i].0;
                    let n = self.local[i]
                        .1
                        .rx_batch(&mut self.pool, &mut batch, MAX_BATCH);
                    if n == 0 {
                        continue;
                    }
                    work += n;
                    let mut sink = WorkerSink {
                        local: &mut self.local,
                        remote: &mut self.remote,
                        dests: &self.dests,
                        shared: &self.shared,
                    };
                    self.ex
                        .process_batch(&cx, &mut batch, port_no, &mut sink, &mut self.pool);
                }
                if work > 0 {
                    for (_, p) in self.local.iter_mut() {
                        p.flush();
                    }
                    for (_, l) in self.remote.iter_mut() {
                        l.reclaim(&mut self.pool);
                    }
                }
            }
            if now.wrapping_sub(last_link_check) > LINK_CHECK_NS {
                last_link_check = now;
                for (_, p) in self.local.iter_mut() {
                    p.refresh_link();
                }
                let new = self.liveness();
                if new != live {
                    live = new;
                    groups.refresh(&live);
                }
                self.publish_counters(&mut reported);
            }
            if work == 0 {
                idle = idle.saturating_add(1);
                if idle > 256 {
                    self.publish_counters(&mut reported);
                    self.back_off(idle);
                }
            } else {
                idle = 0;
            }
        }
        self.publish_counters(&mut reported);
    }

    /// Sleeps while idle: in `poll(2)` when every port has a descriptor,
    /// else for a short, growing interval.
    fn back_off(&self, idle: u32) {
        let wait = if idle > 4096 {
            Duration::from_millis(1)
        } else {
            Duration::from_micros(50)
        };
        let fds: Option<Vec<_>> = self.local.iter().map(|(_, p)| p.poll_fd()).collect();
        match fds {
            Some(fds) if !fds.is_empty() && self.links.is_empty() => poll_readable(&fds, wait),
            _ => std::thread::sleep(wait),
        }
    }

    fn publish_counters(&self, reported: &mut ExecStats) {
        let me = &self.shared.workers[self.id];
        let s = self.ex.stats();
        bump(&me.packets, s.packets - reported.packets);
        bump(
            &me.table_miss_drops,
            s.table_miss_drops - reported.table_miss_drops,
        );
        bump(&me.meter_drops, s.meter_drops - reported.meter_drops);
        bump(&me.invalid_ttl, s.invalid_ttl - reported.invalid_ttl);
        bump(&me.modify_errors, s.modify_errors - reported.modify_errors);
        bump(
            &me.port_config_drops,
            s.port_config_drops - reported.port_config_drops,
        );
        *reported = s;
        let (h, m) = self.ex.cache_stats();
        me.cache_hits.store(h, Ordering::Relaxed);
        me.cache_misses.store(m, Ordering::Relaxed);
        me.link_drops.store(
            self.remote.iter().map(|(_, l)| l.dropped()).sum(),
            Ordering::Relaxed,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::port::mem::{MemConfig, MemPort};
    use openflow::port::port_no;

    #[test]
    fn destinations_dense_and_sparse() {
        let mem = |n: &str| Port::Mem(MemPort::new(n, &MemConfig::default()).0);
        let local = vec![(1, mem("a")), (7, mem("b")), (port_no::LOCAL, mem("c"))];
        let (l1, _r1) = tx_link(4);
        let (l2, _r2) = tx_link(4);
        let (l3, _r3) = tx_link(4);
        let remote = vec![(2, l1), (5000, l2), (port_no::MAX, l3)];
        let dests = dest_table(&local, &remote);
        assert_eq!(dests.len(), 8, "up to the largest dense number");
        let d = |port| lookup_dest(&dests, &local, &remote, port);
        assert_eq!(d(1), Dest::Local(0));
        assert_eq!(d(7), Dest::Local(1));
        assert_eq!(d(port_no::LOCAL), Dest::Local(2));
        assert_eq!(d(2), Dest::Remote(0));
        assert_eq!(d(5000), Dest::Remote(1));
        assert_eq!(d(port_no::MAX), Dest::Remote(2));
        for missing in [0, 3, 8, DENSE_PORTS - 1, DENSE_PORTS, 4999, u32::MAX] {
            assert_eq!(d(missing), Dest::None, "port {missing}");
        }
    }
}
