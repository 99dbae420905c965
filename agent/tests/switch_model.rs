//! The switch model through a real connection to an in-process okod: the
//! answers and exact errors for each kind of request, packet buffers,
//! barrier consistency with the dataplane, FLOW_REMOVED, PORT_STATUS,
//! roles, and TABLE_FEATURES in several parts.

use std::net::Ipv4Addr;
use std::time::Duration;

use agent::config::{FailMode, Settings};
use agent::daemon::Daemon;
use controller_examples::client::{ClientError, ClientOptions, Connection, Subscription, Target};
use controller_examples::ofctl::{
    FlowMode, GroupMode, MeterMode, parse_flow, parse_group, parse_meter,
};
use dataplane::frames::{self, Ip4, Tcp};
use dataplane::port::mem::MemHandle;
use dataplane::port::{PortConfig, PortSpec};
use openflow::error::{
    BadActionCode, BadRequestCode, ErrorCode, GroupModFailedCode, MeterModFailedCode,
    PortModFailedCode, RoleRequestFailedCode, TableFeaturesFailedCode,
};
use openflow::message::{OFP_NO_BUFFER, PacketOut, PortMod, RoleMsg};
use openflow::multipart::{MultipartRequest, MultipartRequestBody, OFPMPF_REQ_MORE};
use openflow::port::port_config;
use openflow::{Message, MessageBody};

struct Sw {
    d: Daemon,
    conn: Connection,
    ports: Vec<MemHandle>,
}

async fn start() -> Sw {
    let s = Settings {
        dpid: 9,
        ports: (1..=3)
            .map(|port_no| PortConfig {
                port_no,
                spec: PortSpec::Mem(Default::default()),
            })
            .collect(),
        controllers: vec![Target::Ptcp {
            port: 0,
            ip: Some(Ipv4Addr::LOCALHOST.into()),
        }],
        fail_mode: FailMode::Secure,
        workers: 2,
        pin: false,
        tls: None,
        echo_interval: Duration::from_secs(5),
        tables: 8,
    };
    let mut d = Daemon::start(&s).await.unwrap();
    d.mem_ports.sort_by_key(|(n, _)| *n);
    let ports = d.mem_ports.drain(..).map(|(_, h)| h).collect();
    let conn = connect(&d).await;
    Sw { d, conn, ports }
}

async fn connect(d: &Daemon) -> Connection {
    let a = d.server.listen_addrs()[0];
    Connection::connect(
        &Target::Tcp {
            host: a.ip().to_string(),
            port: a.port(),
        },
        &ClientOptions::default(),
    )
    .await
    .unwrap()
}

fn code_of(r: Result<(), ClientError>) -> ErrorCode {
    match r {
        Err(ClientError::OpenFlow { code, .. }) => code,
        other => panic!("expected an OpenFlow error, got {other:?}"),
    }
}

fn flow(text: &str) -> MessageBody {
    MessageBody::FlowMod(
        parse_flow(text, FlowMode::Add)
            .unwrap()
            .to_flow_mod()
            .unwrap(),
    )
}

