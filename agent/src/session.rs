//! One OpenFlow 1.3 controller connection, sans-IO.
//!
//! A [`Session`] is the protocol state of one connection between the switch
//! and a controller: the HELLO handshake, keepalive, the per-connection role
//! and asynchronous-message configuration, transaction ids, and the answers a
//! switch gives without consulting its flow tables (echo, errors for
//! malformed messages). It does no I/O and reads no clock. As in quinn-proto,
//! bytes and time go in, and messages, events and timer deadlines come out,
//! so the whole state machine is deterministic and is tested by driving it
//! against a scripted controller with virtual time.
//!
//! ## The driver's contract
//!
//! The thin tokio layer around a session loops over:
//!
//! 1. bytes read from the socket → [`Session::handle_input`]; end of stream →
//!    [`Session::handle_eof`];
//! 2. [`Session::poll_event`] until it returns `None`, handing each
//!    [`Event::Message`] to the switch model (which answers through
//!    [`Session::send`], [`Session::send_error`] and, for its own
//!    PACKET_IN/PORT_STATUS/FLOW_REMOVED, [`Session::send_async`]);
//! 3. [`Session::poll_transmit`] until `None`, writing each chunk out
//!    completely before taking the next one, so that what the session still
//!    holds ([`Session::queued_bytes`]) measures how far the controller is
//!    behind;
//! 4. sleep until [`Session::poll_timeout`], then [`Session::handle_timeout`].
//!
//! After [`Event::Closed`] the driver still flushes `poll_transmit` (the
//! last message is often the ERROR explaining the close), then drops the
//! socket.
//!
//! ## Messages are decoded lazily, in order
//!
//! `handle_input` only buffers bytes (and notes that the peer is alive);
//! frames are decoded and acted on one at a time inside `poll_event`. This is
//! deliberate: the answer to a message can depend on what the switch did with
//! the previous one. A ROLE_REQUEST(SLAVE) followed in the same TCP segment
//! by a FLOW_MOD must see that FLOW_MOD refused with IS_SLAVE; since the role
//! change is applied by the caller ([`crate::role::RoleArbiter`] then
//! [`Session::set_role`]) between two `poll_event` calls, decoding eagerly
//! would check the FLOW_MOD against the old role. The price is that input
//! sits in the session until the caller polls; a driver that stops polling
//! should stop reading too.
//!
//! ## Handshake (§6.3.1)
//!
//! [`Session::new`] queues our HELLO: version 0x04 with a version bitmap
//! holding only 1.3. The peer's HELLO is accepted when its bitmap has bit 4
//! or, without a bitmap, when its header version is at least 0x04 (both sides
//! then use the lower version, ours). A HELLO whose elements do not parse is
//! judged on its header version alone, as Open vSwitch does (it logs "unknown
//! data in hello" and carries on). Without a common version the session sends
//! HELLO_FAILED/INCOMPATIBLE with an ASCII explanation in the style of OVS
//! (`We support OpenFlow13, you support OpenFlow10, no common versions.`)
//! and closes. That one error carries the *peer's* highest version in its
//! header instead of 0x04: `ofp_error_msg` has the same layout in every
//! version, and a 1.0-only controller would discard a 0x04 message unread.
//!
//! A message other than HELLO before the peer's HELLO is a protocol
//! violation. Open vSwitch drops the connection ("received message while
//! expecting hello"); we do the same after answering BAD_REQUEST/BAD_TYPE
//! (xid echoed, message in the data) so that the controller's log says why.
//! We do not treat it as an implicit HELLO: version negotiation would then
//! rest on a guess. A handshake that does not finish within
//! [`SessionConfig::handshake_timeout`] closes the session.
//!
//! ## After the handshake (§7)
//!
//! Checked in this order for every frame, none of them closing the
//! connection:
//!
//! 1. header version not 0x04 → BAD_REQUEST/BAD_VERSION;
//! 2. a type only a switch sends (HELLO again, FEATURES_REPLY, PACKET_IN,
//!    MULTIPART_REPLY, ROLE_REPLY, …) → BAD_REQUEST/BAD_TYPE, before the body
//!    is looked at, as in Open vSwitch;
//! 3. the body does not parse → the exact code of the
//!    [`openflow::ParseError`] (unknown type → BAD_TYPE, bad lengths →
//!    the element's BAD_LEN, …);
//! 4. a state-changing message from a SLAVE → BAD_REQUEST/IS_SLAVE
//!    ([`Session::check_modify`]).
//!
//! Every error echoes the request's xid and carries the request (at least
//! its first 64 bytes, as the spec asks; the whole of it when it fits).
//! ECHO_REQUEST, ECHO_REPLY, SET_ASYNC and GET_ASYNC_REQUEST are handled
//! here; everything else (including ERRORs from the controller, which are
//! never answered, to avoid error ping-pong) becomes [`Event::Message`].
//!
//! A framing error — a declared length below 8 or above
//! [`SessionConfig::max_message_len`] — cannot be recovered from: the session
//! answers BAD_REQUEST/BAD_LEN (data: the 8-byte header) and closes. The
//! header is only examined once all 8 bytes are there, so the answer does not
//! depend on how the bytes were split.
//!
//! ## Keepalive
//!
//! When nothing has been received for [`SessionConfig::echo_interval`] the
//! session sends an ECHO_REQUEST; if nothing arrives within another interval
//! after that, it closes with [`CloseReason::EchoTimeout`]. Any received byte
//! counts as a sign of life, not only ECHO_REPLY (Open vSwitch's rconn does
//! the same), so a controller busy sending a long stream is never probed.
//!
//! ## Roles and asynchronous messages (§6.3.5, §7.3.10)
//!
//! The session caches its role (EQUAL until told otherwise) and its
//! [`AsyncConfig`], initially [`DEFAULT_ASYNC_CONFIG`] (Open vSwitch's
//! defaults). [`Session::send_async`] drops PACKET_IN, PORT_STATUS and
//! FLOW_REMOVED messages whose reason is not enabled for the role, and drops
//! (and counts, [`Session::dropped_async`]) any asynchronous message that
//! would push the output queue over [`SessionConfig::max_queued_bytes`]. Replies
//! ([`Session::send`]) are never dropped: a controller waiting for one would
//! otherwise wait forever. Passive and active connections behave
//! identically; the session does not know which one it is.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ofext_filter::wire::{OKO_EXPERIMENTER, exp_type};
use openflow::error::{BadRequestCode, ErrorCode, HelloFailedCode, error_data};
use openflow::message::{
    AsyncConfig, ErrorMsg, Hello, OFP_HEADER_LEN, OFP_MAX_MSG_LEN, OFP_VERSION, msg_type,
};
use openflow::multipart::MultipartRequestBody;
use openflow::{Frame, FrameError, Message, MessageBody, OfCodec};
use tokio_util::codec::Decoder;

