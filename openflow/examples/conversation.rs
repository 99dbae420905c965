//! A short controller–switch conversation, encoded and decoded.
//!
//! `cargo run -p openflow --example conversation`
//!
//! Every message is emitted through [`OfCodec`] into the byte stream of its
//! direction (controller → switch or switch → controller), exactly as it would
//! be written to the TCP connection. The streams are then read back frame by
//! frame with the same codec, each frame is parsed, checked to equal what was
//! sent, and printed: direction, type, xid, length, the first bytes on the
//! wire, and a one-line summary. The flow it installs is the Oko example: TCP
//! to 10.0.0.1:80 that also passes filter program 3, output to port 2.

use bytes::BytesMut;
use openflow::action::Action;
use openflow::instruction::Instruction;
use openflow::message::{
    FlowMod, Hello, HelloElement, Message, MessageBody as B, OFP_NO_BUFFER, PacketIn, SwitchConfig,
    SwitchFeatures, capabilities, flow_mod_command, packet_in_reason,
};
use openflow::multipart::{
    FlowStats, FlowStatsRequest, MultipartReply, MultipartReplyBody, MultipartRequest,
    MultipartRequestBody,
};
use openflow::oxm::{Match, Oxm};
use openflow::port::{Port, port_features, port_no, port_state};
use openflow::{Frame, OfCodec};
use tokio_util::codec::{Decoder, Encoder};

/// The filter-program extension's experimenter id.
const OKO: u32 = 0x004F_4B4F;
/// `FILTER_PROG`, the extension's experimenter OXM field.
const FILTER_PROG: u8 = 1;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    ToSwitch,
    ToController,
}

fn main() {
    let script = conversation();

    // Encode: one byte stream per direction, as on the wire.
    let mut codec = OfCodec::new();
    let mut to_switch = BytesMut::new();
    let mut to_controller = BytesMut::new();
    for (dir, msg) in &script {
        let stream = match dir {
            Dir::ToSwitch => &mut to_switch,
            Dir::ToController => &mut to_controller,
        };
        codec
            .encode(msg, stream)
            .expect("every message fits a frame");
    }
    println!(
        "controller → switch: {} bytes, switch → controller: {} bytes\n",
        to_switch.len(),
        to_controller.len()
    );

    // Decode: take the frames back in conversation order.
    for (dir, sent) in &script {
        let (stream, arrow) = match dir {
            Dir::ToSwitch => (&mut to_switch, "controller → switch"),
            Dir::ToController => (&mut to_controller, "switch → controller"),
        };
        let frame: Frame = codec
            .decode(stream)
            .expect("well-framed stream")
            .expect("a complete frame is buffered");
        let received = frame.parse().expect("the frame parses");
        assert_eq!(&received, sent, "round trip");
        println!(
            "{arrow}  {:<17} xid={:<4} len={:<4} {}",
            received.body.name(),
            received.xid,
            frame.len(),
            hex(frame.as_bytes(), 16)
        );
        println!("    {}", summary(&received.body));
    }
    assert!(to_switch.is_empty() && to_controller.is_empty());
    assert!(
        codec
            .decode_eof(&mut to_switch)
            .expect("clean end")
            .is_none()
    );
    println!("\n{} messages round-tripped", script.len());
}

