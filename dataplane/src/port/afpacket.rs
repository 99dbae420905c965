//! `afpacket:IFNAME`: a Linux network interface through `AF_PACKET` sockets
//! with memory-mapped rings.
//!
//! # Two sockets, two rings
//!
//! * **RX: TPACKET_V3.** The kernel fills fixed-size *blocks* with
//!   variable-length frames and hands a whole block to user space (its
//!   `block_status` gets `TP_STATUS_USER`) when it is full or when the
//!   retire timeout passes, whichever comes first. We walk the frames of the
//!   block we are on, copying each into a pool buffer, and give the block
//!   back (`TP_STATUS_KERNEL`) as soon as its last frame is copied. V3
//!   packs small frames densely and costs one status flip per block instead
//!   of per frame; the price is up to `retire_ms` of added latency when
//!   traffic is sparse.
//! * **TX: TPACKET_V2** on a second socket, bound with protocol 0 so that it
//!   never receives. V3's TX ring is V2's ring with V3 headers and extra
//!   restrictions, and a socket has one `PACKET_VERSION` for both rings, so
//!   the simple, well-trodden V2 ring on its own socket is the better
//!   choice. [`AfPacketPort::tx`] copies a frame into the next free slot and
//!   marks it `TP_STATUS_SEND_REQUEST`; [`AfPacketPort::flush`] makes one
//!   `sendto(fd, NULL, 0, MSG_DONTWAIT)` for everything queued since the
//!   last flush. With `PACKET_QDISC_BYPASS` the frames go straight to the
//!   driver (no qdisc, as a NIC-owning switch wants); `PACKET_LOSS` makes
//!   the kernel skip, not stall on, a frame it finds malformed. When the
//!   ring is full we kick the kernel once and, if it is still full, drop and
//!   count — a worker never waits for a device.
//!
//! The RX socket joins the interface in promiscuous mode
//! (`PACKET_ADD_MEMBERSHIP`/`PACKET_MR_PROMISC`, released by the kernel when
//! the socket closes) and ignores frames the host sends
//! (`PACKET_IGNORE_OUTGOING`, and the `sll_pkttype` of each frame as a
//! second check for kernels older than 4.20): otherwise every frame we
//! transmit would come back to us as received.
//!
//! # VLAN tags
//!
//! Devices with receive VLAN offload (veth among them) strip the outer
//! 802.1Q tag and report it beside the frame (`TP_STATUS_VLAN_VALID`,
//! `tp_vlan_tci`, `tp_vlan_tpid`). A switch must see the frame as it was on
//! the wire, so receive puts the tag back in place after the MAC addresses.
//!
//! # Memory and ordering
//!
//! The rings are shared with the kernel, which writes them concurrently; all
//! access goes through raw pointers, never references, and the status words
//! are the synchronisation points: an `Acquire` load of a status that says
//! "yours" makes the kernel's writes before it visible, and a `Release` store
//! that says "yours again" orders our reads (RX) or writes (TX) of the slot
//! before the kernel's next use. Every offset the kernel reports is checked
//! against the block before it is used. The rings are unmapped and the
//! sockets closed on drop.
//!
//! # Link state and limits
//!
//! `refresh_link` reads the interface flags (`SIOCGIFFLAGS`; up means
//! `IFF_UP` and `IFF_RUNNING`, i.e. administratively up with carrier) and
//! the socket's drop counter (`PACKET_STATISTICS`, which resets on read).
//! Frames longer than `MTU + 18` (Ethernet header and one VLAN tag) are not
//! sent and count as `tx_errors`, as the kernel would refuse them anyway.
//! While the interface is down the kernel refuses to send (`ENETDOWN`):
//! queued frames stay in the TX ring, new ones are dropped once it is full,
//! and what is queued goes out at the first flush after the link returns,
//! as from a NIC's queue.

use std::ffi::CString;
use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use libc::{c_int, c_void};

use super::{PortInfo, PortStats};
use crate::buf::{BufPool, MAX_FRAME, PacketBuf};

