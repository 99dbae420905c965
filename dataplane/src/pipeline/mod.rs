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
//! ## Outputs and copies
//!
//! An OUTPUT that is the very last thing that can happen to the packet (the
//! last action of the last APPLY_ACTIONS with no GOTO, no action set, or the
//! action set's own output) hands the buffer itself to the port: the common
//! `actions=output:2` flow forwards without a copy. Every other output
//! (several outputs, FLOOD/ALL, group buckets, a copy before a rewrite)
//! sends a copy from the worker's pool. Reserved ports: IN_PORT sends back
//! where the packet came from; ALL and FLOOD send to every port of the
//! snapshot but the ingress port and ports configured NO_FWD (OpenFlow 1.3
//! has no STP state here, so they are the same set); CONTROLLER produces a
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
}

/// One packet in flight.
struct Pkt {
    buf: PacketBuf,
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

/// One worker's pipeline state (see the module docs).
pub struct Executor {
    worker: usize,
    cache_capacity: usize,
    caches: Vec<Option<Box<FlowCache<u32>>>>,
    trace: Trace,
    parsed: Parsed,
    set: ActionSet,
    env: RunEnv,
    stats: ExecStats,
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
            parsed: Parsed::EMPTY,
            set: ActionSet::with_capacity(16),
            env: RunEnv::new(worker),
            stats: ExecStats::default(),
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
        extract_into(&mut self.parsed, buf.data(), in_port, in_port, 0, 0);
        let p = Pkt {
            buf,
            in_port,
            metadata: 0,
            tunnel_id: 0,
            key_stale: false,
            offsets_stale: false,
            cookie: NO_COOKIE,
            table_id: 0,
            reason: packet_in_reason::ACTION,
        };
        // Depth 1: inside the pipeline (TABLE is only for packet-out).
        self.run_tables(cx, p, 0, sink, pool, 1);
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
        let p = Pkt {
            buf,
            in_port,
            metadata: 0,
            tunnel_id: 0,
            key_stale: false,
            offsets_stale: false,
            cookie: NO_COOKIE,
            table_id: 0,
            reason: packet_in_reason::ACTION,
        };
        if let Some(p) = self.exec(cx, acts, false, p, true, sink, pool, 0) {
            pool.put(p.buf);
        }
    }

    /// Makes the key (and header offsets) describe the frame again.
    #[inline]
    fn refresh(&mut self, p: &mut Pkt) {
        if p.key_stale || p.offsets_stale {
            extract_into(
                &mut self.parsed,
                p.buf.data(),
                p.in_port,
                p.in_port,
                p.metadata,
                p.tunnel_id,
            );
            p.key_stale = false;
            p.offsets_stale = false;
        }
    }

    /// The lookup in one table: the rank of the flow hit.
    #[inline]
    fn lookup(&mut self, table_id: usize, cls: &Classifier<FlowData>, frame: &[u8]) -> u32 {
        let env = &mut self.env;
        let mut run = |prog: &Arc<Program>| prog.run(frame, env);
        if self.cache_capacity == 0 {
            return cls.lookup_rank(&self.parsed.key, &mut self.trace, &mut |_, p| run(p));
        }
        let cap = self.cache_capacity;
        let cache = self.caches[table_id].get_or_insert_with(|| Box::new(FlowCache::new(cap)));
        cache
            .classify_with(cls, &self.parsed.key, &mut self.trace, &mut run, |r, _| r)
            .0
    }

