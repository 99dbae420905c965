//! Fail modes with no controller: `standalone` turns okod into a learning
//! switch (and hands the switch back when a controller connects),
//! `secure` drops table misses.

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use agent::config::{FailMode, Settings};
use agent::daemon::Daemon;
use agent::server::STANDALONE_COOKIE;
use controller_examples::client::{ClientOptions, Connection, Target};
use controller_examples::ofctl::{FlowMode, parse_flow};
use dataplane::frames::{self, Ip4};
use dataplane::port::mem::MemHandle;
use dataplane::port::{PortConfig, PortSpec};

fn settings(fail_mode: FailMode, port: u16) -> Settings {
    Settings {
        dpid: 5,
        ports: (1..=3)
            .map(|port_no| PortConfig {
                port_no,
                spec: PortSpec::Mem(Default::default()),
            })
            .collect(),
        controllers: vec![Target::Ptcp {
            port,
            ip: Some(Ipv4Addr::LOCALHOST.into()),
        }],
        fail_mode,
        workers: 1,
        pin: false,
        tls: None,
        echo_interval: Duration::from_secs(5),
        tables: 4,
    }
}

fn host(i: u8) -> Ip4 {
    Ip4 {
        src_mac: [2, 0, 0, 0, 0, i],
        src: Ipv4Addr::new(10, 0, 0, i),
        ..Ip4::default()
    }
}

fn to(from: u8, dst: u8) -> Vec<u8> {
    let ip = Ip4 {
        dst_mac: [2, 0, 0, 0, 0, dst],
        dst: Ipv4Addr::new(10, 0, 0, dst),
        ..host(from)
    };
    frames::udp4(&ip, 1000, 2000, 10, 64)
}

/// Which of the ports got `frame` within a short wait.
fn seen(ports: &[&MemHandle], frame: &[u8]) -> Vec<usize> {
    std::thread::sleep(Duration::from_millis(100));
    ports
        .iter()
        .enumerate()
        .filter(|(_, p)| p.drain().iter().any(|b| b.data() == frame))
        .map(|(i, _)| i + 1)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_learns_then_yields_to_a_controller() {
    let port = common::free_port();
    let mut d = Daemon::start(&settings(FailMode::Standalone, port))
        .await
        .unwrap();
    d.mem_ports.sort_by_key(|(n, _)| *n);
    let h: Vec<MemHandle> = d.mem_ports.drain(..).map(|(_, h)| h).collect();
    let p: Vec<&MemHandle> = h.iter().collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    tokio::task::block_in_place(|| {
        // Host 1 (port 1) → host 2: unknown, flooded to 2 and 3.
        let f = to(1, 2);
        assert!(h[0].inject(&f));
        assert_eq!(seen(&p, &f), vec![2, 3]);
        // Host 2 (port 2) → host 1: learnt, only port 1.
        let f = to(2, 1);
        assert!(h[1].inject(&f));
        assert_eq!(seen(&p, &f), vec![1]);
        // Host 1 → host 2 again: now known, only port 2 (by a learnt flow).
        let f = to(1, 2);
        for _ in 0..3 {
            assert!(h[0].inject(&f));
            assert_eq!(seen(&p, &f), vec![2]);
        }
    });
    // A controller connects: the standalone flows go, misses are dropped
    // (no table-miss flow of the controller's).
    let conn = Connection::connect(
        &Target::Tcp {
            host: "127.0.0.1".into(),
            port,
        },
        &ClientOptions::default(),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    conn.barrier().await.unwrap();
    let req = parse_flow("", FlowMode::Dump)
        .unwrap()
        .to_flow_stats_request();
    let flows = conn
        .multipart(openflow::multipart::MultipartRequestBody::Flow(req))
        .await
        .unwrap();
    let standalone_flows: usize = flows
        .iter()
        .map(|r| match &r.body {
            openflow::multipart::MultipartReplyBody::Flow(v) => {
                v.iter().filter(|f| f.cookie == STANDALONE_COOKIE).count()
            }
            _ => 0,
        })
        .sum();
    assert_eq!(standalone_flows, 0);
    tokio::task::block_in_place(|| {
        let f = to(1, 2);
        assert!(h[0].inject(&f));
        assert!(seen(&p, &f).is_empty(), "the controller decides now");
    });
    let fm = parse_flow("priority=1,actions=output:3", FlowMode::Add)
        .unwrap()
        .to_flow_mod()
        .unwrap();
    conn.send_checked(openflow::MessageBody::FlowMod(fm))
        .await
        .unwrap();
    tokio::task::block_in_place(|| {
        let f = to(1, 2);
        assert!(h[0].inject(&f));
        assert_eq!(seen(&p, &f), vec![3]);
    });
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_drops_misses_without_a_controller() {
    let mut d = Daemon::start(&settings(FailMode::Secure, common::free_port()))
        .await
        .unwrap();
    d.mem_ports.sort_by_key(|(n, _)| *n);
    let h: Vec<MemHandle> = d.mem_ports.drain(..).map(|(_, h)| h).collect();
    let p: Vec<&MemHandle> = h.iter().collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    tokio::task::block_in_place(|| {
        let f = to(1, 2);
        assert!(h[0].inject(&f));
        assert!(seen(&p, &f).is_empty());
    });
    d.shutdown().await;
}
