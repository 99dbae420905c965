//! `FlowTables` against a trivial reference: one vector of flows, every
//! FLOW_MOD applied by linear scans straight from the OpenFlow 1.3.5 text
//! (§6.4), with idle/hard timeouts on a virtual clock and packet counts.
//! Random sequences of FLOW_MODs (valid and invalid), packet hits and
//! expiry runs must give the same answers, the same removed flows and the
//! same tables, in the same order, after every step.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agent::flow_table::{FlowEntry, FlowTables, ModContext, RemovalReason};
use dataplane::classifier::FlowMatch;
use ofext_filter::wire::filter_prog_oxm;
use openflow::ErrorCode;
use openflow::action::Action;
use openflow::error::{BadInstructionCode, FlowModFailedCode, MeterModFailedCode};
use openflow::group::group_id;
use openflow::instruction::Instruction;
use openflow::message::{FlowMod, flow_mod_command as cmd, flow_mod_flags as ff};
use openflow::multipart::FlowStatsRequest;
use openflow::oxm::{Match, Oxm};
use openflow::port::port_no;
use proptest::prelude::*;
use std::net::Ipv4Addr;

const N_TABLES: u8 = 3;
const MAX_FLOWS: usize = 5;
const S: u64 = 1_000_000_000;
const T0_NS: u64 = 7 * S;

/// The switch's validator in these tests: meter 9 does not exist.
fn validator(_: &FlowMatch, insts: &[Instruction]) -> Result<(), ErrorCode> {
    if insts.contains(&Instruction::Meter(9)) {
        Err(ErrorCode::MeterModFailed(MeterModFailedCode::UnknownMeter))
    } else {
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq)]
struct RefFlow {
    table: u8,
    priority: u16,
    match_: Match,
    m: FlowMatch,
    cookie: u64,
    flags: u16,
    idle: u16,
    hard: u16,
    insts: Vec<Instruction>,
    packets: u64,
    bytes: u64,
    installed_ns: u64,
    /// Last packet, on the workers' clock (kept across a replacing ADD).
    last_hit_ns: u64,
}

/// What both sides expose for comparison.
type View = (
    u8,
    u16,
    Match,
    u64,
    u16,
    u16,
    u16,
    Vec<Instruction>,
    u64,
    u64,
);

impl RefFlow {
    fn view(&self) -> View {
        (
            self.table,
            self.priority,
            self.match_.clone(),
            self.cookie,
            self.flags,
            self.idle,
            self.hard,
            self.insts.clone(),
            self.packets,
            self.bytes,
        )
    }

    fn actions(&self) -> impl Iterator<Item = &Action> {
        self.insts
            .iter()
            .filter_map(|i| match i {
                Instruction::ApplyActions(a) | Instruction::WriteActions(a) => Some(a),
                _ => None,
            })
            .flatten()
    }
}

fn view(e: &FlowEntry) -> View {
    let c = e.counters.totals();
    (
        e.table_id,
        e.priority,
        e.match_.clone(),
        e.cookie,
        e.flags,
        e.idle_timeout,
        e.hard_timeout,
        e.instructions.clone(),
        c.packet_count,
        c.byte_count,
    )
}

#[derive(Default)]
struct Model {
    flows: Vec<RefFlow>,
}

impl Model {
    fn selects(f: &RefFlow, fm: &FlowMod, m: &FlowMatch, strict: bool, outs: bool) -> bool {
        let by_match = if strict {
            f.priority == fm.priority && f.m == *m
        } else {
            f.m.is_subset_of(m)
        };
        let port_ok = !outs
            || fm.out_port == port_no::ANY
            || f.actions().any(|a| {
                *a == Action::Output {
                    port: fm.out_port,
                    max_len: 0,
                }
            });
        let group_ok = !outs
            || fm.out_group == group_id::ANY
            || f.actions().any(|a| *a == Action::Group(fm.out_group));
        by_match && f.cookie & fm.cookie_mask == fm.cookie & fm.cookie_mask && port_ok && group_ok
    }

