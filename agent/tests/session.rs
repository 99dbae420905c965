//! The session driven by a scripted controller with virtual time: bytes in,
//! bytes out, no sockets.

use std::time::{Duration, Instant};

use agent::role::{ConnId, Role, RoleArbiter, RoleError};
use agent::session::{CloseReason, DEFAULT_ASYNC_CONFIG, Event, Session, SessionConfig};
use bytes::BytesMut;
use ofext_filter::wire::{OKO_EXPERIMENTER, exp_type};
use openflow::error::{BadRequestCode, ErrorCode, HelloFailedCode, RoleRequestFailedCode};
use openflow::message::{
    AsyncConfig, ErrorMsg, ExperimenterMsg, FlowMod, Hello, PacketIn, PacketOut, PortStatus,
    RoleMsg, controller_role, packet_in_reason, port_reason,
};
use openflow::multipart::{FixedStr, MultipartRequest, MultipartRequestBody};
use openflow::port::Port;
use openflow::table_features::TableFeatures;
use openflow::{Message, MessageBody, OfCodec};
use proptest::prelude::*;
use tokio_util::codec::Decoder;

/// Our HELLO, byte for byte (OpenFlow 1.3.5 §7.5.1): header version 4, type
/// 0, length 16, xid 1; one OFPHET_VERSIONBITMAP element of length 8 whose
/// single word has bit 4 set.
const OUR_HELLO: [u8; 16] = [
    0x04, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x01, // header
    0x00, 0x01, 0x00, 0x08, 0x00, 0x00, 0x00, 0x10, // bitmap: 1.3
];

/// A controller's HELLO advertising 1.0 and 1.3 (bits 1 and 4), xid 0x55.
const PEER_HELLO_10_13: [u8; 16] = [
    0x04, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x55, //
    0x00, 0x01, 0x00, 0x08, 0x00, 0x00, 0x00, 0x12,
];

struct Harness {
    s: Session,
    now: Instant,
}

impl Harness {
    fn new() -> Self {
        Self::with_config(SessionConfig::default())
    }

    fn with_config(config: SessionConfig) -> Self {
        let now = Instant::now();
        Self {
            s: Session::new(config, now),
            now,
        }
    }

    /// A session past the handshake with its output drained.
    fn established() -> Self {
        let mut h = Self::new();
        assert_eq!(h.feed(&PEER_HELLO_10_13), vec![Event::Connected]);
        assert_eq!(h.out_bytes(), OUR_HELLO);
        h
    }

    fn feed(&mut self, bytes: &[u8]) -> Vec<Event> {
        self.s.handle_input(self.now, bytes);
        self.events()
    }

    fn send(&mut self, msg: &Message) -> Vec<Event> {
        self.feed(&msg.to_vec())
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.s.poll_event()).collect()
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
    }

    fn fire_timers(&mut self) -> Vec<Event> {
        self.s.handle_timeout(self.now);
        self.events()
    }

    fn out_bytes(&mut self) -> Vec<u8> {
        let mut v = Vec::new();
        while let Some(b) = self.s.poll_transmit() {
            v.extend_from_slice(&b);
        }
        v
    }

    fn out(&mut self) -> Vec<Message> {
        let mut buf = BytesMut::from(&self.out_bytes()[..]);
        let mut codec = OfCodec::new();
        let mut msgs = Vec::new();
        while let Some(f) = codec.decode(&mut buf).unwrap() {
            msgs.push(f.parse().unwrap());
        }
        assert!(buf.is_empty());
        msgs
    }

    fn only_error(&mut self) -> (u32, ErrorMsg) {
        let out = self.out();
        assert_eq!(out.len(), 1, "{out:?}");
        match &out[0].body {
            MessageBody::Error(e) => (out[0].xid, e.clone()),
            other => panic!("expected an error, got {other:?}"),
        }
    }
}

fn msg(xid: u32, body: MessageBody) -> Message {
    Message::new(xid, body)
}

fn flow_mod(xid: u32) -> Message {
    msg(xid, MessageBody::FlowMod(FlowMod::default()))
}

fn packet_in(reason: u8) -> Message {
    msg(
        0,
        MessageBody::PacketIn(PacketIn {
            buffer_id: openflow::message::OFP_NO_BUFFER,
            total_len: 4,
            reason,
            table_id: 0,
            cookie: 0,
            match_: Default::default(),
            data: vec![1, 2, 3, 4],
        }),
    )
}

