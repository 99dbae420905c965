//! Unit tests. Except those marked `cfg_attr(miri, ignore)` they are small
//! and single-threaded or lightly threaded, so they suit Miri (which checks
//! the raw-pointer, provenance and reclamation code in `hash.rs`).

use super::*;
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};
use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;

fn def(map_type: MapType, key_size: u32, value_size: u32, max_entries: u32) -> MapDef {
    MapDef {
        name: "m".into(),
        map_type,
        key_size,
        value_size,
        max_entries,
        flags: 0,
    }
}

fn map(map_type: MapType, key_size: u32, value_size: u32, max_entries: u32) -> Map {
    Map::new(def(map_type, key_size, value_size, max_entries), 1).unwrap()
}

/// Reads `len` bytes through a lookup pointer.
fn read(p: NonNull<u8>, len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    // SAFETY: `p` came from a lookup under a guard the caller still holds, and
    // points to at least `len` value bytes.
    unsafe { copy_from_shared(p.as_ptr(), &mut out) };
    out
}

/// The `u64` at a lookup pointer, as a program's atomic would see it.
fn word(p: NonNull<u8>) -> &'static AtomicU64 {
    // SAFETY: lookup pointers are 8-byte aligned and point to at least 8
    // value bytes in the maps these tests use; the tests keep their guard
    // alive while using the reference (the 'static is a test shortcut).
    unsafe { AtomicU64::from_ptr(p.as_ptr().cast()) }
}

fn k32(i: u32) -> [u8; 4] {
    i.to_le_bytes()
}

#[test]
fn map_type_numbers_round_trip() {
    for t in [
        MapType::Hash,
        MapType::Array,
        MapType::PercpuHash,
        MapType::PercpuArray,
        MapType::LruHash,
    ] {
        assert_eq!(MapType::from_linux(t.linux()), Some(t));
    }
    for n in [0, 3, 4, 7, 8, 10, 27] {
        assert_eq!(MapType::from_linux(n), None);
    }
    assert_eq!(MapType::LruHash.linux(), 9);
}

#[test]
fn new_validates_definition() {
    let bad = [
        (def(MapType::Hash, 0, 8, 16), 1),
        (def(MapType::Hash, 8, 0, 16), 1),
        (def(MapType::Hash, 8, 8, 0), 1),
        (def(MapType::Hash, MAX_KEY_SIZE + 1, 8, 16), 1),
        (def(MapType::Hash, 8, MAX_VALUE_SIZE + 1, 16), 1),
        (def(MapType::Array, 8, 8, 16), 1),
        (def(MapType::PercpuArray, 2, 8, 16), 1),
        (def(MapType::Hash, 8, 8, 16), 0),
        (def(MapType::Hash, 8, 8, 16), MAX_CPUS + 1),
        // 4G entries: far beyond the memory bound.
        (def(MapType::Hash, 8, 8, u32::MAX), 1),
        (def(MapType::Array, 4, MAX_VALUE_SIZE, 1 << 20), 1),
        (def(MapType::PercpuArray, 4, 1024, 1 << 16), 64),
    ];
    for (d, cpus) in bad {
        assert_eq!(
            Map::new(d.clone(), cpus).err(),
            Some(MapError::Invalid),
            "{d:?} x{cpus}"
        );
    }
    let good = [
        def(MapType::Hash, MAX_KEY_SIZE, MAX_VALUE_SIZE, 4),
        def(MapType::Array, 4, 1, 1),
        def(MapType::LruHash, 1, 1, 1),
        def(MapType::PercpuHash, 3, 5, 7),
    ];
    for d in good {
        let m = Map::new(d.clone(), 2).unwrap();
        assert_eq!(m.def(), &d);
        assert_eq!(m.n_cpus(), 2);
    }
}

#[test]
fn flags_other_than_any_noexist_exist_are_invalid() {
    let g = RunGuard::enter(0);
    for t in [
        MapType::Hash,
        MapType::Array,
        MapType::LruHash,
        MapType::PercpuHash,
    ] {
        let m = map(t, 4, 8, 4);
        for flags in [3, 4, 8, u64::MAX] {
            assert_eq!(
                m.update(&k32(1), &[0; 8], flags, &g),
                Err(MapError::Invalid)
            );
            assert_eq!(
                m.update_from_controller(&k32(1), &[0; 8], flags),
                Err(MapError::Invalid)
            );
        }
    }
}

