//! Worker threads end to end on `mem` ports: publication and version
//! acknowledgement, forwarding across workers, packet-ins, packet-outs.

use std::time::Duration;

use dataplane::frames::{self, Ip4, Tcp};
use dataplane::pipeline::actions::Act;
use dataplane::pipeline::{FlowSpec, Snapshot};
use dataplane::port::Port;
use dataplane::port::mem::{MemConfig, MemHandle, MemPort};
use dataplane::worker::{Dataplane, DataplaneConfig, PacketOutReq};
use openflow::action::Action;
use openflow::instruction::Instruction;
use openflow::message::packet_in_reason;
use openflow::oxm::{Match, Oxm};
use openflow::port::port_no;

const WAIT: Duration = Duration::from_secs(5);

fn start(n_workers: usize, n_ports: u32) -> (Dataplane, Vec<MemHandle>) {
    let mut ports = Vec::new();
    let mut handles = Vec::new();
    for no in 1..=n_ports {
        let (p, h) = MemPort::new(&format!("m{no}"), &MemConfig::default());
        ports.push((no, Port::Mem(p)));
        handles.push(h);
    }
    let nos: Vec<u32> = (1..=n_ports).collect();
    let cfg = DataplaneConfig {
        n_workers,
        pin: false,
        ..DataplaneConfig::default()
    };
    let dp = Dataplane::start(&cfg, ports, Snapshot::empty(1, 4, n_workers, &nos)).unwrap();
    (dp, handles)
}

fn flow(priority: u16, fields: Vec<Oxm>, actions: Vec<Action>) -> FlowSpec {
    FlowSpec {
        priority,
        m: Match { fields },
        insns: vec![Instruction::ApplyActions(actions)],
        ..FlowSpec::default()
    }
}

fn out(port: u32) -> Action {
    Action::Output { port, max_len: 0 }
}

fn publish(dp: &Dataplane, version: u64, n_ports: u32, flows: Vec<FlowSpec>) {
    let nos: Vec<u32> = (1..=n_ports).collect();
    let (snap, _) = Snapshot::from_flows(version, 4, dp.n_workers(), &nos, flows).unwrap();
    dp.publish(snap);
    assert!(
        dp.wait_acked(version, WAIT),
        "workers acknowledge version {version}"
    );
}

#[test]
fn forwards_across_workers_after_publication() {
    let (dp, h) = start(2, 4);
    let frame = frames::tcp4(&Ip4::default(), &Tcp::default(), 0, 64);
    // Version 1 is empty: the frame is dropped (table miss).
    assert!(h[0].inject(&frame));
    assert!(h[1].recv_timeout(Duration::from_millis(200)).is_none());
    // Port 1 (worker 0) → port 2 (worker 1), port 2 → 3 (worker 0).
    publish(
        &dp,
        2,
        4,
        vec![
            flow(1, vec![Oxm::InPort(1)], vec![out(2)]),
            flow(1, vec![Oxm::InPort(2)], vec![out(3)]),
        ],
    );
    for _ in 0..10 {
        assert!(h[0].inject(&frame));
    }
    for _ in 0..10 {
        let got = h[1].recv_timeout(WAIT).expect("frame on port 2");
        assert_eq!(got.data(), &frame[..]);
    }
    assert!(h[1].inject(&frame));
    assert_eq!(
        h[2].recv_timeout(WAIT).expect("frame on port 3").data(),
        &frame[..]
    );
    assert!(dp.acked(2));
    dp.shutdown();
}

