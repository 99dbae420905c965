//! Parse/emit throughput of a typical FLOW_MOD (5 OXM fields, 3 actions), a
//! PACKET_IN carrying 128 bytes of packet, a FLOW stats reply with 100
//! entries, and framing throughput of `OfCodec`.
//!
//! Targets (FLOW_MOD): parse ≥ 5 M msg/s, emit ≥ 10 M msg/s on one core.
//!
//! `cargo bench -p openflow --bench message_codec -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use openflow::action::Action;
use openflow::codec::OfCodec;
use openflow::instruction::Instruction;
use openflow::message::{Message, MessageBody, OFP_NO_BUFFER, PacketIn, packet_in_reason};
use openflow::multipart::{FlowStats, MultipartReply, MultipartReplyBody};
use openflow::oxm::{Match, Oxm};
use tokio_util::codec::Decoder;

/// FLOW_MOD: IN_PORT, ETH_TYPE, IP_PROTO, IPV4_DST, TCP_DST; APPLY_ACTIONS
/// with DEC_NW_TTL, SET_QUEUE, OUTPUT.
#[rustfmt::skip]
const FLOW_MOD: [u8; 128] = [
    0x04, 0x0e, 0x00, 0x80, 0x00, 0x00, 0x00, 0x2a,
    0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x3c, 0x00, 0x00, 0x80, 0x00,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0x00, 0x01, 0x00, 0x00,
    0x00, 0x01, 0x00, 0x25,
    0x80, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01,
    0x80, 0x00, 0x0a, 0x02, 0x08, 0x00,
    0x80, 0x00, 0x14, 0x01, 0x06,
    0x80, 0x00, 0x18, 0x04, 0x0a, 0x00, 0x00, 0x01,
    0x80, 0x00, 0x1c, 0x02, 0x00, 0x50,
    0x00, 0x00, 0x00,
    0x00, 0x04, 0x00, 0x28, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x18, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x15, 0x00, 0x08, 0x00, 0x00, 0x00, 0x01,
    0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x02,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];

fn flow_mod(c: &mut Criterion) {
    let msg = Message::parse(&FLOW_MOD).expect("benchmark input parses");
    assert_eq!(msg.to_vec(), FLOW_MOD, "benchmark input round-trips");

    let mut g = c.benchmark_group("flow_mod");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse", |b| b.iter(|| Message::parse(black_box(&FLOW_MOD))));
    let mut out = Vec::with_capacity(256);
    g.bench_function("emit", |b| {
        b.iter(|| {
            out.clear();
            black_box(&msg).emit(&mut out);
            black_box(out.len())
        })
    });
    g.bench_function("wire_len", |b| b.iter(|| black_box(&msg).wire_len()));
    g.finish();
}

/// Parse and emit benchmarks for one message, in group `name`.
fn parse_emit(c: &mut Criterion, name: &str, msg: &Message) {
    let bytes = msg.to_vec();
    assert_eq!(
        Message::parse(&bytes).as_ref().ok(),
        Some(msg),
        "benchmark input round-trips"
    );
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse", |b| b.iter(|| Message::parse(black_box(&bytes))));
    let mut out = Vec::with_capacity(bytes.len());
    g.bench_function("emit", |b| {
        b.iter(|| {
            out.clear();
            black_box(msg).emit(&mut out);
            black_box(out.len())
        })
    });
    g.finish();
}

/// PACKET_IN of a 128-byte frame after a table miss: `in_port` and
/// `tunnel_id` in the match, as a switch sends it.
fn packet_in(c: &mut Criterion) {
    let data: Vec<u8> = (0..128u8).collect();
    let msg = Message::new(
        0,
        MessageBody::PacketIn(PacketIn {
            buffer_id: OFP_NO_BUFFER,
            total_len: 128,
            reason: packet_in_reason::NO_MATCH,
            table_id: 0,
            cookie: u64::MAX,
            match_: Match {
                fields: vec![
                    Oxm::InPort(3),
                    Oxm::TunnelId {
                        value: 42,
                        mask: None,
                    },
                ],
            },
            data,
        }),
    );
    parse_emit(c, "packet_in_128", &msg);
}

/// MULTIPART_REPLY (FLOW) with 100 entries, each with the benchmark
/// FLOW_MOD's match and instructions.
fn flow_stats_reply(c: &mut Criterion) {
    let Ok(Message {
        body: MessageBody::FlowMod(fm),
        ..
    }) = Message::parse(&FLOW_MOD)
    else {
        panic!("benchmark FLOW_MOD parses");
    };
    assert_eq!(fm.match_.fields.len(), 5, "5 OXM fields");
    assert!(
        matches!(&fm.instructions[..], [Instruction::ApplyActions(a)]
            if matches!(a[..], [Action::DecNwTtl, Action::SetQueue(_), Action::Output { .. }])),
        "one apply-actions with 3 actions"
    );
    let entries = (0..100u16)
        .map(|i| FlowStats {
            table_id: 0,
            duration_sec: 10,
            duration_nsec: 500,
            priority: 1000 + i,
            idle_timeout: 0,
            hard_timeout: 0,
            flags: 0,
            cookie: u64::from(i),
            packet_count: 100 * u64::from(i),
            byte_count: 6400 * u64::from(i),
            match_: fm.match_.clone(),
            instructions: fm.instructions.clone(),
        })
        .collect();
    let msg = Message::new(
        7,
        MessageBody::MultipartReply(MultipartReply {
            flags: 0,
            body: MultipartReplyBody::Flow(entries),
        }),
    );
    parse_emit(c, "flow_stats_reply_100", &msg);
}

fn framing(c: &mut Criterion) {
    // 64 FLOW_MODs back to back, framed (not parsed).
    let stream: Vec<u8> = FLOW_MOD.iter().copied().cycle().take(64 * 128).collect();
    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Elements(64));
    g.bench_function("decode_64_frames", |b| {
        b.iter(|| {
            let mut codec = OfCodec::new();
            let mut buf = BytesMut::from(&stream[..]);
            let mut n = 0;
            while let Ok(Some(f)) = codec.decode(&mut buf) {
                n += f.len();
            }
            black_box(n)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = flow_mod, packet_in, flow_stats_reply, framing
}
criterion_main!(benches);
