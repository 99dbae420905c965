//! AF_PACKET ports over veth pairs into private network namespaces.
//!
//! Needs root (CI runs as root); without it the tests print a note and
//! return. Topology, all created here with names carrying the pid and torn
//! down by guards even when an assertion fails:
//!
//! ```text
//!   root ns                          okons<pid>a
//!   okv<pid>a0 (port A) ──veth──── okv<pid>a1 (raw socket s1)
//!                                   okons<pid>b
//!   okv<pid>b0 (port B) ──veth──── okv<pid>b1 (raw socket s2)
//! ```
//!
//! No IP addresses are configured: the frames are raw Ethernet with the
//! local experimental EtherType 0x88b5 and locally administered MACs, so no
//! traffic can leave the namespaces.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Command;
use std::time::{Duration, Instant};

use dataplane::buf::{BufPool, PacketBuf};
use dataplane::port::afpacket::AfPacketConfig;
use dataplane::port::{MAX_BATCH, Port, PortSpec, wait_any};

const ETHERTYPE: [u8; 2] = [0x88, 0xb5];

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Deletes what it names when dropped, assertion failure or not.
enum Guard {
    Netns(String),
    Link(String),
}

impl Drop for Guard {
    fn drop(&mut self) {
        let args: Vec<&str> = match self {
            Guard::Netns(n) => vec!["netns", "del", n],
            Guard::Link(l) => vec!["link", "del", l],
        };
        // Deleting a namespace also deletes the veth ends in it and their
        // peers; the link guard is for a failure between the two steps.
        let _ = Command::new("ip").args(&args).output();
    }
}

/// Two namespaces, each with a veth pair to the root namespace, all up.
struct Topology {
    a0: String,
    a1: String,
    b1: String,
    b0: String,
    ns_a: String,
    ns_b: String,
    // Dropped last-to-first: links, then namespaces.
    _guards: Vec<Guard>,
}

impl Topology {
    fn new(tag: &str) -> Self {
        let pid = std::process::id();
        let ns_a = format!("okons{pid}{tag}a");
        let ns_b = format!("okons{pid}{tag}b");
        let (a0, a1) = (format!("okv{pid}{tag}a0"), format!("okv{pid}{tag}a1"));
        let (b0, b1) = (format!("okv{pid}{tag}b0"), format!("okv{pid}{tag}b1"));
        assert!(a0.len() < 16, "interface name too long: {a0}");
        let mut guards = Vec::new();
        for (ns, root_end, ns_end) in [(&ns_a, &a0, &a1), (&ns_b, &b0, &b1)] {
            ip(&["netns", "add", ns]);
            guards.push(Guard::Netns(ns.clone()));
            ip(&[
                "link", "add", root_end, "type", "veth", "peer", "name", ns_end, "netns", ns,
            ]);
            guards.push(Guard::Link(root_end.clone()));
            ip(&["link", "set", root_end, "up"]);
            ip(&["-n", ns, "link", "set", ns_end, "up"]);
        }
        guards.reverse();
        Topology {
            a0,
            a1,
            b1,
            b0,
            ns_a,
            ns_b,
            _guards: guards,
        }
    }
}

/// A raw AF_PACKET socket bound to `ifname` inside namespace `ns`.
///
/// A socket belongs to the namespace it was created in, so a short-lived
/// thread enters the namespace (setns changes only the calling thread),
/// creates and binds the socket, and hands it back.
fn ns_socket(ns: &str, ifname: &str) -> OwnedFd {
    let (ns, ifname) = (ns.to_string(), ifname.to_string());
    std::thread::spawn(move || {
        let f = File::open(format!("/run/netns/{ns}")).expect("open netns");
        // SAFETY: `f` is a namespace file; setns affects this thread only.
        assert_eq!(
            unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) },
            0,
            "setns"
        );
        // SAFETY: plain socket(2).
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                i32::from(0x0003u16.to_be()),
            )
        };
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        // SAFETY: `fd` is new and owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let c = std::ffi::CString::new(ifname).unwrap();
        // SAFETY: valid C string.
        let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
        assert_ne!(idx, 0, "no interface in namespace");
        // SAFETY: all-zero is a valid sockaddr_ll.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = 0x0003u16.to_be();
        sll.sll_ifindex = idx as i32;
        // SAFETY: `sll` is live and we pass its size.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        assert_eq!(r, 0, "bind: {}", std::io::Error::last_os_error());
        // Room for a whole burst: the tests read only after sending.
        let size: libc::c_int = 16 << 20;
        // SAFETY: `size` is a live c_int and we pass its size.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (&size as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as u32,
            )
        };
        fd
    })
    .join()
    .expect("namespace thread")
}

