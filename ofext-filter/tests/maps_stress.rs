//! Stress tests of the maps under concurrent workers and a controller.
//!
//! Several threads hammer one map: lookups whose pointers are held across
//! other threads' deletes and replacements (and checked afterwards, so a
//! freed-and-reused element would show up as a torn or foreign value),
//! updates, deletes, and atomic increments through lookup pointers whose
//! total must come out exact. Values of churned keys are written only by
//! updates, which replace whole elements in hash maps, so every value read
//! through any pointer must be one self-consistent write.
//!
//! These run thousands of iterations; they are too long for Miri
//! (`cfg_attr(miri, ignore)`), which runs the small unit tests instead.

use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use ofext_filter::maps::{
    BPF_ANY, BPF_EXIST, BPF_NOEXIST, Map, MapDef, MapError, MapType, RunGuard, copy_from_shared,
};

const THREADS: usize = 4;
const ITERS: usize = 20_000;
const MAGIC: u64 = 0x9E37_79B9_7F4A_7C15;
/// First key of the counters (outside the churned range).
const COUNTER_BASE: u64 = 1 << 40;
const COUNTERS: u64 = 8;

/// xorshift64*: deterministic per-thread randomness without a dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(MAGIC) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn def(map_type: MapType, key_size: u32, value_size: u32, max_entries: u32) -> MapDef {
    MapDef {
        name: "stress".into(),
        map_type,
        key_size,
        value_size,
        max_entries,
        flags: 0,
    }
}

/// A 32-byte value that identifies its key and the write that made it.
fn value(key: u64, generation: u64) -> [u8; 32] {
    let mut v = [0; 32];
    for (i, w) in [
        key,
        generation,
        key ^ MAGIC,
        generation ^ MAGIC.rotate_left(17),
    ]
    .into_iter()
    .enumerate()
    {
        v[8 * i..8 * i + 8].copy_from_slice(&w.to_ne_bytes());
    }
    v
}

/// Checks that `bytes` is one whole write of [`value`] for `key`.
fn check(key: u64, bytes: &[u8]) {
    let w: Vec<u64> = bytes
        .chunks_exact(8)
        .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(w[0], key, "value of key {key} names key {}", w[0]);
    assert_eq!(w[2], key ^ MAGIC, "torn or foreign value for key {key}");
    assert_eq!(
        w[3],
        w[1] ^ MAGIC.rotate_left(17),
        "torn value for key {key}"
    );
}

/// Reads 32 value bytes through a lookup pointer.
fn read32(p: std::ptr::NonNull<u8>) -> [u8; 32] {
    let mut out = [0; 32];
    // SAFETY: lookup pointers into these maps point to 32 value bytes, valid
    // while the guard they were obtained under lives (callers hold it).
    unsafe { copy_from_shared(p.as_ptr(), &mut out) };
    out
}

fn counter(p: std::ptr::NonNull<u8>) -> &'static AtomicU64 {
    // SAFETY: 8-byte aligned, at least 8 value bytes; callers use the
    // reference only while their guard lives (the 'static is a test shortcut).
    unsafe { AtomicU64::from_ptr(p.as_ptr().cast()) }
}

