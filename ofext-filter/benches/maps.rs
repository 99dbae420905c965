//! Map hot paths: program-side lookup and update, from one and two threads.
//!
//! HASH: 64 Ki elements, 16-byte keys, 8-byte values, keys visited in a
//! shuffled order (so most lookups miss the L1/L2 caches, as with real flows).
//! ARRAY: 64 Ki 8-byte values. The two-thread variants run the same loop on
//! two workers at once and report wall time per operation per thread: equal to
//! the one-thread number when the map scales perfectly.
//!
//! A `RunGuard` is re-entered every 64 operations, as a worker would per
//! packet batch (it also lets replaced elements be reclaimed).
//!
//! Run briefly: `cargo bench -p ofext-filter --bench maps`.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ofext_filter::maps::{BPF_ANY, Map, MapDef, MapType, RunGuard};

const N: u32 = 64 * 1024;
const BATCH: u64 = 64;

fn def(map_type: MapType, key_size: u32) -> MapDef {
    MapDef {
        name: "bench".into(),
        map_type,
        key_size,
        value_size: 8,
        max_entries: N,
        flags: 0,
    }
}

/// Keys in a fixed pseudo-random order (a bijection of 0..N).
fn order() -> Vec<u32> {
    (0..N).map(|i| i.wrapping_mul(40_503) % N).collect()
}

fn hash_key(i: u32) -> [u8; 16] {
    let mut k = [0; 16];
    k[..8].copy_from_slice(&u64::from(i).to_ne_bytes());
    k[8..].copy_from_slice(&(u64::from(i) ^ 0x5555_AAAA).to_ne_bytes());
    k
}

fn hash_map(threads: usize) -> (Map, Vec<[u8; 16]>) {
    let map = Map::new(def(MapType::Hash, 16), threads).unwrap();
    // Insert in index order, visit in shuffled order: elements are not laid
    // out in visiting order, so the prefetcher cannot help.
    for i in 0..N {
        map.update_from_controller(&hash_key(i), &[1; 8], BPF_ANY)
            .unwrap();
    }
    (map, order().into_iter().map(hash_key).collect())
}

fn array_map(threads: usize) -> (Map, Vec<[u8; 4]>) {
    let map = Map::new(def(MapType::Array, 4), threads).unwrap();
    (map, order().into_iter().map(u32::to_le_bytes).collect())
}

/// Runs `op` `iters` times on each of `threads` threads (worker index, key
/// index); returns the slowest thread's time.
fn run<F>(threads: usize, iters: u64, op: F) -> Duration
where
    F: Fn(&RunGuard, usize) + Sync,
{
    let start = Barrier::new(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (op, start) = (&op, &start);
                s.spawn(move || {
                    start.wait();
                    let t0 = Instant::now();
                    let mut i = t * 7919;
                    let mut done = 0;
                    while done < iters {
                        let g = RunGuard::enter(t);
                        for _ in 0..BATCH.min(iters - done) {
                            op(&g, i);
                            i = i.wrapping_add(1);
                        }
                        done += BATCH.min(iters - done);
                    }
                    t0.elapsed()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .max()
            .unwrap()
    })
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("maps");
    g.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(10);

    g.bench_function("run_guard_enter", |b| {
        b.iter(|| black_box(RunGuard::enter(0)))
    });

    for threads in [1, 2] {
        let (map, keys) = hash_map(threads);
        g.bench_function(format!("hash_lookup_{threads}t"), |b| {
            b.iter_custom(|iters| {
                run(threads, iters, |guard, i| {
                    black_box(map.lookup(&keys[i % keys.len()], guard));
                })
            })
        });
        g.bench_function(format!("hash_update_existing_{threads}t"), |b| {
            b.iter_custom(|iters| {
                run(threads, iters, |guard, i| {
                    let v = (i as u64).to_ne_bytes();
                    black_box(map.update(&keys[i % keys.len()], &v, BPF_ANY, guard)).unwrap();
                })
            })
        });

        let (map, keys) = array_map(threads);
        g.bench_function(format!("array_lookup_{threads}t"), |b| {
            b.iter_custom(|iters| {
                run(threads, iters, |guard, i| {
                    black_box(map.lookup(&keys[i % keys.len()], guard));
                })
            })
        });
        g.bench_function(format!("array_update_{threads}t"), |b| {
            b.iter_custom(|iters| {
                run(threads, iters, |guard, i| {
                    let v = (i as u64).to_ne_bytes();
                    black_box(map.update(&keys[i % keys.len()], &v, BPF_ANY, guard)).unwrap();
                })
            })
        });
    }

    // LRU at capacity: every insert of a new key evicts.
    let lru = Map::new(def(MapType::LruHash, 16), 1).unwrap();
    let mut next = 0u32;
    g.bench_function("lru_insert_evicting_1t", |b| {
        b.iter_custom(|iters| {
            let t0 = Instant::now();
            let mut done = 0;
            while done < iters {
                let guard = RunGuard::enter(0);
                for _ in 0..BATCH.min(iters - done) {
                    lru.update(&hash_key(next), &[2; 8], BPF_ANY, &guard)
                        .unwrap();
                    next = next.wrapping_add(1);
                }
                done += BATCH.min(iters - done);
            }
            t0.elapsed()
        })
    });
    g.finish();
}

criterion_group!(maps, benches);
criterion_main!(maps);
