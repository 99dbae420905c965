//! The tokio layer: controller connections, the switch task, timers.
//!
//! ## Tasks
//!
//! - **Switch task** ([`SwitchTask`]): owns the [`Switch`]. It takes
//!   commands from connection tasks in arrival order through one bounded
//!   channel (a controller that floods FLOW_MODs is slowed down at its
//!   socket, it cannot grow the agent's memory), publishes compiled state
//!   to the dataplane after each burst, answers BARRIERs once every worker
//!   acknowledges the state, and every millisecond drains packet-ins,
//!   watches links, expires flows and buffers.
//! - **Connection tasks**, one per controller connection, active (`tcp:`,
//!   `ssl:`, reconnecting with exponential backoff) or accepted (`ptcp:`,
//!   `pssl:`): they move bytes between the socket and a sans-IO
//!   [`Session`], send each decoded message to the switch task, and apply
//!   what comes back (replies, asynchronous messages through the session's
//!   role and async-config filter, role changes). Passive and active
//!   connections are treated alike: a controller that dials in gets
//!   PACKET_INs too.
//!
//! ## Ordering
//!
//! A connection's messages reach the switch in order and its replies come
//! back in order (one channel each way). For a BARRIER or ROLE_REQUEST the
//! connection waits for the switch's answer before it decodes the next
//! message: nothing after a barrier is executed before the barrier is
//! answered (OpenFlow 1.3.5 §6.2), and the session checks the next message
//! against the new role. PROG_LOAD's last chunk is verified on a blocking
//! thread while the connection waits (other connections go on), then
//! installed by the switch task, so a FLOW_MOD that follows it finds the
//! program.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use controller_examples::client::{Target, TlsConfig, dial};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use openflow::{Message, MessageBody};

use crate::config::FailMode;
use crate::programs::{self, ChunkAssembler, Programs, Refusal};
use crate::role::{ConnId, Role};
use crate::session::{Event, Session, SessionConfig};
use crate::switch::{Effects, Switch};

/// What connection tasks ask of the switch task.
enum Cmd {
    Open {
        conn: ConnId,
        tx: mpsc::UnboundedSender<Out>,
    },
    Close {
        conn: ConnId,
    },
    Msg {
        conn: ConnId,
        msg: Message,
        done: Option<oneshot::Sender<()>>,
    },
    Install {
        conn: ConnId,
        xid: u32,
        prog_id: u32,
        flags: u16,
        result: Box<Result<ofext_filter::program::Program, Refusal>>,
        request: Message,
        done: oneshot::Sender<()>,
    },
}

/// What the switch task sends a connection.
#[derive(Debug)]
enum Out {
    Reply(Message),
    Async(Message),
    Role(Role),
}

/// Connection settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Controller targets (`tcp:`, `ssl:`, `ptcp:`, `pssl:`).
    pub targets: Vec<Target>,
    /// TLS files for `ssl:`/`pssl:`.
    pub tls: Option<TlsConfig>,
    /// Session settings (echo interval, …).
    pub session: SessionConfig,
    /// First reconnection delay of active targets.
    pub backoff_min: Duration,
    /// Largest reconnection delay.
    pub backoff_max: Duration,
    /// What the switch does while no controller is connected.
    pub fail_mode: FailMode,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            targets: Vec::new(),
            tls: None,
            session: SessionConfig::default(),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(8),
            fail_mode: FailMode::Secure,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A listening socket could not be bound.
    #[error("cannot listen on {target}: {source}")]
    Bind {
        /// The target.
        target: String,
        /// Why.
        source: std::io::Error,
    },
    /// An `ssl:`/`pssl:` target without TLS files.
    #[error("{target} needs --private-key, --certificate and --ca-cert")]
    TlsRequired {
        /// The target.
        target: String,
    },
}

/// A running agent: the switch task and the connection tasks.
#[derive(Debug)]
pub struct Server {
    shared: ConnShared,
    listeners: Vec<SocketAddr>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    next_conn: Arc<AtomicU64>,
}