#[test]
fn hash_flags_semantics() {
    let m = map(MapType::Hash, 4, 8, 4);
    let g = RunGuard::enter(0);
    let key = k32(7);
    assert!(m.lookup(&key, &g).is_none());
    assert_eq!(
        m.update(&key, &1u64.to_ne_bytes(), BPF_EXIST, &g),
        Err(MapError::KeyNotFound)
    );
    assert!(m.is_empty());
    m.update(&key, &1u64.to_ne_bytes(), BPF_NOEXIST, &g)
        .unwrap();
    assert_eq!(
        m.update(&key, &2u64.to_ne_bytes(), BPF_NOEXIST, &g),
        Err(MapError::KeyExists)
    );
    assert_eq!(word(m.lookup(&key, &g).unwrap()).load(Relaxed), 1);
    m.update(&key, &3u64.to_ne_bytes(), BPF_EXIST, &g).unwrap();
    assert_eq!(word(m.lookup(&key, &g).unwrap()).load(Relaxed), 3);
    m.update(&key, &4u64.to_ne_bytes(), BPF_ANY, &g).unwrap();
    assert_eq!(m.lookup_copy(&key), Ok(Some(4u64.to_ne_bytes().to_vec())));
    assert_eq!(m.len(), 1);
    m.delete(&key, &g).unwrap();
    assert_eq!(m.delete(&key, &g), Err(MapError::KeyNotFound));
    assert!(m.lookup(&key, &g).is_none());
    assert_eq!(m.lookup_copy(&key), Ok(None));
    assert!(m.is_empty());
}

#[test]
fn hash_full_refuses_new_keys_but_accepts_replacements() {
    for t in [MapType::Hash, MapType::PercpuHash] {
        let m = map(t, 4, 4, 3);
        let g = RunGuard::enter(0);
        for i in 0..3 {
            m.update(&k32(i), &k32(i), BPF_ANY, &g).unwrap();
        }
        assert_eq!(m.update(&k32(9), &k32(9), BPF_ANY, &g), Err(MapError::Full));
        assert_eq!(
            m.update(&k32(9), &k32(9), BPF_NOEXIST, &g),
            Err(MapError::Full)
        );
        assert_eq!(
            m.update_from_controller(&k32(9), &k32(9), BPF_ANY),
            Err(MapError::Full)
        );
        m.update(&k32(1), &k32(11), BPF_ANY, &g).unwrap();
        m.update(&k32(1), &k32(12), BPF_EXIST, &g).unwrap();
        assert_eq!(m.len(), 3);
        m.delete(&k32(0), &g).unwrap();
        m.update(&k32(9), &k32(9), BPF_NOEXIST, &g).unwrap();
        assert_eq!(m.len(), 3);
        let mut keys = m.dump();
        keys.sort();
        assert_eq!(
            keys,
            vec![
                (k32(1).to_vec(), k32(12).to_vec()),
                (k32(2).to_vec(), k32(2).to_vec()),
                (k32(9).to_vec(), k32(9).to_vec()),
            ]
        );
    }
}

#[test]
fn wrong_sizes_are_typed_errors() {
    let m = map(MapType::Hash, 4, 8, 4);
    let g = RunGuard::enter(0);
    let key_err = MapError::KeySize {
        expected: 4,
        got: 3,
    };
    assert_eq!(m.update(&[1, 2, 3], &[0; 8], BPF_ANY, &g), Err(key_err));
    assert_eq!(m.delete(&[1, 2, 3], &g), Err(key_err));
    assert_eq!(m.lookup_copy(&[1, 2, 3]), Err(key_err));
    assert_eq!(
        m.update_from_controller(&[1, 2, 3], &[0; 8], 0),
        Err(key_err)
    );
    assert_eq!(m.delete_from_controller(&[1, 2, 3]), Err(key_err));
    assert!(m.lookup(&[1, 2, 3], &g).is_none());
    let value_err = MapError::ValueSize {
        expected: 8,
        got: 7,
    };
    assert_eq!(m.update(&k32(1), &[0; 7], BPF_ANY, &g), Err(value_err));
    assert_eq!(
        m.update_from_controller(&k32(1), &[0; 7], 0),
        Err(value_err)
    );
    // Per-CPU: value_size and n_cpus * value_size are both accepted, nothing else.
    let p = Map::new(def(MapType::PercpuHash, 4, 8, 4), 3).unwrap();
    assert_eq!(
        p.update_from_controller(&k32(1), &[0; 16], 0),
        Err(MapError::ValueSize {
            expected: 8,
            got: 16
        })
    );
    p.update_from_controller(&k32(1), &[0; 8], 0).unwrap();
    p.update_from_controller(&k32(1), &[0; 24], 0).unwrap();
    assert!(m.is_empty());
}

