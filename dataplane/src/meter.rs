//! OpenFlow meters: per-band token buckets shared by every worker, verdicts,
//! per-worker counters, and METER_MOD validation.
//!
//! # Semantics
//!
//! A meter measures the rate of the packets that enter it and applies the
//! band "with the highest configured rate that is lower than the current
//! measured rate" (OpenFlow 1.3.5 §5.7.1). Every band has its own token
//! bucket, filled at the band's rate and holding at most the band's burst,
//! and the bands are consulted from the highest rate down, as the two-rate
//! three-color marker (RFC 2698) consults its peak bucket before its
//! committed one: a band whose bucket lacks the packet's tokens has been
//! exceeded and applies (no lower band is looked at); otherwise the packet
//! takes the tokens and the next lower band is consulted; a packet that
//! fits every band passes. So the packets a band lets through never exceed
//! its rate (plus burst), and the traffic between two rates is exactly what
//! the lower band acts on.
//!
//! This differs from OVS's userspace datapath in one point: OVS debits every
//! band's bucket that holds enough tokens, independently. With a DROP band
//! at 300 pps above a DSCP_REMARK band at 100 pps and 1000 pps offered, the
//! remark bucket then spends its tokens on packets the drop band discards,
//! and only a fraction of the 100 pps meant to pass unmarked does (the
//! `highest_exceeded_band_applies` test checks that all of it does here).
//! Which band applies to a packet is the same rule; only which buckets pay
//! differs.
//!
//! - DROP: the packet is dropped ([`MeterVerdict::Drop`]).
//! - DSCP_REMARK: the packet continues with a higher drop precedence
//!   ([`MeterVerdict::Remark`]); the action executor rewrites the DSCP with
//!   [`remark_dscp`].
//!
//! Units: with OFPMF_PKTPS a packet costs one token and rates are packets/s;
//! otherwise (OFPMF_KBPS, also the default when neither flag is set, as in
//! OVS) a packet costs its length in bits and rates are kb/s with 1 kb =
//! 1000 bits. Burst sizes are in packets or kb. Without OFPMF_BURST the
//! configured burst_size is ignored (the spec uses it only with the flag)
//! and the burst is 100 ms worth of the band's rate, but at least one packet
//! (PKTPS) or one 9216-byte jumbo frame (KBPS, 74 kb), so that a slow band
//! still passes whole packets. Buckets start full.
//!
//! # Concurrency: one CAS per band, no lock
//!
//! Meters are shared by all workers, and a per-worker split of the rate
//! would let a meter pass up to `workers ×` its burst and misjudge flows
//! that move between workers. Instead each bucket is a single `AtomicU64`
//! holding the *theoretical arrival time* (TAT) of the generic cell rate
//! algorithm, which is the token bucket written as a time: the bucket is
//! full when TAT ≤ now, and it holds `(burst_time − (TAT − now)) / cost`
//! tokens otherwise. A packet of cost `c` (in time) conforms when
//! `max(TAT, now) + c − now ≤ burst_time`, and then moves TAT there with a
//! compare-and-swap (retried on contention). Because TAT only grows by the
//! cost of each conforming packet, the packets a band passes over any
//! interval `t` never exceed `rate × t + burst` in total, whatever the
//! interleaving of workers and whatever skew their `now` readings have (a
//! worker with an older clock only sees fewer tokens). Time is in ticks of
//! 1/256 ns (so even 100 Gb/s meters cost several ticks per minimum frame);
//! costs are precomputed as 32.32 fixed-point ticks per byte or per packet.
//! The tick counter wraps after 2.28 years of `now_ns`; all comparisons use
//! wrapping differences, and a TAT implausibly far ahead of now (more than
//! the burst plus a few seconds of clock skew) is treated as long past.
//!
//! Time is passed in (`now_ns`, nanoseconds on any monotonic clock shared by
//! the workers), which makes tests deterministic.
//!
//! # Counters
//!
//! `packet_in`/`byte_in` per meter and `packet_band`/`byte_band` per band
//! (packets the band applied to) are kept per worker in a cache-line-aligned
//! slot with a single writer (relaxed load + store, as `port::PortStats`),
//! summed on read. They are kept only when the meter has OFPMF_STATS.
//!
//! # Validation
//!
//! | condition | error |
//! |---|---|
//! | meter id 0, or above OFPM_MAX other than SLOWPATH/CONTROLLER | METER_MOD_FAILED/INVALID_METER |
//! | unknown flag bits, or both KBPS and PKTPS | METER_MOD_FAILED/BAD_FLAGS |
//! | more than [`MAX_BANDS`] bands | METER_MOD_FAILED/OUT_OF_BANDS |
//! | a band that is not DROP or DSCP_REMARK | METER_MOD_FAILED/BAD_BAND |
//! | band rate 0 | METER_MOD_FAILED/BAD_RATE |
//! | burst_size 0 with OFPMF_BURST | METER_MOD_FAILED/BAD_BURST |
//!
//! A meter without bands is accepted: it counts and never acts. The number
//! of meters ([`MAX_METERS`], OUT_OF_METERS) is the agent's to check.