fn sock_send(fd: &OwnedFd, frame: &[u8]) {
    // SAFETY: `frame` is a live buffer of the given length.
    let r = unsafe { libc::send(fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
    assert_eq!(
        r,
        frame.len() as isize,
        "send: {}",
        std::io::Error::last_os_error()
    );
}

/// Our test frames received on `fd` (other traffic, such as IPv6 neighbour
/// discovery, is skipped) until `want` arrived or `timeout` passed.
fn sock_recv(fd: &OwnedFd, want: usize, timeout: Duration) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 16384];
    while got.len() < want && Instant::now() < deadline {
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one live pollfd.
        unsafe { libc::poll(&mut p, 1, 50) };
        loop {
            // SAFETY: `buf` is live and writable for its length.
            let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n <= 0 {
                break;
            }
            let f = &buf[..n as usize];
            if is_ours(f) {
                got.push(f.to_vec());
            }
        }
    }
    got
}

/// Ours: EtherType 0x88b5, directly or behind one VLAN tag.
fn is_ours(f: &[u8]) -> bool {
    f.len() >= 18
        && (f[12..14] == ETHERTYPE || (f[12..14] == [0x81, 0x00] && f[16..18] == ETHERTYPE))
}

fn test_frame(src: u8, seq: u32, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x99]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, src]);
    f[12..14].copy_from_slice(&ETHERTYPE);
    f[14..18].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in f[18..].iter_mut().enumerate() {
        *b = (i as u32).wrapping_mul(31).wrapping_add(seq) as u8;
    }
    f
}

/// Our frames received on `ports[idx]` until `want` arrived or `timeout`.
fn port_recv(
    ports: &mut [Port],
    idx: usize,
    pool: &mut BufPool,
    want: usize,
    timeout: Duration,
) -> Vec<PacketBuf> {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    let mut out = Vec::with_capacity(MAX_BATCH);
    while got.len() < want && Instant::now() < deadline {
        if ports[idx].rx_batch(pool, &mut out, MAX_BATCH) == 0 {
            wait_any(&ports[idx..=idx], Duration::from_millis(20));
            continue;
        }
        for b in out.drain(..) {
            if is_ours(b.data()) {
                got.push(b);
            } else {
                pool.put(b);
            }
        }
    }
    got
}

fn wait_link(port: &mut Port, up: bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        port.refresh_link();
        if port.link_up() == up {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn open(ifname: &str) -> Port {
    let spec: PortSpec = format!("afpacket:{ifname}").parse().unwrap();
    Port::open(&spec, ifname).expect("open afpacket port").0
}

#[test]
fn afpacket_rx_tx_forward_vlan_and_link() {
    if !is_root() {
        eprintln!("note: afpacket_netns needs root (CAP_NET_ADMIN, CAP_NET_RAW); skipped");
        return;
    }
    let t = Topology::new("x");
    let mut ports = vec![open(&t.a0), open(&t.b0)];
    assert!(wait_link(&mut ports[0], true), "link A never came up");
    assert!(wait_link(&mut ports[1], true), "link B never came up");
    let mac = std::fs::read_to_string(format!("/sys/class/net/{}/address", t.a0)).unwrap();
    let want_mac: Vec<String> = ports[0]
        .hw_addr()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(mac.trim(), want_mac.join(":"));
    assert_eq!(ports[0].info().mtu, 1500);
    // veth reports 10 Gb/s full duplex through ethtool.
    assert_eq!(ports[0].info().curr_speed_kbps, 10_000_000);
    assert_ne!(
        ports[0].info().curr & openflow::port::port_features::RATE_10GB_FD,
        0
    );
    let s1 = ns_socket(&t.ns_a, &t.a1);
    let s2 = ns_socket(&t.ns_b, &t.b1);
    let mut pool = BufPool::with_capacity(256);

    // Receive: frames sent inside namespace A arrive on port A, unchanged
    // and in order, including a minimum-size and a full-MTU frame.
    let sent: Vec<Vec<u8>> = (0..10)
        .map(|i| {
            test_frame(
                1,
                i,
                [60, 1514, 100, 64, 200, 300, 400, 500, 600, 700][i as usize],
            )
        })
        .collect();
    for f in &sent {
        sock_send(&s1, f);
    }
    let got = port_recv(&mut ports, 0, &mut pool, 10, Duration::from_secs(5));
    let got_bytes: Vec<Vec<u8>> = got.iter().map(|b| b.data().to_vec()).collect();
    assert_eq!(got_bytes, sent);

    // Forward them out of port B: they arrive in namespace B.
    let mut fwd = got;
    ports[1].tx_batch(&mut fwd, &mut pool);
    let arrived = sock_recv(&s2, 10, Duration::from_secs(5));
    assert_eq!(arrived, sent);

    // Transmit from port A into namespace A; port A must not see its own
    // transmissions as received.
    let mut back: Vec<PacketBuf> = (100..105)
        .map(|i| {
            let mut b = pool.get();
            b.fill(&test_frame(2, i, 80));
            b
        })
        .collect();
    ports[0].tx_batch(&mut back, &mut pool);
    let arrived = sock_recv(&s1, 5, Duration::from_secs(5));
    assert_eq!(
        arrived,
        (100..105).map(|i| test_frame(2, i, 80)).collect::<Vec<_>>()
    );
    let echoed = port_recv(&mut ports, 0, &mut pool, 1, Duration::from_millis(300));
    assert!(echoed.is_empty(), "port A received its own transmissions");

    // A VLAN-tagged frame keeps its tag, even though veth hands it to
    // AF_PACKET with the tag stripped into metadata.
    let mut tagged = test_frame(3, 7, 64);
    tagged.splice(12..12, [0x81, 0x00, 0x20, 0x64]);
    sock_send(&s1, &tagged);
    let got = port_recv(&mut ports, 0, &mut pool, 1, Duration::from_secs(5));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].data(), tagged.as_slice());

    // A frame longer than MTU + 18 is refused and counted.
    let mut big = pool.get();
    big.fill(&test_frame(2, 999, 1500 + 19));
    ports[0].tx(big, &mut pool);
    ports[0].flush();

    let a = ports[0].stats().snapshot();
    assert_eq!(a.rx_errors, 0);
    assert!(a.rx_packets >= 11, "{a:?}");
    assert_eq!((a.tx_packets, a.tx_bytes, a.tx_errors), (5, 400, 1));
    let b = ports[1].stats().snapshot();
    assert_eq!(
        (b.tx_packets, b.tx_bytes),
        (10, sent.iter().map(|f| f.len() as u64).sum())
    );

    // Link state: taking the far end down drops carrier on port A.
    let gen0 = ports[0].stats().link_generation();
    ip(&["-n", &t.ns_a, "link", "set", &t.a1, "down"]);
    assert!(wait_link(&mut ports[0], false), "link down not seen");
    ip(&["-n", &t.ns_a, "link", "set", &t.a1, "up"]);
    assert!(wait_link(&mut ports[0], true), "link up not seen");
    assert_eq!(ports[0].stats().link_generation(), gen0 + 2);
    assert!(ports[1].link_up());
}

