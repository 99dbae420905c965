//! # controller-examples — the controller side of Oko
//!
//! What a controller needs to drive an Oko switch, and examples of it:
//!
//! | module / item | what it is |
//! |---|---|
//! | [`client`] | an async (tokio) OpenFlow 1.3 client: `tcp:`/`ssl:` connections and `ptcp:`/`pssl:` listeners (mutual TLS with rustls), requests matched to replies by xid, multipart reassembly, barriers, event subscription, and the extension's calls (chunked program loading, maps, program statistics) with typed errors carrying the switch's explanation |
//! | [`ofctl`] | ovs-ofctl's text syntax for flows, groups and meters (plus `filter_prog=N`), and its dump formats |
//! | [`okoctl`] | the output helpers of the `okoctl` binary (`src/bin/okoctl.rs`), an ovs-ofctl for Oko switches |
//! | [`learning`] | an L2 learning switch (also `okod`'s standalone fail mode) |
//! | [`secure_edge`] | the paper's deployment: forwarding guarded by the three filters of `filters/` |
//!
//! Outside the library: the C filter programs and their committed objects
//! (`filters/`), the example controllers (`examples/`), and a module for
//! os-ken/Ryu applications built from EXTENSION.md alone (`osken/`).
//!
//! The client never trusts the switch: every reply is parsed and checked
//! against its request, and a malformed one is an error, not a panic.

pub mod client;
pub mod learning;
pub mod ofctl;
pub mod okoctl;
pub mod secure_edge;