fn port_status(reason: u8) -> Message {
    msg(
        0,
        MessageBody::PortStatus(PortStatus {
            reason,
            desc: Port::default(),
        }),
    )
}

fn role_request(xid: u32, role: u32, generation_id: u64) -> Message {
    msg(
        xid,
        MessageBody::RoleRequest(RoleMsg {
            role,
            generation_id,
        }),
    )
}

// ------------------------------------------------------------------ handshake

#[test]
fn handshake_bytes() {
    let mut h = Harness::new();
    assert_eq!(h.out_bytes(), OUR_HELLO);
    assert!(!h.s.is_established());
    assert_eq!(h.s.poll_event(), None);
    assert_eq!(h.feed(&PEER_HELLO_10_13), vec![Event::Connected]);
    assert!(h.s.is_established());
    assert!(h.out_bytes().is_empty(), "nothing answers a HELLO");
}

#[test]
fn hello_without_bitmap_negotiates_down() {
    // A 1.5 controller without a bitmap: min(0x06, 0x04) = 1.3.
    let mut h = Harness::new();
    assert_eq!(
        h.feed(&[0x06, 0x00, 0x00, 0x08, 0, 0, 0, 9]),
        vec![Event::Connected]
    );
    // A 1.3 controller with an unknown hello element besides the bitmap.
    let mut h = Harness::new();
    let hello = Hello {
        version: 4,
        elements: vec![
            openflow::message::HelloElement::Unknown {
                elem_type: 7,
                body: vec![1, 2, 3],
            },
            openflow::message::HelloElement::version_bitmap(&[4, 5]),
        ],
    };
    assert_eq!(
        h.send(&msg(3, MessageBody::Hello(hello))),
        vec![Event::Connected]
    );
}

#[test]
fn malformed_hello_is_judged_by_its_header_version() {
    // A bitmap element whose length is not a multiple of 4.
    let mut h = Harness::new();
    let bad = [4, 0, 0, 16, 0, 0, 0, 1, 0, 1, 0, 7, 0, 0, 0, 0];
    assert!(Message::parse(&bad).is_err());
    assert_eq!(h.feed(&bad), vec![Event::Connected]);
}

/// Checks the HELLO_FAILED answer of an incompatible peer, byte by byte: the
/// error travels with the peer's version in its header.
fn assert_hello_failed(bytes: &[u8], peer_version: u8, xid: u32, text: &str) {
    assert_eq!(bytes[0], peer_version);
    assert_eq!(bytes[1], 1, "OFPT_ERROR");
    assert_eq!(
        usize::from(u16::from_be_bytes([bytes[2], bytes[3]])),
        bytes.len()
    );
    assert_eq!(u32::from_be_bytes(bytes[4..8].try_into().unwrap()), xid);
    assert_eq!(&bytes[8..12], &[0, 0, 0, 0], "HELLO_FAILED/INCOMPATIBLE");
    assert_eq!(&bytes[12..], text.as_bytes());
    // With the version byte put back, it is the typed error.
    let mut fixed = bytes.to_vec();
    fixed[0] = 4;
    assert_eq!(
        Message::parse(&fixed).unwrap().body,
        MessageBody::Error(ErrorMsg::with_text(
            ErrorCode::HelloFailed(HelloFailedCode::Incompatible),
            text
        ))
    );
}

#[test]
fn incompatible_peer_with_bitmap() {
    let mut h = Harness::new();
    h.out_bytes();
    // OpenFlow 1.0 only: bitmap 0x00000002.
    let hello = [
        0x01, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x07, //
        0x00, 0x01, 0x00, 0x08, 0x00, 0x00, 0x00, 0x02,
    ];
    assert_eq!(
        h.feed(&hello),
        vec![Event::Closed(CloseReason::IncompatibleVersion {
            peer_versions: vec![1]
        })]
    );
    assert!(h.s.is_closed());
    let out = h.out_bytes();
    assert_hello_failed(
        &out,
        1,
        7,
        "We support OpenFlow13, you support OpenFlow10, no common versions.",
    );
    // Closed for good: input, timers and sends do nothing.
    assert!(h.feed(&PEER_HELLO_10_13).is_empty());
    assert_eq!(h.s.poll_timeout(), None);
    assert!(h.s.send(&flow_mod(1)).is_err());
}

