//! The switch model: the authoritative state every controller changes and
//! every worker runs, and the answer to each controller message.
//!
//! ## One owner, serial changes
//!
//! A [`Switch`] is owned by one task (see [`crate::server`]); connection
//! tasks hand it messages in arrival order. Every change is validated in
//! full first and either applied completely or answered with the exact
//! OpenFlow error and not applied at all (flow tables: [`FlowTables`];
//! groups: the whole table is rebuilt and checked by
//! [`GroupTableBuilder`] before it replaces the old one; meters:
//! [`Meter::new`]; programs: [`crate::programs`]).
//!
//! ## Publication
//!
//! Changes mark what they touched (tables, groups, meters, ports). The
//! owner calls [`Switch::publish`] after a burst of messages (and always
//! before a BARRIER is answered): it compiles only what changed, reusing
//! every untouched table's classifier (so the workers' exact-match caches
//! for those tables stay warm), and hands the snapshot to the dataplane
//! with a new version. A BARRIER is answered once every worker
//! acknowledges that version ([`dataplane::worker::Dataplane::acked`]).
//! Compiled flows are cached per flow entry: a FLOW_MOD costs one
//! classifier rebuild of its table per publication, not per flow.
//!
//! ## Output
//!
//! Handlers write into [`Effects`]: replies to the requesting connection,
//! asynchronous messages for every connection (each session filters them
//! by role and async config), and role changes for other connections.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dataplane::classifier::Rule;
use dataplane::counters::TableCounters;
use dataplane::group::{
    BucketSpec, GroupCounters, GroupSpec, GroupTable, GroupTableBuilder, group_features,
};
use dataplane::meter::{Meter, MeterTable, meter_features, valid_meter_id};
use dataplane::pipeline::actions::{self, Act};
use dataplane::pipeline::{FlowData, Instructions, PortEntry, Snapshot, Table};
use dataplane::worker::{Dataplane, PacketInEvent, PacketOutReq};
use ofext_filter::helpers::monotonic_ns;
use ofext_filter::wire::{ExtErrorCode, OKO_EXPERIMENTER};
use openflow::action::Action;
use openflow::error::{
    BadActionCode, BadRequestCode, ErrorCode, GroupModFailedCode, MeterModFailedCode,
    PortModFailedCode, QueueOpFailedCode, SwitchConfigFailedCode, TableModFailedCode,
};
use openflow::group::{group_id, group_mod_command};
use openflow::instruction::Instruction;
use openflow::message::{
    GroupMod, MeterMod, PacketIn, PacketOut, PortMod, PortStatus, QueueGetConfigReply,
    SwitchConfig, SwitchFeatures, TableMod, capabilities, config_flags, port_reason,
};
use openflow::meter::{meter_id, meter_mod_command};
use openflow::multipart::{MultipartRequestBody, OFPMPF_REQ_MORE};
use openflow::oxm::{Match, Oxm};
use openflow::port::{Port as OfPort, port_config, port_no, port_state};
use openflow::{Message, MessageBody};

use crate::buffers::PacketBuffers;
use crate::flow_table::{FlowEntry, FlowTables, ModContext, RemovalReason};
use crate::programs::Programs;
use crate::role::{ConnId, Role, RoleArbiter};

/// Settings of the switch model.
#[derive(Debug, Clone)]
pub struct SwitchSettings {
    /// Datapath id.
    pub datapath_id: u64,
    /// Flow tables (ids `0..n_tables`).
    pub n_tables: u8,
    /// Flows per table.
    pub max_flows_per_table: usize,
    /// Packet buffers for packet-ins.
    pub n_buffers: u32,
    /// How long a buffered packet waits for a PACKET_OUT or FLOW_MOD.
    pub buffer_timeout: Duration,
    /// DESC reply's dp_desc.
    pub description: String,
}

impl Default for SwitchSettings {
    fn default() -> Self {
        Self {
            datapath_id: 1,
            n_tables: 254,
            max_flows_per_table: 1_000_000,
            n_buffers: 256,
            buffer_timeout: Duration::from_secs(5),
            description: "okod".to_owned(),
        }
    }
}

/// What handling a message produced.
#[derive(Debug, Default)]
pub struct Effects {
    /// Messages for the requesting connection, in order.
    pub replies: Vec<Message>,
    /// Asynchronous messages for every connection (PACKET_IN, FLOW_REMOVED,
    /// PORT_STATUS), filtered per session.
    pub broadcast: Vec<Message>,
    /// Role changes of connections (including the requester's).
    pub roles: Vec<(ConnId, Role)>,
}

/// A group as configured.
#[derive(Debug, Clone)]
struct GroupDef {
    gm: GroupMod,
    counters: Option<Arc<GroupCounters>>,
}

/// A port as the switch model knows it.
#[derive(Debug, Clone)]
struct PortDef {
    port_no: u32,
    info: dataplane::port::PortInfo,
    stats: Arc<dataplane::port::PortStats>,
    config: u32,
    link_generation: u64,
    created: Instant,
}

/// What flow and action validation reads: the parts of the switch other
/// than the flow tables (which are being changed at the time).
struct Refs<'a> {
    programs: &'a Mutex<Programs>,
    meters: &'a BTreeMap<u32, Arc<Meter>>,
    groups: &'a BTreeMap<u32, GroupDef>,
    ports: &'a [PortDef],
    n_tables: u8,
}

