//! The client library against an in-process fake switch.
//!
//! Each test scripts the switch side by hand over a real socket (tokio
//! `TcpListener` + `OfCodec`), so what is asserted is what went over the
//! wire: xids, chunk offsets, barrier placement, the bytes of the extension
//! messages. TLS tests generate a throw-away CA and certificates with
//! `rcgen` at test time.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use controller_examples::client::{
    ClientError, ClientOptions, ConnectError, Connection, Listener, PROG_LOAD_MAX_CHUNK,
    Subscription, SubscriptionError, Target, TlsConfig,
};
use futures_util::{SinkExt, StreamExt};
use ofext_filter::wire::{
    ExtErrorCode, ExtMessage, ExtMultipartReply, ExtMultipartRequest, MapDesc, MapReplyHead,
    OKO_EXPERIMENTER, PROG_ID_ALL, ProgLoadReply, ProgStatsEntry, exp_type, load_flags, name16,
    unload_flags, update_flags,
};
use openflow::error::{BadRequestCode, ErrorCode, FlowModFailedCode, HelloFailedCode};
use openflow::message::{
    ErrorMsg, FlowMod, Hello, HelloElement, MessageBody, PacketIn, SwitchConfig, SwitchFeatures,
};
use openflow::multipart::{
    MultipartReply, MultipartReplyBody, MultipartRequestBody, OFPMPF_REPLY_MORE, TableStats,
};
use openflow::{Frame, Message, OfCodec};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;

const DPID: u64 = 0x0000_0200_0000_00ab;
const STEP: Duration = Duration::from_secs(5);
static DEFAULTS: std::sync::LazyLock<ClientOptions> =
    std::sync::LazyLock::new(ClientOptions::default);

// ---------------------------------------------------------------------------
// The fake switch
// ---------------------------------------------------------------------------

struct FakeSwitch<S> {
    io: Framed<S, OfCodec>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> FakeSwitch<S> {
    fn new(stream: S) -> Self {
        Self {
            io: Framed::new(stream, OfCodec::new()),
        }
    }

    async fn recv_frame(&mut self) -> Frame {
        tokio::time::timeout(STEP, self.io.next())
            .await
            .expect("switch: nothing received in time")
            .expect("switch: connection closed")
            .expect("switch: framing error")
    }

    async fn recv(&mut self) -> Message {
        self.recv_frame().await.parse().expect("switch: parse")
    }

    /// Whether the client closed the connection (EOF or reset).
    async fn closed(&mut self) -> bool {
        matches!(
            tokio::time::timeout(STEP, self.io.next()).await,
            Ok(None | Some(Err(_)))
        )
    }

    async fn send(&mut self, msg: Message) {
        self.io.send(msg).await.expect("switch: send");
    }

    async fn send_body(&mut self, xid: u32, body: MessageBody) {
        self.send(Message::new(xid, body)).await;
    }

    /// The switch's half of the handshake: HELLO both ways, then answer
    /// FEATURES_REQUEST. Returns the client's HELLO.
    async fn handshake(&mut self) -> Hello {
        self.send_body(1000, MessageBody::Hello(Hello::standard()))
            .await;
        let hello = self.recv().await;
        let MessageBody::Hello(h) = hello.body else {
            panic!("expected HELLO, got {hello:?}")
        };
        let req = self.recv().await;
        assert_eq!(req.body, MessageBody::FeaturesRequest);
        self.send_body(req.xid, MessageBody::FeaturesReply(features()))
            .await;
        h
    }
}

fn features() -> SwitchFeatures {
    SwitchFeatures {
        datapath_id: DPID,
        n_buffers: 0,
        n_tables: 254,
        auxiliary_id: 0,
        capabilities: 0x4f,
        reserved: 0,
    }
}

async fn bound() -> (TcpListener, Target) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    (l, Target::parse(&format!("tcp:127.0.0.1:{port}")).unwrap())
}

/// A connected client and the fake switch's end, handshake done.
async fn pair_with(options: ClientOptions) -> (Connection, FakeSwitch<TcpStream>) {
    let (listener, target) = bound().await;
    let switch = async {
        let (s, _) = listener.accept().await.unwrap();
        let mut sw = FakeSwitch::new(s);
        sw.handshake().await;
        sw
    };
    let (conn, sw) = tokio::join!(Connection::connect(&target, &options), switch);
    (conn.expect("connect"), sw)
}

async fn pair() -> (Connection, FakeSwitch<TcpStream>) {
    pair_with(ClientOptions::default()).await
}

fn packet_in(data: &[u8]) -> MessageBody {
    MessageBody::PacketIn(PacketIn {
        buffer_id: u32::MAX,
        total_len: u16::try_from(data.len()).unwrap(),
        reason: 0,
        table_id: 0,
        cookie: 0,
        match_: Default::default(),
        data: data.to_vec(),
    })
}

fn error_body(code: ErrorCode, data: &[u8]) -> MessageBody {
    MessageBody::Error(ErrorMsg {
        code,
        data: data.to_vec(),
    })
}

fn ext_error(code: ExtErrorCode, text: &str) -> MessageBody {
    MessageBody::Error(code.error_msg(text))
}

fn ext_of(msg: &Message) -> ExtMessage {
    let MessageBody::Experimenter(e) = &msg.body else {
        panic!("expected an experimenter message, got {msg:?}")
    };
    ExtMessage::from_experimenter(e).expect("extension message")
}

fn ext_request_of(msg: &Message) -> ExtMultipartRequest {
    let MessageBody::MultipartRequest(r) = &msg.body else {
        panic!("expected a multipart request, got {msg:?}")
    };
    ExtMultipartRequest::from_request(&r.body)
        .expect("experimenter body")
        .expect("extension request")
}

async fn next_event(sub: &mut Subscription) -> Message {
    tokio::time::timeout(STEP, sub.recv())
        .await
        .expect("no event in time")
        .expect("event")
}

// ---------------------------------------------------------------------------
// Handshake
// ---------------------------------------------------------------------------

#[tokio::test]
async fn handshake_offers_only_13_and_keeps_features() {
    let (listener, target) = bound().await;
    let switch = async {
        let (s, _) = listener.accept().await.unwrap();
        let mut sw = FakeSwitch::new(s);
        sw.send_body(1, MessageBody::Hello(Hello::standard())).await;
        let hello = sw.recv().await;
        let req = sw.recv().await;
        // Before answering FEATURES: an echo (must be answered) and a
        // PACKET_IN (must reach the first subscriber).
        sw.send_body(77, MessageBody::EchoRequest(b"early".to_vec()))
            .await;
        let echo = sw.recv().await;
        sw.send_body(0, packet_in(b"early packet")).await;
        sw.send_body(req.xid, MessageBody::FeaturesReply(features()))
            .await;
        (sw, hello, req, echo)
    };
    let (conn, (_sw, hello, req, echo)) =
        tokio::join!(Connection::connect(&target, &DEFAULTS), switch);
    let conn = conn.unwrap();

    let MessageBody::Hello(h) = hello.body else {
        panic!("first message must be HELLO")
    };
    assert_eq!(h.version, 4);
    assert_eq!(h.version_bitmap(), Some(&[0x10u32][..]));
    assert_eq!(req.body, MessageBody::FeaturesRequest);
    assert_ne!(req.xid, hello.xid);
    assert_eq!(
        echo,
        Message::new(77, MessageBody::EchoReply(b"early".to_vec()))
    );

    assert_eq!(conn.datapath_id(), DPID);
    assert_eq!(*conn.features(), features());
    assert!(conn.peer_hello().supports_of13());
    assert!(conn.peer_addr().is_some());
    assert!(!conn.is_closed());
    let mut sub = conn.subscribe();
    assert_eq!(next_event(&mut sub).await.body, packet_in(b"early packet"));
}

