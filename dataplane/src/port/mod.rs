//! Dataplane ports: where frames come from and where they leave.
//!
//! # Backends
//!
//! | spec | backend | for |
//! |---|---|---|
//! | `afpacket:IFNAME` | [`afpacket::AfPacketPort`]: Linux `AF_PACKET`, TPACKET_V3 mmap RX ring, TPACKET_V2 mmap TX ring | veth, tap, real NICs |
//! | `pcap:IN[,OUT][,loop]` | [`pcap::PcapPort`]: classic pcap files, read and written by this crate | replay and capture |
//! | `mem:[CAPACITY]` | [`mem::MemPort`] with a [`mem::MemHandle`] for the harness | tests, in-process conformance, benchmarks |
//!
//! A port is an enum of backends ([`Port`]), not a trait object: a worker
//! calls `rx_batch`/`tx` in its tight loop and a `match` on a small enum is a
//! predictable branch the compiler can inline through, where a `dyn` call per
//! packet is not. The per-backend types are public too, so a benchmark can
//! drive one directly.
//!
//! # The contract every backend keeps
//!
//! * **Receive copies.** [`Port::rx_batch`] takes a buffer from the worker's
//!   [`BufPool`] for each frame and copies the frame into it, as a NIC DMA-s
//!   into a pool buffer; the backend's own memory (an mmap ring, a file
//!   buffer, an injection ring) is handed back to its producer at once. At
//!   most [`MAX_BATCH`] frames per call; `rx_batch` never blocks.
//! * **Transmit consumes.** [`Port::tx`] takes the buffer by value; a backend
//!   that copies (AF_PACKET, pcap, null sink) returns it to the pool right
//!   away, one that forwards the buffer itself (a `mem` ring to the harness)
//!   lets it go. Transmission may be deferred to [`Port::flush`], which the
//!   worker calls once per batch: AF_PACKET kicks the kernel once for all
//!   frames queued in its TX ring.
//! * **Never blocks, never panics on input.** A full ring drops and counts
//!   (`tx_dropped`), a malformed input counts (`rx_errors`); I/O errors on
//!   the hot path are counted, not returned. Errors are typed only where
//!   something can be done about them: opening a port.
//!
//! # Ownership and threads
//!
//! Each port is owned and polled by exactly one worker. Its counters
//! ([`PortStats`]) live behind an `Arc` so the agent can read them: the
//! owner is the only writer and updates them with a relaxed `load` + `store`
//! (no read-modify-write, no lock prefix: on x86 this is a plain `mov`), the
//! agent reads them with relaxed loads. A reader may see a packet counted
//! but not yet its bytes; OpenFlow statistics do not promise more.
//!
//! Another worker that must send out of a port it does not own (a flood, an
//! output to a port polled elsewhere) uses a tx link ([`tx_link`]): a bounded lock-free
//! queue from that worker into the owner, drained by the owner with
//! [`Port::drain_link`] in its loop. A full link drops and counts, it never
//! blocks the sender. To keep every worker's pool at a constant size, the
//! owner answers each buffer it takes off a link with an empty buffer from its
//! own pool on a return queue, which the sender reclaims with
//! [`TxLinkSender::reclaim`]. We chose a link into the owner over one
//! `AF_PACKET` socket per (worker, port) because it works the same for every
//! backend (a pcap file or a harness ring has exactly one writer), keeps the
//! socket count at one RX and one TX per port, and keeps per-port transmit
//! order within one worker's traffic.
//!
//! # Link state
//!
//! [`Port::link_up`] is the last state seen; [`Port::refresh_link`] looks
//! again (for AF_PACKET one `SIOCGIFFLAGS` ioctl, `IFF_UP && IFF_RUNNING`),
//! records a change in [`PortStats`] and reports it, so the worker (or the
//! agent, through [`PortStats::link_generation`]) can emit PORT_STATUS. The
//! worker calls it on a timer (every ~100 ms), not per batch: it is a system
//! call. `pcap` ports are always up; `mem` ports follow
//! [`mem::MemHandle::set_link_up`].
//!
//! # Port numbers
//!
//! A port does not know its OpenFlow number: the configuration maps stable
//! numbers to specs ([`PortConfig`], `N=SPEC`), and the worker indexes its
//! ports by number. Numbers never change while the switch runs, and reserved
//! numbers (`0` and `OFPP_MAX` = `0xffffff00` and above) are refused.

pub mod afpacket;
pub mod mem;
pub mod pcap;

