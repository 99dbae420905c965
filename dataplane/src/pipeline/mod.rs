//! The OpenFlow 1.3 pipeline: what happens to one packet, from table 0 to
//! its outputs, given an immutable [`Snapshot`] of the switch.
//!
//! ## Per packet
//!
//! Parse into the flow key; then, starting at table 0: look the key up
//! (exact-match cache, then classifier, filter programs included); count;
//! run the flow's instructions in the spec's order (OpenFlow 1.3.5 §5.9):
//! METER (a DROP band ends the packet), APPLY_ACTIONS (executed at once, in
//! list order, on the packet as it is now), CLEAR_ACTIONS, WRITE_ACTIONS
//! (merged into the action set), WRITE_METADATA, GOTO_TABLE (forward only;
//! the compiler refuses anything else). Without a GOTO the action set runs
//! ([`actions::ActionSet`]). A table without a matching flow (and without a
//! table-miss flow) drops the packet, as OpenFlow 1.3 specifies.
//!
//! An action that changes the packet marks the key stale; it is extracted
//! again only when something reads it (the next table, a SELECT group's
//! hash, a meter's DSCP remark). SET_FIELD does not move headers, so a run
//! of them reuses one parse; a push or pop does, and the next rewrite parses
//! afresh.
//!
//! ## Batches
//!
//! A worker hands over a whole received batch ([`Executor::process_batch`]):
//! every frame is parsed and its table-0 cache hash computed first, the
//! cache tags and then the matching entries are prefetched, and only then
//! do the packets run, one after the other and each exactly as
//! [`Executor::process`] would run it. The cache misses of a batch overlap
//! instead of following one another (OVS's `dfc_processing`). A flow whose
//! instructions are just `actions=output:N` to a port is recognised in
//! place and hands its buffer over without going through the action
//! interpreter.
//!
//! ## Outputs and copies
//!
//! An OUTPUT that is the very last thing that can happen to the packet (the
//! last action of the last APPLY_ACTIONS with no GOTO, no action set, or the
//! action set's own output) hands the buffer itself to the port: the common
//! `actions=output:2` flow forwards without a copy. Every other output
//! (several outputs, FLOOD/ALL, group buckets, a copy before a rewrite)
//! sends a copy from the worker's pool. Reserved ports: IN_PORT sends back
//! where the packet came from; ALL and FLOOD send to every port of the
//! snapshot but the ingress port and ports configured NO_FWD or PORT_DOWN
//! (OpenFlow 1.3 has no STP state here, so they are the same set; no
//! output ever reaches a NO_FWD or PORT_DOWN port, and packets received on
//! a NO_RECV or PORT_DOWN port are dropped before lookup); CONTROLLER produces a
//! packet-in (reason NO_MATCH when the flow is the table-miss flow, ACTION
//! otherwise) unless the ingress port is configured NO_PACKET_IN; LOCAL
//! reaches a port configured with number `OFPP_LOCAL` if there is one;
//! TABLE (packet-out only) submits the packet to table 0; NORMAL and an
//! output to the ingress port by number are dropped (the agent refuses
//! NORMAL at FLOW_MOD time).
//!
//! A TTL decrement that finds TTL ≤ 1 ends the packet with a packet-in of
//! reason INVALID_TTL (OpenFlow 1.3 leaves sending it to the async config,
//! which the agent applies per controller).
//!
//! ## What the executor owns
//!
//! [`Executor`] is one worker's scratch state: per-table exact-match caches
//! (created when a table is first used), the classifier trace, the parse
//! result, the action set and the filter programs' run environment. It is
//! never shared and never allocates per packet once warm. Everything the
//! packet's fate depends on comes from the [`Ctx`]: the snapshot and the
//! worker's group view (bucket liveness is per worker, refreshed on link
//! changes).

pub mod actions;

use std::sync::Arc;

use ofext_filter::interp::RunEnv;
use ofext_filter::program::Program;
use openflow::error::{BadInstructionCode, ErrorCode};
use openflow::instruction::Instruction;
use openflow::message::packet_in_reason;
use openflow::port::{port_config, port_no};

use crate::buf::{BufPool, PacketBuf};
use crate::cache::FlowCache;
use crate::classifier::{Classifier, FlowMatch, NO_RANK, Rule, Trace};
use crate::counters::{FlowCounters, TableCounters};
use crate::group::{GroupTable, GroupView, MAX_CHAIN_DEPTH};
use crate::key::field;
use crate::meter::{MeterTable, MeterVerdict, remark_dscp};
use crate::modify::{self, SetField, TtlOutcome};
use crate::packet::{Parsed, extract_into};
use actions::{Act, ActionSet};

/// Number of flow tables the pipeline supports (ids `0..N_TABLES`).
pub const N_TABLES: usize = 254;

/// The cookie of packet-ins not caused by a flow (packet-out).
pub const NO_COOKIE: u64 = u64::MAX;

/// A flow's instructions, compiled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Instructions {
    /// METER.
    pub meter: Option<u32>,
    /// APPLY_ACTIONS.
    pub apply: Box<[Act]>,
    /// CLEAR_ACTIONS.
    pub clear: bool,
    /// WRITE_ACTIONS, in set form.
    pub write: Box<[Act]>,
    /// WRITE_METADATA `(value, mask)`.
    pub write_metadata: Option<(u64, u64)>,
    /// GOTO_TABLE.
    pub goto: Option<u8>,
}

