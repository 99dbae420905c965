//! # dataplane — Oko's forwarding path
//!
//! (essay being written; see DESIGN.md)

pub mod buf;
pub mod cache;
pub mod classifier;
pub mod group;
pub mod key;
pub mod meter;
pub mod modify;
pub mod packet;
pub mod port;