    fn apply(&mut self, fm: &FlowMod, now_ns: u64) -> Result<Vec<View>, ErrorCode> {
        let fail = ErrorCode::FlowModFailed;
        if fm.command > cmd::DELETE_STRICT {
            return Err(fail(FlowModFailedCode::BadCommand));
        }
        if fm.flags >= 1 << 5 {
            return Err(fail(FlowModFailedCode::BadFlags));
        }
        let delete = fm.command == cmd::DELETE || fm.command == cmd::DELETE_STRICT;
        let strict = fm.command == cmd::DELETE_STRICT || fm.command == cmd::MODIFY_STRICT;
        let ok_table = fm.table_id < N_TABLES || (delete && fm.table_id == 0xff);
        if !ok_table {
            return Err(fail(FlowModFailedCode::BadTableId));
        }
        let m = FlowMatch::from_oxm(&fm.match_)?;
        if delete {
            let mut removed = Vec::new();
            let mut kept = Vec::new();
            for f in self.flows.drain(..) {
                if (fm.table_id == 0xff || f.table == fm.table_id)
                    && Self::selects(&f, fm, &m, strict, true)
                {
                    removed.push(f);
                } else {
                    kept.push(f);
                }
            }
            self.flows = kept;
            removed.sort_by_key(|f| f.table);
            return Ok(removed.iter().map(RefFlow::view).collect());
        }
        let mut types = Vec::new();
        for i in &fm.instructions {
            i.validate()?;
            if types.contains(&i.inst_type()) {
                return Err(ErrorCode::BadInstruction(BadInstructionCode::UnsupInst));
            }
            types.push(i.inst_type());
            if let Instruction::GotoTable(t) = i
                && !(fm.table_id < *t && *t < N_TABLES)
            {
                return Err(ErrorCode::BadInstruction(BadInstructionCode::BadTableId));
            }
        }
        validator(&m, &fm.instructions)?;
        let reset = fm.flags & ff::RESET_COUNTS != 0;
        if fm.command == cmd::ADD {
            let same_table = || self.flows.iter().filter(|f| f.table == fm.table_id);
            if fm.flags & ff::CHECK_OVERLAP != 0
                && same_table().any(|f| f.priority == fm.priority && f.m.overlaps(&m))
            {
                return Err(fail(FlowModFailedCode::Overlap));
            }
            let old = self
                .flows
                .iter()
                .position(|f| f.table == fm.table_id && f.priority == fm.priority && f.m == m);
            if old.is_none() && same_table().count() >= MAX_FLOWS {
                return Err(fail(FlowModFailedCode::TableFull));
            }
            let mut new = RefFlow {
                table: fm.table_id,
                priority: fm.priority,
                match_: fm.match_.clone(),
                m,
                cookie: fm.cookie,
                flags: fm.flags,
                idle: fm.idle_timeout,
                hard: fm.hard_timeout,
                insts: fm.instructions.clone(),
                packets: 0,
                bytes: 0,
                installed_ns: now_ns,
                last_hit_ns: 0,
            };
            match old {
                Some(i) => {
                    if !reset {
                        new.packets = self.flows[i].packets;
                        new.bytes = self.flows[i].bytes;
                        new.last_hit_ns = self.flows[i].last_hit_ns;
                    }
                    self.flows[i] = new;
                }
                None => self.flows.push(new),
            }
        } else {
            for f in &mut self.flows {
                if f.table == fm.table_id && Self::selects(f, fm, &m, strict, false) {
                    f.insts = fm.instructions.clone();
                    if reset {
                        f.packets = 0;
                        f.bytes = 0;
                    }
                }
            }
        }
        Ok(Vec::new())
    }

    fn expire(&mut self, now_ns: u64) -> Vec<(View, RemovalReason)> {
        let mut gone = Vec::new();
        self.flows.retain(|f| {
            let hard = f.hard != 0 && now_ns >= f.installed_ns + u64::from(f.hard) * S;
            let idle =
                f.idle != 0 && now_ns >= f.installed_ns.max(f.last_hit_ns) + u64::from(f.idle) * S;
            let reason = if hard {
                RemovalReason::HardTimeout
            } else if idle {
                RemovalReason::IdleTimeout
            } else {
                return true;
            };
            gone.push((f.view(), reason));
            false
        });
        gone
    }

