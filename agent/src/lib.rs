//! # agent — the `okod` switch agent
//!
//! The program people run: it opens the ports, starts the dataplane
//! workers, talks OpenFlow 1.3 (plus the filter-program extension) to any
//! number of controllers over TCP or TLS, and keeps the switch's
//! authoritative state.
//!
//! ## Layers
//!
//! | module | role |
//! |---|---|
//! | [`session`] | one controller connection, sans-IO: handshake, echo keepalive, async config, slave checks, framing errors; bytes and time in, events and bytes out |
//! | [`role`] | MASTER/SLAVE/EQUAL arbitration with generation ids, across sessions |
//! | [`switch`] | the switch model: validates every change in full, applies it or answers the exact error, compiles what changed into a dataplane snapshot |
//! | [`flow_table`] | the OpenFlow flow tables: FLOW_MOD semantics, timeouts, statistics |
//! | [`programs`] | the extension: chunked PROG_LOAD, verification off the switch task, REPLACE/KEEP_MAPS, maps, PROG_STATS |
//! | [`multipart`] | every MULTIPART_REQUEST, split into 64 KiB replies |
//! | [`buffers`] | packet buffers behind PACKET_IN buffer ids |
//! | [`server`] | the tokio layer: connection tasks, the switch task, barriers, fail modes |
//! | [`config`], [`daemon`], [`demo`] | `okod`'s settings, start-up and the self-contained demo |
//!
//! ## Invariants
//!
//! - **One writer.** Only the switch task changes the model; connection
//!   tasks talk to it through a bounded channel, so the model needs no lock
//!   (the program registry, read by connections preparing a REPLACE, is the
//!   one mutex, never held across an await).
//! - **All or nothing.** A message that fails validation changes nothing;
//!   one that passes is applied completely before the next is looked at.
//! - **Barriers mean the dataplane.** BARRIER_REPLY is sent only when every
//!   worker acknowledges a snapshot version that contains every earlier
//!   change of that connection; later messages of the connection wait.
//! - **Nothing on input panics** and no controller can make the agent grow
//!   without bound: frames are length-checked before buffering, the command
//!   channel is bounded, slow controllers lose async messages (counted),
//!   never replies, and packet buffers expire.
//!
//! ## What it does not do
//!
//! It never touches packets on the hot path (the [`dataplane`] workers do),
//! and it does not implement OpenFlow versions other than 1.3, auxiliary
//! connections, or table reconfiguration through TABLE_FEATURES.

pub mod buffers;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod flow_table;
#[cfg(fuzzing)]
pub mod fuzzing;
pub mod multipart;
pub mod programs;
pub mod role;
pub mod server;
pub mod session;
pub mod switch;