#[test]
fn incompatible_peer_without_bitmap() {
    let mut h = Harness::new();
    h.out_bytes();
    assert_eq!(
        h.feed(&[0x01, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x2a]),
        vec![Event::Closed(CloseReason::IncompatibleVersion {
            peer_versions: vec![1]
        })]
    );
    assert_hello_failed(
        &h.out_bytes(),
        1,
        0x2a,
        "We support OpenFlow13, you support OpenFlow10, no common versions.",
    );

    // A 1.4+1.5 bitmap without 1.3 is incompatible even though it is newer.
    let mut h = Harness::new();
    h.out_bytes();
    let hello = [
        0x06, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x01, //
        0x00, 0x01, 0x00, 0x08, 0x00, 0x00, 0x00, 0x60,
    ];
    assert!(matches!(
        h.feed(&hello)[..],
        [Event::Closed(CloseReason::IncompatibleVersion { .. })]
    ));
    assert_hello_failed(
        &h.out_bytes(),
        6,
        1,
        "We support OpenFlow13, you support OpenFlow14, OpenFlow15, no common versions.",
    );
}

#[test]
fn message_before_hello_is_refused_and_closes() {
    let mut h = Harness::new();
    h.out_bytes();
    let req = msg(5, MessageBody::FeaturesRequest);
    assert_eq!(
        h.send(&req),
        vec![Event::Closed(CloseReason::NoHello { msg_type: 5 })]
    );
    let (xid, e) = h.only_error();
    assert_eq!(xid, 5);
    assert_eq!(
        e,
        ErrorMsg::new(
            ErrorCode::BadRequest(BadRequestCode::BadType),
            &req.to_vec()
        )
    );
}

#[test]
fn handshake_timeout() {
    let c = SessionConfig::default().with_handshake_timeout(Duration::from_secs(3));
    let mut h = Harness::with_config(c);
    let t0 = h.now;
    assert_eq!(h.s.poll_timeout(), Some(t0 + Duration::from_secs(3)));
    // Bytes of an incomplete HELLO do not extend the handshake deadline.
    h.advance(Duration::from_secs(2));
    assert!(h.feed(&OUR_HELLO[..5]).is_empty());
    assert_eq!(h.s.poll_timeout(), Some(t0 + Duration::from_secs(3)));
    assert!(h.fire_timers().is_empty(), "early call is harmless");
    h.advance(Duration::from_secs(1));
    assert_eq!(
        h.fire_timers(),
        vec![Event::Closed(CloseReason::HandshakeTimeout)]
    );
    assert_eq!(h.s.close_reason(), Some(&CloseReason::HandshakeTimeout));
}

// ---------------------------------------------------------------- keepalive

#[test]
fn echo_request_is_answered() {
    let mut h = Harness::established();
    // ECHO_REQUEST xid 0x0a0b0c0d with payload "oko".
    let req = [4, 2, 0, 11, 0x0a, 0x0b, 0x0c, 0x0d, b'o', b'k', b'o'];
    assert!(h.feed(&req).is_empty());
    assert_eq!(
        h.out_bytes(),
        [4, 3, 0, 11, 0x0a, 0x0b, 0x0c, 0x0d, b'o', b'k', b'o']
    );
}

#[test]
fn echo_timeout_with_virtual_time() {
    let mut h = Harness::established();
    let t0 = h.now;
    let five = Duration::from_secs(5);
    assert_eq!(h.s.poll_timeout(), Some(t0 + five));

    h.advance(five);
    assert!(h.fire_timers().is_empty());
    let out = h.out();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].body, MessageBody::EchoRequest(Vec::new()));
    assert_ne!(out[0].xid, 0);
    assert_eq!(h.s.poll_timeout(), Some(t0 + 2 * five));

    h.advance(five - Duration::from_millis(1));
    assert!(h.fire_timers().is_empty());
    assert!(h.out().is_empty(), "one probe only");
    h.advance(Duration::from_millis(1));
    assert_eq!(
        h.fire_timers(),
        vec![Event::Closed(CloseReason::EchoTimeout)]
    );
    assert_eq!(h.s.poll_timeout(), None);
}

#[test]
fn echo_reply_restores_liveness() {
    let mut h = Harness::established();
    let five = Duration::from_secs(5);
    h.advance(five);
    h.fire_timers();
    let probe = h.out().remove(0);
    h.advance(Duration::from_secs(2));
    assert!(
        h.send(&msg(probe.xid, MessageBody::EchoReply(Vec::new())))
            .is_empty()
    );
    assert!(h.out().is_empty());
    assert_eq!(h.s.poll_timeout(), Some(h.now + five));
    h.advance(Duration::from_secs(4));
    assert!(h.fire_timers().is_empty());
    assert!(!h.s.is_closed());
    // Any message counts as a sign of life too.
    assert_eq!(
        h.send(&msg(9, MessageBody::BarrierRequest)),
        vec![Event::Message(msg(9, MessageBody::BarrierRequest))]
    );
    assert_eq!(h.s.poll_timeout(), Some(h.now + five));
}

