//! # agent — the `okod` switch agent
//!
//! (Essay written when the daemon lands: sessions, switch model,
//! publication to the dataplane, barrier consistency.)

pub mod buffers;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod flow_table;
pub mod multipart;
pub mod programs;
pub mod role;
pub mod server;
pub mod session;
pub mod switch;