#[test]
fn packet_ins_and_packet_outs() {
    let (dp, h) = start(2, 3);
    publish(
        &dp,
        5,
        3,
        vec![flow(
            0,
            vec![],
            vec![Action::Output {
                port: port_no::CONTROLLER,
                max_len: 0xffff,
            }],
        )],
    );
    let frame = frames::udp4(&Ip4::default(), 7, 8, 10, 0);
    assert!(h[2].inject(&frame));
    let deadline = std::time::Instant::now() + WAIT;
    let ev = loop {
        if let Some(ev) = dp.pop_packet_in() {
            break ev;
        }
        assert!(std::time::Instant::now() < deadline, "no packet-in");
        std::thread::sleep(Duration::from_millis(1));
    };
    assert_eq!(ev.meta.in_port, 3);
    assert_eq!(ev.meta.reason, packet_in_reason::NO_MATCH);
    assert_eq!(ev.frame, frame);

    // PACKET_OUT from the controller to FLOOD reaches every port.
    dp.packet_out(PacketOutReq {
        in_port: port_no::CONTROLLER,
        acts: vec![Act::Output {
            port: port_no::FLOOD,
            max_len: 0,
        }]
        .into(),
        frame: frame.clone(),
    })
    .unwrap();
    for (i, hh) in h.iter().enumerate() {
        let got = hh
            .recv_timeout(WAIT)
            .unwrap_or_else(|| panic!("flooded to port {}", i + 1));
        assert_eq!(got.data(), &frame[..]);
    }
    let s = dp.stats();
    assert_eq!(s.packet_in_drops, 0);
    dp.shutdown();
}

#[test]
fn many_publications_each_acknowledged() {
    let (dp, h) = start(2, 2);
    let frame = frames::tcp4(&Ip4::default(), &Tcp::default(), 0, 64);
    for v in 2..40u64 {
        // Even versions forward 1→2, odd ones drop.
        let flows = if v % 2 == 0 {
            vec![flow(1, vec![Oxm::InPort(1)], vec![out(2)])]
        } else {
            vec![]
        };
        publish(&dp, v, 2, flows);
        assert!(h[0].inject(&frame));
        let got = h[1].recv_timeout(Duration::from_millis(if v % 2 == 0 { 5000 } else { 50 }));
        assert_eq!(got.is_some(), v % 2 == 0, "version {v}");
    }
    dp.shutdown();
}

#[test]
fn cross_worker_output_reaches_the_right_port_whatever_the_configuration_order() {
    // Ports configured out of order: worker 0 gets 5 and 1, worker 1 gets
    // 2 and 4. A frame from port 2 (worker 1) to port 5 (worker 0) crosses
    // a tx link, which must name port 5, not the first port configured.
    let mut ports = Vec::new();
    let mut handles = std::collections::BTreeMap::new();
    for no in [5u32, 2, 1, 4] {
        let (p, h) = MemPort::new(&format!("m{no}"), &MemConfig::default());
        ports.push((no, Port::Mem(p)));
        handles.insert(no, h);
    }
    let cfg = DataplaneConfig {
        n_workers: 2,
        pin: false,
        ..DataplaneConfig::default()
    };
    let dp = Dataplane::start(&cfg, ports, Snapshot::empty(1, 4, 2, &[5, 2, 1, 4])).unwrap();
    let (snap, _) = Snapshot::from_flows(
        2,
        4,
        2,
        &[5, 2, 1, 4],
        vec![
            flow(1, vec![Oxm::InPort(2)], vec![out(5)]),
            flow(1, vec![Oxm::InPort(4)], vec![out(1)]),
        ],
    )
    .unwrap();
    dp.publish(snap);
    assert!(dp.wait_acked(2, WAIT));
    let frame = frames::tcp4(&Ip4::default(), &Tcp::default(), 0, 64);
    assert!(handles[&2].inject(&frame));
    assert_eq!(
        handles[&5].recv_timeout(WAIT).expect("on port 5").data(),
        &frame[..]
    );
    assert!(handles[&4].inject(&frame));
    assert_eq!(
        handles[&1].recv_timeout(WAIT).expect("on port 1").data(),
        &frame[..]
    );
    for no in [1, 2, 4] {
        assert!(handles[&no].drain().is_empty(), "nothing on port {no}");
    }
    dp.shutdown();
}