#[test]
fn keepalive_can_be_disabled() {
    let mut h = Harness::with_config(SessionConfig::default().with_echo_interval(None));
    h.feed(&PEER_HELLO_10_13);
    assert_eq!(h.s.poll_timeout(), None);
}

// --------------------------------------------------------- malformed input

#[test]
fn bad_version_is_answered_and_the_session_stays_open() {
    let mut h = Harness::established();
    // FEATURES_REQUEST at version 0x05, xid 0x11223344, padded to 72 bytes
    // (as an ECHO would be): the whole message comes back as data.
    let mut bytes = vec![5, 2, 0, 72, 0x11, 0x22, 0x33, 0x44];
    bytes.extend(0..64u8);
    assert!(h.feed(&bytes).is_empty());
    let (xid, e) = h.only_error();
    assert_eq!(xid, 0x1122_3344);
    assert_eq!(e.code, ErrorCode::BadRequest(BadRequestCode::BadVersion));
    assert_eq!(e.data, bytes);
    assert!(!h.s.is_closed());
    // A HELLO at another version after the handshake: also BAD_VERSION.
    assert!(h.feed(&[1, 0, 0, 8, 0, 0, 0, 3]).is_empty());
    assert_eq!(
        h.only_error().1.code,
        ErrorCode::BadRequest(BadRequestCode::BadVersion)
    );
    assert_eq!(
        h.send(&msg(1, MessageBody::FeaturesRequest)),
        vec![Event::Message(msg(1, MessageBody::FeaturesRequest))]
    );
}

#[test]
fn bad_type_is_answered() {
    let mut h = Harness::established();
    let bytes = [4, 30, 0, 8, 0, 0, 0, 77];
    assert!(h.feed(&bytes).is_empty());
    assert_eq!(
        h.only_error(),
        (
            77,
            ErrorMsg::new(ErrorCode::BadRequest(BadRequestCode::BadType), &bytes)
        )
    );
    // Types a controller must not send: PACKET_IN, a second HELLO, and a
    // ROLE_REPLY whose body is also malformed (BAD_TYPE wins, as in OVS).
    for bytes in [
        packet_in(0).to_vec(),
        PEER_HELLO_10_13.to_vec(),
        vec![4, 25, 0, 8, 0, 0, 0, 1],
    ] {
        assert!(h.feed(&bytes).is_empty());
        assert_eq!(
            h.only_error().1.code,
            ErrorCode::BadRequest(BadRequestCode::BadType)
        );
    }
    assert!(h.s.is_established());
}

#[test]
fn bad_body_gets_the_parse_errors_exact_code() {
    let mut h = Harness::established();
    // BARRIER_REQUEST with 4 stray bytes → BAD_REQUEST/BAD_LEN.
    let barrier = [4, 20, 0, 12, 0, 0, 0, 8, 1, 2, 3, 4];
    // FLOW_MOD whose match declares 200 bytes → BAD_MATCH/BAD_LEN.
    let mut fm = flow_mod(9).to_vec();
    fm[50..52].copy_from_slice(&200u16.to_be_bytes());
    // ROLE_REQUEST cut short → BAD_REQUEST/BAD_LEN.
    let role = [4, 24, 0, 12, 0, 0, 0, 10, 0, 0, 0, 2];
    for bytes in [&barrier[..], &fm[..], &role[..]] {
        let expected = Message::parse(bytes).unwrap_err().error_code();
        assert!(h.feed(bytes).is_empty());
        let (xid, e) = h.only_error();
        assert_eq!(xid, u32::from_be_bytes(bytes[4..8].try_into().unwrap()));
        assert_eq!(e.code, expected);
        assert_eq!(e.data, &bytes[..bytes.len().min(64)]);
    }
    assert_eq!(
        Message::parse(&barrier).unwrap_err().error_code(),
        ErrorCode::BadRequest(BadRequestCode::BadLen)
    );
    assert!(matches!(
        Message::parse(&fm).unwrap_err().error_code(),
        ErrorCode::BadMatch(_)
    ));
    assert!(h.s.is_established());
}

