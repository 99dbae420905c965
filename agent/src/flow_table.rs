//! The switch's authoritative model of its OpenFlow 1.3 flow tables.
//!
//! ## What it is
//!
//! [`FlowTables`] holds every flow entry of every table and applies
//! FLOW_MODs to them with the semantics of OpenFlow 1.3.5 §6.4 ("Flow Table
//! Modification Messages") and §7.3.4.2; it expires flows (§5.5, §7.4.2
//! FLOW_REMOVED) and answers FLOW and AGGREGATE statistics (§7.3.5.2/3).
//! It is sans-IO and deterministic: nothing here reads a clock. Callers pass
//! two times in: an [`Instant`] for the durations statistics report, and
//! nanoseconds of the workers' clock
//! ([`ofext_filter::helpers::monotonic_ns`]) for idle and hard timeouts,
//! because that is the clock the workers stamp into [`FlowCounters`] when a
//! flow last matched.
//!
//! The dataplane never sees this structure. After a change the agent
//! compiles the tables named in [`ModOutcome::changed_tables`] into
//! classifier snapshots and publishes them; the entries are shared with
//! those snapshots through `Arc`, and so are their counters, which workers
//! bump while the agent reads them.
//!
//! ## Invariants
//!
//! - **All or nothing.** [`FlowTables::apply`] checks everything (command,
//!   flags, table id, match, instructions, the switch's own validator,
//!   overlap, table space) before it changes anything: an error leaves the
//!   tables exactly as they were, as §6.4 requires ("the switch must
//!   refuse the whole message").
//! - **Entries are immutable.** A MODIFY replaces a flow's `Arc<FlowEntry>`
//!   with a new one; a snapshot that still holds the old entry keeps a
//!   consistent view. Counters are never reset in place: RESET_COUNTS gives
//!   the flow a fresh [`FlowCounters`] (see [`dataplane::counters`]).
//! - **Insertion order.** Every entry has a sequence number, unique over the
//!   whole switch and increasing with insertion. Entries are kept and
//!   returned in that order, and the classifier breaks priority ties by it
//!   (the earlier flow wins). A MODIFY, or an ADD that replaces a flow with
//!   identical match and priority, keeps the flow's place: it is the same
//!   flow as far as ordering is concerned.
//! - **Identity.** Within a table, at most one flow has a given priority and
//!   [`FlowMatch`] (fields, masks and filter program); the `exact` index
//!   finds it in O(1) for ADD and the strict commands.
//!
//! ## Timeouts
//!
//! A hard timeout runs from the flow's install time (a MODIFY does not
//! restart it; an ADD that replaces a flow does, since it clears the
//! duration). An idle timeout runs from the later of the install time and
//! the last time a worker matched the flow. Because workers move the last
//! use forward without telling the agent, the timer set holds a *lower
//! bound* per flow; [`FlowTables::expire`] re-checks the true deadlines of
//! the flows whose bound has passed and re-arms the ones still alive, so
//! the caller need only wake at [`FlowTables::next_expiry`]. When both
//! timeouts have passed the reason is HARD_TIMEOUT.
//!
//! ## Choices the specification leaves open
//!
//! - CHECK_OVERLAP counts a flow with the identical match and priority as an
//!   overlap (it is one), so such an ADD fails with OVERLAP instead of
//!   replacing.
//! - MODIFY (strict or not) changes only the instructions (and the counters
//!   with RESET_COUNTS); cookie, timeouts, flags and duration are kept, as
//!   §6.4 says. `out_port`/`out_group` do not restrict MODIFY in 1.3.
//! - `table_id` OFPTT_ALL is accepted for DELETE and DELETE_STRICT only.
//! - Two instructions of the same type in one flow (1.3 has no code for it;
//!   1.4 added `DUP_INST`) are refused with `BAD_INSTRUCTION/UNSUP_INST`.
//!   GOTO_TABLE must name a later, existing table
//!   (`BAD_INSTRUCTION/BAD_TABLE_ID`).
//! - `out_port` / `out_group` filters look at the OUTPUT and GROUP actions
//!   of the flow's APPLY_ACTIONS and WRITE_ACTIONS instructions, not into
//!   the buckets of the groups it names.
//!
//! ## What it does not do
//!
//! It does not know ports, groups, meters or filter programs: the switch
//! checks those through [`ModContext::validate`]. It does not handle
//! `buffer_id`, send messages, or decide whether FLOW_REMOVED is wanted
//! (the entry's `SEND_FLOW_REM` flag and the controller's async config do).
//! There is no eviction: a full table refuses ADDs with TABLE_FULL.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use dataplane::classifier::FlowMatch;
use dataplane::counters::FlowCounters;
use openflow::ErrorCode;
use openflow::action::Action;
use openflow::error::{BadInstructionCode, BadRequestCode, FlowModFailedCode};
use openflow::group::group_id;
use openflow::instruction::Instruction;
use openflow::message::{
    FlowMod, FlowRemoved, flow_mod_command, flow_mod_flags, flow_removed_reason, table_id,
};
use openflow::multipart::{AggregateStats, FlowStats, FlowStatsRequest};
use openflow::oxm::Match;
use openflow::port::port_no;

/// The number of tables a switch has unless configured otherwise (ids
/// `0..254`).
pub const DEFAULT_N_TABLES: u8 = 254;

/// Every `OFPFF_*` flag OpenFlow 1.3 defines; any other bit is BAD_FLAGS.
pub const KNOWN_FLOW_MOD_FLAGS: u16 = flow_mod_flags::SEND_FLOW_REM
    | flow_mod_flags::CHECK_OVERLAP
    | flow_mod_flags::RESET_COUNTS
    | flow_mod_flags::NO_PKT_COUNTS
    | flow_mod_flags::NO_BYT_COUNTS;

const NS_PER_SEC: u64 = 1_000_000_000;

/// Why a flow left its table (`ofp_flow_removed_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RemovalReason {
    /// OFPRR_IDLE_TIMEOUT: no packet matched for `idle_timeout` seconds.
    IdleTimeout,
    /// OFPRR_HARD_TIMEOUT: `hard_timeout` seconds passed since install.
    HardTimeout,
    /// OFPRR_DELETE: a DELETE FLOW_MOD (or a cascading removal the switch
    /// reports as one).
    Delete,
    /// OFPRR_GROUP_DELETE: a group the flow forwards to was deleted.
    GroupDelete,
}

impl RemovalReason {
    /// The wire value for `FlowRemoved::reason`.
    pub const fn code(self) -> u8 {
        match self {
            Self::IdleTimeout => flow_removed_reason::IDLE_TIMEOUT,
            Self::HardTimeout => flow_removed_reason::HARD_TIMEOUT,
            Self::Delete => flow_removed_reason::DELETE,
            Self::GroupDelete => flow_removed_reason::GROUP_DELETE,
        }
    }
}

/// One flow entry. Immutable once in a table: a change makes a new entry.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FlowEntry {
    /// The table the flow is in.
    pub table_id: u8,
    /// OpenFlow priority (higher wins).
    pub priority: u16,
    /// The match exactly as the controller sent it, echoed in FLOW stats
    /// and FLOW_REMOVED.
    pub match_: Match,
    /// The compiled match the classifier uses.
    pub flow_match: FlowMatch,
    /// The controller's cookie.
    pub cookie: u64,
    /// The `OFPFF_*` flags of the FLOW_MOD that added the flow.
    pub flags: u16,
    /// Idle timeout, seconds (0 = none).
    pub idle_timeout: u16,
    /// Hard timeout, seconds (0 = none).
    pub hard_timeout: u16,
    /// The instructions.
    pub instructions: Vec<Instruction>,
    /// Packet and byte counters, shared with the workers.
    pub counters: Arc<FlowCounters>,
    /// When the flow was added (durations in stats and FLOW_REMOVED).
    pub installed: Instant,
    /// The same moment on the workers' clock (timeouts).
    pub installed_ns: u64,
    /// Insertion sequence number: unique, increasing with insertion; the
    /// earlier flow wins a priority tie.
    pub seq: u64,
}

impl FlowEntry {
    /// Whether the flow asked for FLOW_REMOVED (`OFPFF_SEND_FLOW_REM`).
    pub fn send_flow_rem(&self) -> bool {
        self.flags & flow_mod_flags::SEND_FLOW_REM != 0
    }

    /// When the hard timeout fires (workers' clock), if the flow has one.
    pub fn hard_deadline_ns(&self) -> Option<u64> {
        (self.hard_timeout != 0).then(|| {
            self.installed_ns
                .saturating_add(u64::from(self.hard_timeout) * NS_PER_SEC)
        })
    }

    /// When the idle timeout fires if no packet matches the flow from now
    /// on (workers' clock), if the flow has one.
    pub fn idle_deadline_ns(&self) -> Option<u64> {
        (self.idle_timeout != 0).then(|| {
            // Counters kept from a replaced flow may carry an older last
            // use; the idle time of this flow starts no earlier than its
            // install.
            self.counters
                .last_used_ns()
                .max(self.installed_ns)
                .saturating_add(u64::from(self.idle_timeout) * NS_PER_SEC)
        })
    }

    /// The earliest of the two deadlines as known now.
    fn next_deadline_ns(&self) -> Option<u64> {
        match (self.hard_deadline_ns(), self.idle_deadline_ns()) {
            (Some(h), Some(i)) => Some(h.min(i)),
            (h, i) => h.or(i),
        }
    }