impl Instructions {
    /// Compiles the instructions of a flow in table `table_id` of a
    /// pipeline with `n_tables` tables. Errors are the OpenFlow codes:
    /// a repeated instruction type UNSUP_INST, a GOTO backwards or past the
    /// last table BAD_TABLE_ID, experimenter instructions BAD_EXPERIMENTER,
    /// unknown types UNKNOWN_INST, and the actions' own BAD_ACTION codes.
    /// Whether ports, groups and meters exist is the agent's to check.
    pub fn compile(
        insns: &[Instruction],
        table_id: u8,
        n_tables: usize,
    ) -> Result<Self, ErrorCode> {
        let bad = ErrorCode::BadInstruction;
        let mut out = Instructions::default();
        let mut seen = 0u32;
        for i in insns {
            let bit = match i {
                Instruction::GotoTable(_) => 1,
                Instruction::WriteMetadata { .. } => 2,
                Instruction::WriteActions(_) => 3,
                Instruction::ApplyActions(_) => 4,
                Instruction::ClearActions => 5,
                Instruction::Meter(_) => 6,
                Instruction::Experimenter { .. } => {
                    return Err(bad(BadInstructionCode::BadExperimenter));
                }
                _ => return Err(bad(BadInstructionCode::UnknownInst)),
            };
            if seen & (1 << bit) != 0 {
                return Err(bad(BadInstructionCode::UnsupInst));
            }
            seen |= 1 << bit;
            match i {
                Instruction::GotoTable(t) => {
                    if *t <= table_id || usize::from(*t) >= n_tables {
                        return Err(bad(BadInstructionCode::BadTableId));
                    }
                    out.goto = Some(*t);
                }
                Instruction::WriteMetadata { metadata, mask } => {
                    out.write_metadata = Some((*metadata, *mask));
                }
                Instruction::WriteActions(a) => out.write = actions::compile_set(a)?,
                Instruction::ApplyActions(a) => out.apply = actions::compile(a)?,
                Instruction::ClearActions => out.clear = true,
                Instruction::Meter(m) => out.meter = Some(*m),
                _ => {}
            }
        }
        Ok(out)
    }

    /// Every action of the flow (apply, then write), for the agent's
    /// existence checks and out_port/out_group filters.
    pub fn acts(&self) -> impl Iterator<Item = &Act> {
        self.apply.iter().chain(self.write.iter())
    }
}

/// The payload of a classifier rule: what a hit on a flow does.
#[derive(Debug)]
pub struct FlowData {
    /// The flow's cookie (reported in packet-ins).
    pub cookie: u64,
    /// The flow's counters (shared with the agent's flow entry).
    pub counters: Arc<FlowCounters>,
    /// The compiled instructions.
    pub insns: Instructions,
    /// Whether this is the table-miss flow (priority 0, all wildcards):
    /// its packet-ins have reason NO_MATCH.
    pub table_miss: bool,
}

impl FlowData {
    /// A flow's payload. A priority-0 flow that matches everything (and
    /// runs no program) is the table-miss flow.
    pub fn new(
        priority: u16,
        m: &FlowMatch,
        cookie: u64,
        counters: Arc<FlowCounters>,
        insns: Instructions,
    ) -> Self {
        Self {
            cookie,
            counters,
            insns,
            table_miss: priority == 0 && m.is_catch_all() && m.filter_prog.is_none(),
        }
    }
}

/// One flow table of a snapshot.
#[derive(Debug)]
pub struct Table {
    /// The classifier over the table's flows.
    pub cls: Classifier<FlowData>,
    /// Lookup and matched counters, carried from snapshot to snapshot.
    pub counters: Arc<TableCounters>,
}

impl Table {
    /// A table of `rules` (in insertion order: earlier wins ties), whose
    /// classifier has version `version` (distinct for every build).
    pub fn new(
        rules: Vec<Arc<Rule<FlowData>>>,
        version: u64,
        counters: Arc<TableCounters>,
    ) -> Self {
        Self {
            cls: Classifier::build(rules, version),
            counters,
        }
    }

    /// An empty table with version `version`.
    pub fn empty(version: u64, n_workers: usize) -> Self {
        Self {
            cls: Classifier::build(Vec::new(), version),
            counters: Arc::new(TableCounters::new(n_workers)),
        }
    }
}

/// A port as the pipeline sees it: its number and `OFPPC_*` config bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortEntry {
    /// OpenFlow port number.
    pub port_no: u32,
    /// `ofp_port_config` bits (PORT_MOD).
    pub config: u32,
}

/// An immutable state of the whole switch as the workers run it.
#[derive(Debug)]
pub struct Snapshot {
    /// Distinct per publication; workers acknowledge it.
    pub version: u64,
    /// Tables `0..tables.len()`.
    pub tables: Box<[Arc<Table>]>,
    /// Groups, with compiled bucket actions.
    pub groups: Arc<GroupTable<Box<[Act]>>>,
    /// Meters.
    pub meters: Arc<MeterTable>,
    /// Ports, sorted by number.
    pub ports: Arc<[PortEntry]>,
    /// `miss_send_len` of SET_CONFIG: bytes sent with INVALID_TTL packet-ins.
    pub miss_send_len: u16,
}

impl Snapshot {
    /// A switch with `n_tables` empty tables, no groups, no meters, and
    /// `ports` (any order) with config 0.
    pub fn empty(version: u64, n_tables: usize, n_workers: usize, ports: &[u32]) -> Self {
        let mut p: Vec<PortEntry> = ports
            .iter()
            .map(|&port_no| PortEntry { port_no, config: 0 })
            .collect();
        p.sort_by_key(|e| e.port_no);
        let empty = Arc::new(Table::empty(version, n_workers));
        Self {
            version,
            tables: (0..n_tables).map(|_| empty.clone()).collect(),
            groups: Arc::new(GroupTable::empty(n_workers)),
            meters: Arc::new(MeterTable::new()),
            ports: p.into(),
            miss_send_len: 128,
        }
    }

    /// A snapshot with `flows` (in insertion order) in `n_tables` tables,
    /// no groups or meters, and `ports`. Each table's classifier gets
    /// `version`. Returns the flows' counters in the order given. For tests,
    /// benchmarks and tools; the agent compiles its tables incrementally.
    pub fn from_flows(
        version: u64,
        n_tables: usize,
        n_workers: usize,
        ports: &[u32],
        flows: Vec<FlowSpec>,
    ) -> Result<(Self, Vec<Arc<FlowCounters>>), ErrorCode> {
        let mut snap = Self::empty(version, n_tables, n_workers, ports);
        let mut per_table: Vec<Vec<Arc<Rule<FlowData>>>> = vec![Vec::new(); n_tables];
        let mut counters = Vec::with_capacity(flows.len());
        let created = std::time::Instant::now();
        let created_ns = ofext_filter::helpers::monotonic_ns();
        for fl in flows {
            let t = usize::from(fl.table_id);
            if t >= n_tables {
                return Err(ErrorCode::FlowModFailed(
                    openflow::error::FlowModFailedCode::BadTableId,
                ));
            }
            let m = FlowMatch::from_oxm(&fl.m)?;
            let insns = Instructions::compile(&fl.insns, fl.table_id, n_tables)?;
            let c = Arc::new(FlowCounters::new(n_workers, created, created_ns));
            counters.push(c.clone());
            let data = FlowData::new(fl.priority, &m, fl.cookie, c, insns);
            per_table[t].push(Arc::new(Rule {
                priority: fl.priority,
                m,
                filter: fl.filter,
                data,
            }));
        }
        snap.tables = per_table
            .into_iter()
            .map(|rules| {
                Arc::new(Table::new(
                    rules,
                    version,
                    Arc::new(TableCounters::new(n_workers)),
                ))
            })
            .collect();
        Ok((snap, counters))
    }