use crate::counters::bump;
use core::str::FromStr;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use crate::buf::{BufPool, PacketBuf};

/// Largest number of frames one [`Port::rx_batch`] call returns.
pub const MAX_BATCH: usize = 32;

/// `OFPP_MAX`: the first reserved OpenFlow port number.
pub const OFPP_MAX: u32 = 0xffff_ff00;

/// A snapshot of a port's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortCounters {
    /// Frames received and handed to the pipeline.
    pub rx_packets: u64,
    /// Bytes of those frames.
    pub rx_bytes: u64,
    /// Frames lost before the pipeline saw them (kernel ring overflow).
    pub rx_dropped: u64,
    /// Frames that could not be received (too long for a buffer, malformed
    /// capture record).
    pub rx_errors: u64,
    /// Frames handed to the device / file / harness.
    pub tx_packets: u64,
    /// Bytes of those frames.
    pub tx_bytes: u64,
    /// Frames dropped because the transmit ring or link was full.
    pub tx_dropped: u64,
    /// Frames that could not be sent (too long for the MTU, I/O error).
    pub tx_errors: u64,
}

/// A port's live counters and link state, written by the owning worker only
/// and readable from any thread.
#[derive(Debug, Default)]
pub struct PortStats {
    rx_packets: AtomicU64,
    rx_bytes: AtomicU64,
    rx_dropped: AtomicU64,
    rx_errors: AtomicU64,
    tx_packets: AtomicU64,
    tx_bytes: AtomicU64,
    tx_dropped: AtomicU64,
    tx_errors: AtomicU64,
    link_up: AtomicBool,
    link_generation: AtomicU64,
}

impl PortStats {
    fn new(link_up: bool) -> Self {
        let s = Self::default();
        s.link_up.store(link_up, Ordering::Relaxed);
        s
    }

    /// The counters now.
    pub fn snapshot(&self) -> PortCounters {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        PortCounters {
            rx_packets: l(&self.rx_packets),
            rx_bytes: l(&self.rx_bytes),
            rx_dropped: l(&self.rx_dropped),
            rx_errors: l(&self.rx_errors),
            tx_packets: l(&self.tx_packets),
            tx_bytes: l(&self.tx_bytes),
            tx_dropped: l(&self.tx_dropped),
            tx_errors: l(&self.tx_errors),
        }
    }

    /// The link state last seen by the owner.
    pub fn link_up(&self) -> bool {
        self.link_up.load(Ordering::Acquire)
    }

    /// How many link changes the owner has seen; a reader that remembers the
    /// last value knows when to send PORT_STATUS.
    pub fn link_generation(&self) -> u64 {
        self.link_generation.load(Ordering::Acquire)
    }

    #[inline]
    fn rx(&self, packets: u64, bytes: u64) {
        if packets != 0 {
            bump(&self.rx_packets, packets);
            bump(&self.rx_bytes, bytes);
        }
    }

    #[inline]
    fn tx(&self, packets: u64, bytes: u64) {
        bump(&self.tx_packets, packets);
        bump(&self.tx_bytes, bytes);
    }

    #[inline]
    fn rx_dropped(&self, n: u64) {
        bump(&self.rx_dropped, n);
    }

    #[inline]
    fn rx_error(&self, n: u64) {
        bump(&self.rx_errors, n);
    }

    #[inline]
    fn tx_dropped(&self, n: u64) {
        bump(&self.tx_dropped, n);
    }

    #[inline]
    fn tx_error(&self, n: u64) {
        bump(&self.tx_errors, n);
    }

    /// Records a link state; true when it changed.
    fn set_link(&self, up: bool) -> bool {
        if self.link_up.load(Ordering::Relaxed) == up {
            return false;
        }
        self.link_up.store(up, Ordering::Release);
        self.link_generation.store(
            self.link_generation.load(Ordering::Relaxed) + 1,
            Ordering::Release,
        );
        true
    }
}

/// What `ofp_port` needs to know about a port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortInfo {
    /// Interface or port name (at most 15 bytes are reported to controllers).
    pub name: String,
    /// Hardware address.
    pub hw_addr: [u8; 6],
    /// Largest L3 payload (bytes); frames up to `mtu + 14 + 4` are sent.
    pub mtu: u32,
    /// `ofp_port_features` bits for `curr`.
    pub curr: u32,
    /// `ofp_port_features` bits for `advertised`.
    pub advertised: u32,
    /// `ofp_port_features` bits for `supported`.
    pub supported: u32,
    /// `ofp_port_features` bits for `peer`.
    pub peer: u32,
    /// Current bit rate in kbps (0 when unknown).
    pub curr_speed_kbps: u32,
    /// Maximum bit rate in kbps (0 when unknown).
    pub max_speed_kbps: u32,
}