    #[allow(clippy::too_many_arguments)]
    fn run_tables(
        &mut self,
        cx: &Ctx<'_>,
        mut p: Pkt,
        first: u8,
        sink: &mut impl Sink,
        pool: &mut BufPool,
        depth: usize,
    ) {
        self.set.clear();
        let mut table_id = usize::from(first);
        loop {
            let Some(t) = cx.snap.tables.get(table_id) else {
                pool.put(p.buf);
                return;
            };
            self.refresh(&mut p);
            let rank = self.lookup(table_id, &t.cls, p.buf.data());
            t.counters.lookup(self.worker, rank != NO_RANK);
            let Some(rule) = t.cls.rule(rank) else {
                self.stats.table_miss_drops += 1;
                pool.put(p.buf);
                return;
            };
            let f = &rule.data;
            f.counters.hit(self.worker, p.buf.len() as u64, cx.now_ns);
            p.cookie = f.cookie;
            p.table_id = table_id as u8;
            p.reason = if f.table_miss {
                packet_in_reason::NO_MATCH
            } else {
                packet_in_reason::ACTION
            };
            let ins = &f.insns;
            if let Some(id) = ins.meter
                && !self.meter(cx, id, &mut p)
            {
                pool.put(p.buf);
                return;
            }
            if !ins.apply.is_empty() {
                let last = ins.goto.is_none()
                    && ins.write.is_empty()
                    && (ins.clear || self.set.is_empty());
                match self.exec(cx, &ins.apply, false, p, last, sink, pool, depth) {
                    Some(q) => p = q,
                    None => return,
                }
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
                Some(next) => table_id = usize::from(next),
                None => break,
            }
        }
        if self.set.is_empty() {
            pool.put(p.buf);
            return;
        }
        // The set is taken out while it runs (its actions borrow it, the
        // executor is borrowed mutably) and put back, allocation and all.
        let set = std::mem::take(&mut self.set);
        let acts: &[Act] = set.as_slice();
        let has_group = acts.iter().any(|a| matches!(a, Act::Group(_)));
        if let Some(p) = self.exec(cx, acts, has_group, p, true, sink, pool, depth) {
            pool.put(p.buf);
        }
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
        match m.apply(self.worker, cx.now_ns, p.buf.len() as u32) {
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
        match modify::set_field_parsed(p.buf.data_mut(), &self.parsed, f) {
            Ok(()) => p.key_stale = true,
            Err(_) => self.stats.modify_errors += 1,
        }
    }

    /// Sends a copy of `p` (or `p` itself when `own`) to `port`.
    #[allow(clippy::too_many_arguments)]
    fn output(
        &mut self,
        cx: &Ctx<'_>,
        p: Pkt,
        port: u32,
        max_len: u16,
        sink: &mut impl Sink,
        pool: &mut BufPool,
        depth: usize,
    ) -> Option<Pkt> {
        match port {
            port_no::CONTROLLER => {
                self.packet_in(cx, &p, p.reason, max_len, sink);
                Some(p)
            }
            port_no::TABLE => {
                if depth > 0 {
                    // TABLE from inside the pipeline would loop; OpenFlow
                    // allows it only in packet-out.
                    return Some(p);
                }
                let copy = self.copy(&p, pool);
                self.run_tables(cx, copy, 0, sink, pool, depth + 1);
                let mut p = p;
                p.key_stale = true;
                p.offsets_stale = true;
                Some(p)
            }
            port_no::ALL | port_no::FLOOD => {
                for e in cx.snap.ports.iter() {
                    if e.port_no != p.in_port && e.config & port_config::NO_FWD == 0 {
                        let c = self.copy(&p, pool);
                        sink.output(e.port_no, c.buf, pool);
                    }
                }
                Some(p)
            }
            _ => {
                let dest = match port {
                    port_no::IN_PORT => p.in_port,
                    port_no::LOCAL => port_no::LOCAL,
                    port_no::NORMAL | port_no::ANY => return Some(p),
                    n if n == p.in_port => return Some(p),
                    n => n,
                };
                match cx.snap.port(dest) {
                    Some(e) if e.config & port_config::NO_FWD == 0 => {
                        let c = self.copy(&p, pool);
                        sink.output(dest, c.buf, pool);
                    }
                    _ => {}
                }
                Some(p)
            }
        }
    }

    /// Sends `p` itself to a physical destination when that is possible
    /// without a copy; otherwise falls back to [`Executor::output`] and
    /// frees `p`.
    #[allow(clippy::too_many_arguments)]
    fn output_final(
        &mut self,
        cx: &Ctx<'_>,
        p: Pkt,
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
            match cx.snap.port(dest) {
                Some(e) if e.config & port_config::NO_FWD == 0 => sink.output(dest, p.buf, pool),
                _ => pool.put(p.buf),
            }
            return;
        }
        if let Some(p) = self.output(cx, p, port, max_len, sink, pool, depth) {
            pool.put(p.buf);
        }
    }