impl Server {
    /// Starts the switch task and every target; returns once the passive
    /// targets listen.
    pub async fn start(switch: Switch, cfg: ServerConfig) -> Result<Self, ServerError> {
        let (cmd, rx) = mpsc::channel(1024);
        let n_workers = switch.dataplane().n_workers();
        let programs = switch.programs().clone();
        let mut tasks = vec![tokio::spawn(SwitchTask::new(switch, cfg.fail_mode).run(rx))];
        let next_conn = Arc::new(AtomicU64::new(1));
        let shared = ConnShared {
            cmd: cmd.clone(),
            session: cfg.session.clone(),
            programs,
            n_workers,
        };
        let mut listeners = Vec::new();
        for t in &cfg.targets {
            if t.is_tls() && cfg.tls.is_none() {
                return Err(ServerError::TlsRequired {
                    target: t.to_string(),
                });
            }
            let tls = cfg.tls.clone();
            match t {
                Target::Ptcp { port, ip } | Target::Pssl { port, ip } => {
                    let addr = SocketAddr::new(
                        ip.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into()),
                        *port,
                    );
                    let l = TcpListener::bind(addr)
                        .await
                        .map_err(|source| ServerError::Bind {
                            target: t.to_string(),
                            source,
                        })?;
                    let local = l.local_addr().map_err(|source| ServerError::Bind {
                        target: t.to_string(),
                        source,
                    })?;
                    info!("listening for controllers on {t} ({local})");
                    listeners.push(local);
                    let acceptor = if t.is_tls() {
                        tls.map(|c| tokio_rustls::TlsAcceptor::from(c.server_config()))
                    } else {
                        None
                    };
                    tasks.push(tokio::spawn(accept_loop(
                        l,
                        acceptor,
                        shared.clone(),
                        next_conn.clone(),
                    )));
                }
                _ => {
                    tasks.push(tokio::spawn(active_loop(
                        t.clone(),
                        tls,
                        shared.clone(),
                        next_conn.clone(),
                        cfg.backoff_min,
                        cfg.backoff_max,
                    )));
                }
            }
        }
        drop(cmd);
        Ok(Self {
            shared,
            listeners,
            tasks,
            next_conn,
        })
    }

    /// Addresses of the passive targets, in target order.
    pub fn listen_addrs(&self) -> &[SocketAddr] {
        &self.listeners
    }

    /// Serves one already-connected stream (tests, embedded controllers).
    pub fn serve_stream<S>(&self, stream: S) -> tokio::task::JoinHandle<()>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let conn = ConnId(self.next_conn.fetch_add(1, Ordering::Relaxed));
        tokio::spawn(run_conn(stream, conn, self.shared.clone()))
    }

    /// Stops every task.
    pub async fn shutdown(self) {
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// What every connection task needs.
#[derive(Clone, Debug)]
struct ConnShared {
    cmd: mpsc::Sender<Cmd>,
    session: SessionConfig,
    programs: Arc<Mutex<Programs>>,
    n_workers: usize,
}

async fn accept_loop(
    l: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: ConnShared,
    next: Arc<AtomicU64>,
) {
    loop {
        let (sock, peer) = match l.accept().await {
            Ok(x) => x,
            Err(e) => {
                warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = sock.set_nodelay(true);
        let conn = ConnId(next.fetch_add(1, Ordering::Relaxed));
        let shared = shared.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            info!("controller {peer} connected (conn {})", conn.0);
            match tls {
                Some(acc) => match acc.accept(sock).await {
                    Ok(s) => run_conn(s, conn, shared).await,
                    Err(e) => warn!("TLS handshake with {peer} failed: {e}"),
                },
                None => run_conn(sock, conn, shared).await,
            }
            info!("controller {peer} disconnected (conn {})", conn.0);
        });
    }
}

async fn active_loop(
    target: Target,
    tls: Option<TlsConfig>,
    shared: ConnShared,
    next: Arc<AtomicU64>,
    backoff_min: Duration,
    backoff_max: Duration,
) {
    let mut backoff = backoff_min;
    loop {
        let started = Instant::now();
        match dial(&target, tls.as_ref()).await {
            Ok((stream, _)) => {
                let conn = ConnId(next.fetch_add(1, Ordering::Relaxed));
                info!("connected to controller {target} (conn {})", conn.0);
                run_conn(stream, conn, shared.clone()).await;
                info!("connection to controller {target} closed");
            }
            // Nobody listening is routine while a controller is down; a TLS
            // refusal is worth a warning.
            Err(e @ controller_examples::client::ConnectError::Connect { .. }) => {
                debug!("cannot connect to {target}: {e}")
            }
            Err(e) => warn!("cannot connect to {target}: {e}"),
        }
        // A connection that lived a while resets the backoff (rconn).
        if started.elapsed() > backoff_max {
            backoff = backoff_min;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(backoff_max);
    }
}

/// Drives one controller connection until it closes.
async fn run_conn<S>(stream: S, conn: ConnId, shared: ConnShared)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (out_tx, mut out_rx) = mpsc::unbounded_channel();
    if shared
        .cmd
        .send(Cmd::Open { conn, tx: out_tx })
        .await
        .is_err()
    {
        return;
    }
    let mut session = Session::new(shared.session.clone(), Instant::now());
    let mut chunks = ChunkAssembler::default();
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut buf = vec![0u8; 64 * 1024];
    'outer: loop {
        while let Some(b) = session.poll_transmit() {
            if wr.write_all(&b).await.is_err() {
                break 'outer;
            }
        }
        if session.is_closed() {
            break;
        }
        let deadline = session.poll_timeout();
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = rd.read(&mut buf) => match r {
                Ok(0) | Err(_) => session.handle_eof(),
                Ok(n) => session.handle_input(Instant::now(), &buf[..n]),
            },
            Some(out) = out_rx.recv() => apply(&mut session, out),
            () = sleep => session.handle_timeout(Instant::now()),
        }
        while let Some(ev) = session.poll_event() {
            match ev {
                Event::Message(msg) => {
                    if !forward(&mut session, &mut chunks, &mut out_rx, conn, &shared, msg).await {
                        break 'outer;
                    }
                }
                Event::Connected => debug!("conn {}: OpenFlow 1.3 negotiated", conn.0),
                Event::Closed(reason) => debug!("conn {}: closed: {reason}", conn.0),
            }
        }
    }
    // Flush what is left (often the error that explains the close).
    while let Some(b) = session.poll_transmit() {
        if wr.write_all(&b).await.is_err() {
            break;
        }
    }
    let _ = wr.shutdown().await;
    let _ = shared.cmd.send(Cmd::Close { conn }).await;
}

