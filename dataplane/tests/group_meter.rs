//! Groups and meters: selection, liveness, validation codes, token-bucket
//! accuracy in virtual time, concurrency, counters.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dataplane::group::{
    BucketSpec, GroupError, GroupSpec, GroupTable, GroupTableBuilder, GroupView, LivePorts,
    MAX_CHAIN_DEPTH, Selection,
};
use dataplane::key::{FlowKey, field};
use dataplane::meter::{Meter, MeterTable, MeterVerdict};
use openflow::ErrorCode;
use openflow::action::Action;
use openflow::error::{BadActionCode, GroupModFailedCode};
use openflow::group::{group_id, group_type};
use openflow::meter::{MeterBand, meter_flags};
use openflow::port::port_no;

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;

fn bucket(
    weight: u16,
    watch_port: u32,
    watch_group: u32,
    chained: &[u32],
) -> BucketSpec<&'static str> {
    BucketSpec {
        weight,
        watch_port,
        watch_group,
        chained: chained.to_vec(),
        payload: "",
    }
}

fn plain(weight: u16) -> BucketSpec<&'static str> {
    bucket(weight, port_no::ANY, group_id::ANY, &[])
}

fn spec(id: u32, ty: u8, buckets: Vec<BucketSpec<&'static str>>) -> GroupSpec<&'static str> {
    GroupSpec {
        group_id: id,
        group_type: ty,
        buckets,
        counters: None,
    }
}

fn build(groups: Vec<GroupSpec<&'static str>>) -> Result<GroupTable<&'static str>, GroupError> {
    let mut b = GroupTableBuilder::new(2, Instant::now());
    for g in groups {
        b.insert(g)?;
    }
    b.build()
}

/// A deterministic stream of distinct TCP/IPv4 flows.
fn flows(n: usize) -> Vec<FlowKey> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let r = x >> 16;
            let mut k = FlowKey::new();
            k.set(field::ETH_TYPE, 0x0800);
            k.set(field::IP_PROTO, 6);
            k.set(field::IPV4_SRC, 0x0a00_0000 | (r & 0xffff));
            k.set(field::IPV4_DST, 0x0a01_0000 | ((r >> 16) & 0xff));
            k.set(field::TP_SRC, (r >> 24) & 0xffff);
            k.set(field::TP_DST, 80);
            k
        })
        .collect()
}

fn chosen(sel: Selection<'_, &'static str>) -> Option<usize> {
    match sel {
        Selection::One { index, .. } => Some(index),
        Selection::None => None,
        Selection::All(_) => panic!("SELECT/FF/INDIRECT never select all"),
    }
}

fn ports(up: &[u32]) -> LivePorts {
    let mut p = LivePorts::new();
    for &u in up {
        p.set(u, true);
    }
    p
}

#[test]
fn select_follows_weights_and_flows_stick() {
    let weights = [1u16, 2, 3, 4, 0];
    let table = build(vec![spec(
        7,
        group_type::SELECT,
        weights.iter().map(|&w| plain(w)).collect(),
    )])
    .unwrap();
    let view = GroupView::new(Arc::new(table), &LivePorts::new());
    let keys = flows(40_000);
    let mut counts = [0usize; 5];
    for k in &keys {
        let b = chosen(view.select(7, k).unwrap()).unwrap();
        counts[b] += 1;
        // The same flow always takes the same bucket.
        assert_eq!(chosen(view.select(7, k).unwrap()), Some(b));
    }
    assert_eq!(counts[4], 0, "weight 0 is never chosen");
    let total: f64 = keys.len() as f64;
    let chi2: f64 = (0..4)
        .map(|i| {
            let expected = total * f64::from(weights[i]) / 10.0;
            (counts[i] as f64 - expected).powi(2) / expected
        })
        .sum();
    // 3 degrees of freedom: P(chi2 > 25) ≈ 1.5e-5.
    assert!(chi2 < 25.0, "chi2 {chi2}, counts {counts:?}");
    // A second view (another worker) picks the same buckets.
    let view2 = GroupView::new(view.table().clone(), &LivePorts::new());
    for k in keys.iter().take(1000) {
        assert_eq!(
            chosen(view.select(7, k).unwrap()),
            chosen(view2.select(7, k).unwrap())
        );
    }
}

