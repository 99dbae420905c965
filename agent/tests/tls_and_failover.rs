//! okod against controllers over TLS (a CA-signed controller connects, a
//! self-signed one is refused, in both directions: `pssl:` and `ssl:`), and
//! controller loss: with the controller gone the installed flows keep
//! forwarding (fail-secure), and okod reconnects when it returns.

mod common;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use agent::config::{FailMode, Settings};
use agent::daemon::Daemon;
use controller_examples::client::{ClientOptions, Connection, Listener, Target, TlsConfig};
use controller_examples::ofctl::{FlowMode, parse_flow};
use dataplane::frames::{self, Ip4, Tcp};
use dataplane::port::{PortConfig, PortSpec};
use openflow::MessageBody;

/// A throw-away PKI in a fresh directory: CA, switch and controller signed
/// by it, and a self-signed impostor.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new(test: &str) -> Self {
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
            .push(DnType::CommonName, "okod test CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let dir = std::env::temp_dir().join(format!("okod-tls-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
        for name in ["switch", "controller"] {
            let key = KeyPair::generate().unwrap();
            let cert = leaf(&format!("{name}.oko"))
                .signed_by(&key, &issuer)
                .unwrap();
            std::fs::write(dir.join(format!("{name}-cert.pem")), cert.pem()).unwrap();
            std::fs::write(dir.join(format!("{name}-key.pem")), key.serialize_pem()).unwrap();
        }
        let key = KeyPair::generate().unwrap();
        let cert = leaf("impostor.oko").self_signed(&key).unwrap();
        std::fs::write(dir.join("impostor-cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("impostor-key.pem"), key.serialize_pem()).unwrap();
        // The impostor trusts itself as CA.
        std::fs::write(dir.join("impostor-ca.pem"), cert.pem()).unwrap();
        Self { dir }
    }

    fn path(&self, f: &str) -> String {
        self.dir.join(f).to_string_lossy().into_owned()
    }

    fn tls(&self, who: &str, ca: &str) -> TlsConfig {
        TlsConfig::from_pem_files(
            self.path(ca),
            self.path(&format!("{who}-cert.pem")),
            self.path(&format!("{who}-key.pem")),
        )
        .unwrap()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn switch_settings(controllers: Vec<Target>, tls: Option<TlsConfig>) -> Settings {
    Settings {
        dpid: 0x77,
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
        controllers,
        fail_mode: FailMode::Secure,
        workers: 1,
        pin: false,
        tls,
        echo_interval: Duration::from_secs(5),
        tables: 4,
    }
}

fn opts(tls: Option<TlsConfig>) -> ClientOptions {
    let o = ClientOptions::default().with_handshake_timeout(Duration::from_secs(5));
    match tls {
        Some(t) => o.with_tls(t),
        None => o,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pssl_accepts_ca_signed_controllers_and_refuses_others() {
    let pki = Pki::new("pssl");
    let s = switch_settings(
        vec![Target::Pssl {
            port: 0,
            ip: Some(Ipv4Addr::LOCALHOST.into()),
        }],
        Some(pki.tls("switch", "ca.pem")),
    );
    let d = Daemon::start(&s).await.unwrap();
    let addr = d.server.listen_addrs()[0];
    let target = Target::Ssl {
        host: "127.0.0.1".into(),
        port: addr.port(),
    };
    let good = Connection::connect(&target, &opts(Some(pki.tls("controller", "ca.pem"))))
        .await
        .expect("a CA-signed controller connects");
    assert_eq!(good.datapath_id(), 0x77);
    good.barrier().await.unwrap();
    let bad = Connection::connect(&target, &opts(Some(pki.tls("impostor", "ca.pem")))).await;
    assert!(bad.is_err(), "a self-signed controller is refused");
    // Plain TCP on a pssl port is no OpenFlow session either.
    let plain = Connection::connect(
        &Target::Tcp {
            host: "127.0.0.1".into(),
            port: addr.port(),
        },
        &opts(None),
    )
    .await;
    assert!(plain.is_err());
    // The good session is unaffected.
    good.barrier().await.unwrap();
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_dials_a_ca_signed_controller_and_not_an_impostor() {
    let pki = Pki::new("ssl");
    // An impostor controller (its certificate not signed by the CA): okod
    // refuses it and keeps retrying.
    let impostor = Listener::bind(
        &Target::Pssl {
            port: 0,
            ip: Some(Ipv4Addr::LOCALHOST.into()),
        },
        &opts(Some(pki.tls("impostor", "ca.pem"))),
    )
    .await
    .unwrap();
    let port = impostor.local_addr().unwrap().port();
    let s = switch_settings(
        vec![Target::Ssl {
            host: "127.0.0.1".into(),
            port,
        }],
        Some(pki.tls("switch", "ca.pem")),
    );
    let d = Daemon::start(&s).await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(3), impostor.accept()).await;
    assert!(!matches!(r, Ok(Ok(_))), "no session with the impostor");
    drop(impostor);
    d.shutdown().await;

    let good = Listener::bind(
        &Target::Pssl {
            port: 0,
            ip: Some(Ipv4Addr::LOCALHOST.into()),
        },
        &opts(Some(pki.tls("controller", "ca.pem"))),
    )
    .await
    .unwrap();
    let port = good.local_addr().unwrap().port();
    let s = switch_settings(
        vec![Target::Ssl {
            host: "127.0.0.1".into(),
            port,
        }],
        Some(pki.tls("switch", "ca.pem")),
    );
    let d = Daemon::start(&s).await.unwrap();
    let c = tokio::time::timeout(Duration::from_secs(10), good.accept())
        .await
        .expect("okod dials in")
        .expect("TLS session");
    assert_eq!(c.datapath_id(), 0x77);
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_loss_keeps_flows_and_reconnects() {
    let listener = Listener::bind(
        &Target::Ptcp {
            port: 0,
            ip: Some(Ipv4Addr::LOCALHOST.into()),
        },
        &opts(None),
    )
    .await
    .unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut s = switch_settings(
        vec![Target::Tcp {
            host: "127.0.0.1".into(),
            port,
        }],
        None,
    );
    s.echo_interval = Duration::from_millis(300);
    let mut d = Daemon::start(&s).await.unwrap();
    let c = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .unwrap()
        .unwrap();
    let fm = parse_flow("priority=10,in_port=1,ip,actions=output:2", FlowMode::Add)
        .unwrap()
        .to_flow_mod()
        .unwrap();
    c.send_checked(MessageBody::FlowMod(fm)).await.unwrap();

    let p1 = d.mem_ports.iter().position(|(n, _)| *n == 1).unwrap();
    let h1 = d.mem_ports.swap_remove(p1).1;
    let h2 = d.mem_ports.pop().unwrap().1;
    let frame = frames::tcp4(&Ip4::default(), &Tcp::default(), 0, 64);
    let forwarded = |n: usize| {
        let (h1, h2, frame) = (&h1, &h2, &frame);
        (0..n).all(|_| h1.inject(frame) && h2.recv_timeout(Duration::from_secs(2)).is_some())
    };
    assert!(forwarded(10));

    // The controller goes away (process killed: its listener and session
    // close). Forwarding goes on with the installed flow.
    drop(c);
    drop(listener);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        tokio::task::block_in_place(|| forwarded(100)),
        "fail-secure keeps forwarding"
    );

    // It comes back on the same port: okod reconnects (backoff 1 s → 8 s)
    // and the flow is still there.
    let listener = Listener::bind(
        &Target::Ptcp {
            port,
            ip: Some(Ipv4Addr::LOCALHOST.into()),
        },
        &opts(None),
    )
    .await
    .unwrap();
    let c = tokio::time::timeout(Duration::from_secs(15), listener.accept())
        .await
        .expect("okod reconnects")
        .unwrap();
    let flows = c
        .multipart(openflow::multipart::MultipartRequestBody::Flow(
            parse_flow("", FlowMode::Dump)
                .unwrap()
                .to_flow_stats_request(),
        ))
        .await
        .unwrap();
    let n: usize = flows
        .iter()
        .map(|r| match &r.body {
            openflow::multipart::MultipartReplyBody::Flow(v) => {
                v.iter().map(|f| f.packet_count as usize).sum()
            }
            _ => 0,
        })
        .sum();
    assert_eq!(n, 110, "every packet counted, none lost");
    assert!(tokio::task::block_in_place(|| forwarded(10)));
    d.shutdown().await;
}