    /// A port's entry.
    #[inline]
    pub fn port(&self, port_no: u32) -> Option<&PortEntry> {
        self.ports
            .binary_search_by_key(&port_no, |e| e.port_no)
            .ok()
            .map(|i| &self.ports[i])
    }
}

/// A flow for [`Snapshot::from_flows`].
#[derive(Debug, Clone, Default)]
pub struct FlowSpec {
    /// Table.
    pub table_id: u8,
    /// Priority.
    pub priority: u16,
    /// Match (a FILTER_PROG field in it must name `filter`).
    pub m: openflow::oxm::Match,
    /// Instructions.
    pub insns: Vec<Instruction>,
    /// Cookie.
    pub cookie: u64,
    /// The program its FILTER_PROG field refers to.
    pub filter: Option<Arc<Program>>,
}

/// What a packet-in carries besides the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketInMeta {
    /// Ingress port.
    pub in_port: u32,
    /// `OFPR_*`.
    pub reason: u8,
    /// Table of the flow that sent it (0 for packet-out).
    pub table_id: u8,
    /// Cookie of that flow ([`NO_COOKIE`] for packet-out).
    pub cookie: u64,
    /// Bytes the controller asked for (`OFPCML_NO_BUFFER` = all, unbuffered).
    pub max_len: u16,
    /// Pipeline metadata at that point.
    pub metadata: u64,
    /// Tunnel id.
    pub tunnel_id: u64,
}

/// Where the pipeline's results go: the worker's ports and packet-in queue
/// (or a test's recorder).
pub trait Sink {
    /// Sends `pkt` out of port `port` (a configured port number, never a
    /// reserved one), or drops it; the buffer goes back to `pool` or on.
    fn output(&mut self, port: u32, pkt: PacketBuf, pool: &mut BufPool);
    /// Sends a packet-in of `frame` (the whole current frame; the agent
    /// cuts it to `max_len` and buffers it).
    fn packet_in(&mut self, meta: &PacketInMeta, frame: &[u8]);
}

/// What one worker's pipeline runs against.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    /// The state of the switch.
    pub snap: &'a Snapshot,
    /// The worker's view of the snapshot's groups.
    pub groups: &'a GroupView<Box<[Act]>>,
    /// The batch's time (workers' clock).
    pub now_ns: u64,
}

/// Packets that ended without an output, by cause (one worker's; only it
/// writes them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExecStats {
    /// Packets processed (received or packet-out).
    pub packets: u64,
    /// Dropped on a table miss without a table-miss flow.
    pub table_miss_drops: u64,
    /// Dropped by a meter band.
    pub meter_drops: u64,
    /// Ended by an invalid TTL.
    pub invalid_ttl: u64,
    /// Modifications refused (header absent, no headroom).
    pub modify_errors: u64,
    /// Received on a port configured NO_RECV or PORT_DOWN.
    pub port_config_drops: u64,
}

/// What is left to do after a table's flow ran.
enum Next {
    /// Nothing: the packet was consumed or dropped.
    Stop,
    /// GOTO this table.
    Table(usize),
    /// No GOTO: the action set runs.
    ActionSet,
}

/// One packet in flight. Passed by reference down the pipeline; the buffer
/// leaves it (to a port, or back to the pool) exactly once.
struct Pkt {
    /// The frame; `None` once it was handed to a port.
    buf: Option<PacketBuf>,
    in_port: u32,
    metadata: u64,
    tunnel_id: u64,
    /// The key in the executor's `parsed` no longer describes the frame.
    key_stale: bool,
    /// The header offsets in `parsed` no longer describe the frame.
    offsets_stale: bool,
    cookie: u64,
    table_id: u8,
    reason: u8,
}

impl Pkt {
    #[inline(always)]
    fn new(buf: PacketBuf, in_port: u32) -> Self {
        Self {
            buf: Some(buf),
            in_port,
            metadata: 0,
            tunnel_id: 0,
            key_stale: false,
            offsets_stale: false,
            cookie: NO_COOKIE,
            table_id: 0,
            reason: packet_in_reason::ACTION,
        }
    }

    /// The frame (empty once handed on).
    #[inline(always)]
    fn data(&self) -> &[u8] {
        match &self.buf {
            Some(b) => b.data(),
            None => &[],
        }
    }

    #[inline(always)]
    fn len(&self) -> usize {
        self.buf.as_ref().map_or(0, PacketBuf::len)
    }

    /// Returns the buffer to the pool unless it was handed on.
    #[inline(always)]
    fn free(&mut self, pool: &mut BufPool) {
        if let Some(b) = self.buf.take() {
            pool.put(b);
        }
    }
}

/// `OFPPC_*` bits that stop a port from sending.
const NO_SEND: u32 = port_config::NO_FWD | port_config::PORT_DOWN;

/// `OFPPC_*` bits that stop a port from receiving.
const NO_RECEIVE: u32 = port_config::NO_RECV | port_config::PORT_DOWN;

/// Whether packets received on `port` enter the pipeline (not configured
/// NO_RECV or administratively down). Ports the snapshot does not list
/// (packet-out's CONTROLLER) are not refused here.
#[inline(always)]
fn receivable(snap: &Snapshot, port: u32) -> bool {
    snap.port(port).is_none_or(|e| e.config & NO_RECEIVE == 0)
}

/// Whether a port may be sent to: it exists in the snapshot and is not
/// configured NO_FWD or administratively down.
#[inline(always)]
fn forwardable(snap: &Snapshot, port: u32) -> bool {
    // `Snapshot::port` as a plain loop the compiler inlines (the library
    // binary search stays an out-of-line call here).
    let ports: &[PortEntry] = &snap.ports;
    let (mut lo, mut hi) = (0, ports.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let Some(e) = ports.get(mid) else { break };
        match e.port_no.cmp(&port) {
            std::cmp::Ordering::Equal => return e.config & NO_SEND == 0,
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
        }
    }
    false
}

