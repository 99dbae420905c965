//! FLOW_MOD rate: 100,000 FLOW_MODs (distinct `ip,nw_dst=…` flows) then one
//! BARRIER over one TCP connection to an in-process `okod`; the time from
//! the first FLOW_MOD to the BARRIER_REPLY (which comes only once every
//! worker runs all 100,000 flows). Median of 5 runs, each on a fresh switch.
//!
//! The controller side is a raw socket writing pre-encoded messages as
//! fast as the switch reads them (as cbench-style tools do), so the figure
//! is the switch's; the flow count is then checked with the client library.
//!
//! Run: `cargo bench -p agent --bench flow_mod_rate [-- FLOWS]`.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use agent::config::{FailMode, Settings};
use agent::daemon::Daemon;
use controller_examples::client::{ClientOptions, Connection, Target};
use dataplane::port::{PortConfig, PortSpec};
use openflow::MessageBody;
use openflow::action::Action;
use openflow::instruction::Instruction;
use openflow::message::FlowMod;
use openflow::oxm::{Match, Oxm};

fn flow(i: u32) -> MessageBody {
    MessageBody::FlowMod(FlowMod {
        priority: 100,
        match_: Match {
            fields: vec![
                Oxm::EthType(0x0800),
                Oxm::Ipv4Dst {
                    value: Ipv4Addr::from(0x0a00_0000 | i),
                    mask: None,
                },
            ],
        },
        instructions: vec![Instruction::ApplyActions(vec![Action::Output {
            port: 2,
            max_len: 0,
        }])],
        ..FlowMod::default()
    })
}

async fn once(n: u32) -> Duration {
    let settings = Settings {
        dpid: 1,
        ports: vec![
            PortConfig {
                port_no: 1,
                spec: PortSpec::Mem(Default::default()),
            },
            PortConfig {
                port_no: 2,
                spec: PortSpec::Mem(Default::default()),
            },
        ],
        controllers: vec![Target::Ptcp {
            port: 0,
            ip: Some(Ipv4Addr::LOCALHOST.into()),
        }],
        fail_mode: FailMode::Secure,
        workers: 1,
        pin: false,
        tls: None,
        echo_interval: Duration::from_secs(30),
        tables: 254,
    };
    let daemon = Daemon::start(&settings).await.expect("okod starts");
    let addr = daemon.server.listen_addrs()[0];
    let t = blast(addr, n).await;
    let opts = ClientOptions::default().with_request_timeout(Duration::from_secs(120));
    let conn = Connection::connect(
        &Target::Tcp {
            host: addr.ip().to_string(),
            port: addr.port(),
        },
        &opts,
    )
    .await
    .expect("connects");
    let stats = conn
        .multipart(openflow::multipart::MultipartRequestBody::Aggregate(
            openflow::multipart::FlowStatsRequest {
                table_id: 0xff,
                out_port: openflow::port::port_no::ANY,
                out_group: openflow::group::group_id::ANY,
                cookie: 0,
                cookie_mask: 0,
                match_: Match::default(),
            },
        ))
        .await
        .expect("aggregate");
    if let Some(openflow::multipart::MultipartReplyBody::Aggregate(a)) =
        stats.first().map(|r| &r.body)
    {
        assert_eq!(a.flow_count, n, "every flow installed");
    }
    conn.close();
    daemon.shutdown().await;
    t
}

/// Handshake on a raw socket, then every FLOW_MOD and a BARRIER in one
/// write; the time until the BARRIER_REPLY.
async fn blast(addr: std::net::SocketAddr, n: u32) -> Duration {
    use openflow::Message;
    use openflow::message::Hello;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut sock = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    sock.set_nodelay(true).expect("nodelay");
    let hello = Message::new(1, MessageBody::Hello(Hello::default()));
    sock.write_all(&hello.to_vec()).await.expect("hello");
    let mut wire = Vec::with_capacity(n as usize * 96 + 8);
    for i in 0..n {
        wire.extend_from_slice(&Message::new(i + 2, flow(i)).to_vec());
    }
    let barrier_xid = n + 2;
    wire.extend_from_slice(&Message::new(barrier_xid, MessageBody::BarrierRequest).to_vec());
    let (mut rd, mut wr) = sock.into_split();
    let start = Instant::now();
    let writer = tokio::spawn(async move {
        wr.write_all(&wire).await.expect("flow mods written");
        wr
    });
    // Read messages until the BARRIER_REPLY (type 21) with our xid.
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 65536];
    'read: loop {
        let k = rd.read(&mut chunk).await.expect("reads");
        assert!(k > 0, "okod closed the connection");
        buf.extend_from_slice(&chunk[..k]);
        let mut off = 0;
        while buf.len() - off >= 8 {
            let len = usize::from(u16::from_be_bytes([buf[off + 2], buf[off + 3]]));
            if buf.len() - off < len {
                break;
            }
            let (ty, xid) = (
                buf[off + 1],
                u32::from_be_bytes([buf[off + 4], buf[off + 5], buf[off + 6], buf[off + 7]]),
            );
            assert_ne!(ty, 1, "okod answered with an ERROR (xid {xid})");
            if ty == 21 && xid == barrier_xid {
                break 'read;
            }
            off += len.max(8);
        }
        buf.drain(..off);
    }
    let t = start.elapsed();
    drop(writer.await);
    t
}

fn main() {
    let n: u32 = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut times: Vec<Duration> = (0..5).map(|_| rt.block_on(once(n))).collect();
    times.sort();
    let med = times[2];
    println!(
        "flow_mod_rate: {n} FLOW_MODs + BARRIER over one connection: median {:.0} ms = {:.0} flows/s (runs {:.0}..{:.0} ms; target >= 200000 flows/s)",
        med.as_secs_f64() * 1e3,
        f64::from(n) / med.as_secs_f64(),
        times[0].as_secs_f64() * 1e3,
        times[4].as_secs_f64() * 1e3,
    );
}