    /// Whether the flow has timed out at `now_ns`, and why (hard first).
    pub fn expired(&self, now_ns: u64) -> Option<RemovalReason> {
        if self.hard_deadline_ns().is_some_and(|d| now_ns >= d) {
            Some(RemovalReason::HardTimeout)
        } else if self.idle_deadline_ns().is_some_and(|d| now_ns >= d) {
            Some(RemovalReason::IdleTimeout)
        } else {
            None
        }
    }

    /// The actions of the APPLY_ACTIONS and WRITE_ACTIONS instructions.
    pub fn actions(&self) -> impl Iterator<Item = &Action> {
        self.instructions.iter().flat_map(|i| match i {
            Instruction::ApplyActions(a) | Instruction::WriteActions(a) => a.as_slice(),
            _ => &[],
        })
    }

    /// Whether the flow passes the `out_port` filter: `OFPP_ANY`, or an
    /// OUTPUT action to `port`.
    pub fn outputs_to_port(&self, port: u32) -> bool {
        port == port_no::ANY
            || self
                .actions()
                .any(|a| matches!(a, Action::Output { port: p, .. } if *p == port))
    }

    /// Whether the flow passes the `out_group` filter: `OFPG_ANY`, or a
    /// GROUP action to `group`.
    pub fn outputs_to_group(&self, group: u32) -> bool {
        group == group_id::ANY
            || self
                .actions()
                .any(|a| matches!(a, Action::Group(g) if *g == group))
    }

    /// Whether the flow has a METER instruction for `meter_id`.
    pub fn uses_meter(&self, meter_id: u32) -> bool {
        self.instructions
            .iter()
            .any(|i| matches!(i, Instruction::Meter(m) if *m == meter_id))
    }

    /// Time since install as `(duration_sec, duration_nsec)`.
    pub fn duration(&self, now: Instant) -> (u32, u32) {
        let d = now.saturating_duration_since(self.installed);
        (
            u32::try_from(d.as_secs()).unwrap_or(u32::MAX),
            d.subsec_nanos(),
        )
    }

    /// The FLOW_REMOVED message announcing this flow's removal at `now`.
    pub fn flow_removed(&self, reason: RemovalReason, now: Instant) -> FlowRemoved {
        let (duration_sec, duration_nsec) = self.duration(now);
        let c = self.counters.totals();
        FlowRemoved {
            cookie: self.cookie,
            priority: self.priority,
            reason: reason.code(),
            table_id: self.table_id,
            duration_sec,
            duration_nsec,
            idle_timeout: self.idle_timeout,
            hard_timeout: self.hard_timeout,
            packet_count: c.packet_count,
            byte_count: c.byte_count,
            match_: self.match_.clone(),
        }
    }

    /// The flow's `ofp_flow_stats` at `now`.
    pub fn flow_stats(&self, now: Instant) -> FlowStats {
        let (duration_sec, duration_nsec) = self.duration(now);
        let c = self.counters.totals();
        FlowStats {
            table_id: self.table_id,
            duration_sec,
            duration_nsec,
            priority: self.priority,
            idle_timeout: self.idle_timeout,
            hard_timeout: self.hard_timeout,
            flags: self.flags,
            cookie: self.cookie,
            packet_count: c.packet_count,
            byte_count: c.byte_count,
            match_: self.match_.clone(),
            instructions: self.instructions.clone(),
        }
    }
}

/// The switch's check of a flow's match and instructions against its
/// state (ports, groups, meters, filter programs, metadata support). Any
/// error refuses the FLOW_MOD.
pub type Validator<'a> = &'a dyn Fn(&FlowMatch, &[Instruction]) -> Result<(), ErrorCode>;

/// A validator that accepts everything (tests, tools).
pub fn accept_all(_: &FlowMatch, _: &[Instruction]) -> Result<(), ErrorCode> {
    Ok(())
}

/// What [`FlowTables::apply`] needs besides the FLOW_MOD.
#[derive(Clone, Copy)]
pub struct ModContext<'a> {
    /// Now, for install times and durations.
    pub now: Instant,
    /// Now on the workers' clock, for timeouts.
    pub now_ns: u64,
    /// Checks the switch makes for ADD and MODIFY (not called for DELETE,
    /// whose instructions are ignored).
    pub validate: Validator<'a>,
}

impl<'a> ModContext<'a> {
    /// A context at `now` / `now_ns` with the switch's validator.
    pub fn new(now: Instant, now_ns: u64, validate: Validator<'a>) -> Self {
        Self {
            now,
            now_ns,
            validate,
        }
    }
}

impl std::fmt::Debug for ModContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModContext")
            .field("now", &self.now)
            .field("now_ns", &self.now_ns)
            .finish_non_exhaustive()
    }
}

/// What a successful FLOW_MOD changed.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ModOutcome {
    /// The entry an ADD installed.
    pub added: Option<Arc<FlowEntry>>,
    /// The entry with identical match and priority that the ADD replaced
    /// (no FLOW_REMOVED is due for it).
    pub replaced: Option<Arc<FlowEntry>>,
    /// The new versions of the entries a MODIFY changed.
    pub modified: Vec<Arc<FlowEntry>>,
    /// The entries a DELETE removed, in table then insertion order. Their
    /// reason is [`RemovalReason::Delete`]; the caller sends FLOW_REMOVED for
    /// those with [`FlowEntry::send_flow_rem`].
    pub removed: Vec<Arc<FlowEntry>>,
    /// The tables whose contents changed, ascending: only these need
    /// recompiling.
    pub changed_tables: Vec<u8>,
}

impl ModOutcome {
    /// Whether the FLOW_MOD changed nothing (a MODIFY or DELETE that
    /// selected no flow).
    pub fn is_noop(&self) -> bool {
        self.changed_tables.is_empty()
    }
}

/// One table's entries.
#[derive(Debug, Default)]
struct Table {
    /// seq → entry: iteration is insertion order.
    entries: BTreeMap<u64, Slot>,
    /// (priority, match) → seq of the one flow with them.
    exact: HashMap<(u16, FlowMatch), u64, foldhash::fast::RandomState>,
}

#[derive(Debug)]
struct Slot {
    entry: Arc<FlowEntry>,
    /// The key of this flow in `FlowTables::timers`, when it has timeouts.
    timer: Option<u64>,
}

/// Which flows a MODIFY, DELETE or statistics request selects.
struct Selector {
    /// `Some(priority)` for the strict commands.
    strict: Option<u16>,
    m: FlowMatch,
    cookie: u64,
    cookie_mask: u64,
    out_port: u32,
    out_group: u32,
}

impl Selector {
    fn selects(&self, e: &FlowEntry) -> bool {
        let by_match = match self.strict {
            Some(p) => e.priority == p && e.flow_match.strict_eq(&self.m),
            None => e.flow_match.is_subset_of(&self.m),
        };
        by_match
            && (e.cookie ^ self.cookie) & self.cookie_mask == 0
            && e.outputs_to_port(self.out_port)
            && e.outputs_to_group(self.out_group)
    }

    /// The seqs of the selected flows of `t`, in insertion order.
    fn select(&self, t: &Table) -> Vec<u64> {
        match self.strict {
            Some(p) => t
                .exact
                .get(&(p, self.m))
                .filter(|s| t.entries.get(s).is_some_and(|x| self.selects(&x.entry)))
                .into_iter()
                .copied()
                .collect(),
            None => t
                .entries
                .iter()
                .filter(|(_, x)| self.selects(&x.entry))
                .map(|(s, _)| *s)
                .collect(),
        }
    }
}

/// All flow tables of a switch.
#[derive(Debug)]
pub struct FlowTables {
    tables: Vec<Table>,
    max_flows_per_table: usize,
    n_workers: usize,
    next_seq: u64,
    /// (lower bound of the deadline, table, seq) for every flow with a
    /// timeout.
    timers: BTreeSet<(u64, u8, u64)>,
}

impl FlowTables {
    /// Empty tables `0..n_tables`, each holding at most
    /// `max_flows_per_table` flows, with counters for `n_workers` workers.
    pub fn new(n_tables: u8, max_flows_per_table: usize, n_workers: usize) -> Self {
        Self {
            tables: (0..n_tables).map(|_| Table::default()).collect(),
            max_flows_per_table,
            n_workers,
            next_seq: 0,
            timers: BTreeSet::new(),
        }
    }

    /// The number of tables.
    pub fn n_tables(&self) -> u8 {
        // `new` takes a u8 count.
        u8::try_from(self.tables.len()).unwrap_or(u8::MAX)
    }

    /// The capacity of each table.
    pub fn max_flows_per_table(&self) -> usize {
        self.max_flows_per_table
    }

    /// Flows in all tables.
    pub fn len(&self) -> usize {
        self.tables.iter().map(|t| t.entries.len()).sum()
    }

    /// Whether no table has a flow.
    pub fn is_empty(&self) -> bool {
        self.tables.iter().all(|t| t.entries.is_empty())
    }

    /// Flows in table `table_id` (TABLE stats `active_count`); 0 for a
    /// table that does not exist.
    pub fn active_count(&self, table_id: u8) -> u32 {
        self.tables
            .get(usize::from(table_id))
            .map_or(0, |t| u32::try_from(t.entries.len()).unwrap_or(u32::MAX))
    }