#[test]
fn errno_values_are_linux() {
    assert_eq!(MapError::KeyNotFound.errno(), 2);
    assert_eq!(MapError::KeyExists.errno(), 17);
    assert_eq!(MapError::Full.errno(), 7);
    assert_eq!(MapError::Invalid.errno(), 22);
    assert_eq!(
        MapError::KeySize {
            expected: 1,
            got: 2
        }
        .errno(),
        22
    );
    assert_eq!(
        MapError::ValueSize {
            expected: 1,
            got: 2
        }
        .errno(),
        22
    );
}

#[test]
fn array_semantics() {
    let m = map(MapType::Array, 4, 12, 4);
    let g = RunGuard::enter(0);
    assert_eq!(m.len(), 4);
    for i in 0..4 {
        assert_eq!(read(m.lookup(&k32(i), &g).unwrap(), 12), vec![0; 12]);
    }
    assert!(m.lookup(&k32(4), &g).is_none());
    assert!(m.lookup(&k32(u32::MAX), &g).is_none());
    let v: Vec<u8> = (1..=12).collect();
    m.update(&k32(2), &v, BPF_ANY, &g).unwrap();
    assert_eq!(read(m.lookup(&k32(2), &g).unwrap(), 12), v);
    assert_eq!(
        m.update(&k32(2), &v, BPF_NOEXIST, &g),
        Err(MapError::KeyExists)
    );
    assert_eq!(
        m.update(&k32(0), &v, BPF_NOEXIST, &g),
        Err(MapError::KeyExists)
    );
    m.update(&k32(3), &v, BPF_EXIST, &g).unwrap();
    assert_eq!(m.update(&k32(4), &v, BPF_ANY, &g), Err(MapError::Full));
    assert_eq!(
        m.update_from_controller(&k32(9), &v, 0),
        Err(MapError::Full)
    );
    assert_eq!(m.delete(&k32(2), &g), Err(MapError::Invalid));
    assert_eq!(m.delete_from_controller(&k32(2)), Err(MapError::Invalid));
    assert_eq!(m.lookup_copy(&k32(4)), Ok(None));
    assert_eq!(m.lookup_copy(&k32(3)), Ok(Some(v.clone())));
    let dump = m.dump();
    assert_eq!(
        dump,
        vec![
            (k32(0).to_vec(), vec![0; 12]),
            (k32(1).to_vec(), vec![0; 12]),
            (k32(2).to_vec(), v.clone()),
            (k32(3).to_vec(), v.clone()),
        ]
    );
    // In place: a pointer taken before an update sees it.
    let p = m.lookup(&k32(1), &g).unwrap();
    m.update_from_controller(&k32(1), &v, BPF_EXIST).unwrap();
    assert_eq!(read(p, 12), v);
    m.clear();
    assert_eq!(read(p, 12), vec![0; 12]);
    assert_eq!(m.len(), 4);
}

#[test]
fn array_keys_are_little_endian() {
    let m = map(MapType::Array, 4, 8, 300);
    let g = RunGuard::enter(0);
    m.update_from_controller(&[0x01, 0x01, 0, 0], &[7; 8], 0)
        .unwrap();
    assert_eq!(read(m.lookup(&k32(257), &g).unwrap(), 8), vec![7; 8]);
}

#[test]
fn values_are_8_byte_aligned() {
    let g = RunGuard::enter(1);
    for t in [
        MapType::Hash,
        MapType::Array,
        MapType::PercpuHash,
        MapType::PercpuArray,
        MapType::LruHash,
    ] {
        let key_size = if t.is_array() { 4 } else { 3 };
        let m = Map::new(def(t, key_size, 5, 8), 3).unwrap();
        for i in 0..8u32 {
            let key = &k32(i)[..key_size as usize];
            m.update(key, &[1, 2, 3, 4, 5], BPF_ANY, &g).unwrap();
            let p = m.lookup(key, &g).unwrap();
            assert_eq!(p.as_ptr() as usize % 8, 0, "{t:?}");
            assert_eq!(read(p, 5), vec![1, 2, 3, 4, 5]);
        }
    }
}

#[test]
fn atomics_through_lookup_pointer_are_visible_to_the_controller() {
    let m = map(MapType::Hash, 4, 16, 4);
    let g = RunGuard::enter(0);
    m.update(&k32(1), &[0; 16], BPF_ANY, &g).unwrap();
    let p = m.lookup(&k32(1), &g).unwrap();
    word(p).fetch_add(5, Relaxed);
    // A 32-bit atomic at offset 8, as a program's `lock xadd w` would do.
    // SAFETY: offset 8 is inside the 16-byte value and 4-byte aligned.
    let hi = unsafe { AtomicU32::from_ptr(p.as_ptr().add(8).cast()) };
    hi.fetch_add(3, Relaxed);
    let mut want = 5u64.to_ne_bytes().to_vec();
    want.extend_from_slice(&3u32.to_ne_bytes());
    want.extend_from_slice(&[0; 4]);
    assert_eq!(m.lookup_copy(&k32(1)), Ok(Some(want)));
}