use crate::counters::bump;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use openflow::ErrorCode;
use openflow::error::MeterModFailedCode;
use openflow::meter::{MeterBand, band_type, meter_flags, meter_id};
use openflow::multipart::{Counters, MeterConfig, MeterFeatures, MeterStats};

/// Most meters (METER_FEATURES `max_meter`).
pub const MAX_METERS: u32 = 65_536;
/// Most bands per meter.
pub const MAX_BANDS: usize = 8;

/// Ticks per nanosecond.
const TICKS_PER_NS: u64 = 256;
/// Ticks per second.
const TICKS_PER_SEC: u128 = 1_000_000_000 * TICKS_PER_NS as u128;
/// Largest burst time (2^60 ticks ≈ 52 days), so wrapping differences stay
/// unambiguous.
const MAX_TOLERANCE: u64 = 1 << 60;
/// Clock skew between workers tolerated before a TAT ahead of now is taken
/// for a wrapped, long-past one (≈ 4.3 s).
const SKEW: u64 = 1 << 40;
/// Default burst floor for KBPS meters, in kb (one 9216-byte frame).
const KBPS_MIN_BURST: u64 = 74;

/// Why a meter configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MeterError {
    /// The meter id is 0 or reserved.
    #[error("invalid meter id {meter_id:#x}")]
    InvalidMeter {
        /// The id.
        meter_id: u32,
    },
    /// Unknown flag bits, or both KBPS and PKTPS.
    #[error("bad meter flags {flags:#x}")]
    BadFlags {
        /// The flags.
        flags: u16,
    },
    /// Too many bands.
    #[error("{count} bands exceed the limit")]
    TooManyBands {
        /// How many were given.
        count: usize,
    },
    /// A band type this meter cannot run.
    #[error("band {band}: unsupported band type {band_type:#x}")]
    BadBand {
        /// Band index.
        band: usize,
        /// Its type.
        band_type: u16,
    },
    /// A band with rate 0.
    #[error("band {band}: rate 0")]
    BadRate {
        /// Band index.
        band: usize,
    },
    /// A band with burst 0 while OFPMF_BURST is set.
    #[error("band {band}: burst size 0 with OFPMF_BURST")]
    BadBurst {
        /// Band index.
        band: usize,
    },
}

impl MeterError {
    /// The OpenFlow error this maps to.
    pub fn error_code(&self) -> ErrorCode {
        use MeterModFailedCode as C;
        ErrorCode::MeterModFailed(match self {
            Self::InvalidMeter { .. } => C::InvalidMeter,
            Self::BadFlags { .. } => C::BadFlags,
            Self::TooManyBands { .. } => C::OutOfBands,
            Self::BadBand { .. } => C::BadBand,
            Self::BadRate { .. } => C::BadRate,
            Self::BadBurst { .. } => C::BadBurst,
        })
    }
}

/// Whether `meter_id` may name a meter (1..=OFPM_MAX, SLOWPATH, CONTROLLER).
pub fn valid_meter_id(meter_id: u32) -> bool {
    (1..=meter_id::MAX).contains(&meter_id)
        || meter_id == meter_id::SLOWPATH
        || meter_id == meter_id::CONTROLLER
}