fn apply(session: &mut Session, out: Out) {
    match out {
        Out::Reply(m) => {
            let _ = session.send(&m);
        }
        Out::Async(m) => {
            session.send_async(&m);
        }
        Out::Role(r) => session.set_role(r),
    }
}

/// Hands one message to the switch; false when the switch task is gone.
async fn forward(
    session: &mut Session,
    chunks: &mut ChunkAssembler,
    out_rx: &mut mpsc::UnboundedReceiver<Out>,
    conn: ConnId,
    shared: &ConnShared,
    msg: Message,
) -> bool {
    if let Some(p) = programs::as_prog_load(&msg) {
        let complete = match p.and_then(|p| chunks.feed(&p)) {
            Ok(Some(c)) => c,
            Ok(None) => return true,
            Err(r) => {
                let _ = session.send(&Message::new(
                    msg.xid,
                    MessageBody::Error(r.error_msg(&msg)),
                ));
                return true;
            }
        };
        let old = shared
            .programs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(complete.prog_id);
        let n_workers = shared.n_workers;
        let (prog_id, flags) = (complete.prog_id, complete.flags);
        let result = tokio::task::spawn_blocking(move || {
            programs::load(&complete, old.as_deref(), n_workers)
        })
        .await
        .unwrap_or_else(|e| {
            Err(Refusal::Ext(
                ofext_filter::wire::ExtErrorCode::BadRequest,
                format!("loader failed: {e}"),
            ))
        });
        let (done, wait) = oneshot::channel();
        let cmd = Cmd::Install {
            conn,
            xid: msg.xid,
            prog_id,
            flags,
            result: Box::new(result),
            request: msg,
            done,
        };
        return send_and_wait(cmd, wait, session, out_rx, shared).await;
    }
    let wait = matches!(
        msg.body,
        MessageBody::BarrierRequest | MessageBody::RoleRequest(_)
    );
    if !wait {
        return shared
            .cmd
            .send(Cmd::Msg {
                conn,
                msg,
                done: None,
            })
            .await
            .is_ok();
    }
    let (done, rx) = oneshot::channel();
    send_and_wait(
        Cmd::Msg {
            conn,
            msg,
            done: Some(done),
        },
        rx,
        session,
        out_rx,
        shared,
    )
    .await
}

async fn send_and_wait(
    cmd: Cmd,
    wait: oneshot::Receiver<()>,
    session: &mut Session,
    out_rx: &mut mpsc::UnboundedReceiver<Out>,
    shared: &ConnShared,
) -> bool {
    if shared.cmd.send(cmd).await.is_err() {
        return false;
    }
    if wait.await.is_err() {
        return false;
    }
    // Everything the switch sent before `done` is in the channel now.
    while let Ok(out) = out_rx.try_recv() {
        apply(session, out);
    }
    true
}