#[test]
fn pointer_survives_delete_replace_clear_and_drop_while_guard_lives() {
    let m = map(MapType::Hash, 4, 8, 4);
    let g = RunGuard::enter(0);
    m.update(&k32(1), &[1; 8], BPF_ANY, &g).unwrap();
    m.update(&k32(2), &[2; 8], BPF_ANY, &g).unwrap();
    m.update(&k32(3), &[3; 8], BPF_ANY, &g).unwrap();
    let p1 = m.lookup(&k32(1), &g).unwrap();
    let p2 = m.lookup(&k32(2), &g).unwrap();
    let p3 = m.lookup(&k32(3), &g).unwrap();
    m.delete_from_controller(&k32(1)).unwrap();
    m.update_from_controller(&k32(2), &[9; 8], BPF_ANY).unwrap();
    // The detached values are still readable and writable.
    assert_eq!(read(p1, 8), vec![1; 8]);
    assert_eq!(read(p2, 8), vec![2; 8]);
    word(p1).fetch_add(1, Relaxed);
    // Replacing makes a new element: writes through the old pointer are lost.
    word(p2).store(0, Relaxed);
    assert_eq!(m.lookup_copy(&k32(2)), Ok(Some(vec![9; 8])));
    m.clear();
    assert!(m.is_empty());
    assert_eq!(read(p3, 8), vec![3; 8]);
    let a = map(MapType::Array, 4, 8, 2);
    a.update(&k32(1), &[4; 8], BPF_ANY, &g).unwrap();
    let pa = a.lookup(&k32(1), &g).unwrap();
    m.update(&k32(5), &[5; 8], BPF_ANY, &g).unwrap();
    let p5 = m.lookup(&k32(5), &g).unwrap();
    drop(m);
    drop(a);
    assert_eq!(read(p5, 8), vec![5; 8]);
    assert_eq!(read(pa, 8), vec![4; 8]);
    drop(g);
}

#[test]
fn percpu_array_slots_are_isolated() {
    let m = Map::new(def(MapType::PercpuArray, 4, 4, 2), 3).unwrap();
    assert_eq!(m.export_value_size(), 12);
    let g0 = RunGuard::enter(0);
    let g2 = RunGuard::enter(2);
    m.update(&k32(1), &[7; 4], BPF_ANY, &g2).unwrap();
    assert_eq!(read(m.lookup(&k32(1), &g0).unwrap(), 4), vec![0; 4]);
    assert_eq!(read(m.lookup(&k32(1), &g2).unwrap(), 4), vec![7; 4]);
    word_u32(m.lookup(&k32(1), &g0).unwrap()).fetch_add(1, Relaxed);
    let mut want = 1u32.to_ne_bytes().to_vec();
    want.extend_from_slice(&[0; 4]);
    want.extend_from_slice(&[7; 4]);
    assert_eq!(m.lookup_copy(&k32(1)), Ok(Some(want)));
    // The pointers of different CPUs are different memory.
    assert_ne!(m.lookup(&k32(1), &g0), m.lookup(&k32(1), &g2));
    // Controller: one value → every slot; n_cpus values → one each.
    m.update_from_controller(&k32(0), &[5; 4], 0).unwrap();
    assert_eq!(m.lookup_copy(&k32(0)), Ok(Some(vec![5; 12])));
    let each: Vec<u8> = (0..12).collect();
    m.update_from_controller(&k32(0), &each, 0).unwrap();
    assert_eq!(read(m.lookup(&k32(0), &g2).unwrap(), 4), vec![8, 9, 10, 11]);
    assert_eq!(m.dump()[0], (k32(0).to_vec(), each));
    // A worker index beyond n_cpus gets nothing.
    let g9 = RunGuard::enter(9);
    assert!(m.lookup(&k32(0), &g9).is_none());
    assert_eq!(
        m.update(&k32(0), &[0; 4], BPF_ANY, &g9),
        Err(MapError::Invalid)
    );
}

fn word_u32(p: NonNull<u8>) -> &'static AtomicU32 {
    // SAFETY: as for `word`, with 4 bytes.
    unsafe { AtomicU32::from_ptr(p.as_ptr().cast()) }
}