use crate::role::Role;

/// Default [`SessionConfig::echo_interval`]: 5 s, as Open vSwitch's
/// `inactivity_probe` default.
pub const DEFAULT_ECHO_INTERVAL: Duration = Duration::from_secs(5);

/// Default [`SessionConfig::handshake_timeout`]: 10 s.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Default [`SessionConfig::max_queued_bytes`]: 1 MiB.
pub const DEFAULT_MAX_QUEUED_BYTES: usize = 1 << 20;

/// The asynchronous configuration a connection starts with (Open vSwitch's
/// defaults): MASTER/EQUAL get PACKET_IN for NO_MATCH, ACTION and
/// INVALID_TTL, every PORT_STATUS and every FLOW_REMOVED; SLAVE gets every
/// PORT_STATUS and nothing else.
pub const DEFAULT_ASYNC_CONFIG: AsyncConfig = AsyncConfig {
    packet_in_mask: [0b111, 0],
    port_status_mask: [0b111, 0b111],
    flow_removed_mask: [0b1111, 0],
};

/// Tunables of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionConfig {
    /// Idle time after which an ECHO_REQUEST is sent, and the time the peer
    /// then has to show a sign of life. `None` disables keepalive.
    pub echo_interval: Option<Duration>,
    /// Time from [`Session::new`] within which the peer's HELLO must arrive.
    pub handshake_timeout: Duration,
    /// Largest incoming message accepted (clamped to 8…65535, see
    /// [`OfCodec::with_max_len`]); a longer declared length closes the
    /// connection.
    pub max_message_len: usize,
    /// Output backlog above which asynchronous messages are dropped.
    pub max_queued_bytes: usize,
}

