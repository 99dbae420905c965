//! The os-ken module (`controller-examples/osken/`) against the real thing:
//! os-ken 3.1.1 on one side, `okod` on the other.
//!
//! The test prepares a Python virtual environment with os-ken in
//! `<workspace>/target/osken-venv` (created once and reused by later runs;
//! a marker file written after `pip install` succeeded tells a finished
//! venv from an interrupted one), then:
//!
//! 1. runs the module's own unit tests (`osken/test_oko_ext.py`: byte-exact
//!    encodings written from EXTENSION.md, decoding through os-ken's parser);
//! 2. starts `osken-manager` with `osken/oko_example_app.py` on a free
//!    loopback port, and `okod` connecting to it with a pcap port that
//!    replays a small capture in a loop (a TCP handshake with data, a UDP
//!    datagram, an ARP request) and an in-memory output port;
//! 3. waits for the app's JSON report and checks what crossed the wire:
//!    the chunked PROG_LOAD and its reply, the FILTER_PROG flow accepted and
//!    echoed in FLOW_STATS and advertised in TABLE_FEATURES, UNKNOWN_PROG
//!    for a flow naming a missing program, a MAP_UPDATE / MAP_LOOKUP /
//!    MAP_DELETE round trip, PROG_STATS counting runs that grow with the
//!    traffic, a MAP_DUMP holding the replayed TCP connection, and
//!    PROG_UNLOAD with and without CASCADE (with the FLOW_REMOVED of the
//!    deleted flow).
//!
//! Without `python3`, its `venv` module, or access to PyPI the test says so
//! on stderr and passes; with `OKO_REQUIRE_OSKEN=1` it fails instead.
//! `okod` is built with `$CARGO build -p agent --bin okod` into the target
//! directory this test runs from (a no-op when it is up to date).

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The os-ken release the module is tested against.
const OSKEN_VERSION: &str = "3.1.1";
/// File written into the venv once os-ken is installed, holding its version.
const MARKER: &str = "oko-osken-version";
/// Largest PROG_LOAD message the app is told to send: small enough that
/// conntrack.o (a few KiB) goes in several chunks.
const MAX_MSG_LEN: usize = 2048;
/// The datapath id okod is given, checked in the report.
const DPID: u64 = 0x0a_b0c0;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crate inside the workspace")
        .to_path_buf()
}

/// Reports why the test cannot run; fails instead under OKO_REQUIRE_OSKEN=1.
fn skip(why: &str) {
    if std::env::var_os("OKO_REQUIRE_OSKEN").is_some_and(|v| v == "1") {
        panic!("os-ken end-to-end test cannot run: {why}");
    }
    eprintln!("SKIPPED os-ken end-to-end test: {why} (set OKO_REQUIRE_OSKEN=1 to fail instead)");
}