const TPACKET_V2: c_int = 1;
const TPACKET_V3: c_int = 2;
const ETH_P_ALL: u16 = 0x0003;
/// Where a TPACKET_V2 TX frame's data starts: the aligned header, without
/// the `sockaddr_ll` the RX layout has after it.
const TX_DATA_OFF: usize = libc::TPACKET2_HDRLEN - size_of::<libc::sockaddr_ll>();
/// Where the `sockaddr_ll` sits after a TPACKET_V3 frame header.
const RX_SLL_OFF: usize = libc::TPACKET3_HDRLEN - size_of::<libc::sockaddr_ll>();
/// Ethernet header plus one VLAN tag: what a frame may carry beyond the MTU.
const L2_OVERHEAD: usize = 18;
/// Upper bound on a TX ring's size.
const MAX_TX_RING: usize = 16 << 20;

/// Ring sizes and socket options of an `afpacket:` port.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AfPacketConfig {
    /// RX block size in bytes (a multiple of the page size, larger than the
    /// largest frame).
    pub rx_block_size: u32,
    /// Number of RX blocks.
    pub rx_block_count: u32,
    /// Milliseconds after which the kernel hands over a partly filled RX
    /// block.
    pub rx_retire_ms: u32,
    /// Slots in the TX ring (rounded to whole blocks, capped at 16 MiB).
    pub tx_frames: u32,
    /// Receive every frame on the wire, not only those for the interface's
    /// own MAC.
    pub promiscuous: bool,
    /// Send straight to the driver, bypassing the qdisc layer.
    pub qdisc_bypass: bool,
}

impl Default for AfPacketConfig {
    fn default() -> Self {
        Self {
            rx_block_size: 1 << 18,
            rx_block_count: 16,
            rx_retire_ms: 1,
            tx_frames: 512,
            promiscuous: true,
            qdisc_bypass: true,
        }
    }
}