#[test]
fn percpu_hash_slots_are_isolated_and_updated_in_place() {
    let m = Map::new(def(MapType::PercpuHash, 4, 8, 4), 2).unwrap();
    let g0 = RunGuard::enter(0);
    let g1 = RunGuard::enter(1);
    m.update(&k32(1), &[1; 8], BPF_NOEXIST, &g1).unwrap();
    let p0 = m.lookup(&k32(1), &g0).unwrap();
    let p1 = m.lookup(&k32(1), &g1).unwrap();
    assert_ne!(p0, p1);
    assert_eq!(read(p0, 8), vec![0; 8]);
    assert_eq!(read(p1, 8), vec![1; 8]);
    // An update on CPU 0 writes CPU 0's slot in place and keeps CPU 1's.
    m.update(&k32(1), &[2; 8], BPF_EXIST, &g0).unwrap();
    assert_eq!(read(p0, 8), vec![2; 8]);
    assert_eq!(m.lookup_copy(&k32(1)), Ok(Some([[2; 8], [1; 8]].concat())));
    word(p1).fetch_add(1, Relaxed);
    assert_eq!(read(p0, 8), vec![2; 8]);
    let each = [[3; 8], [4; 8]].concat();
    m.update_from_controller(&k32(2), &each, BPF_NOEXIST)
        .unwrap();
    assert_eq!(read(m.lookup(&k32(2), &g1).unwrap(), 8), vec![4; 8]);
    m.update_from_controller(&k32(2), &[6; 8], BPF_EXIST)
        .unwrap();
    assert_eq!(m.lookup_copy(&k32(2)), Ok(Some(vec![6; 16])));
    let mut dump = m.dump();
    dump.sort();
    assert_eq!(dump.len(), 2);
    assert_eq!(dump[1], (k32(2).to_vec(), vec![6; 16]));
    let g5 = RunGuard::enter(5);
    assert!(m.lookup(&k32(1), &g5).is_none());
    assert_eq!(m.update(&k32(1), &[0; 8], 0, &g5), Err(MapError::Invalid));
    m.delete(&k32(1), &g5).unwrap();
}

#[test]
fn lru_evicts_least_recently_used_with_second_chance() {
    let m = map(MapType::LruHash, 4, 4, 4);
    let g = RunGuard::enter(0);
    for i in 1..=4 {
        m.update(&k32(i), &k32(i), BPF_ANY, &g).unwrap();
    }
    // Key 1 is used, so the next insert evicts key 2, the oldest unused.
    assert!(m.lookup(&k32(1), &g).is_some());
    m.update(&k32(5), &k32(5), BPF_ANY, &g).unwrap();
    assert_eq!(m.len(), 4);
    assert_eq!(m.lookup_copy(&k32(2)), Ok(None));
    for i in [1, 3, 4, 5] {
        assert_eq!(m.lookup_copy(&k32(i)), Ok(Some(k32(i).to_vec())), "key {i}");
    }
    // Controller lookups do not count as use: 3 goes next, then 4.
    m.update(&k32(6), &k32(6), BPF_ANY, &g).unwrap();
    assert_eq!(m.lookup_copy(&k32(3)), Ok(None));
    m.update(&k32(7), &k32(7), BPF_NOEXIST, &g).unwrap();
    assert_eq!(m.lookup_copy(&k32(4)), Ok(None));
    // Replacing never evicts, and the replacement counts as used.
    m.update(&k32(5), &k32(50), BPF_EXIST, &g).unwrap();
    assert_eq!(m.len(), 4);
    let mut keys: Vec<_> = m.dump().into_iter().map(|(k, _)| k).collect();
    keys.sort();
    assert_eq!(keys, [1, 5, 6, 7].map(|i| k32(i).to_vec()).to_vec());
    // Order now (oldest first): 1 (bit cleared by the first sweep), 6, 7, 5 (used).
    m.update(&k32(8), &k32(8), BPF_ANY, &g).unwrap();
    assert_eq!(m.lookup_copy(&k32(1)), Ok(None));
    m.update(&k32(9), &k32(9), BPF_ANY, &g).unwrap();
    assert_eq!(m.lookup_copy(&k32(6)), Ok(None));
    // Deleting frees a slot without eviction.
    m.delete(&k32(7), &g).unwrap();
    m.update(&k32(10), &k32(10), BPF_ANY, &g).unwrap();
    let mut keys: Vec<_> = m.dump().into_iter().map(|(k, _)| k).collect();
    keys.sort();
    assert_eq!(keys, [5, 8, 9, 10].map(|i| k32(i).to_vec()).to_vec());
    // EXIST on an absent key still fails, NOEXIST on a present one too.
    assert_eq!(
        m.update(&k32(1), &k32(1), BPF_EXIST, &g),
        Err(MapError::KeyNotFound)
    );
    assert_eq!(
        m.update(&k32(5), &k32(1), BPF_NOEXIST, &g),
        Err(MapError::KeyExists)
    );
}

