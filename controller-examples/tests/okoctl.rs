//! `okoctl` against a real `okod`: every command's output and exit status,
//! and the learning switch's messages through a real switch.
//!
//! Each test starts its own `okod` child (in-memory ports, one worker, a
//! free loopback port) so that tests do not see each other's flows. The
//! `okod` binary is looked up next to the `okoctl` binary cargo built for
//! this test (same target directory); when it is not there it is built
//! once with `cargo build -p agent --bin okod` into that directory.

use std::io::Write as _;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use controller_examples::client::{ClientOptions, Connection, Target};
use controller_examples::learning::LearningSwitch;
use controller_examples::ofctl::format_flow_stats;
use controller_examples::okoctl::multipart_with_xid;
use openflow::message::{Message, MessageBody, OFP_NO_BUFFER, PacketIn};
use openflow::multipart::{FlowStatsRequest, MultipartReplyBody, MultipartRequestBody};
use openflow::oxm::{Match, Oxm};

const OKOCTL: &str = env!("CARGO_BIN_EXE_okoctl");

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn filter(name: &str) -> PathBuf {
    manifest_dir().join("filters").join(name)
}

/// `<target>/debug/okod`, next to `okoctl`; built on first use if absent.
fn okod_binary() -> &'static Path {
    static OKOD: OnceLock<PathBuf> = OnceLock::new();
    OKOD.get_or_init(|| {
        let okoctl = Path::new(OKOCTL);
        let profile_dir = okoctl.parent().expect("okoctl has a directory");
        let okod = profile_dir.join("okod");
        if okod.exists() {
            return okod;
        }
        let target_dir = profile_dir.parent().expect("a target directory");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = Command::new(cargo)
            .args(["build", "-p", "agent", "--bin", "okod"])
            .env("CARGO_TARGET_DIR", target_dir)
            .current_dir(manifest_dir().join(".."))
            .status()
            .expect("run cargo build for okod");
        assert!(status.success(), "building okod failed");
        assert!(okod.exists(), "cargo built okod but {okod:?} is missing");
        okod
    })
}

/// `<target>/debug/examples/NAME`, built on first use if absent (cargo
/// builds examples for a plain `cargo test`, not for `--test okoctl`).
fn example_binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let profile_dir = Path::new(OKOCTL).parent().expect("okoctl has a directory");
    let path = profile_dir.join("examples").join(name);
    if !path.exists() {
        BUILT.get_or_init(|| {
            let target_dir = profile_dir.parent().expect("a target directory");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let status = Command::new(cargo)
                .args(["build", "-p", "controller-examples", "--examples"])
                .env("CARGO_TARGET_DIR", target_dir)
                .current_dir(manifest_dir().join(".."))
                .status()
                .expect("run cargo build for the examples");
            assert!(status.success(), "building the examples failed");
        });
    }
    assert!(path.exists(), "{path:?} is missing");
    path
}

/// A child process killed on drop, whose stdout is read line by line.
struct Example {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Example {
    fn spawn(name: &str, args: &[&str]) -> Self {
        use std::io::BufRead as _;
        let mut child = Command::new(example_binary(name))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the example");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// Lines up to and including the first one that satisfies `done`,
    /// within 20 s.
    fn read_until(&self, done: impl Fn(&str) -> bool) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let stop = done(&line);
                    seen.push(line);
                    if stop {
                        return seen;
                    }
                }
                Err(_) => panic!("the example did not print what was expected: {seen:#?}"),
            }
        }
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `okod`, killed on drop.
struct Okod {
    child: Child,
    target: String,
}

fn free_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind an ephemeral port");
    l.local_addr().expect("local address").port()
}

impl Okod {
    /// Starts okod with `n_ports` in-memory ports and waits until it
    /// accepts connections.
    fn start(n_ports: u32) -> Self {
        Self::start_with(n_ports, "tcp", &[])
    }

    /// [`Okod::start`] listening on `pscheme` (`ptcp` or `pssl`) with extra
    /// arguments; the target is `scheme:127.0.0.1:PORT`.
    fn start_with(n_ports: u32, scheme: &str, extra: &[&str]) -> Self {
        for _attempt in 0..5 {
            let port = free_port();
            let mut cmd = Command::new(okod_binary());
            for p in 1..=n_ports {
                cmd.arg("--port").arg(format!("{p}=mem"));
            }
            cmd.args(["--controller", &format!("p{scheme}:{port}:127.0.0.1")])
                .arg("--no-pin")
                .args(extra)
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if !extra.contains(&"--workers") {
                cmd.args(["--workers", "1"]);
            }
            let mut child = cmd.spawn().expect("spawn okod");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    // Lost the port to someone else; try another.
                    break;
                }
                if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
                    return Self {
                        child,
                        target: format!("{scheme}:127.0.0.1:{port}"),
                    };
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("okod did not listen on {port} within 10 s");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("okod could not start after 5 attempts");
    }
}

