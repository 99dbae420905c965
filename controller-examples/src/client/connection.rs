//! [`Connection`]: one OpenFlow 1.3 session with a switch, shared by any
//! number of tasks.
//!
//! ## Tasks and ownership
//!
//! After the handshake the framed stream is split in two halves, each owned
//! by one background task:
//!
//! - the **writer** drains a bounded queue of already-encoded frames
//!   (encoding happens in the caller, so "message too long" is the caller's
//!   error, not the connection's), batching whatever is queued into one
//!   flush;
//! - the **reader** parses every frame and routes it: ECHO_REQUEST is
//!   answered on the spot; a message whose xid belongs to a pending request
//!   completes that request (multipart parts are gathered until one arrives
//!   without `OFPMPF_REPLY_MORE`); everything else — PACKET_IN,
//!   PORT_STATUS, FLOW_REMOVED, errors for fire-and-forget messages, late
//!   replies — is broadcast to subscribers.
//!
//! The pending table and the `closed` flag live under one mutex so that a
//! request can never be registered after the reader has failed everything
//! with [`ClientError::Closed`]: it either sees `closed` and fails at once,
//! or is in the table when the reader drains it.
//!
//! ## Ordering
//!
//! The switch answers in order and the reader routes in order, which is what
//! [`Connection::send_checked`] relies on: when the BARRIER_REPLY has been
//! routed, any error for the message sent before the barrier has already
//! been delivered to its waiter.
//!
//! ## Shutdown
//!
//! The tasks stop when the peer closes, on a transport error, on
//! [`Connection::close`], or when the last clone of the `Connection` is
//! dropped (frames already queued are still written). Every pending request
//! then fails with [`ClientError::Closed`], as does every later one, and
//! subscribers see [`SubscriptionError::Closed`] once they have read what
//! was delivered before.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use openflow::error::{ErrorCode, HelloFailedCode};
use openflow::message::{ErrorMsg, Hello, Message, MessageBody, SwitchFeatures, msg_type_name};
use openflow::multipart::{
    MultipartReply, MultipartRequest, MultipartRequestBody, OFPMPF_REPLY_MORE,
};
use openflow::{Frame, OfCodec};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_util::codec::Framed;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::error::{ClientError, ConnectError};
use super::target::Target;
use super::tls::TlsConfig;

/// Settings for connections and listeners.
///
/// `#[non_exhaustive]`: start from [`ClientOptions::default`] and set fields
/// or use the `with_*` methods.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientOptions {
    /// How long a request waits for its reply (default 10 s).
    pub request_timeout: Duration,
    /// How long connecting plus the TLS and OpenFlow handshakes may take
    /// (default 10 s).
    pub handshake_timeout: Duration,
    /// Asynchronous messages buffered per subscriber before the oldest are
    /// dropped (default 4096); a subscriber that falls behind is told how
    /// many it missed.
    pub event_capacity: usize,
    /// Encoded messages queued for the writer before senders wait (default
    /// 1024).
    pub send_queue: usize,
    /// Certificates for `ssl:` and `pssl:` targets.
    pub tls: Option<TlsConfig>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            event_capacity: 4096,
            send_queue: 1024,
            tls: None,
        }
    }
}

impl ClientOptions {
    /// Sets [`ClientOptions::tls`].
    pub fn with_tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Sets [`ClientOptions::request_timeout`].
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets [`ClientOptions::handshake_timeout`].
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }
}

/// What a pending request waits for.
enum Pending {
    /// The first message with the xid.
    Reply(oneshot::Sender<Result<Message, ClientError>>),
    /// Multipart reply parts until one without `OFPMPF_REPLY_MORE`.
    Multipart {
        parts: Vec<MultipartReply>,
        tx: oneshot::Sender<Result<Vec<MultipartReply>, ClientError>>,
    },
}

impl Pending {
    fn fail(self, e: ClientError) {
        // A waiter that gave up (timeout, dropped future) is not an error.
        match self {
            Self::Reply(tx) => drop(tx.send(Err(e))),
            Self::Multipart { tx, .. } => drop(tx.send(Err(e))),
        }
    }
}

struct State {
    pending: HashMap<u32, Pending>,
    closed: bool,
}

