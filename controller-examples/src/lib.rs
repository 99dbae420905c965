//! # controller-examples — the controller side of Oko
//!
//! (Essay written when the client library lands.)

pub mod client;
pub mod ofctl;
pub mod secure_edge;
