//! Integration tests for the `mem` and `pcap` ports through the public
//! [`Port`] API, as a worker and a test harness use it.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use dataplane::buf::{BufPool, MAX_FRAME, PacketBuf};
use dataplane::port::pcap::{PcapError, PcapReader, PcapSpec, PcapWriter, TsResolution};
use dataplane::port::{MAX_BATCH, Port, PortOpenError, PortSpec};

/// A scratch directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("oko-ports-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A frame whose bytes say which one it is.
fn frame(i: u32, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    f[14..18].copy_from_slice(&i.to_be_bytes());
    for (k, b) in f[18..].iter_mut().enumerate() {
        *b = (k as u32 ^ i) as u8;
    }
    f
}

fn rx_all(port: &mut Port, pool: &mut BufPool) -> Vec<PacketBuf> {
    let mut all = Vec::new();
    let mut out = Vec::with_capacity(MAX_BATCH);
    loop {
        let n = port.rx_batch(pool, &mut out, MAX_BATCH);
        assert!(n <= MAX_BATCH);
        if n == 0 {
            return all;
        }
        all.append(&mut out);
    }
}

#[test]
fn mem_port_inject_forward_observe() {
    let (mut a, ha) = Port::open(&"mem:16".parse().unwrap(), "a").unwrap();
    let (mut b, hb) = Port::open(&"mem:16".parse().unwrap(), "b").unwrap();
    let (ha, hb) = (ha.unwrap(), hb.unwrap());
    let mut pool = BufPool::with_capacity(64);
    for i in 0..20 {
        let ok = ha.inject(&frame(i, 60 + i as usize));
        assert_eq!(ok, i < 16, "ring of 16 must refuse frame {i}");
    }
    assert_eq!(ha.inject_dropped(), 4);
    let mut got = rx_all(&mut a, &mut pool);
    assert_eq!(got.len(), 16);
    // Forward everything a receives out of b, as a worker would.
    b.tx_batch(&mut got, &mut pool);
    assert!(got.is_empty());
    let left: Vec<PacketBuf> =
        std::iter::from_fn(|| hb.recv_timeout(Duration::from_millis(10))).collect();
    assert_eq!(left.len(), 16);
    for (i, p) in left.iter().enumerate() {
        assert_eq!(p.data(), frame(i as u32, 60 + i).as_slice());
    }
    let (ca, cb) = (a.stats().snapshot(), b.stats().snapshot());
    assert_eq!(ca.rx_packets, 16);
    assert_eq!(ca.rx_bytes, (60..76).sum::<u64>());
    assert_eq!(cb.tx_packets, 16);
    assert_eq!(cb.tx_bytes, ca.rx_bytes);
    assert_eq!(a.hw_addr()[0] & 0x03, 0x02, "locally administered unicast");
    assert_ne!(a.hw_addr(), b.hw_addr());
    assert_eq!(b.name(), "b");
}

#[test]
fn mem_port_link_change_is_observable() {
    let (mut p, h) = Port::open(&"mem:".parse().unwrap(), "p").unwrap();
    let h = h.unwrap();
    let stats = p.stats().clone();
    assert!(p.link_up());
    h.set_link_up(false);
    assert_eq!(p.refresh_link(), Some(false));
    assert!(!stats.link_up());
    assert_eq!(stats.link_generation(), 1);
    assert_eq!(p.refresh_link(), None);
}

#[test]
fn mem_replay_into_null_sink() {
    let (p, _h) = Port::open(&"mem:".parse().unwrap(), "r").unwrap();
    let Port::Mem(mut m) = p else {
        panic!("mem spec opened {p:?}")
    };
    let trace: Vec<Vec<u8>> = (0..5).map(|i| frame(i, 64)).collect();
    m.set_replay(&trace, Some(100));
    m.set_null_sink();
    let mut port = Port::Mem(m);
    let mut pool = BufPool::with_capacity(MAX_BATCH);
    let mut out = Vec::with_capacity(MAX_BATCH);
    let mut total = 0;
    loop {
        let n = port.rx_batch(&mut pool, &mut out, MAX_BATCH);
        if n == 0 {
            break;
        }
        total += n;
        port.tx_batch(&mut out, &mut pool);
    }
    assert_eq!(total, 500);
    let c = port.stats().snapshot();
    assert_eq!(
        (c.rx_packets, c.tx_packets, c.tx_bytes),
        (500, 500, 500 * 64)
    );
    // The pool never grew: every buffer came back after the sink.
    assert_eq!(pool.allocated(), MAX_BATCH);
    assert_eq!(pool.available(), MAX_BATCH);
}