/// Checks a METER_MOD ADD/MODIFY (see the module table).
pub fn validate_meter_mod(
    meter_id: u32,
    flags: u16,
    bands: &[MeterBand],
) -> Result<(), MeterError> {
    if !valid_meter_id(meter_id) {
        return Err(MeterError::InvalidMeter { meter_id });
    }
    let known = meter_flags::KBPS | meter_flags::PKTPS | meter_flags::BURST | meter_flags::STATS;
    let both = meter_flags::KBPS | meter_flags::PKTPS;
    if flags & !known != 0 || flags & both == both {
        return Err(MeterError::BadFlags { flags });
    }
    if bands.len() > MAX_BANDS {
        return Err(MeterError::TooManyBands { count: bands.len() });
    }
    for (band, b) in bands.iter().enumerate() {
        match b {
            MeterBand::Drop { .. } | MeterBand::DscpRemark { .. } => {}
            other => {
                return Err(MeterError::BadBand {
                    band,
                    band_type: other.band_type(),
                });
            }
        }
        if b.rate() == 0 {
            return Err(MeterError::BadRate { band });
        }
        if flags & meter_flags::BURST != 0 && b.burst_size() == 0 {
            return Err(MeterError::BadBurst { band });
        }
    }
    Ok(())
}

/// What a meter decided for one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeterVerdict {
    /// No band applies: the packet continues unchanged.
    Pass,
    /// A DROP band applies.
    Drop,
    /// A DSCP_REMARK band applies: raise the drop precedence by `prec_level`
    /// ([`remark_dscp`]).
    Remark {
        /// Drop-precedence levels to add.
        prec_level: u8,
    },
}

/// Raises the drop precedence of a DSCP by `prec_level` levels.
///
/// Drop precedence exists for the Assured Forwarding codepoints (RFC 2597:
/// AFxy = `x << 3 | y << 1`, class x in 1..=4, precedence y in 1..=3): the
/// class is kept and y becomes `min(y + prec_level, 3)` (AF11 + 1 = AF12).
/// Every other codepoint (best effort, class selectors, EF) has no drop
/// precedence to raise and is returned unchanged, so a remark never moves
/// a packet into another class. `dscp` is the 6-bit value.
pub const fn remark_dscp(dscp: u8, prec_level: u8) -> u8 {
    let dscp = dscp & 0x3f;
    let class = dscp >> 3;
    let prec = (dscp >> 1) & 3;
    if class < 1 || class > 4 || prec == 0 || dscp & 1 != 0 {
        return dscp;
    }
    let p = prec as u16 + prec_level as u16;
    let p = if p > 3 { 3 } else { p as u8 };
    (class << 3) | (p << 1)
}

#[derive(Debug, Clone, Copy)]
enum BandAction {
    Drop,
    Remark(u8),
}

/// One band's precomputed parameters.
#[derive(Debug)]
struct Band {
    action: BandAction,
    rate: u32,
    /// Ticks per unit (byte or packet), 32.32 fixed point.
    cost_fp: u128,
    /// Burst time in ticks.
    tolerance: u64,
}

/// The bands' TATs, together on their own cache line(s): they are the only
/// state every worker writes.
#[derive(Debug)]
#[repr(align(64))]
struct Buckets([AtomicU64; MAX_BANDS]);

/// One worker's counters for one meter.
#[derive(Debug)]
#[repr(align(64))]
struct WorkerMeterCounters {
    packets: AtomicU64,
    bytes: AtomicU64,
    /// `[packets, bytes]` per band.
    bands: [[AtomicU64; 2]; MAX_BANDS],
}

/// A meter: configuration, token buckets and counters.
#[derive(Debug)]
pub struct Meter {
    buckets: Buckets,
    id: u32,
    flags: u16,
    pktps: bool,
    stats: bool,
    bands: Box<[Band]>,
    /// Band indices by decreasing rate (configuration order among equal
    /// rates).
    by_rate: Box<[u8]>,
    config: Box<[MeterBand]>,
    created: Instant,
    workers: Box<[WorkerMeterCounters]>,
}