/// One worker's pipeline state (see the module docs).
pub struct Executor {
    worker: usize,
    cache_capacity: usize,
    caches: Vec<Option<Box<FlowCache<u32>>>>,
    trace: Trace,
    /// The parse of the packet being processed.
    parsed: Box<Parsed>,
    /// The parses of a batch's packets, made ahead of processing them; each
    /// is swapped into `parsed` in its turn (boxed: a swap moves pointers,
    /// not 200-byte parses).
    #[allow(clippy::vec_box)]
    batch: Vec<Box<Parsed>>,
    /// The table-0 cache hash of each packet of the batch.
    hashes: Vec<u64>,
    set: ActionSet,
    env: RunEnv,
    stats: ExecStats,
    /// Hits on table 0 not yet added to the counters: consecutive packets
    /// of a batch that hit the same flow are counted with one update
    /// (flushed when another flow is hit and at the end of every entry
    /// point, while the snapshot is still borrowed).
    pending: PendingHits,
}

/// Counter updates of table 0 held back within a batch (see `pending`).
#[derive(Debug, Clone, Copy, Default)]
struct PendingHits {
    /// Lookups and matches of table 0.
    lookups: u64,
    matched: u64,
    /// The flow hit last (`NO_RANK`: none) and its packets and bytes.
    rank: u32,
    packets: u64,
    bytes: u64,
}