fn describe(out: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

// ---------------------------------------------------------------------------
// The Python environment
// ---------------------------------------------------------------------------

/// Whether the venv at `dir` finished installing our os-ken release: the
/// marker is written only after `pip install` succeeded, so a venv left
/// half-built by an interrupted run is rebuilt.
fn has_osken(dir: &Path) -> bool {
    let python = dir.join("bin").join("python");
    fs::read_to_string(dir.join(MARKER)).is_ok_and(|m| m.trim() == OSKEN_VERSION)
        && Command::new(&python)
            .args([
                "-c",
                "import importlib.metadata as m, sys; \
                 sys.exit(m.version('os-ken') != sys.argv[1])",
                OSKEN_VERSION,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

/// The venv's interpreter, creating the venv when needed; `Err` says why
/// it cannot be had (no python3, no venv module, no network).
fn venv_python() -> Result<PathBuf, String> {
    let dir = workspace().join("target").join("osken-venv");
    let python = dir.join("bin").join("python");
    if has_osken(&dir) {
        return Ok(python);
    }
    let base = std::env::var("OKO_PYTHON").unwrap_or_else(|_| "python3".into());
    match Command::new(&base).arg("--version").output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => return Err(format!("`{base} --version` failed: {}", describe(&o))),
        Err(e) => return Err(format!("no `{base}` ({e})")),
    }
    // Built in place (a venv's scripts name its path, so it cannot be
    // moved), over whatever an interrupted run left.
    let _ = fs::remove_dir_all(&dir);
    let started = Instant::now();
    let out = Command::new(&base)
        .args(["-m", "venv"])
        .arg(&dir)
        .output()
        .map_err(|e| format!("running `{base} -m venv`: {e}"))?;
    if !out.status.success() {
        let _ = fs::remove_dir_all(&dir);
        return Err(format!(
            "`{base} -m venv` failed (python3-venv missing?): {}",
            describe(&out)
        ));
    }
    // Short socket timeout and one retry: without network this fails in
    // seconds instead of minutes.
    let out = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--quiet",
            "--timeout",
            "30",
            "--retries",
            "1",
        ])
        .arg(format!("os-ken=={OSKEN_VERSION}"))
        .output()
        .map_err(|e| format!("running pip: {e}"))?;
    if !out.status.success() {
        let _ = fs::remove_dir_all(&dir);
        return Err(format!(
            "pip install os-ken=={OSKEN_VERSION} failed (no network?): {}",
            describe(&out)
        ));
    }
    fs::write(dir.join(MARKER), OSKEN_VERSION).map_err(|e| format!("writing the marker: {e}"))?;
    if !has_osken(&dir) {
        return Err(format!(
            "os-ken {OSKEN_VERSION} not importable after pip install"
        ));
    }
    eprintln!(
        "created {dir:?} with os-ken {OSKEN_VERSION} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(python)
}

// ---------------------------------------------------------------------------
// okod
// ---------------------------------------------------------------------------

/// The okod binary of the target directory this test runs from, built (or
/// brought up to date) with `$CARGO build`.
fn okod() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // <target>/<profile>/deps/osken-<hash>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable under <target>/<profile>/deps");
    let target_dir = profile_dir.parent().expect("target directory");
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("profile directory name");
    let bin = profile_dir.join(format!("okod{}", std::env::consts::EXE_SUFFIX));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "-p", "agent", "--bin", "okod"])
        .env("CARGO_TARGET_DIR", target_dir)
        .current_dir(workspace());
    match profile {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    let out = cmd.output().expect("running cargo build for okod");
    if !out.status.success() {
        assert!(
            bin.exists(),
            "cargo build -p agent --bin okod failed: {}",
            describe(&out)
        );
        eprintln!(
            "warning: cargo build of okod failed, using the existing {bin:?}: {}",
            describe(&out)
        );
    }
    assert!(bin.exists(), "{bin:?} missing after cargo build");
    bin
}

// ---------------------------------------------------------------------------
// Traffic
// ---------------------------------------------------------------------------

