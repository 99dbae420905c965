//! Per-packet cost of groups and meters.
//!
//! - `group/select_16`: SELECT over 16 weighted buckets (flow hash + one
//!   slot lookup), cycling through 1024 flows.
//! - `group/ff_apply`: FAST_FAILOVER selection plus counting.
//! - `meter/pktps_1band` and `meter/kbps_2bands`: one packet through a
//!   meter from one thread (one CAS per band consulted, uncontended).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dataplane::group::{BucketSpec, GroupSpec, GroupTableBuilder, GroupView, LivePorts};
use dataplane::key::{FlowKey, field};
use dataplane::meter::Meter;
use openflow::group::{group_id, group_type};
use openflow::meter::{MeterBand, meter_flags};
use openflow::port::port_no;

fn keys() -> Vec<FlowKey> {
    (0..1024u64)
        .map(|i| {
            let mut k = FlowKey::new();
            k.set(field::ETH_TYPE, 0x0800);
            k.set(field::IP_PROTO, 6);
            k.set(field::IPV4_SRC, 0x0a00_0000 | i);
            k.set(field::TP_SRC, 1000 + i);
            k
        })
        .collect()
}

fn groups(c: &mut Criterion) {
    let bucket = |weight, watch_port| BucketSpec {
        weight,
        watch_port,
        watch_group: group_id::ANY,
        chained: vec![],
        payload: (),
    };
    let mut b = GroupTableBuilder::new(1, Instant::now());
    b.insert(GroupSpec {
        group_id: 1,
        group_type: group_type::SELECT,
        buckets: (1..=16).map(|w| bucket(w, port_no::ANY)).collect(),
        counters: None,
    })
    .unwrap();
    b.insert(GroupSpec {
        group_id: 2,
        group_type: group_type::FF,
        buckets: (1..=4).map(|p| bucket(0, p)).collect(),
        counters: None,
    })
    .unwrap();
    let mut ports = LivePorts::new();
    ports.set(3, true);
    let view = GroupView::new(Arc::new(b.build().unwrap()), &ports);
    let keys = keys();
    let mut g = c.benchmark_group("group");
    g.throughput(Throughput::Elements(keys.len() as u64));
    g.bench_function("select_16", |b| {
        b.iter(|| {
            for k in &keys {
                black_box(view.select(1, black_box(k)).map(|s| s.len()));
            }
        })
    });
    g.bench_function("ff_apply", |b| {
        b.iter(|| {
            for k in &keys {
                black_box(view.apply(0, 2, black_box(k), 64).map(|s| s.len()));
            }
        })
    });
    g.finish();
}

fn meters(c: &mut Criterion) {
    let one = Meter::new(
        1,
        meter_flags::PKTPS | meter_flags::STATS,
        &[MeterBand::Drop {
            rate: 1_000_000,
            burst_size: 0,
        }],
        1,
        Instant::now(),
    )
    .unwrap();
    let two = Meter::new(
        2,
        meter_flags::KBPS | meter_flags::STATS,
        &[
            MeterBand::Drop {
                rate: 10_000_000,
                burst_size: 0,
            },
            MeterBand::DscpRemark {
                rate: 1_000_000,
                burst_size: 0,
                prec_level: 1,
            },
        ],
        1,
        Instant::now(),
    )
    .unwrap();
    let mut g = c.benchmark_group("meter");
    g.throughput(Throughput::Elements(1));
    let mut t = 0u64;
    g.bench_function("pktps_1band", |b| {
        b.iter(|| {
            t += 500;
            black_box(one.apply(0, t, 64))
        })
    });
    g.bench_function("kbps_2bands", |b| {
        b.iter(|| {
            t += 500;
            black_box(two.apply(0, t, 1500))
        })
    });
    g.finish();
}

criterion_group!(benches, groups, meters);
criterion_main!(benches);