#[tokio::test]
async fn peer_without_13_is_refused_with_hello_failed() {
    let (listener, target) = bound().await;
    let switch = async {
        let (s, _) = listener.accept().await.unwrap();
        let mut sw = FakeSwitch::new(s);
        // An OpenFlow 1.0-only switch: version 1, bitmap with bit 1.
        sw.send_body(
            5,
            MessageBody::Hello(Hello {
                version: 1,
                elements: vec![HelloElement::version_bitmap(&[1])],
            }),
        )
        .await;
        let _client_hello = sw.recv().await;
        let answer = sw.recv().await;
        (answer, sw.closed().await)
    };
    let (conn, (answer, closed)) = tokio::join!(Connection::connect(&target, &DEFAULTS), switch);
    match conn {
        Err(ConnectError::Incompatible {
            peer_version,
            peer_bitmap,
        }) => {
            assert_eq!(peer_version, 1);
            assert_eq!(peer_bitmap, Some(vec![0b10]));
        }
        other => panic!("expected Incompatible, got {other:?}"),
    }
    let MessageBody::Error(e) = answer.body else {
        panic!("expected HELLO_FAILED, got {answer:?}")
    };
    assert_eq!(
        e.code,
        ErrorCode::HelloFailed(HelloFailedCode::Incompatible)
    );
    assert!(closed, "the client must close after HELLO_FAILED");
}

#[tokio::test]
async fn peer_hello_without_bitmap_below_13_is_refused() {
    let (listener, target) = bound().await;
    let switch = async {
        let (s, _) = listener.accept().await.unwrap();
        let mut sw = FakeSwitch::new(s);
        sw.send_body(
            5,
            MessageBody::Hello(Hello {
                version: 3,
                elements: vec![],
            }),
        )
        .await;
        let _ = sw.recv().await;
        sw
    };
    let (conn, _sw) = tokio::join!(Connection::connect(&target, &DEFAULTS), switch);
    assert!(matches!(
        conn,
        Err(ConnectError::Incompatible {
            peer_version: 3,
            peer_bitmap: None
        })
    ));
}

#[tokio::test]
async fn hello_failed_from_the_switch_is_typed() {
    let (listener, target) = bound().await;
    let switch = async {
        let (s, _) = listener.accept().await.unwrap();
        let mut sw = FakeSwitch::new(s);
        let _ = sw.recv().await;
        sw.send_body(
            0,
            error_body(
                ErrorCode::HelloFailed(HelloFailedCode::Incompatible),
                b"1.0 only",
            ),
        )
        .await;
        sw
    };
    let (conn, _sw) = tokio::join!(Connection::connect(&target, &DEFAULTS), switch);
    match conn {
        Err(ConnectError::Refused { code, data }) => {
            assert_eq!(code, ErrorCode::HelloFailed(HelloFailedCode::Incompatible));
            assert_eq!(data, b"1.0 only");
        }
        other => panic!("expected Refused, got {other:?}"),
    }
}

#[tokio::test]
async fn silent_switch_times_out_the_handshake() {
    let (listener, target) = bound().await;
    let options = ClientOptions::default().with_handshake_timeout(Duration::from_millis(200));
    let switch = async {
        let (s, _) = listener.accept().await.unwrap();
        let mut sw = FakeSwitch::new(s);
        let _ = sw.recv().await; // the client's HELLO; never answered
        sw.closed().await
    };
    let (conn, closed) = tokio::join!(Connection::connect(&target, &options), switch);
    assert!(
        matches!(conn, Err(ConnectError::Timeout { after }) if after == Duration::from_millis(200))
    );
    assert!(closed);
}

#[tokio::test]
async fn wrong_targets_are_refused() {
    let options = ClientOptions::default();
    assert!(matches!(
        Connection::connect(&Target::parse("ptcp:0").unwrap(), &options).await,
        Err(ConnectError::WrongTarget { .. })
    ));
    assert!(matches!(
        Connection::connect(&Target::parse("ssl:127.0.0.1:1").unwrap(), &options).await,
        Err(ConnectError::TlsRequired { .. })
    ));
    assert!(matches!(
        Listener::bind(&Target::parse("tcp:127.0.0.1:1").unwrap(), &options).await,
        Err(ConnectError::WrongTarget { .. })
    ));
    assert!(matches!(
        Listener::bind(&Target::parse("pssl:0:127.0.0.1").unwrap(), &options).await,
        Err(ConnectError::TlsRequired { .. })
    ));
    // Nothing listens on a port we just freed.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let t = Target::parse(&format!("tcp:127.0.0.1:{port}")).unwrap();
    assert!(matches!(
        Connection::connect(&t, &options).await,
        Err(ConnectError::Connect { .. })
    ));
}

// ---------------------------------------------------------------------------
// Requests and replies
// ---------------------------------------------------------------------------

#[tokio::test]
async fn replies_are_routed_by_xid_in_any_order() {
    let (conn, mut sw) = pair().await;
    let mut sub = conn.subscribe();
    let client = async {
        tokio::join!(
            conn.echo(b"one".to_vec()),
            conn.request(MessageBody::GetConfigRequest),
            conn.echo(b"three".to_vec()),
        )
    };
    let switch = async {
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(sw.recv().await);
        }
        let mut xids: Vec<u32> = got.iter().map(|m| m.xid).collect();
        xids.sort_unstable();
        xids.dedup();
        assert_eq!(xids.len(), 3, "every request has its own xid");
        // Answer in reverse order, with an unsolicited message between.
        for m in got.iter().rev() {
            let body = match &m.body {
                MessageBody::EchoRequest(d) => MessageBody::EchoReply(d.clone()),
                MessageBody::GetConfigRequest => MessageBody::GetConfigReply(SwitchConfig {
                    flags: 0,
                    miss_send_len: 1234,
                }),
                other => panic!("unexpected {other:?}"),
            };
            sw.send_body(m.xid, body).await;
            sw.send_body(0, packet_in(b"between")).await;
        }
    };
    let ((one, config, three), ()) = tokio::join!(client, switch);
    assert_eq!(one.unwrap(), b"one");
    assert_eq!(three.unwrap(), b"three");
    assert_eq!(
        config.unwrap().body,
        MessageBody::GetConfigReply(SwitchConfig {
            flags: 0,
            miss_send_len: 1234
        })
    );
    for _ in 0..3 {
        assert_eq!(next_event(&mut sub).await.body, packet_in(b"between"));
    }
}