fn checksum(chunks: &[&[u8]]) -> u16 {
    let mut sum = 0u32;
    for c in chunks {
        for pair in c.chunks(2) {
            let hi = u32::from(pair[0]) << 8;
            let lo = pair.get(1).map_or(0, |&b| u32::from(b));
            sum += hi | lo;
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const IP_A: [u8; 4] = [10, 0, 0, 1];
const IP_B: [u8; 4] = [10, 0, 0, 2];

/// An Ethernet + IPv4 frame around an L4 segment whose checksum field is at
/// `csum_at` (0 for none), checksums filled in.
fn ipv4_frame(src: [u8; 4], dst: [u8; 4], proto: u8, mut l4: Vec<u8>, csum_at: usize) -> Vec<u8> {
    let len = u16::try_from(l4.len()).expect("small segment");
    if csum_at != 0 {
        let pseudo = [&src[..], &dst[..], &[0, proto], &len.to_be_bytes()[..]].concat();
        let c = checksum(&[&pseudo, &l4]);
        l4[csum_at..csum_at + 2].copy_from_slice(&c.to_be_bytes());
    }
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&(20 + len).to_be_bytes());
    ip.extend_from_slice(&[0, 1, 0x40, 0, 64, proto, 0, 0]);
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let c = checksum(&[&ip]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let (smac, dmac) = if src == IP_A {
        (MAC_A, MAC_B)
    } else {
        (MAC_B, MAC_A)
    };
    [&dmac[..], &smac[..], &[0x08, 0x00], &ip, &l4].concat()
}

fn tcp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, flags: u8, data: &[u8]) -> Vec<u8> {
    let mut seg = Vec::new();
    seg.extend_from_slice(&sport.to_be_bytes());
    seg.extend_from_slice(&dport.to_be_bytes());
    seg.extend_from_slice(&1000u32.to_be_bytes()); // seq
    seg.extend_from_slice(&u32::from(flags & 0x10 != 0).to_be_bytes()); // ack
    seg.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    seg.extend_from_slice(data);
    ipv4_frame(src, dst, 6, seg, 16)
}

fn udp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let len = u16::try_from(8 + data.len()).expect("small datagram");
    let mut seg = Vec::new();
    seg.extend_from_slice(&sport.to_be_bytes());
    seg.extend_from_slice(&dport.to_be_bytes());
    seg.extend_from_slice(&len.to_be_bytes());
    seg.extend_from_slice(&[0, 0]);
    seg.extend_from_slice(data);
    ipv4_frame(src, dst, 17, seg, 6)
}

fn arp_request() -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&MAC_A);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&MAC_A);
    f.extend_from_slice(&IP_A);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&IP_B);
    f
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;

/// A TCP handshake with one data segment (left open, so conntrack keeps
/// it), a UDP datagram and an ARP request.
fn frames() -> Vec<Vec<u8>> {
    vec![
        arp_request(),
        tcp(IP_A, IP_B, 40000, 80, SYN, b""),
        tcp(IP_B, IP_A, 80, 40000, SYN | ACK, b""),
        tcp(IP_A, IP_B, 40000, 80, ACK, b""),
        tcp(IP_A, IP_B, 40000, 80, PSH | ACK, b"GET / HTTP/1.0\r\n\r\n"),
        udp(IP_A, IP_B, 5000, 53, b"query"),
    ]
}

