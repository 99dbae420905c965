//! In-process ports for tests, the in-process conformance mode and
//! benchmarks.
//!
//! A [`MemPort`] is driven by a worker like any other port; the harness
//! keeps its [`MemHandle`]: [`MemHandle::inject`] puts a frame on the port's
//! receive ring, [`MemHandle::recv`] takes a frame that left through the
//! port, [`MemHandle::set_link_up`] pulls the cable.
//!
//! Both rings are bounded lock-free queues (std's `sync_channel`, whose
//! bounded flavour is the crossbeam array queue: `try_send`/`try_recv` are
//! lock-free, a lock is taken only to wake a thread blocked in
//! [`MemHandle::recv_timeout`]). A full ring drops and counts: injection
//! drops show in [`MemHandle::inject_dropped`], transmit drops in the port's
//! `tx_dropped`.
//!
//! Two modes exist for benchmarks, where the rings themselves would be what
//! is measured:
//! * **replay source** ([`MemPort::set_replay`]): the port yields the frames
//!   of a pre-generated trace in order, looping a given number of times (or
//!   forever), copying each into a pool buffer as a NIC would;
//! * **null sink** ([`MemPort::set_null_sink`]): the port reads a byte at each
//!   end of every frame it is given (so the frame's cache lines are touched,
//!   as a NIC's DMA read would) and returns the buffer to the pool.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use super::{PortInfo, PortStats, synthetic_mac};
use crate::buf::{BufPool, PacketBuf};

/// Options of a `mem:` port.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemConfig {
    /// Frames each ring holds.
    pub capacity: usize,
}

impl Default for MemConfig {
    fn default() -> Self {
        Self { capacity: 1024 }
    }
}

/// State shared by a port and its handle.
#[derive(Debug)]
struct Shared {
    link_up: AtomicBool,
    /// Written by the handle only.
    inject_dropped: AtomicU64,
}

/// A pre-generated trace laid out in one allocation.
#[derive(Debug)]
struct Replay {
    bytes: Vec<u8>,
    /// (offset, length) of each frame in `bytes`.
    frames: Vec<(usize, usize)>,
    next: usize,
    /// Full passes still to make; `None` loops forever.
    rounds_left: Option<u64>,
}

#[derive(Debug)]
enum Rx {
    Ring(Receiver<Vec<u8>>),
    Replay(Replay),
}

#[derive(Debug)]
enum Tx {
    Ring(SyncSender<PacketBuf>),
    Null { touched: u64 },
}

/// An in-process port.
#[derive(Debug)]
pub struct MemPort {
    rx: Rx,
    tx: Tx,
    shared: Arc<Shared>,
    stats: Arc<PortStats>,
    info: PortInfo,
}

/// The harness's end of a [`MemPort`].
#[derive(Debug)]
pub struct MemHandle {
    inject: SyncSender<Vec<u8>>,
    out: Receiver<PacketBuf>,
    shared: Arc<Shared>,
    stats: Arc<PortStats>,
}

impl MemPort {
    /// A port named `name` (its MAC is derived from the name) with an
    /// injection ring and a transmit ring of `cfg.capacity` frames each, and
    /// the handle that feeds and drains them. The link starts up.
    pub fn new(name: &str, cfg: &MemConfig) -> (MemPort, MemHandle) {
        let cap = cfg.capacity.max(1);
        let (inject, rx) = sync_channel(cap);
        let (tx, out) = sync_channel(cap);
        let shared = Arc::new(Shared {
            link_up: AtomicBool::new(true),
            inject_dropped: AtomicU64::new(0),
        });
        let stats = Arc::new(PortStats::new(true));
        let info = PortInfo {
            name: name.into(),
            hw_addr: synthetic_mac(name),
            mtu: 1500,
            curr: openflow::port::port_features::RATE_10GB_FD,
            advertised: 0,
            supported: openflow::port::port_features::RATE_10GB_FD,
            peer: 0,
            curr_speed_kbps: 10_000_000,
            max_speed_kbps: 10_000_000,
        };
        (
            MemPort {
                rx: Rx::Ring(rx),
                tx: Tx::Ring(tx),
                shared: shared.clone(),
                stats: stats.clone(),
                info,
            },
            MemHandle {
                inject,
                out,
                shared,
                stats,
            },
        )
    }

    /// Makes the port a replay source: it yields `frames` in order, `rounds`
    /// times (`None`: forever), instead of reading its injection ring.
    /// Frames longer than [`MAX_FRAME`](crate::buf::MAX_FRAME) are counted as `rx_errors` when
    /// their turn comes.
    pub fn set_replay<F: AsRef<[u8]>>(&mut self, frames: &[F], rounds: Option<u64>) {
        let total = frames.iter().map(|f| f.as_ref().len()).sum();
        let mut bytes = Vec::with_capacity(total);
        let mut offs = Vec::with_capacity(frames.len());
        for f in frames {
            offs.push((bytes.len(), f.as_ref().len()));
            bytes.extend_from_slice(f.as_ref());
        }
        self.rx = Rx::Replay(Replay {
            bytes,
            frames: offs,
            next: 0,
            rounds_left: rounds,
        });
    }