    /// Flows in the order `FlowTables::iter` gives: by table, then
    /// insertion order (a stable sort keeps the latter).
    fn views(&self) -> Vec<View> {
        let mut fs: Vec<&RefFlow> = self.flows.iter().collect();
        fs.sort_by_key(|f| f.table);
        fs.into_iter().map(RefFlow::view).collect()
    }
}

#[derive(Debug, Clone)]
enum Op {
    Mod(FlowMod),
    /// A packet of `bytes` bytes on the k-th flow (mod the flow count).
    Hit(usize, u64),
    Expire,
}

fn arb_match() -> impl Strategy<Value = Match> {
    (0..3u32, 0..4usize, 0..8u8, 0..40u8).prop_map(|(port, ip, prog, bad)| {
        if bad == 0 {
            // Missing prerequisite.
            return Match {
                fields: vec![Oxm::TcpSrc(80)],
            };
        }
        let mut fields = Vec::new();
        if port != 0 {
            fields.push(Oxm::InPort(port));
        }
        let nets = [
            None,
            Some(([10, 0, 0, 0], 0xff00_0000)),
            Some(([10, 1, 0, 0], 0xffff_0000)),
            Some(([11, 0, 0, 0], 0xff00_0000)),
        ];
        if let Some((a, mask)) = nets[ip] {
            fields.push(Oxm::EthType(0x0800));
            fields.push(Oxm::Ipv4Dst {
                value: Ipv4Addr::from(a),
                mask: Some(Ipv4Addr::from_bits(mask)),
            });
        }
        if prog == 0 {
            fields.push(filter_prog_oxm(5));
        }
        Match { fields }
    })
}

fn arb_insts() -> impl Strategy<Value = Vec<Instruction>> {
    let out = |port| Instruction::ApplyActions(vec![Action::Output { port, max_len: 0 }]);
    prop_oneof![
        4 => Just(vec![]),
        4 => Just(vec![out(1)]),
        4 => Just(vec![out(2)]),
        4 => Just(vec![Instruction::WriteActions(vec![Action::Group(1)])]),
        3 => Just(vec![out(1), Instruction::GotoTable(2)]),
        1 => Just(vec![Instruction::GotoTable(1)]),
        1 => Just(vec![Instruction::Meter(9)]),
        1 => Just(vec![out(1), out(2)]),
        1 => Just(vec![Instruction::Unknown {
            inst_type: 40,
            body: vec![0; 4]
        }]),
    ]
}

fn arb_flow_mod() -> impl Strategy<Value = FlowMod> {
    (
        (
            prop_oneof![
                8 => Just(cmd::ADD),
                3 => Just(cmd::MODIFY),
                2 => Just(cmd::MODIFY_STRICT),
                2 => Just(cmd::DELETE),
                2 => Just(cmd::DELETE_STRICT),
                1 => Just(5u8),
            ],
            prop_oneof![12 => 0..N_TABLES, 1 => Just(0xffu8), 1 => Just(N_TABLES)],
            0..3u16,
            prop_oneof![16 => 0..0x20u16, 1 => Just(0x40u16)],
            0..4u64,
            prop_oneof![4 => Just(0u64), 1 => Just(1), 1 => Just(3), 1 => Just(u64::MAX)],
        ),
        (
            prop_oneof![3 => Just(port_no::ANY), 1 => Just(1u32), 1 => Just(2u32)],
            prop_oneof![3 => Just(group_id::ANY), 1 => Just(1u32)],
            prop_oneof![4 => Just(0u16), 1 => Just(2), 1 => Just(5)],
            prop_oneof![4 => Just(0u16), 1 => Just(2), 1 => Just(5)],
            arb_match(),
            arb_insts(),
        ),
    )
        .prop_map(
            |(
                (command, table_id, priority, flags, cookie, cookie_mask),
                (out_port, out_group, idle_timeout, hard_timeout, match_, instructions),
            )| FlowMod {
                cookie,
                cookie_mask,
                table_id,
                command,
                idle_timeout,
                hard_timeout,
                priority,
                out_port,
                out_group,
                flags,
                match_,
                instructions,
                ..FlowMod::default()
            },
        )
}

