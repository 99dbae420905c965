//! # agent — the `okod` switch agent
//!
//! (Essay written when the daemon lands: sessions, switch model,
//! publication to the dataplane, barrier consistency.)

pub mod flow_table;
pub mod role;
pub mod session;