#[test]
fn bad_framing_closes() {
    // Declared length 4 < 8.
    let mut h = Harness::established();
    let bytes = [4, 14, 0, 4, 0, 0, 0, 0x21];
    assert_eq!(
        h.feed(&bytes),
        vec![Event::Closed(CloseReason::BadFraming { declared: 4 })]
    );
    assert_eq!(
        h.only_error(),
        (
            0x21,
            ErrorMsg::new(ErrorCode::BadRequest(BadRequestCode::BadLen), &bytes)
        )
    );

    // Declared length above the configured maximum.
    let mut h = Harness::with_config(SessionConfig::default().with_max_message_len(1024));
    h.feed(&PEER_HELLO_10_13);
    h.out_bytes();
    assert_eq!(
        h.feed(&[4, 2, 0x04, 0x01, 0, 0, 0, 1, 0, 0]),
        vec![Event::Closed(CloseReason::BadFraming { declared: 1025 })]
    );
    assert_eq!(
        h.only_error().1.code,
        ErrorCode::BadRequest(BadRequestCode::BadLen)
    );
}

#[test]
fn end_of_stream() {
    let mut h = Harness::established();
    let fm = flow_mod(4).to_vec();
    h.s.handle_input(h.now, &fm);
    h.s.handle_input(h.now, &fm[..10]);
    h.s.handle_eof();
    assert_eq!(
        h.events(),
        vec![
            Event::Message(flow_mod(4)),
            Event::Closed(CloseReason::TruncatedAtEof { buffered: 10 })
        ]
    );
    let mut h = Harness::established();
    h.s.handle_eof();
    assert_eq!(h.events(), vec![Event::Closed(CloseReason::PeerClosed)]);
}

// ---------------------------------------------------------- byte splitting

/// A HELLO, then a mix of messages the session handles itself, forwards,
/// and refuses.
fn script() -> Vec<u8> {
    let mut v = PEER_HELLO_10_13.to_vec();
    for m in [
        msg(1, MessageBody::FeaturesRequest),
        msg(2, MessageBody::EchoRequest(b"abc".to_vec())),
        flow_mod(3),
        msg(4, MessageBody::SetAsync(AsyncConfig::default())),
        msg(5, MessageBody::GetAsyncRequest),
        role_request(6, controller_role::MASTER, 1),
        msg(7, MessageBody::BarrierRequest),
    ] {
        v.extend(m.to_vec());
    }
    v.extend([5, 20, 0, 8, 0, 0, 0, 8]); // bad version
    v.extend([4, 31, 0, 9, 0, 0, 0, 9, 0]); // bad type
    v.extend(msg(10, MessageBody::EchoRequest(vec![0x5a; 300])).to_vec());
    v
}

fn run(chunks: &[&[u8]]) -> (Vec<Event>, Vec<u8>) {
    let mut h = Harness::new();
    let mut events = Vec::new();
    for c in chunks {
        events.extend(h.feed(c));
    }
    (events, h.out_bytes())
}

#[test]
fn split_at_every_byte_boundary() {
    let s = script();
    let (events, out) = run(&[&s]);
    assert_eq!(
        events,
        vec![
            Event::Connected,
            Event::Message(msg(1, MessageBody::FeaturesRequest)),
            Event::Message(flow_mod(3)),
            Event::Message(role_request(6, controller_role::MASTER, 1)),
            Event::Message(msg(7, MessageBody::BarrierRequest)),
        ]
    );
    let mut buf = BytesMut::from(&out[..]);
    let mut codec = OfCodec::new();
    let mut types = Vec::new();
    while let Some(f) = codec.decode(&mut buf).unwrap() {
        types.push((f.msg_type(), f.xid()));
    }
    // HELLO, ECHO_REPLY 2, GET_ASYNC_REPLY 5, ERROR 8, ERROR 9, ECHO_REPLY 10.
    assert_eq!(types, [(0, 1), (3, 2), (27, 5), (1, 8), (1, 9), (3, 10)]);
    for i in 0..=s.len() {
        assert_eq!(
            run(&[&s[..i], &s[i..]]),
            (events.clone(), out.clone()),
            "split at {i}"
        );
    }
    let bytes: Vec<&[u8]> = s.chunks(1).collect();
    assert_eq!(run(&bytes), (events, out));
}