impl Meter {
    /// A meter with full buckets and zero counters, for `n_workers` workers.
    pub fn new(
        meter_id: u32,
        flags: u16,
        bands: &[MeterBand],
        n_workers: usize,
        created: Instant,
    ) -> Result<Self, MeterError> {
        validate_meter_mod(meter_id, flags, bands)?;
        let pktps = flags & meter_flags::PKTPS != 0;
        let burst_flag = flags & meter_flags::BURST != 0;
        let compiled = bands
            .iter()
            .map(|b| {
                let rate = u128::from(b.rate());
                let action = match b {
                    MeterBand::DscpRemark { prec_level, .. } => BandAction::Remark(*prec_level),
                    _ => BandAction::Drop,
                };
                // Ticks per unit: per packet, or per byte (8 bits at
                // rate × 1000 bits/s).
                let cost_fp = if pktps {
                    (TICKS_PER_SEC << 32) / rate
                } else {
                    ((TICKS_PER_SEC * 8) << 32) / (rate * 1000)
                };
                let burst = if burst_flag {
                    u128::from(b.burst_size())
                } else {
                    let floor = if pktps { 1 } else { KBPS_MIN_BURST };
                    (rate / 10).max(u128::from(floor))
                };
                let tolerance =
                    (burst * TICKS_PER_SEC / rate).min(u128::from(MAX_TOLERANCE)) as u64;
                Band {
                    action,
                    rate: b.rate(),
                    cost_fp,
                    tolerance,
                }
            })
            .collect::<Box<[Band]>>();
        let mut by_rate: Vec<u8> = (0..compiled.len() as u8).collect();
        by_rate.sort_by_key(|&i| core::cmp::Reverse(compiled[usize::from(i)].rate));
        Ok(Self {
            buckets: Buckets(Default::default()),
            id: meter_id,
            flags,
            pktps,
            stats: flags & meter_flags::STATS != 0,
            bands: compiled,
            by_rate: by_rate.into_boxed_slice(),
            config: bands.into(),
            created,
            workers: (0..n_workers.max(1))
                .map(|_| WorkerMeterCounters {
                    packets: AtomicU64::new(0),
                    bytes: AtomicU64::new(0),
                    bands: Default::default(),
                })
                .collect(),
        })
    }

    /// Meter id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Meter flags as configured.
    pub fn flags(&self) -> u16 {
        self.flags
    }

    /// Meters one packet of `bytes` bytes arriving at `now_ns`, counted in
    /// `worker`'s slot (a worker index out of range is not counted).
    #[inline]
    pub fn apply(&self, worker: usize, now_ns: u64, bytes: u32) -> MeterVerdict {
        let now = now_ns.wrapping_mul(TICKS_PER_NS);
        let units = if self.pktps { 1 } else { u128::from(bytes) };
        let mut hit: Option<usize> = None;
        for &i in &self.by_rate {
            let i = usize::from(i);
            let band = &self.bands[i];
            let cost = u64::try_from((units * band.cost_fp) >> 32).unwrap_or(u64::MAX);
            if !take(&self.buckets.0[i], now, cost, band.tolerance) {
                hit = Some(i);
                break;
            }
        }
        if self.stats
            && let Some(slot) = self.workers.get(worker)
        {
            bump(&slot.packets, 1);
            bump(&slot.bytes, u64::from(bytes));
            if let Some(h) = hit {
                bump(&slot.bands[h][0], 1);
                bump(&slot.bands[h][1], u64::from(bytes));
            }
        }
        match hit.map(|h| self.bands[h].action) {
            None => MeterVerdict::Pass,
            Some(BandAction::Drop) => MeterVerdict::Drop,
            Some(BandAction::Remark(prec_level)) => MeterVerdict::Remark { prec_level },
        }
    }