fn arb_op() -> impl Strategy<Value = (Op, u64)> {
    (
        prop_oneof![
            6 => arb_flow_mod().prop_map(Op::Mod),
            2 => (0..16usize, 1..1500u64).prop_map(|(k, b)| Op::Hit(k, b)),
            1 => Just(Op::Expire),
        ],
        0..3u64,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn matches_reference_model(ops in prop::collection::vec(arb_op(), 1..120)) {
        let t0 = Instant::now();
        let mut tables = FlowTables::new(N_TABLES, MAX_FLOWS, 2);
        let mut model = Model::default();
        let mut secs = 0u64;
        for (op, dt) in ops {
            secs += dt;
            let now_ns = T0_NS + secs * S;
            let ctx = ModContext::new(t0 + Duration::from_secs(secs), now_ns, &validator);
            match op {
                Op::Mod(fm) => {
                    let got = tables.apply(&fm, &ctx);
                    let want = model.apply(&fm, now_ns);
                    match (got, want) {
                        (Ok(o), Ok(removed)) => {
                            prop_assert_eq!(
                                o.removed.iter().map(|e| view(e)).collect::<Vec<_>>(),
                                removed
                            );
                            let mut tabs: Vec<u8> =
                                o.removed.iter().map(|e| e.table_id).collect();
                            tabs.extend(o.added.iter().map(|e| e.table_id));
                            tabs.extend(o.modified.iter().map(|e| e.table_id));
                            tabs.dedup();
                            prop_assert_eq!(&o.changed_tables, &tabs);
                            if fm.command == cmd::ADD {
                                prop_assert!(o.added.is_some());
                            }
                        }
                        (Err(g), Err(w)) => prop_assert_eq!(g, w),
                        (g, w) => prop_assert!(false, "{:?} vs {:?} for {:?}", g, w, fm),
                    }
                }
                Op::Hit(k, bytes) => {
                    let entries: Vec<Arc<FlowEntry>> = tables.iter().cloned().collect();
                    if !entries.is_empty() {
                        let k = k % entries.len();
                        entries[k].counters.hit(1, bytes, now_ns);
                        // The k-th model flow in the same order.
                        let mut idx: Vec<usize> = (0..model.flows.len()).collect();
                        idx.sort_by_key(|&i| model.flows[i].table);
                        let f = &mut model.flows[idx[k]];
                        f.packets += 1;
                        f.bytes += bytes;
                        f.last_hit_ns = now_ns;
                    }
                }
                Op::Expire => {
                    let mut got: Vec<_> = tables
                        .expire(now_ns)
                        .into_iter()
                        .map(|(e, r)| (view(&e), r))
                        .collect();
                    let mut want = model.expire(now_ns);
                    got.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
                    want.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
                    prop_assert_eq!(got, want);
                    prop_assert!(tables.next_expiry().is_none_or(|d| d > now_ns));
                }
            }
            let got: Vec<View> = tables.iter().map(|e| view(e)).collect();
            prop_assert_eq!(&got, &model.views());
            prop_assert_eq!(tables.len(), model.flows.len());
            for tid in 0..N_TABLES {
                let n = model.flows.iter().filter(|f| f.table == tid).count();
                prop_assert_eq!(tables.active_count(tid) as usize, n);
                let seqs: Vec<u64> = tables.entries(tid).map(|e| e.seq).collect();
                prop_assert!(seqs.windows(2).all(|w| w[0] < w[1]));
            }
            // Aggregate over everything agrees with the model's sums.
            let agg = tables
                .aggregate(&FlowStatsRequest {
                    table_id: 0xff,
                    out_port: port_no::ANY,
                    out_group: group_id::ANY,
                    cookie: 0,
                    cookie_mask: 0,
                    match_: Match::default(),
                })
                .unwrap();
            prop_assert_eq!(agg.flow_count as usize, model.flows.len());
            prop_assert_eq!(agg.packet_count, model.flows.iter().map(|f| f.packets).sum::<u64>());
            prop_assert_eq!(agg.byte_count, model.flows.iter().map(|f| f.bytes).sum::<u64>());
        }
    }
}
