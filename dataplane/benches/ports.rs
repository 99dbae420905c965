//! Port overhead without a pipeline: frames replayed from an in-memory
//! trace through `rx_batch` (one copy into a pool buffer each, as a NIC
//! would) and `tx_batch` into a null sink (touch, return to the pool).
//!
//! - `mem_replay_null/64B` and `/1514B`: 32-frame batches of minimum- and
//!   full-size frames; throughput is in frames (elements) per second.
//! - `mem_ring/64B`: the harness path: inject onto the ring, rx, tx onto the
//!   output ring, drain it.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dataplane::buf::BufPool;
use dataplane::port::mem::{MemConfig, MemPort};
use dataplane::port::{MAX_BATCH, Port};

fn trace(len: usize) -> Vec<Vec<u8>> {
    (0..1024u32)
        .map(|i| {
            let mut f = vec![0u8; len];
            f[..4].copy_from_slice(&i.to_be_bytes());
            f[12..14].copy_from_slice(&[0x08, 0x00]);
            f
        })
        .collect()
}

fn replay_null(c: &mut Criterion) {
    let mut g = c.benchmark_group("mem_replay_null");
    for len in [64usize, 1514] {
        let (mut m, _h) = MemPort::new("bench", &MemConfig::default());
        m.set_replay(&trace(len), None);
        m.set_null_sink();
        let mut port = Port::Mem(m);
        let mut pool = BufPool::with_capacity(2 * MAX_BATCH);
        let mut batch = Vec::with_capacity(MAX_BATCH);
        g.throughput(Throughput::Elements(MAX_BATCH as u64));
        g.bench_function(format!("{len}B"), |b| {
            b.iter(|| {
                let n = port.rx_batch(&mut pool, &mut batch, MAX_BATCH);
                port.tx_batch(&mut batch, &mut pool);
                black_box(n)
            })
        });
        let Port::Mem(m) = &port else { unreachable!() };
        black_box(m.null_sink_checksum());
    }
    g.finish();
}

fn ring(c: &mut Criterion) {
    let mut g = c.benchmark_group("mem_ring");
    let (m, h) = MemPort::new("bench", &MemConfig::default());
    let mut port = Port::Mem(m);
    let mut pool = BufPool::with_capacity(2 * MAX_BATCH);
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let frames = trace(64);
    g.throughput(Throughput::Elements(MAX_BATCH as u64));
    g.bench_function("64B", |b| {
        b.iter(|| {
            for f in &frames[..MAX_BATCH] {
                h.inject(f);
            }
            port.rx_batch(&mut pool, &mut batch, MAX_BATCH);
            port.tx_batch(&mut batch, &mut pool);
            for out in h.drain() {
                pool.put(out);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, replay_null, ring);
criterion_main!(benches);