#[test]
fn select_skips_dead_buckets_and_keeps_other_flows() {
    let table = build(vec![spec(
        1,
        group_type::SELECT,
        vec![
            bucket(1, 1, group_id::ANY, &[]),
            bucket(1, 2, group_id::ANY, &[]),
            bucket(2, 3, group_id::ANY, &[]),
        ],
    )])
    .unwrap();
    let mut view = GroupView::new(Arc::new(table), &ports(&[1, 2, 3]));
    let keys = flows(20_000);
    let before: Vec<usize> = keys
        .iter()
        .map(|k| chosen(view.select(1, k).unwrap()).unwrap())
        .collect();
    view.refresh(&ports(&[1, 3]));
    let mut moved = [0usize; 3];
    for (k, &b) in keys.iter().zip(&before) {
        let now = chosen(view.select(1, k).unwrap()).unwrap();
        assert_ne!(now, 1, "dead bucket not chosen");
        if b == 1 {
            moved[now] += 1;
        } else {
            assert_eq!(now, b, "flows of live buckets stay");
        }
    }
    // The dead bucket's flows split 1:2 between buckets 0 and 2.
    let m = (moved[0] + moved[2]) as f64;
    let share0 = moved[0] as f64 / m;
    assert!((share0 - 1.0 / 3.0).abs() < 0.05, "share {share0}");
    view.refresh(&LivePorts::new());
    assert!(view.select(1, &keys[0]).unwrap().is_empty());
    assert_eq!(view.group_live(1), Some(false));
    view.refresh(&ports(&[1, 2, 3]));
    for (k, &b) in keys.iter().zip(&before).take(2000) {
        assert_eq!(chosen(view.select(1, k).unwrap()), Some(b), "restored");
    }
}

#[test]
fn fast_failover_picks_first_live_bucket() {
    let table = build(vec![spec(
        3,
        group_type::FF,
        vec![
            bucket(0, 1, group_id::ANY, &[]),
            bucket(0, 2, group_id::ANY, &[]),
            bucket(0, 3, group_id::ANY, &[]),
        ],
    )])
    .unwrap();
    let k = FlowKey::new();
    let mut view = GroupView::new(Arc::new(table), &ports(&[1, 2, 3]));
    assert_eq!(chosen(view.select(3, &k).unwrap()), Some(0));
    view.refresh(&ports(&[2, 3]));
    assert_eq!(chosen(view.select(3, &k).unwrap()), Some(1));
    view.refresh(&ports(&[3]));
    assert_eq!(chosen(view.select(3, &k).unwrap()), Some(2));
    view.refresh(&ports(&[]));
    assert!(view.select(3, &k).unwrap().is_empty());
    assert_eq!(view.group_live(3), Some(false));
    view.refresh(&|p: u32| p == 1 || p == 3);
    assert_eq!(chosen(view.select(3, &k).unwrap()), Some(0));
}

#[test]
fn fast_failover_through_watch_group_chain() {
    // 10: FF on port 5. 20: FF watching group 10, then port 6.
    // 30: FF watching group 20 only.
    let table = build(vec![
        spec(30, group_type::FF, vec![bucket(0, port_no::ANY, 20, &[20])]),
        spec(
            20,
            group_type::FF,
            vec![
                bucket(0, port_no::ANY, 10, &[10]),
                bucket(0, 6, group_id::ANY, &[]),
            ],
        ),
        spec(10, group_type::FF, vec![bucket(0, 5, group_id::ANY, &[])]),
    ])
    .unwrap();
    let k = FlowKey::new();
    let mut view = GroupView::new(Arc::new(table), &ports(&[5, 6]));
    assert_eq!(chosen(view.select(20, &k).unwrap()), Some(0));
    view.refresh(&ports(&[6]));
    assert_eq!(view.group_live(10), Some(false));
    assert_eq!(chosen(view.select(20, &k).unwrap()), Some(1));
    assert_eq!(chosen(view.select(30, &k).unwrap()), Some(0));
    view.refresh(&ports(&[]));
    assert_eq!(view.group_live(20), Some(false));
    assert_eq!(view.group_live(30), Some(false));
    assert!(view.select(30, &k).unwrap().is_empty());
}