#[test]
fn lru_all_referenced_still_evicts() {
    let m = map(MapType::LruHash, 4, 4, 3);
    let g = RunGuard::enter(0);
    for i in 0..3 {
        m.update(&k32(i), &k32(i), BPF_ANY, &g).unwrap();
        m.lookup(&k32(i), &g).unwrap();
    }
    // Every bit set: one sweep clears them and evicts the oldest.
    m.update(&k32(3), &k32(3), BPF_ANY, &g).unwrap();
    assert_eq!(m.len(), 3);
    assert_eq!(m.lookup_copy(&k32(0)), Ok(None));
}

#[test]
fn lru_of_one() {
    let m = map(MapType::LruHash, 1, 1, 1);
    let g = RunGuard::enter(0);
    for i in 0..10u8 {
        m.update(&[i], &[i], BPF_ANY, &g).unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(read(m.lookup(&[i], &g).unwrap(), 1), vec![i]);
    }
}

#[test]
fn clone_contents_copies_and_adapts() {
    let g = RunGuard::enter(0);
    let a = map(MapType::Hash, 4, 8, 8);
    for i in 0..5 {
        a.update(&k32(i), &[i as u8; 8], BPF_ANY, &g).unwrap();
    }
    let b = map(MapType::Hash, 4, 8, 8);
    b.update(&k32(100), &[1; 8], BPF_ANY, &g).unwrap();
    b.clone_contents_from(&a).unwrap();
    let (mut da, mut db) = (a.dump(), b.dump());
    da.sort();
    db.sort();
    assert_eq!(da, db);
    // Mismatched definitions.
    assert_eq!(
        b.clone_contents_from(&map(MapType::LruHash, 4, 8, 8)),
        Err(MapError::Invalid)
    );
    assert_eq!(
        b.clone_contents_from(&map(MapType::Hash, 4, 4, 8)),
        Err(MapError::Invalid)
    );
    assert_eq!(
        b.clone_contents_from(&map(MapType::Hash, 8, 8, 8)),
        Err(MapError::Invalid)
    );
    // Smaller: what fits is copied, the rest reported.
    let small = map(MapType::Hash, 4, 8, 3);
    assert_eq!(small.clone_contents_from(&a), Err(MapError::Full));
    assert_eq!(small.len(), 3);
    let small_lru = map(MapType::LruHash, 4, 8, 3);
    let big_lru = map(MapType::LruHash, 4, 8, 8);
    for i in 0..5 {
        big_lru.update(&k32(i), &[i as u8; 8], BPF_ANY, &g).unwrap();
    }
    small_lru.clone_contents_from(&big_lru).unwrap();
    assert_eq!(small_lru.len(), 3);
    // Arrays and per-CPU slot counts.
    let pa = Map::new(def(MapType::PercpuArray, 4, 2, 3), 2).unwrap();
    pa.update_from_controller(&k32(2), &[1, 2, 3, 4], 0)
        .unwrap();
    let pb = Map::new(def(MapType::PercpuArray, 4, 2, 4), 3).unwrap();
    pb.clone_contents_from(&pa).unwrap();
    assert_eq!(pb.lookup_copy(&k32(2)), Ok(Some(vec![1, 2, 3, 4, 0, 0])));
    let pc = Map::new(def(MapType::PercpuArray, 4, 2, 2), 1).unwrap();
    assert_eq!(pc.clone_contents_from(&pa), Err(MapError::Full));
    assert_eq!(pc.lookup_copy(&k32(1)), Ok(Some(vec![0, 0])));
    pa.clone_contents_from(&pa).unwrap();
    assert_eq!(pa.lookup_copy(&k32(2)), Ok(Some(vec![1, 2, 3, 4])));
}

#[test]
fn shared_copies_round_trip() {
    let m = map(MapType::Array, 4, 16, 1);
    let g = RunGuard::enter(0);
    let p = m.lookup(&k32(0), &g).unwrap();
    let src: Vec<u8> = (1..=11).collect();
    // SAFETY: 3 + 11 bytes fit in the 16-byte value, valid while `g` lives.
    unsafe { copy_to_shared(p.as_ptr().add(3), &src) };
    let mut want = vec![0; 16];
    want[3..14].copy_from_slice(&src);
    assert_eq!(m.lookup_copy(&k32(0)), Ok(Some(want.clone())));
    assert_eq!(read(p, 16), want);
}