impl core::fmt::Debug for Executor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Executor")
            .field("worker", &self.worker)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Executor {
    /// The executor of worker `worker`, with exact-match caches of
    /// `cache_capacity` entries per table (0 disables caching).
    pub fn new(worker: usize, cache_capacity: usize) -> Self {
        Self {
            worker,
            cache_capacity,
            caches: (0..N_TABLES).map(|_| None).collect(),
            trace: Trace::new(),
            parsed: Box::new(Parsed::EMPTY),
            batch: (0..crate::port::MAX_BATCH)
                .map(|_| Box::new(Parsed::EMPTY))
                .collect(),
            hashes: vec![0; crate::port::MAX_BATCH],
            set: ActionSet::with_capacity(16),
            env: RunEnv::new(worker),
            stats: ExecStats::default(),
            pending: PendingHits {
                rank: NO_RANK,
                ..PendingHits::default()
            },
        }
    }

    /// The filter programs' run environment (the worker sets the batch time
    /// here).
    pub fn env_mut(&mut self) -> &mut RunEnv {
        &mut self.env
    }

    /// Drop counters.
    pub fn stats(&self) -> ExecStats {
        self.stats
    }

    /// Exact-match cache counters summed over tables: `(hits, misses)`.
    pub fn cache_stats(&self) -> (u64, u64) {
        self.caches.iter().flatten().fold((0, 0), |(h, m), c| {
            let s = c.stats();
            (h + s.hits, m + s.misses + s.chain_mismatches)
        })
    }

    /// The exact-match cache of table `table_id`, created on first use
    /// (`None` when caching is off or the table does not exist).
    #[inline(always)]
    fn cache(&mut self, table_id: usize) -> Option<&mut FlowCache<u32>> {
        if self.cache_capacity == 0 {
            return None;
        }
        let cap = self.cache_capacity;
        let c = self.caches.get_mut(table_id)?;
        Some(c.get_or_insert_with(|| Box::new(FlowCache::new(cap))))
    }

    /// Runs a received packet through the pipeline.
    pub fn process(
        &mut self,
        cx: &Ctx<'_>,
        buf: PacketBuf,
        in_port: u32,
        sink: &mut impl Sink,
        pool: &mut BufPool,
    ) {
        self.stats.packets += 1;
        if !receivable(cx.snap, in_port) {
            self.stats.port_config_drops += 1;
            pool.put(buf);
            return;
        }
        extract_into(&mut self.parsed, buf.data(), in_port, in_port, 0, 0);
        let mut p = Pkt::new(buf, in_port);
        // Depth 1: inside the pipeline (TABLE is only for packet-out).
        self.run_tables(cx, &mut p, 0, None, sink, pool, 1);
        p.free(pool);
        self.flush_hits(cx);
    }

    /// Runs the packets of `bufs` (received on `in_port`), in order, through
    /// the pipeline, leaving `bufs` empty: the same as [`Executor::process`]
    /// on each, but with the batch's keys extracted, hashed and their cache
    /// slots prefetched before the first packet is looked up, so that their
    /// cache misses overlap (OVS's `dfc_processing`).
    pub fn process_batch(
        &mut self,
        cx: &Ctx<'_>,
        bufs: &mut Vec<PacketBuf>,
        in_port: u32,
        sink: &mut impl Sink,
        pool: &mut BufPool,
    ) {
        if !receivable(cx.snap, in_port) {
            self.stats.packets += bufs.len() as u64;
            self.stats.port_config_drops += bufs.len() as u64;
            for b in bufs.drain(..) {
                pool.put(b);
            }
            return;
        }
        while !bufs.is_empty() {
            let n = bufs.len().min(self.batch.len());
            for (b, parsed) in bufs[..n].iter().zip(self.batch.iter_mut()) {
                extract_into(parsed, b.data(), in_port, in_port, 0, 0);
            }
            let hinted = !cx.snap.tables.is_empty() && self.cache(0).is_some();
            if hinted && let Some(Some(cache)) = self.caches.first() {
                for (parsed, h) in self.batch[..n].iter().zip(self.hashes.iter_mut()) {
                    *h = cache.hash(&parsed.key);
                    cache.prefetch(*h);
                }
                for &h in &self.hashes[..n] {
                    cache.prefetch_entry(h);
                }
            }
            self.stats.packets += n as u64;
            for (j, buf) in bufs.drain(..n).enumerate() {
                std::mem::swap(&mut self.parsed, &mut self.batch[j]);
                let hint = hinted.then(|| self.hashes[j]);
                let mut p = Pkt::new(buf, in_port);
                // Depth 1: inside the pipeline (TABLE is only for packet-out).
                self.run_first_table(cx, &mut p, hint, sink, pool, 1);
                p.free(pool);
            }
        }
        self.flush_hits(cx);
    }

    /// Executes a PACKET_OUT's actions on `buf` as if it had arrived on
    /// `in_port` (`OFPP_CONTROLLER` or a port); an OUTPUT to TABLE submits
    /// it to table 0.
    pub fn packet_out(
        &mut self,
        cx: &Ctx<'_>,
        buf: PacketBuf,
        in_port: u32,
        acts: &[Act],
        sink: &mut impl Sink,
        pool: &mut BufPool,
    ) {
        self.stats.packets += 1;
        extract_into(&mut self.parsed, buf.data(), in_port, in_port, 0, 0);
        self.set.clear();
        let mut p = Pkt::new(buf, in_port);
        self.exec(cx, acts, false, &mut p, true, sink, pool, 0);
        p.free(pool);
        self.flush_hits(cx);
    }

    /// Makes the key (and header offsets) describe the frame again.
    #[inline(always)]
    fn refresh(&mut self, p: &mut Pkt) {
        if p.key_stale || p.offsets_stale {
            self.reparse(p);
        }
    }

    /// The parse of [`Executor::refresh`], out of line: most packets need
    /// none.
    #[inline(never)]
    fn reparse(&mut self, p: &mut Pkt) {
        extract_into(
            &mut self.parsed,
            p.data(),
            p.in_port,
            p.in_port,
            p.metadata,
            p.tunnel_id,
        );
        p.key_stale = false;
        p.offsets_stale = false;
    }

    /// The lookup in one table: the rank of the flow hit. `hint` is the
    /// key's hash for this table's cache, when computed ahead.
    #[inline(always)]
    fn lookup(
        &mut self,
        table_id: usize,
        cls: &Classifier<FlowData>,
        frame: &[u8],
        hint: Option<u64>,
    ) -> u32 {
        let Self {
            caches,
            cache_capacity,
            env,
            parsed,
            trace,
            ..
        } = self;
        let mut run = |prog: &Arc<Program>| prog.run(frame, env);
        let cap = *cache_capacity;
        let cache = match caches.get_mut(table_id) {
            Some(c) if cap != 0 => c.get_or_insert_with(|| Box::new(FlowCache::new(cap))),
            _ => return cls.lookup_rank(&parsed.key, trace, &mut |_, p| run(p)),
        };
        let hash = match hint {
            Some(h) => h,
            None => cache.hash(&parsed.key),
        };
        cache.lookup_rank(cls, &parsed.key, hash, trace, &mut run)
    }

    /// Runs `p` through the tables from `first`. The buffer may be handed
    /// on (to a port); what is left of it is the caller's to free. `hint` is
    /// the key's hash for table `first`'s cache, when computed ahead.
    #[allow(clippy::too_many_arguments)]
    fn run_tables(
        &mut self,
        cx: &Ctx<'_>,
        p: &mut Pkt,
        first: u8,
        hint: Option<u64>,
        sink: &mut impl Sink,
        pool: &mut BufPool,
        depth: usize,
    ) {
        self.set.clear();
        self.continue_tables(cx, p, usize::from(first), hint, sink, pool, depth);
    }

    /// Adds the held-back hits on table 0's last flow to its counters.
    #[inline]
    fn flush_flow_hits(&mut self, cx: &Ctx<'_>) {
        let p = &mut self.pending;
        if p.packets != 0
            && let Some(rule) = cx.snap.tables.first().and_then(|t| t.cls.rule(p.rank))
        {
            rule.data
                .counters
                .hit_n(self.worker, p.packets, p.bytes, cx.now_ns);
        }
        p.packets = 0;
        p.bytes = 0;
        p.rank = NO_RANK;
    }

    /// Adds every held-back table-0 count to the counters: at the end of
    /// each entry point, while `cx`'s snapshot is still the one counted.
    fn flush_hits(&mut self, cx: &Ctx<'_>) {
        self.flush_flow_hits(cx);
        let p = &mut self.pending;
        if p.lookups != 0
            && let Some(t) = cx.snap.tables.first()
        {
            t.counters.lookup_n(self.worker, p.lookups, p.matched);
        }
        p.lookups = 0;
        p.matched = 0;
    }

    /// The first table of a received packet, inlined into the batch loop
    /// (the common packet ends here: a cache hit on `output:N`); the rest
    /// goes on in [`Executor::continue_tables`].
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn run_first_table(
        &mut self,
        cx: &Ctx<'_>,
        p: &mut Pkt,
        hint: Option<u64>,
        sink: &mut impl Sink,
        pool: &mut BufPool,
        depth: usize,
    ) {
        self.set.clear();
        let Some(t) = cx.snap.tables.first() else {
            return;
        };
        self.refresh(p);
        let rank = self.lookup(0, &t.cls, p.data(), hint);
        match self.table_hit(cx, t, 0, rank, p, sink, pool, depth) {
            Next::Stop => {}
            Next::Table(next) => self.continue_tables(cx, p, next, None, sink, pool, depth),
            Next::ActionSet => self.run_action_set(cx, p, sink, pool, depth),
        }
    }

    /// [`Executor::run_tables`] from table `table_id` with the action set
    /// as it is.
    #[allow(clippy::too_many_arguments)]
    fn continue_tables(
        &mut self,
        cx: &Ctx<'_>,
        p: &mut Pkt,
        mut table_id: usize,
        mut hint: Option<u64>,
        sink: &mut impl Sink,
        pool: &mut BufPool,
        depth: usize,
    ) {
        loop {
            let Some(t) = cx.snap.tables.get(table_id) else {
                return;
            };
            self.refresh(p);
            let rank = self.lookup(table_id, &t.cls, p.data(), hint.take());
            match self.table_hit(cx, t, table_id, rank, p, sink, pool, depth) {
                Next::Stop => return,
                Next::Table(next) => table_id = next,
                Next::ActionSet => break,
            }
        }
        self.run_action_set(cx, p, sink, pool, depth);
    }

    /// What the flow of rank `rank` in table `table_id` (`t`) does to `p`:
    /// counters, meter, instructions.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn table_hit(
        &mut self,
        cx: &Ctx<'_>,
        t: &Table,
        table_id: usize,
        rank: u32,
        p: &mut Pkt,
        sink: &mut impl Sink,
        pool: &mut BufPool,
        depth: usize,
    ) -> Next {
        if table_id == 0 {
            self.pending.lookups += 1;
        } else {
            t.counters.lookup(self.worker, rank != NO_RANK);
        }
        let Some(rule) = t.cls.rule(rank) else {
            self.stats.table_miss_drops += 1;
            return Next::Stop;
        };
        let f = &rule.data;
        if table_id == 0 {
            if self.pending.rank != rank {
                self.flush_flow_hits(cx);
                self.pending.rank = rank;
            }
            self.pending.matched += 1;
            self.pending.packets += 1;
            self.pending.bytes += p.len() as u64;
        } else {
            f.counters.hit(self.worker, p.len() as u64, cx.now_ns);
        }
        let ins = &f.insns;
        if let Some(id) = ins.meter
            && !self.meter(cx, id, p)
        {
            return Next::Stop;
        }
        let last = ins.goto.is_none() && ins.write.is_empty() && (ins.clear || self.set.is_empty());
        if last
            && let [Act::Output { port, .. }] = *ins.apply
            && port < port_no::MAX
        {
            // The whole flow is `actions=output:N` (the common case):
            // what `exec` and `output_final` would do, without them.
            // The ingress port itself is not sent to.
            if port != p.in_port
                && forwardable(cx.snap, port)
                && let Some(b) = p.buf.take()
            {
                sink.output(port, b, pool);
            }
            return Next::Stop;
        }
        self.table_hit_general(cx, f, table_id, p, last, sink, pool, depth)
    }

    /// [`Executor::table_hit`] past the `output:N` case.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn table_hit_general(
        &mut self,
        cx: &Ctx<'_>,
        f: &FlowData,
        table_id: usize,
        p: &mut Pkt,
        last: bool,
        sink: &mut impl Sink,
        pool: &mut BufPool,
        depth: usize,
    ) -> Next {
        let ins = &f.insns;
        // What a packet-in from here on reports.
        p.cookie = f.cookie;
        p.table_id = table_id as u8;
        p.reason = if f.table_miss {
            packet_in_reason::NO_MATCH
        } else {
            packet_in_reason::ACTION
        };
        if !ins.apply.is_empty() && !self.exec(cx, &ins.apply, false, p, last, sink, pool, depth) {
            return Next::Stop;
        }
        if ins.clear {
            self.set.clear();
        }
        if !ins.write.is_empty() {
            self.set.write_all(&ins.write);
        }
        if let Some((v, m)) = ins.write_metadata {
            p.metadata = (p.metadata & !m) | (v & m);
            self.parsed.key.set(field::METADATA, p.metadata);
        }
        match ins.goto {
            Some(next) => Next::Table(usize::from(next)),
            None => Next::ActionSet,
        }
    }

    /// Runs the action set at the end of the pipeline.
    fn run_action_set(
        &mut self,
        cx: &Ctx<'_>,
        p: &mut Pkt,
        sink: &mut impl Sink,
        pool: &mut BufPool,
        depth: usize,
    ) {
        if self.set.is_empty() {
            return;
        }
        // The set is taken out while it runs (its actions borrow it, the
        // executor is borrowed mutably) and put back, allocation and all.
        let set = std::mem::take(&mut self.set);
        let acts: &[Act] = set.as_slice();
        let has_group = acts.iter().any(|a| matches!(a, Act::Group(_)));
        self.exec(cx, acts, has_group, p, true, sink, pool, depth);
        self.set = set;
        self.set.clear();
    }

    /// Applies meter `id`; false when the packet is dropped.
    fn meter(&mut self, cx: &Ctx<'_>, id: u32, p: &mut Pkt) -> bool {
        let Some(m) = cx.snap.meters.get(id) else {
            // The agent removes flows with their meter; a race-free
            // snapshot never gets here. Treat as no meter.
            return true;
        };
        match m.apply(self.worker, cx.now_ns, p.len() as u32) {
            MeterVerdict::Pass => true,
            MeterVerdict::Drop => {
                self.stats.meter_drops += 1;
                false
            }
            MeterVerdict::Remark { prec_level } => {
                self.refresh(p);
                let eth = self.parsed.eth_type();
                if eth == 0x0800 || eth == 0x86dd {
                    let dscp = self.parsed.key.get(field::IP_DSCP) as u8;
                    let new = remark_dscp(dscp, prec_level);
                    if new != dscp {
                        self.set_field(p, SetField::IpDscp(new));
                    }
                }
                true
            }
        }
    }

    fn set_field(&mut self, p: &mut Pkt, f: SetField) {
        if p.offsets_stale {
            self.refresh(p);
        }
        let Some(buf) = p.buf.as_mut() else { return };
        match modify::set_field_parsed(buf.data_mut(), &self.parsed, f) {
            Ok(()) => p.key_stale = true,
            Err(_) => self.stats.modify_errors += 1,
        }
    }

    /// Sends a copy of `p` to `port`.
    #[allow(clippy::too_many_arguments)]
    fn output(
        &mut self,
        cx: &Ctx<'_>,
        p: &mut Pkt,
        port: u32,
        max_len: u16,
        sink: &mut impl Sink,
        pool: &mut BufPool,
        depth: usize,
    ) {
        match port {
            port_no::CONTROLLER => {
                self.packet_in(cx, p, p.reason, max_len, sink);
            }
            port_no::TABLE => {
                if depth > 0 {
                    // TABLE from inside the pipeline would loop; OpenFlow
                    // allows it only in packet-out.
                    return;
                }
                let mut copy = self.copy(p, pool);
                self.run_tables(cx, &mut copy, 0, None, sink, pool, depth + 1);
                copy.free(pool);
                p.key_stale = true;
                p.offsets_stale = true;
            }
            port_no::ALL | port_no::FLOOD => {
                for e in cx.snap.ports.iter() {
                    if e.port_no != p.in_port && e.config & NO_SEND == 0 {
                        let c = self.copy_buf(p, pool);
                        sink.output(e.port_no, c, pool);
                    }
                }
            }
            _ => {
                let dest = match port {
                    port_no::IN_PORT => p.in_port,
                    port_no::LOCAL => port_no::LOCAL,
                    port_no::NORMAL | port_no::ANY => return,
                    n if n == p.in_port => return,
                    n => n,
                };
                if forwardable(cx.snap, dest) {
                    let c = self.copy_buf(p, pool);
                    sink.output(dest, c, pool);
                }
            }
        }
    }

    /// Sends `p`'s buffer itself to a physical destination when that is
    /// possible without a copy; otherwise falls back to
    /// [`Executor::output`].
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn output_final(
        &mut self,
        cx: &Ctx<'_>,
        p: &mut Pkt,
        port: u32,
        max_len: u16,
        sink: &mut impl Sink,
        pool: &mut BufPool,
        depth: usize,
    ) {
        let dest = match port {
            port_no::IN_PORT => Some(p.in_port),
            n if n < port_no::MAX && n != p.in_port => Some(n),
            port_no::LOCAL => Some(port_no::LOCAL),
            _ => None,
        };
        if let Some(dest) = dest {
            if forwardable(cx.snap, dest)
                && let Some(b) = p.buf.take()
            {
                sink.output(dest, b, pool);
            }
            return;
        }
        self.output(cx, p, port, max_len, sink, pool, depth);
    }

    /// A copy of `p`'s frame in a buffer from `pool`.
    fn copy_buf(&self, p: &Pkt, pool: &mut BufPool) -> PacketBuf {
        let mut buf = pool.get();
        // Same capacity as the original: cannot fail.
        let _ = buf.fill(p.data());
        buf
    }

    fn copy(&self, p: &Pkt, pool: &mut BufPool) -> Pkt {
        Pkt {
            buf: Some(self.copy_buf(p, pool)),
            in_port: p.in_port,
            metadata: p.metadata,
            tunnel_id: p.tunnel_id,
            key_stale: true,
            offsets_stale: true,
            cookie: p.cookie,
            table_id: p.table_id,
            reason: p.reason,
        }
    }

    fn packet_in(&mut self, cx: &Ctx<'_>, p: &Pkt, reason: u8, max_len: u16, sink: &mut impl Sink) {
        if cx
            .snap
            .port(p.in_port)
            .is_some_and(|e| e.config & port_config::NO_PACKET_IN != 0)
        {
            return;
        }
        let meta = PacketInMeta {
            in_port: p.in_port,
            reason,
            table_id: p.table_id,
            cookie: p.cookie,
            max_len,
            metadata: p.metadata,
            tunnel_id: p.tunnel_id,
        };
        sink.packet_in(&meta, p.data());
    }

    /// Executes `acts` on `p`. When `last`, nothing follows: the final
    /// output may take the buffer. Returns whether the packet goes on
    /// (false once its buffer was handed on or it ended on an invalid TTL).
    /// `skip_output` drops OUTPUTs (an action set with a GROUP).
    #[allow(clippy::too_many_arguments)]
    fn exec(
        &mut self,
        cx: &Ctx<'_>,
        acts: &[Act],
        skip_output: bool,
        p: &mut Pkt,
        last: bool,
        sink: &mut impl Sink,
        pool: &mut BufPool,
        depth: usize,
    ) -> bool {
        let n = acts.len();
        for (i, a) in acts.iter().enumerate() {
            match *a {
                Act::Output { port, max_len } => {
                    if skip_output {
                        continue;
                    }
                    if last && i + 1 == n {
                        self.output_final(cx, p, port, max_len, sink, pool, depth);
                        return false;
                    }
                    self.output(cx, p, port, max_len, sink, pool, depth);
                }
                Act::Group(g) => {
                    self.group(cx, g, p, sink, pool, depth);
                }
                Act::SetField(f) => self.set_field(p, f),
                Act::SetTunnelId(v) => {
                    p.tunnel_id = v;
                    self.parsed.key.set(field::TUNNEL_ID, v);
                }
                Act::PushVlan(t) => self.moved(p, |b| modify::push_vlan(b, t)),
                Act::PopVlan => self.moved(p, modify::pop_vlan),
                Act::PushMpls(t) => self.moved(p, |b| modify::push_mpls(b, t)),
                Act::PopMpls(t) => self.moved(p, |b| modify::pop_mpls(b, t)),
                Act::PushPbb(t) => self.moved(p, |b| modify::push_pbb(b, t)),
                Act::PopPbb => self.moved(p, modify::pop_pbb),
                Act::CopyTtlOut => self.changed(p, modify::copy_ttl_out),
                Act::CopyTtlIn => self.changed(p, modify::copy_ttl_in),
                Act::SetMplsTtl(t) => self.changed(p, |b| modify::set_mpls_ttl(b, t)),
                Act::SetNwTtl(t) => self.changed(p, |b| modify::set_nw_ttl(b, t)),
                Act::DecMplsTtl | Act::DecNwTtl => {
                    let Some(buf) = p.buf.as_mut() else {
                        return false;
                    };
                    let r = if matches!(a, Act::DecMplsTtl) {
                        modify::dec_mpls_ttl(buf)
                    } else {
                        modify::dec_nw_ttl(buf)
                    };
                    match r {
                        Ok(TtlOutcome::Decremented) => p.key_stale = true,
                        Ok(TtlOutcome::Invalid) => {
                            self.stats.invalid_ttl += 1;
                            let len = cx.snap.miss_send_len;
                            self.packet_in(cx, p, packet_in_reason::INVALID_TTL, len, sink);
                            p.free(pool);
                            return false;
                        }
                        Err(_) => self.stats.modify_errors += 1,
                    }
                }
                Act::SetQueue(_) => {}
            }
        }
        true
    }

    /// A modification that moves headers.
    fn moved(
        &mut self,
        p: &mut Pkt,
        f: impl FnOnce(&mut PacketBuf) -> Result<(), modify::ModifyError>,
    ) {
        let Some(buf) = p.buf.as_mut() else { return };
        match f(buf) {
            Ok(()) => {
                p.key_stale = true;
                p.offsets_stale = true;
            }
            Err(_) => self.stats.modify_errors += 1,
        }
    }

    /// A modification that changes bytes in place.
    fn changed(
        &mut self,
        p: &mut Pkt,
        f: impl FnOnce(&mut PacketBuf) -> Result<(), modify::ModifyError>,
    ) {
        let Some(buf) = p.buf.as_mut() else { return };
        match f(buf) {
            Ok(()) => p.key_stale = true,
            Err(_) => self.stats.modify_errors += 1,
        }
    }

    /// Executes group `id` on copies of `p`.
    fn group(
        &mut self,
        cx: &Ctx<'_>,
        id: u32,
        p: &mut Pkt,
        sink: &mut impl Sink,
        pool: &mut BufPool,
        depth: usize,
    ) {
        if depth > MAX_CHAIN_DEPTH {
            return;
        }
        self.refresh(p);
        let groups = cx.groups;
        let Some(sel) = groups.apply(self.worker, id, &self.parsed.key, p.len() as u64) else {
            return;
        };
        for (_, acts) in sel.iter() {
            let mut copy = self.copy(p, pool);
            self.exec(cx, acts, false, &mut copy, true, sink, pool, depth + 1);
            copy.free(pool);
        }
        // Executing buckets reparsed copies into `parsed`.
        p.key_stale = true;
        p.offsets_stale = true;
    }
}