/// A locally administered unicast MAC derived from a name, for ports that
/// have no hardware (pcap, mem).
fn synthetic_mac(name: &str) -> [u8; 6] {
    // FNV-1a: stable across runs and builds, unlike std's RandomState.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let b = h.to_be_bytes();
    [0x02, b[3], b[4], b[5], b[6], b[7]]
}

/// Why a port spec string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PortSpecError {
    /// The spec does not start with `afpacket:`, `pcap:` or `mem:`.
    #[error("unknown port type in {spec:?} (expected afpacket:, pcap: or mem:)")]
    UnknownType {
        /// The spec as given.
        spec: String,
    },
    /// `afpacket:` without a usable interface name.
    #[error("bad interface name {name:?} (1 to 15 bytes, no '/', NUL or space)")]
    BadIfName {
        /// The name as given.
        name: String,
    },
    /// `pcap:` with neither an input nor an output file.
    #[error("pcap port needs an input or an output file")]
    PcapNoFiles,
    /// An option or trailing item that is not understood.
    #[error("unexpected {item:?} in port spec")]
    UnexpectedItem {
        /// The item.
        item: String,
    },
    /// `mem:` with a capacity that is not a positive integer.
    #[error("bad mem ring capacity {value:?}")]
    BadCapacity {
        /// The value as given.
        value: String,
    },
    /// `N=SPEC` without `=` or with a number that is not a valid port.
    #[error("bad OpenFlow port number {value:?} (1..0xffffff00)")]
    BadPortNumber {
        /// The value as given.
        value: String,
    },
}

/// Which backend a port uses and its options.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PortSpec {
    /// `afpacket:IFNAME`.
    AfPacket {
        /// Interface name.
        ifname: String,
        /// Ring sizes and socket options.
        config: afpacket::AfPacketConfig,
    },
    /// `pcap:IN[,OUT][,loop]`; an empty IN (`pcap:,OUT`) only captures.
    Pcap(pcap::PcapSpec),
    /// `mem:[CAPACITY]`.
    Mem(mem::MemConfig),
}

impl FromStr for PortSpec {
    type Err = PortSpecError;

    /// Parses `afpacket:IFNAME`, `pcap:IN[,OUT][,loop]` or `mem:[CAPACITY]`.
    ///
    /// In the pcap form the items are split at commas; a last item that is
    /// exactly `loop` asks for looping replay (so a file literally named
    /// `loop` must be given with a path, `./loop`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(name) = s.strip_prefix("afpacket:") {
            let ok = !name.is_empty()
                && name.len() < 16
                && !name
                    .bytes()
                    .any(|b| b == b'/' || b == 0 || b.is_ascii_whitespace());
            if !ok {
                return Err(PortSpecError::BadIfName { name: name.into() });
            }
            return Ok(PortSpec::AfPacket {
                ifname: name.into(),
                config: afpacket::AfPacketConfig::default(),
            });
        }
        if let Some(rest) = s.strip_prefix("pcap:") {
            let mut items: Vec<&str> = rest.split(',').collect();
            let looping = items.len() > 1 && items.last() == Some(&"loop");
            if looping {
                items.pop();
            }
            if items.len() > 2 {
                return Err(PortSpecError::UnexpectedItem {
                    item: items[2..].join(","),
                });
            }
            let input = items.first().filter(|s| !s.is_empty()).map(Into::into);
            let output = items.get(1).filter(|s| !s.is_empty()).map(Into::into);
            if input.is_none() && output.is_none() {
                return Err(PortSpecError::PcapNoFiles);
            }
            return Ok(PortSpec::Pcap(pcap::PcapSpec {
                input,
                output,
                looping,
                nanosecond: false,
            }));
        }
        if s == "mem" {
            return Ok(PortSpec::Mem(mem::MemConfig::default()));
        }
        if let Some(rest) = s.strip_prefix("mem:") {
            let mut cfg = mem::MemConfig::default();
            if !rest.is_empty() {
                cfg.capacity = rest
                    .parse::<usize>()
                    .ok()
                    .filter(|&c| c > 0)
                    .ok_or_else(|| PortSpecError::BadCapacity { value: rest.into() })?;
            }
            return Ok(PortSpec::Mem(cfg));
        }
        Err(PortSpecError::UnknownType { spec: s.into() })
    }
}