/// What the background tasks and the handles share.
struct Shared {
    state: Mutex<State>,
    /// Taken on close so subscribers see the end of the stream.
    events: Mutex<Option<broadcast::Sender<Message>>>,
    closed: watch::Sender<bool>,
    next_xid: AtomicU32,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the map inconsistent
        // (every critical section is a single insert/remove), so poisoning
        // is ignored.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn fresh_xid(&self) -> u32 {
        loop {
            let xid = self.next_xid.fetch_add(1, Ordering::Relaxed);
            if xid != 0 {
                return xid;
            }
        }
    }

    /// Registers a waiter under a fresh xid that no pending request uses.
    fn register(&self, pending: Pending) -> Result<u32, ClientError> {
        let mut st = self.lock();
        if st.closed {
            return Err(ClientError::Closed);
        }
        loop {
            let xid = self.fresh_xid();
            if let Entry::Vacant(v) = st.pending.entry(xid) {
                v.insert(pending);
                return Ok(xid);
            }
        }
    }

    fn unregister(&self, xid: u32) {
        self.lock().pending.remove(&xid);
    }

    fn publish(&self, msg: Message) {
        let events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = events.as_ref() {
            // No receiver at all is fine: nobody asked for events.
            let _ = tx.send(msg);
        }
    }

    /// Marks the connection closed and fails everything pending. Idempotent.
    fn close(&self) {
        let drained: Vec<Pending> = {
            let mut st = self.lock();
            if st.closed {
                return;
            }
            st.closed = true;
            st.pending.drain().map(|(_, p)| p).collect()
        };
        for p in drained {
            p.fail(ClientError::Closed);
        }
        self.events.lock().unwrap_or_else(|p| p.into_inner()).take();
        self.closed.send_replace(true);
    }

    fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Routes one received frame (see the module documentation). Returns a
    /// message to send back, if any.
    fn route(&self, frame: &Frame) -> Option<Message> {
        let xid = frame.xid();
        let msg = match frame.parse() {
            Ok(msg) => msg,
            Err(e) => {
                match self.lock().pending.remove(&xid) {
                    Some(p) => p.fail(ClientError::BadReply(e)),
                    None => tracing::warn!(xid, error = %e, "dropping a malformed message"),
                }
                return None;
            }
        };
        match msg.body {
            MessageBody::EchoRequest(data) => {
                return Some(Message::new(xid, MessageBody::EchoReply(data)));
            }
            // A repeated HELLO carries nothing for an established session.
            MessageBody::Hello(_) => return None,
            _ => {}
        }
        let mut st = self.lock();
        let Entry::Occupied(mut slot) = st.pending.entry(xid) else {
            drop(st);
            self.publish(msg);
            return None;
        };
        match slot.get_mut() {
            Pending::Reply(_) => {
                if let Pending::Reply(tx) = slot.remove() {
                    let result = match msg.body {
                        MessageBody::Error(e) => Err(ClientError::from_error_msg(&e)),
                        _ => Ok(msg),
                    };
                    let _ = tx.send(result);
                }
            }
            Pending::Multipart { parts, .. } => match msg.body {
                MessageBody::MultipartReply(part) => {
                    let more = part.flags & OFPMPF_REPLY_MORE != 0;
                    parts.push(part);
                    if !more && let Pending::Multipart { parts, tx } = slot.remove() {
                        let _ = tx.send(Ok(parts));
                    }
                }
                MessageBody::Error(e) => slot.remove().fail(ClientError::from_error_msg(&e)),
                other => slot.remove().fail(ClientError::UnexpectedReply {
                    expected: "MULTIPART_REPLY",
                    got: msg_type_name(other.msg_type()),
                }),
            },
        }
        None
    }
}

/// State of one connection, dropped with the last [`Connection`] clone.
struct Inner {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Frame>,
    features: SwitchFeatures,
    peer_hello: Hello,
    peer_addr: Option<SocketAddr>,
    request_timeout: Duration,
    /// Handed to the first subscriber: it holds everything received since
    /// the handshake (up to the event capacity), so a controller that
    /// subscribes right after connecting misses no PACKET_IN.
    first_events: Mutex<Option<broadcast::Receiver<Message>>>,
    cancel: CancellationToken,
    _stop_on_drop: DropGuard,
}

