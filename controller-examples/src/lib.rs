//! # controller-examples — the controller side of Oko
//!
//! (Essay written when the client library lands.)

pub mod client;
pub mod learning;
pub mod ofctl;
pub mod okoctl;
pub mod secure_edge;
