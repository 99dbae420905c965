//! Pipeline tests: instructions, the action set, every output kind, groups,
//! meters, TTL, filter programs, packet-out, with and without the cache.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

use openflow::action::Action;
use openflow::instruction::Instruction;
use openflow::message::packet_in_reason;
use openflow::meter::MeterBand;
use openflow::oxm::{Match, OFPVID_PRESENT, Oxm};
use openflow::port::{port_config, port_no};

use super::*;
use crate::counters::FlowCounters;
use crate::frames::{self, Ip4, Tcp};
use crate::group::{BucketSpec, GroupSpec, GroupTableBuilder, LivePorts};
use crate::meter::Meter;
use crate::packet::extract;

const PORTS: [u32; 4] = [1, 2, 3, 4];

/// A sink that records what the pipeline sent (also used by the batch
/// tests in the parent module).
#[derive(Default)]
pub(super) struct Rec {
    pub(super) out: Vec<(u32, Vec<u8>)>,
    pub(super) pins: Vec<(PacketInMeta, Vec<u8>)>,
}

impl Sink for Rec {
    fn output(&mut self, port: u32, pkt: PacketBuf, pool: &mut BufPool) {
        self.out.push((port, pkt.data().to_vec()));
        pool.put(pkt);
    }
    fn packet_in(&mut self, meta: &PacketInMeta, frame: &[u8]) {
        self.pins.push((*meta, frame.to_vec()));
    }
}

/// One flow for [`Sw::new`].
struct F {
    table: u8,
    priority: u16,
    fields: Vec<Oxm>,
    insns: Vec<Instruction>,
    prog: Option<Arc<Program>>,
}

fn f(table: u8, priority: u16, fields: Vec<Oxm>, insns: Vec<Instruction>) -> F {
    F {
        table,
        priority,
        fields,
        insns,
        prog: None,
    }
}

fn apply(a: Vec<Action>) -> Instruction {
    Instruction::ApplyActions(a)
}

fn out(port: u32) -> Action {
    Action::Output { port, max_len: 0 }
}

fn to_controller(max_len: u16) -> Action {
    Action::Output {
        port: port_no::CONTROLLER,
        max_len,
    }
}

fn ipv4_dst(a: [u8; 4]) -> Oxm {
    Oxm::Ipv4Dst {
        value: Ipv4Addr::from(a),
        mask: None,
    }
}

/// A switch: snapshot, group view, executor and pool.
struct Sw {
    snap: Snapshot,
    groups: GroupView<Box<[Act]>>,
    ex: Executor,
    pool: BufPool,
    counters: Vec<Arc<FlowCounters>>,
}

impl Sw {
    fn new(flows: Vec<F>) -> Self {
        Self::with(flows, GroupTable::empty(1), MeterTable::new(), 8192)
    }

    fn with(
        flows: Vec<F>,
        groups: GroupTable<Box<[Act]>>,
        meters: MeterTable,
        cache: usize,
    ) -> Self {
        let specs = flows
            .into_iter()
            .enumerate()
            .map(|(i, fl)| FlowSpec {
                table_id: fl.table,
                priority: fl.priority,
                m: Match { fields: fl.fields },
                insns: fl.insns,
                cookie: 0x1001 + i as u64,
                filter: fl.prog,
            })
            .collect();
        let (mut snap, counters) = Snapshot::from_flows(1, 4, 1, &PORTS, specs).unwrap();
        let groups = Arc::new(groups);
        snap.groups = groups.clone();
        snap.meters = Arc::new(meters);
        let mut live = LivePorts::new();
        for p in PORTS {
            live.set(p, true);
        }
        Self {
            groups: GroupView::new(groups, &live),
            snap,
            ex: Executor::new(0, cache),
            pool: BufPool::with_capacity(8),
            counters,
        }
    }

    fn send(&mut self, in_port: u32, frame: &[u8]) -> Rec {
        self.send_at(in_port, frame, 1_000_000_000)
    }