/// Why an AF_PACKET port could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AfPacketError {
    /// No interface has this name (in the calling thread's namespace).
    #[error("no network interface named {ifname:?}")]
    NoSuchInterface {
        /// The name.
        ifname: String,
    },
    /// A system call failed while setting the port up (`EPERM` without
    /// `CAP_NET_RAW`).
    #[error("{op} on {ifname:?}: {source}")]
    Sys {
        /// The interface.
        ifname: String,
        /// The call or socket option that failed.
        op: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The ring sizes cannot work (block not page-aligned, too small for a
    /// frame, zero counts).
    #[error("bad ring configuration for {ifname:?}: {reason}")]
    BadConfig {
        /// The interface.
        ifname: String,
        /// What is wrong.
        reason: &'static str,
    },
}

/// A shared memory mapping of a packet ring.
#[derive(Debug)]
struct Mmap {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is owned by exactly one `Mmap` (and so by one port,
// owned by one worker at a time); nothing in it is tied to the thread that
// created it.
unsafe impl Send for Mmap {}

impl Mmap {
    fn new(fd: RawFd, len: usize) -> io::Result<Self> {
        // SAFETY: a fresh shared mapping of the ring the kernel just set up
        // on `fd`; the kernel picks the address, so nothing else is
        // overwritten.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr =
            NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned NULL"))?;
        Ok(Self { ptr, len })
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned, and no pointer
        // into the mapping outlives the port that owns this value.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

/// The status word at `p`, viewed as an atomic shared with the kernel.
///
/// # Safety
/// `p` must be 4-byte aligned and point into a live ring mapping.
#[inline]
unsafe fn status<'a>(p: *mut u32) -> &'a AtomicU32 {
    // SAFETY: the caller guarantees alignment and liveness; the kernel only
    // ever accesses the word as a whole u32, so an atomic view is sound.
    unsafe { AtomicU32::from_ptr(p) }
}

fn sys_err(ifname: &str, op: &'static str) -> AfPacketError {
    AfPacketError::Sys {
        ifname: ifname.into(),
        op,
        source: io::Error::last_os_error(),
    }
}

fn setsockopt<T>(fd: RawFd, level: c_int, name: c_int, val: &T) -> io::Result<()> {
    // SAFETY: `val` is a live `T` and we pass its exact size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (val as *const T).cast::<c_void>(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn packet_socket(ifname: &str) -> Result<OwnedFd, AfPacketError> {
    // Protocol 0: nothing is delivered to the socket before `bind` names
    // both the interface and ETH_P_ALL, so the ring never holds frames from
    // other interfaces.
    // SAFETY: plain socket(2) call.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if fd < 0 {
        return Err(sys_err(ifname, "socket(AF_PACKET)"));
    }
    // SAFETY: `fd` is a new descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn bind(fd: RawFd, ifindex: u32, protocol: u16) -> io::Result<()> {
    // SAFETY: all-zero is a valid sockaddr_ll.
    let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = protocol.to_be();
    sll.sll_ifindex = ifindex as c_int;
    // SAFETY: `sll` is a live sockaddr_ll and we pass its size.
    let r = unsafe {
        libc::bind(
            fd,
            (&sll as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn ifreq(ifname: &str) -> libc::ifreq {
    // SAFETY: all-zero is a valid ifreq.
    let mut r: libc::ifreq = unsafe { zeroed() };
    for (d, s) in r
        .ifr_name
        .iter_mut()
        .zip(ifname.bytes().take(libc::IFNAMSIZ - 1))
    {
        *d = s as libc::c_char;
    }
    r
}

fn ioctl(fd: RawFd, req: libc::c_ulong, ifr: &mut libc::ifreq) -> io::Result<()> {
    // SAFETY: every request used here reads or writes one `ifreq` (or what
    // its `ifru_data` points to, set by the caller to a live value).
    let r = unsafe { libc::ioctl(fd, req as _, ifr as *mut libc::ifreq) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `IFF_UP && IFF_RUNNING` for the interface; false when it is gone.
fn link_flags_up(fd: RawFd, ifname: &str) -> bool {
    let mut r = ifreq(ifname);
    if ioctl(fd, libc::SIOCGIFFLAGS, &mut r).is_err() {
        return false;
    }
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
    let flags = c_int::from(unsafe { r.ifr_ifru.ifru_flags });
    flags & libc::IFF_UP != 0 && flags & libc::IFF_RUNNING != 0
}

/// `struct ethtool_cmd` (the legacy ETHTOOL_GSET request), enough of it for
/// speed, duplex and medium.
#[repr(C)]
#[derive(Default)]
struct EthtoolCmd {
    cmd: u32,
    supported: u32,
    advertising: u32,
    speed: u16,
    duplex: u8,
    port: u8,
    phy_address: u8,
    transceiver: u8,
    autoneg: u8,
    mdio_support: u8,
    maxtxpkt: u32,
    maxrxpkt: u32,
    speed_hi: u16,
    eth_tp_mdix: u8,
    eth_tp_mdix_ctrl: u8,
    lp_advertising: u32,
    reserved: [u32; 2],
}

const ETHTOOL_GSET: u32 = 1;

/// Current speed in Mbit/s, full duplex, and the OFPPF medium bit, when the
/// driver reports them.
fn ethtool_speed(fd: RawFd, ifname: &str) -> Option<(u32, bool, u32)> {
    use openflow::port::port_features as pf;
    let mut cmd = EthtoolCmd {
        cmd: ETHTOOL_GSET,
        ..EthtoolCmd::default()
    };
    let mut r = ifreq(ifname);
    r.ifr_ifru.ifru_data = (&mut cmd as *mut EthtoolCmd).cast();
    ioctl(fd, libc::SIOCETHTOOL, &mut r).ok()?;
    let mbps = u32::from(cmd.speed) | (u32::from(cmd.speed_hi) << 16);
    if mbps == 0 || mbps == u32::MAX || mbps == 0xffff {
        return None;
    }
    let medium = match cmd.port {
        0x00 => pf::COPPER, // PORT_TP
        0x03 => pf::FIBER,  // PORT_FIBRE
        0x05 => pf::COPPER, // PORT_DA (direct-attach copper)
        _ => 0,
    };
    Some((mbps, cmd.duplex == 1, medium))
}

/// OFPPF rate bit for a speed.
fn rate_bit(mbps: u32, full: bool) -> u32 {
    use openflow::port::port_features as pf;
    match (mbps, full) {
        (10, false) => pf::RATE_10MB_HD,
        (10, true) => pf::RATE_10MB_FD,
        (100, false) => pf::RATE_100MB_HD,
        (100, true) => pf::RATE_100MB_FD,
        (1000, false) => pf::RATE_1GB_HD,
        (1000, true) => pf::RATE_1GB_FD,
        (10_000, true) => pf::RATE_10GB_FD,
        (40_000, true) => pf::RATE_40GB_FD,
        (100_000, true) => pf::RATE_100GB_FD,
        (1_000_000, true) => pf::RATE_1TB_FD,
        _ => pf::OTHER,
    }
}

/// The TPACKET_V3 receive ring and our place in it.
#[derive(Debug)]
struct RxRing {
    map: Mmap,
    block_size: usize,
    block_count: usize,
    /// Block we read next (or are reading).
    block: usize,
    /// Frames of the current block not yet read; 0 when no block is open.
    left: u32,
    /// Offset of the next frame header within the current block.
    off: usize,
}

/// The TPACKET_V2 transmit ring.
#[derive(Debug)]
struct TxRing {
    map: Mmap,
    frame_size: usize,
    frame_count: usize,
    next: usize,
    pending: usize,
}

/// An interface opened through AF_PACKET.
#[derive(Debug)]
pub struct AfPacketPort {
    rx: RxRing,
    tx: TxRing,
    rx_fd: OwnedFd,
    tx_fd: OwnedFd,
    /// Largest frame we send: `min(mtu + 18, tx slot)`.
    max_tx_len: usize,
    ifindex: u32,
    stats: Arc<PortStats>,
    info: PortInfo,
}

impl AfPacketPort {
    /// Opens `ifname` (which must exist in the calling thread's network
    /// namespace); needs `CAP_NET_RAW`.
    pub fn open(ifname: &str, cfg: &AfPacketConfig) -> Result<Self, AfPacketError> {
        let bad = |reason| AfPacketError::BadConfig {
            ifname: ifname.into(),
            reason,
        };
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        let block_size = cfg.rx_block_size as usize;
        if block_size == 0 || !block_size.is_multiple_of(page) {
            return Err(bad(
                "rx_block_size must be a non-zero multiple of the page size",
            ));
        }
        if cfg.rx_block_count == 0 || cfg.tx_frames == 0 {
            return Err(bad("ring counts must be non-zero"));
        }
        let c_name = CString::new(ifname).map_err(|_| bad("interface name contains NUL"))?;
        // SAFETY: `c_name` is a valid C string.
        let ifindex = unsafe { libc::if_nametoindex(c_name.as_ptr()) };
        if ifindex == 0 {
            return Err(AfPacketError::NoSuchInterface {
                ifname: ifname.into(),
            });
        }

        let rx_fd = packet_socket(ifname)?;
        let fd = rx_fd.as_raw_fd();
        let mut r = ifreq(ifname);
        ioctl(fd, libc::SIOCGIFMTU, &mut r).map_err(|_| sys_err(ifname, "SIOCGIFMTU"))?;
        // SAFETY: SIOCGIFMTU filled the mtu member.
        let mtu = usize::try_from(unsafe { r.ifr_ifru.ifru_mtu }).unwrap_or(1500);
        let mut r = ifreq(ifname);
        ioctl(fd, libc::SIOCGIFHWADDR, &mut r).map_err(|_| sys_err(ifname, "SIOCGIFHWADDR"))?;
        // SAFETY: SIOCGIFHWADDR filled the hwaddr member.
        let sa = unsafe { r.ifr_ifru.ifru_hwaddr };
        let mut hw_addr = [0u8; 6];
        for (d, s) in hw_addr.iter_mut().zip(sa.sa_data.iter()) {
            *d = *s as u8;
        }
        if block_size < (mtu + L2_OVERHEAD).min(MAX_FRAME) + libc::TPACKET3_HDRLEN + 64 {
            return Err(bad("rx_block_size is smaller than one MTU-sized frame"));
        }

        // RX socket: V3 ring.
        setsockopt(fd, libc::SOL_PACKET, libc::PACKET_VERSION, &TPACKET_V3)
            .map_err(|_| sys_err(ifname, "PACKET_VERSION"))?;
        // Older kernels lack the option; the sll_pkttype check covers them.
        let _ = setsockopt(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_IGNORE_OUTGOING,
            &1 as &c_int,
        );
        let frame_size = 2048u32;
        let frames_per_block = cfg.rx_block_size / frame_size;
        let req = libc::tpacket_req3 {
            tp_block_size: cfg.rx_block_size,
            tp_block_nr: cfg.rx_block_count,
            tp_frame_size: frame_size,
            tp_frame_nr: frames_per_block * cfg.rx_block_count,
            tp_retire_blk_tov: cfg.rx_retire_ms.max(1),
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        setsockopt(fd, libc::SOL_PACKET, libc::PACKET_RX_RING, &req)
            .map_err(|_| sys_err(ifname, "PACKET_RX_RING"))?;
        let rx_map = Mmap::new(fd, block_size * cfg.rx_block_count as usize).map_err(|source| {
            AfPacketError::Sys {
                ifname: ifname.into(),
                op: "mmap(rx ring)",
                source,
            }
        })?;
        bind(fd, ifindex, ETH_P_ALL).map_err(|source| AfPacketError::Sys {
            ifname: ifname.into(),
            op: "bind(rx)",
            source,
        })?;
        if cfg.promiscuous {
            // SAFETY: all-zero is a valid packet_mreq.
            let mut mr: libc::packet_mreq = unsafe { zeroed() };
            mr.mr_ifindex = ifindex as c_int;
            mr.mr_type = libc::PACKET_MR_PROMISC as u16;
            setsockopt(fd, libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, &mr)
                .map_err(|_| sys_err(ifname, "PACKET_ADD_MEMBERSHIP"))?;
        }

        // TX socket: V2 ring, never receives.
        let tx_fd = packet_socket(ifname)?;
        let tfd = tx_fd.as_raw_fd();
        setsockopt(tfd, libc::SOL_PACKET, libc::PACKET_VERSION, &TPACKET_V2)
            .map_err(|_| sys_err(ifname, "PACKET_VERSION(tx)"))?;
        if cfg.qdisc_bypass {
            setsockopt(
                tfd,
                libc::SOL_PACKET,
                libc::PACKET_QDISC_BYPASS,
                &1 as &c_int,
            )
            .map_err(|_| sys_err(ifname, "PACKET_QDISC_BYPASS"))?;
        }
        setsockopt(tfd, libc::SOL_PACKET, libc::PACKET_LOSS, &1 as &c_int)
            .map_err(|_| sys_err(ifname, "PACKET_LOSS"))?;
        let tx_frame_size = (mtu.min(MAX_FRAME) + L2_OVERHEAD + TX_DATA_OFF)
            .next_power_of_two()
            .max(2048);
        let tx_block = tx_frame_size.max(page).max(1 << 16);
        let per_block = tx_block / tx_frame_size;
        let want = (cfg.tx_frames as usize)
            .min(MAX_TX_RING / tx_frame_size)
            .max(per_block);
        let tx_blocks = want.div_ceil(per_block);
        let treq = libc::tpacket_req {
            tp_block_size: tx_block as u32,
            tp_block_nr: tx_blocks as u32,
            tp_frame_size: tx_frame_size as u32,
            tp_frame_nr: (tx_blocks * per_block) as u32,
        };
        setsockopt(tfd, libc::SOL_PACKET, libc::PACKET_TX_RING, &treq)
            .map_err(|_| sys_err(ifname, "PACKET_TX_RING"))?;
        let tx_map = Mmap::new(tfd, tx_block * tx_blocks).map_err(|source| AfPacketError::Sys {
            ifname: ifname.into(),
            op: "mmap(tx ring)",
            source,
        })?;
        bind(tfd, ifindex, 0).map_err(|source| AfPacketError::Sys {
            ifname: ifname.into(),
            op: "bind(tx)",
            source,
        })?;

        let mut info = PortInfo {
            name: ifname.into(),
            hw_addr,
            mtu: mtu as u32,
            ..PortInfo::default()
        };
        if let Some((mbps, full, medium)) = ethtool_speed(fd, ifname) {
            info.curr = rate_bit(mbps, full) | medium;
            info.curr_speed_kbps = mbps.saturating_mul(1000);
            info.max_speed_kbps = info.curr_speed_kbps;
        }
        let stats = Arc::new(PortStats::new(link_flags_up(fd, ifname)));
        Ok(Self {
            rx: RxRing {
                map: rx_map,
                block_size,
                block_count: cfg.rx_block_count as usize,
                block: 0,
                left: 0,
                off: 0,
            },
            tx: TxRing {
                map: tx_map,
                frame_size: tx_frame_size,
                frame_count: tx_blocks * per_block,
                next: 0,
                pending: 0,
            },
            rx_fd,
            tx_fd,
            max_tx_len: (mtu + L2_OVERHEAD)
                .min(tx_frame_size - TX_DATA_OFF)
                .min(MAX_FRAME),
            ifindex,
            stats,
            info,
        })
    }

    /// The receive socket, for `poll(2)`.
    pub fn rx_fd(&self) -> RawFd {
        self.rx_fd.as_raw_fd()
    }

    /// The interface index.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Largest frame [`AfPacketPort::tx`] sends.
    pub fn max_tx_len(&self) -> usize {
        self.max_tx_len
    }

    /// Pointer to the start of RX block `i`.
    #[inline]
    fn block_ptr(&self, i: usize) -> *mut u8 {
        debug_assert!(i < self.rx.block_count);
        // SAFETY: i < block_count, so the offset stays inside the mapping.
        unsafe { self.rx.map.ptr.as_ptr().add(i * self.rx.block_size) }
    }

    /// Hands the current block back to the kernel and moves to the next.
    #[inline]
    fn release_block(&mut self) {
        let b = self.block_ptr(self.rx.block);
        // SAFETY: block descriptors start each page-aligned block, so the
        // status word (offset 8 in `tpacket_block_desc`) is aligned and
        // inside the mapping. Release: our reads of the block happen before
        // the kernel may overwrite it.
        unsafe {
            let st =
                ptr::addr_of_mut!((*b.cast::<libc::tpacket_block_desc>()).hdr.bh1.block_status);
            status(st).store(libc::TP_STATUS_KERNEL, Ordering::Release);
        }
        self.rx.left = 0;
        self.rx.block = (self.rx.block + 1) % self.rx.block_count;
    }

    /// See [`super::Port::rx_batch`].
    pub fn rx_batch(&mut self, pool: &mut BufPool, out: &mut Vec<PacketBuf>, max: usize) -> usize {
        let (mut n, mut bytes, mut errors) = (0usize, 0u64, 0u64);
        let bs = self.rx.block_size;
        while n < max {
            let block = self.block_ptr(self.rx.block);
            if self.rx.left == 0 {
                // SAFETY: as in `release_block`; Acquire pairs with the
                // kernel's publication of the block (it writes the frames,
                // then the status).
                let (num, first) = unsafe {
                    let bd = block.cast::<libc::tpacket_block_desc>();
                    let st = status(ptr::addr_of_mut!((*bd).hdr.bh1.block_status))
                        .load(Ordering::Acquire);
                    if st & libc::TP_STATUS_USER == 0 {
                        break;
                    }
                    (
                        ptr::addr_of!((*bd).hdr.bh1.num_pkts).read(),
                        ptr::addr_of!((*bd).hdr.bh1.offset_to_first_pkt).read(),
                    )
                };
                if num == 0 {
                    // A retired empty block: nothing to read.
                    self.release_block();
                    continue;
                }
                self.rx.left = num;
                self.rx.off = first as usize;
            }
            let off = self.rx.off;
            if off < size_of::<libc::tpacket_block_desc>()
                || off + libc::TPACKET3_HDRLEN > bs
                || !off.is_multiple_of(4)
            {
                // An offset outside the block would be a kernel bug; never
                // follow it.
                errors += u64::from(self.rx.left);
                self.release_block();
                continue;
            }
            // SAFETY: `off` was just checked to leave a whole frame header
            // and sockaddr_ll inside this block of the mapping, 4-aligned;
            // the block is ours (TP_STATUS_USER seen with Acquire) until we
            // release it, so the kernel does not write it concurrently.
            let (h, pkttype) = unsafe {
                let hp = block.add(off).cast::<libc::tpacket3_hdr>();
                let h = hp.read();
                let sll = block.add(off + RX_SLL_OFF).cast::<libc::sockaddr_ll>();
                (h, ptr::addr_of!((*sll).sll_pkttype).read())
            };
            let mac = off + h.tp_mac as usize;
            let snap = h.tp_snaplen as usize;
            let in_block = mac.checked_add(snap).is_some_and(|end| end <= bs);
            if !in_block {
                errors += 1;
            } else if pkttype == libc::PACKET_OUTGOING {
                // Our own (or the host's) transmissions: not received.
            } else if snap < h.tp_len as usize || snap < 14 {
                // Truncated by the block size, or not even an Ethernet header.
                errors += 1;
            } else {
                // SAFETY: [mac, mac + snap) is inside the block (checked
                // above) and the block is ours until released.
                let frame = unsafe { std::slice::from_raw_parts(block.add(mac), snap) };
                let mut b = pool.get();
                let ok = if h.tp_status & libc::TP_STATUS_VLAN_VALID != 0 {
                    let tpid = if h.tp_status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
                        h.hv1.tp_vlan_tpid
                    } else {
                        0x8100
                    };
                    fill_with_tag(&mut b, frame, tpid, h.hv1.tp_vlan_tci as u16)
                } else {
                    b.fill(frame)
                };
                if ok {
                    bytes += b.len() as u64;
                    out.push(b);
                    n += 1;
                } else {
                    pool.put(b);
                    errors += 1;
                }
            }
            self.rx.left -= 1;
            if self.rx.left == 0 {
                self.release_block();
            } else {
                self.rx.off = off + h.tp_next_offset as usize;
            }
        }
        self.stats.rx(n as u64, bytes);
        if errors != 0 {
            self.stats.rx_error(errors);
        }
        n
    }

    /// See [`super::Port::tx`]: copies the frame into the TX ring.
    pub fn tx(&mut self, pkt: PacketBuf, pool: &mut BufPool) {
        let len = pkt.len();
        if len < 14 || len > self.max_tx_len {
            self.stats.tx_error(1);
            pool.put(pkt);
            return;
        }
        let slot = self.tx_slot(self.tx.next);
        // SAFETY: `slot` starts a frame of the TX ring (aligned to
        // TPACKET_ALIGNMENT), whose first field is the status word.
        let st = unsafe {
            status(ptr::addr_of_mut!(
                (*slot.cast::<libc::tpacket2_hdr>()).tp_status
            ))
        };
        let mut s = st.load(Ordering::Acquire);
        if s != libc::TP_STATUS_AVAILABLE && self.tx.pending > 0 {
            // Full: let the kernel drain what is queued, then look again.
            self.flush();
            s = st.load(Ordering::Acquire);
        }
        if s == libc::TP_STATUS_WRONG_FORMAT {
            // Only without PACKET_LOSS; reclaim the slot.
            self.stats.tx_error(1);
            s = libc::TP_STATUS_AVAILABLE;
        }
        if s != libc::TP_STATUS_AVAILABLE {
            self.stats.tx_dropped(1);
            pool.put(pkt);
            return;
        }
        // SAFETY: the slot is ours (status AVAILABLE, seen with Acquire, so
        // the kernel has finished reading its previous frame); `len` fits
        // the slot after the header because `max_tx_len` <= frame_size -
        // TX_DATA_OFF. The Release store publishes data and length before
        // the kernel can see SEND_REQUEST.
        unsafe {
            ptr::copy_nonoverlapping(pkt.data().as_ptr(), slot.add(TX_DATA_OFF), len);
            let h = slot.cast::<libc::tpacket2_hdr>();
            ptr::addr_of_mut!((*h).tp_len).write(len as u32);
            ptr::addr_of_mut!((*h).tp_snaplen).write(len as u32);
            st.store(libc::TP_STATUS_SEND_REQUEST, Ordering::Release);
        }
        self.tx.next = (self.tx.next + 1) % self.tx.frame_count;
        self.tx.pending += 1;
        self.stats.tx(1, len as u64);
        pool.put(pkt);
    }

    #[inline]
    fn tx_slot(&self, i: usize) -> *mut u8 {
        debug_assert!(i < self.tx.frame_count);
        // SAFETY: i < frame_count and frames are laid out back to back (a
        // block holds a whole number of frames), so the slot is inside the
        // mapping.
        unsafe { self.tx.map.ptr.as_ptr().add(i * self.tx.frame_size) }
    }

    /// Asks the kernel to send every queued frame.
    pub fn flush(&mut self) {
        if self.tx.pending == 0 {
            return;
        }
        self.tx.pending = 0;
        // SAFETY: sendto with no buffer and no address: the kernel takes the
        // frames from the TX ring.
        let r = unsafe {
            libc::sendto(
                self.tx_fd.as_raw_fd(),
                ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                ptr::null(),
                0,
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                // The device is busy; frames stay queued for the next kick.
                Some(libc::EAGAIN) | Some(libc::ENOBUFS) | Some(libc::EINTR) => self.tx.pending = 1,
                _ => self.stats.tx_error(1),
            }
        }
    }

    /// See [`super::Port::refresh_link`]; also adds the kernel's RX drops
    /// since the last call to `rx_dropped`.
    pub fn refresh_link(&mut self) -> Option<bool> {
        // SAFETY: all-zero is a valid tpacket_stats_v3.
        let mut st: libc::tpacket_stats_v3 = unsafe { zeroed() };
        let mut len = size_of::<libc::tpacket_stats_v3>() as libc::socklen_t;
        // SAFETY: `st` is live and `len` is its size.
        let r = unsafe {
            libc::getsockopt(
                self.rx_fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut st as *mut libc::tpacket_stats_v3).cast(),
                &mut len,
            )
        };
        if r == 0 && st.tp_drops != 0 {
            self.stats.rx_dropped(u64::from(st.tp_drops));
        }
        let up = link_flags_up(self.rx_fd.as_raw_fd(), &self.info.name);
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
}

/// Copies `frame` into `b` with an 802.1Q/802.1ad tag inserted after the MAC
/// addresses.
fn fill_with_tag(b: &mut PacketBuf, frame: &[u8], tpid: u16, tci: u16) -> bool {
    if frame.len() < 12 || frame.len() + 4 > MAX_FRAME {
        return false;
    }
    let room = b.room_mut();
    room[..12].copy_from_slice(&frame[..12]);
    room[12..14].copy_from_slice(&tpid.to_be_bytes());
    room[14..16].copy_from_slice(&tci.to_be_bytes());
    room[16..frame.len() + 4].copy_from_slice(&frame[12..]);
    b.set_len(frame.len() + 4)
}

/// Waits until one of `fds` is readable (or has an error) or `timeout`
/// passes.
pub fn poll_readable(fds: &[RawFd], timeout: Duration) {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN | libc::POLLERR,
            revents: 0,
        })
        .collect();
    let ms = c_int::try_from(timeout.as_millis()).unwrap_or(c_int::MAX);
    // SAFETY: `p` is a live array of `p.len()` pollfd.
    unsafe {
        libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_constants_match_the_kernel_abi() {
        assert_eq!(size_of::<libc::tpacket3_hdr>(), 48);
        assert_eq!(RX_SLL_OFF, 48);
        assert_eq!(TX_DATA_OFF, 32);
        assert_eq!(size_of::<EthtoolCmd>(), 44);
        assert_eq!(std::mem::offset_of!(libc::tpacket_block_desc, hdr), 8);
    }

    #[test]
    fn tag_is_reinserted_after_the_macs() {
        let mut b = PacketBuf::new();
        let frame: Vec<u8> = (0..20).collect();
        assert!(fill_with_tag(&mut b, &frame, 0x8100, 0x2005));
        let d = b.data();
        assert_eq!(&d[..12], &frame[..12]);
        assert_eq!(&d[12..16], &[0x81, 0x00, 0x20, 0x05]);
        assert_eq!(&d[16..], &frame[12..]);
        assert!(!fill_with_tag(&mut b, &frame[..11], 0x8100, 1));
    }

    #[test]
    fn rate_bits() {
        use openflow::port::port_features as pf;
        assert_eq!(rate_bit(10_000, true), pf::RATE_10GB_FD);
        assert_eq!(rate_bit(100, false), pf::RATE_100MB_HD);
        assert_eq!(rate_bit(25_000, true), pf::OTHER);
    }

    #[test]
    fn missing_interface_is_a_typed_error() {
        let e = AfPacketPort::open("oko-nonexist0", &AfPacketConfig::default()).unwrap_err();
        assert!(matches!(e, AfPacketError::NoSuchInterface { .. }));
        let cfg = AfPacketConfig {
            rx_block_size: 1000,
            ..AfPacketConfig::default()
        };
        assert!(matches!(
            AfPacketPort::open("lo", &cfg),
            Err(AfPacketError::BadConfig { .. })
        ));
    }
}