impl Refs<'_> {
    /// Checks a flow's references: output ports, groups, meters, programs.
    pub(crate) fn validate_flow(
        &self,
        m: &dataplane::classifier::FlowMatch,
        insns: &[Instruction],
        table_id: u8,
    ) -> Result<Instructions, ErrorCode> {
        if let Some(id) = m.filter_prog
            && !self
                .programs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .contains(id)
        {
            return Err(ExtErrorCode::UnknownProg.error_code());
        }
        for i in insns {
            let acts = match i {
                Instruction::ApplyActions(a) | Instruction::WriteActions(a) => a.as_slice(),
                Instruction::Meter(id) => {
                    if !self.meters.contains_key(id) {
                        return Err(ErrorCode::MeterModFailed(MeterModFailedCode::UnknownMeter));
                    }
                    continue;
                }
                _ => continue,
            };
            self.validate_actions(acts, false)?;
        }
        // Compiling catches what the wire checks cannot (ethertypes,
        // set-field values); the result becomes the flow's rule.
        Instructions::compile(insns, table_id, usize::from(self.n_tables))
    }

    /// Checks actions against the switch: ports exist, groups exist, TABLE
    /// only in packet-out, NORMAL unsupported.
    pub(crate) fn validate_actions(
        &self,
        acts: &[Action],
        packet_out: bool,
    ) -> Result<(), ErrorCode> {
        for a in acts {
            a.validate()?;
            match a {
                Action::Output { port, .. } => {
                    let ok = match *port {
                        port_no::IN_PORT
                        | port_no::ALL
                        | port_no::FLOOD
                        | port_no::CONTROLLER
                        | port_no::LOCAL => true,
                        port_no::TABLE => packet_out,
                        port_no::NORMAL | port_no::ANY => false,
                        p => self.ports.iter().any(|x| x.port_no == p),
                    };
                    if !ok {
                        return Err(ErrorCode::BadAction(BadActionCode::BadOutPort));
                    }
                }
                Action::Group(g) if !self.groups.contains_key(g) => {
                    return Err(ErrorCode::BadAction(BadActionCode::BadOutGroup));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// The switch model (see the module docs).
pub struct Switch {
    settings: SwitchSettings,
    dp: Arc<Dataplane>,
    n_workers: usize,
    flows: FlowTables,
    rules: HashMap<u64, Arc<Rule<FlowData>>>,
    tables: Vec<Arc<Table>>,
    table_counters: Vec<Arc<TableCounters>>,
    dirty_tables: BTreeSet<u8>,
    groups: BTreeMap<u32, GroupDef>,
    group_table: Arc<GroupTable<Box<[Act]>>>,
    meters: BTreeMap<u32, Arc<Meter>>,
    meter_table: Arc<MeterTable>,
    ports: Vec<PortDef>,
    config: SwitchConfig,
    programs: Arc<Mutex<Programs>>,
    roles: RoleArbiter,
    buffers: PacketBuffers,
    pending_table_features: HashMap<ConnId, Vec<openflow::table_features::TableFeatures>>,
    dirty: bool,
    version: u64,
    published: u64,
}

impl core::fmt::Debug for Switch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Switch")
            .field("datapath_id", &self.settings.datapath_id)
            .field("flows", &self.flows.len())
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

fn err(code: ErrorCode, req: &Message) -> Message {
    Message::new(
        req.xid,
        MessageBody::Error(openflow::message::ErrorMsg::new(code, &req.to_vec())),
    )
}

/// The ERROR for a refused FLOW_MOD: extension errors (an unknown
/// FILTER_PROG program) carry an explanation, not the request
/// (EXTENSION.md §4).
fn flow_mod_error(code: ErrorCode, fm: &openflow::message::FlowMod, req: &Message) -> Message {
    match ExtErrorCode::from_error_code(code) {
        Some(ext) => {
            let id = fm
                .match_
                .fields
                .iter()
                .find_map(|o| ofext_filter::wire::filter_prog_of(o).and_then(Result::ok));
            let text = match (ext, id) {
                (ExtErrorCode::UnknownProg, Some(id)) => {
                    format!("FILTER_PROG names program {id}, which is not loaded")
                }
                _ => format!("{ext:?}"),
            };
            Message::new(req.xid, MessageBody::Error(ext.error_msg(&text)))
        }
        None => err(code, req),
    }
}

impl Switch {
    /// A switch over a running dataplane, with empty tables.
    pub fn new(
        settings: SwitchSettings,
        dp: Arc<Dataplane>,
        programs: Arc<Mutex<Programs>>,
    ) -> Self {
        let n_workers = dp.n_workers();
        let n_tables = settings.n_tables;
        let now = Instant::now();
        let ports = dp
            .ports()
            .iter()
            .map(|h| PortDef {
                port_no: h.port_no,
                info: h.info.clone(),
                stats: h.stats.clone(),
                config: 0,
                link_generation: h.stats.link_generation(),
                created: now,
            })
            .collect();
        let table_counters: Vec<_> = (0..n_tables)
            .map(|_| Arc::new(TableCounters::new(n_workers)))
            .collect();
        let current = dp.current();
        let mut sw = Self {
            flows: FlowTables::new(n_tables, settings.max_flows_per_table, n_workers),
            buffers: PacketBuffers::new(settings.n_buffers, settings.buffer_timeout),
            settings,
            n_workers,
            rules: HashMap::new(),
            tables: Vec::new(),
            table_counters,
            dirty_tables: (0..n_tables).collect(),
            groups: BTreeMap::new(),
            group_table: Arc::new(GroupTable::empty(n_workers)),
            meters: BTreeMap::new(),
            meter_table: Arc::new(MeterTable::new()),
            ports,
            config: SwitchConfig {
                flags: config_flags::FRAG_NORMAL,
                miss_send_len: 128,
            },
            programs,
            roles: RoleArbiter::new(),
            pending_table_features: HashMap::new(),
            dirty: true,
            version: current.version,
            published: current.version,
            dp,
        };
        sw.tables = (0..n_tables)
            .map(|t| {
                Arc::new(Table::new(
                    Vec::new(),
                    sw.next_version(),
                    sw.table_counters[usize::from(t)].clone(),
                ))
            })
            .collect();
        sw.publish();
        sw
    }

    /// The dataplane.
    pub fn dataplane(&self) -> &Arc<Dataplane> {
        &self.dp
    }

    /// The flow tables.
    pub fn flows(&self) -> &FlowTables {
        &self.flows
    }

    /// The program registry.
    pub fn programs(&self) -> &Arc<Mutex<Programs>> {
        &self.programs
    }

    /// The version published last.
    pub fn published_version(&self) -> u64 {
        self.published
    }

    /// A connection opened.
    pub fn connect(&mut self, conn: ConnId) {
        self.roles.add(conn);
    }

    /// A connection closed.
    pub fn disconnect(&mut self, conn: ConnId) {
        self.roles.remove(conn);
        self.pending_table_features.remove(&conn);
    }

    fn next_version(&mut self) -> u64 {
        self.version += 1;
        self.version
    }

    /// Compiles what changed and publishes it; returns the version every
    /// earlier change is in.
    pub fn publish(&mut self) -> u64 {
        if !self.dirty && self.dirty_tables.is_empty() {
            return self.published;
        }
        let dirty: Vec<u8> = std::mem::take(&mut self.dirty_tables).into_iter().collect();
        for t in dirty {
            let rules: Vec<_> = self
                .flows
                .entries(t)
                .filter_map(|e| self.rules.get(&e.seq).cloned())
                .collect();
            let v = self.next_version();
            self.tables[usize::from(t)] = Arc::new(Table::new(
                rules,
                v,
                self.table_counters[usize::from(t)].clone(),
            ));
        }
        let version = self.next_version();
        let snap = Snapshot {
            version,
            tables: self.tables.iter().cloned().collect(),
            groups: self.group_table.clone(),
            meters: self.meter_table.clone(),
            ports: self
                .ports
                .iter()
                .map(|p| PortEntry {
                    port_no: p.port_no,
                    config: p.config,
                })
                .collect::<Vec<_>>()
                .into(),
            miss_send_len: self.config.miss_send_len,
        };
        self.dp.publish(snap);
        self.dirty = false;
        self.published = version;
        version
    }

    // ----------------------------------------------------------------------
    // Dispatch
    // ----------------------------------------------------------------------

    /// Handles one message from connection `conn` (already past the
    /// session's checks: version, parse, slave).
    pub fn handle(&mut self, conn: ConnId, msg: &Message, fx: &mut Effects) {
        let reply = |body| Message::new(msg.xid, body);
        match &msg.body {
            MessageBody::FeaturesRequest => fx
                .replies
                .push(reply(MessageBody::FeaturesReply(self.features()))),
            MessageBody::GetConfigRequest => fx
                .replies
                .push(reply(MessageBody::GetConfigReply(self.config))),
            MessageBody::SetConfig(c) => {
                if c.flags & config_flags::FRAG_MASK != config_flags::FRAG_NORMAL {
                    fx.replies.push(err(
                        ErrorCode::SwitchConfigFailed(SwitchConfigFailedCode::BadFlags),
                        msg,
                    ));
                } else {
                    self.config = *c;
                    self.dirty = true;
                }
            }
            MessageBody::FlowMod(fm) => {
                if let Err(code) = self.flow_mod(fm, fx) {
                    fx.replies.push(flow_mod_error(code, fm, msg));
                } else if fm.buffer_id != openflow::message::OFP_NO_BUFFER
                    && matches!(fm.command, 0..=2)
                {
                    // The buffered packet goes through the pipeline with the
                    // new flow in place (§6.4).
                    if let Err(code) = self.release_buffer(
                        fm.buffer_id,
                        &[Action::Output {
                            port: port_no::TABLE,
                            max_len: 0,
                        }],
                    ) {
                        fx.replies.push(err(code, msg));
                    }
                }
            }
            MessageBody::GroupMod(gm) => {
                if let Err(code) = self.group_mod(gm, fx) {
                    fx.replies.push(err(code, msg));
                }
            }
            MessageBody::MeterMod(mm) => {
                if let Err(code) = self.meter_mod(mm, fx) {
                    fx.replies.push(err(code, msg));
                }
            }
            MessageBody::PortMod(pm) => {
                if let Err(code) = self.port_mod(pm, fx) {
                    fx.replies.push(err(code, msg));
                }
            }
            MessageBody::TableMod(tm) => {
                if let Err(code) = self.table_mod(tm) {
                    fx.replies.push(err(code, msg));
                }
            }
            MessageBody::PacketOut(po) => {
                if let Err(code) = self.packet_out(po) {
                    fx.replies.push(err(code, msg));
                }
            }
            MessageBody::MultipartRequest(req) if req.flags & OFPMPF_REQ_MORE != 0 => {
                // A TABLE_FEATURES request in several parts (§7.3.5.18) is
                // collected and answered once, at its last part.
                if let MultipartRequestBody::TableFeatures(v) = &req.body {
                    let pending = self.pending_table_features.entry(conn).or_default();
                    if pending.len() + v.len() > 4 * usize::from(u8::MAX) {
                        self.pending_table_features.remove(&conn);
                        fx.replies.push(err(
                            ErrorCode::BadRequest(BadRequestCode::MultipartBufferOverflow),
                            msg,
                        ));
                    } else {
                        pending.extend(v.iter().cloned());
                    }
                } else {
                    // Only TABLE_FEATURES has a body that continues.
                    fx.replies.push(err(
                        ErrorCode::BadRequest(BadRequestCode::BadMultipart),
                        msg,
                    ));
                }
            }
            MessageBody::MultipartRequest(req) => {
                let whole;
                let req = match (&req.body, self.pending_table_features.remove(&conn)) {
                    (MultipartRequestBody::TableFeatures(v), Some(mut earlier)) => {
                        earlier.extend(v.iter().cloned());
                        whole = openflow::multipart::MultipartRequest {
                            flags: 0,
                            body: MultipartRequestBody::TableFeatures(earlier),
                        };
                        &whole
                    }
                    _ => req,
                };
                match crate::multipart::answer(self, conn, req) {
                    Ok(parts) => fx.replies.extend(parts.into_iter().map(reply)),
                    Err(r) => fx
                        .replies
                        .push(Message::new(msg.xid, MessageBody::Error(r.error_msg(msg)))),
                }
            }
            MessageBody::QueueGetConfigRequest { port } => {
                if *port != port_no::ANY && self.port(*port).is_none() {
                    fx.replies.push(err(
                        ErrorCode::QueueOpFailed(QueueOpFailedCode::BadPort),
                        msg,
                    ));
                } else {
                    fx.replies.push(reply(MessageBody::QueueGetConfigReply(
                        QueueGetConfigReply {
                            port: *port,
                            queues: Vec::new(),
                        },
                    )));
                }
            }
            MessageBody::RoleRequest(r) => match self.roles.handle_request(conn, r) {
                Ok(out) => {
                    fx.roles.push((conn, out.role));
                    fx.roles
                        .extend(out.demoted.iter().map(|c| (*c, Role::Slave)));
                    fx.replies.push(out.reply_message(msg.xid));
                }
                Err(e) => fx.replies.push(err(e.error_code(), msg)),
            },
            MessageBody::Experimenter(x) if x.experimenter == OKO_EXPERIMENTER => {
                if let Err(r) = crate::programs::handle_message(self, x, fx) {
                    fx.replies
                        .push(Message::new(msg.xid, MessageBody::Error(r.error_msg(msg))));
                }
            }
            MessageBody::Experimenter(_) => {
                fx.replies.push(err(
                    ErrorCode::BadRequest(BadRequestCode::BadExperimenter),
                    msg,
                ));
            }
            // BARRIER is answered by the server once the workers run the
            // published state (crate::server).
            // Errors and replies from a controller need no answer; the rest
            // (HELLO, ECHO, async config) the session handles itself.
            _ => {}
        }
    }

    fn features(&self) -> SwitchFeatures {
        SwitchFeatures {
            datapath_id: self.settings.datapath_id,
            n_buffers: self.settings.n_buffers,
            n_tables: self.settings.n_tables,
            auxiliary_id: 0,
            capabilities: capabilities::FLOW_STATS
                | capabilities::TABLE_STATS
                | capabilities::PORT_STATS
                | capabilities::GROUP_STATS,
            reserved: 0,
        }
    }

    // ----------------------------------------------------------------------
    // Flows
    // ----------------------------------------------------------------------

    fn refs(&self) -> Refs<'_> {
        Refs {
            programs: &self.programs,
            meters: &self.meters,
            groups: &self.groups,
            ports: &self.ports,
            n_tables: self.settings.n_tables,
        }
    }

    fn programs_lock(&self) -> std::sync::MutexGuard<'_, Programs> {
        self.programs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Compiles a flow entry into its classifier rule; `insns` are its
    /// instructions when validation already compiled them.
    fn compile_rule(
        &self,
        e: &FlowEntry,
        insns: Option<Instructions>,
    ) -> Result<Arc<Rule<FlowData>>, ErrorCode> {
        let insns = match insns {
            Some(i) => i,
            None => Instructions::compile(
                &e.instructions,
                e.table_id,
                usize::from(self.settings.n_tables),
            )?,
        };
        let filter = match e.flow_match.filter_prog {
            Some(id) => Some(
                self.programs_lock()
                    .get(id)
                    .ok_or_else(|| ExtErrorCode::UnknownProg.error_code())?,
            ),
            None => None,
        };
        Ok(Arc::new(Rule {
            priority: e.priority,
            m: e.flow_match,
            filter,
            data: FlowData::new(
                e.priority,
                &e.flow_match,
                e.cookie,
                e.counters.clone(),
                insns,
            ),
        }))
    }

    fn flow_mod(
        &mut self,
        fm: &openflow::message::FlowMod,
        fx: &mut Effects,
    ) -> Result<(), ErrorCode> {
        let now = Instant::now();
        let now_ns = monotonic_ns();
        let refs = Refs {
            programs: &self.programs,
            meters: &self.meters,
            groups: &self.groups,
            ports: &self.ports,
            n_tables: self.settings.n_tables,
        };
        // Validation compiles the instructions; the result is kept for the
        // rules, so a FLOW_MOD compiles them once. The flow table calls the
        // validator only with a valid table id.
        let compiled: std::cell::RefCell<Option<Instructions>> = std::cell::RefCell::new(None);
        let validate = |m: &dataplane::classifier::FlowMatch, i: &[Instruction]| {
            let c = refs.validate_flow(m, i, fm.table_id)?;
            *compiled.borrow_mut() = Some(c);
            Ok(())
        };
        let ctx = ModContext::new(now, now_ns, &validate);
        // FlowTables is all-or-nothing itself.
        let out = self.flows.apply(fm, &ctx)?;
        let compiled = compiled.into_inner();
        // `added` and `modified` are the live entries (`replaced`, the old
        // one, shares `added`'s sequence number and is overwritten); all
        // carry this FLOW_MOD's instructions.
        for e in out.added.iter().chain(out.modified.iter()) {
            // Validation covered what compiling checks; a failure here
            // would be a bug, and the flow then simply has no rule.
            if let Ok(rule) = self.compile_rule(e, compiled.clone()) {
                self.rules.insert(e.seq, rule);
            }
        }
        for e in &out.removed {
            self.rules.remove(&e.seq);
        }
        self.flows_removed(&out.removed, RemovalReason::Delete, now, fx);
        self.dirty_tables.extend(out.changed_tables.iter().copied());
        Ok(())
    }

    fn flows_removed(
        &mut self,
        removed: &[Arc<FlowEntry>],
        reason: RemovalReason,
        now: Instant,
        fx: &mut Effects,
    ) {
        for e in removed {
            self.rules.remove(&e.seq);
            self.dirty_tables.insert(e.table_id);
            if e.send_flow_rem() {
                fx.broadcast.push(Message::new(
                    0,
                    MessageBody::FlowRemoved(e.flow_removed(reason, now)),
                ));
            }
        }
    }

    /// Removes expired flows; returns when to call again.
    pub fn expire(&mut self, fx: &mut Effects) -> Option<u64> {
        let now = Instant::now();
        let now_ns = monotonic_ns();
        for (e, reason) in self.flows.expire(now_ns) {
            self.flows_removed(std::slice::from_ref(&e), reason, now, fx);
        }
        self.flows.next_expiry()
    }

    /// Removes flows referencing program `id` (PROG_UNLOAD with CASCADE).
    pub(crate) fn remove_program_flows(&mut self, id: u32, fx: &mut Effects) {
        let removed = self.flows.remove_by_program(id);
        self.flows_removed(&removed, RemovalReason::Delete, Instant::now(), fx);
    }

    /// Whether a flow references program `id`.
    pub(crate) fn program_in_use(&self, id: u32) -> bool {
        self.flows.uses_program(id)
    }

    /// Flows referencing program `id`.
    pub(crate) fn program_flow_count(&self, id: u32) -> u32 {
        self.flows
            .iter()
            .filter(|e| e.flow_match.filter_prog == Some(id))
            .count() as u32
    }

    /// Recompiles the flows of program `id` (after a REPLACE).
    pub(crate) fn program_replaced(&mut self, id: u32) {
        let entries: Vec<Arc<FlowEntry>> = self
            .flows
            .iter()
            .filter(|e| e.flow_match.filter_prog == Some(id))
            .cloned()
            .collect();
        for e in entries {
            if let Ok(rule) = self.compile_rule(&e, None) {
                self.rules.insert(e.seq, rule);
                self.dirty_tables.insert(e.table_id);
            }
        }
    }

    // ----------------------------------------------------------------------
    // Groups and meters
    // ----------------------------------------------------------------------

    fn build_groups(
        &self,
        groups: &BTreeMap<u32, GroupDef>,
    ) -> Result<GroupTable<Box<[Act]>>, ErrorCode> {
        let mut b = GroupTableBuilder::new(self.n_workers, Instant::now());
        for (id, g) in groups {
            let mut buckets = Vec::with_capacity(g.gm.buckets.len());
            for bk in &g.gm.buckets {
                self.validate_bucket_actions(&bk.actions)?;
                buckets.push(BucketSpec::from_wire(bk, actions::compile(&bk.actions)?));
            }
            b.insert(GroupSpec {
                group_id: *id,
                group_type: g.gm.group_type,
                buckets,
                counters: g.counters.clone(),
            })
            .map_err(|e| e.error_code())?;
        }
        b.build().map_err(|e| e.error_code())
    }

    fn validate_bucket_actions(&self, acts: &[Action]) -> Result<(), ErrorCode> {
        for a in acts {
            match a {
                // Chained groups are the builder's to check (unknown ids,
                // loops, depth), against the table being built.
                Action::Group(_) => a.validate()?,
                _ => self
                    .refs()
                    .validate_actions(std::slice::from_ref(a), false)?,
            }
        }
        Ok(())
    }

    fn group_mod(&mut self, gm: &GroupMod, fx: &mut Effects) -> Result<(), ErrorCode> {
        let e = ErrorCode::GroupModFailed;
        let mut next = self.groups.clone();
        match gm.command {
            group_mod_command::ADD | group_mod_command::MODIFY => {
                if gm.group_id > group_id::MAX {
                    return Err(e(GroupModFailedCode::InvalidGroup));
                }
                let exists = next.contains_key(&gm.group_id);
                if gm.command == group_mod_command::ADD && exists {
                    return Err(e(GroupModFailedCode::GroupExists));
                }
                if gm.command == group_mod_command::MODIFY && !exists {
                    return Err(e(GroupModFailedCode::UnknownGroup));
                }
                // MODIFY keeps the counters when the shape allows
                // (the builder replaces mismatching ones).
                let counters = next.get(&gm.group_id).and_then(|g| g.counters.clone());
                next.insert(
                    gm.group_id,
                    GroupDef {
                        gm: gm.clone(),
                        counters,
                    },
                );
            }
            group_mod_command::DELETE => {
                let ids: Vec<u32> = if gm.group_id == group_id::ALL {
                    next.keys().copied().collect()
                } else if gm.group_id > group_id::MAX {
                    return Err(e(GroupModFailedCode::InvalidGroup));
                } else {
                    vec![gm.group_id]
                };
                for id in &ids {
                    next.remove(id);
                }
                // A group still chained from a remaining one cannot go.
                for g in next.values() {
                    if g.gm
                        .buckets
                        .iter()
                        .flat_map(|b| &b.actions)
                        .any(|a| matches!(a, Action::Group(x) if ids.contains(x)))
                    {
                        return Err(e(GroupModFailedCode::ChainedGroup));
                    }
                }
                let table = self.build_groups(&next)?;
                self.set_groups(next, table);
                let now = Instant::now();
                for id in ids {
                    let removed = self.flows.remove_by_group(id);
                    self.flows_removed(&removed, RemovalReason::GroupDelete, now, fx);
                }
                return Ok(());
            }
            _ => return Err(e(GroupModFailedCode::BadCommand)),
        }
        let table = self.build_groups(&next)?;
        self.set_groups(next, table);
        Ok(())
    }

    fn set_groups(&mut self, mut defs: BTreeMap<u32, GroupDef>, table: GroupTable<Box<[Act]>>) {
        for (id, d) in defs.iter_mut() {
            d.counters = table.get(*id).map(|g| g.counters().clone());
        }
        self.groups = defs;
        self.group_table = Arc::new(table);
        self.dirty = true;
    }

    fn meter_mod(&mut self, mm: &MeterMod, fx: &mut Effects) -> Result<(), ErrorCode> {
        let e = ErrorCode::MeterModFailed;
        match mm.command {
            meter_mod_command::ADD | meter_mod_command::MODIFY => {
                if !valid_meter_id(mm.meter_id) {
                    return Err(e(MeterModFailedCode::InvalidMeter));
                }
                let exists = self.meters.contains_key(&mm.meter_id);
                if mm.command == meter_mod_command::ADD && exists {
                    return Err(e(MeterModFailedCode::MeterExists));
                }
                if mm.command == meter_mod_command::MODIFY && !exists {
                    return Err(e(MeterModFailedCode::UnknownMeter));
                }
                let m = Meter::new(
                    mm.meter_id,
                    mm.flags,
                    &mm.bands,
                    self.n_workers,
                    Instant::now(),
                )
                .map_err(|x| x.error_code())?;
                self.meters.insert(mm.meter_id, Arc::new(m));
            }
            meter_mod_command::DELETE => {
                let ids: Vec<u32> = if mm.meter_id == meter_id::ALL {
                    self.meters.keys().copied().collect()
                } else if !valid_meter_id(mm.meter_id) {
                    return Err(e(MeterModFailedCode::InvalidMeter));
                } else {
                    vec![mm.meter_id]
                };
                let now = Instant::now();
                for id in ids {
                    self.meters.remove(&id);
                    let removed = self.flows.remove_by_meter(id);
                    self.flows_removed(&removed, RemovalReason::Delete, now, fx);
                }
            }
            _ => return Err(e(MeterModFailedCode::BadCommand)),
        }
        let mut t = MeterTable::new();
        for m in self.meters.values() {
            t.insert(m.clone());
        }
        self.meter_table = Arc::new(t);
        self.dirty = true;
        Ok(())
    }

    /// Meters, by id.
    pub(crate) fn meters(&self) -> &BTreeMap<u32, Arc<Meter>> {
        &self.meters
    }

    /// The compiled groups and their definitions.
    pub(crate) fn groups(
        &self,
    ) -> (
        &Arc<GroupTable<Box<[Act]>>>,
        impl Iterator<Item = &GroupMod>,
    ) {
        (&self.group_table, self.groups.values().map(|g| &g.gm))
    }

    /// Flows that reference group `id` (for GROUP stats ref_count).
    pub(crate) fn group_ref_count(&self, id: u32) -> u32 {
        let flows = self.flows.iter().filter(|e| e.outputs_to_group(id)).count();
        let groups = self
            .groups
            .values()
            .filter(|g| {
                g.gm.buckets
                    .iter()
                    .flat_map(|b| &b.actions)
                    .any(|a| *a == Action::Group(id))
            })
            .count();
        (flows + groups) as u32
    }

    /// Flows that use meter `id`.
    pub(crate) fn meter_flow_count(&self, id: u32) -> u32 {
        self.flows.iter().filter(|e| e.uses_meter(id)).count() as u32
    }

    /// Features replies.
    pub(crate) fn group_features(&self) -> openflow::multipart::GroupFeatures {
        group_features(supported_actions())
    }

    /// METER_FEATURES.
    pub(crate) fn meter_features(&self) -> openflow::multipart::MeterFeatures {
        meter_features()
    }

    // ----------------------------------------------------------------------
    // Ports, tables, packet-out
    // ----------------------------------------------------------------------

    fn port(&self, no: u32) -> Option<&PortDef> {
        self.ports.iter().find(|p| p.port_no == no)
    }

    /// `ofp_port` of every port.
    pub(crate) fn port_descs(&self) -> Vec<OfPort> {
        self.ports.iter().map(port_desc).collect()
    }

    /// PORT stats of `port` (`OFPP_ANY`: all); None for an unknown port.
    pub(crate) fn port_stats(&self, port: u32) -> Option<Vec<openflow::multipart::PortStats>> {
        let now = Instant::now();
        let sel: Vec<&PortDef> = self
            .ports
            .iter()
            .filter(|p| port == port_no::ANY || p.port_no == port)
            .collect();
        if sel.is_empty() && port != port_no::ANY {
            return None;
        }
        Some(
            sel.into_iter()
                .map(|p| {
                    let c = p.stats.snapshot();
                    let d = now.saturating_duration_since(p.created);
                    openflow::multipart::PortStats {
                        port_no: p.port_no,
                        rx_packets: c.rx_packets,
                        tx_packets: c.tx_packets,
                        rx_bytes: c.rx_bytes,
                        tx_bytes: c.tx_bytes,
                        rx_dropped: c.rx_dropped,
                        tx_dropped: c.tx_dropped,
                        rx_errors: c.rx_errors,
                        tx_errors: c.tx_errors,
                        rx_frame_err: 0,
                        rx_over_err: 0,
                        rx_crc_err: 0,
                        collisions: 0,
                        duration_sec: d.as_secs() as u32,
                        duration_nsec: d.subsec_nanos(),
                    }
                })
                .collect(),
        )
    }

    /// Whether a port number is configured.
    pub(crate) fn has_port(&self, no: u32) -> bool {
        self.port(no).is_some()
    }

    fn port_mod(&mut self, pm: &PortMod, fx: &mut Effects) -> Result<(), ErrorCode> {
        let e = ErrorCode::PortModFailed;
        let Some(i) = self.ports.iter().position(|p| p.port_no == pm.port_no) else {
            return Err(e(PortModFailedCode::BadPort));
        };
        if self.ports[i].info.hw_addr != pm.hw_addr {
            return Err(e(PortModFailedCode::BadHwAddr));
        }
        const SETTABLE: u32 = port_config::PORT_DOWN
            | port_config::NO_RECV
            | port_config::NO_FWD
            | port_config::NO_PACKET_IN;
        if pm.mask & !SETTABLE != 0 {
            return Err(e(PortModFailedCode::BadConfig));
        }
        // Advertised features cannot be changed on these ports: only 0
        // ("no change") or the current set is accepted.
        if pm.advertise != 0 && pm.advertise != self.ports[i].info.advertised {
            return Err(e(PortModFailedCode::BadAdvertise));
        }
        let p = &mut self.ports[i];
        let new = (p.config & !pm.mask) | (pm.config & pm.mask);
        if new != p.config {
            p.config = new;
            self.dirty = true;
            fx.broadcast.push(Message::new(
                0,
                MessageBody::PortStatus(PortStatus {
                    reason: port_reason::MODIFY,
                    desc: port_desc(p),
                }),
            ));
        }
        Ok(())
    }

    fn table_mod(&mut self, tm: &TableMod) -> Result<(), ErrorCode> {
        // OpenFlow 1.3 deprecates every table config bit (§7.3.3): only the
        // table id is checked.
        if tm.table_id != 0xff && tm.table_id >= self.settings.n_tables {
            return Err(ErrorCode::TableModFailed(TableModFailedCode::BadTable));
        }
        if tm.config & !3 != 0 {
            return Err(ErrorCode::TableModFailed(TableModFailedCode::BadConfig));
        }
        Ok(())
    }

    fn packet_out(&mut self, po: &PacketOut) -> Result<(), ErrorCode> {
        if po.in_port != port_no::CONTROLLER
            && po.in_port != port_no::ANY
            && self.port(po.in_port).is_none()
        {
            return Err(ErrorCode::BadRequest(BadRequestCode::BadPort));
        }
        self.refs().validate_actions(&po.actions, true)?;
        let acts = actions::compile(&po.actions)?;
        let frame = if po.buffer_id == openflow::message::OFP_NO_BUFFER {
            po.data.clone()
        } else {
            match self.buffers.take(po.buffer_id) {
                Some((f, _)) => f,
                None => return Err(ErrorCode::BadRequest(BadRequestCode::BufferUnknown)),
            }
        };
        let in_port = if po.in_port == port_no::ANY {
            port_no::CONTROLLER
        } else {
            po.in_port
        };
        self.send_packet_out(in_port, acts, frame)
    }

    fn send_packet_out(
        &mut self,
        in_port: u32,
        acts: Box<[Act]>,
        frame: Vec<u8>,
    ) -> Result<(), ErrorCode> {
        // The packet must see every change made before it.
        self.publish();
        self.dp
            .packet_out(PacketOutReq {
                in_port,
                acts,
                frame,
            })
            .map_err(|_| ErrorCode::BadRequest(BadRequestCode::Eperm))
    }

    /// Sends a buffered packet through `actions` (FLOW_MOD with a buffer).
    fn release_buffer(&mut self, buffer_id: u32, acts: &[Action]) -> Result<(), ErrorCode> {
        let Some((frame, in_port)) = self.buffers.take(buffer_id) else {
            return Err(ErrorCode::BadRequest(BadRequestCode::BufferUnknown));
        };
        let acts = actions::compile(acts)?;
        self.send_packet_out(in_port, acts, frame)
    }

    // ----------------------------------------------------------------------
    // Asynchronous events from the dataplane
    // ----------------------------------------------------------------------

    /// Turns a worker's packet-in into a PACKET_IN (buffering it unless
    /// the controller asked for the whole packet).
    pub fn packet_in(&mut self, ev: PacketInEvent) -> Message {
        let m = &ev.meta;
        let total_len = ev.frame.len().min(usize::from(u16::MAX)) as u16;
        let (buffer_id, data) = if m.max_len == openflow::action::OFPCML_NO_BUFFER {
            (openflow::message::OFP_NO_BUFFER, ev.frame)
        } else {
            let keep = usize::from(m.max_len).min(ev.frame.len());
            match self.buffers.store(&ev.frame, m.in_port) {
                Some(id) => (id, ev.frame[..keep].to_vec()),
                // No buffer free: send it all, unbuffered (§7.4.1).
                None => (openflow::message::OFP_NO_BUFFER, ev.frame),
            }
        };
        let mut fields = vec![Oxm::InPort(m.in_port)];
        if m.metadata != 0 {
            fields.push(Oxm::Metadata {
                value: m.metadata,
                mask: None,
            });
        }
        if m.tunnel_id != 0 {
            fields.push(Oxm::TunnelId {
                value: m.tunnel_id,
                mask: None,
            });
        }
        Message::new(
            0,
            MessageBody::PacketIn(PacketIn {
                buffer_id,
                total_len,
                reason: m.reason,
                table_id: m.table_id,
                cookie: m.cookie,
                match_: Match { fields },
                data,
            }),
        )
    }

    /// Link changes since the last call, as PORT_STATUS messages.
    pub fn port_changes(&mut self) -> Vec<Message> {
        let mut out = Vec::new();
        for p in &mut self.ports {
            let g = p.stats.link_generation();
            if g != p.link_generation {
                p.link_generation = g;
                out.push(Message::new(
                    0,
                    MessageBody::PortStatus(PortStatus {
                        reason: port_reason::MODIFY,
                        desc: port_desc(p),
                    }),
                ));
            }
        }
        out
    }

    /// Drops buffered packets older than the buffer timeout.
    pub fn expire_buffers(&mut self) {
        self.buffers.expire(Instant::now());
    }

    /// The flow tables' count.
    pub fn n_tables(&self) -> u8 {
        self.settings.n_tables
    }

    /// Settings.
    pub fn settings(&self) -> &SwitchSettings {
        &self.settings
    }

    /// Per-table counters, for TABLE stats.
    pub(crate) fn table_counters(&self) -> &[Arc<TableCounters>] {
        &self.table_counters
    }

    /// Marks tables holding flows of a program as changed (program
    /// installed or replaced) — used by the extension handlers.
    pub(crate) fn mark_dirty(&mut self) {
        self.dirty = true;
    }
}

/// `1 << OFPAT_*` of every action the dataplane executes.
pub(crate) fn supported_actions() -> u32 {
    [
        0u32, 11, 12, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27,
    ]
    .iter()
    .fold(0, |a, t| a | (1 << t))
}

fn port_desc(p: &PortDef) -> OfPort {
    let mut name = [0u8; 16];
    let n = p.info.name.len().min(15);
    name[..n].copy_from_slice(&p.info.name.as_bytes()[..n]);
    let up = p.stats.link_up();
    let mut state = 0;
    if !up || p.config & port_config::PORT_DOWN != 0 {
        state |= port_state::LINK_DOWN;
    } else {
        state |= port_state::LIVE;
    }
    OfPort {
        port_no: p.port_no,
        hw_addr: p.info.hw_addr,
        name,
        config: p.config,
        state,
        curr: p.info.curr,
        advertised: p.info.advertised,
        supported: p.info.supported,
        peer: p.info.peer,
        curr_speed: p.info.curr_speed_kbps,
        max_speed: p.info.max_speed_kbps,
    }
}