proptest! {
    #[test]
    fn random_splits_give_the_same_events(cuts in proptest::collection::vec(0usize..1000, 0..20)) {
        let s = script();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (s.len() + 1)).collect();
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut prev = 0;
        for c in cuts {
            chunks.push(&s[prev..c]);
            prev = c;
        }
        chunks.push(&s[prev..]);
        prop_assert_eq!(run(&chunks), run(&[&s]));
    }
}

// ------------------------------------------------------------ async config

#[test]
fn set_async_filters_packet_in_reasons() {
    let mut h = Harness::established();
    assert_eq!(*h.s.async_config(), DEFAULT_ASYNC_CONFIG);
    assert!(h.s.send_async(&packet_in(packet_in_reason::NO_MATCH)));
    assert!(h.s.send_async(&packet_in(packet_in_reason::INVALID_TTL)));
    assert!(!h.s.send_async(&packet_in(3)), "reason 3 is off by default");
    assert_eq!(h.out().len(), 2);

    let cfg = AsyncConfig {
        packet_in_mask: [
            1 << packet_in_reason::ACTION,
            1 << packet_in_reason::NO_MATCH,
        ],
        port_status_mask: [0, 0],
        flow_removed_mask: [0, 0],
    };
    assert!(h.send(&msg(3, MessageBody::SetAsync(cfg))).is_empty());
    assert!(h.out().is_empty(), "SET_ASYNC has no reply");
    assert!(!h.s.send_async(&packet_in(packet_in_reason::NO_MATCH)));
    assert!(h.s.send_async(&packet_in(packet_in_reason::ACTION)));
    assert!(!h.s.send_async(&port_status(port_reason::ADD)));
    assert_eq!(h.out(), vec![packet_in(packet_in_reason::ACTION)]);

    assert!(h.send(&msg(4, MessageBody::GetAsyncRequest)).is_empty());
    assert_eq!(h.out(), vec![msg(4, MessageBody::GetAsyncReply(cfg))]);

    // As a slave, the second mask applies.
    h.s.set_role(Role::Slave);
    assert!(h.s.send_async(&packet_in(packet_in_reason::NO_MATCH)));
    assert!(!h.s.send_async(&packet_in(packet_in_reason::ACTION)));
    // Reasons beyond the 32-bit mask never pass.
    assert!(!h.s.send_async(&packet_in(200)));
}

#[test]
fn slave_defaults_get_port_status_only() {
    let mut h = Harness::established();
    h.s.set_role(Role::Slave);
    assert!(!h.s.send_async(&packet_in(packet_in_reason::NO_MATCH)));
    assert!(h.s.send_async(&port_status(port_reason::MODIFY)));
    let fr = msg(
        0,
        MessageBody::FlowRemoved(openflow::message::FlowRemoved {
            cookie: 0,
            priority: 0,
            reason: openflow::message::flow_removed_reason::DELETE,
            table_id: 0,
            duration_sec: 0,
            duration_nsec: 0,
            idle_timeout: 0,
            hard_timeout: 0,
            packet_count: 0,
            byte_count: 0,
            match_: Default::default(),
        }),
    );
    assert!(!h.s.send_async(&fr));
    h.s.set_role(Role::Master);
    assert!(h.s.send_async(&fr));
}

#[test]
fn async_messages_wait_for_the_handshake() {
    let mut h = Harness::new();
    assert!(!h.s.send_async(&port_status(port_reason::ADD)));
    assert_eq!(h.s.dropped_async(), 0);
}

#[test]
fn backlog_drops_async_messages_but_not_replies() {
    let mut h = Harness::with_config(SessionConfig::default().with_max_queued_bytes(200));
    h.feed(&PEER_HELLO_10_13);
    h.out_bytes();
    let pi = packet_in(packet_in_reason::NO_MATCH);
    let n = pi.wire_len();
    let fit = 200 / n;
    for _ in 0..fit {
        assert!(h.s.send_async(&pi));
    }
    assert!(!h.s.send_async(&pi));
    assert!(!h.s.send_async(&pi));
    assert_eq!(h.s.dropped_async(), 2);
    assert!(h.s.queued_bytes() <= 200);
    // Replies still go out, beyond the bound.
    assert!(
        h.send(&msg(1, MessageBody::EchoRequest(vec![0; 300])))
            .is_empty()
    );
    h.s.send(&msg(2, MessageBody::BarrierReply)).unwrap();
    assert!(h.s.queued_bytes() > 300);
    let out = h.out();
    assert_eq!(out.len(), fit + 2);
    // Once the controller caught up, async messages flow again.
    assert!(h.s.send_async(&pi));
    assert_eq!(h.s.dropped_async(), 2);
}