#[test]
fn pcap_round_trip_through_a_port() {
    let dir = TempDir::new("rt");
    let (input, output) = (dir.file("in.pcap"), dir.file("out.pcap"));
    let frames: Vec<Vec<u8>> = (0..40).map(|i| frame(i, 60 + 7 * i as usize)).collect();
    {
        let f = std::fs::File::create(&input).unwrap();
        let mut w = PcapWriter::new(std::io::BufWriter::new(f), TsResolution::Nanos).unwrap();
        for (i, f) in frames.iter().enumerate() {
            w.write_record(Duration::new(1_700_000_000 + i as u64, 123_456_789), f)
                .unwrap();
        }
        w.flush().unwrap();
    }
    let spec: PortSpec = format!("pcap:{},{}", input.display(), output.display())
        .parse()
        .unwrap();
    let (mut port, h) = Port::open(&spec, "cap").unwrap();
    assert!(h.is_none());
    let mut pool = BufPool::with_capacity(8);
    let mut got = rx_all(&mut port, &mut pool);
    assert_eq!(got.len(), 40);
    for (g, f) in got.iter().zip(&frames) {
        assert_eq!(g.data(), f.as_slice());
    }
    port.tx_batch(&mut got, &mut pool);
    let c = port.stats().snapshot();
    assert_eq!(
        (c.rx_packets, c.tx_packets, c.rx_errors, c.tx_errors),
        (40, 40, 0, 0)
    );
    drop(port);

    // What the port wrote reads back, frame for frame, with a current time.
    let mut r = PcapReader::new(std::fs::File::open(&output).unwrap()).unwrap();
    assert_eq!(r.header().resolution, TsResolution::Micros);
    assert!(!r.header().big_endian);
    let mut buf = Vec::new();
    let mut n = 0;
    while let Some(rec) = r.next_record(&mut buf).unwrap() {
        assert_eq!(buf, frames[n]);
        assert_eq!(rec.orig_len as usize, frames[n].len());
        assert!(rec.ts_sec > 1_600_000_000 && rec.ts_frac < 1_000_000);
        n += 1;
    }
    assert_eq!(n, 40);
}

#[test]
fn pcap_looping_replay_and_capture_only() {
    let dir = TempDir::new("loop");
    let input = dir.file("in.pcap");
    {
        let mut w =
            PcapWriter::new(std::fs::File::create(&input).unwrap(), TsResolution::Micros).unwrap();
        for i in 0..3 {
            w.write_record(Duration::ZERO, &frame(i, 64)).unwrap();
        }
    }
    let spec: PortSpec = format!("pcap:{},loop", input.display()).parse().unwrap();
    let (mut port, _) = Port::open(&spec, "l").unwrap();
    let mut pool = BufPool::with_capacity(MAX_BATCH);
    let mut out = Vec::new();
    let mut seen = Vec::new();
    for _ in 0..4 {
        assert_eq!(port.rx_batch(&mut pool, &mut out, 5), 5);
        seen.extend(out.drain(..).map(|b| b.data()[17]));
    }
    assert_eq!(seen, [0, 1, 2].repeat(7)[..20]);
    // No output file: transmitted frames are dropped and counted.
    let b = pool.get();
    port.tx(b, &mut pool);
    assert_eq!(port.stats().snapshot().tx_dropped, 1);

    // An empty looping file ends instead of spinning.
    let empty = dir.file("empty.pcap");
    PcapWriter::new(std::fs::File::create(&empty).unwrap(), TsResolution::Micros).unwrap();
    let spec: PortSpec = format!("pcap:{},loop", empty.display()).parse().unwrap();
    let (mut port, _) = Port::open(&spec, "e").unwrap();
    assert_eq!(port.rx_batch(&mut pool, &mut out, MAX_BATCH), 0);
}

#[test]
fn pcap_malformed_files() {
    let dir = TempDir::new("bad");
    let open = |name: &str, bytes: &[u8]| {
        let p = dir.file(name);
        std::fs::write(&p, bytes).unwrap();
        Port::open(&PortSpec::Pcap(PcapSpec::new(Some(p), None)), name)
    };
    assert!(matches!(
        open("magic", b"this is not a pcap file at all"),
        Err(PortOpenError::Pcap(PcapError::BadMagic { .. }))
    ));
    assert!(matches!(
        open("short", &[0xd4, 0xc3, 0xb2, 0xa1, 2, 0]),
        Err(PortOpenError::Pcap(PcapError::TruncatedHeader { len: 6 }))
    ));
    assert!(matches!(
        open("empty", &[]),
        Err(PortOpenError::Pcap(PcapError::TruncatedHeader { len: 0 }))
    ));
    match Port::open(&"pcap:/nonexistent/oko.pcap".parse().unwrap(), "x") {
        Err(PortOpenError::Pcap(PcapError::Io { path, .. })) => {
            assert_eq!(path, PathBuf::from("/nonexistent/oko.pcap"))
        }
        other => panic!("expected Io error, got {other:?}"),
    }

    // Two good records, then one cut short: two frames, one rx error, and
    // the typed error kept on the port.
    let mut good = PcapWriter::new(Vec::new(), TsResolution::Micros).unwrap();
    good.write_record(Duration::ZERO, &frame(0, 60)).unwrap();
    good.write_record(Duration::ZERO, &frame(1, 60)).unwrap();
    let mut bytes = good.into_inner();
    let whole = bytes.len();
    bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 60, 0, 0, 0, 60, 0, 0, 0, 1, 2, 3]);
    let (mut port, _) = open("trunc", &bytes).unwrap();
    let mut pool = BufPool::with_capacity(4);
    assert_eq!(rx_all(&mut port, &mut pool).len(), 2);
    assert_eq!(port.stats().snapshot().rx_errors, 1);
    let Port::Pcap(p) = &port else {
        panic!("pcap spec opened {port:?}")
    };
    assert!(p.input_done());
    assert!(matches!(
        p.input_error(),
        Some(PcapError::TruncatedRecord { index: 2, offset }) if *offset == whole as u64
    ));

    // A record longer than any buffer but within the snaplen is skipped and
    // counted; the next one still arrives.
    let mut w = PcapWriter::new(Vec::new(), TsResolution::Micros).unwrap();
    w.write_record(Duration::ZERO, &vec![0xab; MAX_FRAME + 1])
        .unwrap();
    w.write_record(Duration::ZERO, &frame(9, 64)).unwrap();
    let (mut port, _) = open("jumbo", &w.into_inner()).unwrap();
    let got = rx_all(&mut port, &mut pool);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].data(), frame(9, 64).as_slice());
    assert_eq!(port.stats().snapshot().rx_errors, 1);
}