impl Drop for Okod {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one okoctl run did.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn finish(out: Output) -> Run {
    Run {
        code: out.status.code().expect("okoctl exited normally"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn okoctl(args: &[&str]) -> Run {
    finish(
        Command::new(OKOCTL)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run okoctl"),
    )
}

fn okoctl_stdin(args: &[&str], input: &str) -> Run {
    let mut child = Command::new(OKOCTL)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run okoctl");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    finish(child.wait_with_output().expect("okoctl output"))
}

/// Runs okoctl and requires exit status 0.
fn ok(args: &[&str]) -> String {
    let r = okoctl(args);
    assert_eq!(
        r.code, 0,
        "okoctl {args:?} failed: stdout {:?} stderr {:?}",
        r.stdout, r.stderr
    );
    r.stdout
}

/// Runs okoctl and requires exit status `code`; returns stderr.
fn fails(code: i32, args: &[&str]) -> String {
    let r = okoctl(args);
    assert_eq!(
        r.code, code,
        "okoctl {args:?}: stdout {:?} stderr {:?}",
        r.stdout, r.stderr
    );
    r.stderr
}

/// A port's `tx pkts=` in dump-ports output.
fn tx_packets(dump: &str, port: u32) -> Option<u64> {
    let at = dump.find(&format!("  port {port:>2}: "))?;
    let tx = dump[at..]
        .lines()
        .nth(1)?
        .trim_start()
        .strip_prefix("tx pkts=")?;
    tx.split(',').next()?.parse().ok()
}

/// The flow lines of dump-flows output (without header lines).
fn flow_lines(dump: &str) -> Vec<&str> {
    dump.lines().filter(|l| l.starts_with(" cookie=")).collect()
}

fn assert_header(out: &str, what: &str) {
    let first = out.lines().next().unwrap_or("");
    assert!(
        first.starts_with(&format!("{what} (OF1.3) (xid=0x")) && first.contains("):"),
        "bad header line {first:?} in {out:?}"
    );
}

#[test]
fn flows_round_trip() {
    let sw = Okod::start(3);
    let t = sw.target.as_str();
    assert_eq!(flow_lines(&ok(&["dump-flows", t])).len(), 0);
    ok(&["add-flow", t, "priority=10,in_port=1,actions=output:2"]);
    ok(&[
        "add-flow",
        t,
        "table=0,priority=20,tcp,tp_dst=80,actions=drop",
    ]);
    let dump = ok(&["dump-flows", t]);
    assert_header(&dump, "OFPST_FLOW reply");
    let flows = flow_lines(&dump);
    assert_eq!(flows.len(), 2, "{dump}");
    assert!(
        flows
            .iter()
            .any(|l| l.ends_with(" priority=10,in_port=1 actions=output:2")),
        "{dump}"
    );
    assert!(
        flows
            .iter()
            .any(|l| l.ends_with(" priority=20,tcp,tp_dst=80 actions=drop")),
        "{dump}"
    );
    // A dump restricted by a match shows only what matches.
    let only_tcp = ok(&["dump-flows", t, "tcp"]);
    assert_eq!(flow_lines(&only_tcp).len(), 1, "{only_tcp}");

    ok(&["mod-flows", t, "in_port=1,actions=output:3"]);
    let dump = ok(&["dump-flows", t, "in_port=1"]);
    assert!(
        dump.contains(" priority=10,in_port=1 actions=output:3"),
        "{dump}"
    );

    ok(&["del-flows", t, "in_port=1"]);
    let flows_after = ok(&["dump-flows", t]);
    assert_eq!(flow_lines(&flows_after).len(), 1, "{flows_after}");
    ok(&["del-flows", t]);
    assert_eq!(flow_lines(&ok(&["dump-flows", t])).len(), 0);
}

#[test]
fn add_flows_from_a_file_and_stdin() {
    let sw = Okod::start(2);
    let t = sw.target.as_str();
    let dir = std::env::temp_dir().join(format!("okoctl-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("flows.txt");
    std::fs::write(
        &file,
        "# forwarding between the two ports\n\
         \n\
         priority=10,in_port=1,actions=output:2   # one way\n\
         priority=10,in_port=2,actions=output:1\n\
         \x20   priority=5,arp,actions=drop\n",
    )
    .unwrap();
    ok(&["add-flows", t, file.to_str().unwrap()]);
    assert_eq!(flow_lines(&ok(&["dump-flows", t])).len(), 3);

    let r = okoctl_stdin(&["add-flows", t, "-"], "priority=7,ip,actions=drop\n");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(flow_lines(&ok(&["dump-flows", t])).len(), 4);

    // A bad line: exit 2 naming the line and the token; nothing is sent.
    let bad = dir.join("bad.txt");
    std::fs::write(
        &bad,
        "priority=1,actions=drop\n# fine\npriority=2,ip,nw_srcc=10.0.0.1,actions=drop\n",
    )
    .unwrap();
    let err = fails(2, &["add-flows", t, bad.to_str().unwrap()]);
    assert!(err.contains("bad.txt:3"), "{err}");
    assert!(err.contains("nw_srcc"), "{err}");
    assert_eq!(flow_lines(&ok(&["dump-flows", t])).len(), 4);

    // Enough flows for a reply in several parts: every part is printed
    // under its own header, all with the request's xid.
    let many: String = (0..1500)
        .map(|i| {
            format!(
                "priority=100,ip,nw_dst=10.1.{}.{},actions=drop\n",
                i / 250,
                i % 250
            )
        })
        .collect();
    let r = okoctl_stdin(&["add-flows", t, "-"], &many);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let dump = ok(&["dump-flows", t]);
    assert_eq!(flow_lines(&dump).len(), 1504);
    let headers: Vec<&str> = dump
        .lines()
        .filter(|l| l.starts_with("OFPST_FLOW"))
        .collect();
    assert!(headers.len() > 1, "one part only: {}", headers.len());
    assert!(headers.iter().all(|h| *h == headers[0]), "{headers:?}");

    // A missing file is a failure, not a usage error.
    fails(1, &["add-flows", t, dir.join("absent").to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_input_is_exit_2_without_a_switch() {
    // Nothing listens on the target: syntax is checked before connecting.
    let t = format!("tcp:127.0.0.1:{}", free_port());
    let err = fails(2, &["add-flow", &t, "priority=1,in_prt=1,actions=drop"]);
    assert!(err.contains("in_prt"), "{err}");
    let err = fails(2, &["add-flow", &t, "priority=1,tp_dst=80,actions=drop"]);
    assert!(err.contains("tp_dst"), "{err}");
    let err = fails(2, &["add-flow", &t, "in_port=1"]);
    assert!(err.contains("must specify an action"), "{err}");
    let err = fails(2, &["add-group", &t, "group_id=1,type=bogus"]);
    assert!(err.contains("bogus"), "{err}");
    let err = fails(2, &["update-map", &t, "1", "0", "0x00", "zz"]);
    assert!(err.contains("zz"), "{err}");
    fails(2, &["no-such-command", &t]);
    fails(2, &["dump-flows"]);
    fails(2, &["dump-flows", "udp:1.2.3.4"]);
    fails(2, &["dump-flows", "ptcp:6653"]);
    fails(2, &["dump-flows", "ssl:127.0.0.1:1"]);
    // A well-formed request to a switch that is not there: exit 1.
    let err = fails(1, &["dump-flows", &t]);
    assert!(err.contains(&t), "{err}");
}

#[test]
fn switch_description_ports_and_tables() {
    let sw = Okod::start(3);
    let t = sw.target.as_str();
    let show = ok(&["show", t]);
    assert_header(&show, "OFPT_FEATURES_REPLY");
    assert!(show.lines().next().unwrap().contains(" dpid:"), "{show}");
    assert!(show.contains("\nn_tables:"), "{show}");
    assert!(show.contains("OFPST_PORT_DESC reply (OF1.3)"), "{show}");
    assert!(show.contains("OFPT_GET_CONFIG_REPLY (OF1.3)"), "{show}");
    for p in 1..=3 {
        assert!(
            show.contains(&format!("\n {p}(")),
            "port {p} missing: {show}"
        );
    }
    let desc = ok(&["dump-ports-desc", t]);
    assert_header(&desc, "OFPST_PORT_DESC reply");
    assert_eq!(desc.matches("     speed: ").count(), 3, "{desc}");

    let ports = ok(&["dump-ports", t]);
    assert_header(&ports, "OFPST_PORT reply");
    assert!(
        ports.lines().next().unwrap().ends_with(" 3 ports"),
        "{ports}"
    );
    let one = ok(&["dump-ports", t, "2"]);
    assert!(one.lines().next().unwrap().ends_with(" 1 ports"), "{one}");
    assert!(one.contains("  port  2: rx pkts=0"), "{one}");

    ok(&["add-flow", t, "priority=1,actions=drop"]);
    let tables = ok(&["dump-tables", t]);
    assert_header(&tables, "OFPST_TABLE reply");
    assert!(
        tables.contains("  table 0:\n    active=1, lookup="),
        "{tables}"
    );
}

#[test]
fn groups_and_meters() {
    let sw = Okod::start(3);
    let t = sw.target.as_str();
    let group = "group_id=1,type=all,bucket=actions=output:1,bucket=actions=output:2";
    ok(&["add-group", t, group]);
    let dump = ok(&["dump-groups", t]);
    assert_header(&dump, "OFPST_GROUP_DESC reply");
    assert!(dump.contains(&format!("\n {group}\n")), "{dump}");
    // Adding it again is refused by the switch: exit 1 with the error name.
    let err = fails(1, &["add-group", t, group]);
    assert!(err.contains("OFPGMFC_GROUP_EXISTS"), "{err}");
    ok(&["del-groups", t, "group_id=1"]);
    assert!(!ok(&["dump-groups", t]).contains("group_id=1"));

    ok(&["add-meter", t, "meter=1,kbps,bands=type=drop,rate=1000"]);
    let dump = ok(&["dump-meters", t]);
    assert_header(&dump, "OFPST_METER_CONFIG reply");
    assert!(
        dump.contains("meter=1 kbps bands=\ntype=drop rate=1000"),
        "{dump}"
    );
    ok(&["del-meters", t, "meter=1"]);
    assert!(!ok(&["dump-meters", t]).contains("meter=1"));
}

#[test]
fn programs_load_stats_and_unload() {
    let sw = Okod::start(2);
    let t = sw.target.as_str();
    let conntrack = filter("conntrack.o");
    let ct = conntrack.to_str().unwrap();
    let load = ok(&["load-prog", t, "1", ct]);
    let mut lines = load.lines();
    let head = lines.next().unwrap();
    assert!(
        head.starts_with("OKO_PROG_LOAD_REPLY: prog_id=1, n_insns="),
        "{load}"
    );
    assert!(head.ends_with(", n_maps=1"), "{load}");
    assert_eq!(
        lines.next().unwrap(),
        " map_id=0, name=conntrack_table, type=lru_hash, key_size=40, value_size=8, max_entries=65536"
    );

    // The same id again: PROG_EXISTS; with --replace it is accepted.
    let err = fails(1, &["load-prog", t, "1", ct]);
    assert!(err.contains("PROG_EXISTS"), "{err}");
    ok(&["load-prog", t, "1", ct, "--replace", "--keep-maps"]);

    let stats = ok(&["prog-stats", t, "1"]);
    assert_header(&stats, "OKO_PROG_STATS reply");
    assert!(
        stats.contains("\n prog_id=1, name=conntrack, n_insns="),
        "{stats}"
    );
    assert!(stats.contains(", n_flows=0, runs=0, matches=0"), "{stats}");

    ok(&[
        "add-flow",
        t,
        "priority=5,in_port=1,tcp,filter_prog=1,actions=output:2",
    ]);
    let dump = ok(&["dump-flows", t]);
    assert!(dump.contains("filter_prog=1"), "{dump}");
    assert!(ok(&["prog-stats", t]).contains(", n_flows=1,"));

    // Referenced: refused without --cascade, and nothing changes.
    let err = fails(1, &["unload-prog", t, "1"]);
    assert!(err.contains("PROG_IN_USE"), "{err}");
    assert_eq!(flow_lines(&ok(&["dump-flows", t])).len(), 1);
    ok(&["unload-prog", t, "1", "--cascade"]);
    assert_eq!(flow_lines(&ok(&["dump-flows", t])).len(), 0);
    let err = fails(1, &["prog-stats", t, "1"]);
    assert!(err.contains("UNKNOWN_PROG"), "{err}");
    let err = fails(1, &["unload-prog", t, "1"]);
    assert!(err.contains("UNKNOWN_PROG"), "{err}");

    // An unreferenced program unloads without --cascade.
    ok(&["load-prog", t, "2", ct]);
    ok(&["unload-prog", t, "2"]);
    assert!(!ok(&["prog-stats", t]).contains("prog_id=2"));

    // A refused object: exit 1 with the verifier's message.
    let bad = manifest_dir().join("../ofext-filter/tests/data/subprog.o");
    let err = fails(1, &["load-prog", t, "3", bad.to_str().unwrap()]);
    assert!(
        err.contains("VERIFY_FAILED") && err.contains("pc "),
        "{err}"
    );
}

#[test]
fn maps_update_dump_lookup_delete() {
    let sw = Okod::start(2);
    let t = sw.target.as_str();
    let rl = filter("ratelimit.o");
    let load = ok(&["load-prog", t, "3", rl.to_str().unwrap()]);
    assert!(
        load.contains(" map_id=0, name=ratelimit_confi, type=array, key_size=4, value_size=16"),
        "{load}"
    );

    // Map 0: the configuration array (key 4 bytes, value 16).
    let dump = ok(&["dump-map", t, "3", "0"]);
    assert_header(&dump, "OKO_MAP_DUMP reply");
    assert!(
        dump.lines()
            .next()
            .unwrap()
            .ends_with("prog_id=3, map_id=0, key_size=4, value_size=16"),
        "{dump}"
    );
    assert!(
        dump.contains("\n key=00000000 value=00000000000000000000000000000000\n"),
        "{dump}"
    );
    let value = "e8030000000000006400000000000000";
    ok(&[
        "update-map",
        t,
        "3",
        "0",
        "00:00:00:00",
        &format!("0x{value}"),
    ]);
    let dump = ok(&["dump-map", t, "3", "0"]);
    assert!(
        dump.contains(&format!("\n key=00000000 value={value}\n")),
        "{dump}"
    );
    let look = ok(&["lookup-map", t, "3", "0", "00000000"]);
    assert_header(&look, "OKO_MAP_LOOKUP reply");
    assert!(
        look.contains(&format!("\n key=00000000 value={value}\n")),
        "{look}"
    );
    // Wrong sizes, an unknown map, an out-of-range index: refused.
    let err = fails(1, &["update-map", t, "3", "0", "00000000", "e803"]);
    assert!(err.contains("BAD_KEY_OR_VALUE"), "{err}");
    let err = fails(1, &["dump-map", t, "3", "9"]);
    assert!(err.contains("UNKNOWN_MAP"), "{err}");
    fails(1, &["update-map", t, "3", "0", "01000000", value]);
    // Array entries cannot be deleted (as in Linux): refused, value kept.
    fails(1, &["delete-map", t, "3", "0", "00000000"]);
    assert!(ok(&["lookup-map", t, "3", "0", "00000000"]).contains(value));

    // Map 1: the per-source buckets, a hash (key 20 bytes, value 16).
    let key = "0a000001000000000000000000000000000000ff";
    let v1 = "01000000000000000200000000000000";
    let v2 = "03000000000000000400000000000000";
    let err = fails(1, &["lookup-map", t, "3", "1", key]);
    assert!(err.contains("not found"), "{err}");
    let err = fails(1, &["update-map", t, "3", "1", key, v1, "--flags", "exist"]);
    assert!(err.contains("KEY_NOT_FOUND"), "{err}");
    ok(&["update-map", t, "3", "1", key, v1, "--flags", "noexist"]);
    fails(
        1,
        &["update-map", t, "3", "1", key, v2, "--flags", "noexist"],
    );
    ok(&["update-map", t, "3", "1", key, v2, "--flags", "exist"]);
    assert!(ok(&["lookup-map", t, "3", "1", key]).contains(&format!("value={v2}")));
    let dump = ok(&["dump-map", t, "3", "1"]);
    assert_eq!(dump.matches("\n key=").count(), 1, "{dump}");
    ok(&["delete-map", t, "3", "1", key]);
    fails(1, &["lookup-map", t, "3", "1", key]);
    let err = fails(1, &["delete-map", t, "3", "1", key]);
    assert!(err.contains("KEY_NOT_FOUND"), "{err}");
    assert_eq!(ok(&["dump-map", t, "3", "1"]).matches("\n key=").count(), 0);
}

/// Per-CPU maps hold one value per dataplane worker: `dump-map --workers`
/// splits the entries accordingly.
#[test]
fn per_cpu_map_dump() {
    let sw = Okod::start_with(2, "tcp", &["--workers", "2"]);
    let t = sw.target.as_str();
    let obj = manifest_dir().join("../ofext-filter/tests/data/multi_section.o");
    let load = ok(&["load-prog", t, "5", obj.to_str().unwrap()]);
    assert!(
        load.contains("type=percpu_array, key_size=4, value_size=8, max_entries=2"),
        "{load}"
    );
    let dump = ok(&["dump-map", t, "5", "0", "--workers", "2"]);
    let zero16 = "0".repeat(32);
    assert!(
        dump.contains(&format!("\n key=00000000 value={zero16}\n")),
        "{dump}"
    );
    assert!(
        dump.contains(&format!("\n key=01000000 value={zero16}\n")),
        "{dump}"
    );
    // Split by the per-CPU size alone, the entries do not add up.
    let err = fails(1, &["dump-map", t, "5", "0"]);
    assert!(err.contains("MAP_DUMP"), "{err}");
    let look = ok(&["lookup-map", t, "5", "0", "01000000"]);
    assert!(look.contains(&format!("value={zero16}\n")), "{look}");
}

#[test]
fn verify_offline() {
    for (obj, name) in [
        ("conntrack.o", "conntrack"),
        ("ratelimit.o", "ratelimit"),
        ("p0f.o", "p0f"),
    ] {
        let path = filter(obj);
        let out = ok(&["verify", path.to_str().unwrap()]);
        assert!(
            out.contains(&format!(": verified: name={name}, n_insns=")),
            "{out}"
        );
    }
    let rl = ok(&["verify", filter("ratelimit.o").to_str().unwrap()]);
    assert!(
        rl.contains(", n_maps=2\n map_id=0, name=ratelimit_confi"),
        "{rl}"
    );

    let bad = manifest_dir().join("../ofext-filter/tests/data/subprog.o");
    let r = okoctl(&["verify", bad.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("VERIFY_FAILED: pc "), "{}", r.stderr);
    assert!(r.stdout.is_empty());
    // Not an ELF object at all.
    let err = fails(
        1,
        &[
            "verify",
            manifest_dir().join("Cargo.toml").to_str().unwrap(),
        ],
    );
    assert!(err.contains("BAD_ELF"), "{err}");
    fails(1, &["verify", "/nonexistent/x.o"]);
}

/// The learning switch's messages, for a fake PACKET_IN stream, sent to a
/// real switch: it accepts every one, installs the learnt flow, and the
/// flooded/forwarded PACKET_OUTs leave through the right ports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learning_switch_through_okod() {
    let sw = Okod::start(3);
    let target: Target = sw.target.parse().unwrap();
    let conn = Connection::connect(&target, &ClientOptions::default())
        .await
        .unwrap();
    let mut learner = LearningSwitch::new();
    conn.send_all_checked(learner.setup_messages())
        .await
        .unwrap();

    const A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
    const B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];
    let frame = |dst: [u8; 6], src: [u8; 6]| {
        let mut f = Vec::new();
        f.extend_from_slice(&dst);
        f.extend_from_slice(&src);
        f.extend_from_slice(&[0x88, 0xb5]);
        f.extend_from_slice(&[0u8; 46]);
        f
    };
    let packet_in = |port: u32, data: Vec<u8>| {
        Message::new(
            0,
            MessageBody::PacketIn(PacketIn {
                buffer_id: OFP_NO_BUFFER,
                total_len: u16::try_from(data.len()).unwrap(),
                reason: 0,
                table_id: 0,
                cookie: 0,
                match_: Match {
                    fields: vec![Oxm::InPort(port)],
                },
                data,
            }),
        )
    };
    // A (port 1) → broadcast: flooded to 2 and 3. B (port 2) → A: a flow
    // for eth_dst=A and the packet out of port 1.
    let flood = learner.handle(&packet_in(1, frame([0xff; 6], A)));
    conn.send_all_checked(flood).await.unwrap();
    let forward = learner.handle(&packet_in(2, frame(A, B)));
    assert_eq!(forward.len(), 2);
    conn.send_all_checked(forward).await.unwrap();

    let (_, parts) = multipart_with_xid(
        &conn,
        MultipartRequestBody::Flow(FlowStatsRequest {
            table_id: 0xff,
            out_port: u32::MAX,
            out_group: u32::MAX,
            cookie: 0,
            cookie_mask: 0,
            match_: Match::default(),
        }),
    )
    .await
    .unwrap();
    let mut flows = Vec::new();
    for p in parts {
        if let MultipartReplyBody::Flow(f) = p.body {
            flows.extend(f.iter().map(format_flow_stats));
        }
    }
    assert_eq!(flows.len(), 2, "{flows:?}");
    assert!(
        flows.iter().any(|f| f
            .contains("idle_timeout=60, priority=10,dl_dst=02:00:00:00:00:0a actions=output:1")),
        "{flows:?}"
    );
    assert!(
        flows
            .iter()
            .any(|f| f.ends_with("priority=0 actions=CONTROLLER:65535")),
        "{flows:?}"
    );

    // The PACKET_OUTs went through the dataplane: port 1 sent the
    // forwarded frame, ports 2 and 3 the flooded one.
    let t = sw.target.clone();
    let ports = tokio::task::spawn_blocking(move || ok(&["dump-ports", &t]))
        .await
        .unwrap();
    for port in 1..=3 {
        assert_eq!(tx_packets(&ports, port), Some(1), "port {port}: {ports}");
    }
}

/// A throw-away PKI in a fresh directory: a CA, a switch and a controller
/// certificate it signed, and a self-signed impostor. Returns the paths of
/// (ca, switch cert, switch key, controller cert, controller key,
/// impostor cert, impostor key).
fn pki(dir: &Path) -> [PathBuf; 7] {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let leaf = |cn: &str| {
        let mut p = CertificateParams::new(vec![cn.to_string()]).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        p
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "okoctl test CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    std::fs::create_dir_all(dir).unwrap();
    let write = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let signed = |cn: &str| {
        let key = KeyPair::generate().unwrap();
        let cert = leaf(cn).signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (sw_cert, sw_key) = signed("switch.oko");
    let (ctl_cert, ctl_key) = signed("controller.oko");
    let imp_key = KeyPair::generate().unwrap();
    let imp_cert = leaf("controller.oko").self_signed(&imp_key).unwrap();
    [
        write("ca.pem", ca_cert.pem()),
        write("switch-cert.pem", sw_cert),
        write("switch-key.pem", sw_key),
        write("ctl-cert.pem", ctl_cert),
        write("ctl-key.pem", ctl_key),
        write("impostor-cert.pem", imp_cert.pem()),
        write("impostor-key.pem", imp_key.serialize_pem()),
    ]
}

#[test]
fn tls_targets() {
    let dir = std::env::temp_dir().join(format!("okoctl-tls-{}", std::process::id()));
    let [ca, sw_cert, sw_key, ctl_cert, ctl_key, imp_cert, imp_key] = pki(&dir);
    let s = |p: &PathBuf| p.to_str().unwrap().to_owned();
    let sw = Okod::start_with(
        2,
        "ssl",
        &[
            "--private-key",
            &s(&sw_key),
            "--certificate",
            &s(&sw_cert),
            "--ca-cert",
            &s(&ca),
        ],
    );
    let t = sw.target.as_str();
    let tls = |cert: &PathBuf, key: &PathBuf| {
        vec![
            "--private-key".to_owned(),
            s(key),
            "--certificate".to_owned(),
            s(cert),
            "--ca-cert".to_owned(),
            s(&ca),
        ]
    };
    let with = |cmd: &[&str], cert: &PathBuf, key: &PathBuf| {
        let mut args: Vec<String> = cmd.iter().map(|a| (*a).to_owned()).collect();
        args.extend(tls(cert, key));
        args
    };
    let run = |args: Vec<String>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        okoctl(&refs)
    };
    let r = run(with(
        &["add-flow", t, "priority=3,actions=drop"],
        &ctl_cert,
        &ctl_key,
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(with(&["dump-flows", t], &ctl_cert, &ctl_key));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(flow_lines(&r.stdout).len(), 1, "{}", r.stdout);
    // A certificate the switch's CA did not sign: refused, exit 1.
    let r = run(with(&["dump-flows", t], &imp_cert, &imp_key));
    assert_eq!(r.code, 1, "{}", r.stdout);
    // TLS options must come together.
    let err = fails(2, &["dump-flows", t, "--ca-cert", &s(&ca)]);
    assert!(err.contains("go together"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The whole learning switch (`learning::run`) on one connection, with
/// traffic injected from a second one: PACKET_OUT to OFPP_TABLE runs a
/// frame through the flow table as if it had arrived on `in_port`, so the
/// table miss sends it to the controllers as a real PACKET_IN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learning_switch_run_end_to_end() {
    use controller_examples::learning;
    use openflow::action::Action;
    use openflow::message::PacketOut;
    use openflow::port::port_no;

    let sw = Okod::start(3);
    let target: Target = sw.target.parse().unwrap();
    let controller = Connection::connect(&target, &ClientOptions::default())
        .await
        .unwrap();
    let task = tokio::spawn(async move {
        let mut learner = LearningSwitch::new();
        learner.idle_timeout = 30;
        let result = learning::run(&controller, &mut learner).await;
        (result, learner)
    });
    let injector = Connection::connect(&target, &ClientOptions::default())
        .await
        .unwrap();

    let dump = || {
        let t = sw.target.clone();
        tokio::task::spawn_blocking(move || ok(&["dump-flows", &t]))
    };
    // The setup: the table-miss flow.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let flows = dump().await.unwrap();
        if flows.contains("priority=0 actions=CONTROLLER:65535") {
            break;
        }
        assert!(Instant::now() < deadline, "no table-miss flow: {flows}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let frame = |dst: [u8; 6], src: [u8; 6]| {
        let mut f = Vec::new();
        f.extend_from_slice(&dst);
        f.extend_from_slice(&src);
        f.extend_from_slice(&[0x88, 0xb5]);
        f.extend_from_slice(&[0u8; 46]);
        f
    };
    let inject = |in_port: u32, data: Vec<u8>| {
        MessageBody::PacketOut(PacketOut::new(
            in_port,
            vec![Action::Output {
                port: port_no::TABLE,
                max_len: 0,
            }],
            data,
        ))
    };
    const A: [u8; 6] = [0x02, 0, 0, 0, 0, 0xa1];
    const B: [u8; 6] = [0x02, 0, 0, 0, 0, 0xb2];
    // A speaks from port 1: learnt. Then B → A from port 2: a flow to port 1.
    injector
        .send_checked(inject(1, frame([0xff; 6], A)))
        .await
        .unwrap();
    // Wait until the controller has handled it: the flood left port 3.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let t = sw.target.clone();
        let ports = tokio::task::spawn_blocking(move || ok(&["dump-ports", &t, "3"]))
            .await
            .unwrap();
        if tx_packets(&ports, 3) == Some(1) {
            break;
        }
        assert!(Instant::now() < deadline, "no flood: {ports}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    injector.send_checked(inject(2, frame(A, B))).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let flows = dump().await.unwrap();
        if flows.contains("idle_timeout=30, priority=10,dl_dst=02:00:00:00:00:a1 actions=output:1")
        {
            break;
        }
        assert!(Instant::now() < deadline, "no learnt flow: {flows}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(sw);
    let (result, learner) = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the learning switch stops when the switch goes away")
        .unwrap();
    result.unwrap();
    assert_eq!(learner.port_of(&A), Some(1));
    assert_eq!(learner.port_of(&B), Some(2));
}

#[test]
fn secure_edge_example() {
    let sw = Okod::start(2);
    let edge = Example::spawn("secure_edge", &[&sw.target, "--interval", "1"]);
    let lines = edge.read_until(|l| l == "PROG_STATS:");
    let loads = lines
        .iter()
        .filter(|l| l.starts_with("OKO_PROG_LOAD_REPLY: "))
        .count();
    assert_eq!(loads, 3, "{lines:#?}");
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("installed ")).count(),
        9,
        "{lines:#?}"
    );
    let stats = edge.read_until(|l| l.starts_with(" prog_id=3,"));
    assert!(
        stats[0].starts_with(" prog_id=1, name=conntrack,"),
        "{stats:#?}"
    );
    assert!(stats[0].contains(", n_flows=2,"), "{stats:#?}");
    assert_eq!(flow_lines(&ok(&["dump-flows", &sw.target])).len(), 9);
}

#[test]
fn learning_switch_example_accepts_switches() {
    let port = free_port();
    let ls = Example::spawn("learning_switch", &[&format!("ptcp:{port}:127.0.0.1")]);
    ls.read_until(|l| l.starts_with("listening on "));
    let sw = Okod::start_with(
        3,
        "tcp",
        &["--controller", &format!("tcp:127.0.0.1:{port}")],
    );
    ls.read_until(|l| l.starts_with("switch 0x") && l.contains(" connected"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let flows = ok(&["dump-flows", &sw.target]);
        if flows.contains(" priority=0 actions=CONTROLLER:65535") {
            break;
        }
        assert!(Instant::now() < deadline, "no table-miss flow: {flows}");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(sw);
    ls.read_until(|l| l.contains(" disconnected ("));
}