#[test]
fn afpacket_burst_larger_than_tx_ring() {
    if !is_root() {
        eprintln!("note: afpacket_netns needs root; skipped");
        return;
    }
    let t = Topology::new("y");
    let mut cfg = AfPacketConfig::default();
    cfg.tx_frames = 32;
    // Small RX blocks, so the receive burst below spans many of them.
    cfg.rx_block_size = 4096;
    cfg.rx_block_count = 64;
    let spec = PortSpec::AfPacket {
        ifname: t.a0.clone(),
        config: cfg,
    };
    let mut port = Port::open(&spec, &t.a0).unwrap().0;
    assert!(wait_link(&mut port, true));
    let s1 = ns_socket(&t.ns_a, &t.a1);
    let mut pool = BufPool::with_capacity(64);
    // 2000 frames, flushed every 16: the ring (at least 32 slots) never
    // blocks the sender; everything is either sent or counted as dropped.
    let n = 2000u32;
    for i in 0..n {
        let mut b = pool.get();
        b.fill(&test_frame(4, i, 64));
        port.tx(b, &mut pool);
        if i % 16 == 15 {
            port.flush();
        }
    }
    port.flush();
    let c = port.stats().snapshot();
    assert_eq!(c.tx_packets + c.tx_dropped, u64::from(n));
    let arrived = sock_recv(&s1, c.tx_packets as usize, Duration::from_secs(5));
    assert!(
        arrived.len() as u64 >= c.tx_packets * 9 / 10,
        "sent {} arrived {}",
        c.tx_packets,
        arrived.len()
    );
    assert!(c.tx_packets > 0);
    assert_eq!(pool.allocated(), 64, "tx must return every buffer");

    // Receive a burst larger than a batch and spread over ~20 ring blocks:
    // rx_batch stops at 32 frames in the middle of a block and resumes
    // there, and moves from block to block, losing nothing and keeping the
    // order.
    let burst: Vec<Vec<u8>> = (0..300)
        .map(|i| test_frame(5, i, 60 + (i as usize % 200)))
        .collect();
    for f in &burst {
        sock_send(&s1, f);
    }
    let mut ports = vec![port];
    let got = port_recv(
        &mut ports,
        0,
        &mut pool,
        burst.len(),
        Duration::from_secs(5),
    );
    let got: Vec<Vec<u8>> = got.iter().map(|b| b.data().to_vec()).collect();
    assert_eq!(got, burst);
}