#[tokio::test]
async fn openflow_error_becomes_typed() {
    let (conn, mut sw) = pair().await;
    let client = conn.request(MessageBody::FlowMod(FlowMod::default()));
    let switch = async {
        let m = sw.recv().await;
        assert!(matches!(m.body, MessageBody::FlowMod(_)));
        let offending = m.to_vec();
        sw.send_body(
            m.xid,
            MessageBody::Error(ErrorMsg::new(
                ErrorCode::FlowModFailed(FlowModFailedCode::TableFull),
                &offending,
            )),
        )
        .await;
        offending
    };
    let (r, offending) = tokio::join!(client, switch);
    match r {
        Err(ClientError::OpenFlow { code, data }) => {
            assert_eq!(code, ErrorCode::FlowModFailed(FlowModFailedCode::TableFull));
            assert_eq!(data, &offending[..offending.len().min(64)]);
        }
        other => panic!("expected OpenFlow error, got {other:?}"),
    }
}

#[tokio::test]
async fn extension_error_carries_the_verifier_text() {
    let (conn, mut sw) = pair().await;
    let text = "pc 17: read of 4 bytes at packet offset 34 beyond checked length 34";
    let client = conn.load_program(4, b"\x7fELF tiny", 0);
    let switch = async {
        let m = sw.recv().await;
        let ExtMessage::ProgLoad(load) = ext_of(&m) else {
            panic!("expected PROG_LOAD")
        };
        assert_eq!((load.prog_id, load.offset, load.total_len), (4, 0, 9));
        sw.send_body(m.xid, ext_error(ExtErrorCode::VerifyFailed, text))
            .await;
    };
    let (r, ()) = tokio::join!(client, switch);
    let e = r.unwrap_err();
    assert_eq!(e.ext_code(), Some(ExtErrorCode::VerifyFailed));
    assert_eq!(
        e.error_code(),
        Some(ExtErrorCode::VerifyFailed.error_code())
    );
    match e {
        ClientError::Extension { code, message } => {
            assert_eq!(code, ExtErrorCode::VerifyFailed);
            assert_eq!(message, text);
        }
        other => panic!("expected Extension error, got {other:?}"),
    }
}

#[tokio::test]
async fn another_experimenters_error_stays_an_openflow_error() {
    let (conn, mut sw) = pair().await;
    let client = conn.barrier();
    let switch = async {
        let m = sw.recv().await;
        let code = ErrorCode::Experimenter {
            exp_code: 2,
            experimenter: 0x00c0_ffee,
        };
        sw.send_body(m.xid, error_body(code, b"x")).await;
        code
    };
    let (r, code) = tokio::join!(client, switch);
    assert!(matches!(r, Err(ClientError::OpenFlow { code: c, .. }) if c == code));
}

#[tokio::test]
async fn malformed_reply_fails_its_request_and_the_session_goes_on() {
    let (conn, mut sw) = pair().await;
    let client = conn.barrier();
    let switch = async {
        let m = sw.recv().await;
        // A BARRIER_REPLY with one byte of body: well framed, malformed.
        let [a, b, c, d] = m.xid.to_be_bytes();
        let raw = Frame::from_bytes(bytes::Bytes::from(vec![4, 21, 0, 9, a, b, c, d, 0])).unwrap();
        sw.io.send(raw).await.unwrap();
    };
    let (r, ()) = tokio::join!(client, switch);
    assert!(matches!(r, Err(ClientError::BadReply(_))), "got {r:?}");
    let client = conn.echo(b"still here".to_vec());
    let switch = async {
        let m = sw.recv().await;
        let MessageBody::EchoRequest(d) = m.body else {
            panic!("expected echo")
        };
        sw.send_body(m.xid, MessageBody::EchoReply(d)).await;
    };
    let (r, ()) = tokio::join!(client, switch);
    assert_eq!(r.unwrap(), b"still here");
}