/// One configured port: a stable OpenFlow number and its backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    /// OpenFlow port number (1 ..= `OFPP_MAX - 1`).
    pub port_no: u32,
    /// Backend.
    pub spec: PortSpec,
}

impl FromStr for PortConfig {
    type Err = PortSpecError;

    /// Parses `N=SPEC`, e.g. `1=afpacket:eth0`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (n, spec) = s
            .split_once('=')
            .ok_or_else(|| PortSpecError::BadPortNumber { value: s.into() })?;
        let port_no = n
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|&n| n != 0 && n < OFPP_MAX)
            .ok_or_else(|| PortSpecError::BadPortNumber { value: n.into() })?;
        Ok(PortConfig {
            port_no,
            spec: spec.parse()?,
        })
    }
}

/// Why a port could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PortOpenError {
    /// The AF_PACKET backend failed.
    #[error(transparent)]
    AfPacket(#[from] afpacket::AfPacketError),
    /// The pcap backend failed.
    #[error(transparent)]
    Pcap(#[from] pcap::PcapError),
}

/// A dataplane port: one of the backends.
#[derive(Debug)]
#[non_exhaustive]
pub enum Port {
    /// In-process rings.
    Mem(mem::MemPort),
    /// Capture files.
    Pcap(pcap::PcapPort),
    /// Linux AF_PACKET socket.
    AfPacket(afpacket::AfPacketPort),
}

macro_rules! each {
    ($self:expr, $p:ident => $e:expr) => {
        match $self {
            Port::Mem($p) => $e,
            Port::Pcap($p) => $e,
            Port::AfPacket($p) => $e,
        }
    };
}

impl Port {
    /// Opens the backend a spec names. `mem` ports also return the handle
    /// the harness keeps; `name` is used for ports that have no name of their
    /// own (pcap, mem).
    pub fn open(
        spec: &PortSpec,
        name: &str,
    ) -> Result<(Port, Option<mem::MemHandle>), PortOpenError> {
        Ok(match spec {
            PortSpec::AfPacket { ifname, config } => (
                Port::AfPacket(afpacket::AfPacketPort::open(ifname, config)?),
                None,
            ),
            PortSpec::Pcap(p) => (Port::Pcap(pcap::PcapPort::open(name, p)?), None),
            PortSpec::Mem(cfg) => {
                let (p, h) = mem::MemPort::new(name, cfg);
                (Port::Mem(p), Some(h))
            }
        })
    }

    /// Receives up to `max` (at most [`MAX_BATCH`]) frames into buffers from
    /// `pool`, appending them to `out`; returns how many. Never blocks.
    #[inline]
    pub fn rx_batch(&mut self, pool: &mut BufPool, out: &mut Vec<PacketBuf>, max: usize) -> usize {
        let max = max.min(MAX_BATCH);
        each!(self, p => p.rx_batch(pool, out, max))
    }

    /// Queues one frame for transmission (sent at the latest by
    /// [`Port::flush`]). The buffer returns to `pool` or moves on.
    #[inline]
    pub fn tx(&mut self, pkt: PacketBuf, pool: &mut BufPool) {
        each!(self, p => p.tx(pkt, pool))
    }

    /// Queues every frame of `pkts` (leaving it empty) and flushes.
    pub fn tx_batch(&mut self, pkts: &mut Vec<PacketBuf>, pool: &mut BufPool) {
        each!(self, p => {
            for pkt in pkts.drain(..) {
                p.tx(pkt, pool);
            }
            p.flush();
        })
    }

    /// Pushes queued frames out.
    #[inline]
    pub fn flush(&mut self) {
        each!(self, p => p.flush())
    }

    /// Transmits up to `max` frames another worker queued on `link`, answers
    /// each with an empty buffer from `pool`, and flushes; returns how many.
    pub fn drain_link(
        &mut self,
        link: &mut TxLinkReceiver,
        pool: &mut BufPool,
        max: usize,
    ) -> usize {
        let mut n = 0;
        while n < max {
            let Ok(pkt) = link.fwd.try_recv() else { break };
            // The return queue has the forward queue's capacity and the
            // sender reclaims before it sends, so this only fails when the
            // sender is gone; then the buffer simply stays with us.
            let spare = pool.get();
            if let Err(e) = link.back.try_send(spare) {
                let (TrySendError::Full(b) | TrySendError::Disconnected(b)) = e;
                pool.put(b);
            }
            self.tx(pkt, pool);
            n += 1;
        }
        if n > 0 {
            self.flush();
        }
        n
    }

    /// The link state last seen.
    #[inline]
    pub fn link_up(&self) -> bool {
        self.stats().link_up()
    }

    /// Looks at the link again; `Some(up)` when it changed since the last
    /// look. Also folds kernel drop counters into the port's counters.
    pub fn refresh_link(&mut self) -> Option<bool> {
        each!(self, p => p.refresh_link())
    }

    /// The port's counters, shareable with the agent.
    pub fn stats(&self) -> &Arc<PortStats> {
        each!(self, p => p.stats())
    }

    /// What `ofp_port` reports.
    pub fn info(&self) -> &PortInfo {
        each!(self, p => p.info())
    }

    /// The port's name.
    pub fn name(&self) -> &str {
        &self.info().name
    }

    /// The port's hardware address.
    pub fn hw_addr(&self) -> [u8; 6] {
        self.info().hw_addr
    }

    /// A file descriptor that becomes readable when frames arrive, for
    /// ports that have one (AF_PACKET); the others are always ready or are
    /// fed from the same thread.
    pub fn poll_fd(&self) -> Option<RawFd> {
        match self {
            Port::AfPacket(p) => Some(p.rx_fd()),
            _ => None,
        }
    }
}

/// Waits until one of `ports` may have frames or `timeout` passes. Returns
/// at once when a port has no descriptor to wait on (mem, pcap), so an idle
/// worker with only such ports spins; a worker with AF_PACKET ports sleeps
/// in `poll(2)`.
pub fn wait_any(ports: &[Port], timeout: Duration) {
    let mut fds = Vec::with_capacity(ports.len());
    for p in ports {
        match p.poll_fd() {
            Some(fd) => fds.push(fd),
            None => return,
        }
    }
    afpacket::poll_readable(&fds, timeout);
}

/// Creates a link for sending out of a port another worker owns, holding up
/// to `capacity` frames.
pub fn tx_link(capacity: usize) -> (TxLinkSender, TxLinkReceiver) {
    let capacity = capacity.max(1);
    let (fwd_tx, fwd_rx) = sync_channel(capacity);
    let (back_tx, back_rx) = sync_channel(capacity);
    (
        TxLinkSender {
            fwd: fwd_tx,
            back: back_rx,
            dropped: 0,
        },
        TxLinkReceiver {
            fwd: fwd_rx,
            back: back_tx,
        },
    )
}

/// The sending worker's end of a [`TxLink`].
///
/// [`TxLink`]: tx_link
#[derive(Debug)]
pub struct TxLinkSender {
    fwd: SyncSender<PacketBuf>,
    back: Receiver<PacketBuf>,
    dropped: u64,
}

impl TxLinkSender {
    /// Queues a frame for the owning worker; when the link is full (or the
    /// owner is gone) the frame is dropped, counted, and its buffer returns
    /// to `pool`. False when dropped.
    #[inline]
    pub fn send(&mut self, pkt: PacketBuf, pool: &mut BufPool) -> bool {
        match self.fwd.try_send(pkt) {
            Ok(()) => true,
            Err(TrySendError::Full(b) | TrySendError::Disconnected(b)) => {
                self.dropped += 1;
                pool.put(b);
                false
            }
        }
    }

    /// Moves the empty buffers the owner sent back into `pool`; returns how
    /// many. Call once per batch.
    #[inline]
    pub fn reclaim(&mut self, pool: &mut BufPool) -> usize {
        let mut n = 0;
        while let Ok(b) = self.back.try_recv() {
            pool.put(b);
            n += 1;
        }
        n
    }

    /// Frames dropped because the link was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

/// The owning worker's end of a [`TxLink`]; drain it with
/// [`Port::drain_link`].
///
/// [`TxLink`]: tx_link
#[derive(Debug)]
pub struct TxLinkReceiver {
    fwd: Receiver<PacketBuf>,
    back: SyncSender<PacketBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_specs() {
        assert_eq!(
            "afpacket:veth0".parse::<PortSpec>().unwrap(),
            PortSpec::AfPacket {
                ifname: "veth0".into(),
                config: afpacket::AfPacketConfig::default()
            }
        );
        assert!(matches!(
            "afpacket:".parse::<PortSpec>(),
            Err(PortSpecError::BadIfName { .. })
        ));
        assert!(matches!(
            "afpacket:waytoolonginterfacename".parse::<PortSpec>(),
            Err(PortSpecError::BadIfName { .. })
        ));
        let PortSpec::Pcap(p) = "pcap:a.pcap,b.pcap,loop".parse().unwrap() else {
            panic!("not pcap")
        };
        assert_eq!(p.input.as_deref(), Some(std::path::Path::new("a.pcap")));
        assert_eq!(p.output.as_deref(), Some(std::path::Path::new("b.pcap")));
        assert!(p.looping);
        let PortSpec::Pcap(p) = "pcap:,out.pcap".parse().unwrap() else {
            panic!("not pcap")
        };
        assert!(p.input.is_none() && p.output.is_some() && !p.looping);
        assert_eq!("pcap:".parse::<PortSpec>(), Err(PortSpecError::PcapNoFiles));
        assert!(matches!(
            "pcap:a,b,c".parse::<PortSpec>(),
            Err(PortSpecError::UnexpectedItem { .. })
        ));
        let PortSpec::Mem(m) = "mem:64".parse().unwrap() else {
            panic!("not mem")
        };
        assert_eq!(m.capacity, 64);
        assert!(matches!("mem:".parse::<PortSpec>(), Ok(PortSpec::Mem(_))));
        assert!(matches!("mem".parse::<PortSpec>(), Ok(PortSpec::Mem(_))));
        assert!(matches!(
            "mem:0".parse::<PortSpec>(),
            Err(PortSpecError::BadCapacity { .. })
        ));
        assert!(matches!(
            "tap:x".parse::<PortSpec>(),
            Err(PortSpecError::UnknownType { .. })
        ));
    }

    #[test]
    fn parse_port_config() {
        let c: PortConfig = "7=mem:".parse().unwrap();
        assert_eq!(c.port_no, 7);
        for bad in ["0=mem:", "4294967040=mem:", "x=mem:", "mem:"] {
            assert!(
                matches!(
                    bad.parse::<PortConfig>(),
                    Err(PortSpecError::BadPortNumber { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn stats_single_writer() {
        let s = PortStats::new(false);
        s.rx(2, 100);
        s.tx(1, 60);
        s.rx_error(1);
        s.tx_dropped(3);
        let c = s.snapshot();
        assert_eq!((c.rx_packets, c.rx_bytes, c.rx_errors), (2, 100, 1));
        assert_eq!((c.tx_packets, c.tx_bytes, c.tx_dropped), (1, 60, 3));
        assert!(s.set_link(true));
        assert!(!s.set_link(true));
        assert!(s.link_up());
        assert_eq!(s.link_generation(), 1);
    }

    #[test]
    fn ports_and_handles_move_to_worker_threads() {
        fn send<T: Send>() {}
        send::<Port>();
        send::<mem::MemHandle>();
        send::<TxLinkSender>();
        send::<TxLinkReceiver>();
        fn sync<T: Sync>() {}
        sync::<PortStats>();
    }

    #[test]
    fn synthetic_mac_is_local_unicast_and_stable() {
        let a = synthetic_mac("p1");
        assert_eq!(a[0] & 0x03, 0x02);
        assert_eq!(a, synthetic_mac("p1"));
        assert_ne!(a, synthetic_mac("p2"));
    }

    #[test]
    fn tx_link_keeps_pools_balanced() {
        let (cfg_port, h) = mem::MemPort::new("m", &mem::MemConfig::default());
        let mut port = Port::Mem(cfg_port);
        let mut owner_pool = BufPool::with_capacity(4);
        let mut sender_pool = BufPool::with_capacity(4);
        let (mut s, mut r) = tx_link(2);
        for i in 0..3u8 {
            let mut b = sender_pool.get();
            b.fill(&[i; 20]);
            let sent = s.send(b, &mut sender_pool);
            assert_eq!(sent, i < 2, "third frame must be dropped");
        }
        assert_eq!(s.dropped(), 1);
        assert_eq!(port.drain_link(&mut r, &mut owner_pool, 32), 2);
        assert_eq!(s.reclaim(&mut sender_pool), 2);
        assert_eq!(sender_pool.available(), 4);
        let got: Vec<u8> = std::iter::from_fn(|| h.recv())
            .map(|b| b.data()[0])
            .collect();
        assert_eq!(got, vec![0, 1]);
        assert_eq!(port.stats().snapshot().tx_packets, 2);
    }
}