    /// The METER stats entry; `flow_count` is the agent's.
    pub fn stats(&self, flow_count: u32, now: Instant) -> MeterStats {
        let mut s = MeterStats {
            meter_id: self.id,
            flow_count,
            band_stats: vec![Counters::default(); self.bands.len()],
            ..MeterStats::default()
        };
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        for w in self.workers.iter() {
            s.packet_in_count = s.packet_in_count.wrapping_add(l(&w.packets));
            s.byte_in_count = s.byte_in_count.wrapping_add(l(&w.bytes));
            for (o, b) in s.band_stats.iter_mut().zip(w.bands.iter()) {
                o.packet_count = o.packet_count.wrapping_add(l(&b[0]));
                o.byte_count = o.byte_count.wrapping_add(l(&b[1]));
            }
        }
        let d = now.saturating_duration_since(self.created);
        s.duration_sec = u32::try_from(d.as_secs()).unwrap_or(u32::MAX);
        s.duration_nsec = d.subsec_nanos();
        s
    }

    /// The METER_CONFIG entry (the configuration as received).
    pub fn config(&self) -> MeterConfig {
        MeterConfig {
            flags: self.flags,
            meter_id: self.id,
            bands: self.config.to_vec(),
        }
    }
}

/// Takes `cost` ticks from a bucket whose burst time is `tolerance`; false
/// (and nothing taken) if the bucket does not hold that much.
#[inline]
fn take(tat: &AtomicU64, now: u64, cost: u64, tolerance: u64) -> bool {
    let mut cur = tat.load(Ordering::Relaxed);
    loop {
        let ahead = cur.wrapping_sub(now);
        // TAT in the past (or implausibly far ahead: a wrapped, old TAT)
        // means a full bucket.
        let ahead = if ahead as i64 <= 0 || ahead > tolerance.saturating_add(SKEW) {
            0
        } else {
            ahead
        };
        let next = ahead.saturating_add(cost);
        if next > tolerance {
            return false;
        }
        match tat.compare_exchange_weak(
            cur,
            now.wrapping_add(next),
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => return true,
            Err(actual) => cur = actual,
        }
    }
}

/// The meters of one snapshot, by id. Cloning shares the meters (their
/// buckets and counters carry over to the next version).
#[derive(Debug, Clone, Default)]
pub struct MeterTable {
    meters: HashMap<u32, Arc<Meter>, foldhash::fast::FixedState>,
}

impl MeterTable {
    /// No meters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a meter; returns the one replaced.
    pub fn insert(&mut self, meter: Arc<Meter>) -> Option<Arc<Meter>> {
        self.meters.insert(meter.id, meter)
    }

    /// Removes a meter.
    pub fn remove(&mut self, id: u32) -> Option<Arc<Meter>> {
        self.meters.remove(&id)
    }

    /// A meter by id.
    #[inline]
    pub fn get(&self, id: u32) -> Option<&Arc<Meter>> {
        self.meters.get(&id)
    }

    /// Number of meters.
    pub fn len(&self) -> usize {
        self.meters.len()
    }

    /// Whether there is no meter.
    pub fn is_empty(&self) -> bool {
        self.meters.is_empty()
    }

    /// All meters, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Meter>> {
        self.meters.values()
    }
}