impl SessionConfig {
    /// Sets [`SessionConfig::echo_interval`] (`None` disables keepalive).
    #[must_use]
    pub fn with_echo_interval(mut self, interval: Option<Duration>) -> Self {
        self.echo_interval = interval;
        self
    }

    /// Sets [`SessionConfig::handshake_timeout`].
    #[must_use]
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets [`SessionConfig::max_message_len`].
    #[must_use]
    pub fn with_max_message_len(mut self, len: usize) -> Self {
        self.max_message_len = len;
        self
    }

    /// Sets [`SessionConfig::max_queued_bytes`].
    #[must_use]
    pub fn with_max_queued_bytes(mut self, bytes: usize) -> Self {
        self.max_queued_bytes = bytes;
        self
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            echo_interval: Some(DEFAULT_ECHO_INTERVAL),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            max_message_len: OFP_MAX_MSG_LEN,
            max_queued_bytes: DEFAULT_MAX_QUEUED_BYTES,
        }
    }
}

/// Something the caller must act on, from [`Session::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The handshake completed; OpenFlow 1.3 was negotiated.
    Connected,
    /// A well-formed message for the switch model to handle.
    Message(Message),
    /// The session is closed (emitted once, always the last event).
    Closed(CloseReason),
}

/// Why a session closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CloseReason {
    /// [`Session::close`] was called.
    #[error("closed locally")]
    Local,
    /// The peer closed the stream between messages.
    #[error("peer closed the connection")]
    PeerClosed,
    /// The peer closed the stream in the middle of a message.
    #[error("peer closed the connection inside a message ({buffered} bytes buffered)")]
    TruncatedAtEof {
        /// Bytes of the incomplete message.
        buffered: usize,
    },
    /// The peer's HELLO did not arrive in time.
    #[error("no HELLO within the handshake timeout")]
    HandshakeTimeout,
    /// The peer did not answer an ECHO_REQUEST in time.
    #[error("echo timeout: peer unresponsive")]
    EchoTimeout,
    /// The peer does not speak OpenFlow 1.3.
    #[error("no common OpenFlow version (peer supports {peer_versions:?})")]
    IncompatibleVersion {
        /// The wire versions the peer announced (from its bitmap, or every
        /// version up to its header version).
        peer_versions: Vec<u8>,
    },
    /// The peer's first message was not a HELLO.
    #[error("message type {msg_type} received before HELLO")]
    NoHello {
        /// The type of that message.
        msg_type: u8,
    },
    /// A header declared a length the stream cannot be resynchronised after.
    #[error("unrecoverable framing error: declared length {declared}")]
    BadFraming {
        /// The declared length.
        declared: usize,
    },
}

/// Why [`Session::send`] refused a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The session is closed.
    #[error("session is closed")]
    Closed,
    /// The message does not fit the 16-bit length field.
    #[error("message of {len} bytes exceeds the maximum {max}")]
    TooLong {
        /// Its encoded length.
        len: usize,
        /// The maximum (65535).
        max: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitingHello,
    Established,
    Closed,
}

/// The protocol state of one controller connection. See the module
/// documentation.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    codec: OfCodec,
    state: State,
    /// Received bytes not yet decoded (see "decoded lazily").
    inbuf: BytesMut,
    /// The stream ended; close once `inbuf` has no complete frame left.
    eof: bool,
    /// Encoded messages not yet taken by `poll_transmit`.
    out: BytesMut,
    events: VecDeque<Event>,
    close_reason: Option<CloseReason>,

    role: Role,
    async_config: AsyncConfig,
    dropped_async: u64,
    next_xid: u32,

    started: Instant,
    /// Last time any byte arrived.
    last_rx: Instant,
    /// When the outstanding keepalive ECHO_REQUEST was sent.
    probe_sent_at: Option<Instant>,
}

impl Session {
    /// A new session whose connection was established at `now`; our HELLO
    /// is queued for transmission.
    pub fn new(config: SessionConfig, now: Instant) -> Session {
        let codec = OfCodec::with_max_len(config.max_message_len);
        let mut s = Session {
            config,
            codec,
            state: State::AwaitingHello,
            inbuf: BytesMut::new(),
            eof: false,
            out: BytesMut::new(),
            events: VecDeque::new(),
            close_reason: None,
            role: Role::Equal,
            async_config: DEFAULT_ASYNC_CONFIG,
            dropped_async: 0,
            next_xid: 1,
            started: now,
            last_rx: now,
            probe_sent_at: None,
        };
        let xid = s.next_xid();
        s.queue(&Message::new(xid, MessageBody::Hello(Hello::standard())));
        s
    }