async fn next_of(sub: &mut Subscription, pred: impl Fn(&Message) -> bool) -> Message {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let m = sub.recv().await.unwrap();
            if pred(&m) {
                return m;
            }
        }
    })
    .await
    .expect("the expected message arrives")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_exact_and_change_nothing() {
    let sw = start().await;
    let c = &sw.conn;
    assert_eq!(c.datapath_id(), 9);
    assert_eq!(c.features().n_tables, 8);
    // Output to a port that does not exist; a group that does not exist; a
    // meter that does not exist; goto backwards.
    assert_eq!(
        code_of(c.send_checked(flow("actions=output:9")).await),
        ErrorCode::BadAction(BadActionCode::BadOutPort)
    );
    assert_eq!(
        code_of(c.send_checked(flow("actions=group:5")).await),
        ErrorCode::BadAction(BadActionCode::BadOutGroup)
    );
    assert_eq!(
        code_of(c.send_checked(flow("actions=meter:3,output:1")).await),
        ErrorCode::MeterModFailed(MeterModFailedCode::UnknownMeter)
    );
    assert_eq!(
        code_of(c.send_checked(flow("table=2,actions=goto_table:1")).await),
        ErrorCode::BadInstruction(openflow::error::BadInstructionCode::BadTableId)
    );
    // Groups: exists, unknown, chained.
    let g = |t: &str, m| MessageBody::GroupMod(parse_group(t, m).unwrap());
    c.send_checked(g(
        "group_id=1,type=all,bucket=actions=output:1",
        GroupMode::Add,
    ))
    .await
    .unwrap();
    assert_eq!(
        code_of(
            c.send_checked(g(
                "group_id=1,type=all,bucket=actions=output:2",
                GroupMode::Add
            ))
            .await
        ),
        ErrorCode::GroupModFailed(GroupModFailedCode::GroupExists)
    );
    assert_eq!(
        code_of(
            c.send_checked(g(
                "group_id=7,type=all,bucket=actions=output:2",
                GroupMode::Modify
            ))
            .await
        ),
        ErrorCode::GroupModFailed(GroupModFailedCode::UnknownGroup)
    );
    c.send_checked(g(
        "group_id=2,type=indirect,bucket=actions=group:1",
        GroupMode::Add,
    ))
    .await
    .unwrap();
    assert_eq!(
        code_of(c.send_checked(g("group_id=1", GroupMode::Delete)).await),
        ErrorCode::GroupModFailed(GroupModFailedCode::ChainedGroup)
    );
    // Meters.
    let m = |t: &str, mode| MessageBody::MeterMod(parse_meter(t, mode).unwrap());
    c.send_checked(m("meter=1,pktps,bands=type=drop,rate=10", MeterMode::Add))
        .await
        .unwrap();
    assert_eq!(
        code_of(
            c.send_checked(m("meter=1,pktps,bands=type=drop,rate=10", MeterMode::Add))
                .await
        ),
        ErrorCode::MeterModFailed(MeterModFailedCode::MeterExists)
    );
    // PORT_MOD: wrong hardware address, unknown port.
    let desc = c
        .multipart(MultipartRequestBody::PortDesc)
        .await
        .unwrap()
        .into_iter()
        .find_map(|r| match r.body {
            openflow::multipart::MultipartReplyBody::PortDesc(v) => {
                v.into_iter().find(|p| p.port_no == 2)
            }
            _ => None,
        })
        .unwrap();
    let pm = |port_no, hw_addr| {
        MessageBody::PortMod(PortMod {
            port_no,
            hw_addr,
            config: port_config::NO_PACKET_IN,
            mask: port_config::NO_PACKET_IN,
            advertise: 0,
        })
    };
    assert_eq!(
        code_of(c.send_checked(pm(2, [9; 6])).await),
        ErrorCode::PortModFailed(PortModFailedCode::BadHwAddr)
    );
    assert_eq!(
        code_of(c.send_checked(pm(44, desc.hw_addr)).await),
        ErrorCode::PortModFailed(PortModFailedCode::BadPort)
    );
    let mut bad_advertise = PortMod {
        port_no: 2,
        hw_addr: desc.hw_addr,
        config: 0,
        mask: 0,
        advertise: 1 << 5,
    };
    if desc.advertised == bad_advertise.advertise {
        bad_advertise.advertise = 1 << 6;
    }
    assert_eq!(
        code_of(c.send_checked(MessageBody::PortMod(bad_advertise)).await),
        ErrorCode::PortModFailed(PortModFailedCode::BadAdvertise)
    );
    let mut sub = c.subscribe();
    c.send_checked(pm(2, desc.hw_addr)).await.unwrap();
    let st = next_of(&mut sub, |m| matches!(m.body, MessageBody::PortStatus(_))).await;
    let MessageBody::PortStatus(st) = st.body else {
        unreachable!()
    };
    assert_eq!(st.desc.config, port_config::NO_PACKET_IN);
    // PACKET_OUT with a buffer that does not exist.
    let po = PacketOut {
        buffer_id: 77,
        in_port: openflow::port::port_no::CONTROLLER,
        actions: vec![],
        data: vec![],
    };
    assert_eq!(
        code_of(c.send_checked(MessageBody::PacketOut(po)).await),
        ErrorCode::BadRequest(BadRequestCode::BufferUnknown)
    );
    // Nothing of the refused messages was installed.
    let flows = c
        .multipart(MultipartRequestBody::Flow(
            parse_flow("", FlowMode::Dump)
                .unwrap()
                .to_flow_stats_request(),
        ))
        .await
        .unwrap();
    assert!(flows.iter().all(
        |r| matches!(&r.body, openflow::multipart::MultipartReplyBody::Flow(v) if v.is_empty())
    ));
    sw.d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barrier_means_the_workers_run_it_and_buffers_work() {
    let sw = start().await;
    let c = &sw.conn;
    let frame = frames::tcp4(&Ip4::default(), &Tcp::default(), 200, 0);
    // After the barrier reply the flow forwards, at once (no sleep).
    c.send(flow("priority=5,in_port=1,ip,actions=output:2"))
        .await
        .unwrap();
    c.barrier().await.unwrap();
    tokio::task::block_in_place(|| {
        assert!(sw.ports[0].inject(&frame));
        assert!(sw.ports[1].recv_timeout(Duration::from_secs(2)).is_some());
    });
    // A table miss to the controller with max_len 64: buffered, 64 bytes
    // sent; the PACKET_OUT naming the buffer sends the whole frame.
    let mut sub = c.subscribe();
    c.send_checked(flow("priority=0,actions=CONTROLLER:64"))
        .await
        .unwrap();
    tokio::task::block_in_place(|| assert!(sw.ports[2].inject(&frame)));
    let pi = next_of(&mut sub, |m| matches!(m.body, MessageBody::PacketIn(_))).await;
    let MessageBody::PacketIn(pi) = pi.body else {
        unreachable!()
    };
    assert_ne!(pi.buffer_id, OFP_NO_BUFFER);
    assert_eq!(pi.data.len(), 64);
    assert_eq!(usize::from(pi.total_len), frame.len());
    assert_eq!(pi.reason, openflow::message::packet_in_reason::NO_MATCH);
    let po = PacketOut {
        buffer_id: pi.buffer_id,
        in_port: 3,
        actions: vec![openflow::action::Action::Output {
            port: 1,
            max_len: 0,
        }],
        data: vec![],
    };
    c.send_checked(MessageBody::PacketOut(po.clone()))
        .await
        .unwrap();
    tokio::task::block_in_place(|| {
        let got = sw.ports[0]
            .recv_timeout(Duration::from_secs(2))
            .expect("buffered packet sent");
        assert_eq!(got.data(), &frame[..]);
    });
    // A buffer is used once.
    assert_eq!(
        code_of(c.send_checked(MessageBody::PacketOut(po)).await),
        ErrorCode::BadRequest(BadRequestCode::BufferUnknown)
    );
    // FLOW_REMOVED for a deleted flow that asked for it.
    c.send_checked(flow("priority=9,send_flow_rem,udp,actions=drop"))
        .await
        .unwrap();
    let del = parse_flow("udp", FlowMode::Delete)
        .unwrap()
        .to_flow_mod()
        .unwrap();
    c.send_checked(MessageBody::FlowMod(del)).await.unwrap();
    let fr = next_of(&mut sub, |m| matches!(m.body, MessageBody::FlowRemoved(_))).await;
    let MessageBody::FlowRemoved(fr) = fr.body else {
        unreachable!()
    };
    assert_eq!(fr.priority, 9);
    assert_eq!(fr.reason, openflow::message::flow_removed_reason::DELETE);
    sw.d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_and_multi_part_table_features() {
    let sw = start().await;
    let other = connect(&sw.d).await;
    let role = |role, generation_id| {
        MessageBody::RoleRequest(RoleMsg {
            role,
            generation_id,
        })
    };
    // conn becomes master (generation 5); other becomes slave.
    let r = sw.conn.request(role(2, 5)).await.unwrap();
    assert!(matches!(
        r.body,
        MessageBody::RoleReply(RoleMsg { role: 2, .. })
    ));
    other.request(role(3, 6)).await.unwrap();
    assert_eq!(
        code_of(other.send_checked(flow("actions=drop")).await),
        ErrorCode::BadRequest(BadRequestCode::IsSlave)
    );
    // A stale generation id is refused.
    match sw.conn.request(role(2, 1)).await {
        Err(ClientError::OpenFlow { code, .. }) => {
            assert_eq!(
                code,
                ErrorCode::RoleRequestFailed(RoleRequestFailedCode::Stale)
            )
        }
        other => panic!("{other:?}"),
    }
    // TABLE_FEATURES in two parts: one answer, at the end (tables are
    // fixed: EPERM).
    let tf = sw
        .conn
        .multipart(MultipartRequestBody::TableFeatures(vec![]))
        .await
        .unwrap();
    let mut tables = Vec::new();
    for r in tf {
        if let openflow::multipart::MultipartReplyBody::TableFeatures(v) = r.body {
            tables.extend(v);
        }
    }
    assert_eq!(tables.len(), 8);
    let part = |flags, t: Vec<_>| {
        MessageBody::MultipartRequest(MultipartRequest {
            flags,
            body: MultipartRequestBody::TableFeatures(t),
        })
    };
    sw.conn
        .send_message(Message::new(
            900,
            part(OFPMPF_REQ_MORE, tables[..4].to_vec()),
        ))
        .await
        .unwrap();
    match sw.conn.request(part(0, tables[4..].to_vec())).await {
        Err(ClientError::OpenFlow { code, .. }) => {
            assert_eq!(
                code,
                ErrorCode::TableFeaturesFailed(TableFeaturesFailedCode::Eperm)
            )
        }
        other => panic!("{other:?}"),
    }
    // The first part got no answer of its own.
    sw.conn.barrier().await.unwrap();
    sw.d.shutdown().await;
}