    fn send_at(&mut self, in_port: u32, frame: &[u8], now_ns: u64) -> Rec {
        let mut rec = Rec::default();
        let mut b = self.pool.get();
        assert!(b.fill(frame));
        let cx = Ctx {
            snap: &self.snap,
            groups: &self.groups,
            now_ns,
        };
        self.ex.process(&cx, b, in_port, &mut rec, &mut self.pool);
        rec
    }

    fn packet_out(&mut self, in_port: u32, frame: &[u8], acts: &[Action]) -> Rec {
        let mut rec = Rec::default();
        let mut b = self.pool.get();
        assert!(b.fill(frame));
        let acts = actions::compile(acts).unwrap();
        let cx = Ctx {
            snap: &self.snap,
            groups: &self.groups,
            now_ns: 1,
        };
        self.ex
            .packet_out(&cx, b, in_port, &acts, &mut rec, &mut self.pool);
        rec
    }
}

fn tcp() -> Vec<u8> {
    frames::tcp4(&Ip4::default(), &Tcp::default(), 0, 64)
}

fn ports_of(r: &Rec) -> Vec<u32> {
    r.out.iter().map(|(p, _)| *p).collect()
}

#[test]
fn output_forwards_unchanged_and_counts() {
    let mut sw = Sw::new(vec![f(
        0,
        10,
        vec![Oxm::EthType(0x0800)],
        vec![apply(vec![out(2)])],
    )]);
    let r = sw.send(1, &tcp());
    assert_eq!(r.out, vec![(2, tcp())]);
    let c = sw.counters[0].totals();
    assert_eq!((c.packet_count, c.byte_count), (1, 64));
    assert_eq!(sw.snap.tables[0].counters.totals(), (1, 1));
    // No buffer leaked: everything went back to the pool.
    assert_eq!(sw.pool.available(), sw.pool.allocated());
}

#[test]
fn table_miss_drops_without_a_miss_flow_and_sends_no_match_with_one() {
    let mut sw = Sw::new(vec![]);
    let r = sw.send(1, &tcp());
    assert!(r.out.is_empty() && r.pins.is_empty());
    assert_eq!(sw.ex.stats().table_miss_drops, 1);
    assert_eq!(sw.snap.tables[0].counters.totals(), (1, 0));

    let mut sw = Sw::new(vec![f(0, 0, vec![], vec![apply(vec![to_controller(128)])])]);
    let r = sw.send(3, &tcp());
    assert_eq!(r.pins.len(), 1);
    let (m, frame) = &r.pins[0];
    assert_eq!(m.reason, packet_in_reason::NO_MATCH);
    assert_eq!((m.in_port, m.table_id, m.max_len), (3, 0, 128));
    assert_eq!(m.cookie, 0x1001);
    assert_eq!(frame, &tcp());
    // A controller output of an ordinary flow is reason ACTION.
    let mut sw = Sw::new(vec![f(
        0,
        5,
        vec![],
        vec![apply(vec![to_controller(0xffff)])],
    )]);
    assert_eq!(
        sw.send(1, &tcp()).pins[0].0.reason,
        packet_in_reason::ACTION
    );
}

#[test]
fn goto_and_write_metadata_reach_later_tables() {
    let mut sw = Sw::new(vec![
        f(
            0,
            1,
            vec![],
            vec![
                Instruction::WriteMetadata {
                    metadata: 0xab00,
                    mask: 0xff00,
                },
                Instruction::GotoTable(2),
            ],
        ),
        f(
            2,
            5,
            vec![Oxm::Metadata {
                value: 0xab00,
                mask: Some(0xff00),
            }],
            vec![apply(vec![out(4)])],
        ),
        f(2, 1, vec![], vec![apply(vec![out(3)])]),
    ]);
    assert_eq!(ports_of(&sw.send(1, &tcp())), vec![4]);
    assert_eq!(sw.snap.tables[1].counters.totals(), (0, 0));
    assert_eq!(sw.snap.tables[2].counters.totals(), (1, 1));
}