    /// Makes the port a null sink: transmitted frames are touched and
    /// freed instead of queued for the handle.
    pub fn set_null_sink(&mut self) {
        self.tx = Tx::Null { touched: 0 };
    }

    /// A value folded from the bytes the null sink touched (keeps the
    /// touches from being optimised away; meaningless otherwise).
    pub fn null_sink_checksum(&self) -> u64 {
        match self.tx {
            Tx::Null { touched } => touched,
            Tx::Ring(_) => 0,
        }
    }

    /// See [`super::Port::rx_batch`].
    #[inline]
    pub fn rx_batch(&mut self, pool: &mut BufPool, out: &mut Vec<PacketBuf>, max: usize) -> usize {
        if !self.shared.link_up.load(Ordering::Relaxed) {
            return 0;
        }
        let (mut n, mut bytes, mut errors) = (0usize, 0u64, 0u64);
        match &mut self.rx {
            Rx::Ring(ring) => {
                while n < max {
                    let Ok(frame) = ring.try_recv() else { break };
                    let mut b = pool.get();
                    if b.fill(&frame) {
                        bytes += frame.len() as u64;
                        out.push(b);
                        n += 1;
                    } else {
                        pool.put(b);
                        errors += 1;
                    }
                }
            }
            Rx::Replay(r) => {
                if r.frames.is_empty() || r.rounds_left == Some(0) {
                    return 0;
                }
                while n < max {
                    if r.next == r.frames.len() {
                        match &mut r.rounds_left {
                            Some(0) => break,
                            Some(k) => {
                                *k -= 1;
                                if *k == 0 {
                                    break;
                                }
                            }
                            None => {}
                        }
                        r.next = 0;
                    }
                    let (off, len) = r.frames[r.next];
                    r.next += 1;
                    let mut b = pool.get();
                    if b.fill(&r.bytes[off..off + len]) {
                        bytes += len as u64;
                        out.push(b);
                        n += 1;
                    } else {
                        pool.put(b);
                        errors += 1;
                    }
                }
            }
        }
        self.stats.rx(n as u64, bytes);
        if errors != 0 {
            self.stats.rx_error(errors);
        }
        n
    }

    /// See [`super::Port::tx`].
    #[inline(always)]
    pub fn tx(&mut self, pkt: PacketBuf, pool: &mut BufPool) {
        if !self.shared.link_up.load(Ordering::Relaxed) {
            self.stats.tx_dropped(1);
            pool.put(pkt);
            return;
        }
        let len = pkt.len() as u64;
        match &mut self.tx {
            Tx::Ring(ring) => Self::tx_ring(ring, &self.stats, pkt, pool),
            Tx::Null { touched } => {
                let d = pkt.data();
                if let (Some(&a), Some(&z)) = (d.first(), d.last()) {
                    *touched = touched.wrapping_add(u64::from(a) ^ (u64::from(z) << 8));
                }
                self.stats.tx(1, len);
                pool.put(pkt);
            }
        }
    }

    /// The ring half of [`MemPort::tx`], kept out of line so that the null
    /// sink's few instructions inline into the forwarding path.
    #[inline(never)]
    fn tx_ring(
        ring: &SyncSender<PacketBuf>,
        stats: &PortStats,
        pkt: PacketBuf,
        pool: &mut BufPool,
    ) {
        let len = pkt.len() as u64;
        match ring.try_send(pkt) {
            Ok(()) => stats.tx(1, len),
            Err(TrySendError::Full(b) | TrySendError::Disconnected(b)) => {
                stats.tx_dropped(1);
                pool.put(b);
            }
        }
    }

    /// Nothing is deferred: frames reach the ring in [`MemPort::tx`].
    #[inline]
    pub fn flush(&mut self) {}

    /// See [`super::Port::refresh_link`].
    pub fn refresh_link(&mut self) -> Option<bool> {
        let up = self.shared.link_up.load(Ordering::Acquire);
        self.stats.set_link(up).then_some(up)
    }

    /// The port's counters.
    pub fn stats(&self) -> &Arc<PortStats> {
        &self.stats
    }

    /// What `ofp_port` reports.
    pub fn info(&self) -> &PortInfo {
        &self.info
    }

    /// The replay frames still to come before the trace ends (`None` when
    /// not replaying or looping forever).
    pub fn replay_remaining(&self) -> Option<u64> {
        match &self.rx {
            Rx::Replay(r) => {
                let rounds = r.rounds_left?;
                if rounds == 0 {
                    return Some(0);
                }
                let per = r.frames.len() as u64;
                Some((rounds - 1) * per + (per - r.next as u64))
            }
            Rx::Ring(_) => None,
        }
    }
}

impl MemHandle {
    /// Puts a frame on the port's receive ring; false (and counted) when the
    /// ring is full or the port is gone.
    pub fn inject(&self, frame: &[u8]) -> bool {
        self.inject_vec(frame.to_vec())
    }