    /// The entries of one table in insertion order (empty for a table that
    /// does not exist).
    pub fn entries(&self, table_id: u8) -> impl Iterator<Item = &Arc<FlowEntry>> {
        self.tables
            .get(usize::from(table_id))
            .into_iter()
            .flat_map(|t| t.entries.values().map(|s| &s.entry))
    }

    /// Every entry, by table and then insertion order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<FlowEntry>> {
        self.tables
            .iter()
            .flat_map(|t| t.entries.values().map(|s| &s.entry))
    }

    /// The flow of `table_id` with exactly this priority and match.
    pub fn find_strict(
        &self,
        table_id: u8,
        priority: u16,
        m: &FlowMatch,
    ) -> Option<&Arc<FlowEntry>> {
        let t = self.tables.get(usize::from(table_id))?;
        let seq = t.exact.get(&(priority, *m))?;
        t.entries.get(seq).map(|s| &s.entry)
    }

    /// Applies one FLOW_MOD (`buffer_id` is the caller's business).
    ///
    /// Checks, in this order; the first failure is returned and nothing
    /// changes:
    /// 1. command → `FLOW_MOD_FAILED/BAD_COMMAND`;
    /// 2. flags outside [`KNOWN_FLOW_MOD_FLAGS`] → `FLOW_MOD_FAILED/BAD_FLAGS`;
    /// 3. table id: OFPTT_ALL except for DELETE*, or a table that does not
    ///    exist → `FLOW_MOD_FAILED/BAD_TABLE_ID`;
    /// 4. the match ([`FlowMatch::from_oxm`], which runs
    ///    [`Match::validate`]) → `BAD_MATCH/*`;
    /// 5. ADD and MODIFY only: each instruction's
    ///    [`Instruction::validate`], duplicate instruction types
    ///    (`BAD_INSTRUCTION/UNSUP_INST`), GOTO_TABLE to this or an earlier
    ///    or missing table (`BAD_INSTRUCTION/BAD_TABLE_ID`), then
    ///    [`ModContext::validate`];
    /// 6. ADD only: CHECK_OVERLAP with a same-priority overlapping flow →
    ///    `FLOW_MOD_FAILED/OVERLAP`; a full table (unless the ADD replaces
    ///    a flow) → `FLOW_MOD_FAILED/TABLE_FULL`.
    ///
    /// # Errors
    /// The OpenFlow error to answer the FLOW_MOD with, as listed above.
    pub fn apply(&mut self, fm: &FlowMod, ctx: &ModContext<'_>) -> Result<ModOutcome, ErrorCode> {
        use flow_mod_command as c;
        let fail = ErrorCode::FlowModFailed;
        let (is_delete, strict) = match fm.command {
            c::ADD => (false, false),
            c::MODIFY => (false, false),
            c::MODIFY_STRICT => (false, true),
            c::DELETE => (true, false),
            c::DELETE_STRICT => (true, true),
            _ => return Err(fail(FlowModFailedCode::BadCommand)),
        };
        if fm.flags & !KNOWN_FLOW_MOD_FLAGS != 0 {
            return Err(fail(FlowModFailedCode::BadFlags));
        }
        let all_tables = fm.table_id == table_id::ALL;
        if (all_tables && !is_delete) || (!all_tables && fm.table_id >= self.n_tables()) {
            return Err(fail(FlowModFailedCode::BadTableId));
        }
        let m = FlowMatch::from_oxm(&fm.match_)?;
        if is_delete {
            let sel = Selector {
                strict: strict.then_some(fm.priority),
                m,
                cookie: fm.cookie,
                cookie_mask: fm.cookie_mask,
                out_port: fm.out_port,
                out_group: fm.out_group,
            };
            let tables = if all_tables {
                0..self.n_tables()
            } else {
                fm.table_id..fm.table_id + 1
            };
            let mut out = ModOutcome::default();
            for t in tables {
                let seqs = sel.select(&self.tables[usize::from(t)]);
                if !seqs.is_empty() {
                    out.changed_tables.push(t);
                }
                out.removed
                    .extend(seqs.into_iter().filter_map(|s| self.remove(t, s)));
            }
            return Ok(out);
        }
        self.check_instructions(fm.table_id, &m, &fm.instructions, ctx)?;
        if fm.command == c::ADD {
            self.add(fm, m, ctx)
        } else {
            Ok(self.modify(fm, m, strict))
        }
    }

    /// Step 5 of [`FlowTables::apply`].
    fn check_instructions(
        &self,
        table: u8,
        m: &FlowMatch,
        insts: &[Instruction],
        ctx: &ModContext<'_>,
    ) -> Result<(), ErrorCode> {
        let mut seen: u16 = 0;
        for i in insts {
            i.validate()?;
            // `validate` refused the unknown and experimenter types, so the
            // type is 1..=6 here.
            let bit = 1u16 << (i.inst_type() & 15);
            if seen & bit != 0 {
                return Err(ErrorCode::BadInstruction(BadInstructionCode::UnsupInst));
            }
            seen |= bit;
            if let Instruction::GotoTable(next) = *i
                && (next <= table || next >= self.n_tables())
            {
                return Err(ErrorCode::BadInstruction(BadInstructionCode::BadTableId));
            }
        }
        (ctx.validate)(m, insts)
    }

    fn add(
        &mut self,
        fm: &FlowMod,
        m: FlowMatch,
        ctx: &ModContext<'_>,
    ) -> Result<ModOutcome, ErrorCode> {
        let t = &self.tables[usize::from(fm.table_id)];
        if fm.flags & flow_mod_flags::CHECK_OVERLAP != 0
            && t.entries
                .values()
                .any(|s| s.entry.priority == fm.priority && s.entry.flow_match.overlaps(&m))
        {
            return Err(ErrorCode::FlowModFailed(FlowModFailedCode::Overlap));
        }
        let old_seq = t.exact.get(&(fm.priority, m)).copied();
        if old_seq.is_none() && t.entries.len() >= self.max_flows_per_table {
            return Err(ErrorCode::FlowModFailed(FlowModFailedCode::TableFull));
        }
        // Checks are over: from here on nothing fails.
        let old = old_seq.and_then(|s| self.remove(fm.table_id, s));
        let counters = match &old {
            Some(o) if fm.flags & flow_mod_flags::RESET_COUNTS == 0 => o.counters.clone(),
            _ => Arc::new(FlowCounters::new(self.n_workers, ctx.now, ctx.now_ns)),
        };
        let seq = old_seq.unwrap_or_else(|| {
            self.next_seq += 1;
            self.next_seq
        });
        let entry = Arc::new(FlowEntry {
            table_id: fm.table_id,
            priority: fm.priority,
            match_: fm.match_.clone(),
            flow_match: m,
            cookie: fm.cookie,
            flags: fm.flags,
            idle_timeout: fm.idle_timeout,
            hard_timeout: fm.hard_timeout,
            instructions: fm.instructions.clone(),
            counters,
            installed: ctx.now,
            installed_ns: ctx.now_ns,
            seq,
        });
        self.insert(entry.clone());
        Ok(ModOutcome {
            added: Some(entry),
            replaced: old,
            changed_tables: vec![fm.table_id],
            ..ModOutcome::default()
        })
    }

    fn modify(&mut self, fm: &FlowMod, m: FlowMatch, strict: bool) -> ModOutcome {
        let sel = Selector {
            strict: strict.then_some(fm.priority),
            m,
            cookie: fm.cookie,
            cookie_mask: fm.cookie_mask,
            // 1.3.5 §7.3.4.2: out_port/out_group are ignored by MODIFY.
            out_port: port_no::ANY,
            out_group: group_id::ANY,
        };
        let n_workers = self.n_workers;
        let t = &mut self.tables[usize::from(fm.table_id)];
        let mut out = ModOutcome::default();
        for seq in sel.select(t) {
            let Some(slot) = t.entries.get_mut(&seq) else {
                continue;
            };
            let old = &slot.entry;
            let counters = if fm.flags & flow_mod_flags::RESET_COUNTS != 0 {
                // Fresh counts, but the same last use: resetting counters is
                // not a packet, and must not move the idle deadline.
                Arc::new(FlowCounters::new(
                    n_workers,
                    old.installed,
                    old.counters.last_used_ns(),
                ))
            } else {
                old.counters.clone()
            };
            let entry = Arc::new(FlowEntry {
                instructions: fm.instructions.clone(),
                counters,
                ..FlowEntry::clone(old)
            });
            slot.entry = entry.clone();
            out.modified.push(entry);
        }
        if !out.modified.is_empty() {
            out.changed_tables.push(fm.table_id);
        }
        out
    }

    /// Puts `e` in its table (its seq must be free) and arms its timer.
    fn insert(&mut self, e: Arc<FlowEntry>) {
        let timer = e.next_deadline_ns();
        if let Some(d) = timer {
            self.timers.insert((d, e.table_id, e.seq));
        }
        let t = &mut self.tables[usize::from(e.table_id)];
        t.exact.insert((e.priority, e.flow_match), e.seq);
        t.entries.insert(e.seq, Slot { entry: e, timer });
    }

    /// Takes flow `seq` out of `table` with its index and timer entries.
    fn remove(&mut self, table: u8, seq: u64) -> Option<Arc<FlowEntry>> {
        let t = self.tables.get_mut(usize::from(table))?;
        let slot = t.entries.remove(&seq)?;
        t.exact
            .remove(&(slot.entry.priority, slot.entry.flow_match));
        if let Some(d) = slot.timer {
            self.timers.remove(&(d, table, seq));
        }
        Some(slot.entry)
    }

    /// Removes the flows that timed out at `now_ns` (workers' clock), with
    /// their reasons, ordered by deadline.
    pub fn expire(&mut self, now_ns: u64) -> Vec<(Arc<FlowEntry>, RemovalReason)> {
        let mut out = Vec::new();
        let mut rearm = Vec::new();
        while let Some(&(d, table, seq)) = self.timers.first() {
            if d > now_ns {
                break;
            }
            self.timers.pop_first();
            let Some(slot) = self
                .tables
                .get_mut(usize::from(table))
                .and_then(|t| t.entries.get_mut(&seq))
            else {
                continue;
            };
            slot.timer = None;
            let verdict = slot.entry.expired(now_ns);
            let next = slot.entry.next_deadline_ns();
            match (verdict, next) {
                (Some(reason), _) => {
                    if let Some(e) = self.remove(table, seq) {
                        out.push((e, reason));
                    }
                }
                (None, Some(next)) => {
                    // The flow was used since the bound was set: re-arm
                    // with the true deadline, after `now_ns` (`expired`
                    // said so; the `max` only makes termination obvious).
                    let next = next.max(now_ns.saturating_add(1));
                    slot.timer = Some(next);
                    rearm.push((next, table, seq));
                }
                (None, None) => {}
            }
        }
        self.timers.extend(rearm);
        out
    }

    /// The earliest time (workers' clock) at which [`FlowTables::expire`]
    /// may remove a flow; calling it earlier finds nothing. `None` when no
    /// flow has a timeout.
    pub fn next_expiry(&self) -> Option<u64> {
        self.timers.first().map(|&(d, _, _)| d)
    }

    /// Removes every flow for which `pred` holds, by table then insertion
    /// order.
    pub fn remove_if(&mut self, mut pred: impl FnMut(&FlowEntry) -> bool) -> Vec<Arc<FlowEntry>> {
        let doomed: Vec<(u8, u64)> = self
            .iter()
            .filter(|e| pred(e))
            .map(|e| (e.table_id, e.seq))
            .collect();
        doomed
            .into_iter()
            .filter_map(|(t, s)| self.remove(t, s))
            .collect()
    }

    /// Removes the flows whose match names filter program `prog_id`
    /// (PROG_UNLOAD with CASCADE). The caller reports them with reason
    /// [`RemovalReason::Delete`].
    pub fn remove_by_program(&mut self, prog_id: u32) -> Vec<Arc<FlowEntry>> {
        self.remove_if(|e| e.flow_match.filter_prog == Some(prog_id))
    }

    /// Whether some flow's match names filter program `prog_id`.
    pub fn uses_program(&self, prog_id: u32) -> bool {
        self.iter()
            .any(|e| e.flow_match.filter_prog == Some(prog_id))
    }

    /// Removes the flows with a GROUP action to `group` (its group was
    /// deleted, 1.3.5 §6.5; reason [`RemovalReason::GroupDelete`]).
    pub fn remove_by_group(&mut self, group: u32) -> Vec<Arc<FlowEntry>> {
        self.remove_if(|e| {
            e.actions()
                .any(|a| matches!(a, Action::Group(g) if *g == group))
        })
    }

    /// Removes the flows with a METER instruction for `meter_id` (its
    /// meter was deleted, 1.3.5 §6.6; reason [`RemovalReason::Delete`]).
    pub fn remove_by_meter(&mut self, meter_id: u32) -> Vec<Arc<FlowEntry>> {
        self.remove_if(|e| e.uses_meter(meter_id))
    }

    /// The flows a FLOW or AGGREGATE request selects: non-strict (a flow is
    /// selected when its match is a subset of the request's), then
    /// cookie/mask, `out_port` and `out_group`.
    fn stats_select<'s>(
        &'s self,
        req: &FlowStatsRequest,
    ) -> Result<impl Iterator<Item = &'s Arc<FlowEntry>>, ErrorCode> {
        let tables = if req.table_id == table_id::ALL {
            0..self.tables.len()
        } else if req.table_id < self.n_tables() {
            usize::from(req.table_id)..usize::from(req.table_id) + 1
        } else {
            return Err(ErrorCode::BadRequest(BadRequestCode::BadTableId));
        };
        let sel = Selector {
            strict: None,
            m: FlowMatch::from_oxm(&req.match_)?,
            cookie: req.cookie,
            cookie_mask: req.cookie_mask,
            out_port: req.out_port,
            out_group: req.out_group,
        };
        Ok(self.tables[tables]
            .iter()
            .flat_map(|t| t.entries.values())
            .filter(move |s| sel.selects(&s.entry))
            .map(|s| &s.entry))
    }

    /// FLOW statistics at `now`, by table then insertion order.
    ///
    /// # Errors
    /// `BAD_REQUEST/BAD_TABLE_ID` for a table that does not exist (not
    /// OFPTT_ALL); the match's `BAD_MATCH/*` error.
    pub fn flow_stats(
        &self,
        req: &FlowStatsRequest,
        now: Instant,
    ) -> Result<Vec<FlowStats>, ErrorCode> {
        Ok(self.stats_select(req)?.map(|e| e.flow_stats(now)).collect())
    }

    /// AGGREGATE statistics over the flows `req` selects.
    ///
    /// # Errors
    /// As [`FlowTables::flow_stats`].
    pub fn aggregate(&self, req: &FlowStatsRequest) -> Result<AggregateStats, ErrorCode> {
        Ok(self
            .stats_select(req)?
            .fold(AggregateStats::default(), |mut a, e| {
                let c = e.counters.totals();
                a.packet_count = a.packet_count.wrapping_add(c.packet_count);
                a.byte_count = a.byte_count.wrapping_add(c.byte_count);
                a.flow_count = a.flow_count.saturating_add(1);
                a
            }))
    }
}