#[test]
fn all_and_indirect_select_their_buckets() {
    let table = build(vec![
        spec(1, group_type::ALL, vec![plain(0), plain(0), plain(0)]),
        spec(2, group_type::INDIRECT, vec![plain(0)]),
        spec(3, group_type::ALL, vec![]),
    ])
    .unwrap();
    let view = GroupView::new(Arc::new(table), &LivePorts::new());
    let k = FlowKey::new();
    let all: Vec<usize> = view.select(1, &k).unwrap().iter().map(|(i, _)| i).collect();
    assert_eq!(all, [0, 1, 2]);
    assert_eq!(chosen(view.select(2, &k).unwrap()), Some(0));
    assert!(view.select(3, &k).unwrap().is_empty());
}

fn gm(code: GroupModFailedCode) -> ErrorCode {
    ErrorCode::GroupModFailed(code)
}

#[test]
fn loops_and_references_are_refused() {
    let all = |id, chained: &[u32]| {
        spec(
            id,
            group_type::ALL,
            vec![bucket(0, port_no::ANY, group_id::ANY, chained)],
        )
    };
    // OFTest GroupModLoop: 1 -> 0, 2 -> 0, then 0 -> 2.
    assert!(build(vec![all(0, &[]), all(1, &[0]), all(2, &[0])]).is_ok());
    let e = build(vec![all(0, &[2]), all(1, &[0]), all(2, &[0])]).unwrap_err();
    assert!(matches!(e, GroupError::Loop { .. }));
    assert_eq!(e.error_code(), gm(GroupModFailedCode::Loop));
    // Self loop.
    assert!(matches!(
        build(vec![all(5, &[5])]),
        Err(GroupError::Loop { group_id: 5 })
    ));
    // A loop through watching.
    let e = build(vec![
        spec(1, group_type::FF, vec![bucket(0, port_no::ANY, 2, &[])]),
        spec(2, group_type::FF, vec![bucket(0, port_no::ANY, 1, &[])]),
    ])
    .unwrap_err();
    assert_eq!(e.error_code(), gm(GroupModFailedCode::Loop));
    // Unknown chained group: the §6.4 action rule.
    let e = build(vec![all(1, &[9])]).unwrap_err();
    assert_eq!(
        e,
        GroupError::UnknownChainedGroup {
            group_id: 1,
            bucket: 0,
            target: 9
        }
    );
    assert_eq!(
        e.error_code(),
        ErrorCode::BadAction(BadActionCode::BadOutGroup)
    );
    // Unknown watched group.
    let e = build(vec![spec(
        1,
        group_type::FF,
        vec![bucket(0, port_no::ANY, 9, &[])],
    )])
    .unwrap_err();
    assert!(matches!(
        e,
        GroupError::UnknownWatchGroup { watched: 9, .. }
    ));
    assert_eq!(e.error_code(), gm(GroupModFailedCode::BadWatch));
    // Depth: a chain of MAX_CHAIN_DEPTH references is fine, one more is not.
    let chain = |len: u32| {
        (0..=len)
            .map(|i| {
                if i == len {
                    all(i, &[])
                } else {
                    all(i, &[i + 1])
                }
            })
            .collect::<Vec<_>>()
    };
    assert!(build(chain(MAX_CHAIN_DEPTH as u32)).is_ok());
    let e = build(chain(MAX_CHAIN_DEPTH as u32 + 1)).unwrap_err();
    assert!(matches!(e, GroupError::ChainTooDeep { group_id: 0, .. }));
    assert_eq!(e.error_code(), gm(GroupModFailedCode::ChainingUnsupported));
}