#[test]
fn instruction_compile_errors() {
    use openflow::error::{BadActionCode, BadInstructionCode as B};
    let e = |i: Vec<Instruction>, t| Instructions::compile(&i, t, 4).unwrap_err();
    assert_eq!(
        e(vec![Instruction::GotoTable(1)], 1),
        ErrorCode::BadInstruction(B::BadTableId)
    );
    assert_eq!(
        e(vec![Instruction::GotoTable(4)], 0),
        ErrorCode::BadInstruction(B::BadTableId)
    );
    assert_eq!(
        e(
            vec![Instruction::ClearActions, Instruction::ClearActions],
            0
        ),
        ErrorCode::BadInstruction(B::UnsupInst)
    );
    assert_eq!(
        e(
            vec![Instruction::Experimenter {
                experimenter: 1,
                data: vec![]
            }],
            0
        ),
        ErrorCode::BadInstruction(B::BadExperimenter)
    );
    assert_eq!(
        e(
            vec![Instruction::Unknown {
                inst_type: 77,
                body: vec![0; 4]
            }],
            0
        ),
        ErrorCode::BadInstruction(B::UnknownInst)
    );
    assert_eq!(
        e(vec![apply(vec![Action::PushVlan(0x0800)])], 0),
        ErrorCode::BadAction(BadActionCode::BadArgument)
    );
}

#[test]
fn action_set_runs_at_the_end_in_spec_order() {
    // Table 0 writes "output:2" and "set ipv4_dst", then applies a push
    // (at once); table 1 clears nothing and adds dec_ttl. At the end the
    // set runs: dec TTL, set field, output — on the VLAN-tagged packet.
    let mut sw = Sw::new(vec![
        f(
            0,
            1,
            vec![],
            vec![
                apply(vec![Action::PushVlan(0x8100)]),
                Instruction::WriteActions(vec![
                    out(2),
                    Action::SetField(ipv4_dst([192, 168, 0, 9])),
                ]),
                Instruction::GotoTable(1),
            ],
        ),
        f(
            1,
            1,
            vec![Oxm::VlanVid {
                value: OFPVID_PRESENT,
                mask: Some(OFPVID_PRESENT),
            }],
            vec![Instruction::WriteActions(vec![Action::DecNwTtl])],
        ),
    ]);
    let r = sw.send(1, &tcp());
    assert_eq!(ports_of(&r), vec![2]);
    let p = extract(&r.out[0].1, 0, 0, 0, 0);
    assert_eq!(p.vlan_tags, 1);
    assert_eq!(p.key.get(field::IPV4_DST), 0xc0a8_0009);
    let l3 = p.l3_offset.unwrap();
    assert_eq!(r.out[0].1[l3 + 8], 63, "TTL decremented");
    assert_eq!(
        crate::packet::internet_checksum(&r.out[0].1[l3..l3 + 20]),
        0
    );
}

#[test]
fn clear_actions_empties_the_set() {
    let mut sw = Sw::new(vec![
        f(
            0,
            1,
            vec![],
            vec![
                Instruction::WriteActions(vec![out(2)]),
                Instruction::GotoTable(1),
            ],
        ),
        f(1, 1, vec![], vec![Instruction::ClearActions]),
    ]);
    assert!(sw.send(1, &tcp()).out.is_empty());
}