impl Default for FlowTables {
    /// [`DEFAULT_N_TABLES`] tables of up to 65536 flows, one worker.
    fn default() -> Self {
        Self::new(DEFAULT_N_TABLES, 1 << 16, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ofext_filter::wire::filter_prog_oxm;
    use openflow::error::{BadActionCode, BadMatchCode, MeterModFailedCode};
    use openflow::message::flow_mod_command as cmd;
    use openflow::message::flow_mod_flags as ff;
    use openflow::oxm::Oxm;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    const S: u64 = NS_PER_SEC;
    const T0_NS: u64 = 1_000 * S;

    fn fmfail(c: FlowModFailedCode) -> ErrorCode {
        ErrorCode::FlowModFailed(c)
    }

    fn ip4() -> Oxm {
        Oxm::EthType(0x0800)
    }

    fn dst(a: [u8; 4], len: u32) -> Oxm {
        Oxm::Ipv4Dst {
            value: Ipv4Addr::from(a),
            mask: (len < 32)
                .then(|| Ipv4Addr::from_bits(u32::MAX.checked_shl(32 - len).unwrap_or(0))),
        }
    }

    fn net(a: [u8; 4], len: u32) -> Match {
        Match {
            fields: vec![ip4(), dst(a, len)],
        }
    }

    fn port_match(p: u32) -> Match {
        Match {
            fields: vec![Oxm::InPort(p)],
        }
    }

    fn out(port: u32) -> Instruction {
        Instruction::ApplyActions(vec![Action::Output { port, max_len: 0 }])
    }

    fn add(table: u8, priority: u16, m: Match, insts: Vec<Instruction>) -> FlowMod {
        FlowMod {
            table_id: table,
            priority,
            match_: m,
            instructions: insts,
            ..FlowMod::default()
        }
    }

    fn with(command: u8, mut fm: FlowMod) -> FlowMod {
        fm.command = command;
        fm
    }

    struct Clock {
        t0: Instant,
    }

    impl Clock {
        fn new() -> Self {
            Self { t0: Instant::now() }
        }
        /// Context `secs` seconds after the start.
        fn at(&self, secs: u64) -> ModContext<'static> {
            ModContext::new(
                self.t0 + Duration::from_secs(secs),
                T0_NS + secs * S,
                &accept_all,
            )
        }
    }

    /// Everything observable about the tables, for unchanged-on-error checks.
    fn snapshot(t: &FlowTables) -> String {
        let ptrs: Vec<_> = t.iter().map(|e| Arc::as_ptr(&e.counters)).collect();
        let mut exact: Vec<_> = t
            .tables
            .iter()
            .enumerate()
            .flat_map(|(i, t)| {
                t.exact
                    .iter()
                    .map(move |(k, v)| (i, k.0, format!("{:?}", k.1), *v))
            })
            .collect();
        exact.sort();
        format!(
            "{:?}|{:?}|{:?}|{:?}|{}",
            t.iter().collect::<Vec<_>>(),
            ptrs,
            t.timers,
            exact,
            t.next_seq
        )
    }

    fn sample(clock: &Clock) -> FlowTables {
        let mut t = FlowTables::new(4, 8, 2);
        let ctx = clock.at(0);
        let mut a = add(0, 10, net([10, 0, 0, 0], 8), vec![out(1)]);
        a.cookie = 0x11;
        a.idle_timeout = 30;
        t.apply(&a, &ctx).unwrap();
        let mut b = add(0, 20, net([10, 1, 0, 0], 16), vec![out(2)]);
        b.cookie = 0x12;
        b.hard_timeout = 60;
        t.apply(&b, &ctx).unwrap();
        let c = add(
            1,
            0,
            Match::default(),
            vec![Instruction::WriteActions(vec![Action::Group(7)])],
        );
        t.apply(&c, &ctx).unwrap();
        t
    }

    fn keys(t: &FlowTables) -> Vec<(u8, u16, u64)> {
        t.iter().map(|e| (e.table_id, e.priority, e.seq)).collect()
    }

    #[test]
    fn add_keeps_insertion_order_and_fields() {
        let clock = Clock::new();
        let mut t = FlowTables::new(4, 8, 2);
        assert!(t.is_empty());
        let ctx = clock.at(5);
        for (p, port) in [(5u16, 3u32), (9, 1), (5, 2)] {
            let mut fm = add(2, p, port_match(port), vec![out(port)]);
            fm.cookie = u64::from(port);
            fm.flags = ff::SEND_FLOW_REM;
            fm.idle_timeout = 7;
            fm.hard_timeout = 9;
            let o = t.apply(&fm, &ctx).unwrap();
            assert_eq!(o.changed_tables, vec![2]);
            assert!(o.replaced.is_none() && o.removed.is_empty() && !o.is_noop());
            let e = o.added.unwrap();
            assert_eq!(e.match_, port_match(port));
            assert_eq!(
                e.flow_match,
                FlowMatch::from_oxm(&port_match(port)).unwrap()
            );
            assert_eq!(
                (e.cookie, e.flags, e.idle_timeout, e.hard_timeout),
                (u64::from(port), 1, 7, 9)
            );
            assert_eq!((e.installed, e.installed_ns), (ctx.now, ctx.now_ns));
            assert_eq!(e.counters.n_workers(), 2);
            assert!(e.send_flow_rem());
        }
        let ports: Vec<_> = t.entries(2).map(|e| e.cookie).collect();
        assert_eq!(ports, vec![3, 1, 2]);
        let seqs: Vec<_> = t.entries(2).map(|e| e.seq).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(
            (
                t.len(),
                t.active_count(2),
                t.active_count(0),
                t.active_count(200)
            ),
            (3, 3, 0, 0)
        );
        assert_eq!(t.entries(9).count(), 0);
        let m = FlowMatch::from_oxm(&port_match(1)).unwrap();
        assert_eq!(t.find_strict(2, 9, &m).unwrap().cookie, 1);
        assert!(t.find_strict(2, 5, &m).is_none());
    }

    #[test]
    fn bad_command_flags_and_table_ids() {
        let clock = Clock::new();
        let mut t = sample(&clock);
        let before = snapshot(&t);
        let ctx = clock.at(1);
        for c in [5u8, 6, 0xff] {
            let fm = with(c, add(0, 1, Match::default(), vec![]));
            assert_eq!(
                t.apply(&fm, &ctx).unwrap_err(),
                fmfail(FlowModFailedCode::BadCommand)
            );
        }
        for flags in [1u16 << 5, 0x8000, ff::SEND_FLOW_REM | 1 << 9] {
            for c in [cmd::ADD, cmd::MODIFY, cmd::DELETE] {
                let mut fm = with(c, add(0, 1, Match::default(), vec![]));
                fm.flags = flags;
                assert_eq!(
                    t.apply(&fm, &ctx).unwrap_err(),
                    fmfail(FlowModFailedCode::BadFlags)
                );
            }
        }
        // ADD and MODIFY need a real table; DELETE* may say ALL.
        for c in [cmd::ADD, cmd::MODIFY, cmd::MODIFY_STRICT] {
            for tid in [table_id::ALL, 4, 0xfe] {
                let fm = with(c, add(tid, 1, Match::default(), vec![]));
                assert_eq!(
                    t.apply(&fm, &ctx).unwrap_err(),
                    fmfail(FlowModFailedCode::BadTableId)
                );
            }
        }
        for c in [cmd::DELETE, cmd::DELETE_STRICT] {
            let fm = with(c, add(4, 1, Match::default(), vec![]));
            assert_eq!(
                t.apply(&fm, &ctx).unwrap_err(),
                fmfail(FlowModFailedCode::BadTableId)
            );
        }
        assert_eq!(snapshot(&t), before);
        // The last table exists.
        t.apply(&add(3, 1, Match::default(), vec![]), &ctx).unwrap();
        // NO_PKT_COUNTS / NO_BYT_COUNTS are valid hints.
        let mut fm = add(3, 2, Match::default(), vec![]);
        fm.flags = KNOWN_FLOW_MOD_FLAGS & !ff::CHECK_OVERLAP;
        t.apply(&fm, &ctx).unwrap();
    }

    #[test]
    fn match_errors_change_nothing() {
        let clock = Clock::new();
        let mut t = sample(&clock);
        let before = snapshot(&t);
        let ctx = clock.at(1);
        let cases = [
            (vec![Oxm::TcpSrc(80)], BadMatchCode::BadPrereq),
            (vec![Oxm::InPort(1), Oxm::InPort(2)], BadMatchCode::DupField),
            (
                vec![
                    ip4(),
                    Oxm::Ipv4Src {
                        value: Ipv4Addr::from_bits(0xc0a8_0000),
                        mask: Some(Ipv4Addr::from_bits(12_345_678)),
                    },
                ],
                BadMatchCode::BadWildcards,
            ),
            (vec![ip4(), Oxm::IpDscp(64)], BadMatchCode::BadValue),
        ];
        for (fields, code) in cases {
            for c in [
                cmd::ADD,
                cmd::MODIFY,
                cmd::MODIFY_STRICT,
                cmd::DELETE,
                cmd::DELETE_STRICT,
            ] {
                let fm = with(
                    c,
                    add(
                        0,
                        10,
                        Match {
                            fields: fields.clone(),
                        },
                        vec![],
                    ),
                );
                assert_eq!(t.apply(&fm, &ctx).unwrap_err(), ErrorCode::BadMatch(code));
            }
        }
        assert_eq!(snapshot(&t), before);
    }

    #[test]
    fn instruction_errors_change_nothing() {
        let clock = Clock::new();
        let mut t = sample(&clock);
        let before = snapshot(&t);
        let ctx = clock.at(1);
        let bi = ErrorCode::BadInstruction;
        let cases = [
            (
                vec![Instruction::Unknown {
                    inst_type: 77,
                    body: vec![0; 4],
                }],
                bi(BadInstructionCode::UnknownInst),
            ),
            (
                vec![Instruction::Experimenter {
                    experimenter: 1,
                    data: vec![],
                }],
                bi(BadInstructionCode::BadExperimenter),
            ),
            (vec![out(1), out(2)], bi(BadInstructionCode::UnsupInst)),
            (
                vec![Instruction::GotoTable(1), Instruction::GotoTable(2)],
                bi(BadInstructionCode::UnsupInst),
            ),
            (
                vec![Instruction::GotoTable(0)],
                bi(BadInstructionCode::BadTableId),
            ),
            (
                vec![Instruction::GotoTable(4)],
                bi(BadInstructionCode::BadTableId),
            ),
            (
                vec![Instruction::ApplyActions(vec![Action::Unknown {
                    action_type: 99,
                    body: vec![0; 4],
                }])],
                ErrorCode::BadAction(BadActionCode::BadType),
            ),
        ];
        for (insts, code) in cases {
            for c in [cmd::ADD, cmd::MODIFY, cmd::MODIFY_STRICT] {
                let fm = with(c, add(0, 10, net([10, 0, 0, 0], 8), insts.clone()));
                assert_eq!(t.apply(&fm, &ctx).unwrap_err(), code, "{insts:?}");
            }
        }
        // GOTO into an earlier table, from table 1.
        let fm = add(1, 5, Match::default(), vec![Instruction::GotoTable(1)]);
        assert_eq!(
            t.apply(&fm, &ctx).unwrap_err(),
            bi(BadInstructionCode::BadTableId)
        );
        assert_eq!(snapshot(&t), before);
        // DELETE ignores instructions.
        let fm = with(
            cmd::DELETE,
            add(3, 0, Match::default(), vec![Instruction::GotoTable(0)]),
        );
        assert!(t.apply(&fm, &ctx).unwrap().is_noop());
        // A later table and one of each type are fine.
        let fm = add(
            1,
            5,
            Match::default(),
            vec![
                Instruction::Meter(1),
                out(1),
                Instruction::ClearActions,
                Instruction::WriteActions(vec![]),
                Instruction::WriteMetadata {
                    metadata: 1,
                    mask: 1,
                },
                Instruction::GotoTable(3),
            ],
        );
        t.apply(&fm, &ctx).unwrap();
    }

    #[test]
    fn validator_errors_change_nothing() {
        let clock = Clock::new();
        let mut t = sample(&clock);
        let before = snapshot(&t);
        let seen = std::cell::RefCell::new(Vec::new());
        let no_meter_9 = |m: &FlowMatch, insts: &[Instruction]| {
            seen.borrow_mut().push(*m);
            if insts.contains(&Instruction::Meter(9)) {
                Err(ErrorCode::MeterModFailed(MeterModFailedCode::UnknownMeter))
            } else {
                Ok(())
            }
        };
        let base = clock.at(1);
        let ctx = ModContext::new(base.now, base.now_ns, &no_meter_9);
        for c in [cmd::ADD, cmd::MODIFY, cmd::MODIFY_STRICT] {
            let fm = with(
                c,
                add(0, 10, net([10, 0, 0, 0], 8), vec![Instruction::Meter(9)]),
            );
            assert_eq!(
                t.apply(&fm, &ctx).unwrap_err(),
                ErrorCode::MeterModFailed(MeterModFailedCode::UnknownMeter)
            );
        }
        assert_eq!(snapshot(&t), before);
        // The validator sees the compiled match.
        assert_eq!(
            seen.borrow()[0],
            FlowMatch::from_oxm(&net([10, 0, 0, 0], 8)).unwrap()
        );
        // DELETE does not consult it.
        let n = seen.borrow().len();
        let fm = with(
            cmd::DELETE,
            add(0, 10, Match::default(), vec![Instruction::Meter(9)]),
        );
        assert_eq!(t.apply(&fm, &ctx).unwrap().removed.len(), 2);
        assert_eq!(seen.borrow().len(), n);
    }

    #[test]
    fn check_overlap() {
        let clock = Clock::new();
        let mut t = sample(&clock);
        let ctx = clock.at(1);
        let before = snapshot(&t);
        let overlap = |m: Match, p: u16| {
            let mut fm = add(0, p, m, vec![]);
            fm.flags = ff::CHECK_OVERLAP;
            fm
        };
        // 10.0.0.0/8 at priority 10 exists: 10.2/16 and in_port=1 overlap it,
        // and so does the identical match.
        for m in [
            net([10, 2, 0, 0], 16),
            port_match(1),
            net([10, 0, 0, 0], 8),
            Match::default(),
        ] {
            assert_eq!(
                t.apply(&overlap(m, 10), &ctx).unwrap_err(),
                fmfail(FlowModFailedCode::Overlap)
            );
        }
        assert_eq!(snapshot(&t), before);
        // Same priority but disjoint, or another priority: fine.
        t.apply(&overlap(net([11, 0, 0, 0], 8), 10), &ctx).unwrap();
        t.apply(&overlap(net([10, 0, 0, 0], 8), 11), &ctx).unwrap();
        // Another table is not looked at.
        let mut fm = overlap(net([10, 0, 0, 0], 8), 10);
        fm.table_id = 2;
        t.apply(&fm, &ctx).unwrap();
        // Without the flag, overlapping flows coexist.
        t.apply(&add(0, 10, net([10, 2, 0, 0], 16), vec![]), &ctx)
            .unwrap();
        assert_eq!(t.active_count(0), 5);
        // Filter programs are not considered by the overlap check.
        let mut prog = net([10, 0, 0, 0], 8);
        prog.fields.push(filter_prog_oxm(4));
        assert_eq!(
            t.apply(&overlap(prog, 10), &ctx).unwrap_err(),
            fmfail(FlowModFailedCode::Overlap)
        );
    }

    #[test]
    fn add_identical_replaces_in_place() {
        let clock = Clock::new();
        let mut t = sample(&clock);
        let old = t.entries(0).next().unwrap().clone();
        old.counters.hit(0, 100, T0_NS + 2 * S);
        let order = keys(&t);
        let ctx = clock.at(10);
        let mut fm = add(0, 10, net([10, 0, 0, 0], 8), vec![out(5)]);
        fm.cookie = 0x99;
        fm.hard_timeout = 5;
        let o = t.apply(&fm, &ctx).unwrap();
        assert!(Arc::ptr_eq(o.replaced.as_ref().unwrap(), &old));
        let new = o.added.unwrap();
        assert_eq!(keys(&t), order, "same place, same seq");
        assert!(Arc::ptr_eq(&new.counters, &old.counters), "counters kept");
        assert_eq!(
            (new.cookie, new.hard_timeout, new.idle_timeout),
            (0x99, 5, 0)
        );
        assert_eq!(new.instructions, vec![out(5)]);
        assert_eq!(
            (new.installed, new.installed_ns),
            (ctx.now, ctx.now_ns),
            "duration cleared"
        );
        assert_eq!(
            new.flow_stats(ctx.now + Duration::from_millis(1500))
                .duration_sec,
            1
        );
        assert_eq!(new.flow_stats(ctx.now).packet_count, 1);
        // The old idle timer is gone, the new hard one armed.
        assert_eq!(t.next_expiry(), Some(ctx.now_ns + 5 * S));
        // RESET_COUNTS: fresh counters.
        fm.flags = ff::RESET_COUNTS;
        let o = t.apply(&fm, &clock.at(11)).unwrap();
        let newer = o.added.unwrap();
        assert!(!Arc::ptr_eq(&newer.counters, &old.counters));
        assert_eq!(newer.counters.totals().packet_count, 0);
        assert_eq!(keys(&t), order);
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn table_full() {
        let clock = Clock::new();
        let ctx = clock.at(0);
        let mut t = FlowTables::new(2, 2, 1);
        t.apply(&add(0, 1, port_match(1), vec![]), &ctx).unwrap();
        t.apply(&add(0, 1, port_match(2), vec![]), &ctx).unwrap();
        let before = snapshot(&t);
        assert_eq!(
            t.apply(&add(0, 1, port_match(3), vec![]), &ctx)
                .unwrap_err(),
            fmfail(FlowModFailedCode::TableFull)
        );
        assert_eq!(snapshot(&t), before);
        // Replacing needs no room; another table has its own room.
        t.apply(&add(0, 1, port_match(2), vec![out(1)]), &ctx)
            .unwrap();
        t.apply(&add(1, 1, port_match(3), vec![]), &ctx).unwrap();
        t.apply(
            &with(cmd::DELETE_STRICT, add(0, 1, port_match(1), vec![])),
            &ctx,
        )
        .unwrap();
        t.apply(&add(0, 1, port_match(3), vec![]), &ctx).unwrap();
        assert_eq!((t.active_count(0), t.active_count(1)), (2, 1));
        // Zero capacity.
        let mut z = FlowTables::new(1, 0, 1);
        assert_eq!(
            z.apply(&add(0, 1, port_match(3), vec![]), &ctx)
                .unwrap_err(),
            fmfail(FlowModFailedCode::TableFull)
        );
    }

    #[test]
    fn modify_non_strict_and_strict() {
        let clock = Clock::new();
        let mut t = sample(&clock);
        let ctx = clock.at(3);
        let before: Vec<_> = t.iter().cloned().collect();
        before[0].counters.hit(1, 64, T0_NS + S);
        // Non-strict with 10.0.0.0/8 selects both table-0 flows (10/8 and
        // 10.1/16 are within it), whatever their priority.
        let mut fm = with(
            cmd::MODIFY,
            add(0, 999, net([10, 0, 0, 0], 8), vec![out(9)]),
        );
        fm.cookie = 0xdead;
        fm.idle_timeout = 1;
        fm.flags = ff::SEND_FLOW_REM;
        fm.out_port = 1234; // ignored by MODIFY
        let o = t.apply(&fm, &ctx).unwrap();
        assert_eq!(o.changed_tables, vec![0]);
        assert_eq!(o.modified.len(), 2);
        assert!(o.added.is_none() && o.removed.is_empty());
        for (new, old) in t.entries(0).zip(&before) {
            assert_eq!(new.instructions, vec![out(9)]);
            assert_eq!(
                (
                    new.cookie,
                    new.flags,
                    new.idle_timeout,
                    new.hard_timeout,
                    new.seq,
                    new.installed
                ),
                (
                    old.cookie,
                    old.flags,
                    old.idle_timeout,
                    old.hard_timeout,
                    old.seq,
                    old.installed
                )
            );
            assert!(Arc::ptr_eq(&new.counters, &old.counters));
        }
        assert_eq!(
            keys(&t),
            before
                .iter()
                .map(|e| (e.table_id, e.priority, e.seq))
                .collect::<Vec<_>>()
        );
        // A narrower match selects only flows within it.
        let fm = with(cmd::MODIFY, add(0, 0, net([10, 1, 0, 0], 16), vec![out(7)]));
        assert_eq!(t.apply(&fm, &ctx).unwrap().modified.len(), 1);
        assert_eq!(
            t.entries(0)
                .map(|e| e.instructions.clone())
                .collect::<Vec<_>>(),
            vec![vec![out(9)], vec![out(7)]]
        );
        // Strict: the priority must be equal, the match identical.
        for (p, m) in [
            (10, net([10, 1, 0, 0], 16)),
            (20, net([10, 0, 0, 0], 8)),
            (20, net([10, 1, 0, 0], 17)),
        ] {
            let fm = with(cmd::MODIFY_STRICT, add(0, p, m, vec![out(1)]));
            let o = t.apply(&fm, &ctx).unwrap();
            assert!(o.is_noop() && o.modified.is_empty());
        }
        let fm = with(
            cmd::MODIFY_STRICT,
            add(0, 20, net([10, 1, 0, 0], 16), vec![out(1)]),
        );
        assert_eq!(t.apply(&fm, &ctx).unwrap().modified[0].priority, 20);
        // Modifying nothing adds nothing (1.3).
        let fm = with(cmd::MODIFY, add(2, 5, port_match(1), vec![out(1)]));
        assert!(t.apply(&fm, &ctx).unwrap().is_noop());
        assert_eq!((t.len(), t.active_count(2)), (3, 0));
    }

    #[test]
    fn modify_cookie_mask_and_reset_counts() {
        let clock = Clock::new();
        let mut t = sample(&clock);
        let ctx = clock.at(3);
        for e in t.iter() {
            e.counters.hit(0, 10, T0_NS + 2 * S);
        }
        let idle_before = t.entries(0).next().unwrap().idle_deadline_ns();
        // cookies are 0x11 and 0x12 in table 0: mask 0x0f selects by low nibble.
        let mut fm = with(cmd::MODIFY, add(0, 0, Match::default(), vec![out(3)]));
        fm.cookie = 0x02;
        fm.cookie_mask = 0x0f;
        fm.flags = ff::RESET_COUNTS;
        let o = t.apply(&fm, &ctx).unwrap();
        assert_eq!(o.modified.len(), 1);
        assert_eq!(o.modified[0].cookie, 0x12);
        assert_eq!(o.modified[0].counters.totals().packet_count, 0);
        let cs: Vec<_> = t
            .entries(0)
            .map(|e| e.counters.totals().packet_count)
            .collect();
        assert_eq!(cs, vec![1, 0]);
        // Mask 0: no restriction; cookie value then irrelevant.
        fm.cookie = 0x77;
        fm.cookie_mask = 0;
        fm.flags = 0;
        assert_eq!(t.apply(&fm, &ctx).unwrap().modified.len(), 2);
        // A cookie nothing has.
        fm.cookie_mask = u64::MAX;
        assert!(t.apply(&fm, &ctx).unwrap().is_noop());
        // Resetting counters does not move the idle deadline.
        fm.cookie = 0x11;
        fm.flags = ff::RESET_COUNTS;
        let o = t.apply(&fm, &ctx).unwrap();
        assert_eq!(o.modified[0].idle_deadline_ns(), idle_before);
        assert_eq!(o.modified[0].counters.totals().packet_count, 0);
    }

    #[test]
    fn delete_filters() {
        let clock = Clock::new();
        let ctx = clock.at(0);
        let mut t = sample(&clock);
        let before = snapshot(&t);
        let del = |tid: u8, m: Match| with(cmd::DELETE, add(tid, 0, m, vec![]));
        // out_port: only flows outputting to it (APPLY or WRITE).
        let mut fm = del(table_id::ALL, Match::default());
        fm.out_port = 3;
        assert!(t.apply(&fm, &ctx).unwrap().is_noop());
        fm.out_group = 7;
        assert!(t.apply(&fm, &ctx).unwrap().is_noop(), "both filters apply");
        assert_eq!(snapshot(&t), before);
        fm.out_port = 2;
        fm.out_group = group_id::ANY;
        let o = t.apply(&fm, &ctx).unwrap();
        assert_eq!((o.removed.len(), o.removed[0].priority), (1, 20));
        assert_eq!(
            o.removed[0]
                .flow_removed(RemovalReason::Delete, ctx.now)
                .reason,
            flow_removed_reason::DELETE
        );
        assert_eq!(o.changed_tables, vec![0]);
        // out_group: GROUP actions in WRITE_ACTIONS count.
        let mut fm = del(table_id::ALL, Match::default());
        fm.out_group = 8;
        assert!(t.apply(&fm, &ctx).unwrap().is_noop());
        fm.out_group = 7;
        let o = t.apply(&fm, &ctx).unwrap();
        assert_eq!((o.removed.len(), o.changed_tables.clone()), (1, vec![1]));
        // A WRITE_ACTIONS output counts for out_port.
        t.apply(
            &add(
                2,
                1,
                port_match(4),
                vec![Instruction::WriteActions(vec![Action::Output {
                    port: 6,
                    max_len: 0,
                }])],
            ),
            &ctx,
        )
        .unwrap();
        let mut fm = del(2, Match::default());
        fm.out_port = 6;
        assert_eq!(t.apply(&fm, &ctx).unwrap().removed.len(), 1);
        // The match filter is non-strict: 10.1/16 is not a superset of 10/8.
        assert!(
            t.apply(&del(0, net([10, 1, 0, 0], 16)), &ctx)
                .unwrap()
                .is_noop()
        );
        // Cookie mask.
        let mut fm = del(0, Match::default());
        fm.cookie = 0x10;
        fm.cookie_mask = 0xff;
        assert!(t.apply(&fm, &ctx).unwrap().is_noop());
        fm.cookie = 0x11;
        assert_eq!(t.apply(&fm, &ctx).unwrap().removed.len(), 1);
        assert!(t.is_empty());
    }

    #[test]
    fn delete_strict_and_all_tables() {
        let clock = Clock::new();
        let ctx = clock.at(0);
        let mut t = sample(&clock);
        t.apply(&add(3, 20, net([10, 1, 0, 0], 16), vec![]), &ctx)
            .unwrap();
        let dstrict = |tid: u8, p: u16, m: Match| with(cmd::DELETE_STRICT, add(tid, p, m, vec![]));
        // Priority and match must both be exact.
        assert!(
            t.apply(&dstrict(0, 10, net([10, 1, 0, 0], 16)), &ctx)
                .unwrap()
                .is_noop()
        );
        assert!(
            t.apply(&dstrict(0, 20, net([10, 0, 0, 0], 8)), &ctx)
                .unwrap()
                .is_noop()
        );
        assert!(
            t.apply(&dstrict(1, 1, Match::default()), &ctx)
                .unwrap()
                .is_noop()
        );
        // Strict on all tables removes the identical flow from each.
        let o = t
            .apply(&dstrict(table_id::ALL, 20, net([10, 1, 0, 0], 16)), &ctx)
            .unwrap();
        assert_eq!(o.changed_tables, vec![0, 3]);
        assert_eq!(
            o.removed.iter().map(|e| e.table_id).collect::<Vec<_>>(),
            vec![0, 3]
        );
        // Strict filters still apply.
        let mut fm = dstrict(0, 10, net([10, 0, 0, 0], 8));
        fm.out_port = 2;
        assert!(t.apply(&fm, &ctx).unwrap().is_noop());
        fm.out_port = 1;
        fm.cookie = 0;
        fm.cookie_mask = 1;
        assert!(t.apply(&fm, &ctx).unwrap().is_noop());
        fm.cookie = 1;
        assert_eq!(t.apply(&fm, &ctx).unwrap().removed.len(), 1);
        // A catch-all non-strict delete on all tables empties the switch.
        let o = t
            .apply(
                &with(cmd::DELETE, add(table_id::ALL, 0, Match::default(), vec![])),
                &ctx,
            )
            .unwrap();
        assert_eq!((o.removed.len(), o.changed_tables), (1, vec![1]));
        assert!(t.is_empty());
        assert_eq!(t.next_expiry(), None);
        // Deleted flows' timers are gone too.
        assert!(t.expire(u64::MAX).is_empty());
    }

    #[test]
    fn hard_and_idle_timeouts() {
        let clock = Clock::new();
        let mut t = sample(&clock);
        // Flow A: idle 30 from T0; flow B: hard 60 from T0.
        assert_eq!(t.next_expiry(), Some(T0_NS + 30 * S));
        assert!(t.expire(T0_NS + 30 * S - 1).is_empty());
        let a = t.entries(0).next().unwrap().clone();
        // A matched at T0+20: its true deadline moves to T0+50.
        a.counters.hit(1, 1, T0_NS + 20 * S);
        assert!(t.expire(T0_NS + 30 * S).is_empty());
        assert_eq!(t.next_expiry(), Some(T0_NS + 50 * S));
        assert_eq!(t.len(), 3);
        let gone = t.expire(T0_NS + 50 * S);
        assert_eq!(gone.len(), 1);
        assert!(Arc::ptr_eq(&gone[0].0, &a));
        assert_eq!(gone[0].1, RemovalReason::IdleTimeout);
        assert_eq!(t.next_expiry(), Some(T0_NS + 60 * S));
        let gone = t.expire(T0_NS + 100 * S);
        assert_eq!(
            (gone.len(), gone[0].1, gone[0].0.priority),
            (1, RemovalReason::HardTimeout, 20)
        );
        assert_eq!(t.next_expiry(), None);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn hard_wins_ties_and_modify_keeps_timers() {
        let clock = Clock::new();
        let mut t = FlowTables::new(1, 10, 1);
        let mut fm = add(0, 1, port_match(1), vec![]);
        fm.idle_timeout = 10;
        fm.hard_timeout = 10;
        t.apply(&fm, &clock.at(0)).unwrap();
        // MODIFY at +5 keeps both deadlines.
        t.apply(
            &with(cmd::MODIFY, add(0, 0, Match::default(), vec![out(1)])),
            &clock.at(5),
        )
        .unwrap();
        assert_eq!(t.next_expiry(), Some(T0_NS + 10 * S));
        let gone = t.expire(T0_NS + 10 * S);
        assert_eq!(gone[0].1, RemovalReason::HardTimeout);
        assert_eq!(gone[0].0.instructions, vec![out(1)]);
        // Replacing ADD restarts the hard timeout.
        let mut fm = add(0, 1, port_match(1), vec![]);
        fm.hard_timeout = 10;
        t.apply(&fm, &clock.at(20)).unwrap();
        t.apply(&fm, &clock.at(25)).unwrap();
        assert!(t.expire(T0_NS + 30 * S).is_empty());
        assert_eq!(t.expire(T0_NS + 35 * S).len(), 1);
        // A flow with a hard timeout of 65535 s and no idle.
        fm.hard_timeout = u16::MAX;
        t.apply(&fm, &clock.at(0)).unwrap();
        assert_eq!(t.next_expiry(), Some(T0_NS + 65535 * S));
        assert_eq!(
            t.entries(0).next().unwrap().expired(T0_NS + 65535 * S),
            Some(RemovalReason::HardTimeout)
        );
    }

    #[test]
    fn programs_groups_meters() {
        let clock = Clock::new();
        let ctx = clock.at(0);
        let mut t = sample(&clock);
        let mut m = port_match(1);
        m.fields.push(filter_prog_oxm(5));
        t.apply(&add(2, 1, m.clone(), vec![Instruction::Meter(3)]), &ctx)
            .unwrap();
        t.apply(
            &add(
                3,
                1,
                Match {
                    fields: vec![filter_prog_oxm(5)],
                },
                vec![],
            ),
            &ctx,
        )
        .unwrap();
        // Same match fields without the program: a different flow.
        t.apply(&add(2, 1, port_match(1), vec![]), &ctx).unwrap();
        assert_eq!(t.active_count(2), 2);
        assert!(t.uses_program(5) && !t.uses_program(6));
        assert!(t.remove_by_program(6).is_empty());
        let gone = t.remove_by_program(5);
        assert_eq!(
            gone.iter().map(|e| e.table_id).collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert!(!t.uses_program(5));
        assert_eq!(t.active_count(2), 1);
        // Group 7 is used by the table-1 flow.
        assert!(t.remove_by_group(8).is_empty());
        assert_eq!(t.remove_by_group(7).len(), 1);
        t.apply(
            &add(2, 2, Match::default(), vec![Instruction::Meter(3)]),
            &ctx,
        )
        .unwrap();
        assert_eq!(t.remove_by_meter(3).len(), 1);
        assert_eq!(t.len(), 3);
        // A strict delete with a program selects only the flow with it.
        t.apply(&add(2, 1, m.clone(), vec![]), &ctx).unwrap();
        let o = t
            .apply(&with(cmd::DELETE_STRICT, add(2, 1, m, vec![])), &ctx)
            .unwrap();
        assert_eq!(o.removed[0].flow_match.filter_prog, Some(5));
        assert_eq!(t.active_count(2), 1);
    }

    fn req(tid: u8, m: Match) -> FlowStatsRequest {
        FlowStatsRequest {
            table_id: tid,
            out_port: port_no::ANY,
            out_group: group_id::ANY,
            cookie: 0,
            cookie_mask: 0,
            match_: m,
        }
    }

    #[test]
    fn stats_filters_and_aggregate() {
        let clock = Clock::new();
        let mut t = sample(&clock);
        let es: Vec<_> = t.iter().cloned().collect();
        es[0].counters.hit(0, 100, T0_NS + S);
        es[0].counters.hit(1, 50, T0_NS + S);
        es[1].counters.hit(0, 1000, T0_NS + S);
        es[2].counters.hit(0, 7, T0_NS + S);
        let now = clock.t0 + Duration::from_millis(2_500);
        let all = t
            .flow_stats(&req(table_id::ALL, Match::default()), now)
            .unwrap();
        assert_eq!(all.len(), 3);
        let s = &all[0];
        assert_eq!(
            (
                s.table_id,
                s.priority,
                s.cookie,
                s.idle_timeout,
                s.hard_timeout,
                s.flags
            ),
            (0, 10, 0x11, 30, 0, 0)
        );
        assert_eq!((s.duration_sec, s.duration_nsec), (2, 500_000_000));
        assert_eq!((s.packet_count, s.byte_count), (2, 150));
        assert_eq!(s.match_, net([10, 0, 0, 0], 8));
        assert_eq!(s.instructions, vec![out(1)]);
        let agg = t.aggregate(&req(table_id::ALL, Match::default())).unwrap();
        assert_eq!(
            (agg.flow_count, agg.packet_count, agg.byte_count),
            (3, 4, 1157)
        );
        // Table filter.
        let one = t.flow_stats(&req(1, Match::default()), now).unwrap();
        assert_eq!((one.len(), one[0].table_id), (1, 1));
        assert!(
            t.flow_stats(&req(2, Match::default()), now)
                .unwrap()
                .is_empty()
        );
        // Match filter: flows whose match is within the request's.
        let sub = t
            .flow_stats(&req(table_id::ALL, net([10, 1, 0, 0], 16)), now)
            .unwrap();
        assert_eq!(sub.iter().map(|s| s.priority).collect::<Vec<_>>(), vec![20]);
        let agg = t.aggregate(&req(0, net([10, 0, 0, 0], 8))).unwrap();
        assert_eq!(
            (agg.flow_count, agg.packet_count, agg.byte_count),
            (2, 3, 1150)
        );
        // Cookie, out_port and out_group filters.
        let mut r = req(table_id::ALL, Match::default());
        r.cookie = 0x12;
        r.cookie_mask = 0xff;
        assert_eq!(t.aggregate(&r).unwrap().flow_count, 1);
        let mut r = req(table_id::ALL, Match::default());
        r.out_port = 1;
        assert_eq!(t.flow_stats(&r, now).unwrap()[0].priority, 10);
        let mut r = req(table_id::ALL, Match::default());
        r.out_group = 7;
        assert_eq!(t.flow_stats(&r, now).unwrap()[0].table_id, 1);
        r.out_port = 1;
        assert_eq!(t.aggregate(&r).unwrap(), AggregateStats::default());
        // Errors.
        assert_eq!(
            t.flow_stats(&req(4, Match::default()), now).unwrap_err(),
            ErrorCode::BadRequest(BadRequestCode::BadTableId)
        );
        assert_eq!(
            t.aggregate(&req(
                0,
                Match {
                    fields: vec![Oxm::TcpDst(1)]
                }
            ))
            .unwrap_err(),
            ErrorCode::BadMatch(BadMatchCode::BadPrereq)
        );
        // Stats see a MODIFY's instructions.
        t.apply(
            &with(cmd::MODIFY, add(1, 0, Match::default(), vec![out(4)])),
            &clock.at(1),
        )
        .unwrap();
        assert_eq!(
            t.flow_stats(&req(1, Match::default()), now).unwrap()[0].instructions,
            vec![out(4)]
        );
    }

    #[test]
    fn flow_removed_message() {
        let clock = Clock::new();
        let t = sample(&clock);
        let e = t.entries(0).nth(1).unwrap();
        e.counters.hit(0, 60, T0_NS + S);
        let now = clock.t0 + Duration::from_millis(61_250);
        let fr = e.flow_removed(RemovalReason::HardTimeout, now);
        assert_eq!(
            fr,
            FlowRemoved {
                cookie: 0x12,
                priority: 20,
                reason: flow_removed_reason::HARD_TIMEOUT,
                table_id: 0,
                duration_sec: 61,
                duration_nsec: 250_000_000,
                idle_timeout: 0,
                hard_timeout: 60,
                packet_count: 1,
                byte_count: 60,
                match_: net([10, 1, 0, 0], 16),
            }
        );
        // A clock before install gives a zero duration, not a panic.
        let before = clock
            .t0
            .checked_sub(Duration::from_secs(1))
            .unwrap_or(clock.t0);
        assert_eq!(e.duration(before), (0, 0));
        let codes: Vec<_> = [
            RemovalReason::IdleTimeout,
            RemovalReason::HardTimeout,
            RemovalReason::Delete,
            RemovalReason::GroupDelete,
        ]
        .iter()
        .map(|r| r.code())
        .collect();
        assert_eq!(codes, vec![0, 1, 2, 3]);
    }

    #[test]
    fn default_tables() {
        let t = FlowTables::default();
        assert_eq!((t.n_tables(), t.max_flows_per_table()), (254, 1 << 16));
        let mut t = FlowTables::new(u8::MAX, 1, 1);
        let ctx = Clock::new().at(0);
        // With 255 tables, 0xfe is a real table and 0xff still is not.
        t.apply(&add(0xfe, 1, Match::default(), vec![]), &ctx)
            .unwrap();
        assert_eq!(
            t.apply(&add(0xff, 1, Match::default(), vec![]), &ctx)
                .unwrap_err(),
            fmfail(FlowModFailedCode::BadTableId)
        );
        let mut none = FlowTables::new(0, 1, 1);
        assert_eq!(
            none.apply(&add(0, 1, Match::default(), vec![]), &ctx)
                .unwrap_err(),
            fmfail(FlowModFailedCode::BadTableId)
        );
        assert!(
            none.apply(
                &with(cmd::DELETE, add(table_id::ALL, 1, Match::default(), vec![])),
                &ctx
            )
            .unwrap()
            .is_noop()
        );
    }
}