#[test]
fn map_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Map>();
    assert_send_sync::<MapError>();
}

#[test]
fn two_threads_share_values() {
    let m = Arc::new(map(MapType::Hash, 4, 8, 4));
    m.update_from_controller(&k32(1), &[0; 8], 0).unwrap();
    let n = if cfg!(miri) { 50 } else { 10_000 };
    std::thread::scope(|s| {
        for cpu in 0..2 {
            let m = &m;
            s.spawn(move || {
                for _ in 0..n {
                    let g = RunGuard::enter(cpu);
                    word(m.lookup(&k32(1), &g).unwrap()).fetch_add(1, Relaxed);
                }
            });
        }
    });
    assert_eq!(
        m.lookup_copy(&k32(1)),
        Ok(Some((2 * n as u64).to_ne_bytes().to_vec()))
    );
}

#[derive(Debug, Clone)]
enum Op {
    Update(u8, u8, u64),
    Delete(u8),
    Lookup(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..12, any::<u8>(), 0u64..4).prop_map(|(k, v, f)| Op::Update(k, v, f)),
        (0u8..12).prop_map(Op::Delete),
        (0u8..12).prop_map(Op::Lookup),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 4 } else { 256 }))]

    /// HASH against a `HashMap` model with the same capacity and flag rules.
    #[test]
    fn hash_matches_model(ops in proptest::collection::vec(op(), 1..80)) {
        let m = map(MapType::Hash, 2, 3, 6);
        let mut model: HashMap<u8, u8> = HashMap::new();
        let g = RunGuard::enter(0);
        for op in ops {
            match op {
                Op::Update(k, v, f) => {
                    let key = [k, 0xA5];
                    let present = model.contains_key(&k);
                    let want = match f {
                        BPF_NOEXIST if present => Err(MapError::KeyExists),
                        BPF_EXIST if !present => Err(MapError::KeyNotFound),
                        3.. => Err(MapError::Invalid),
                        _ if !present && model.len() == 6 => Err(MapError::Full),
                        _ => Ok(()),
                    };
                    prop_assert_eq!(m.update(&key, &[v, v, !v], f, &g), want);
                    if want.is_ok() {
                        model.insert(k, v);
                    }
                }
                Op::Delete(k) => {
                    let want = model.remove(&k).map(|_| ()).ok_or(MapError::KeyNotFound);
                    prop_assert_eq!(m.delete(&[k, 0xA5], &g), want);
                }
                Op::Lookup(k) => {
                    let got = m.lookup(&[k, 0xA5], &g).map(|p| read(p, 3));
                    prop_assert_eq!(got, model.get(&k).map(|&v| vec![v, v, !v]));
                }
            }
            prop_assert_eq!(m.len(), model.len());
        }
        let mut dump = m.dump();
        dump.sort();
        let mut want: Vec<_> = model.iter().map(|(&k, &v)| (vec![k, 0xA5], vec![v, v, !v])).collect();
        want.sort();
        prop_assert_eq!(dump, want);
    }

    /// LRU_HASH never exceeds its capacity, never fails for lack of room, and
    /// always keeps the element just written.
    #[test]
    fn lru_bounded_and_keeps_latest(ops in proptest::collection::vec(op(), 1..80)) {
        let m = map(MapType::LruHash, 1, 1, 4);
        let g = RunGuard::enter(0);
        for op in ops {
            match op {
                Op::Update(k, v, f) => {
                    let present = m.lookup_copy(&[k]).unwrap().is_some();
                    let r = m.update(&[k], &[v], f, &g);
                    match (f, present) {
                        (3.., _) => prop_assert_eq!(r, Err(MapError::Invalid)),
                        (BPF_NOEXIST, true) => prop_assert_eq!(r, Err(MapError::KeyExists)),
                        (BPF_EXIST, false) => prop_assert_eq!(r, Err(MapError::KeyNotFound)),
                        _ => {
                            prop_assert_eq!(r, Ok(()));
                            prop_assert_eq!(m.lookup_copy(&[k]), Ok(Some(vec![v])));
                        }
                    }
                }
                Op::Delete(k) => {
                    let present = m.lookup_copy(&[k]).unwrap().is_some();
                    prop_assert_eq!(m.delete(&[k], &g).is_ok(), present);
                }
                Op::Lookup(k) => {
                    let _ = m.lookup(&[k], &g);
                }
            }
            prop_assert!(m.len() <= 4);
            prop_assert_eq!(m.dump().len(), m.len());
        }
    }

    /// ARRAY against a vector model.
    #[test]
    fn array_matches_model(ops in proptest::collection::vec(op(), 1..80)) {
        let m = map(MapType::Array, 4, 1, 8);
        let mut model = [0u8; 8];
        let g = RunGuard::enter(0);
        for op in ops {
            match op {
                Op::Update(k, v, f) => {
                    let want = match f {
                        3.. => Err(MapError::Invalid),
                        _ if k >= 8 => Err(MapError::Full),
                        BPF_NOEXIST => Err(MapError::KeyExists),
                        _ => Ok(()),
                    };
                    prop_assert_eq!(m.update(&k32(k.into()), &[v], f, &g), want);
                    if want.is_ok() {
                        model[usize::from(k)] = v;
                    }
                }
                Op::Delete(k) => prop_assert_eq!(m.delete(&k32(k.into()), &g), Err(MapError::Invalid)),
                Op::Lookup(k) => {
                    let got = m.lookup(&k32(k.into()), &g).map(|p| read(p, 1));
                    prop_assert_eq!(got, model.get(usize::from(k)).map(|&v| vec![v]));
                }
            }
        }
    }
}