    /// The configuration in force.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    // ----------------------------------------------------------------- input

    /// Bytes received from the peer at `now`. They are decoded by
    /// [`Session::poll_event`]. Ignored once the session is closed or the
    /// stream has ended.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) {
        if self.state == State::Closed || self.eof || data.is_empty() {
            return;
        }
        self.inbuf.extend_from_slice(data);
        self.last_rx = now;
        self.probe_sent_at = None;
    }

    /// The peer closed its side of the stream. Complete messages still
    /// buffered are processed by [`Session::poll_event`], then the session
    /// closes ([`CloseReason::PeerClosed`] or
    /// [`CloseReason::TruncatedAtEof`]).
    pub fn handle_eof(&mut self) {
        self.eof = true;
    }

    /// The next event, decoding buffered input as needed (one message at a
    /// time, see the module documentation). `None` when there is nothing to
    /// do until more input arrives or a timer fires.
    pub fn poll_event(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.events.pop_front() {
                return Some(e);
            }
            if self.state == State::Closed {
                return None;
            }
            match self.next_frame() {
                Ok(Some(frame)) => self.on_frame(frame),
                Ok(None) if self.eof => {
                    let reason = if self.inbuf.is_empty() {
                        CloseReason::PeerClosed
                    } else {
                        CloseReason::TruncatedAtEof {
                            buffered: self.inbuf.len(),
                        }
                    };
                    self.close_with(reason);
                }
                Ok(None) => return None,
                Err(e) => self.on_frame_error(&e),
            }
        }
    }

    /// The next complete frame. The codec is only asked once a whole header
    /// is buffered, so that a framing error always sees the xid.
    fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.inbuf.len() < OFP_HEADER_LEN {
            return Ok(None);
        }
        self.codec.decode(&mut self.inbuf)
    }

    fn on_frame_error(&mut self, e: &FrameError) {
        let header = self.inbuf.get(..OFP_HEADER_LEN).unwrap_or(&[]);
        let xid = header
            .get(4..8)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map_or(0, u32::from_be_bytes);
        let code = e
            .error_code()
            .unwrap_or(ErrorCode::BadRequest(BadRequestCode::BadLen));
        let reply = Message::new(xid, MessageBody::Error(ErrorMsg::new(code, header)));
        self.queue(&reply);
        let declared = match *e {
            FrameError::TooShort { declared, .. } | FrameError::TooLong { declared, .. } => {
                declared
            }
            _ => 0,
        };
        self.close_with(CloseReason::BadFraming { declared });
    }

    fn on_frame(&mut self, frame: Frame) {
        match self.state {
            State::AwaitingHello => self.on_frame_awaiting_hello(&frame),
            State::Established => self.on_frame_established(&frame),
            State::Closed => {}
        }
    }

    fn on_frame_awaiting_hello(&mut self, frame: &Frame) {
        if frame.msg_type() != msg_type::HELLO {
            self.queue_error(frame, ErrorCode::BadRequest(BadRequestCode::BadType));
            self.close_with(CloseReason::NoHello {
                msg_type: frame.msg_type(),
            });
            return;
        }
        let hello = match frame.parse() {
            Ok(Message {
                body: MessageBody::Hello(h),
                ..
            }) => h,
            // Malformed elements: judge by the header version (as OVS).
            _ => Hello {
                version: frame.version(),
                elements: Vec::new(),
            },
        };
        if hello.supports_of13() {
            self.state = State::Established;
            self.events.push_back(Event::Connected);
            return;
        }
        let peer_versions = peer_versions(&hello);
        let text = format!(
            "We support {}, you support {}, no common versions.",
            version_names(&[OFP_VERSION]),
            version_names(&peer_versions)
        );
        let err = Message::new(
            frame.xid(),
            MessageBody::Error(ErrorMsg::with_text(
                ErrorCode::HelloFailed(HelloFailedCode::Incompatible),
                &text,
            )),
        );
        let start = self.out.len();
        self.queue(&err);
        // In the peer's own version, so that it can read it (module docs).
        let version = peer_versions.last().copied().unwrap_or(hello.version);
        if let Some(b) = self.out.get_mut(start) {
            *b = version;
        }
        self.close_with(CloseReason::IncompatibleVersion { peer_versions });
    }

    fn on_frame_established(&mut self, frame: &Frame) {
        if frame.version() != OFP_VERSION {
            self.queue_error(frame, ErrorCode::BadRequest(BadRequestCode::BadVersion));
            return;
        }
        if is_switch_to_controller(frame.msg_type()) {
            self.queue_error(frame, ErrorCode::BadRequest(BadRequestCode::BadType));
            return;
        }
        let msg = match frame.parse() {
            Ok(msg) => msg,
            Err(e) => {
                self.queue_error(frame, e.error_code());
                return;
            }
        };
        match msg.body {
            MessageBody::EchoRequest(data) => {
                self.queue(&Message::new(msg.xid, MessageBody::EchoReply(data)));
            }
            // Liveness was refreshed when the bytes arrived.
            MessageBody::EchoReply(_) => {}
            MessageBody::SetAsync(cfg) => self.async_config = cfg,
            MessageBody::GetAsyncRequest => {
                let reply = MessageBody::GetAsyncReply(self.async_config);
                self.queue(&Message::new(msg.xid, reply));
            }
            _ => match self.check_modify(&msg) {
                Ok(()) => self.events.push_back(Event::Message(msg)),
                Err(code) => self.queue_error(frame, code),
            },
        }
    }

    // ---------------------------------------------------------------- timers

    /// The next instant at which [`Session::handle_timeout`] must be called,
    /// or `None` when no timer runs (closed, or keepalive disabled).
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Closed => None,
            State::AwaitingHello => self.started.checked_add(self.config.handshake_timeout),
            State::Established => {
                let interval = self.config.echo_interval?;
                self.probe_sent_at
                    .unwrap_or(self.last_rx)
                    .checked_add(interval)
            }
        }
    }

    /// Runs the timers due at `now`: the handshake timeout, sending a
    /// keepalive ECHO_REQUEST, closing after an unanswered one. Calling it
    /// early is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(deadline) = self.poll_timeout() else {
            return;
        };
        if now < deadline {
            return;
        }
        match self.state {
            State::Closed => {}
            State::AwaitingHello => self.close_with(CloseReason::HandshakeTimeout),
            State::Established if self.probe_sent_at.is_some() => {
                self.close_with(CloseReason::EchoTimeout);
            }
            State::Established => {
                let xid = self.next_xid();
                self.queue(&Message::new(xid, MessageBody::EchoRequest(Vec::new())));
                self.probe_sent_at = Some(now);
            }
        }
    }

    // ---------------------------------------------------------------- output

    /// Everything queued for the peer, as one chunk; `None` when nothing is.
    /// Write each chunk completely before taking the next (module docs).
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        if self.out.is_empty() {
            return None;
        }
        Some(self.out.split().freeze())
    }

    /// Bytes queued and not yet taken by [`Session::poll_transmit`].
    pub fn queued_bytes(&self) -> usize {
        self.out.len()
    }

    /// Queues any message (a reply, or a switch-initiated message that must
    /// not be filtered). Replies are never dropped for backlog.
    pub fn send(&mut self, msg: &Message) -> Result<(), SendError> {
        if self.state == State::Closed {
            return Err(SendError::Closed);
        }
        let len = msg.wire_len();
        if len > OFP_MAX_MSG_LEN {
            return Err(SendError::TooLong {
                len,
                max: OFP_MAX_MSG_LEN,
            });
        }
        self.queue(msg);
        Ok(())
    }

    /// Queues an ERROR answering `request`: its xid, and the request itself
    /// (re-encoded) as data.
    pub fn send_error(&mut self, request: &Message, code: ErrorCode) -> Result<(), SendError> {
        let bytes = request.to_vec();
        let err = Message::new(request.xid, MessageBody::Error(ErrorMsg::new(code, &bytes)));
        self.send(&err)
    }

    /// Queues an asynchronous message if the connection wants it
    /// ([`Session::wants_async`]) and the output backlog allows; returns
    /// whether it was queued. Messages refused for backlog are counted
    /// ([`Session::dropped_async`]). Nothing is sent before the handshake
    /// completes.
    pub fn send_async(&mut self, msg: &Message) -> bool {
        if self.state != State::Established || !self.wants_async(msg) {
            return false;
        }
        if self.out.len().saturating_add(msg.wire_len()) > self.config.max_queued_bytes {
            self.dropped_async += 1;
            return false;
        }
        self.send(msg).is_ok()
    }

    /// Whether the role and asynchronous configuration let `msg` through:
    /// PACKET_IN, PORT_STATUS and FLOW_REMOVED need their reason's bit in
    /// the mask for the role; any other message passes.
    pub fn wants_async(&self, msg: &Message) -> bool {
        let i = self.role.async_index();
        let c = &self.async_config;
        let (mask, reason) = match &msg.body {
            MessageBody::PacketIn(p) => (c.packet_in_mask[i], p.reason),
            MessageBody::PortStatus(p) => (c.port_status_mask[i], p.reason),
            MessageBody::FlowRemoved(f) => (c.flow_removed_mask[i], f.reason),
            _ => return true,
        };
        1u32.checked_shl(u32::from(reason))
            .is_some_and(|bit| mask & bit != 0)
    }

    /// Asynchronous messages dropped because the output backlog was over
    /// [`SessionConfig::max_queued_bytes`].
    pub fn dropped_async(&self) -> u64 {
        self.dropped_async
    }

    /// A fresh transaction id for a switch-initiated message (never 0).
    pub fn next_xid(&mut self) -> u32 {
        let xid = self.next_xid;
        self.next_xid = xid.wrapping_add(1).max(1);
        xid
    }

    fn queue(&mut self, msg: &Message) {
        msg.emit(&mut self.out);
    }

    /// Answers a received frame with an error (xid echoed, the frame as data).
    fn queue_error(&mut self, frame: &Frame, code: ErrorCode) {
        let err = ErrorMsg::new(code, error_data(frame.as_bytes()));
        self.queue(&Message::new(frame.xid(), MessageBody::Error(err)));
    }

    // --------------------------------------------------------- roles, state

    /// The connection's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Sets the role (after a [`crate::role::RoleArbiter`] decision about
    /// this connection or a demotion caused by another one).
    pub fn set_role(&mut self, role: Role) {
        self.role = role;
    }

    /// The asynchronous configuration in force.
    pub fn async_config(&self) -> &AsyncConfig {
        &self.async_config
    }

    /// Whether `msg` may be executed given the role: a SLAVE may not send
    /// messages that change switch state (§6.3.5: PACKET_OUT, FLOW_MOD,
    /// GROUP_MOD, PORT_MOD, TABLE_MOD, METER_MOD, TABLE_FEATURES requests
    /// with a body, and the filter extension's PROG_LOAD, PROG_UNLOAD,
    /// MAP_UPDATE and MAP_DELETE) → BAD_REQUEST/IS_SLAVE. Applied by the
    /// session itself before [`Event::Message`] is emitted.
    pub fn check_modify(&self, msg: &Message) -> Result<(), ErrorCode> {
        if self.role != Role::Slave {
            return Ok(());
        }
        let modifies = match &msg.body {
            MessageBody::PacketOut(_)
            | MessageBody::FlowMod(_)
            | MessageBody::GroupMod(_)
            | MessageBody::PortMod(_)
            | MessageBody::TableMod(_)
            | MessageBody::MeterMod(_) => true,
            MessageBody::MultipartRequest(m) => {
                matches!(&m.body, MultipartRequestBody::TableFeatures(t) if !t.is_empty())
            }
            MessageBody::Experimenter(e) => {
                e.experimenter == OKO_EXPERIMENTER
                    && matches!(
                        e.exp_type,
                        exp_type::PROG_LOAD
                            | exp_type::PROG_UNLOAD
                            | exp_type::MAP_UPDATE
                            | exp_type::MAP_DELETE
                    )
            }
            _ => false,
        };
        if modifies {
            Err(ErrorCode::BadRequest(BadRequestCode::IsSlave))
        } else {
            Ok(())
        }
    }

    /// Whether the handshake completed and the session is not closed.
    pub fn is_established(&self) -> bool {
        self.state == State::Established
    }

    /// Whether the session is closed (queued output may remain to flush).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Why the session closed, once it has.
    pub fn close_reason(&self) -> Option<&CloseReason> {
        self.close_reason.as_ref()
    }

    /// Closes the session ([`CloseReason::Local`]); already queued output
    /// stays available to [`Session::poll_transmit`].
    pub fn close(&mut self) {
        self.close_with(CloseReason::Local);
    }

    fn close_with(&mut self, reason: CloseReason) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        self.inbuf = BytesMut::new();
        self.close_reason = Some(reason.clone());
        self.events.push_back(Event::Closed(reason));
    }
}

