//! Per-packet cost of `packet::extract` (flow key extraction) and of a few
//! in-place modifications.

use criterion::{Criterion, criterion_group};
use dataplane::buf::PacketBuf;
use dataplane::modify::{self, SetField};
use dataplane::packet::{Parsed, extract, extract_into};
use std::hint::black_box;

/// A 64-byte Ethernet/IPv4/TCP frame (54 bytes of headers, 10 of payload).
fn tcp4_64() -> Vec<u8> {
    let mut f = vec![
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x08, 0x00,
    ];
    f.extend([
        0x45, 0, 0, 50, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ]);
    f.extend([
        0x04, 0xd2, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
    ]);
    f.resize(64, 0);
    f
}

/// A 78-byte Ethernet/IPv6/UDP frame.
fn udp6() -> Vec<u8> {
    let mut f = vec![
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x86, 0xdd,
    ];
    f.extend([0x60, 0, 0, 0, 0, 16, 17, 64]);
    f.extend([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    f.extend([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    f.extend([0x02, 0x22, 0x02, 0x23, 0, 16, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
    f
}

/// A double-tagged Ethernet/IPv4/UDP frame.
fn qinq_udp4() -> Vec<u8> {
    let mut f = vec![
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
    ];
    f.extend([0x88, 0xa8, 0x20, 0x64, 0x81, 0x00, 0xa0, 0xc8, 0x08, 0x00]);
    f.extend([
        0x45, 0, 0, 36, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ]);
    f.extend([0x13, 0x88, 0x00, 0x35, 0, 16, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
    f
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("extract");
    for (name, f) in [
        ("tcp4_64B", tcp4_64()),
        ("udp6", udp6()),
        ("qinq_udp4", qinq_udp4()),
    ] {
        g.bench_function(name, |b| b.iter(|| extract(black_box(&f), 1, 1, 0, 0)));
        let mut p = Parsed::EMPTY;
        g.bench_function(format!("{name}_into"), |b| {
            b.iter(|| {
                extract_into(&mut p, black_box(&f), 1, 1, 0, 0);
                black_box(&p);
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("modify");
    let f = tcp4_64();
    let mut buf = PacketBuf::new();
    buf.fill(&f);
    g.bench_function("set_ipv4_dst_tcp4", |b| {
        b.iter(|| modify::set_field(black_box(&mut buf), SetField::Ipv4Dst(0x0a00_0003)))
    });
    g.bench_function("dec_nw_ttl_tcp4", |b| {
        b.iter(|| {
            let _ = modify::set_nw_ttl(black_box(&mut buf), 64);
            modify::dec_nw_ttl(black_box(&mut buf))
        })
    });
    g.bench_function("push_pop_vlan_tcp4", |b| {
        b.iter(|| {
            let _ = modify::push_vlan(black_box(&mut buf), 0x8100);
            modify::pop_vlan(black_box(&mut buf))
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}
/// `PARSE_PROBE=N` runs N extractions of each frame and exits, for an
/// instruction count under `valgrind --tool=callgrind` (deterministic,
/// unlike wall time on a shared machine).
fn main() {
    if let Some(n) = std::env::var("PARSE_PROBE")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        let which = std::env::var("PARSE_PROBE_FRAME").unwrap_or_default();
        let f = match which.as_str() {
            "udp6" => udp6(),
            "qinq" => qinq_udp4(),
            _ => tcp4_64(),
        };
        let mut p = Parsed::EMPTY;
        for _ in 0..n {
            extract_into(&mut p, black_box(&f), 1, 1, 0, 0);
            black_box(&p);
        }
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