/// A BARRIER waiting for the workers.
struct PendingBarrier {
    conn: ConnId,
    xid: u32,
    version: u64,
    done: Option<oneshot::Sender<()>>,
}

/// The cookie of the flows the standalone fail mode installs (learnt
/// stations and its table-miss flow), removed when a controller connects.
pub const STANDALONE_COOKIE: u64 = 0x6f6b_6f64_5354_414e;

/// How long the switch waits without any controller before the standalone
/// fail mode takes over.
const STANDALONE_AFTER: Duration = Duration::from_secs(1);

/// The standalone fail mode's state: an L2 learning switch run by the agent
/// itself while no controller is connected (OVS's "fail-open").
struct Standalone {
    learner: controller_examples::learning::LearningSwitch,
    alone_since: Option<Instant>,
    engaged: bool,
}

/// The connection id the agent's own messages use.
const AGENT_CONN: ConnId = ConnId(0);

/// The switch task (see the module docs).
pub struct SwitchTask {
    sw: Switch,
    standalone: Option<Standalone>,
    conns: HashMap<ConnId, mpsc::UnboundedSender<Out>>,
    barriers: Vec<PendingBarrier>,
    last_publish: Instant,
    publish_cost: Duration,
    last_slow_tick: Instant,
}

impl SwitchTask {
    fn new(sw: Switch, fail_mode: FailMode) -> Self {
        let standalone = (fail_mode == FailMode::Standalone).then(|| Standalone {
            learner: controller_examples::learning::LearningSwitch::default(),
            alone_since: Some(Instant::now()),
            engaged: false,
        });
        Self {
            sw,
            standalone,
            conns: HashMap::new(),
            barriers: Vec::new(),
            last_publish: Instant::now(),
            publish_cost: Duration::ZERO,
            last_slow_tick: Instant::now(),
        }
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Cmd>) {
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                cmd = rx.recv() => {
                    let Some(cmd) = cmd else { break };
                    self.command(cmd);
                    // Take the rest of the burst before publishing.
                    for _ in 0..4096 {
                        match rx.try_recv() {
                            Ok(c) => self.command(c),
                            Err(_) => break,
                        }
                    }
                }
                _ = tick.tick() => self.periodic(),
            }
            // While commands keep coming, publish only every 100 ms: a
            // burst of FLOW_MODs is compiled once, when it ends (or at its
            // BARRIER), not once per slice of it.
            if rx.is_empty() || self.last_publish.elapsed() >= Duration::from_millis(100) {
                self.maybe_publish(false);
            }
            self.answer_barriers();
        }
    }

    fn send(&self, conn: ConnId, out: Out) {
        if let Some(tx) = self.conns.get(&conn) {
            let _ = tx.send(out);
        }
    }

    fn effects(&mut self, conn: ConnId, fx: Effects) {
        for m in fx.replies {
            self.send(conn, Out::Reply(m));
        }
        self.broadcast(fx.broadcast);
        for (c, r) in fx.roles {
            self.send(c, Out::Role(r));
        }
    }

    fn broadcast(&self, msgs: Vec<Message>) {
        for m in msgs {
            for tx in self.conns.values() {
                let _ = tx.send(Out::Async(m.clone()));
            }
        }
    }

    fn command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Open { conn, tx } => {
                self.sw.connect(conn);
                self.conns.insert(conn, tx);
            }
            Cmd::Close { conn } => {
                self.sw.disconnect(conn);
                self.conns.remove(&conn);
                self.barriers.retain(|b| b.conn != conn);
            }
            Cmd::Msg { conn, msg, done } => {
                if matches!(msg.body, MessageBody::BarrierRequest) {
                    let version = self.sw.publish();
                    self.last_publish = Instant::now();
                    self.barriers.push(PendingBarrier {
                        conn,
                        xid: msg.xid,
                        version,
                        done,
                    });
                    self.answer_barriers();
                    return;
                }
                let mut fx = Effects::default();
                self.sw.handle(conn, &msg, &mut fx);
                self.effects(conn, fx);
                if let Some(d) = done {
                    let _ = d.send(());
                }
            }
            Cmd::Install {
                conn,
                xid,
                prog_id,
                flags,
                result,
                request,
                done,
            } => {
                let mut fx = Effects::default();
                let r = (*result)
                    .and_then(|p| programs::install(&mut self.sw, xid, prog_id, flags, p, &mut fx));
                if let Err(r) = r {
                    fx.replies
                        .push(Message::new(xid, MessageBody::Error(r.error_msg(&request))));
                }
                self.effects(conn, fx);
                let _ = done.send(());
            }
        }
    }

    /// Publishes pending changes: at once for a barrier, else at most
    /// every 10 ms and at most a fifth of the time (so a FLOW_MOD flood
    /// spends most of its time applying FLOW_MODs, not rebuilding
    /// classifiers; without a barrier OpenFlow promises no timing).
    fn maybe_publish(&mut self, force: bool) {
        let gap = (self.publish_cost * 4).max(Duration::from_millis(10));
        if force || self.last_publish.elapsed() >= gap {
            let t = Instant::now();
            let before = self.sw.published_version();
            if self.sw.publish() != before {
                self.publish_cost = t.elapsed();
            }
            self.last_publish = Instant::now();
        }
    }

    fn answer_barriers(&mut self) {
        if self.barriers.is_empty() {
            return;
        }
        let dp = self.sw.dataplane().clone();
        let mut i = 0;
        while i < self.barriers.len() {
            if dp.acked(self.barriers[i].version) {
                let b = self.barriers.remove(i);
                self.send(
                    b.conn,
                    Out::Reply(Message::new(b.xid, MessageBody::BarrierReply)),
                );
                if let Some(d) = b.done {
                    let _ = d.send(());
                }
            } else {
                i += 1;
            }
        }
    }

    /// Engages or releases the standalone fail mode as controllers come
    /// and go.
    fn fail_mode(&mut self) {
        let alone = self.conns.is_empty();
        let Some(st) = self.standalone.as_mut() else {
            return;
        };
        if !alone {
            st.alone_since = None;
            if st.engaged {
                st.engaged = false;
                st.learner.clear();
                info!("controller connected: standalone mode off, its flows removed");
                let del = openflow::message::FlowMod {
                    command: openflow::message::flow_mod_command::DELETE,
                    table_id: 0xff,
                    cookie: STANDALONE_COOKIE,
                    cookie_mask: u64::MAX,
                    ..Default::default()
                };
                let mut fx = Effects::default();
                self.sw.handle(
                    AGENT_CONN,
                    &Message::new(0, MessageBody::FlowMod(del)),
                    &mut fx,
                );
            }
            return;
        }
        let since = *st.alone_since.get_or_insert_with(Instant::now);
        if st.engaged || since.elapsed() < STANDALONE_AFTER {
            return;
        }
        st.engaged = true;
        info!("no controller: standalone mode, acting as a learning switch");
        // A table-miss flow to the agent, unless one is there already
        // (which then brings the misses to us anyway).
        let catch_all = dataplane::classifier::FlowMatch::catch_all();
        if self.sw.flows().find_strict(0, 0, &catch_all).is_none() {
            for body in st.learner.setup_messages().into_iter().skip(1) {
                self.agent_message(body);
            }
        }
    }

    /// Applies a message of the agent's own (standalone mode), tagged
    /// with [`STANDALONE_COOKIE`].
    fn agent_message(&mut self, mut body: MessageBody) {
        if let MessageBody::FlowMod(fm) = &mut body {
            fm.cookie = STANDALONE_COOKIE;
        }
        let mut fx = Effects::default();
        self.sw.handle(AGENT_CONN, &Message::new(0, body), &mut fx);
        for r in fx.replies {
            if let MessageBody::Error(e) = r.body {
                debug!("standalone mode: switch refused a learnt flow: {}", e.code);
            }
        }
    }

    fn periodic(&mut self) {
        self.fail_mode();
        let mut msgs = Vec::new();
        let dp = self.sw.dataplane().clone();
        for _ in 0..1024 {
            match dp.pop_packet_in() {
                Some(ev) => {
                    let pi = self.sw.packet_in(ev);
                    match self.standalone.as_mut() {
                        Some(st) if st.engaged => {
                            for body in st.learner.handle(&pi) {
                                self.agent_message(body);
                            }
                        }
                        _ => msgs.push(pi),
                    }
                }
                None => break,
            }
        }
        let now = Instant::now();
        if now.duration_since(self.last_slow_tick) >= Duration::from_millis(100) {
            self.last_slow_tick = now;
            msgs.extend(self.sw.port_changes());
            self.sw.expire_buffers();
            let mut fx = Effects::default();
            self.sw.expire(&mut fx);
            msgs.extend(fx.broadcast);
        }
        self.broadcast(msgs);
    }
}