/// METER_FEATURES: [`MAX_METERS`], DROP and DSCP_REMARK, KBPS | PKTPS |
/// BURST | STATS, [`MAX_BANDS`] bands, no color-aware metering (max_color 0).
pub fn meter_features() -> MeterFeatures {
    MeterFeatures {
        max_meter: MAX_METERS,
        band_types: (1 << band_type::DROP) | (1 << band_type::DSCP_REMARK),
        capabilities: u32::from(
            meter_flags::KBPS | meter_flags::PKTPS | meter_flags::BURST | meter_flags::STATS,
        ),
        max_bands: MAX_BANDS as u8,
        max_color: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    fn drop_band(rate: u32, burst_size: u32) -> MeterBand {
        MeterBand::Drop { rate, burst_size }
    }

    #[test]
    fn dscp_remark_arithmetic() {
        // AF11 (10) + 1 = AF12 (12); AF12 + 1 = AF13 (14); saturates at AF13.
        assert_eq!(remark_dscp(10, 1), 12);
        assert_eq!(remark_dscp(12, 1), 14);
        assert_eq!(remark_dscp(10, 5), 14);
        assert_eq!(remark_dscp(34, 1), 36); // AF41 -> AF42
        assert_eq!(remark_dscp(38, 1), 38); // AF43 stays
        assert_eq!(remark_dscp(26, 0), 26);
        // Non-AF codepoints are untouched.
        for d in [0, 8, 46, 48, 56, 11] {
            assert_eq!(remark_dscp(d, 2), d);
        }
    }

    #[test]
    fn validation_codes() {
        let code = |id, flags, bands: &[MeterBand]| {
            validate_meter_mod(id, flags, bands).map_err(|e| e.error_code())
        };
        let e = |c| Err(ErrorCode::MeterModFailed(c));
        use MeterModFailedCode as C;
        let ok = [drop_band(10, 0)];
        assert_eq!(code(1, meter_flags::KBPS, &ok), Ok(()));
        assert_eq!(code(0, meter_flags::KBPS, &ok), e(C::InvalidMeter));
        assert_eq!(code(meter_id::MAX + 1, 0, &ok), e(C::InvalidMeter));
        assert_eq!(code(meter_id::ALL, 0, &ok), e(C::InvalidMeter));
        assert_eq!(code(meter_id::CONTROLLER, 0, &ok), Ok(()));
        assert_eq!(code(meter_id::SLOWPATH, 0, &ok), Ok(()));
        assert_eq!(
            code(1, meter_flags::KBPS | meter_flags::PKTPS, &ok),
            e(C::BadFlags)
        );
        assert_eq!(code(1, 1 << 4, &ok), e(C::BadFlags));
        assert_eq!(code(1, 0, &[drop_band(0, 1)]), e(C::BadRate));
        assert_eq!(code(1, meter_flags::BURST, &ok), e(C::BadBurst));
        assert_eq!(
            code(1, 0, &[drop_band(10, 5)]),
            Ok(()),
            "burst ignored without flag"
        );
        let exp = MeterBand::Experimenter {
            rate: 1,
            burst_size: 1,
            experimenter: 7,
            data: vec![],
        };
        assert_eq!(code(1, 0, &[exp]), e(C::BadBand));
        assert_eq!(code(1, 0, &vec![drop_band(1, 1); 9]), e(C::OutOfBands));
        assert_eq!(code(1, 0, &[]), Ok(()));
    }

    #[test]
    fn bucket_starts_full_and_refills() {
        let m = Meter::new(
            1,
            meter_flags::PKTPS | meter_flags::BURST,
            &[drop_band(10, 3)],
            1,
            Instant::now(),
        )
        .unwrap();
        let t0 = 5 * SEC;
        let v: Vec<_> = (0..5).map(|_| m.apply(0, t0, 64)).collect();
        assert_eq!(
            v,
            [
                MeterVerdict::Pass,
                MeterVerdict::Pass,
                MeterVerdict::Pass,
                MeterVerdict::Drop,
                MeterVerdict::Drop
            ]
        );
        // 100 ms later one token is back.
        assert_eq!(m.apply(0, t0 + SEC / 10, 64), MeterVerdict::Pass);
        assert_eq!(m.apply(0, t0 + SEC / 10, 64), MeterVerdict::Drop);
    }

    #[test]
    fn default_burst_floor() {
        // 1 kb/s without BURST: the floor lets one jumbo frame through.
        let m = Meter::new(1, meter_flags::KBPS, &[drop_band(1, 0)], 1, Instant::now()).unwrap();
        assert_eq!(m.apply(0, SEC, 9216), MeterVerdict::Pass);
        assert_eq!(m.apply(0, SEC, 64), MeterVerdict::Drop);
    }

    #[test]
    fn wrapped_tat_is_past() {
        let tat = AtomicU64::new(0);
        // now far beyond 2^63 ticks: TAT 0 looks "ahead" but is long past.
        let now = (1u64 << 63) + 12345;
        assert!(take(&tat, now, 10, 100));
        assert_eq!(tat.load(Ordering::Relaxed), now + 10);
    }

    #[test]
    fn features() {
        let f = meter_features();
        assert_eq!(f.band_types, 0b110);
        assert_eq!(f.capabilities, 0b1111);
        assert_eq!(f.max_bands, 8);
    }
}