/// An established OpenFlow 1.3 session with a switch.
///
/// Cheap to clone (an `Arc`): clones share the session, and every method
/// takes `&self`, so any number of tasks can issue requests concurrently.
/// The session ends when the switch closes it, on [`Connection::close`], or
/// when the last clone is dropped. See the module documentation for how
/// replies are routed.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field(
                "datapath_id",
                &format_args!("{:#018x}", self.inner.features.datapath_id),
            )
            .field("peer_addr", &self.inner.peer_addr)
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

/// A byte stream to a peer: plain TCP or TLS over it.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// Opens the transport of an active target: TCP to `tcp:HOST:PORT`, and
/// TLS over it for `ssl:HOST:PORT` (with `tls`, which verifies the peer
/// against its CA). The OpenFlow handshake is the caller's. Used by
/// [`Connection::connect`] and by a switch dialing its controllers.
pub async fn dial(
    target: &Target,
    tls: Option<&TlsConfig>,
) -> Result<(Box<dyn Io>, Option<SocketAddr>), ConnectError> {
    let (host, port, tls) = match target {
        Target::Tcp { host, port } => (host, *port, None),
        Target::Ssl { host, port } => {
            let tls = tls.ok_or_else(|| ConnectError::TlsRequired {
                target: target.to_string(),
            })?;
            (host, *port, Some(tls))
        }
        _ => {
            return Err(ConnectError::WrongTarget {
                target: target.to_string(),
                reason: "a passive target needs Listener::bind",
            });
        }
    };
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|source| ConnectError::Connect {
            target: target.to_string(),
            source,
        })?;
    // Small control messages should not wait for Nagle.
    let _ = tcp.set_nodelay(true);
    let peer = tcp.peer_addr().ok();
    let Some(tls) = tls else {
        return Ok((Box::new(tcp), peer));
    };
    let name = rustls_pki_types::ServerName::try_from(host.clone()).map_err(|_| {
        ConnectError::Connect {
            target: target.to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "host is not a valid TLS server name",
            ),
        }
    })?;
    let stream = tokio_rustls::TlsConnector::from(tls.client_config())
        .connect(name, tcp)
        .await
        .map_err(ConnectError::from_io)?;
    Ok((Box::new(stream), peer))
}

impl Connection {
    /// Connects to a switch listening on an active target (`tcp:` or
    /// `ssl:`) and performs the handshake. The whole of it is bounded by
    /// [`ClientOptions::handshake_timeout`].
    pub async fn connect(target: &Target, options: &ClientOptions) -> Result<Self, ConnectError> {
        let after = options.handshake_timeout;
        tokio::time::timeout(after, Self::connect_inner(target, options))
            .await
            .unwrap_or(Err(ConnectError::Timeout { after }))
    }

    async fn connect_inner(target: &Target, options: &ClientOptions) -> Result<Self, ConnectError> {
        let (stream, peer) = dial(target, options.tls.as_ref()).await?;
        Self::handshake(stream, peer, options).await
    }