#[test]
fn reserved_ports() {
    let mut sw = Sw::new(vec![
        f(
            0,
            5,
            vec![Oxm::TcpDst(80), Oxm::IpProto(6), Oxm::EthType(0x0800)],
            vec![apply(vec![out(port_no::FLOOD)])],
        ),
        f(
            0,
            4,
            vec![Oxm::InPort(1)],
            vec![apply(vec![out(port_no::ALL)])],
        ),
        f(
            0,
            3,
            vec![Oxm::InPort(2)],
            vec![apply(vec![out(port_no::IN_PORT)])],
        ),
        f(0, 2, vec![Oxm::InPort(3)], vec![apply(vec![out(3)])]),
        f(
            0,
            1,
            vec![Oxm::InPort(4)],
            vec![apply(vec![out(port_no::LOCAL), out(port_no::NORMAL)])],
        ),
    ]);
    assert_eq!(
        ports_of(&sw.send(2, &tcp())),
        vec![1, 3, 4],
        "FLOOD skips in_port"
    );
    let udp = frames::udp4(&Ip4::default(), 1, 2, 0, 64);
    assert_eq!(
        ports_of(&sw.send(1, &udp)),
        vec![2, 3, 4],
        "ALL skips in_port"
    );
    assert_eq!(ports_of(&sw.send(2, &udp)), vec![2], "IN_PORT");
    assert!(
        sw.send(3, &udp).out.is_empty(),
        "output to the ingress port by number"
    );
    assert!(
        sw.send(4, &udp).out.is_empty(),
        "no LOCAL port, NORMAL unsupported"
    );
    // NO_FWD ports are skipped by FLOOD and by direct output.
    let mut ports: Vec<PortEntry> = sw.snap.ports.to_vec();
    ports[2].config = port_config::NO_FWD;
    sw.snap.ports = ports.into();
    assert_eq!(ports_of(&sw.send(2, &tcp())), vec![1, 4]);
    assert!(sw.send(3, &udp).out.is_empty());
    assert_eq!(sw.pool.available(), sw.pool.allocated());
}

#[test]
fn several_outputs_get_copies_and_later_rewrites_do_not_leak_back() {
    let mut sw = Sw::new(vec![f(
        0,
        1,
        vec![Oxm::EthType(0x0800)],
        vec![apply(vec![
            out(2),
            Action::SetField(ipv4_dst([1, 2, 3, 4])),
            out(3),
            to_controller(0xffff),
        ])],
    )]);
    let r = sw.send(1, &tcp());
    assert_eq!(ports_of(&r), vec![2, 3]);
    assert_eq!(r.out[0].1, tcp(), "first copy is unmodified");
    assert_eq!(
        extract(&r.out[1].1, 0, 0, 0, 0).key.get(field::IPV4_DST),
        0x0102_0304
    );
    assert_eq!(r.pins[0].1, r.out[1].1, "the packet-in sees the rewrite");
}

#[test]
fn no_packet_in_port_config_suppresses_packet_ins() {
    let mut sw = Sw::new(vec![f(0, 0, vec![], vec![apply(vec![to_controller(64)])])]);
    let mut ports: Vec<PortEntry> = sw.snap.ports.to_vec();
    ports[0].config = port_config::NO_PACKET_IN;
    sw.snap.ports = ports.into();
    assert!(sw.send(1, &tcp()).pins.is_empty());
    assert_eq!(sw.send(2, &tcp()).pins.len(), 1);
}

#[test]
fn invalid_ttl_ends_the_packet_with_a_packet_in() {
    let mut sw = Sw::new(vec![f(
        0,
        1,
        vec![Oxm::EthType(0x0800)],
        vec![apply(vec![Action::DecNwTtl, out(2)])],
    )]);
    let ip = Ip4 {
        ttl: 1,
        ..Ip4::default()
    };
    let r = sw.send(1, &frames::tcp4(&ip, &Tcp::default(), 0, 64));
    assert!(r.out.is_empty());
    assert_eq!(r.pins[0].0.reason, packet_in_reason::INVALID_TTL);
    assert_eq!(r.pins[0].0.max_len, 128);
    assert_eq!(sw.ex.stats().invalid_ttl, 1);
    let r = sw.send(1, &tcp());
    assert_eq!(ports_of(&r), vec![2]);
}

/// `(weight, watch_port, actions)`.
type BucketDef = (u16, u32, Vec<Action>);