    /// Like [`MemHandle::inject`], without copying.
    pub fn inject_vec(&self, frame: Vec<u8>) -> bool {
        match self.inject.try_send(frame) {
            Ok(()) => true,
            Err(_) => {
                let d = &self.shared.inject_dropped;
                d.store(d.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Frames [`MemHandle::inject`] could not queue.
    pub fn inject_dropped(&self) -> u64 {
        self.shared.inject_dropped.load(Ordering::Relaxed)
    }

    /// A frame that left through the port, if any.
    pub fn recv(&self) -> Option<PacketBuf> {
        self.out.try_recv().ok()
    }

    /// Waits up to `timeout` for a frame that left through the port.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<PacketBuf> {
        self.out.recv_timeout(timeout).ok()
    }

    /// Every frame that has left so far.
    pub fn drain(&self) -> Vec<PacketBuf> {
        std::iter::from_fn(|| self.recv()).collect()
    }

    /// Sets the link state; the port stops receiving and drops what it is
    /// asked to send while down, and reports the change at its next
    /// `refresh_link`.
    pub fn set_link_up(&self, up: bool) {
        self.shared.link_up.store(up, Ordering::Release);
    }

    /// The port's counters.
    pub fn stats(&self) -> &Arc<PortStats> {
        &self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buf::MAX_FRAME;

    #[test]
    fn inject_rx_tx_recv() {
        let (mut p, h) = MemPort::new("m0", &MemConfig { capacity: 2 });
        let mut pool = BufPool::with_capacity(4);
        assert!(h.inject(&[1, 2, 3]));
        assert!(h.inject(&[4, 5]));
        assert!(!h.inject(&[6]));
        assert_eq!(h.inject_dropped(), 1);
        let mut out = Vec::new();
        assert_eq!(p.rx_batch(&mut pool, &mut out, 32), 2);
        assert_eq!(out[0].data(), &[1, 2, 3]);
        assert_eq!(out[1].data(), &[4, 5]);
        for b in out.drain(..) {
            p.tx(b, &mut pool);
        }
        let mut extra = pool.get();
        extra.fill(&[9]);
        p.tx(extra, &mut pool);
        let c = p.stats().snapshot();
        assert_eq!(
            (
                c.rx_packets,
                c.rx_bytes,
                c.tx_packets,
                c.tx_bytes,
                c.tx_dropped
            ),
            (2, 5, 2, 5, 1)
        );
        let got: Vec<Vec<u8>> = h.drain().iter().map(|b| b.data().to_vec()).collect();
        assert_eq!(got, vec![vec![1, 2, 3], vec![4, 5]]);
    }

    #[test]
    fn oversized_injection_is_an_rx_error() {
        let (mut p, h) = MemPort::new("m0", &MemConfig::default());
        let mut pool = BufPool::with_capacity(1);
        h.inject(&vec![0; MAX_FRAME + 1]);
        let mut out = Vec::new();
        assert_eq!(p.rx_batch(&mut pool, &mut out, 32), 0);
        assert_eq!(p.stats().snapshot().rx_errors, 1);
        assert_eq!(pool.available(), 1);
    }

    #[test]
    fn replay_rounds_and_null_sink() {
        let (mut p, _h) = MemPort::new("m0", &MemConfig::default());
        p.set_replay(&[vec![1u8; 60], vec![2u8; 64], vec![3u8; 70]], Some(3));
        p.set_null_sink();
        assert_eq!(p.replay_remaining(), Some(9));
        let mut pool = BufPool::with_capacity(8);
        let mut out = Vec::new();
        let mut firsts = Vec::new();
        loop {
            let n = p.rx_batch(&mut pool, &mut out, 4);
            if n == 0 {
                break;
            }
            for b in out.drain(..) {
                firsts.push(b.data()[0]);
                p.tx(b, &mut pool);
            }
        }
        assert_eq!(firsts, vec![1, 2, 3, 1, 2, 3, 1, 2, 3]);
        assert_eq!(p.replay_remaining(), Some(0));
        let c = p.stats().snapshot();
        assert_eq!((c.rx_packets, c.tx_packets, c.tx_bytes), (9, 9, 3 * 194));
        assert_ne!(p.null_sink_checksum(), 0);
        assert_eq!(pool.allocated(), 8);
    }

    #[test]
    fn link_down_blocks_traffic_and_is_reported_once() {
        let (mut p, h) = MemPort::new("m0", &MemConfig::default());
        let mut pool = BufPool::with_capacity(2);
        assert_eq!(p.refresh_link(), None);
        h.set_link_up(false);
        assert_eq!(p.refresh_link(), Some(false));
        assert_eq!(p.refresh_link(), None);
        h.inject(&[1]);
        let mut out = Vec::new();
        assert_eq!(p.rx_batch(&mut pool, &mut out, 32), 0);
        let b = pool.get();
        p.tx(b, &mut pool);
        assert_eq!(p.stats().snapshot().tx_dropped, 1);
        h.set_link_up(true);
        assert_eq!(p.refresh_link(), Some(true));
        assert_eq!(h.stats().link_generation(), 2);
        assert_eq!(p.rx_batch(&mut pool, &mut out, 32), 1);
    }
}