    /// Performs the OpenFlow handshake over an already established byte
    /// stream (any transport) and starts the session. Not bounded by a
    /// timeout by itself: [`Connection::connect`] and
    /// [`Listener::accept`](super::Listener::accept) add one.
    ///
    /// The handshake: send HELLO with a version bitmap holding only 1.3;
    /// read the peer's HELLO (a peer that cannot do 1.3 is answered with
    /// HELLO_FAILED / INCOMPATIBLE and refused with
    /// [`ConnectError::Incompatible`]); send FEATURES_REQUEST and wait for
    /// the reply, answering ECHO_REQUESTs and keeping any asynchronous
    /// message for the first subscriber meanwhile.
    pub async fn from_stream<S>(
        stream: S,
        peer_addr: Option<SocketAddr>,
        options: &ClientOptions,
    ) -> Result<Self, ConnectError>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        Self::handshake(stream, peer_addr, options).await
    }

    pub(crate) async fn handshake<S>(
        stream: S,
        peer_addr: Option<SocketAddr>,
        options: &ClientOptions,
    ) -> Result<Self, ConnectError>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let mut framed = Framed::new(stream, OfCodec::new());
        let (events_tx, first_events) = broadcast::channel(options.event_capacity.max(1));
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                pending: HashMap::new(),
                closed: false,
            }),
            events: Mutex::new(Some(events_tx)),
            closed: watch::Sender::new(false),
            next_xid: AtomicU32::new(1),
        });

        let hello_xid = shared.fresh_xid();
        send(
            &mut framed,
            Message::new(hello_xid, MessageBody::Hello(Hello::standard())),
        )
        .await?;
        let peer_hello = loop {
            let msg = recv(&mut framed).await?;
            match msg.body {
                MessageBody::Hello(h) => break h,
                MessageBody::Error(e) => {
                    return Err(ConnectError::Refused {
                        code: e.code,
                        data: e.data,
                    });
                }
                MessageBody::EchoRequest(d) => {
                    send(
                        &mut framed,
                        Message::new(msg.xid, MessageBody::EchoReply(d)),
                    )
                    .await?;
                }
                other => {
                    return Err(ConnectError::Unexpected {
                        expected: "HELLO",
                        got: msg_type_name(other.msg_type()),
                    });
                }
            }
        };
        if !peer_hello.supports_of13() {
            // As OVS does: say why before closing, in a HELLO_FAILED the peer
            // can read whatever version it speaks (the header is ours).
            let text = "we support OpenFlow 1.3 (wire version 0x04) only";
            let err =
                ErrorMsg::with_text(ErrorCode::HelloFailed(HelloFailedCode::Incompatible), text);
            let _ = send(
                &mut framed,
                Message::new(hello_xid, MessageBody::Error(err)),
            )
            .await;
            let _ = SinkExt::<Message>::close(&mut framed).await;
            return Err(ConnectError::Incompatible {
                peer_version: peer_hello.version,
                peer_bitmap: peer_hello.version_bitmap().map(<[u32]>::to_vec),
            });
        }

        let features_xid = shared.fresh_xid();
        send(
            &mut framed,
            Message::new(features_xid, MessageBody::FeaturesRequest),
        )
        .await?;
        let features = loop {
            let msg = recv(&mut framed).await?;
            match msg.body {
                MessageBody::FeaturesReply(f) if msg.xid == features_xid => break f,
                MessageBody::Error(e) if msg.xid == features_xid => {
                    return Err(ConnectError::Refused {
                        code: e.code,
                        data: e.data,
                    });
                }
                MessageBody::EchoRequest(d) => {
                    send(
                        &mut framed,
                        Message::new(msg.xid, MessageBody::EchoReply(d)),
                    )
                    .await?;
                }
                MessageBody::Hello(_) => {}
                _ => shared.publish(msg),
            }
        };

        let (sink, stream) = framed.split();
        let (tx, rx) = mpsc::channel(options.send_queue.max(1));
        let cancel = CancellationToken::new();
        tokio::spawn(write_loop(sink, rx, shared.clone(), cancel.clone()));
        tokio::spawn(read_loop(
            stream,
            tx.clone(),
            shared.clone(),
            cancel.clone(),
        ));
        tracing::debug!(
            datapath_id = format_args!("{:#018x}", features.datapath_id),
            ?peer_addr,
            "OpenFlow session established"
        );
        Ok(Self {
            inner: Arc::new(Inner {
                shared,
                tx,
                features,
                peer_hello,
                peer_addr,
                request_timeout: options.request_timeout,
                first_events: Mutex::new(Some(first_events)),
                _stop_on_drop: cancel.clone().drop_guard(),
                cancel,
            }),
        })
    }

    /// The switch's FEATURES_REPLY from the handshake.
    pub fn features(&self) -> &SwitchFeatures {
        &self.inner.features
    }

    /// The switch's datapath id.
    pub fn datapath_id(&self) -> u64 {
        self.inner.features.datapath_id
    }

    /// The HELLO the switch sent.
    pub fn peer_hello(&self) -> &Hello {
        &self.inner.peer_hello
    }

    /// The switch's address, for TCP and TLS connections.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.inner.peer_addr
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.inner.shared.is_closed()
    }

    /// Resolves when the session has ended.
    pub async fn closed(&self) {
        let mut rx = self.inner.shared.closed.subscribe();
        // The sender lives in `shared`, which `self` keeps alive.
        let _ = rx.wait_for(|closed| *closed).await;
    }

    /// Ends the session: messages already queued are still written, pending
    /// requests fail with [`ClientError::Closed`].
    pub fn close(&self) {
        self.inner.shared.close();
        self.inner.cancel.cancel();
    }

    /// The default request timeout ([`ClientOptions::request_timeout`]).
    pub fn request_timeout(&self) -> Duration {
        self.inner.request_timeout
    }

    /// Asynchronous messages: PACKET_IN, PORT_STATUS, FLOW_REMOVED, errors
    /// that answer no pending request (e.g. for a [`Connection::send`]),
    /// replies that arrived after their request timed out, and any other
    /// message nobody waits for. ECHO and HELLO are handled internally.
    ///
    /// The first subscription also receives what arrived before it was
    /// made (up to [`ClientOptions::event_capacity`]); later ones start
    /// from the moment they are made. Every subscription sees every
    /// message.
    pub fn subscribe(&self) -> Subscription {
        let first = self
            .inner
            .first_events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let rx = first.unwrap_or_else(|| {
            let events = self
                .inner
                .shared
                .events
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            match events.as_ref() {
                Some(tx) => tx.subscribe(),
                // Closed: a receiver whose sender is already gone.
                None => broadcast::channel(1).1,
            }
        });
        Subscription { rx }
    }

    async fn queue(&self, frame: Frame) -> Result<(), ClientError> {
        self.inner
            .tx
            .send(frame)
            .await
            .map_err(|_| ClientError::Closed)
    }

    fn encode(msg: &Message) -> Result<Frame, ClientError> {
        Frame::from_message(msg).map_err(ClientError::Encode)
    }

    /// Registers a waiter, encodes and queues the message under its xid.
    async fn start(&self, body: MessageBody, pending: Pending) -> Result<u32, ClientError> {
        let shared = &self.inner.shared;
        let xid = shared.register(pending)?;
        let queued = match Self::encode(&Message::new(xid, body)) {
            Ok(frame) => self.queue(frame).await,
            Err(e) => Err(e),
        };
        if let Err(e) = queued {
            shared.unregister(xid);
            return Err(e);
        }
        Ok(xid)
    }

    async fn wait<T>(
        &self,
        xid: u32,
        rx: oneshot::Receiver<Result<T, ClientError>>,
        after: Duration,
    ) -> Result<T, ClientError> {
        match tokio::time::timeout(after, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ClientError::Closed),
            Err(_) => {
                self.inner.shared.unregister(xid);
                Err(ClientError::Timeout { xid, after })
            }
        }
    }

    /// Sends a message under a fresh xid and waits for the first message
    /// the switch sends with that xid. An OFPT_ERROR becomes
    /// [`ClientError::OpenFlow`] or [`ClientError::Extension`]. For
    /// multipart requests use [`Connection::multipart`], which gathers
    /// every part.
    pub async fn request(&self, body: MessageBody) -> Result<Message, ClientError> {
        self.request_with_timeout(body, self.inner.request_timeout)
            .await
    }

    /// [`Connection::request`] with its own timeout.
    pub async fn request_with_timeout(
        &self,
        body: MessageBody,
        timeout: Duration,
    ) -> Result<Message, ClientError> {
        let (tx, rx) = oneshot::channel();
        let xid = self.start(body, Pending::Reply(tx)).await?;
        self.wait(xid, rx, timeout).await
    }

    /// Sends a MULTIPART_REQUEST and gathers the reply parts, in order,
    /// until one arrives without `OFPMPF_REPLY_MORE`. Every part must be of
    /// the requested type ([`ClientError::UnexpectedReply`] otherwise).
    pub async fn multipart(
        &self,
        body: MultipartRequestBody,
    ) -> Result<Vec<MultipartReply>, ClientError> {
        let mp_type = body.mp_type();
        let (tx, rx) = oneshot::channel();
        let request = MessageBody::MultipartRequest(MultipartRequest { flags: 0, body });
        let pending = Pending::Multipart {
            parts: Vec::new(),
            tx,
        };
        let xid = self.start(request, pending).await?;
        let parts = self.wait(xid, rx, self.inner.request_timeout).await?;
        if parts.iter().any(|p| p.body.mp_type() != mp_type) {
            return Err(ClientError::UnexpectedReply {
                expected: "a multipart reply of the requested type",
                got: "a multipart reply of another type",
            });
        }
        Ok(parts)
    }

    /// Sends a message without waiting for anything; returns its xid. An
    /// error the switch answers it with reaches subscribers.
    pub async fn send(&self, body: MessageBody) -> Result<u32, ClientError> {
        let xid = self.inner.shared.fresh_xid();
        self.send_message(Message::new(xid, body)).await?;
        Ok(xid)
    }

    /// Sends a message with the caller's xid, without waiting (a relay, or
    /// a reply to a message from the switch).
    pub async fn send_message(&self, msg: Message) -> Result<(), ClientError> {
        if self.inner.shared.is_closed() {
            return Err(ClientError::Closed);
        }
        self.queue(Self::encode(&msg)?).await
    }

    /// Sends BARRIER_REQUEST and waits for the reply: every message sent
    /// before has been processed (for our switch: is in effect in every
    /// dataplane worker).
    pub async fn barrier(&self) -> Result<(), ClientError> {
        let reply = self.request(MessageBody::BarrierRequest).await?;
        match reply.body {
            MessageBody::BarrierReply => Ok(()),
            other => Err(unexpected("BARRIER_REPLY", &other)),
        }
    }

    /// Sends ECHO_REQUEST with `data` and returns the echoed data.
    pub async fn echo(&self, data: Vec<u8>) -> Result<Vec<u8>, ClientError> {
        let reply = self.request(MessageBody::EchoRequest(data)).await?;
        match reply.body {
            MessageBody::EchoReply(d) => Ok(d),
            other => Err(unexpected("ECHO_REPLY", &other)),
        }
    }

    /// Sends a message that has no reply on success (FLOW_MOD, GROUP_MOD,
    /// PROG_UNLOAD, …) followed by a BARRIER_REQUEST, and returns the error
    /// the switch answered the message with, if it did so before the
    /// barrier reply. A non-error answer to the message is ignored.
    pub async fn send_checked(&self, body: MessageBody) -> Result<(), ClientError> {
        self.send_all_checked(vec![body]).await
    }

    /// [`Connection::send_checked`] for several messages and one barrier:
    /// returns the first error (in sending order) any of them was answered
    /// with. All messages are sent even if an early one fails, since the
    /// switch processes each on its own.
    pub async fn send_all_checked(&self, bodies: Vec<MessageBody>) -> Result<(), ClientError> {
        let mut watches = Vec::with_capacity(bodies.len());
        for body in bodies {
            match self.watch(body).await {
                Ok(w) => watches.push(w),
                Err(e) => {
                    self.forget(watches);
                    return Err(e);
                }
            }
        }
        let barrier = self.barrier().await;
        let first_error = self.forget(watches);
        match (first_error, barrier) {
            (Some(e), _) => Err(e),
            (None, r) => r,
        }
    }

    /// Sends a message with a waiter that collects whatever the switch
    /// answers it with, to be checked after a later reply ([`Self::forget`]).
    pub(crate) async fn watch(&self, body: MessageBody) -> Result<Watch, ClientError> {
        let (tx, rx) = oneshot::channel();
        let xid = self.start(body, Pending::Reply(tx)).await?;
        Ok(Watch { xid, rx })
    }

    /// Drops the waiters and returns the first error one of them received.
    /// Must be called only after a reply to a later message was routed, so
    /// that every answer to the watched messages has been delivered.
    pub(crate) fn forget(&self, watches: Vec<Watch>) -> Option<ClientError> {
        let mut first = None;
        for Watch { xid, mut rx } in watches {
            self.inner.shared.unregister(xid);
            if let Ok(Err(e)) = rx.try_recv()
                && first.is_none()
                && !matches!(e, ClientError::Closed)
            {
                first = Some(e);
            }
        }
        first
    }
}