#[test]
fn wire_buckets_and_local_rule_codes() {
    let wire = openflow::group::Bucket {
        weight: 0,
        watch_port: 4,
        watch_group: group_id::ANY,
        actions: vec![
            Action::Output {
                port: 1,
                max_len: 0,
            },
            Action::Group(8),
        ],
    };
    let b = BucketSpec::from_wire(&wire, "x");
    assert_eq!(b.chained, [8]);
    assert_eq!(b.watch_port, 4);
    let e = build(vec![spec(
        1,
        group_type::INDIRECT,
        vec![plain(0), plain(0)],
    )])
    .unwrap_err();
    assert_eq!(e.error_code(), gm(GroupModFailedCode::InvalidGroup));
    let e = build(vec![spec(1, group_type::FF, vec![plain(0)])]).unwrap_err();
    assert_eq!(e.error_code(), gm(GroupModFailedCode::BadWatch));
    let e = build(vec![spec(1, group_type::INDIRECT, vec![plain(2)])]).unwrap_err();
    assert_eq!(e.error_code(), gm(GroupModFailedCode::InvalidGroup));
    let e = build(vec![spec(1, 4, vec![])]).unwrap_err();
    assert_eq!(e.error_code(), gm(GroupModFailedCode::BadType));
    let e = build(vec![
        spec(1, group_type::ALL, vec![]),
        spec(1, group_type::ALL, vec![]),
    ])
    .unwrap_err();
    assert_eq!(e.error_code(), gm(GroupModFailedCode::GroupExists));
}

#[test]
fn group_counters_sum_over_workers_and_carry_over() {
    let created = Instant::now();
    let mut b = GroupTableBuilder::new(2, created);
    b.insert(spec(1, group_type::ALL, vec![plain(0), plain(0)]))
        .unwrap();
    b.insert(spec(2, group_type::SELECT, vec![plain(1), plain(1)]))
        .unwrap();
    let table = Arc::new(b.build().unwrap());
    let keys = flows(100);
    std::thread::scope(|s| {
        for worker in 0..2 {
            let table = table.clone();
            let keys = &keys;
            s.spawn(move || {
                let view = GroupView::new(table, &LivePorts::new());
                for k in keys {
                    assert_eq!(view.apply(worker, 1, k, 100).unwrap().len(), 2);
                    view.apply(worker, 2, k, 60).unwrap();
                }
                // Out-of-range worker: selected, not counted.
                view.apply(99, 1, &keys[0], 100).unwrap();
            });
        }
    });
    let now = created + Duration::from_millis(2500);
    let s = table.stats(1, 3, now).unwrap();
    assert_eq!((s.group_id, s.ref_count), (1, 3));
    assert_eq!((s.packet_count, s.byte_count), (200, 20_000));
    assert_eq!(s.bucket_stats.len(), 2);
    assert!(
        s.bucket_stats
            .iter()
            .all(|c| c.packet_count == 200 && c.byte_count == 20_000)
    );
    assert_eq!((s.duration_sec, s.duration_nsec), (2, 500_000_000));
    let s = table.stats(2, 0, now).unwrap();
    assert_eq!((s.packet_count, s.byte_count), (200, 12_000));
    let per_bucket: u64 = s.bucket_stats.iter().map(|c| c.packet_count).sum();
    assert_eq!(per_bucket, 200);
    assert!(s.bucket_stats.iter().all(|c| c.packet_count > 0));
    // The next version keeps group 1's counters when the agent passes them.
    let mut b = GroupTableBuilder::new(2, Instant::now());
    let mut g1 = spec(1, group_type::ALL, vec![plain(0), plain(0)]);
    g1.counters = Some(table.get(1).unwrap().counters().clone());
    b.insert(g1).unwrap();
    let mut g2 = spec(2, group_type::SELECT, vec![plain(1)]);
    g2.counters = Some(table.get(2).unwrap().counters().clone()); // shape changed
    b.insert(g2).unwrap();
    let next = b.build().unwrap();
    assert_eq!(next.stats(1, 0, now).unwrap().packet_count, 200);
    assert_eq!(next.stats(2, 0, now).unwrap().packet_count, 0);
}