#[test]
fn batch_guard_pins_until_dropped_and_runs_nest_in_it() {
    assert!(!crossbeam_epoch::is_pinned());
    let m = map(MapType::Hash, 4, 8, 4);
    m.update_from_controller(&k32(1), &[7; 8], 0).unwrap();
    let batch = BatchGuard::enter();
    assert!(crossbeam_epoch::is_pinned());
    for _ in 0..3 {
        let g = RunGuard::enter(0);
        let p = m.lookup(&k32(1), &g).expect("present");
        let mut got = [0u8; 8];
        // SAFETY: a value looked up under `g`, 8 bytes, accessed atomically.
        unsafe { copy_from_shared(p.as_ptr(), &mut got) };
        assert_eq!(got, [7; 8]);
        drop(g);
        // The run's guard ended; the batch's pin remains.
        assert!(crossbeam_epoch::is_pinned());
    }
    drop(batch);
    assert!(!crossbeam_epoch::is_pinned());
}

#[test]
fn runs_inside_a_batch_share_its_pin() {
    assert!(RunGuard::enter_run(0).epoch.is_some());
    let m = Arc::new(map(MapType::LruHash, 4, 8, 4));
    let batch = BatchGuard::enter();
    let inner = BatchGuard::enter();
    drop(inner);
    // Still one batch alive: runs do not pin again.
    let g = RunGuard::enter_run(0);
    assert!(g.epoch.is_none());
    // Writes under such a run retire memory through a real pin, and values
    // looked up before a replace or delete stay readable until the batch
    // ends (another thread keeps replacing the same keys meanwhile).
    let writer = {
        let m = Arc::clone(&m);
        std::thread::spawn(move || {
            for i in 0..2_000u64 {
                m.update_from_controller(&k32((i % 6) as u32), &i.to_ne_bytes(), 0)
                    .unwrap();
            }
        })
    };
    let mut held = Vec::new();
    for i in 0..2_000u32 {
        m.update(&k32(i % 6), &u64::from(i).to_ne_bytes(), 0, &g)
            .unwrap();
        if let Some(p) = m.lookup(&k32(i % 6), &g) {
            held.push(p);
        }
        if i % 3 == 0 {
            let _ = m.delete(&k32(i % 6), &g);
        }
    }
    writer.join().unwrap();
    for p in &held {
        let _ = read(*p, 8);
    }
    drop(g);
    drop(batch);
    assert!(RunGuard::enter_run(0).epoch.is_some());
}

#[test]
fn program_lookups_find_keys_of_every_width() {
    // Keys of 1 to 72 bytes: the lookups specialised per word count (up to
    // 8 words) and the general one beyond agree with the controller's view,
    // find every key inserted and nothing else (keys differing only in
    // their last byte share every word but the last).
    let g = RunGuard::enter(0);
    for key_size in 1..=72u32 {
        let m = map(MapType::Hash, key_size, 8, 64);
        let key = |n: u8| -> Vec<u8> {
            let mut k: Vec<u8> = (0..key_size).map(|i| (i * 7) as u8).collect();
            *k.last_mut().unwrap() = n;
            k
        };
        for n in (0..40).step_by(2) {
            m.update_from_controller(&key(n), &u64::from(n).to_ne_bytes(), 0)
                .unwrap();
        }
        for n in 0..40u8 {
            let got = m.lookup(&key(n), &g).map(|p| read(p, 8));
            let want = (n % 2 == 0).then(|| u64::from(n).to_ne_bytes().to_vec());
            assert_eq!(got, want, "key size {key_size}, key {n}");
            assert_eq!(m.lookup_copy(&key(n)).unwrap(), want);
        }
    }
}