/// A message sent with a waiter whose answer is checked later.
pub(crate) struct Watch {
    xid: u32,
    rx: oneshot::Receiver<Result<Message, ClientError>>,
}

pub(crate) fn unexpected(expected: &'static str, got: &MessageBody) -> ClientError {
    ClientError::UnexpectedReply {
        expected,
        got: msg_type_name(got.msg_type()),
    }
}

type Sink<S> = SplitSink<Framed<S, OfCodec>, Frame>;
type Source<S> = SplitStream<Framed<S, OfCodec>>;

async fn send<S>(framed: &mut Framed<S, OfCodec>, msg: Message) -> Result<(), ConnectError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    framed.send(msg).await.map_err(ConnectError::from_frame)
}

async fn recv<S>(framed: &mut Framed<S, OfCodec>) -> Result<Message, ConnectError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match framed.next().await {
        None => Err(ConnectError::Closed),
        Some(Err(e)) => Err(ConnectError::from_frame(e)),
        Some(Ok(frame)) => frame.parse().map_err(ConnectError::Parse),
    }
}

async fn write_loop<S>(
    mut sink: Sink<S>,
    mut rx: mpsc::Receiver<Frame>,
    shared: Arc<Shared>,
    cancel: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let result: Result<(), openflow::FrameError> = async {
        loop {
            let frame = tokio::select! {
                biased;
                f = rx.recv() => f,
                () = cancel.cancelled() => None,
            };
            let Some(frame) = frame else { break };
            sink.feed(frame).await?;
            // Whatever else is queued goes out in the same flush.
            while let Ok(frame) = rx.try_recv() {
                sink.feed(frame).await?;
            }
            sink.flush().await?;
        }
        // Closing: what was queued before the close is still written.
        while let Ok(frame) = rx.try_recv() {
            sink.feed(frame).await?;
        }
        sink.close().await
    }
    .await;
    if let Err(e) = result {
        tracing::debug!(error = %e, "OpenFlow connection: write failed");
    }
    shared.close();
    cancel.cancel();
}