#[test]
#[cfg_attr(miri, ignore)]
fn hash_counters_exact_under_churn_and_held_pointers() {
    let map = Map::new(def(MapType::Hash, 8, 32, 512), THREADS).unwrap();
    let churn_keys = 300; // + COUNTERS stays below max_entries: never Full.
    let running = AtomicUsize::new(THREADS);
    let start = Barrier::new(THREADS + 1);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (map, start, running) = (&map, &start, &running);
            s.spawn(move || {
                let mut rng = Rng::new(t as u64 + 1);
                start.wait();
                let mut held = Vec::new();
                let mut guard = RunGuard::enter(t);
                for i in 0..ITERS {
                    // One counter increment per iteration, exactly.
                    let ck = (COUNTER_BASE + rng.below(COUNTERS)).to_ne_bytes();
                    let p = match map.lookup(&ck, &guard) {
                        Some(p) => p,
                        None => {
                            match map.update(&ck, &[0; 32], BPF_NOEXIST, &guard) {
                                Ok(()) | Err(MapError::KeyExists) => {}
                                Err(e) => panic!("counter insert: {e:?}"),
                            }
                            map.lookup(&ck, &guard).expect("counters are never deleted")
                        }
                    };
                    counter(p).fetch_add(1, Relaxed);

                    let k = rng.below(churn_keys);
                    let kb = k.to_ne_bytes();
                    match rng.below(8) {
                        0..=2 => map
                            .update(&kb, &value(k, (t * ITERS + i) as u64), BPF_ANY, &guard)
                            .unwrap(),
                        3 => match map.update(&kb, &value(k, i as u64), BPF_EXIST, &guard) {
                            Ok(()) | Err(MapError::KeyNotFound) => {}
                            Err(e) => panic!("EXIST update: {e:?}"),
                        },
                        4 | 5 => match map.delete(&kb, &guard) {
                            Ok(()) | Err(MapError::KeyNotFound) => {}
                            Err(e) => panic!("delete: {e:?}"),
                        },
                        _ => {
                            if let Some(p) = map.lookup(&kb, &guard) {
                                check(k, &read32(p));
                                held.push((k, p));
                            }
                        }
                    }
                    // Pointers held across many operations of every thread
                    // must still read their (possibly detached) values.
                    if i % 32 == 31 {
                        for (k, p) in held.drain(..) {
                            check(k, &read32(p));
                        }
                        drop(guard);
                        guard = RunGuard::enter(t);
                    }
                }
                for (k, p) in held.drain(..) {
                    check(k, &read32(p));
                }
                running.fetch_sub(1, Relaxed);
            });
        }
        // The agent: dumps and controller lookups while the workers run.
        let (map, running, start) = (&map, &running, &start);
        s.spawn(move || {
            start.wait();
            // At least one round, then until every worker is done.
            loop {
                for (k, v) in map.dump() {
                    let k = u64::from_ne_bytes(k.try_into().unwrap());
                    if k < COUNTER_BASE {
                        check(k, &v);
                    }
                }
                if let Some(v) = map.lookup_copy(&7u64.to_ne_bytes()).unwrap() {
                    check(7, &v);
                }
                assert!(map.len() <= 512);
                if running.load(Relaxed) == 0 {
                    break;
                }
            }
        });
    });

    let total: u64 = (0..COUNTERS)
        .filter_map(|c| map.lookup_copy(&(COUNTER_BASE + c).to_ne_bytes()).unwrap())
        .map(|v| u64::from_ne_bytes(v[..8].try_into().unwrap()))
        .sum();
    assert_eq!(total, (THREADS * ITERS) as u64);
    let dump = map.dump();
    assert_eq!(dump.len(), map.len());
    for (k, v) in dump {
        let k = u64::from_ne_bytes(k.try_into().unwrap());
        if k < COUNTER_BASE {
            check(k, &v);
        }
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn lru_evicts_under_contention_without_losing_consistency() {
    const MAX: u32 = 64;
    let map = Map::new(def(MapType::LruHash, 8, 32, MAX), THREADS).unwrap();
    let start = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (map, start) = (&map, &start);
            s.spawn(move || {
                let mut rng = Rng::new(100 + t as u64);
                start.wait();
                let mut held = Vec::new();
                let mut guard = RunGuard::enter(t);
                for i in 0..ITERS {
                    // Skewed keys so that some stay hot and survive eviction.
                    let k = if rng.below(2) == 0 {
                        rng.below(16)
                    } else {
                        rng.below(1000)
                    };
                    let kb = k.to_ne_bytes();
                    match rng.below(10) {
                        0..=3 => map
                            .update(&kb, &value(k, (t * ITERS + i) as u64), BPF_ANY, &guard)
                            .unwrap(),
                        4 => match map.update(&kb, &value(k, 1), BPF_NOEXIST, &guard) {
                            Ok(()) | Err(MapError::KeyExists) => {}
                            Err(e) => panic!("NOEXIST update: {e:?}"),
                        },
                        5 => match map.delete(&kb, &guard) {
                            Ok(()) | Err(MapError::KeyNotFound) => {}
                            Err(e) => panic!("delete: {e:?}"),
                        },
                        _ => {
                            if let Some(p) = map.lookup(&kb, &guard) {
                                check(k, &read32(p));
                                held.push((k, p));
                            }
                        }
                    }
                    if i % 16 == 15 {
                        assert!(map.len() <= MAX as usize);
                        for (k, p) in held.drain(..) {
                            check(k, &read32(p));
                        }
                        drop(guard);
                        guard = RunGuard::enter(t);
                    }
                }
                for (k, p) in held.drain(..) {
                    check(k, &read32(p));
                }
            });
        }
    });
    let dump = map.dump();
    assert_eq!(dump.len(), map.len());
    assert!(!dump.is_empty() && dump.len() <= MAX as usize);
    for (k, v) in dump {
        check(u64::from_ne_bytes(k.try_into().unwrap()), &v);
    }
    // After the storm the map still works as an LRU: a full map accepts new
    // keys, and the key just written is present.
    let g = RunGuard::enter(0);
    for k in 5000..5000 + u64::from(MAX) * 2 {
        map.update(&k.to_ne_bytes(), &value(k, 0), BPF_NOEXIST, &g)
            .unwrap();
        assert_eq!(
            map.lookup_copy(&k.to_ne_bytes()).unwrap(),
            Some(value(k, 0).to_vec())
        );
    }
    assert_eq!(map.len(), MAX as usize);
}

