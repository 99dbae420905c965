//! A real client against a real `okod`: `ovs-ofctl -O OpenFlow13` runs
//! the everyday commands over TCP while tshark captures the session, and
//! Wireshark's OpenFlow dissector must find no malformed message in it.
//! Skips (passing, with a note) when ovs-ofctl is missing; the capture
//! part needs tshark and root.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Okod, have, is_root};

fn ofctl(target: &str, args: &[&str]) -> String {
    let out = Command::new("ovs-ofctl")
        .args(["-O", "OpenFlow13", "--no-names"])
        .arg(args[0])
        .arg(target)
        .args(&args[1..])
        .output()
        .expect("ovs-ofctl runs");
    assert!(
        out.status.success(),
        "ovs-ofctl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A tshark capture of one TCP port on loopback.
struct Capture {
    child: Child,
    file: std::path::PathBuf,
}

impl Capture {
    fn start(port: u16) -> Option<Self> {
        if !(have("tshark") && is_root()) {
            eprintln!("note: tshark or root missing, the session is not captured");
            return None;
        }
        let file =
            std::env::temp_dir().join(format!("okod-ofctl-{}-{port}.pcap", std::process::id()));
        let _ = std::fs::remove_file(&file);
        let child = Command::new("tshark")
            .args(["-i", "lo", "-f", &format!("tcp port {port}"), "-w"])
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        // Wait for the capture file to appear (tshark writes its header
        // once capturing).
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::fs::metadata(&file).is_ok_and(|m| m.len() > 0) {
                std::thread::sleep(Duration::from_millis(300));
                return Some(Self { child, file });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Stops the capture and returns the dissector's view of it.
    fn finish(mut self, port: u16) -> (usize, Vec<String>) {
        std::thread::sleep(Duration::from_millis(500));
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let decode = format!("tcp.port=={port},openflow");
        let count = |filter: &str| -> Vec<String> {
            let out = Command::new("tshark")
                .args(["-r"])
                .arg(&self.file)
                .args(["-d", &decode, "-Y", filter])
                .output()
                .expect("tshark reads the capture");
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_owned)
                .collect()
        };
        let of = count("openflow_v4").len();
        let malformed = count("_ws.malformed");
        let _ = std::fs::remove_file(&self.file);
        (of, malformed)
    }
}

#[test]
fn ovs_ofctl_everyday_commands() {
    if !have("ovs-ofctl") {
        eprintln!("note: ovs-ofctl missing (apt-get install openvswitch-common); skipped");
        return;
    }
    let okod = Okod::start(&[
        "--port",
        "1=mem",
        "--port",
        "2=mem",
        "--port",
        "3=mem",
        "--workers",
        "1",
        "--dpid",
        "0xab",
    ]);
    let cap = Capture::start(okod.port);
    let t = okod.target();

    let show = ofctl(&t, &["show"]);
    assert!(show.contains("dpid:00000000000000ab"), "{show}");
    assert!(show.contains("n_tables:254"), "{show}");
    for p in ["1(p1)", "2(p2)", "3(p3)"] {
        assert!(show.contains(p), "port {p} in {show}");
    }

    ofctl(
        &t,
        &[
            "add-flow",
            "table=0,priority=10,tcp,tp_dst=80,actions=output:2",
        ],
    );
    ofctl(
        &t,
        &[
            "add-flow",
            "table=0,priority=5,ip,nw_dst=10.0.0.0/8,actions=write_actions(output:3),goto_table:1",
        ],
    );
    ofctl(
        &t,
        &["add-flow", "table=1,priority=0,actions=CONTROLLER:128"],
    );
    let flows = ofctl(&t, &["dump-flows"]);
    assert!(
        flows.contains("priority=10,tcp,tp_dst=80 actions=output:2"),
        "{flows}"
    );
    assert!(flows.contains("table=1"), "{flows}");
    assert!(flows.contains("actions=CONTROLLER:128"), "{flows}");
    assert_eq!(
        flows.lines().filter(|l| l.contains("cookie=")).count(),
        3,
        "{flows}"
    );

    // Bad input gets an OpenFlow error, which ovs-ofctl reports.
    let bad = Command::new("ovs-ofctl")
        .args([
            "-O",
            "OpenFlow13",
            "add-flow",
            &t,
            "table=0,actions=output:99",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("OFPBAC_BAD_OUT_PORT"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );

    ofctl(
        &t,
        &[
            "add-group",
            "group_id=1,type=select,bucket=weight:10,actions=output:1,bucket=weight:20,actions=output:2",
        ],
    );
    ofctl(
        &t,
        &[
            "add-group",
            "group_id=2,type=all,bucket=actions=output:1,bucket=actions=output:3",
        ],
    );
    let groups = ofctl(&t, &["dump-groups"]);
    assert!(groups.contains("group_id=1,type=select"), "{groups}");
    assert!(groups.contains("group_id=2,type=all"), "{groups}");
    let gstats = ofctl(&t, &["dump-group-stats"]);
    assert!(gstats.contains("group_id=1"), "{gstats}");

    ofctl(
        &t,
        &[
            "add-meter",
            "meter=1,kbps,burst,stats,bands=type=drop,rate=1000,burst_size=100",
        ],
    );
    let meters = ofctl(&t, &["dump-meters"]);
    assert!(
        meters.contains("meter=1 kbps burst stats bands="),
        "{meters}"
    );
    assert!(
        meters.contains("type=drop rate=1000 burst_size=100"),
        "{meters}"
    );
    ofctl(&t, &["meter-stats"]);

    let ports = ofctl(&t, &["dump-ports"]);
    assert!(ports.contains("3 ports"), "{ports}");
    let desc = ofctl(&t, &["dump-ports-desc"]);
    assert!(desc.contains("2(p2)"), "{desc}");
    let tables = ofctl(&t, &["dump-tables"]);
    assert!(
        tables.contains("table 0") || tables.contains("  0:"),
        "{tables}"
    );

    ofctl(&t, &["del-flows", "tcp"]);
    let flows = ofctl(&t, &["dump-flows"]);
    assert!(!flows.contains("tp_dst=80"), "{flows}");
    ofctl(&t, &["del-flows"]);
    let flows = ofctl(&t, &["dump-flows"]);
    assert_eq!(
        flows.lines().filter(|l| l.contains("cookie=")).count(),
        0,
        "{flows}"
    );
    ofctl(&t, &["del-groups"]);
    assert!(!ofctl(&t, &["dump-groups"]).contains("group_id="));
    ofctl(&t, &["del-meters"]);

    if let Some(cap) = cap {
        let (of, malformed) = cap.finish(okod.port);
        assert!(
            of > 20,
            "the capture holds the OpenFlow session ({of} messages)"
        );
        assert!(
            malformed.is_empty(),
            "malformed or error frames: {malformed:#?}"
        );
    }
}