#[test]
fn pcap_reader_never_panics_on_garbage() {
    // Every prefix and a family of single-byte corruptions of a valid file:
    // each read ends in a frame, a clean end, or a typed error.
    let mut w = PcapWriter::new(Vec::new(), TsResolution::Nanos).unwrap();
    for i in 0..3 {
        w.write_record(Duration::new(i, 0), &frame(i as u32, 80))
            .unwrap();
    }
    let good = w.into_inner();
    let mut cases: Vec<Vec<u8>> = (0..good.len()).map(|n| good[..n].to_vec()).collect();
    for pos in 0..good.len() {
        for v in [0x00, 0xff, 0x80] {
            let mut c = good.clone();
            c[pos] = v;
            cases.push(c);
        }
    }
    let mut buf = Vec::new();
    for c in &cases {
        if let Ok(mut r) = PcapReader::new(c.as_slice()) {
            for _ in 0..10 {
                match r.next_record(&mut buf) {
                    Ok(Some(h)) => assert_eq!(h.incl_len as usize, buf.len()),
                    Ok(None) | Err(_) => break,
                }
            }
        }
    }
}

#[test]
fn pcap_reads_files_written_elsewhere() {
    // A big-endian microsecond file, byte by byte as a big-endian host's
    // libpcap writes it.
    let mut f = vec![
        0xa1, 0xb2, 0xc3, 0xd4, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x05, 0xdc, 0, 0, 0, 1,
    ];
    let fr = frame(3, 60);
    f.extend_from_slice(&[0, 0, 0, 9, 0, 0x0f, 0x42, 0x3f, 0, 0, 0, 60, 0, 0, 0, 60]);
    f.extend_from_slice(&fr);
    let dir = TempDir::new("be");
    let p = dir.file("be.pcap");
    let mut file = std::fs::File::create(&p).unwrap();
    file.write_all(&f).unwrap();
    drop(file);
    let mut r = PcapReader::new(std::fs::File::open(&p).unwrap()).unwrap();
    assert!(r.header().big_endian);
    assert_eq!(r.header().snaplen, 1500);
    let mut buf = Vec::new();
    let h = r.next_record(&mut buf).unwrap().unwrap();
    assert_eq!((h.ts_sec, h.ts_frac, h.incl_len), (9, 999_999, 60));
    assert_eq!(buf, fr);
}

proptest::proptest! {
    /// Whatever we write, we read back: frames, lengths and timestamps, in
    /// both resolutions.
    #[test]
    fn pcap_write_read_round_trip(
        frames in proptest::collection::vec(
            (proptest::collection::vec(proptest::num::u8::ANY, 0..2000), 0u64..u32::MAX as u64, 0u32..1_000_000_000),
            0..20,
        ),
        nanos in proptest::bool::ANY,
    ) {
        let res = if nanos { TsResolution::Nanos } else { TsResolution::Micros };
        let mut w = PcapWriter::new(Vec::new(), res).unwrap();
        for (f, s, ns) in &frames {
            w.write_record(Duration::new(*s, *ns), f).unwrap();
        }
        let bytes = w.into_inner();
        let mut r = PcapReader::new(bytes.as_slice()).unwrap();
        proptest::prop_assert_eq!(r.header().resolution, res);
        let mut buf = Vec::new();
        for (f, s, ns) in &frames {
            let h = r.next_record(&mut buf).unwrap().unwrap();
            proptest::prop_assert_eq!(&buf, f);
            proptest::prop_assert_eq!(h.orig_len as usize, f.len());
            proptest::prop_assert_eq!(u64::from(h.ts_sec), *s);
            let want = if nanos { *ns } else { ns / 1000 };
            proptest::prop_assert_eq!(h.ts_frac, want);
        }
        proptest::prop_assert!(r.next_record(&mut buf).unwrap().is_none());
    }
}