#[test]
#[cfg_attr(miri, ignore)]
fn percpu_slots_need_no_atomics_between_workers() {
    for map_type in [MapType::PercpuHash, MapType::PercpuArray] {
        let map = Map::new(def(map_type, 4, 8, 4), THREADS).unwrap();
        let key = 1u32.to_le_bytes();
        if map_type == MapType::PercpuHash {
            map.update_from_controller(&key, &[0; 8], BPF_NOEXIST)
                .unwrap();
        }
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let map = &map;
                s.spawn(move || {
                    for _ in 0..ITERS {
                        let g = RunGuard::enter(t);
                        // A plain read-modify-write (as a program without
                        // atomics would do): exact only if no other worker
                        // shares the slot.
                        let c = counter(map.lookup(&key, &g).unwrap());
                        c.store(c.load(Relaxed) + 1 + t as u64, Relaxed);
                    }
                });
            }
        });
        let v = map.lookup_copy(&key).unwrap().unwrap();
        assert_eq!(v.len(), 8 * THREADS);
        for (t, slot) in v.chunks_exact(8).enumerate() {
            let got = u64::from_ne_bytes(slot.try_into().unwrap());
            assert_eq!(got, (ITERS * (1 + t)) as u64, "{map_type:?} cpu {t}");
        }
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn array_atomic_counters_exact_with_controller_traffic() {
    let map = Map::new(def(MapType::Array, 4, 8, 16), THREADS).unwrap();
    let start = Barrier::new(THREADS + 1);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (map, start) = (&map, &start);
            s.spawn(move || {
                let mut rng = Rng::new(7 + t as u64);
                start.wait();
                for _ in 0..ITERS {
                    let g = RunGuard::enter(t);
                    let idx = rng.below(8) as u32;
                    counter(map.lookup(&idx.to_le_bytes(), &g).unwrap()).fetch_add(1, Relaxed);
                }
            });
        }
        let (map, start) = (&map, &start);
        s.spawn(move || {
            start.wait();
            // The controller writes indexes 8.. and reads everything.
            for i in 0..2000u64 {
                let idx = 8 + (i % 8) as u32;
                map.update_from_controller(&idx.to_le_bytes(), &i.to_ne_bytes(), BPF_EXIST)
                    .unwrap();
                assert_eq!(map.dump().len(), 16);
            }
        });
    });
    let total: u64 = (0..8u32)
        .map(|i| map.lookup_copy(&i.to_le_bytes()).unwrap().unwrap())
        .map(|v| u64::from_ne_bytes(v.try_into().unwrap()))
        .sum();
    assert_eq!(total, (THREADS * ITERS) as u64);
}

/// Resident set size in bytes.
#[cfg(target_os = "linux")]
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// A worker that replaces an element per packet and pins once per batch
/// retires garbage faster than crossbeam-epoch's periodic collection frees
/// it; the map's own collection steps must keep memory bounded (without
/// them this loop grows by ~100 bytes per update, ~60 MiB here).
///
/// Under AddressSanitizer run it with `ASAN_OPTIONS=quarantine_size_mb=0`:
/// the quarantine keeps freed memory resident on purpose.
#[test]
#[cfg(target_os = "linux")]
#[cfg_attr(miri, ignore)]
fn replacing_updates_do_not_accumulate_garbage() {
    let map = Map::new(def(MapType::Hash, 8, 8, 1024), 1).unwrap();
    let run = |n: u64| {
        let mut i = 0;
        while i < n {
            let g = RunGuard::enter(0);
            for _ in 0..64 {
                map.update(&(i % 1024).to_ne_bytes(), &i.to_ne_bytes(), BPF_ANY, &g)
                    .unwrap();
                i += 1;
            }
        }
    };
    run(50_000);
    let before = rss();
    run(600_000);
    let grown = rss().saturating_sub(before);
    assert!(grown < 24 << 20, "RSS grew by {grown} bytes");
}