fn group_table(specs: Vec<(u32, u8, Vec<BucketDef>)>) -> GroupTable<Box<[Act]>> {
    let mut b = GroupTableBuilder::new(1, Instant::now());
    for (id, ty, buckets) in specs {
        b.insert(GroupSpec {
            group_id: id,
            group_type: ty,
            buckets: buckets
                .into_iter()
                .map(|(weight, watch_port, acts)| BucketSpec {
                    weight,
                    watch_port,
                    watch_group: openflow::group::group_id::ANY,
                    chained: acts
                        .iter()
                        .filter_map(|a| match a {
                            Action::Group(g) => Some(*g),
                            _ => None,
                        })
                        .collect(),
                    payload: actions::compile(&acts).unwrap(),
                })
                .collect(),
            counters: None,
        })
        .unwrap();
    }
    b.build().unwrap()
}

#[test]
fn groups_all_select_indirect_ff_and_chaining() {
    use openflow::group::group_type as gt;
    let any = port_no::ANY;
    let groups = group_table(vec![
        (
            1,
            gt::ALL,
            vec![
                (0, any, vec![out(2)]),
                (
                    0,
                    any,
                    vec![Action::SetField(ipv4_dst([9, 9, 9, 9])), out(3)],
                ),
            ],
        ),
        (2, gt::INDIRECT, vec![(0, any, vec![Action::Group(1)])]),
        (
            3,
            gt::SELECT,
            vec![(1, any, vec![out(3)]), (1, any, vec![out(4)])],
        ),
        (4, gt::FF, vec![(0, 9, vec![out(2)]), (0, 4, vec![out(4)])]),
    ]);
    let mut sw = Sw::with(
        vec![
            f(
                0,
                4,
                vec![Oxm::InPort(1)],
                vec![apply(vec![Action::Group(2), out(4)])],
            ),
            f(
                0,
                3,
                vec![Oxm::InPort(2)],
                vec![apply(vec![Action::Group(3)])],
            ),
            f(
                0,
                2,
                vec![Oxm::InPort(3)],
                vec![apply(vec![Action::Group(4)])],
            ),
        ],
        groups,
        MeterTable::new(),
        8192,
    );
    let r = sw.send(1, &tcp());
    assert_eq!(ports_of(&r), vec![2, 3, 4]);
    assert_eq!(r.out[0].1, tcp());
    assert_eq!(
        extract(&r.out[1].1, 0, 0, 0, 0).key.get(field::IPV4_DST),
        0x0909_0909
    );
    assert_eq!(r.out[2].1, tcp(), "bucket rewrites act on copies");
    // SELECT: one bucket per packet, the same one for one flow.
    let a = ports_of(&sw.send(2, &tcp()));
    assert_eq!(a.len(), 1);
    assert_eq!(ports_of(&sw.send(2, &tcp())), a);
    // Different flows spread over both buckets.
    let mut seen = std::collections::BTreeSet::new();
    for sport in 0..64 {
        let fr = frames::tcp4(
            &Ip4::default(),
            &Tcp {
                sport,
                ..Tcp::default()
            },
            0,
            64,
        );
        seen.extend(ports_of(&sw.send(2, &fr)));
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![3, 4]);
    // FAST_FAILOVER: port 9 does not exist (not live): the second bucket.
    assert_eq!(ports_of(&sw.send(3, &tcp())), vec![4]);
    let g1 = sw.snap.groups.get(1).unwrap().counters().totals();
    assert_eq!(g1.packet_count, 1);
    assert_eq!(sw.pool.available(), sw.pool.allocated());
}