#[tokio::test]
async fn multipart_reply_more_is_reassembled() {
    let (conn, mut sw) = pair().await;
    let client = conn.multipart(MultipartRequestBody::Table);
    let switch = async {
        let m = sw.recv().await;
        let MessageBody::MultipartRequest(r) = &m.body else {
            panic!("expected multipart request")
        };
        assert_eq!(r.body, MultipartRequestBody::Table);
        for (i, flags) in [OFPMPF_REPLY_MORE, OFPMPF_REPLY_MORE, 0]
            .into_iter()
            .enumerate()
        {
            let table_id = u8::try_from(i).unwrap();
            sw.send_body(
                m.xid,
                MessageBody::MultipartReply(MultipartReply {
                    flags,
                    body: MultipartReplyBody::Table(vec![TableStats {
                        table_id,
                        active_count: 10 * u32::from(table_id),
                        ..Default::default()
                    }]),
                }),
            )
            .await;
            // The switch may ping between parts; the client answers.
            sw.send_body(
                900 + u32::from(table_id),
                MessageBody::EchoRequest(vec![table_id]),
            )
            .await;
            let echo = sw.recv().await;
            assert_eq!(
                echo,
                Message::new(
                    900 + u32::from(table_id),
                    MessageBody::EchoReply(vec![table_id])
                )
            );
        }
    };
    let (parts, ()) = tokio::join!(client, switch);
    let parts = parts.unwrap();
    assert_eq!(parts.len(), 3);
    let ids: Vec<u8> = parts
        .iter()
        .map(|p| match &p.body {
            MultipartReplyBody::Table(t) => t[0].table_id,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(ids, [0, 1, 2]);
    assert_eq!(parts[0].flags, OFPMPF_REPLY_MORE);
    assert_eq!(parts[2].flags, 0);
}

#[tokio::test]
async fn multipart_error_mid_reply_fails_the_request() {
    let (conn, mut sw) = pair().await;
    let client = conn.multipart(MultipartRequestBody::PortDesc);
    let switch = async {
        let m = sw.recv().await;
        sw.send_body(
            m.xid,
            MessageBody::MultipartReply(MultipartReply {
                flags: OFPMPF_REPLY_MORE,
                body: MultipartReplyBody::PortDesc(vec![Default::default()]),
            }),
        )
        .await;
        sw.send_body(
            m.xid,
            error_body(ErrorCode::BadRequest(BadRequestCode::Eperm), b""),
        )
        .await;
    };
    let (r, ()) = tokio::join!(client, switch);
    assert!(matches!(
        r,
        Err(ClientError::OpenFlow {
            code: ErrorCode::BadRequest(BadRequestCode::Eperm),
            ..
        })
    ));
}

#[tokio::test]
async fn send_checked_catches_the_error_before_the_barrier() {
    let (conn, mut sw) = pair().await;
    let mut sub = conn.subscribe();
    let client = conn.send_checked(MessageBody::FlowMod(FlowMod::default()));
    let switch = async {
        let flow = sw.recv().await;
        assert!(matches!(flow.body, MessageBody::FlowMod(_)));
        let barrier = sw.recv().await;
        assert_eq!(barrier.body, MessageBody::BarrierRequest);
        sw.send_body(
            flow.xid,
            error_body(ErrorCode::FlowModFailed(FlowModFailedCode::Overlap), b""),
        )
        .await;
        sw.send_body(barrier.xid, MessageBody::BarrierReply).await;
    };
    let (r, ()) = tokio::join!(client, switch);
    assert!(matches!(
        r,
        Err(ClientError::OpenFlow {
            code: ErrorCode::FlowModFailed(FlowModFailedCode::Overlap),
            ..
        })
    ));

    // Success: only the barrier is answered.
    let client = conn.send_checked(MessageBody::FlowMod(FlowMod::default()));
    let switch = async {
        let _flow = sw.recv().await;
        let barrier = sw.recv().await;
        sw.send_body(barrier.xid, MessageBody::BarrierReply).await;
    };
    let (r, ()) = tokio::join!(client, switch);
    r.unwrap();
    // The error went to the request, not to subscribers.
    assert!(matches!(sub.try_recv(), Ok(None)));
}

#[tokio::test]
async fn send_is_fire_and_forget_and_its_error_is_an_event() {
    let (conn, mut sw) = pair().await;
    let mut sub = conn.subscribe();
    let xid = conn
        .send(MessageBody::FlowMod(FlowMod::default()))
        .await
        .unwrap();
    let m = sw.recv().await;
    assert_eq!(m.xid, xid);
    let err = error_body(ErrorCode::FlowModFailed(FlowModFailedCode::TableFull), b"");
    sw.send_body(xid, err.clone()).await;
    let ev = next_event(&mut sub).await;
    assert_eq!(ev, Message::new(xid, err));
}

#[tokio::test]
async fn oversized_message_is_refused_locally() {
    let (conn, mut sw) = pair().await;
    let r = conn.send(MessageBody::EchoRequest(vec![0; 65528])).await;
    assert!(matches!(r, Err(ClientError::Encode(_))));
    let r = conn.echo(vec![0; 65528]).await;
    assert!(matches!(r, Err(ClientError::Encode(_))));
    // The connection is still usable.
    let client = conn.barrier();
    let switch = async {
        let m = sw.recv().await;
        assert_eq!(m.body, MessageBody::BarrierRequest);
        sw.send_body(m.xid, MessageBody::BarrierReply).await;
    };
    let (r, ()) = tokio::join!(client, switch);
    r.unwrap();
}

#[tokio::test]
async fn request_times_out_and_the_late_reply_becomes_an_event() {
    let options = ClientOptions::default().with_request_timeout(Duration::from_millis(150));
    let (conn, mut sw) = pair_with(options).await;
    let mut sub = conn.subscribe();
    let r = conn.barrier().await;
    let Err(ClientError::Timeout { xid, after }) = r else {
        panic!("expected a timeout, got {r:?}")
    };
    assert_eq!(after, Duration::from_millis(150));
    let m = sw.recv().await;
    assert_eq!(m.xid, xid);
    sw.send_body(xid, MessageBody::BarrierReply).await;
    assert_eq!(
        next_event(&mut sub).await,
        Message::new(xid, MessageBody::BarrierReply)
    );
}

// ---------------------------------------------------------------------------
// Extension calls
// ---------------------------------------------------------------------------

fn reply_desc() -> ProgLoadReply {
    ProgLoadReply {
        prog_id: 9,
        n_insns: 321,
        jit: 1,
        maps: vec![
            MapDesc {
                map_id: 0,
                map_type: 1,
                key_size: 4,
                value_size: 8,
                max_entries: 1024,
                name: name16("counters"),
            },
            MapDesc {
                map_id: 1,
                map_type: 2,
                key_size: 4,
                value_size: 4,
                max_entries: 1,
                name: name16("config"),
            },
        ],
    }
}

#[tokio::test]
async fn load_program_chunks_a_200k_object() {
    let (conn, mut sw) = pair().await;
    let object: Vec<u8> = (0..200 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
    let flags = load_flags::REPLACE | load_flags::KEEP_MAPS;
    let client = conn.load_program(9, &object, flags);
    let switch = async {
        let mut received = Vec::new();
        let mut seen = Vec::new();
        loop {
            let frame = sw.recv_frame().await;
            let len = frame.len();
            let m = frame.parse().unwrap();
            let ExtMessage::ProgLoad(load) = ext_of(&m) else {
                panic!("expected PROG_LOAD")
            };
            assert_eq!(load.prog_id, 9);
            assert_eq!(load.flags, flags);
            assert_eq!(load.total_len, 200 * 1024);
            assert_eq!(len, load.chunk.len() + 32, "chunk = message length - 32");
            assert!(len <= 65535);
            assert_eq!(load.offset as usize, received.len(), "offsets continue");
            received.extend_from_slice(&load.chunk);
            seen.push((m.xid, load.offset, load.chunk.len()));
            if received.len() == load.total_len as usize {
                sw.send(ExtMessage::ProgLoadReply(reply_desc()).to_message(m.xid))
                    .await;
                break;
            }
        }
        (received, seen)
    };
    let (reply, (received, seen)) = tokio::join!(client, switch);
    assert_eq!(reply.unwrap(), reply_desc());
    assert_eq!(received, object);
    let offsets: Vec<u32> = seen.iter().map(|s| s.1).collect();
    let lengths: Vec<usize> = seen.iter().map(|s| s.2).collect();
    assert_eq!(offsets, [0, 65503, 131_006, 196_509]);
    assert_eq!(lengths, [65503, 65503, 65503, 8291]);
    assert_eq!(PROG_LOAD_MAX_CHUNK, 65503);
    let mut xids: Vec<u32> = seen.iter().map(|s| s.0).collect();
    xids.dedup();
    assert_eq!(xids.len(), 4, "one xid per chunk");
}

#[tokio::test]
async fn load_program_reports_the_first_failing_chunk() {
    let (conn, mut sw) = pair().await;
    let object = vec![0x42u8; PROG_LOAD_MAX_CHUNK + 10];
    let client = conn.load_program(3, &object, 0);
    let switch = async {
        let first = sw.recv().await;
        sw.send_body(
            first.xid,
            ext_error(ExtErrorCode::TooLarge, "limit is 64 KiB"),
        )
        .await;
        let last = sw.recv().await;
        let ExtMessage::ProgLoad(load) = ext_of(&last) else {
            panic!("expected PROG_LOAD")
        };
        assert_eq!(load.offset as usize, PROG_LOAD_MAX_CHUNK);
        assert_eq!(load.chunk.len(), 10);
        sw.send_body(
            last.xid,
            ext_error(ExtErrorCode::BadChunk, "no load in progress"),
        )
        .await;
    };
    let (r, ()) = tokio::join!(client, switch);
    match r {
        Err(ClientError::Extension { code, message }) => {
            assert_eq!(code, ExtErrorCode::TooLarge);
            assert_eq!(message, "limit is 64 KiB");
        }
        other => panic!("expected the first chunk's error, got {other:?}"),
    }
}

#[tokio::test]
async fn load_program_refuses_objects_over_16_mib_locally() {
    let (conn, _sw) = pair().await;
    let object = vec![0u8; (16 << 20) + 1];
    assert!(matches!(
        conn.load_program(1, &object, 0).await,
        Err(ClientError::ProgramTooLarge { len, max }) if len == (16 << 20) + 1 && max == 16 << 20
    ));
}

#[tokio::test]
async fn unload_program_is_confirmed_by_a_barrier() {
    let (conn, mut sw) = pair().await;
    let client = conn.unload_program(9, unload_flags::CASCADE);
    let switch = async {
        let m = sw.recv().await;
        let ExtMessage::ProgUnload(u) = ext_of(&m) else {
            panic!("expected PROG_UNLOAD")
        };
        assert_eq!((u.prog_id, u.flags), (9, unload_flags::CASCADE));
        let b = sw.recv().await;
        assert_eq!(b.body, MessageBody::BarrierRequest);
        sw.send_body(m.xid, ext_error(ExtErrorCode::ProgInUse, "3 flows use it"))
            .await;
        sw.send_body(b.xid, MessageBody::BarrierReply).await;
    };
    let (r, ()) = tokio::join!(client, switch);
    assert_eq!(r.unwrap_err().ext_code(), Some(ExtErrorCode::ProgInUse));
}

#[tokio::test]
async fn map_update_sends_entries_and_reports_the_typed_error() {
    let (conn, mut sw) = pair().await;
    let entries = [
        ([1u8, 0, 0, 0], [0x11u8; 8]),
        ([2, 0, 0, 0], [0x22; 8]),
        ([3, 0, 0, 0], [0x33; 8]),
    ];
    let client = conn.map_update(9, 0, update_flags::NOEXIST, &entries);
    let switch = async {
        let m = sw.recv().await;
        let ExtMessage::MapUpdate(u) = ext_of(&m) else {
            panic!("expected MAP_UPDATE")
        };
        assert_eq!(
            (u.prog_id, u.map_id, u.flags, u.n),
            (9, 0, update_flags::NOEXIST, 3)
        );
        let got: Vec<(Vec<u8>, Vec<u8>)> = u
            .entries(4, 8)
            .unwrap()
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect();
        let b = sw.recv().await;
        assert_eq!(b.body, MessageBody::BarrierRequest);
        sw.send_body(m.xid, ext_error(ExtErrorCode::MapFull, "entry 1: map full"))
            .await;
        sw.send_body(b.xid, MessageBody::BarrierReply).await;
        got
    };
    let (r, got) = tokio::join!(client, switch);
    let want: Vec<(Vec<u8>, Vec<u8>)> = entries
        .iter()
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect();
    assert_eq!(got, want);
    match r {
        Err(ClientError::Extension { code, message }) => {
            assert_eq!(code, ExtErrorCode::MapFull);
            assert_eq!(message, "entry 1: map full");
        }
        other => panic!("expected MAP_FULL, got {other:?}"),
    }
}

#[tokio::test]
async fn map_update_splits_long_updates_and_stops_at_the_first_failure() {
    let (conn, mut sw) = pair().await;
    let entries: Vec<(Vec<u8>, Vec<u8>)> = (0..10_000u32)
        .map(|i| {
            (
                i.to_be_bytes().to_vec(),
                u64::from(i).to_be_bytes().to_vec(),
            )
        })
        .collect();
    let per_message = (65535 - 32) / 12;
    let client = conn.map_update(2, 1, update_flags::ANY, &entries);
    let switch = async {
        // First message: accepted.
        let m = sw.recv().await;
        let ExtMessage::MapUpdate(u) = ext_of(&m) else {
            panic!("expected MAP_UPDATE")
        };
        assert_eq!(u.n as usize, per_message);
        let first_key = u.entries(4, 8).unwrap().next().unwrap().0.to_vec();
        assert_eq!(first_key, 0u32.to_be_bytes());
        let b = sw.recv().await;
        sw.send_body(b.xid, MessageBody::BarrierReply).await;
        // Second: refused.
        let m = sw.recv().await;
        let ExtMessage::MapUpdate(u) = ext_of(&m) else {
            panic!("expected MAP_UPDATE")
        };
        assert_eq!(u.n as usize, 10_000 - per_message);
        let first_key = u.entries(4, 8).unwrap().next().unwrap().0.to_vec();
        assert_eq!(first_key, u32::try_from(per_message).unwrap().to_be_bytes());
        let b = sw.recv().await;
        sw.send_body(m.xid, ext_error(ExtErrorCode::MapFull, "entry 7: map full"))
            .await;
        sw.send_body(b.xid, MessageBody::BarrierReply).await;
    };
    let (r, ()) = tokio::join!(client, switch);
    match r {
        Err(ClientError::PartiallyApplied { applied, source }) => {
            assert_eq!(applied, per_message);
            assert!(matches!(
                *source,
                ClientError::Extension {
                    code: ExtErrorCode::MapFull,
                    ..
                }
            ));
        }
        other => panic!("expected PartiallyApplied, got {other:?}"),
    }
}

#[tokio::test]
async fn map_update_with_mixed_sizes_sends_nothing() {
    let (conn, mut sw) = pair().await;
    let entries: [(&[u8], &[u8]); 2] = [(&[1, 2, 3, 4], &[0; 8]), (&[1, 2, 3], &[0; 8])];
    let r = conn.map_update(1, 0, 0, &entries).await;
    assert!(matches!(
        r,
        Err(ClientError::InconsistentEntry {
            index: 1,
            key_len: 3,
            ..
        })
    ));
    let keys: [&[u8]; 2] = [&[1, 2], &[1, 2, 3]];
    assert!(matches!(
        conn.map_delete(1, 0, &keys).await,
        Err(ClientError::InconsistentEntry { index: 1, .. })
    ));
    // Empty calls send nothing either; the next thing on the wire is ours.
    conn.map_update::<&[u8], &[u8]>(1, 0, 0, &[]).await.unwrap();
    let client = conn.barrier();
    let switch = async {
        let m = sw.recv().await;
        assert_eq!(m.body, MessageBody::BarrierRequest);
        sw.send_body(m.xid, MessageBody::BarrierReply).await;
    };
    let (r, ()) = tokio::join!(client, switch);
    r.unwrap();
}

#[tokio::test]
async fn map_delete_sends_keys_and_succeeds_on_barrier() {
    let (conn, mut sw) = pair().await;
    let keys = [7u32.to_be_bytes(), 8u32.to_be_bytes()];
    let client = conn.map_delete(5, 2, &keys);
    let switch = async {
        let m = sw.recv().await;
        let ExtMessage::MapDelete(d) = ext_of(&m) else {
            panic!("expected MAP_DELETE")
        };
        assert_eq!((d.prog_id, d.map_id, d.n), (5, 2, 2));
        let got: Vec<Vec<u8>> = d.keys(4).unwrap().map(<[u8]>::to_vec).collect();
        let b = sw.recv().await;
        sw.send_body(b.xid, MessageBody::BarrierReply).await;
        got
    };
    let (r, got) = tokio::join!(client, switch);
    r.unwrap();
    assert_eq!(got, [vec![0, 0, 0, 7], vec![0, 0, 0, 8]]);
}

#[tokio::test]
async fn map_dump_splits_entries_across_reply_parts() {
    let (conn, mut sw) = pair().await;
    let entries: Vec<(Vec<u8>, Vec<u8>)> = (0..7u32)
        .map(|i| {
            (
                i.to_be_bytes().to_vec(),
                (u64::from(i) << 40).to_be_bytes().to_vec(),
            )
        })
        .collect();
    let client = conn.map_dump(3, 1);
    let switch = async {
        let m = sw.recv().await;
        assert_eq!(
            ext_request_of(&m),
            ExtMultipartRequest::MapDump {
                prog_id: 3,
                map_id: 1
            }
        );
        let mut prefix = Vec::new();
        for v in [3u32, 1, 4, 8] {
            prefix.extend_from_slice(&v.to_be_bytes());
        }
        let flat: Vec<u8> = entries
            .iter()
            .flat_map(|(k, v)| [k.clone(), v.clone()].concat())
            .collect();
        // Room for 3 entries per part: 8 + 8 + 16 + 3 × 12.
        let parts = MultipartReply::split_experimenter(
            0,
            OKO_EXPERIMENTER,
            exp_type::MAP_DUMP,
            &prefix,
            &flat,
            12,
            8 + 8 + 16 + 36,
        );
        assert_eq!(parts.len(), 3);
        for p in parts {
            sw.send_body(m.xid, MessageBody::MultipartReply(p)).await;
        }
    };
    let (r, ()) = tokio::join!(client, switch);
    assert_eq!(r.unwrap(), entries);
}

#[tokio::test]
async fn map_dump_with_inconsistent_sizes_is_a_typed_error() {
    let (conn, mut sw) = pair().await;
    let client = conn.map_dump(3, 1);
    let switch = async {
        let m = sw.recv().await;
        let reply = ExtMultipartReply::MapDump(ofext_filter::wire::MapDumpReply {
            head: MapReplyHead {
                prog_id: 3,
                map_id: 1,
                key_size: 4,
                value_size: 8,
            },
            data: vec![0; 13],
        });
        sw.send_body(m.xid, MessageBody::MultipartReply(reply.to_reply(0)))
            .await;
    };
    let (r, ()) = tokio::join!(client, switch);
    assert!(matches!(r, Err(ClientError::BadExtReply(_))));
}

#[tokio::test]
async fn map_lookup_present_and_absent() {
    let (conn, mut sw) = pair().await;
    let head = MapReplyHead {
        prog_id: 3,
        map_id: 0,
        key_size: 4,
        value_size: 8,
    };
    for value in [Some(vec![9u8; 8]), None] {
        let client = conn.map_lookup(3, 0, &[0, 0, 0, 5]);
        let switch = async {
            let m = sw.recv().await;
            assert_eq!(
                ext_request_of(&m),
                ExtMultipartRequest::MapLookup {
                    prog_id: 3,
                    map_id: 0,
                    key: vec![0, 0, 0, 5]
                }
            );
            let reply = ExtMultipartReply::MapLookup {
                head,
                value: value.clone(),
            };
            sw.send_body(m.xid, MessageBody::MultipartReply(reply.to_reply(0)))
                .await;
        };
        let (r, ()) = tokio::join!(client, switch);
        assert_eq!(r.unwrap(), value);
    }
}

#[tokio::test]
async fn program_stats_for_all_programs() {
    let (conn, mut sw) = pair().await;
    let stats = |id: u32| ProgStatsEntry {
        prog_id: id,
        n_insns: 10 * id,
        jit: 1,
        n_flows: id,
        runs: 1000 + u64::from(id),
        matches: 5,
        run_ns: 77,
        name: name16("filter"),
    };
    let client = conn.program_stats(None);
    let switch = async {
        let m = sw.recv().await;
        assert_eq!(
            ext_request_of(&m),
            ExtMultipartRequest::ProgStats {
                prog_id: PROG_ID_ALL
            }
        );
        let first = ExtMultipartReply::ProgStats(vec![stats(1), stats(2)]);
        let second = ExtMultipartReply::ProgStats(vec![stats(3)]);
        sw.send_body(
            m.xid,
            MessageBody::MultipartReply(first.to_reply(OFPMPF_REPLY_MORE)),
        )
        .await;
        sw.send_body(m.xid, MessageBody::MultipartReply(second.to_reply(0)))
            .await;
    };
    let (r, ()) = tokio::join!(client, switch);
    assert_eq!(r.unwrap(), vec![stats(1), stats(2), stats(3)]);

    let client = conn.program_stats(Some(2));
    let switch = async {
        let m = sw.recv().await;
        assert_eq!(
            ext_request_of(&m),
            ExtMultipartRequest::ProgStats { prog_id: 2 }
        );
        sw.send_body(m.xid, ext_error(ExtErrorCode::UnknownProg, "no program 2"))
            .await;
    };
    let (r, ()) = tokio::join!(client, switch);
    assert_eq!(r.unwrap_err().ext_code(), Some(ExtErrorCode::UnknownProg));
}

// ---------------------------------------------------------------------------
// Asynchronous messages, echo, closing
// ---------------------------------------------------------------------------

#[tokio::test]
async fn subscribers_receive_packet_in() {
    let (conn, mut sw) = pair().await;
    let mut first = conn.subscribe();
    let mut second = conn.subscribe();
    sw.send_body(0, packet_in(b"\x00\x01frame")).await;
    for sub in [&mut first, &mut second] {
        let ev = next_event(sub).await;
        assert_eq!(ev.body, packet_in(b"\x00\x01frame"));
    }
}

#[tokio::test]
async fn subscription_as_a_stream_ends_with_the_connection() {
    let (conn, mut sw) = pair().await;
    let stream = conn.subscribe().into_stream();
    sw.send_body(0, packet_in(b"a")).await;
    sw.send_body(0, packet_in(b"b")).await;
    drop(sw);
    let got: Vec<MessageBody> =
        tokio::time::timeout(STEP, stream.map(|m| m.unwrap().body).collect())
            .await
            .expect("the stream must end when the switch closes");
    assert_eq!(got, [packet_in(b"a"), packet_in(b"b")]);
}

#[tokio::test]
async fn lagging_subscriber_is_told_how_much_it_missed() {
    let mut options = ClientOptions::default();
    options.event_capacity = 2;
    let (conn, mut sw) = pair_with(options).await;
    let mut sub = conn.subscribe();
    for i in 0..5u8 {
        sw.send_body(0, packet_in(&[i])).await;
    }
    // A round trip guarantees all five were routed.
    let client = conn.barrier();
    let switch = async {
        let m = sw.recv().await;
        sw.send_body(m.xid, MessageBody::BarrierReply).await;
    };
    let (r, ()) = tokio::join!(client, switch);
    r.unwrap();
    assert_eq!(
        sub.recv().await,
        Err(SubscriptionError::Lagged { missed: 3 })
    );
    assert_eq!(next_event(&mut sub).await.body, packet_in(&[3]));
    assert_eq!(next_event(&mut sub).await.body, packet_in(&[4]));
}

#[tokio::test]
async fn echo_request_from_the_switch_is_answered() {
    let (_conn, mut sw) = pair().await;
    sw.send_body(0xdead, MessageBody::EchoRequest(b"keepalive".to_vec()))
        .await;
    assert_eq!(
        sw.recv().await,
        Message::new(0xdead, MessageBody::EchoReply(b"keepalive".to_vec()))
    );
}

#[tokio::test]
async fn switch_closing_fails_pending_and_later_requests() {
    let (conn, mut sw) = pair().await;
    let mut sub = conn.subscribe();
    let client = async {
        tokio::join!(
            conn.barrier(),
            conn.echo(b"x".to_vec()),
            conn.program_stats(None)
        )
    };
    let switch = async {
        for _ in 0..3 {
            let _ = sw.recv().await;
        }
        drop(sw);
    };
    let ((a, b, c), ()) = tokio::join!(client, switch);
    assert!(matches!(a, Err(ClientError::Closed)));
    assert!(matches!(b, Err(ClientError::Closed)));
    assert!(matches!(c, Err(ClientError::Closed)));
    tokio::time::timeout(STEP, conn.closed()).await.unwrap();
    assert!(conn.is_closed());
    assert!(matches!(conn.barrier().await, Err(ClientError::Closed)));
    assert!(matches!(
        conn.send(MessageBody::BarrierRequest).await,
        Err(ClientError::Closed)
    ));
    assert_eq!(sub.recv().await, Err(SubscriptionError::Closed));
    assert_eq!(
        conn.subscribe().recv().await,
        Err(SubscriptionError::Closed)
    );
}

#[tokio::test]
async fn close_and_last_drop_end_the_session() {
    let (conn, mut sw) = pair().await;
    // Queued before close: still written.
    conn.send(packet_in_out()).await.unwrap();
    conn.close();
    assert!(conn.is_closed());
    assert!(matches!(conn.barrier().await, Err(ClientError::Closed)));
    assert!(matches!(sw.recv().await.body, MessageBody::PacketOut(_)));
    assert!(sw.closed().await);

    let (conn, mut sw) = pair().await;
    let clone = conn.clone();
    drop(conn);
    // A clone keeps the session open.
    sw.send_body(5, MessageBody::EchoRequest(vec![1])).await;
    assert_eq!(sw.recv().await.xid, 5);
    drop(clone);
    assert!(sw.closed().await);
}

fn packet_in_out() -> MessageBody {
    MessageBody::PacketOut(openflow::message::PacketOut::new(
        1,
        vec![],
        b"frame".to_vec(),
    ))
}

#[tokio::test]
async fn concurrent_requests_from_many_tasks() {
    let (conn, mut sw) = pair().await;
    let answered = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..20u8 {
        let c = conn.clone();
        let answered = answered.clone();
        tasks.push(tokio::spawn(async move {
            let got = c.echo(vec![i; usize::from(i) + 1]).await.unwrap();
            assert_eq!(got, vec![i; usize::from(i) + 1]);
            answered.fetch_add(1, Ordering::Relaxed);
        }));
    }
    let mut pending = Vec::new();
    for _ in 0..20 {
        pending.push(sw.recv().await);
    }
    // Answer in a scrambled order.
    pending.sort_by_key(|m| m.xid.wrapping_mul(2_654_435_761));
    for m in pending {
        let MessageBody::EchoRequest(d) = m.body else {
            panic!("expected echo")
        };
        sw.send_body(m.xid, MessageBody::EchoReply(d)).await;
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(answered.load(Ordering::Relaxed), 20);
}

// ---------------------------------------------------------------------------
// Listener: switches that dial in
// ---------------------------------------------------------------------------

#[tokio::test]
async fn listener_accepts_a_switch_that_dials_in() {
    let target = Target::parse("ptcp:0:127.0.0.1").unwrap();
    let listener = Listener::bind(&target, &ClientOptions::default())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let switch = async {
        let s = TcpStream::connect(addr).await.unwrap();
        let mut sw = FakeSwitch::new(s);
        sw.handshake().await;
        let m = sw.recv().await;
        assert_eq!(m.body, MessageBody::BarrierRequest);
        sw.send_body(m.xid, MessageBody::BarrierReply).await;
        sw
    };
    let client = async {
        let conn = listener.accept().await.unwrap();
        assert_eq!(conn.datapath_id(), DPID);
        conn.barrier().await.unwrap();
        conn
    };
    let (_conn, _sw) = tokio::join!(client, switch);

    // A second switch that speaks 1.0 only is refused; the listener goes on.
    let bad = async {
        let s = TcpStream::connect(addr).await.unwrap();
        let mut sw = FakeSwitch::new(s);
        sw.send_body(
            1,
            MessageBody::Hello(Hello {
                version: 1,
                elements: vec![],
            }),
        )
        .await;
        sw
    };
    let (r, _bad) = tokio::join!(listener.accept(), bad);
    assert!(matches!(r, Err(ConnectError::Incompatible { .. })));
    let good = async {
        let s = TcpStream::connect(addr).await.unwrap();
        let mut sw = FakeSwitch::new(s);
        sw.handshake().await;
        sw
    };
    let (r, _good) = tokio::join!(listener.accept(), good);
    assert_eq!(r.unwrap().datapath_id(), DPID);
}

// ---------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------

/// A throw-away PKI: a CA, certificates it signed for a switch and a
/// controller, and a self-signed impostor; PEM files in a fresh directory.
struct Pki {
    dir: PathBuf,
    ca_pem: String,
    switch: (String, String),
    controller: (String, String),
    impostor: (String, String),
}

impl Pki {
    fn new(test: &str) -> Self {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose,
        };
        let leaf_params = |cn: &str| {
            let mut p = CertificateParams::new(vec![cn.to_string()]).unwrap();
            p.distinguished_name.push(DnType::CommonName, cn);
            p.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ];
            p
        };
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Oko test CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let signed = |cn: &str| {
            let key = KeyPair::generate().unwrap();
            let cert = leaf_params(cn).signed_by(&key, &issuer).unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let switch = signed("switch.oko");
        let controller = signed("controller.oko");
        let impostor = {
            let key = KeyPair::generate().unwrap();
            let cert = leaf_params("controller.oko").self_signed(&key).unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let dir = std::env::temp_dir().join(format!("oko-client-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self {
            dir,
            ca_pem: ca_cert.pem(),
            switch,
            controller,
            impostor,
        }
    }

    /// Writes the CA and an identity to PEM files and loads them the way a
    /// controller's command line would.
    fn tls(&self, name: &str, (cert, key): &(String, String)) -> TlsConfig {
        let ca = self.dir.join("ca.pem");
        let cert_path = self.dir.join(format!("{name}-cert.pem"));
        let key_path = self.dir.join(format!("{name}-key.pem"));
        std::fs::write(&ca, &self.ca_pem).unwrap();
        std::fs::write(&cert_path, cert).unwrap();
        std::fs::write(&key_path, key).unwrap();
        TlsConfig::from_pem_files(ca, cert_path, key_path).unwrap()
    }

    /// The switch's side, built directly with rustls: it requires a client
    /// certificate signed by the CA.
    fn switch_server(&self, (cert, key): &(String, String)) -> tokio_rustls::TlsAcceptor {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(self.ca_pem.as_bytes()).unwrap())
            .unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .unwrap();
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap();
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }

    /// A switch dialing a `pssl:` controller, built directly with rustls.
    fn switch_client(&self, (cert, key): &(String, String)) -> tokio_rustls::TlsConnector {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(self.ca_pem.as_bytes()).unwrap())
            .unwrap();
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn tls_bound() -> (TcpListener, Target) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    (l, Target::parse(&format!("ssl:127.0.0.1:{port}")).unwrap())
}

#[tokio::test]
async fn tls_client_with_a_ca_signed_certificate_connects() {
    let pki = Pki::new("good");
    let options = ClientOptions::default().with_tls(pki.tls("controller", &pki.controller));
    let (listener, target) = tls_bound().await;
    let acceptor = pki.switch_server(&pki.switch);
    let switch = async {
        let (s, _) = listener.accept().await.unwrap();
        let tls = acceptor.accept(s).await.expect("switch: TLS accept");
        assert!(
            tls.get_ref()
                .1
                .peer_certificates()
                .is_some_and(|c| !c.is_empty())
        );
        let mut sw = FakeSwitch::new(tls);
        sw.handshake().await;
        let m = sw.recv().await;
        sw.send_body(m.xid, MessageBody::BarrierReply).await;
        sw
    };
    let client = async {
        let conn = Connection::connect(&target, &options)
            .await
            .expect("connect");
        conn.barrier().await.unwrap();
        conn
    };
    let (conn, _sw) = tokio::join!(client, switch);
    assert_eq!(conn.datapath_id(), DPID);
}

#[tokio::test]
async fn tls_client_with_a_self_signed_certificate_is_refused() {
    let pki = Pki::new("impostor");
    let options = ClientOptions::default().with_tls(pki.tls("impostor", &pki.impostor));
    let (listener, target) = tls_bound().await;
    let acceptor = pki.switch_server(&pki.switch);
    let switch = async {
        let (s, _) = listener.accept().await.unwrap();
        // Keep the socket after the failure so that the alert, not a
        // reset, is what the client reads.
        match acceptor.accept(s).into_fallible().await {
            Ok(_) => panic!("switch accepted a self-signed controller"),
            Err((e, io)) => {
                let mut sw = FakeSwitch::new(io);
                let _ = sw.closed().await;
                e
            }
        }
    };
    let (conn, switch_error) = tokio::join!(Connection::connect(&target, &options), switch);
    assert!(
        matches!(conn, Err(ConnectError::Tls(_))),
        "expected a TLS error, got {conn:?}"
    );
    let inner = switch_error
        .into_inner()
        .unwrap()
        .downcast::<rustls::Error>()
        .unwrap();
    assert!(matches!(*inner, rustls::Error::InvalidCertificate(_)));
}

#[tokio::test]
async fn tls_switch_with_an_untrusted_certificate_is_refused() {
    let pki = Pki::new("untrusted-switch");
    let options = ClientOptions::default().with_tls(pki.tls("controller", &pki.controller));
    let (listener, target) = tls_bound().await;
    let acceptor = pki.switch_server(&pki.impostor);
    let switch = async {
        let (s, _) = listener.accept().await.unwrap();
        let _ = acceptor.accept(s).await;
    };
    let (conn, ()) = tokio::join!(Connection::connect(&target, &options), switch);
    assert!(
        matches!(
            conn,
            Err(ConnectError::Tls(rustls::Error::InvalidCertificate(_)))
        ),
        "expected an invalid-certificate error, got {conn:?}"
    );
}

#[tokio::test]
async fn tls_server_name_is_checked_only_on_request() {
    // The switch's certificate names switch.oko, we dial 127.0.0.1: fine by
    // default (as in OVS), refused with the name check on.
    let pki = Pki::new("names");
    let tls = pki
        .tls("controller", &pki.controller)
        .with_server_name_check(true)
        .unwrap();
    let options = ClientOptions::default().with_tls(tls);
    let (listener, target) = tls_bound().await;
    let acceptor = pki.switch_server(&pki.switch);
    let switch = async {
        let (s, _) = listener.accept().await.unwrap();
        let _ = acceptor.accept(s).await;
    };
    let (conn, ()) = tokio::join!(Connection::connect(&target, &options), switch);
    assert!(
        matches!(
            conn,
            Err(ConnectError::Tls(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                    | rustls::CertificateError::NotValidForNameContext { .. }
            )))
        ),
        "expected a name mismatch, got {conn:?}"
    );
}

#[tokio::test]
async fn pssl_listener_accepts_only_ca_signed_switches() {
    let pki = Pki::new("pssl");
    let options = ClientOptions::default().with_tls(pki.tls("controller", &pki.controller));
    let listener = Listener::bind(&Target::parse("pssl:0:127.0.0.1").unwrap(), &options)
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let name = rustls_pki_types::ServerName::try_from("controller.oko").unwrap();

    // An impostor switch is refused; the listener goes on.
    let impostor = pki.switch_client(&pki.impostor);
    let bad = async {
        let s = TcpStream::connect(addr).await.unwrap();
        if let Ok(tls) = impostor.connect(name.clone(), s).await {
            // TLS 1.3: the client finishes first and learns of the refusal
            // when it reads.
            let mut sw = FakeSwitch::new(tls);
            let _ = sw.send_body(1, MessageBody::Hello(Hello::standard())).await;
            assert!(sw.closed().await);
        }
    };
    let (r, ()) = tokio::join!(listener.accept(), bad);
    assert!(matches!(r, Err(ConnectError::Tls(_))), "got {r:?}");

    let good = pki.switch_client(&pki.switch);
    let switch = async {
        let s = TcpStream::connect(addr).await.unwrap();
        let tls = good
            .connect(name.clone(), s)
            .await
            .expect("switch: TLS connect");
        let mut sw = FakeSwitch::new(tls);
        sw.handshake().await;
        sw
    };
    let (r, _sw) = tokio::join!(listener.accept(), switch);
    assert_eq!(r.expect("accept").datapath_id(), DPID);
}

#[tokio::test]
async fn tls_material_errors_are_typed() {
    use controller_examples::client::TlsError;
    let pki = Pki::new("material");
    let (cert, key) = &pki.controller;
    assert!(matches!(
        TlsConfig::from_pem(b"", cert.as_bytes(), key.as_bytes()),
        Err(TlsError::NoCertificate {
            what: "CA certificate"
        })
    ));
    assert!(matches!(
        TlsConfig::from_pem(pki.ca_pem.as_bytes(), b"", key.as_bytes()),
        Err(TlsError::NoCertificate { .. })
    ));
    assert!(matches!(
        TlsConfig::from_pem(pki.ca_pem.as_bytes(), cert.as_bytes(), b"no key here"),
        Err(TlsError::Pem {
            what: "private key",
            ..
        })
    ));
    // A key that does not belong to the certificate.
    let (_, other_key) = &pki.switch;
    assert!(matches!(
        TlsConfig::from_pem(pki.ca_pem.as_bytes(), cert.as_bytes(), other_key.as_bytes()),
        Err(TlsError::Config(_))
    ));
    assert!(matches!(
        TlsConfig::from_pem_files(pki.dir.join("missing.pem"), "x", "y"),
        Err(TlsError::Read { .. })
    ));
}
