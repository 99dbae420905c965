//! Parse/emit throughput of a typical FLOW_MOD (5 OXM fields, 3 actions) and
//! framing throughput of `OfCodec`.
//!
//! Targets: parse ≥ 5 M msg/s, emit ≥ 10 M msg/s on one core.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use openflow::codec::OfCodec;
use openflow::message::Message;
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
    targets = flow_mod, framing
}
criterion_main!(benches);