#[test]
fn meters_drop_over_rate_and_remark() {
    use openflow::meter::meter_flags;
    let mut meters = MeterTable::new();
    let drop = MeterBand::Drop {
        rate: 2,
        burst_size: 2,
    };
    meters.insert(Arc::new(
        Meter::new(
            1,
            meter_flags::PKTPS | meter_flags::BURST,
            &[drop],
            1,
            Instant::now(),
        )
        .unwrap(),
    ));
    let remark = MeterBand::DscpRemark {
        rate: 1,
        burst_size: 1,
        prec_level: 1,
    };
    meters.insert(Arc::new(
        Meter::new(
            2,
            meter_flags::PKTPS | meter_flags::BURST,
            &[remark],
            1,
            Instant::now(),
        )
        .unwrap(),
    ));
    let mut sw = Sw::with(
        vec![
            f(
                0,
                2,
                vec![Oxm::InPort(1)],
                vec![Instruction::Meter(1), apply(vec![out(2)])],
            ),
            f(
                0,
                1,
                vec![Oxm::InPort(3)],
                vec![Instruction::Meter(2), apply(vec![out(2)])],
            ),
        ],
        GroupTable::empty(1),
        meters,
        8192,
    );
    // Same instant: the burst of 2 passes, then drops.
    let n: usize = (0..5)
        .map(|_| sw.send_at(1, &tcp(), 5_000_000_000).out.len())
        .sum();
    assert_eq!(n, 2);
    assert_eq!(sw.ex.stats().meter_drops, 3);
    // AF11 (dscp 10) is remarked to AF12 (12) once over the rate.
    let ip = Ip4 {
        dscp: 10,
        ..Ip4::default()
    };
    let fr = frames::tcp4(&ip, &Tcp::default(), 0, 64);
    let dscps: Vec<u64> = (0..3)
        .map(|_| {
            let r = sw.send_at(3, &fr, 5_000_000_000);
            extract(&r.out[0].1, 0, 0, 0, 0).key.get(field::IP_DSCP)
        })
        .collect();
    assert_eq!(dscps[0], 10);
    assert_eq!(dscps[2], 12);
}

fn program(name: &str) -> Arc<Program> {
    let path = format!("{}/tests/data/{name}.o", env!("CARGO_MANIFEST_DIR"));
    Arc::new(Program::load(&std::fs::read(path).unwrap(), 1).unwrap())
}

#[test]
fn filter_program_decides_per_packet_and_lookup_falls_through() {
    let prog = program("min_len");
    let mut flows = [
        F {
            prog: Some(prog.clone()),
            ..f(0, 10, vec![Oxm::EthType(0x0800)], vec![apply(vec![out(2)])])
        },
        f(0, 5, vec![Oxm::EthType(0x0800)], vec![apply(vec![out(3)])]),
    ];
    flows[0].fields.push(ofext_filter::wire::filter_prog_oxm(7));
    for cache in [0, 8192] {
        let mut sw = Sw::with(
            flows
                .iter()
                .map(|x| F {
                    table: x.table,
                    priority: x.priority,
                    fields: x.fields.clone(),
                    insns: x.insns.clone(),
                    prog: x.prog.clone(),
                })
                .collect(),
            GroupTable::empty(1),
            MeterTable::new(),
            cache,
        );
        for _ in 0..3 {
            let big = frames::udp4(&Ip4::default(), 1, 2, 100, 0);
            assert_eq!(ports_of(&sw.send(1, &big)), vec![2], "program answers 1");
            assert_eq!(
                ports_of(&sw.send(1, &tcp())),
                vec![3],
                "program answers 0: next flow"
            );
        }
    }
    assert_eq!(prog.stats().runs, 12);
}

#[test]
fn stateful_program_runs_once_per_packet_with_the_cache() {
    let prog = program("count_odd");
    let mut fields = vec![Oxm::EthType(0x0800)];
    fields.push(ofext_filter::wire::filter_prog_oxm(1));
    let mut sw = Sw::new(vec![
        F {
            prog: Some(prog.clone()),
            ..f(0, 10, fields, vec![apply(vec![out(2)])])
        },
        f(0, 5, vec![], vec![apply(vec![out(3)])]),
    ]);
    let got: Vec<u32> = (0..6).map(|_| ports_of(&sw.send(1, &tcp()))[0]).collect();
    assert_eq!(got, vec![2, 3, 2, 3, 2, 3]);
    assert_eq!(prog.stats().runs, 6);
    let (hits, _) = sw.ex.cache_stats();
    assert!(
        hits == 0,
        "answers alternate: every probe mismatches, hits {hits}"
    );
}