async fn read_loop<S>(
    mut stream: Source<S>,
    tx: mpsc::Sender<Frame>,
    shared: Arc<Shared>,
    cancel: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    loop {
        let item = tokio::select! {
            item = stream.next() => item,
            () = cancel.cancelled() => break,
        };
        match item {
            None => {
                tracing::debug!("OpenFlow connection closed by the switch");
                break;
            }
            Some(Err(e)) => {
                tracing::debug!(error = %e, "OpenFlow connection: read failed");
                break;
            }
            Some(Ok(frame)) => {
                if let Some(answer) = shared.route(&frame) {
                    match Frame::from_message(&answer) {
                        Ok(f) => {
                            if tx.send(f).await.is_err() {
                                break;
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot answer an echo request"),
                    }
                }
            }
        }
    }
    shared.close();
    cancel.cancel();
}

/// A stream of asynchronous messages from the switch
/// ([`Connection::subscribe`]).
#[derive(Debug)]
pub struct Subscription {
    rx: broadcast::Receiver<Message>,
}

/// Why [`Subscription::recv`] returned no message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubscriptionError {
    /// The subscriber fell behind by more than
    /// [`ClientOptions::event_capacity`] messages; the oldest were dropped.
    /// The next `recv` continues with the oldest message still kept.
    #[error("subscriber fell behind: {missed} messages dropped")]
    Lagged {
        /// How many messages were dropped.
        missed: u64,
    },
    /// The connection is closed and every message delivered before has been
    /// read.
    #[error("connection closed")]
    Closed,
}

impl Subscription {
    /// The next asynchronous message.
    pub async fn recv(&mut self) -> Result<Message, SubscriptionError> {
        self.rx.recv().await.map_err(|e| match e {
            broadcast::error::RecvError::Closed => SubscriptionError::Closed,
            broadcast::error::RecvError::Lagged(missed) => SubscriptionError::Lagged { missed },
        })
    }

    /// The subscription as a [`Stream`](futures_util::Stream) for
    /// `StreamExt` combinators. It yields `Err(Lagged)` items where messages
    /// were dropped and ends when the connection is closed.
    pub fn into_stream(
        self,
    ) -> impl futures_util::Stream<Item = Result<Message, SubscriptionError>> + Send + 'static {
        futures_util::stream::unfold(self, |mut sub| async move {
            match sub.recv().await {
                Err(SubscriptionError::Closed) => None,
                item => Some((item, sub)),
            }
        })
    }

    /// The next message if one is already there (`Ok(None)` otherwise).
    pub fn try_recv(&mut self) -> Result<Option<Message>, SubscriptionError> {
        use broadcast::error::TryRecvError;
        match self.rx.try_recv() {
            Ok(m) => Ok(Some(m)),
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Closed) => Err(SubscriptionError::Closed),
            Err(TryRecvError::Lagged(missed)) => Err(SubscriptionError::Lagged { missed }),
        }
    }
}
