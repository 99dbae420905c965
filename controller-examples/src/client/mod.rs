//! # client — an async OpenFlow 1.3 + filter-extension client
//!
//! What a controller (our `okoctl`, the example controllers, tests) uses to
//! talk to a switch: open a session, send requests and get *their* replies,
//! receive what the switch sends on its own, and drive the filter-program
//! extension without knowing its wire format.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use controller_examples::client::{ClientOptions, Connection, Target};
//!
//! let target: Target = "tcp:127.0.0.1:6653".parse()?;
//! let conn = Connection::connect(&target, &ClientOptions::default()).await?;
//! println!("datapath {:#x}", conn.datapath_id());
//! let elf = std::fs::read("filters/ratelimit.o")?;
//! let reply = conn.load_program(7, &elf, 0).await?;
//! conn.map_update(7, reply.maps[0].map_id, 0, &[(1u32.to_be_bytes(), 5u64.to_be_bytes())])
//!     .await?;
//! let mut events = conn.subscribe();
//! let packet_in = events.recv().await?;
//! # let _ = packet_in;
//! # Ok(()) }
//! ```
//!
//! ## Model
//!
//! - **Targets** are written as in Open vSwitch ([`Target`]): `tcp:` and
//!   `ssl:` dial a switch that listens; a [`Listener`] on `ptcp:`/`pssl:`
//!   accepts switches that dial in. TLS is mutual, with a CA file, our chain
//!   and key ([`TlsConfig`]), checking the peer's chain but not its name.
//! - **A [`Connection`]** is one session after the handshake (HELLO with a
//!   1.3-only version bitmap, FEATURES). It is cheap to clone; a background
//!   reader routes each incoming message by xid to the request waiting for
//!   it, answers ECHO_REQUEST itself, and broadcasts everything else to
//!   [`Subscription`]s.
//! - **Requests** get a fresh xid each. An OFPT_ERROR with that xid is the
//!   request's error, typed: [`ClientError::OpenFlow`] or, for the
//!   extension, [`ClientError::Extension`] with the switch's text. Messages
//!   that are silent on success are confirmed with a barrier
//!   ([`Connection::send_checked`]).
//! - **Failure is total and prompt**: when the session ends every pending
//!   and later request fails with [`ClientError::Closed`]; nothing hangs
//!   past its timeout ([`ClientOptions::request_timeout`], 10 s by default).
//!
//! ## What it does not do
//!
//! No reconnection and no inactivity probing (OVS's `rconn`): a closed
//! connection stays closed and the caller decides whether to dial again. No
//! role negotiation or auxiliary connections. Only OpenFlow 1.3.

mod connection;
mod error;
mod ext;
mod listener;
mod target;
mod tls;

pub use connection::{ClientOptions, Connection, Io, Subscription, SubscriptionError, dial};
pub use error::{ClientError, ConnectError, TargetError, TlsError};
pub use ext::{PROG_LOAD_MAX_CHUNK, ext_replies};
pub use listener::Listener;
pub use target::{DEFAULT_PORT, Target};
pub use tls::TlsConfig;