// ------------------------------------------------------------------- roles

/// Applies a ROLE_REQUEST event as the switch would.
fn apply_role(
    arbiter: &mut RoleArbiter,
    sessions: &mut [(ConnId, Harness)],
    i: usize,
    req: &Message,
) -> Result<(), RoleError> {
    let MessageBody::RoleRequest(r) = &req.body else {
        panic!("not a role request")
    };
    let conn = sessions[i].0;
    match arbiter.handle_request(conn, r) {
        Ok(outcome) => {
            sessions[i].1.s.set_role(outcome.role);
            sessions[i]
                .1
                .s
                .send(&outcome.reply_message(req.xid))
                .unwrap();
            for d in &outcome.demoted {
                for (c, h) in sessions.iter_mut() {
                    if c == d {
                        h.s.set_role(Role::Slave);
                    }
                }
            }
            Ok(())
        }
        Err(e) => {
            sessions[i].1.s.send_error(req, e.error_code()).unwrap();
            Err(e)
        }
    }
}

#[test]
fn master_election_demotion_and_is_slave() {
    let mut arbiter = RoleArbiter::new();
    let mut sessions = vec![
        (ConnId(1), Harness::established()),
        (ConnId(2), Harness::established()),
    ];
    for (c, _) in &sessions {
        arbiter.add(*c);
    }
    assert_eq!(sessions[0].1.s.role(), Role::Equal);

    // Connection 1 becomes master.
    let req = role_request(11, controller_role::MASTER, 5);
    assert_eq!(sessions[0].1.send(&req), vec![Event::Message(req.clone())]);
    apply_role(&mut arbiter, &mut sessions, 0, &req).unwrap();
    assert_eq!(
        sessions[0].1.out(),
        vec![msg(
            11,
            MessageBody::RoleReply(RoleMsg {
                role: controller_role::MASTER,
                generation_id: 5
            })
        )]
    );

    // Connection 2 takes over: 1 is demoted and its FLOW_MOD refused.
    let req = role_request(12, controller_role::MASTER, 6);
    sessions[1].1.send(&req);
    apply_role(&mut arbiter, &mut sessions, 1, &req).unwrap();
    assert_eq!(sessions[0].1.s.role(), Role::Slave);
    assert_eq!(sessions[1].1.s.role(), Role::Master);
    let fm = flow_mod(13);
    assert!(sessions[0].1.send(&fm).is_empty());
    assert_eq!(
        sessions[0].1.only_error(),
        (
            13,
            ErrorMsg::new(ErrorCode::BadRequest(BadRequestCode::IsSlave), &fm.to_vec())
        )
    );
    // Reads are still allowed for the slave.
    let mp = msg(14, MessageBody::FeaturesRequest);
    assert_eq!(sessions[0].1.send(&mp), vec![Event::Message(mp.clone())]);
    assert_eq!(sessions[1].1.send(&fm), vec![Event::Message(fm.clone())]);

    // A stale request from 1 is refused and changes nothing.
    let req = role_request(15, controller_role::MASTER, 4);
    sessions[0].1.send(&req);
    assert!(matches!(
        apply_role(&mut arbiter, &mut sessions, 0, &req),
        Err(RoleError::Stale {
            generation_id: 4,
            cached: 6
        })
    ));
    let (xid, e) = sessions[0].1.only_error();
    assert_eq!(xid, 15);
    assert_eq!(
        e.code,
        ErrorCode::RoleRequestFailed(RoleRequestFailedCode::Stale)
    );
    assert_eq!(sessions[0].1.s.role(), Role::Slave);

    // NOCHANGE reports the role and the cached generation id.
    let req = role_request(16, controller_role::NOCHANGE, 0);
    sessions[0].1.send(&req);
    apply_role(&mut arbiter, &mut sessions, 0, &req).unwrap();
    assert_eq!(
        sessions[0].1.out(),
        vec![msg(
            16,
            MessageBody::RoleReply(RoleMsg {
                role: controller_role::SLAVE,
                generation_id: 6
            })
        )]
    );

    // An unknown role value.
    let req = role_request(17, 9, 0);
    sessions[0].1.send(&req);
    assert!(apply_role(&mut arbiter, &mut sessions, 0, &req).is_err());
    assert_eq!(
        sessions[0].1.only_error().1.code,
        ErrorCode::RoleRequestFailed(RoleRequestFailedCode::BadRole)
    );
}