#[test]
fn packet_out_actions_and_table() {
    let mut sw = Sw::new(vec![f(
        0,
        1,
        vec![Oxm::InPort(port_no::CONTROLLER)],
        vec![apply(vec![out(4)])],
    )]);
    let r = sw.packet_out(port_no::CONTROLLER, &tcp(), &[out(1), out(port_no::FLOOD)]);
    assert_eq!(ports_of(&r), vec![1, 1, 2, 3, 4]);
    let r = sw.packet_out(port_no::CONTROLLER, &tcp(), &[out(port_no::TABLE)]);
    assert_eq!(ports_of(&r), vec![4]);
    let r = sw.packet_out(2, &tcp(), &[out(port_no::IN_PORT)]);
    assert_eq!(ports_of(&r), vec![2]);
    // TABLE inside a flow (refused by the agent) never loops.
    let mut sw = Sw::new(vec![f(
        0,
        1,
        vec![],
        vec![apply(vec![out(port_no::TABLE), out(2)])],
    )]);
    assert_eq!(ports_of(&sw.send(1, &tcp())), vec![2]);
    assert_eq!(sw.pool.available(), sw.pool.allocated());
}

#[test]
fn push_pop_and_set_tunnel_change_what_later_tables_see() {
    let mut sw = Sw::new(vec![
        f(
            0,
            1,
            vec![],
            vec![
                apply(vec![
                    Action::PushMpls(0x8847),
                    Action::SetField(Oxm::MplsLabel(77)),
                    Action::SetField(Oxm::TunnelId {
                        value: 5,
                        mask: None,
                    }),
                ]),
                Instruction::GotoTable(1),
            ],
        ),
        f(
            1,
            2,
            vec![
                Oxm::EthType(0x8847),
                Oxm::MplsLabel(77),
                Oxm::TunnelId {
                    value: 5,
                    mask: None,
                },
            ],
            vec![apply(vec![Action::PopMpls(0x0800), out(2)])],
        ),
    ]);
    let r = sw.send(1, &tcp());
    assert_eq!(r.out, vec![(2, tcp())]);
}

#[test]
fn cache_and_no_cache_agree_across_many_flows() {
    let flows = || {
        (0..16u8)
            .map(|i| {
                f(
                    0,
                    u16::from(i),
                    vec![Oxm::EthType(0x0800), ipv4_dst([10, 0, 0, i])],
                    vec![apply(vec![out(u32::from(i % 4) + 1)])],
                )
            })
            .collect::<Vec<_>>()
    };
    let mut a = Sw::with(flows(), GroupTable::empty(1), MeterTable::new(), 0);
    let mut b = Sw::with(flows(), GroupTable::empty(1), MeterTable::new(), 64);
    for round in 0..3 {
        for i in 0..20u8 {
            let ip = Ip4 {
                dst: Ipv4Addr::new(10, 0, 0, i),
                ..Ip4::default()
            };
            let fr = frames::udp4(&ip, 1, 2, 0, 64);
            assert_eq!(
                a.send(1, &fr).out,
                b.send(1, &fr).out,
                "round {round} dst {i}"
            );
        }
    }
    let (hits, _) = b.ex.cache_stats();
    assert!(hits >= 32);
}

#[test]
fn port_config_no_recv_and_port_down() {
    let mut sw = Sw::new(vec![f(
        0,
        1,
        vec![],
        vec![apply(vec![out(port_no::FLOOD)])],
    )]);
    let mut ports: Vec<PortEntry> = sw.snap.ports.to_vec();
    ports[0].config = port_config::NO_RECV;
    ports[2].config = port_config::PORT_DOWN;
    sw.snap.ports = ports.into();
    // Nothing enters from port 1 (NO_RECV) or port 3 (down).
    assert!(sw.send(1, &tcp()).out.is_empty());
    assert!(sw.send(3, &tcp()).out.is_empty());
    assert_eq!(sw.ex.stats().port_config_drops, 2);
    // From port 2: flooded to 1 (NO_RECV does not stop sending) and 4, not
    // to the down port 3.
    assert_eq!(ports_of(&sw.send(2, &tcp())), vec![1, 4]);
    assert_eq!(sw.pool.available(), sw.pool.allocated());
}
