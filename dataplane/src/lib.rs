//! # dataplane — Oko's forwarding path
//!
//! The part of the switch that touches packets: per-core, run-to-completion
//! workers that take a frame from a port, find what the flow tables say
//! about it (filter programs included) and carry it out. It is OVS's
//! userspace datapath (`lib/dpif-netdev.c`) redone around Oko's filter
//! programs. It knows nothing about OpenFlow bytes or controllers: the agent
//! validates every change, compiles it into an immutable snapshot and
//! publishes it here.
//!
//! ## Lookup tiers
//!
//! 1. **Parse** ([`packet`]): zero-copy header views fill a [`key::FlowKey`],
//!    every OpenFlow 1.3 match field as fixed 64-bit words. Malformed or
//!    truncated frames fill only what is really there.
//! 2. **Exact-match cache** ([`cache`]), one per worker: the full key maps to
//!    the last result for it. An entry remembers the filter programs its
//!    lookup ran and their answers (Oko's *filter chain*); a hit re-runs
//!    them, in order, and is used only if every answer is the same. Entries
//!    of an older snapshot version are misses.
//! 3. **Classifier** ([`classifier`]), one per table: tuple-space search over
//!    priority-ordered subtables with early exit. A flow's `FILTER_PROG` is
//!    the last check of a candidate: a program that does not answer 1 sends
//!    the lookup on to the next candidate, and the programs run are exactly
//!    those a linear scan by priority would run (they are stateful).
//!
//! ## Invariants
//!
//! - **Per-core ownership.** A worker owns its ports' receive side, its
//!   packet-buffer pool ([`buf`]), its cache and its counter slots. Nothing a
//!   worker touches per packet is written by another thread, except map
//!   values of filter programs (atomic by construction, see `ofext-filter`)
//!   and meter buckets ([`meter`]).
//! - **No locks, no allocation per packet.** Buffers come from the pool,
//!   lookups use caller-owned scratch space, counters are single-writer
//!   relaxed atomics (a plain load and store) summed when the agent reads
//!   them.
//! - **Versioned publication.** Flow tables, groups and meters reach the
//!   workers as immutable snapshots with a distinct version number each; a
//!   worker switches between batches, never inside one, so a packet never
//!   sees half of a change, and it acknowledges the version it runs so the
//!   agent can answer a BARRIER only when every worker runs that state.
//! - **Bad input never panics.** Frames of any length and content, pcap files
//!   and port specs are handled with counts or typed errors.
//!
//! ## Modules
//!
//! | module | contents |
//! |---|---|
//! | [`key`] | the flow key layout |
//! | [`packet`] | header views and key extraction |
//! | [`modify`] | in-place packet modifications for actions (set-field with checksum fix-ups, push/pop, TTL) |
//! | [`classifier`] | flow matches from OXM, tuple-space search with filter programs |
//! | [`cache`] | the per-worker exact-match cache with filter chains |
//! | [`group`], [`meter`] | groups (bucket selection, liveness) and meters (token buckets) |
//! | [`port`] | `mem`, `pcap` and `afpacket` ports |
//! | [`buf`] | packet buffers and per-worker pools |
//! | [`pipeline`] | the OpenFlow 1.3 pipeline over a snapshot: instructions, the action set, every output kind, packet-out |
//! | [`worker`] | pinned worker threads, snapshot publication and version acknowledgements, packet-in and packet-out queues |
//! | [`counters`] | per-flow and per-table counters, one slot per worker |
//! | [`frames`] | synthetic frames for tests, benchmarks and the demo |
//!
//! ## Evidence
//!
//! Besides unit tests per module: `tests/classifier.rs` and
//! `tests/pipeline_reference.rs` compare the classifier and the whole
//! pipeline (several tables, metadata, goto, rewrites, the action set,
//! stateful eBPF filters, with and without the caches) against literal
//! linear references on random tables and packets; `tests/worker.rs` runs
//! the threads; `tests/netns_e2e.rs` pings between two network namespaces
//! through AF_PACKET ports, with a forwarding flow, a drop flow and a filter
//! program deciding per packet; `benches/replay.rs` measures forwarding.

pub mod buf;
pub mod cache;
pub mod classifier;
pub mod counters;
pub mod frames;
pub mod group;
pub mod key;
pub mod meter;
pub mod modify;
pub mod packet;
pub mod pipeline;
pub mod port;
pub mod worker;