#[test]
fn role_change_applies_to_the_very_next_message() {
    // ROLE_REQUEST(SLAVE) and a FLOW_MOD arrive in one segment: the FLOW_MOD
    // must be checked against the new role.
    let mut arbiter = RoleArbiter::new();
    let mut sessions = vec![(ConnId(1), Harness::established())];
    let req = role_request(1, controller_role::SLAVE, 0);
    let mut bytes = req.to_vec();
    bytes.extend(flow_mod(2).to_vec());
    let h = &mut sessions[0].1;
    h.s.handle_input(h.now, &bytes);
    assert_eq!(h.s.poll_event(), Some(Event::Message(req.clone())));
    apply_role(&mut arbiter, &mut sessions, 0, &req).unwrap();
    let h = &mut sessions[0].1;
    assert_eq!(h.s.poll_event(), None);
    let out = h.out();
    assert_eq!(out.len(), 2);
    assert!(matches!(out[0].body, MessageBody::RoleReply(_)));
    assert!(matches!(
        &out[1].body,
        MessageBody::Error(e) if e.code == ErrorCode::BadRequest(BadRequestCode::IsSlave)
    ));
}

#[test]
fn check_modify_covers_the_state_changing_messages() {
    let mut h = Harness::established();
    h.s.set_role(Role::Slave);
    let is_slave = Err(ErrorCode::BadRequest(BadRequestCode::IsSlave));
    let exp = |exp_type| {
        msg(
            1,
            MessageBody::Experimenter(ExperimenterMsg {
                experimenter: OKO_EXPERIMENTER,
                exp_type,
                data: Vec::new(),
            }),
        )
    };
    let table_features = |tables: Vec<TableFeatures>| {
        msg(
            1,
            MessageBody::MultipartRequest(MultipartRequest {
                flags: 0,
                body: MultipartRequestBody::TableFeatures(tables),
            }),
        )
    };
    let set_tables = table_features(vec![TableFeatures {
        table_id: 0,
        name: FixedStr::new("t0"),
        metadata_match: 0,
        metadata_write: 0,
        config: 0,
        max_entries: 10,
        properties: Vec::new(),
    }]);
    for m in [
        flow_mod(1),
        set_tables,
        msg(
            1,
            MessageBody::PacketOut(PacketOut::new(1, Vec::new(), Vec::new())),
        ),
        exp(exp_type::PROG_LOAD),
        exp(exp_type::PROG_UNLOAD),
        exp(exp_type::MAP_UPDATE),
        exp(exp_type::MAP_DELETE),
    ] {
        assert_eq!(h.s.check_modify(&m), is_slave, "{m:?}");
    }
    for m in [
        msg(1, MessageBody::BarrierRequest),
        table_features(Vec::new()),
        role_request(1, controller_role::MASTER, 0),
        exp(exp_type::MAP_DUMP),
        msg(
            1,
            MessageBody::Experimenter(ExperimenterMsg {
                experimenter: 0x2320,
                exp_type: 1,
                data: Vec::new(),
            }),
        ),
    ] {
        assert_eq!(h.s.check_modify(&m), Ok(()), "{m:?}");
    }
    h.s.set_role(Role::Equal);
    assert_eq!(h.s.check_modify(&flow_mod(1)), Ok(()));
}

// ------------------------------------------------------------------ output

#[test]
fn send_and_close() {
    let mut h = Harness::established();
    let a = h.s.next_xid();
    let b = h.s.next_xid();
    assert_ne!(a, b);
    h.s.send(&msg(a, MessageBody::BarrierReply)).unwrap();
    assert!(matches!(
        h.s.send(&msg(1, MessageBody::EchoReply(vec![0; 65536]))),
        Err(agent::session::SendError::TooLong {
            len: 65544,
            max: 65535
        })
    ));
    h.s.close();
    assert!(h.s.is_closed());
    assert_eq!(h.events(), vec![Event::Closed(CloseReason::Local)]);
    // Output queued before the close is still delivered.
    assert_eq!(h.out(), vec![msg(a, MessageBody::BarrierReply)]);
    assert_eq!(
        h.s.send(&msg(b, MessageBody::BarrierReply)),
        Err(agent::session::SendError::Closed)
    );
    h.s.close();
    assert!(h.events().is_empty(), "Closed is emitted once");
}
