//! # openflow — the OpenFlow 1.3.5 wire codec
//!
//! (essay to be written)

pub mod action;
pub mod codec;
pub mod error;
pub mod group;
pub mod instruction;
pub mod message;
pub mod meter;
pub mod multipart;
pub mod oxm;
pub mod port;
pub mod queue;
pub mod table_features;
pub mod wire;