/// A classic little-endian microsecond pcap of Ethernet frames.
fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes()); // thiszone
    out.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
    out.extend_from_slice(&65535u32.to_le_bytes()); // snaplen
    out.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
    for (i, f) in frames.iter().enumerate() {
        let len = u32::try_from(f.len()).expect("small frame");
        out.extend_from_slice(&1_700_000_000u32.to_le_bytes());
        out.extend_from_slice(&(u32::try_from(i).expect("few frames") * 1000).to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

/// A scratch directory removed at the end (kept when the test fails, for
/// the logs).
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let p = std::env::temp_dir().join(format!("oko-osken-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&p).expect("scratch dir");
        Self(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("logs kept in {:?}", self.0);
        } else {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// A child process killed (by its own handle) when dropped.
struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &'static str, mut cmd: Command, dir: &Path) -> Self {
        let log = dir.join(format!("{name}.log"));
        let f = fs::File::create(&log).expect("log file");
        cmd.stdin(Stdio::null())
            .stdout(f.try_clone().expect("log file"))
            .stderr(f);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Self { name, child, log }
    }

    /// Fails the test if the process has exited.
    fn check_alive(&mut self) {
        if let Some(status) = self.child.try_wait().expect("try_wait") {
            panic!(
                "{} exited early ({status}):\n{}",
                self.name,
                self.log_text()
            );
        }
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn stop(&mut self) -> Option<ExitStatus> {
        let _ = self.child.kill();
        self.child.wait().ok()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding an ephemeral port")
        .port()
}

// ---------------------------------------------------------------------------
// Checks on the report
// ---------------------------------------------------------------------------

fn u(v: &Value, what: &str) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("{what}: not an unsigned integer: {v}"))
}

/// The one OKO error in a list of errors the app recorded, with its code.
fn one_oko_error(errors: &Value, what: &str) -> (u64, String) {
    let list = errors
        .as_array()
        .unwrap_or_else(|| panic!("{what}: not a list: {errors}"));
    assert_eq!(list.len(), 1, "{what}: expected one error, got {errors}");
    let e = &list[0];
    assert_eq!(e["oko"], true, "{what}: not an OKO experimenter error: {e}");
    (
        u(&e["code"], what),
        e["text"].as_str().unwrap_or_default().to_owned(),
    )
}

fn no_errors(errors: &Value, what: &str) {
    assert_eq!(errors, &Value::Array(vec![]), "{what}: switch refused it");
}

/// Whether an error text is a readable explanation (EXTENSION.md §4: UTF-8
/// text "followed by nothing else"), not binary bytes.
fn is_explanation(text: &str) -> bool {
    !text.is_empty()
        && !text
            .chars()
            .any(|c| c == '\u{fffd}' || (c.is_control() && c != '\n' && c != '\t'))
}

fn check_report(r: &Value, elf_len: usize) {
    assert_eq!(
        r["done"], true,
        "the app's script stopped: {}",
        r["failure"]
    );
    assert_eq!(u(&r["datapath_id"], "datapath_id"), DPID);

    // PROG_LOAD in chunks of MAX_MSG_LEN - 32 bytes, answered by PROG_LOAD_REPLY.
    let load = &r["load"];
    assert_eq!(u(&load["elf_len"], "elf_len") as usize, elf_len);
    let chunk = MAX_MSG_LEN - 32;
    assert_eq!(
        u(&load["chunks"], "chunks") as usize,
        elf_len.div_ceil(chunk),
        "chunk count"
    );
    assert!(elf_len > chunk, "conntrack.o should need several chunks");
    assert_eq!(u(&load["reply_exp_type"], "exp_type"), 2);
    assert_eq!(u(&load["prog_id"], "prog_id"), 1);
    let n_insns = u(&load["n_insns"], "n_insns");
    assert!(n_insns > 0, "PROG_LOAD_REPLY with no instructions");
    let maps = load["maps"].as_array().expect("maps list");
    assert_eq!(maps.len(), 1, "conntrack.o defines one map: {maps:?}");
    let m = &maps[0];
    assert_eq!(u(&m["map_id"], "map_id"), 0);
    assert_eq!(m["name"], "conntrack_table");
    assert_eq!(u(&m["key_size"], "key_size"), 40);
    assert_eq!(u(&m["value_size"], "value_size"), 8);
    assert_eq!(u(&m["max_entries"], "max_entries"), 65536);

    // A flow naming a program that does not exist: UNKNOWN_PROG.
    let (code, text) = one_oko_error(&r["unknown_prog_flow_errors"], "unknown-program flow");
    assert_eq!(code, 4, "UNKNOWN_PROG");
    assert!(
        is_explanation(&text),
        "UNKNOWN_PROG explains itself: {text:?}"
    );

    // The filter flow and the table-miss were accepted, and FLOW_STATS
    // echoes FILTER_PROG (os-ken parsed it back by name).
    no_errors(&r["flow_errors"], "FLOW_MODs");
    let flows = r["flow_stats"].as_array().expect("flow_stats list");
    let filt = flows
        .iter()
        .find(|f| f["priority"] == 10)
        .unwrap_or_else(|| panic!("no priority-10 flow in {flows:?}"));
    assert_eq!(filt["match"]["filter_prog"], 1, "FILTER_PROG echoed");
    assert_eq!(filt["match"]["eth_type"], 0x0800);
    assert!(flows.iter().any(|f| f["priority"] == 0), "table-miss flow");

    // TABLE_FEATURES advertises FILTER_PROG in every table's match property.
    let tf = &r["table_features"];
    let n_tables = u(&tf["n_tables"], "n_tables");
    assert!(n_tables >= 1, "{tf}");
    let advertised = tf["filter_prog_advertised"]
        .as_array()
        .unwrap_or_else(|| panic!("TABLE_FEATURES failed: {}", r["table_features_error"]));
    assert_eq!(
        advertised.len() as u64,
        n_tables,
        "tables advertising FILTER_PROG: {tf}"
    );

    // MAP_LOOKUP / MAP_UPDATE / MAP_DELETE round trip, and a bad key size.
    let p = &r["map_probe"];
    assert_eq!(p["lookup_before"]["value"], Value::Null, "{p}");
    no_errors(&p["update_errors"], "MAP_UPDATE");
    assert_eq!(p["lookup_after_update"]["value"], p["value"], "{p}");
    no_errors(&p["delete_errors"], "MAP_DELETE");
    assert_eq!(p["lookup_after_delete"]["value"], Value::Null, "{p}");
    let (code, text) = one_oko_error(&p["bad_size_errors"], "oversized key");
    assert_eq!(code, 7, "BAD_KEY_OR_VALUE");
    assert!(is_explanation(&text), "error text {text:?}");

    // PROG_STATS after traffic: the program ran, and keeps running.
    let snaps = r["prog_stats"].as_array().expect("prog_stats list");
    assert_eq!(snaps.len(), 2);
    let mut runs = Vec::new();
    for s in snaps {
        let entries = s.as_array().expect("PROG_STATS entries");
        assert_eq!(entries.len(), 1, "one program loaded: {s}");
        let e = &entries[0];
        assert_eq!(u(&e["prog_id"], "prog_id"), 1);
        assert_eq!(u(&e["n_insns"], "n_insns"), n_insns);
        assert_eq!(e["name"], "conntrack");
        assert_eq!(u(&e["n_flows"], "n_flows"), 1);
        let (r, m) = (u(&e["runs"], "runs"), u(&e["matches"], "matches"));
        assert!(r > 0, "the program never ran: {e}");
        assert!(m > 0 && m <= r, "matches {m} of {r} runs");
        runs.push(r);
    }
    assert!(
        runs[1] > runs[0],
        "runs did not grow with looping traffic: {runs:?}"
    );

    // MAP_DUMP: the replayed connection is in the table.
    let dumps = r["map_dumps"].as_array().expect("map_dumps list");
    assert_eq!(dumps.len(), 1);
    let d = &dumps[0];
    assert_eq!((u(&d["key_size"], "k"), u(&d["value_size"], "v")), (40, 8));
    let entries = d["entries"].as_array().expect("entries");
    assert_eq!(u(&d["n_entries"], "n_entries") as usize, entries.len());
    let ours = entries.iter().any(|e| {
        let key = e[0].as_str().unwrap_or_default();
        let (a, b) = (&key.get(0..8), &key.get(32..40));
        let ends = [a.unwrap_or_default(), b.unwrap_or_default()];
        // struct ct_key: addresses at 0 and 16, ports at 32 and 34,
        // family at 36, proto at 37 (hex offsets are twice that).
        ends.contains(&"0a000001") && ends.contains(&"0a000002") && key.get(72..76) == Some("0406")
    });
    assert!(ours, "no 10.0.0.1/10.0.0.2 TCP entry in {d}");

    // PROG_UNLOAD: refused while referenced, then with CASCADE the flow goes.
    let un = &r["unload"];
    let (code, _) = one_oko_error(&un["plain_errors"], "PROG_UNLOAD");
    assert_eq!(code, 5, "PROG_IN_USE");
    no_errors(&un["cascade_errors"], "PROG_UNLOAD CASCADE");
    assert_eq!(un["stats_after_error"]["code"], 4, "{un}");
    assert_eq!(
        u(&un["flows_after"], "flows_after"),
        1,
        "only the table-miss flow survives"
    );
    let removed = un["flow_removed"].as_array().expect("flow_removed list");
    assert_eq!(removed.len(), 1, "one FLOW_REMOVED: {removed:?}");
    let fr = &removed[0];
    assert_eq!(fr["reason"], 2, "OFPRR_DELETE: {fr}");
    assert_eq!(fr["priority"], 10, "{fr}");
    assert_eq!(fr["match"]["filter_prog"], 1, "FILTER_PROG echoed: {fr}");
}

// ---------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------

#[test]
fn osken_app_drives_okod() {
    let t0 = Instant::now();
    let python = match venv_python() {
        Ok(p) => p,
        Err(why) => return skip(&why),
    };
    let t_venv = t0.elapsed();
    let osken_dir = workspace().join("controller-examples").join("osken");

    // 1. The module's unit tests, under the same os-ken.
    let out = Command::new(&python)
        .args(["-m", "unittest", "test_oko_ext"])
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .current_dir(&osken_dir)
        .output()
        .expect("running the Python unit tests");
    assert!(
        out.status.success(),
        "oko_ext unit tests failed: {}",
        describe(&out)
    );
    eprintln!(
        "python unit tests: {}",
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .last()
            .unwrap_or("")
    );

    // 2. okod, os-ken and the app.
    let okod = okod();
    let t_build = t0.elapsed();
    let scratch = Scratch::new();
    let dir = &scratch.0;
    let input = dir.join("in.pcap");
    fs::write(&input, pcap(&frames())).expect("writing the pcap");
    let report = dir.join("report.json");
    let elf = workspace().join("controller-examples/filters/conntrack.o");
    let elf_len = fs::metadata(&elf).expect("conntrack.o").len() as usize;

    let port = free_port();
    let mut app = Command::new(&python);
    app.args(["-m", "os_ken.cmd.manager", "--ofp-listen-host", "127.0.0.1"])
        .arg("--ofp-tcp-listen-port")
        .arg(port.to_string())
        .arg(osken_dir.join("oko_example_app.py"))
        .current_dir(dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONPATH", &osken_dir)
        .env("OKO_PROG", &elf)
        .env("OKO_PROG_ID", "1")
        .env("OKO_MAX_MSG_LEN", MAX_MSG_LEN.to_string())
        .env("OKO_OUT", &report)
        .env("OKO_OUT_PORT", "2")
        .env("OKO_STATS_DELAY", "1.0")
        .env("OKO_MAP_PROBE", "0")
        .env("OKO_UNLOAD", "1");
    let mut osken = Proc::spawn("osken-manager", app, dir);

    // okod retries a refused connection only after a backoff: wait for
    // os-ken to listen first.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        osken.check_alive();
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "os-ken never listened on {port}:\n{}",
            osken.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let mut sw = Command::new(&okod);
    sw.arg("--dpid")
        .arg(format!("{DPID:x}"))
        .arg("--port")
        .arg(format!("1=pcap:{},loop", input.display()))
        .args(["--port", "2=mem"])
        .arg("--controller")
        .arg(format!("tcp:127.0.0.1:{port}"))
        .args(["--workers", "1", "--no-pin"])
        .current_dir(dir);
    let mut switch = Proc::spawn("okod", sw, dir);

    // 3. The report.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !report.exists() {
        osken.check_alive();
        switch.check_alive();
        assert!(
            Instant::now() < deadline,
            "no report from the app in 60 s\n--- os-ken ---\n{}\n--- okod ---\n{}",
            osken.log_text(),
            switch.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let t_report = t0.elapsed();
    switch.stop();
    osken.stop();
    let text = fs::read_to_string(&report).expect("reading the report");
    let r: Value = serde_json::from_str(&text).expect("the report is JSON");
    if r["done"] != true {
        panic!(
            "app failed: {}\n--- os-ken ---\n{}\n--- okod ---\n{}",
            r["failure"],
            osken.log_text(),
            switch.log_text()
        );
    }
    check_report(&r, elf_len);
    eprintln!(
        "os-ken end-to-end: venv ready at {:.1} s, okod ready at {:.1} s, report at {:.1} s \
         (runs {} -> {}, {} PROG_LOAD chunks)",
        t_venv.as_secs_f64(),
        t_build.as_secs_f64(),
        t_report.as_secs_f64(),
        r["prog_stats"][0][0]["runs"],
        r["prog_stats"][1][0]["runs"],
        r["load"]["chunks"],
    );
}