#[cfg(test)]
mod tests;

/// [`Executor::process_batch`] against [`Executor::process`], packet by
/// packet (the worker uses the former, the pipeline tests the latter).
#[cfg(test)]
mod batch_tests {
    use std::net::Ipv4Addr;

    use openflow::action::Action;
    use openflow::oxm::{Match, Oxm};

    use super::*;
    use crate::frames::{self, Ip4, Tcp};

    use super::tests::Rec;

    fn program() -> Arc<Program> {
        // Answers 1 on every other run: a stateful program.
        let path = format!("{}/tests/data/count_odd.o", env!("CARGO_MANIFEST_DIR"));
        Arc::new(Program::load(&std::fs::read(path).unwrap(), 1).unwrap())
    }

    fn snapshot(prog: Arc<Program>) -> (Snapshot, Vec<Arc<FlowCounters>>) {
        let flow =
            |table_id: u8, priority: u16, fields: Vec<Oxm>, insns: Vec<Instruction>| FlowSpec {
                table_id,
                priority,
                m: Match { fields },
                insns,
                ..FlowSpec::default()
            };
        let out = |port| Action::Output { port, max_len: 0 };
        let mut filtered = flow(
            0,
            30,
            vec![
                Oxm::EthType(0x0800),
                Oxm::IpProto(17),
                ofext_filter::wire::filter_prog_oxm(1),
            ],
            vec![Instruction::ApplyActions(vec![out(4)])],
        );
        filtered.filter = Some(prog);
        let flows = vec![
            // `output:2`, the fast path (and the ingress port 2 drops).
            flow(
                0,
                20,
                vec![
                    Oxm::EthType(0x0800),
                    Oxm::Ipv4Dst {
                        value: Ipv4Addr::new(10, 0, 0, 2),
                        mask: None,
                    },
                ],
                vec![Instruction::ApplyActions(vec![out(2)])],
            ),
            filtered,
            // Table 1 through a GOTO with a rewrite and two outputs.
            flow(
                0,
                10,
                vec![Oxm::EthType(0x0800)],
                vec![
                    Instruction::WriteMetadata {
                        metadata: 7,
                        mask: 0xff,
                    },
                    Instruction::GotoTable(1),
                ],
            ),
            flow(
                1,
                5,
                vec![Oxm::Metadata {
                    value: 7,
                    mask: None,
                }],
                vec![Instruction::ApplyActions(vec![
                    Action::SetField(Oxm::IpDscp(10)),
                    out(3),
                    out(port_no::CONTROLLER),
                ])],
            ),
            // Everything else floods.
            flow(
                0,
                0,
                vec![],
                vec![Instruction::ApplyActions(vec![out(port_no::FLOOD)])],
            ),
        ];
        Snapshot::from_flows(1, 2, 1, &[1, 2, 3, 4], flows).unwrap()
    }