/// The messages, in order, with their sender.
fn conversation() -> Vec<(Dir, Message)> {
    use Dir::{ToController as S, ToSwitch as C};
    let filter_prog = Oxm::Experimenter {
        field: FILTER_PROG,
        has_mask: false,
        experimenter: OKO,
        payload: 3u32.to_be_bytes().to_vec(),
    };
    let flow = FlowMod {
        command: flow_mod_command::ADD,
        table_id: 0,
        priority: 100,
        match_: Match {
            fields: vec![
                Oxm::EthType(0x0800),
                Oxm::IpProto(6),
                Oxm::Ipv4Dst {
                    value: [10, 0, 0, 1].into(),
                    mask: None,
                },
                Oxm::TcpDst(80),
                filter_prog,
            ],
        },
        instructions: vec![Instruction::ApplyActions(vec![Action::Output {
            port: 2,
            max_len: 0,
        }])],
        ..FlowMod::default()
    };
    let stats = FlowStats {
        table_id: flow.table_id,
        duration_sec: 42,
        duration_nsec: 0,
        priority: flow.priority,
        idle_timeout: flow.idle_timeout,
        hard_timeout: flow.hard_timeout,
        flags: flow.flags,
        cookie: flow.cookie,
        packet_count: 12,
        byte_count: 888,
        match_: flow.match_.clone(),
        instructions: flow.instructions.clone(),
    };
    let all_flows = FlowStatsRequest {
        table_id: 0xff,
        out_port: port_no::ANY,
        out_group: openflow::group::group_id::ANY,
        cookie: 0,
        cookie_mask: 0,
        match_: Match::new(),
    };
    let port = |no: u32, name: &str| Port {
        state: port_state::LIVE,
        curr: port_features::RATE_10GB_FD | port_features::COPPER,
        curr_speed: 10_000_000,
        max_speed: 10_000_000,
        ..Port::new(no, [0x02, 0, 0, 0, 0, no as u8]).with_name(name)
    };
    let features = SwitchFeatures {
        datapath_id: 0x0000_0200_0000_0001,
        n_buffers: 0,
        n_tables: 4,
        auxiliary_id: 0,
        capabilities: capabilities::FLOW_STATS | capabilities::PORT_STATS,
        reserved: 0,
    };
    // A TCP SYN from 10.0.0.2:51000 to 10.0.0.1:80 (checksums left zero).
    let mut syn = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00];
    syn.extend_from_slice(&[
        0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1,
    ]);
    syn.extend_from_slice(&[0xc7, 0x38, 0, 80, 0, 0, 0x03, 0xe8, 0, 0, 0, 0, 0x50, 0x02]);
    syn.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
    let packet_in = PacketIn {
        buffer_id: OFP_NO_BUFFER,
        total_len: syn.len() as u16,
        reason: packet_in_reason::NO_MATCH,
        table_id: 0,
        cookie: u64::MAX,
        match_: Match {
            fields: vec![Oxm::InPort(1)],
        },
        data: syn,
    };
    let hello_1_0_and_1_3 = Hello {
        version: 4,
        elements: vec![HelloElement::version_bitmap(&[1, 4])],
    };
    let ports = vec![port(1, "eth1"), port(2, "eth2")];

    let m = Message::new;
    let req = |xid, body| {
        m(
            xid,
            B::MultipartRequest(MultipartRequest { flags: 0, body }),
        )
    };
    let rep = |xid, body| m(xid, B::MultipartReply(MultipartReply { flags: 0, body }));
    vec![
        (C, m(1, B::Hello(hello_1_0_and_1_3))),
        (S, m(1, B::Hello(Hello::standard()))),
        (C, m(2, B::FeaturesRequest)),
        (S, m(2, B::FeaturesReply(features))),
        (C, m(3, B::SetConfig(SwitchConfig::default()))),
        (C, req(4, MultipartRequestBody::PortDesc)),
        (S, rep(4, MultipartReplyBody::PortDesc(ports))),
        (C, m(5, B::FlowMod(flow))),
        (C, m(6, B::BarrierRequest)),
        (S, m(6, B::BarrierReply)),
        (S, m(0, B::PacketIn(packet_in))),
        (C, req(7, MultipartRequestBody::Flow(all_flows))),
        (S, rep(7, MultipartReplyBody::Flow(vec![stats]))),
    ]
}

/// The first `n` bytes as hex, with an ellipsis when there are more.
fn hex(bytes: &[u8], n: usize) -> String {
    let mut s: Vec<String> = bytes.iter().take(n).map(|b| format!("{b:02x}")).collect();
    if bytes.len() > n {
        s.push("…".into());
    }
    s.join(" ")
}