    fn copy(&self, p: &Pkt, pool: &mut BufPool) -> Pkt {
        let mut buf = pool.get();
        // Same capacity as the original: cannot fail.
        let _ = buf.fill(p.buf.data());
        Pkt {
            buf,
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
        sink.packet_in(&meta, p.buf.data());
    }

    /// Executes `acts` on `p`. When `last`, nothing follows: the final
    /// output may take the buffer. Returns the packet unless it was
    /// consumed or ended (invalid TTL). `skip_output` drops OUTPUTs (an
    /// action set with a GROUP).
    #[allow(clippy::too_many_arguments)]
    fn exec(
        &mut self,
        cx: &Ctx<'_>,
        acts: &[Act],
        skip_output: bool,
        mut p: Pkt,
        last: bool,
        sink: &mut impl Sink,
        pool: &mut BufPool,
        depth: usize,
    ) -> Option<Pkt> {
        let n = acts.len();
        for (i, a) in acts.iter().enumerate() {
            let is_last = last && i + 1 == n;
            match *a {
                Act::Output { port, max_len } => {
                    if skip_output {
                        continue;
                    }
                    if is_last {
                        self.output_final(cx, p, port, max_len, sink, pool, depth);
                        return None;
                    }
                    p = self.output(cx, p, port, max_len, sink, pool, depth)?;
                }
                Act::Group(g) => {
                    self.group(cx, g, &mut p, sink, pool, depth);
                }
                Act::SetField(f) => self.set_field(&mut p, f),
                Act::SetTunnelId(v) => {
                    p.tunnel_id = v;
                    self.parsed.key.set(field::TUNNEL_ID, v);
                }
                Act::PushVlan(t) => self.moved(&mut p, |b| modify::push_vlan(b, t)),
                Act::PopVlan => self.moved(&mut p, modify::pop_vlan),
                Act::PushMpls(t) => self.moved(&mut p, |b| modify::push_mpls(b, t)),
                Act::PopMpls(t) => self.moved(&mut p, |b| modify::pop_mpls(b, t)),
                Act::PushPbb(t) => self.moved(&mut p, |b| modify::push_pbb(b, t)),
                Act::PopPbb => self.moved(&mut p, modify::pop_pbb),
                Act::CopyTtlOut => self.changed(&mut p, modify::copy_ttl_out),
                Act::CopyTtlIn => self.changed(&mut p, modify::copy_ttl_in),
                Act::SetMplsTtl(t) => self.changed(&mut p, |b| modify::set_mpls_ttl(b, t)),
                Act::SetNwTtl(t) => self.changed(&mut p, |b| modify::set_nw_ttl(b, t)),
                Act::DecMplsTtl | Act::DecNwTtl => {
                    let r = if matches!(a, Act::DecMplsTtl) {
                        modify::dec_mpls_ttl(&mut p.buf)
                    } else {
                        modify::dec_nw_ttl(&mut p.buf)
                    };
                    match r {
                        Ok(TtlOutcome::Decremented) => p.key_stale = true,
                        Ok(TtlOutcome::Invalid) => {
                            self.stats.invalid_ttl += 1;
                            let len = cx.snap.miss_send_len;
                            self.packet_in(cx, &p, packet_in_reason::INVALID_TTL, len, sink);
                            pool.put(p.buf);
                            return None;
                        }
                        Err(_) => self.stats.modify_errors += 1,
                    }
                }
                Act::SetQueue(_) => {}
            }
        }
        Some(p)
    }

    /// A modification that moves headers.
    fn moved(
        &mut self,
        p: &mut Pkt,
        f: impl FnOnce(&mut PacketBuf) -> Result<(), modify::ModifyError>,
    ) {
        match f(&mut p.buf) {
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
        match f(&mut p.buf) {
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
        let Some(sel) = groups.apply(self.worker, id, &self.parsed.key, p.buf.len() as u64) else {
            return;
        };
        for (_, acts) in sel.iter() {
            let copy = self.copy(p, pool);
            if let Some(c) = self.exec(cx, acts, false, copy, true, sink, pool, depth + 1) {
                pool.put(c.buf);
            }
        }
        // Executing buckets reparsed copies into `parsed`.
        p.key_stale = true;
        p.offsets_stale = true;
    }
}

#[cfg(test)]
mod tests;