fn pktps_meter(band: MeterBand) -> Meter {
    Meter::new(
        1,
        meter_flags::PKTPS | meter_flags::BURST | meter_flags::STATS,
        &[band],
        2,
        Instant::now(),
    )
    .unwrap()
}

#[test]
fn drop_band_pktps_passes_rate_plus_burst() {
    let m = pktps_meter(MeterBand::Drop {
        rate: 100,
        burst_size: 10,
    });
    let t0 = 7 * SEC;
    let passed = (0..1000u64)
        .filter(|i| m.apply(0, t0 + i * MS, 64) == MeterVerdict::Pass)
        .count();
    // 10 from the full bucket + 100 pps over 0.999 s.
    assert!((108..=111).contains(&passed), "passed {passed}");
    let s = m.stats(4, Instant::now());
    assert_eq!(s.flow_count, 4);
    assert_eq!((s.packet_in_count, s.byte_in_count), (1000, 64_000));
    assert_eq!(s.band_stats[0].packet_count, 1000 - passed as u64);
    assert_eq!(s.band_stats[0].byte_count, 64 * (1000 - passed as u64));
}

#[test]
fn dscp_remark_marks_instead_of_dropping() {
    let m = pktps_meter(MeterBand::DscpRemark {
        rate: 100,
        burst_size: 10,
        prec_level: 1,
    });
    let mut pass = 0;
    let mut remark = 0;
    for i in 0..1000u64 {
        match m.apply(1, SEC + i * MS, 64) {
            MeterVerdict::Pass => pass += 1,
            MeterVerdict::Remark { prec_level: 1 } => remark += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!((108..=111).contains(&pass));
    assert_eq!(pass + remark, 1000);
    assert_eq!(
        m.stats(0, Instant::now()).band_stats[0].packet_count,
        remark
    );
}

#[test]
fn highest_exceeded_band_applies() {
    // Offered 1000 pps: above both bands, so DROP (rate 300) applies to the
    // excess over 300 and REMARK (rate 100) to what lies between.
    let m = Meter::new(
        9,
        meter_flags::PKTPS | meter_flags::BURST | meter_flags::STATS,
        &[
            MeterBand::DscpRemark {
                rate: 100,
                burst_size: 10,
                prec_level: 2,
            },
            MeterBand::Drop {
                rate: 300,
                burst_size: 10,
            },
        ],
        1,
        Instant::now(),
    )
    .unwrap();
    let (mut pass, mut remark, mut drop) = (0, 0, 0);
    for i in 0..10_000u64 {
        match m.apply(0, SEC + i * MS, 100) {
            MeterVerdict::Pass => pass += 1,
            MeterVerdict::Remark { prec_level: 2 } => remark += 1,
            MeterVerdict::Drop => drop += 1,
            other => panic!("{other:?}"),
        }
    }
    // Over 10 s: ~3000 within the DROP band's rate, of which ~1000 within
    // the REMARK band's rate.
    assert!((2995..=3015).contains(&(pass + remark)), "{pass} {remark}");
    assert!((995..=1015).contains(&pass), "{pass}");
    assert_eq!(pass + remark + drop, 10_000);
    let s = m.stats(0, Instant::now());
    assert_eq!(s.band_stats[0].packet_count, remark);
    assert_eq!(s.band_stats[1].packet_count, drop);
}

#[test]
fn kbps_counts_bits_of_each_packet() {
    // 1000 kb/s = 125 000 bytes/s, burst 100 kb = 12 500 bytes. Offered: a
    // mix of 1500- and 500-byte packets at 2.0 Mb/s for 2 s.
    let m = Meter::new(
        2,
        meter_flags::KBPS | meter_flags::BURST | meter_flags::STATS,
        &[MeterBand::Drop {
            rate: 1000,
            burst_size: 100,
        }],
        1,
        Instant::now(),
    )
    .unwrap();
    let mut passed_bytes = 0u64;
    let mut offered = 0u64;
    for i in 0..500u64 {
        for (j, size) in [1500u32, 500].into_iter().enumerate() {
            let t = SEC + i * 4 * MS + j as u64 * 2 * MS;
            offered += u64::from(size);
            if m.apply(0, t, size) == MeterVerdict::Pass {
                passed_bytes += u64::from(size);
            }
        }
    }
    let expected = 125_000 * 2 + 12_500;
    assert!(
        passed_bytes.abs_diff(expected) <= 2000,
        "passed {passed_bytes}, expected ≈ {expected}"
    );
    let s = m.stats(0, Instant::now());
    assert_eq!(s.byte_in_count, offered);
    assert_eq!(s.band_stats[0].byte_count, offered - passed_bytes);
}

#[test]
fn two_threads_share_one_meter_without_exceeding_it() {
    let m = Arc::new(
        Meter::new(
            3,
            meter_flags::PKTPS | meter_flags::BURST | meter_flags::STATS,
            &[MeterBand::Drop {
                rate: 1000,
                burst_size: 50,
            }],
            2,
            Instant::now(),
        )
        .unwrap(),
    );
    // Each thread offers 20 000 packets over the same virtual second.
    let passed: usize = std::thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|w| {
                let m = m.clone();
                s.spawn(move || {
                    (0..20_000u64)
                        .filter(|i| m.apply(w, SEC + i * 50_000, 64) == MeterVerdict::Pass)
                        .count()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum()
    });
    // rate × 1 s + burst, never more; all of it is used.
    assert!(passed <= 1000 + 50 + 1, "passed {passed}");
    assert!(passed >= 1000, "passed {passed}");
    let s = m.stats(0, Instant::now());
    assert_eq!(s.packet_in_count, 40_000);
    assert_eq!(s.band_stats[0].packet_count, 40_000 - passed as u64);
}

#[test]
fn no_stats_flag_counts_nothing_and_config_round_trips() {
    let bands = vec![
        MeterBand::Drop {
            rate: 5,
            burst_size: 7,
        },
        MeterBand::DscpRemark {
            rate: 3,
            burst_size: 0,
            prec_level: 1,
        },
    ];
    let m = Meter::new(42, meter_flags::KBPS, &bands, 1, Instant::now()).unwrap();
    for i in 0..100 {
        m.apply(0, i * MS, 1500);
    }
    let s = m.stats(0, Instant::now());
    assert_eq!(s.packet_in_count, 0);
    assert_eq!(s.band_stats.len(), 2);
    let c = m.config();
    assert_eq!((c.meter_id, c.flags), (42, meter_flags::KBPS));
    assert_eq!(c.bands, bands);
    let mut t = MeterTable::new();
    assert!(t.insert(Arc::new(m)).is_none());
    assert_eq!(t.get(42).unwrap().id(), 42);
    assert!(t.get(1).is_none());
    let e = Meter::new(0, 0, &bands, 1, Instant::now()).unwrap_err();
    assert_eq!(
        e.error_code(),
        ErrorCode::MeterModFailed(openflow::error::MeterModFailedCode::InvalidMeter)
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    /// Reference: is there a cycle in `edges` (adjacency by index)?
    fn has_cycle(edges: &[Vec<usize>]) -> bool {
        let n = edges.len();
        let mut reach = vec![vec![false; n]; n];
        for (v, e) in edges.iter().enumerate() {
            for &u in e {
                reach[v][u] = true;
            }
        }
        for k in 0..n {
            for i in 0..n {
                for j in 0..n {
                    if reach[i][k] && reach[k][j] {
                        reach[i][j] = true;
                    }
                }
            }
        }
        (0..n).any(|i| reach[i][i])
    }

    /// Reference liveness, recursive (fine for acyclic test graphs).
    fn live(g: usize, groups: &[Vec<(u32, Option<usize>)>], up: &[bool]) -> bool {
        groups[g].iter().any(|&(port, watch)| {
            (port != port_no::ANY && up[port as usize])
                || watch.is_some_and(|w| live(w, groups, up))
        })
    }

    proptest! {
        #[test]
        fn loop_detection_matches_reference(
            edges in proptest::collection::vec(proptest::collection::vec(0usize..6, 0..3), 1..6)
        ) {
            let n = edges.len();
            let edges: Vec<Vec<usize>> =
                edges.into_iter().map(|e| e.into_iter().filter(|&u| u < n).collect()).collect();
            let specs = edges
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    let chained: Vec<u32> = e.iter().map(|&u| u as u32 + 100).collect();
                    spec(i as u32 + 100, group_type::ALL, vec![bucket(0, port_no::ANY, group_id::ANY, &chained)])
                })
                .collect();
            match build(specs) {
                Ok(_) => prop_assert!(!has_cycle(&edges)),
                Err(e) => {
                    prop_assert!(has_cycle(&edges), "{e:?}");
                    prop_assert_eq!(e.error_code(), gm(GroupModFailedCode::Loop));
                }
            }
        }

        #[test]
        fn ff_liveness_matches_reference(
            // Group i's buckets watch a port (1..4) and/or a lower group.
            shape in proptest::collection::vec(
                proptest::collection::vec((0u32..5, 0usize..8), 1..4), 1..7),
            up in proptest::collection::vec(any::<bool>(), 5),
        ) {
            let groups: Vec<Vec<(u32, Option<usize>)>> = shape
                .iter()
                .enumerate()
                .map(|(i, bs)| {
                    bs.iter()
                        .map(|&(p, w)| {
                            let port = if p == 0 { port_no::ANY } else { p };
                            let watch = (w < i).then_some(w);
                            // FF buckets must watch something.
                            if port == port_no::ANY && watch.is_none() { (1, None) } else { (port, watch) }
                        })
                        .collect()
                })
                .collect();
            let specs = groups
                .iter()
                .enumerate()
                .map(|(i, bs)| {
                    spec(
                        i as u32,
                        group_type::FF,
                        bs.iter()
                            .map(|&(port, watch)| {
                                bucket(0, port, watch.map_or(group_id::ANY, |w| w as u32), &[])
                            })
                            .collect(),
                    )
                })
                .collect();
            let table = Arc::new(build(specs).unwrap());
            let mut up_ports = LivePorts::new();
            for (p, &u) in up.iter().enumerate() {
                up_ports.set(p as u32, u);
            }
            let view = GroupView::new(table, &up_ports);
            let k = FlowKey::new();
            for (i, bs) in groups.iter().enumerate() {
                let expect_live = live(i, &groups, &up);
                prop_assert_eq!(view.group_live(i as u32), Some(expect_live));
                let first = bs.iter().position(|&(port, watch)| {
                    (port != port_no::ANY && up[port as usize])
                        || watch.is_some_and(|w| live(w, &groups, &up))
                });
                prop_assert_eq!(chosen(view.select(i as u32, &k).unwrap()), first);
            }
        }

        #[test]
        fn meter_never_passes_more_than_rate_plus_burst(
            rate in 1u32..2000,
            burst in 1u32..100,
            gaps in proptest::collection::vec(0u64..3 * MS, 1..1500),
            kbps in any::<bool>(),
            sizes in proptest::collection::vec(60u32..1500, 1..16),
        ) {
            let flags = meter_flags::BURST | if kbps { meter_flags::KBPS } else { meter_flags::PKTPS };
            let m = Meter::new(1, flags, &[MeterBand::Drop { rate, burst_size: burst }], 1, Instant::now()).unwrap();
            let t0 = 3 * SEC;
            let mut t = t0;
            let mut passed = 0u64;
            for (i, gap) in gaps.iter().enumerate() {
                t += gap;
                let size = sizes[i % sizes.len()];
                if m.apply(0, t, size) == MeterVerdict::Pass {
                    passed += if kbps { u64::from(size) * 8 } else { 1 };
                }
            }
            // In bits (kbps) or packets: rate × elapsed + burst.
            let unit = if kbps { 1000u128 } else { 1 };
            let bound = (u128::from(rate) * unit * u128::from(t - t0)).div_ceil(u128::from(SEC))
                + u128::from(burst) * unit;
            prop_assert!(u128::from(passed) <= bound, "passed {passed} > {bound}");
        }
    }
}