fn oxm(o: &Oxm) -> String {
    match o {
        Oxm::InPort(p) => format!("in_port={p}"),
        Oxm::EthType(t) => format!("eth_type=0x{t:04x}"),
        Oxm::IpProto(p) => format!("ip_proto={p}"),
        Oxm::Ipv4Dst { value, mask: None } => format!("ipv4_dst={value}"),
        Oxm::Ipv4Dst {
            value,
            mask: Some(m),
        } => format!("ipv4_dst={value}/{m}"),
        Oxm::TcpDst(p) => format!("tcp_dst={p}"),
        Oxm::Experimenter {
            field: FILTER_PROG,
            experimenter: OKO,
            payload,
            ..
        } if payload.len() == 4 => {
            let id = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
            format!("filter_prog={id}")
        }
        other => format!("{other:?}"),
    }
}

fn match_str(m: &Match) -> String {
    let fields: Vec<String> = m.fields.iter().map(oxm).collect();
    if fields.is_empty() {
        "any".into()
    } else {
        fields.join(" ")
    }
}

fn actions_str(insts: &[Instruction]) -> String {
    let mut out = Vec::new();
    for i in insts {
        match i {
            Instruction::ApplyActions(actions) => {
                for a in actions {
                    out.push(match a {
                        Action::Output { port, .. } => format!("output:{port}"),
                        other => format!("{other:?}"),
                    });
                }
            }
            other => out.push(format!("{other:?}")),
        }
    }
    out.join(",")
}

/// The name of code `c` in a table of names indexed by code.
fn name(names: &[&'static str], c: u8) -> &'static str {
    names.get(usize::from(c)).copied().unwrap_or("unknown")
}

/// A one-line human summary of a message body.
fn summary(body: &B) -> String {
    match body {
        B::Hello(h) => {
            let names =
                [(1, "1.0"), (4, "1.3")].map(|(v, n)| if h.supports_version(v) { n } else { "" });
            format!(
                "version=0x{:02x} bitmap: {}",
                h.version,
                names.join(" ").trim()
            )
        }
        B::FeaturesReply(f) => format!(
            "dpid={:016x} n_tables={} capabilities=0x{:x}",
            f.datapath_id, f.n_tables, f.capabilities
        ),
        B::SetConfig(c) => format!("flags={} miss_send_len={}", c.flags, c.miss_send_len),
        B::FlowMod(f) => format!(
            "{} table={} priority={} match: {} actions: {}",
            name(
                &["add", "modify", "modify_strict", "delete", "delete_strict"],
                f.command
            ),
            f.table_id,
            f.priority,
            match_str(&f.match_),
            actions_str(&f.instructions)
        ),
        B::PacketIn(p) => format!(
            "{} table={} {} total_len={} data: {}",
            name(&["no_match", "action", "invalid_ttl"], p.reason),
            p.table_id,
            match_str(&p.match_),
            p.total_len,
            hex(&p.data, 14)
        ),
        B::MultipartRequest(r) => match &r.body {
            MultipartRequestBody::Flow(f) => {
                format!("FLOW table={} match: {}", f.table_id, match_str(&f.match_))
            }
            MultipartRequestBody::PortDesc => "PORT_DESC".into(),
            other => format!("{other:?}"),
        },
        B::MultipartReply(r) => match &r.body {
            MultipartReplyBody::PortDesc(ports) => {
                let names: Vec<String> = ports
                    .iter()
                    .map(|p| format!("{}({})", p.port_no, p.name_str()))
                    .collect();
                format!("PORT_DESC {}", names.join(" "))
            }
            MultipartReplyBody::Flow(flows) => {
                let f = |f: &FlowStats| {
                    let (m, a) = (match_str(&f.match_), actions_str(&f.instructions));
                    let (p, n, b) = (f.priority, f.packet_count, f.byte_count);
                    format!("priority={p} packets={n} bytes={b} match: {m} actions: {a}")
                };
                format!(
                    "FLOW {}",
                    flows.iter().map(f).collect::<Vec<_>>().join("; ")
                )
            }
            other => format!("{other:?}"),
        },
        B::FeaturesRequest | B::BarrierRequest | B::BarrierReply => "(no body)".into(),
        other => format!("{other:?}"),
    }
}