    fn frames() -> Vec<Vec<u8>> {
        let mut v = Vec::new();
        for i in 0..80u32 {
            let ip = Ip4 {
                dst: Ipv4Addr::new(10, 0, 0, [2, 3, 4][(i % 3) as usize]),
                src: Ipv4Addr::from(0x0b00_0000 | (i % 7)),
                ..Ip4::default()
            };
            v.push(match i % 5 {
                0 | 1 => frames::tcp4(&ip, &Tcp::default(), 0, 64),
                2 => frames::udp4(&ip, 1, 2, 4, 60),
                3 => frames::icmp4_echo(&ip, 1, 2, 8),
                _ => {
                    let mut f = frames::tcp4(&ip, &Tcp::default(), 0, 64);
                    f[12] = 0x86; // not IPv4: the general parse
                    f
                }
            });
        }
        v
    }

    fn counts(c: &[Arc<FlowCounters>]) -> Vec<u64> {
        c.iter().map(|c| c.totals().packet_count).collect()
    }

    #[test]
    fn batch_equals_one_by_one() {
        for cache in [0, 4, 8192] {
            let (a_snap, a_counters) = snapshot(program());
            let (b_snap, b_counters) = snapshot(program());
            let groups =
                |s: &Snapshot| GroupView::new(s.groups.clone(), &crate::group::LivePorts::new());
            let (ga, gb) = (groups(&a_snap), groups(&b_snap));
            let (mut a, mut b) = (Executor::new(0, cache), Executor::new(0, cache));
            let (mut pa, mut pb) = (BufPool::with_capacity(8), BufPool::with_capacity(8));
            let (mut ra, mut rb) = (Rec::default(), Rec::default());
            let cxa = Ctx {
                snap: &a_snap,
                groups: &ga,
                now_ns: 1,
            };
            let cxb = Ctx {
                snap: &b_snap,
                groups: &gb,
                now_ns: 1,
            };
            let all = frames();
            // Batches of several sizes, one larger than `MAX_BATCH`.
            for (n, chunk) in all.chunks(37).enumerate() {
                let in_port = 1 + n as u32 % 2;
                let mut bufs: Vec<PacketBuf> = chunk
                    .iter()
                    .map(|f| {
                        let mut buf = pa.get();
                        assert!(buf.fill(f));
                        buf
                    })
                    .collect();
                a.process_batch(&cxa, &mut bufs, in_port, &mut ra, &mut pa);
                assert!(bufs.is_empty());
                for f in chunk {
                    let mut buf = pb.get();
                    assert!(buf.fill(f));
                    b.process(&cxb, buf, in_port, &mut rb, &mut pb);
                }
            }
            assert_eq!(ra.out, rb.out, "cache {cache}");
            assert_eq!(ra.pins, rb.pins, "cache {cache}");
            assert_eq!(a.stats(), b.stats());
            // Each cache hashes with its own random seed: a tiny one sees
            // other collisions, a large one none.
            let ((ha, ma), (hb, mb)) = (a.cache_stats(), b.cache_stats());
            assert_eq!(ha + ma, hb + mb);
            if cache == 8192 {
                assert_eq!((ha, ma), (hb, mb));
            }
            assert_eq!(counts(&a_counters), counts(&b_counters));
            assert!(ra.out.len() > all.len(), "floods and copies happened");
            assert_eq!(pa.available(), pa.allocated(), "every buffer came back");
        }
    }
}