/// Types only a switch sends; a controller sending one gets BAD_TYPE. HELLO
/// is among them once the handshake is over.
fn is_switch_to_controller(t: u8) -> bool {
    use msg_type as m;
    matches!(
        t,
        m::HELLO
            | m::FEATURES_REPLY
            | m::GET_CONFIG_REPLY
            | m::PACKET_IN
            | m::FLOW_REMOVED
            | m::PORT_STATUS
            | m::MULTIPART_REPLY
            | m::BARRIER_REPLY
            | m::QUEUE_GET_CONFIG_REPLY
            | m::ROLE_REPLY
            | m::GET_ASYNC_REPLY
    )
}

/// The versions a peer announced, ascending: its bitmap, or without one
/// every version from 1.0 up to its header version.
fn peer_versions(hello: &Hello) -> Vec<u8> {
    match hello.version_bitmap() {
        Some(_) => (1..=u8::MAX)
            .filter(|&v| hello.supports_version(v))
            .collect(),
        None => (1..=hello.version).collect(),
    }
}

/// `OpenFlow10, OpenFlow13` style names, as in OVS's messages.
fn version_names(versions: &[u8]) -> String {
    if versions.is_empty() {
        return "no version".to_owned();
    }
    versions
        .iter()
        .map(|&v| match v {
            1..=6 => format!("OpenFlow1{}", v - 1),
            _ => format!("{v:#04x}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_texts() {
        assert_eq!(version_names(&[4]), "OpenFlow13");
        assert_eq!(version_names(&[1, 2, 7]), "OpenFlow10, OpenFlow11, 0x07");
        assert_eq!(version_names(&[]), "no version");
        let h = Hello {
            version: 3,
            elements: Vec::new(),
        };
        assert_eq!(peer_versions(&h), vec![1, 2, 3]);
        let h = Hello {
            version: 6,
            elements: vec![openflow::message::HelloElement::version_bitmap(&[1, 5, 6])],
        };
        assert_eq!(peer_versions(&h), vec![1, 5, 6]);
    }

    #[test]
    fn switch_to_controller_types() {
        for t in 0..=msg_type::MAX {
            let expected = matches!(t, 0 | 6 | 8 | 10 | 11 | 12 | 19 | 21 | 23 | 25 | 27);
            assert_eq!(is_switch_to_controller(t), expected, "type {t}");
        }
    }

    #[test]
    fn xids_skip_zero() {
        let mut s = Session::new(SessionConfig::default(), Instant::now());
        s.next_xid = u32::MAX;
        assert_eq!(s.next_xid(), u32::MAX);
        assert_eq!(s.next_xid(), 1);
    }

    #[test]
    fn timers_with_huge_durations_do_not_panic() {
        let now = Instant::now();
        let c = SessionConfig::default().with_handshake_timeout(Duration::MAX);
        let mut s = Session::new(c, now);
        assert_eq!(s.poll_timeout(), None);
        s.handle_timeout(now);
        assert!(!s.is_closed());
    }

    #[test]
    fn default_async_config_matches_ovs() {
        use openflow::message::{
            flow_removed_reason as fr, packet_in_reason as pr, port_reason as ps,
        };
        let c = DEFAULT_ASYNC_CONFIG;
        assert_eq!(
            c.packet_in_mask[0],
            1 << pr::NO_MATCH | 1 << pr::ACTION | 1 << pr::INVALID_TTL
        );
        assert_eq!(c.packet_in_mask[1], 0);
        let all_ports = 1 << ps::ADD | 1 << ps::DELETE | 1 << ps::MODIFY;
        assert_eq!(c.port_status_mask, [all_ports, all_ports]);
        assert_eq!(
            c.flow_removed_mask,
            [
                1 << fr::IDLE_TIMEOUT
                    | 1 << fr::HARD_TIMEOUT
                    | 1 << fr::DELETE
                    | 1 << fr::GROUP_DELETE,
                0
            ]
        );
    }
}
