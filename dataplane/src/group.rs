//! OpenFlow groups on the dataplane side: a compiled, immutable group table,
//! bucket selection, liveness, and per-worker counters.
//!
//! # What lives where
//!
//! The agent owns the authoritative model (GROUP_MOD handling, ref counts,
//! what a bucket's actions are). For every change it builds a new
//! [`GroupTable`] with a [`GroupTableBuilder`]: each group's buckets carry an
//! opaque payload `B` (the compiled action list; this module never looks
//! inside) plus the fields that steer selection (weight, watch_port,
//! watch_group) and the ids of the groups the bucket's actions forward to
//! (`GROUP` actions, [`BucketSpec::chained`]). [`GroupTableBuilder::build`]
//! checks everything OpenFlow requires of the table as a whole and answers
//! with a [`GroupError`] that maps to the exact OpenFlow error; an `Err`
//! changes nothing. The agent can validate without compiling anything by
//! using `B = ()`.
//!
//! # Selection
//!
//! - ALL: every bucket. INDIRECT: its one bucket.
//! - SELECT: one bucket, picked by a hash of the flow's address and port
//!   words (so all packets of a flow take the same bucket) through a weighted
//!   lookup table of slots: bucket `i` owns a share of slots proportional to
//!   its weight (exactly proportional when the total weight is at most
//!   [`MAX_SELECT_SLOTS`]), interleaved by smooth weighted round robin. Lookup is one
//!   hash and one multiply-shift, O(1). Weight-0 buckets own no slot.
//! - FAST_FAILOVER: the first live bucket.
//!
//! # Liveness
//!
//! A bucket is live when it watches nothing, or when its watch_port is up, or
//! when its watch_group is live (OVS's rule: either watch suffices). A group
//! is live when one of its buckets is live. Port state comes from the worker
//! through the [`Liveness`] trait. Liveness changes rarely (a link flap)
//! compared with packets, so it is not evaluated per packet: each worker
//! keeps a [`GroupView`] that precomputes, for the current table and port
//! state, every group's liveness, every FAST_FAILOVER group's chosen bucket
//! and, for SELECT groups that watch something, a lookup table of the live
//! buckets. The worker calls [`GroupView::refresh`] when a port changes state
//! (it polls links on a timer anyway) and builds a new view when a new table
//! arrives. When a SELECT bucket dies, only the slots it owned are handed to
//! the live buckets (again by weight), so flows on surviving buckets stay
//! where they are.
//!
//! Liveness is recursive through watch_group, so the builder refuses cycles
//! through both kinds of group references (chaining and watching) with
//! OFPGMFC_LOOP and limits chains to [`MAX_CHAIN_DEPTH`]. The DFS that checks
//! this is iterative and yields a post-order (referenced groups before the
//! groups that reference them) in which a view computes liveness in one
//! pass, without recursion.
//!
//! # Counters
//!
//! Group and bucket packet/byte counters live in [`GroupCounters`], behind
//! an `Arc` so that a group unchanged by a GROUP_MOD keeps its counters in the
//! next table version. Every worker owns one cache-line-aligned slot and is
//! its only writer (relaxed load + store, no read-modify-write, the same
//! pattern as `port::PortStats`); readers sum the slots.
//!
//! # Validation (OpenFlow 1.3.5 §6.7, checked against OVS and OFTest)
//!
//! | condition | error |
//! |---|---|
//! | group type not ALL/SELECT/INDIRECT/FF | GROUP_MOD_FAILED/BAD_TYPE |
//! | group id above OFPG_MAX | GROUP_MOD_FAILED/INVALID_GROUP |
//! | same id twice in one table | GROUP_MOD_FAILED/GROUP_EXISTS |
//! | INDIRECT without exactly one bucket | GROUP_MOD_FAILED/INVALID_GROUP |
//! | weight ≠ 0 in a non-SELECT group ("fields undefined for the type") | GROUP_MOD_FAILED/INVALID_GROUP |
//! | FF bucket watching neither a port nor a group | GROUP_MOD_FAILED/BAD_WATCH |
//! | watch_port reserved (other than ANY) or 0 | GROUP_MOD_FAILED/BAD_WATCH |
//! | watch_group that does not exist, or is reserved | GROUP_MOD_FAILED/BAD_WATCH |
//! | `GROUP` action to a group that does not exist (§6.4 rules apply to buckets) | BAD_ACTION/BAD_OUT_GROUP |
//! | a cycle through chaining or watching | GROUP_MOD_FAILED/LOOP |
//! | chain deeper than [`MAX_CHAIN_DEPTH`] | GROUP_MOD_FAILED/CHAINING_UNSUPPORTED |
//! | more than [`MAX_BUCKETS`] buckets | GROUP_MOD_FAILED/OUT_OF_BUCKETS |
//! | more than [`MAX_GROUPS`] groups | GROUP_MOD_FAILED/OUT_OF_GROUPS |
//!
//! A SELECT group whose weights are all zero is accepted (it selects nothing,
//! like an empty group); OVS accepts it too. Deleting a group another group
//! forwards to is the agent's decision: building the table without it fails
//! with [`GroupError::UnknownChainedGroup`], which the agent reports as
//! GROUP_MOD_FAILED/CHAINED_GROUP for a DELETE.

use crate::counters::bump;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use openflow::ErrorCode;
use openflow::action::Action;
use openflow::error::{BadActionCode, GroupModFailedCode};
use openflow::group::{group_id, group_type};
use openflow::multipart::{Counters, GroupFeatures, GroupStats};
use openflow::port::port_no;

use crate::key::{FlowKey, field};

/// Most groups one table holds.
pub const MAX_GROUPS: usize = 65_536;
/// Most buckets one group holds.
pub const MAX_BUCKETS: usize = 1024;
/// Longest chain of group references (chaining or watching) from one group.
pub const MAX_CHAIN_DEPTH: usize = 16;
/// Most slots of a SELECT lookup table; total weights above it are
/// apportioned (largest remainder) onto this many slots.
pub const MAX_SELECT_SLOTS: usize = 4096;
/// Fewest slots of a SELECT lookup table with a nonzero total weight: small
/// weights are scaled up (exactly, by an integer factor) so that a dead
/// bucket's slots can be shared among the live buckets by weight.
pub const MIN_SELECT_SLOTS: usize = 1024;

/// `OFPGFC_*` group capability bits (`ofp_group_capabilities`).
pub mod group_capabilities {
    /// OFPGFC_SELECT_WEIGHT: SELECT supports weights.
    pub const SELECT_WEIGHT: u32 = 1 << 0;
    /// OFPGFC_SELECT_LIVENESS: SELECT takes liveness into account.
    pub const SELECT_LIVENESS: u32 = 1 << 1;
    /// OFPGFC_CHAINING: groups may forward to groups.
    pub const CHAINING: u32 = 1 << 2;
    /// OFPGFC_CHAINING_CHECKS: loops and deletes of chained groups are checked.
    pub const CHAINING_CHECKS: u32 = 1 << 3;
}

/// Seed of the SELECT flow hash (fixed so selection is deterministic across
/// workers and restarts).
const SELECT_HASH_SEED: u64 = 0x6f6b_6f5f_6772_6f75;

/// "No bucket" in precomputed choices.
const NO_BUCKET: u32 = u32::MAX;

/// A group type this dataplane executes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GroupType {
    /// OFPGT_ALL
    All,
    /// OFPGT_SELECT
    Select,
    /// OFPGT_INDIRECT
    Indirect,
    /// OFPGT_FF
    FastFailover,
}

impl GroupType {
    /// Decodes `ofp_group_type`; `None` for a type we do not know.
    pub const fn from_u8(v: u8) -> Option<Self> {
        match v {
            group_type::ALL => Some(Self::All),
            group_type::SELECT => Some(Self::Select),
            group_type::INDIRECT => Some(Self::Indirect),
            group_type::FF => Some(Self::FastFailover),
            _ => None,
        }
    }

    /// The wire value.
    pub const fn to_u8(self) -> u8 {
        match self {
            Self::All => group_type::ALL,
            Self::Select => group_type::SELECT,
            Self::Indirect => group_type::INDIRECT,
            Self::FastFailover => group_type::FF,
        }
    }
}

/// Why a group table could not be built. Every variant names the group at
/// fault; [`GroupError::error_code`] gives the OpenFlow error to send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GroupError {
    /// The group type is not one of ALL, SELECT, INDIRECT, FF.
    #[error("group {group_id}: unknown group type {group_type}")]
    BadType {
        /// The group.
        group_id: u32,
        /// The type received.
        group_type: u8,
    },
    /// The group id is reserved (above OFPG_MAX).
    #[error("group {group_id}: reserved group id")]
    InvalidGroupId {
        /// The group.
        group_id: u32,
    },
    /// The same id was given twice.
    #[error("group {group_id}: defined twice")]
    Duplicate {
        /// The group.
        group_id: u32,
    },
    /// An INDIRECT group must have exactly one bucket.
    #[error("group {group_id}: INDIRECT group with {buckets} buckets")]
    IndirectBuckets {
        /// The group.
        group_id: u32,
        /// How many buckets it had.
        buckets: usize,
    },
    /// A bucket of a non-SELECT group has a weight.
    #[error("group {group_id} bucket {bucket}: weight {weight} in a non-SELECT group")]
    WeightNotAllowed {
        /// The group.
        group_id: u32,
        /// Bucket index.
        bucket: usize,
        /// The weight given.
        weight: u16,
    },
    /// A FAST_FAILOVER bucket watches neither a port nor a group.
    #[error("group {group_id} bucket {bucket}: fast-failover bucket watches nothing")]
    MissingWatch {
        /// The group.
        group_id: u32,
        /// Bucket index.
        bucket: usize,
    },
    /// The watch_port cannot be watched (0 or a reserved port other than ANY).
    #[error("group {group_id} bucket {bucket}: cannot watch port {port:#x}")]
    BadWatchPort {
        /// The group.
        group_id: u32,
        /// Bucket index.
        bucket: usize,
        /// The port.
        port: u32,
    },
    /// The watch_group does not exist (or is reserved).
    #[error("group {group_id} bucket {bucket}: watched group {watched} does not exist")]
    UnknownWatchGroup {
        /// The group.
        group_id: u32,
        /// Bucket index.
        bucket: usize,
        /// The watched group.
        watched: u32,
    },
    /// A bucket forwards to a group that does not exist.
    #[error("group {group_id} bucket {bucket}: forwards to missing group {target}")]
    UnknownChainedGroup {
        /// The group.
        group_id: u32,
        /// Bucket index.
        bucket: usize,
        /// The missing group.
        target: u32,
    },
    /// Chaining or watching would make a loop through this group.
    #[error("group {group_id}: group references form a loop")]
    Loop {
        /// A group on the loop.
        group_id: u32,
    },
    /// A chain of references from this group is too long.
    #[error("group {group_id}: chain depth {depth} exceeds the limit")]
    ChainTooDeep {
        /// The group.
        group_id: u32,
        /// Its depth.
        depth: usize,
    },
    /// Too many buckets in one group.
    #[error("group {group_id}: {buckets} buckets exceed the limit")]
    TooManyBuckets {
        /// The group.
        group_id: u32,
        /// How many were given.
        buckets: usize,
    },
    /// Too many groups in the table.
    #[error("group table full ({count} groups)")]
    TooManyGroups {
        /// How many were given.
        count: usize,
    },
}

impl GroupError {
    /// The OpenFlow error this maps to (see the module table).
    pub fn error_code(&self) -> ErrorCode {
        use GroupModFailedCode as C;
        let c = match self {
            Self::BadType { .. } => C::BadType,
            Self::InvalidGroupId { .. }
            | Self::IndirectBuckets { .. }
            | Self::WeightNotAllowed { .. } => C::InvalidGroup,
            Self::Duplicate { .. } => C::GroupExists,
            Self::MissingWatch { .. }
            | Self::BadWatchPort { .. }
            | Self::UnknownWatchGroup { .. } => C::BadWatch,
            Self::UnknownChainedGroup { .. } => {
                return ErrorCode::BadAction(BadActionCode::BadOutGroup);
            }
            Self::Loop { .. } => C::Loop,
            Self::ChainTooDeep { .. } => C::ChainingUnsupported,
            Self::TooManyBuckets { .. } => C::OutOfBuckets,
            Self::TooManyGroups { .. } => C::OutOfGroups,
        };
        ErrorCode::GroupModFailed(c)
    }

    /// The group the error is about (`None` for a full table).
    pub fn group_id(&self) -> Option<u32> {
        match *self {
            Self::BadType { group_id, .. }
            | Self::InvalidGroupId { group_id }
            | Self::Duplicate { group_id }
            | Self::IndirectBuckets { group_id, .. }
            | Self::WeightNotAllowed { group_id, .. }
            | Self::MissingWatch { group_id, .. }
            | Self::BadWatchPort { group_id, .. }
            | Self::UnknownWatchGroup { group_id, .. }
            | Self::UnknownChainedGroup { group_id, .. }
            | Self::Loop { group_id }
            | Self::ChainTooDeep { group_id, .. }
            | Self::TooManyBuckets { group_id, .. } => Some(group_id),
            Self::TooManyGroups { .. } => None,
        }
    }
}

/// One bucket as the agent describes it to the builder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketSpec<B> {
    /// Weight (SELECT only; 0 elsewhere).
    pub weight: u16,
    /// Watched port (`OFPP_ANY` for none).
    pub watch_port: u32,
    /// Watched group (`OFPG_ANY` for none).
    pub watch_group: u32,
    /// Groups the bucket's actions forward to (`GROUP` actions).
    pub chained: Vec<u32>,
    /// The compiled actions, opaque here.
    pub payload: B,
}

impl<B> BucketSpec<B> {
    /// A bucket from its wire form; `chained` is taken from its `GROUP`
    /// actions.
    pub fn from_wire(bucket: &openflow::group::Bucket, payload: B) -> Self {
        let chained = bucket
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::Group(g) => Some(*g),
                _ => None,
            })
            .collect();
        Self {
            weight: bucket.weight,
            watch_port: bucket.watch_port,
            watch_group: bucket.watch_group,
            chained,
            payload,
        }
    }
}

/// One group as the agent describes it to the builder.
#[derive(Debug, Clone)]
pub struct GroupSpec<B> {
    /// Group id (0..=OFPG_MAX).
    pub group_id: u32,
    /// `ofp_group_type` as received.
    pub group_type: u8,
    /// Buckets, in order.
    pub buckets: Vec<BucketSpec<B>>,
    /// Counters to keep (from the previous table, for a group this change
    /// does not touch); `None` starts new ones. Counters whose shape does not
    /// fit (worker or bucket count) are replaced by new ones.
    pub counters: Option<Arc<GroupCounters>>,
}

/// A compiled bucket.
#[derive(Debug)]
pub struct Bucket<B> {
    weight: u16,
    watch_port: u32,
    watch_group: u32,
    /// Index of the watched group in the table, or `NO_BUCKET`.
    watch_idx: u32,
    payload: B,
}

impl<B> Bucket<B> {
    /// Weight.
    pub fn weight(&self) -> u16 {
        self.weight
    }
    /// Watched port (`OFPP_ANY` for none).
    pub fn watch_port(&self) -> u32 {
        self.watch_port
    }
    /// Watched group (`OFPG_ANY` for none).
    pub fn watch_group(&self) -> u32 {
        self.watch_group
    }
    /// The compiled actions.
    pub fn payload(&self) -> &B {
        &self.payload
    }
    fn watches(&self) -> bool {
        self.watch_port != port_no::ANY || self.watch_group != group_id::ANY
    }
}

/// A compiled group.
#[derive(Debug)]
pub struct Group<B> {
    id: u32,
    ty: GroupType,
    buckets: Box<[Bucket<B>]>,
    /// SELECT lookup table with every bucket live.
    slots: Box<[u16]>,
    /// Whether any bucket watches something (its selection depends on
    /// liveness).
    watches: bool,
    counters: Arc<GroupCounters>,
}

impl<B> Group<B> {
    /// Group id.
    pub fn id(&self) -> u32 {
        self.id
    }
    /// Group type.
    pub fn group_type(&self) -> GroupType {
        self.ty
    }
    /// Buckets.
    pub fn buckets(&self) -> &[Bucket<B>] {
        &self.buckets
    }
    /// The group's counters (to carry into the next table).
    pub fn counters(&self) -> &Arc<GroupCounters> {
        &self.counters
    }
    /// GROUP stats entry; `ref_count` is the agent's.
    pub fn stats(&self, ref_count: u32, now: Instant) -> GroupStats {
        self.counters.stats(self.id, ref_count, now)
    }
}

/// Collects groups and builds a [`GroupTable`].
#[derive(Debug)]
pub struct GroupTableBuilder<B> {
    n_workers: usize,
    created: Instant,
    groups: Vec<(GroupType, GroupSpec<B>)>,
    index: HashMap<u32, u32, foldhash::fast::FixedState>,
}

impl<B> GroupTableBuilder<B> {
    /// A builder for a table used by `n_workers` workers; new counters record
    /// `created` as the groups' creation time.
    pub fn new(n_workers: usize, created: Instant) -> Self {
        Self {
            n_workers: n_workers.max(1),
            created,
            groups: Vec::new(),
            index: HashMap::default(),
        }
    }

    /// Adds a group after checking the rules that concern it alone.
    pub fn insert(&mut self, spec: GroupSpec<B>) -> Result<(), GroupError> {
        let group_id = spec.group_id;
        if group_id > group_id::MAX {
            return Err(GroupError::InvalidGroupId { group_id });
        }
        let ty = GroupType::from_u8(spec.group_type).ok_or(GroupError::BadType {
            group_id,
            group_type: spec.group_type,
        })?;
        if self.index.contains_key(&group_id) {
            return Err(GroupError::Duplicate { group_id });
        }
        if self.groups.len() >= MAX_GROUPS {
            return Err(GroupError::TooManyGroups {
                count: self.groups.len() + 1,
            });
        }
        let n = spec.buckets.len();
        if n > MAX_BUCKETS {
            return Err(GroupError::TooManyBuckets {
                group_id,
                buckets: n,
            });
        }
        if ty == GroupType::Indirect && n != 1 {
            return Err(GroupError::IndirectBuckets {
                group_id,
                buckets: n,
            });
        }
        for (bucket, b) in spec.buckets.iter().enumerate() {
            if ty != GroupType::Select && b.weight != 0 {
                return Err(GroupError::WeightNotAllowed {
                    group_id,
                    bucket,
                    weight: b.weight,
                });
            }
            if b.watch_port != port_no::ANY && (b.watch_port == 0 || b.watch_port > port_no::MAX) {
                return Err(GroupError::BadWatchPort {
                    group_id,
                    bucket,
                    port: b.watch_port,
                });
            }
            if b.watch_group != group_id::ANY && b.watch_group > group_id::MAX {
                return Err(GroupError::UnknownWatchGroup {
                    group_id,
                    bucket,
                    watched: b.watch_group,
                });
            }
            if ty == GroupType::FastFailover && !b.watches_something() {
                return Err(GroupError::MissingWatch { group_id, bucket });
            }
        }
        self.index.insert(group_id, self.groups.len() as u32);
        self.groups.push((ty, spec));
        Ok(())
    }

    /// Checks the references between groups and compiles the table.
    pub fn build(self) -> Result<GroupTable<B>, GroupError> {
        let n = self.groups.len();
        // Resolve references: edges[g] = indices g depends on.
        let mut edges: Vec<Vec<u32>> = Vec::with_capacity(n);
        for (_, spec) in &self.groups {
            let mut e = Vec::new();
            for (bucket, b) in spec.buckets.iter().enumerate() {
                for &target in &b.chained {
                    match self.index.get(&target) {
                        Some(&i) => e.push(i),
                        None => {
                            return Err(GroupError::UnknownChainedGroup {
                                group_id: spec.group_id,
                                bucket,
                                target,
                            });
                        }
                    }
                }
                if b.watch_group != group_id::ANY {
                    match self.index.get(&b.watch_group) {
                        Some(&i) => e.push(i),
                        None => {
                            return Err(GroupError::UnknownWatchGroup {
                                group_id: spec.group_id,
                                bucket,
                                watched: b.watch_group,
                            });
                        }
                    }
                }
            }
            e.sort_unstable();
            e.dedup();
            edges.push(e);
        }
        let order = self.post_order(&edges)?;

        let index = self.index;
        let n_workers = self.n_workers;
        let created = self.created;
        let mut groups = Vec::with_capacity(n);
        for (ty, spec) in self.groups {
            let buckets: Box<[Bucket<B>]> = spec
                .buckets
                .into_iter()
                .map(|b| Bucket {
                    weight: b.weight,
                    watch_port: b.watch_port,
                    watch_idx: if b.watch_group == group_id::ANY {
                        NO_BUCKET
                    } else {
                        index.get(&b.watch_group).copied().unwrap_or(NO_BUCKET)
                    },
                    watch_group: b.watch_group,
                    payload: b.payload,
                })
                .collect();
            let slots = if ty == GroupType::Select {
                let weights: Vec<u32> = buckets.iter().map(|b| u32::from(b.weight)).collect();
                build_slots(&weights)
            } else {
                Box::default()
            };
            let counters = match spec.counters {
                Some(c) if c.fits(n_workers, buckets.len()) => c,
                _ => Arc::new(GroupCounters::new(n_workers, buckets.len(), created)),
            };
            groups.push(Group {
                id: spec.group_id,
                ty,
                watches: buckets.iter().any(Bucket::watches),
                buckets,
                slots,
                counters,
            });
        }
        Ok(GroupTable {
            groups: groups.into_boxed_slice(),
            index,
            order: order.into_boxed_slice(),
            n_workers,
        })
    }

    /// Iterative DFS over the reference graph: refuses cycles and chains
    /// deeper than [`MAX_CHAIN_DEPTH`], returns the post-order.
    fn post_order(&self, edges: &[Vec<u32>]) -> Result<Vec<u32>, GroupError> {
        const WHITE: u8 = 0;
        const GRAY: u8 = 1;
        const BLACK: u8 = 2;
        let n = edges.len();
        let mut color = vec![WHITE; n];
        let mut depth = vec![0usize; n];
        let mut order = Vec::with_capacity(n);
        let mut stack: Vec<(u32, usize)> = Vec::new();
        for root in 0..n {
            if color[root] != WHITE {
                continue;
            }
            color[root] = GRAY;
            stack.push((root as u32, 0));
            while let Some(top) = stack.last_mut() {
                let v = top.0 as usize;
                if let Some(&u) = edges[v].get(top.1) {
                    top.1 += 1;
                    match color[u as usize] {
                        WHITE => {
                            color[u as usize] = GRAY;
                            stack.push((u, 0));
                        }
                        GRAY => {
                            return Err(GroupError::Loop {
                                group_id: self.groups[u as usize].1.group_id,
                            });
                        }
                        _ => {}
                    }
                } else {
                    stack.pop();
                    color[v] = BLACK;
                    let d = edges[v]
                        .iter()
                        .map(|&u| depth[u as usize] + 1)
                        .max()
                        .unwrap_or(0);
                    if d > MAX_CHAIN_DEPTH {
                        return Err(GroupError::ChainTooDeep {
                            group_id: self.groups[v].1.group_id,
                            depth: d,
                        });
                    }
                    depth[v] = d;
                    order.push(v as u32);
                }
            }
        }
        Ok(order)
    }
}

impl<B> BucketSpec<B> {
    fn watches_something(&self) -> bool {
        self.watch_port != port_no::ANY || self.watch_group != group_id::ANY
    }
}

/// An immutable, compiled group table (one version).
#[derive(Debug)]
pub struct GroupTable<B> {
    groups: Box<[Group<B>]>,
    index: HashMap<u32, u32, foldhash::fast::FixedState>,
    /// Post-order of references: a group comes after every group it
    /// references.
    order: Box<[u32]>,
    n_workers: usize,
}

impl<B> GroupTable<B> {
    /// An empty table.
    pub fn empty(n_workers: usize) -> Self {
        Self {
            groups: Box::default(),
            index: HashMap::default(),
            order: Box::default(),
            n_workers: n_workers.max(1),
        }
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// Whether the table has no group.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Number of worker counter slots.
    pub fn n_workers(&self) -> usize {
        self.n_workers
    }

    /// A group by id.
    pub fn get(&self, id: u32) -> Option<&Group<B>> {
        self.index.get(&id).map(|&i| &self.groups[i as usize])
    }

    /// All groups, in insertion order.
    pub fn groups(&self) -> impl Iterator<Item = &Group<B>> {
        self.groups.iter()
    }

    /// GROUP stats for one group; `ref_count` is the agent's.
    pub fn stats(&self, id: u32, ref_count: u32, now: Instant) -> Option<GroupStats> {
        self.get(id).map(|g| g.stats(ref_count, now))
    }
}

/// Port liveness, as the worker knows it.
pub trait Liveness {
    /// Whether the port is up (and usable) now.
    fn port_live(&self, port: u32) -> bool;
}

impl<F: Fn(u32) -> bool> Liveness for F {
    fn port_live(&self, port: u32) -> bool {
        self(port)
    }
}

/// A small set of live ports: a bitmap for numbers below 1024 and a sorted
/// list for the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LivePorts {
    low: [u64; 16],
    high: Vec<u32>,
}

impl LivePorts {
    /// No port live.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks a port up or down.
    pub fn set(&mut self, port: u32, up: bool) {
        if port < 1024 {
            let (w, b) = ((port / 64) as usize, port % 64);
            if up {
                self.low[w] |= 1 << b;
            } else {
                self.low[w] &= !(1 << b);
            }
        } else {
            match (self.high.binary_search(&port), up) {
                (Err(i), true) => self.high.insert(i, port),
                (Ok(i), false) => {
                    self.high.remove(i);
                }
                _ => {}
            }
        }
    }
}

impl Liveness for LivePorts {
    fn port_live(&self, port: u32) -> bool {
        if port < 1024 {
            self.low[(port / 64) as usize] & (1 << (port % 64)) != 0
        } else {
            self.high.binary_search(&port).is_ok()
        }
    }
}

/// What a group executes for one packet.
#[derive(Debug, Clone, Copy)]
pub enum Selection<'a, B> {
    /// Nothing (empty group, no live bucket, all weights zero).
    None,
    /// One bucket (INDIRECT, SELECT, FAST_FAILOVER).
    One {
        /// Bucket index.
        index: usize,
        /// The bucket.
        bucket: &'a Bucket<B>,
    },
    /// Every bucket, in order (ALL).
    All(&'a [Bucket<B>]),
}

impl<'a, B> Selection<'a, B> {
    /// The selected buckets' indices and payloads, in execution order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &'a B)> + 'a {
        let (start, slice): (usize, &'a [Bucket<B>]) = match *self {
            Self::None => (0, &[]),
            Self::One { index, bucket } => (index, core::slice::from_ref(bucket)),
            Self::All(all) => (0, all),
        };
        slice
            .iter()
            .enumerate()
            .map(move |(i, b)| (start + i, &b.payload))
    }

    /// How many buckets run.
    pub fn len(&self) -> usize {
        match self {
            Self::None => 0,
            Self::One { .. } => 1,
            Self::All(all) => all.len(),
        }
    }

    /// Whether no bucket runs.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A worker's view of one table version under the current port state:
/// precomputed liveness, FAST_FAILOVER choices and live SELECT slots.
#[derive(Debug)]
pub struct GroupView<B> {
    table: Arc<GroupTable<B>>,
    /// Liveness bit per group index.
    live: Vec<u64>,
    /// FAST_FAILOVER: chosen bucket per group index (`NO_BUCKET` if none;
    /// unused for other types).
    ff_choice: Vec<u32>,
    /// SELECT groups that watch something: slots over the live buckets.
    live_slots: Vec<Option<Box<[u16]>>>,
}

impl<B> GroupView<B> {
    /// A view of `table` under `ports`.
    pub fn new(table: Arc<GroupTable<B>>, ports: &impl Liveness) -> Self {
        let n = table.groups.len();
        let mut v = Self {
            table,
            live: vec![0; n.div_ceil(64)],
            ff_choice: vec![NO_BUCKET; n],
            live_slots: (0..n).map(|_| None).collect(),
        };
        v.refresh(ports);
        v
    }

    /// The table this view reads.
    pub fn table(&self) -> &Arc<GroupTable<B>> {
        &self.table
    }

    /// Recomputes liveness after a port changed state. Allocates only for
    /// SELECT groups whose live bucket set changed.
    pub fn refresh(&mut self, ports: &impl Liveness) {
        let table = &*self.table;
        let mut live_buckets: Vec<bool> = Vec::new();
        for &gi in table.order.iter() {
            let gi = gi as usize;
            let g = &table.groups[gi];
            live_buckets.clear();
            live_buckets.extend(g.buckets.iter().map(|b| {
                !b.watches()
                    || (b.watch_port != port_no::ANY && ports.port_live(b.watch_port))
                    || (b.watch_idx != NO_BUCKET && bit(&self.live, b.watch_idx as usize))
            }));
            let first_live = live_buckets
                .iter()
                .position(|&l| l)
                .map_or(NO_BUCKET, |i| i as u32);
            set_bit(&mut self.live, gi, first_live != NO_BUCKET);
            match g.ty {
                GroupType::FastFailover => self.ff_choice[gi] = first_live,
                GroupType::Select if g.watches => {
                    self.live_slots[gi] = if live_buckets.iter().all(|&l| l) {
                        None
                    } else {
                        Some(reassign_dead_slots(&g.slots, &g.buckets, &live_buckets))
                    };
                }
                _ => {}
            }
        }
    }

    /// Whether a group is live (has a live bucket).
    pub fn group_live(&self, id: u32) -> Option<bool> {
        self.table
            .index
            .get(&id)
            .map(|&i| bit(&self.live, i as usize))
    }

    /// The buckets group `id` executes for a packet with flow `key`, or
    /// `None` if there is no such group. Does not count.
    #[inline]
    pub fn select(&self, id: u32, key: &FlowKey) -> Option<Selection<'_, B>> {
        let gi = *self.table.index.get(&id)? as usize;
        Some(self.select_index(gi, key))
    }

    /// Like [`GroupView::select`], and counts the packet (`bytes` long) in
    /// the group and in each selected bucket, in `worker`'s slot.
    #[inline]
    pub fn apply(
        &self,
        worker: usize,
        id: u32,
        key: &FlowKey,
        bytes: u64,
    ) -> Option<Selection<'_, B>> {
        let gi = *self.table.index.get(&id)? as usize;
        let sel = self.select_index(gi, key);
        if let Some(slot) = self.table.groups[gi].counters.workers.get(worker) {
            bump(&slot.packets, 1);
            bump(&slot.bytes, bytes);
            for (bi, _) in sel.iter() {
                if let Some(c) = slot.buckets.get(bi) {
                    bump(&c[0], 1);
                    bump(&c[1], bytes);
                }
            }
        }
        Some(sel)
    }

    fn select_index(&self, gi: usize, key: &FlowKey) -> Selection<'_, B> {
        let g = &self.table.groups[gi];
        let one = |i: u32| match g.buckets.get(i as usize) {
            Some(bucket) => Selection::One {
                index: i as usize,
                bucket,
            },
            None => Selection::None,
        };
        match g.ty {
            GroupType::All => Selection::All(&g.buckets),
            GroupType::Indirect => one(0),
            GroupType::FastFailover => one(self.ff_choice[gi]),
            GroupType::Select => {
                let slots = self.live_slots[gi].as_deref().unwrap_or(&g.slots);
                if slots.is_empty() {
                    return Selection::None;
                }
                let h = flow_hash(key) >> 32;
                let s = ((h * slots.len() as u64) >> 32) as usize;
                one(u32::from(slots[s]))
            }
        }
    }
}

/// The SELECT hash: the words a flow keeps for its life (addresses, L4
/// ports, IP protocol, ethertype, VLAN, MPLS label), not DSCP/ECN, which a
/// flow's packets may change.
#[inline]
pub fn flow_hash(key: &FlowKey) -> u64 {
    let words = [
        key.w[3],
        key.w[4],
        key.get(field::IP_PROTO),
        key.w[6],
        key.w[7],
        key.w[8],
        key.w[9],
        key.w[10],
        key.w[11],
    ];
    foldhash::fast::FixedState::with_seed(SELECT_HASH_SEED).hash_one(words)
}

/// Slots for `weights`: each weighted bucket owns a share of slots
/// proportional to its weight (exactly, scaled to at least
/// [`MIN_SELECT_SLOTS`], when the total fits in [`MAX_SELECT_SLOTS`]),
/// interleaved by smooth weighted round robin.
fn build_slots(weights: &[u32]) -> Box<[u16]> {
    let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    if total == 0 {
        return Box::default();
    }
    let counts: Vec<u64> = if total as usize <= MAX_SELECT_SLOTS {
        let scale = (MIN_SELECT_SLOTS as u64).div_ceil(total);
        weights.iter().map(|&w| u64::from(w) * scale).collect()
    } else {
        apportion(weights, total, MAX_SELECT_SLOTS as u64)
    };
    let len: u64 = counts.iter().sum();
    let mut out = Vec::with_capacity(len as usize);
    let mut current = vec![0i64; counts.len()];
    for _ in 0..len {
        out.push(swrr_next(&counts, &mut current, len) as u16);
    }
    out.into_boxed_slice()
}

/// Largest-remainder apportionment of `slots` over `weights`; a bucket with
/// weight > 0 keeps at least one slot.
fn apportion(weights: &[u32], total: u64, slots: u64) -> Vec<u64> {
    let mut counts: Vec<u64> = weights
        .iter()
        .map(|&w| u64::from(w) * slots / total)
        .collect();
    let mut rem: Vec<(u64, usize)> = weights
        .iter()
        .enumerate()
        .map(|(i, &w)| (u64::from(w) * slots % total, i))
        .collect();
    rem.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut left = slots - counts.iter().sum::<u64>();
    for &(_, i) in &rem {
        if left == 0 {
            break;
        }
        counts[i] += 1;
        left -= 1;
    }
    for (c, &w) in counts.iter_mut().zip(weights) {
        if w > 0 && *c == 0 {
            *c = 1;
        }
    }
    counts
}

/// One step of smooth weighted round robin (nginx's): every candidate gains
/// its weight, the largest wins and pays the total.
fn swrr_next(weights: &[u64], current: &mut [i64], total: u64) -> usize {
    let mut best = 0;
    let mut best_v = i64::MIN;
    for (i, (&w, c)) in weights.iter().zip(current.iter_mut()).enumerate() {
        if w == 0 {
            continue;
        }
        *c += w as i64;
        if *c > best_v {
            best_v = *c;
            best = i;
        }
    }
    current[best] -= total as i64;
    best
}

/// The slots of dead buckets handed to live buckets by weight; live buckets
/// keep their own slots.
fn reassign_dead_slots<B>(slots: &[u16], buckets: &[Bucket<B>], live: &[bool]) -> Box<[u16]> {
    let weights: Vec<u64> = buckets
        .iter()
        .zip(live)
        .map(|(b, &l)| if l { u64::from(b.weight) } else { 0 })
        .collect();
    let total: u64 = weights.iter().sum();
    if total == 0 {
        return Box::default();
    }
    let mut current = vec![0i64; weights.len()];
    slots
        .iter()
        .map(|&s| {
            if live.get(usize::from(s)).copied().unwrap_or(false) {
                s
            } else {
                swrr_next(&weights, &mut current, total) as u16
            }
        })
        .collect()
}

#[inline]
fn bit(bits: &[u64], i: usize) -> bool {
    bits.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
}

#[inline]
fn set_bit(bits: &mut [u64], i: usize, v: bool) {
    if let Some(w) = bits.get_mut(i / 64) {
        if v {
            *w |= 1 << (i % 64);
        } else {
            *w &= !(1 << (i % 64));
        }
    }
}

/// One worker's counters for one group, on its own cache line.
#[derive(Debug)]
#[repr(align(64))]
struct WorkerGroupCounters {
    packets: AtomicU64,
    bytes: AtomicU64,
    /// `[packets, bytes]` per bucket.
    buckets: Box<[[AtomicU64; 2]]>,
}

/// A group's packet and byte counters, one single-writer slot per worker,
/// summed on read.
#[derive(Debug)]
pub struct GroupCounters {
    created: Instant,
    workers: Box<[WorkerGroupCounters]>,
}

impl GroupCounters {
    /// Zeroed counters for `n_workers` workers and `n_buckets` buckets.
    pub fn new(n_workers: usize, n_buckets: usize, created: Instant) -> Self {
        let workers = (0..n_workers.max(1))
            .map(|_| WorkerGroupCounters {
                packets: AtomicU64::new(0),
                bytes: AtomicU64::new(0),
                buckets: (0..n_buckets)
                    .map(|_| [AtomicU64::new(0), AtomicU64::new(0)])
                    .collect(),
            })
            .collect();
        Self { created, workers }
    }

    fn fits(&self, n_workers: usize, n_buckets: usize) -> bool {
        self.workers.len() == n_workers
            && self.workers.first().map(|w| w.buckets.len()) == Some(n_buckets)
    }

    /// When the group was created.
    pub fn created(&self) -> Instant {
        self.created
    }

    /// `(packets, bytes)` of the group, summed over workers.
    pub fn totals(&self) -> Counters {
        let mut c = Counters::default();
        for w in self.workers.iter() {
            c.packet_count = c
                .packet_count
                .wrapping_add(w.packets.load(Ordering::Relaxed));
            c.byte_count = c.byte_count.wrapping_add(w.bytes.load(Ordering::Relaxed));
        }
        c
    }

    /// Per-bucket `(packets, bytes)`, summed over workers.
    pub fn bucket_totals(&self) -> Vec<Counters> {
        let n = self.workers.first().map_or(0, |w| w.buckets.len());
        let mut out = vec![Counters::default(); n];
        for w in self.workers.iter() {
            for (o, b) in out.iter_mut().zip(w.buckets.iter()) {
                o.packet_count = o.packet_count.wrapping_add(b[0].load(Ordering::Relaxed));
                o.byte_count = o.byte_count.wrapping_add(b[1].load(Ordering::Relaxed));
            }
        }
        out
    }

    /// The GROUP stats entry.
    pub fn stats(&self, group_id: u32, ref_count: u32, now: Instant) -> GroupStats {
        let t = self.totals();
        let d = now.saturating_duration_since(self.created);
        GroupStats {
            group_id,
            ref_count,
            packet_count: t.packet_count,
            byte_count: t.byte_count,
            duration_sec: u32::try_from(d.as_secs()).unwrap_or(u32::MAX),
            duration_nsec: d.subsec_nanos(),
            bucket_stats: self.bucket_totals(),
        }
    }
}

/// GROUP_FEATURES: every type, weights, liveness, chaining with checks,
/// [`MAX_GROUPS`] per type. `actions` is the bitmap (`1 << OFPAT_*`) of
/// actions the action executor supports in buckets, the same for every type.
pub fn group_features(actions: u32) -> GroupFeatures {
    use group_capabilities as c;
    GroupFeatures {
        types: (1 << group_type::ALL)
            | (1 << group_type::SELECT)
            | (1 << group_type::INDIRECT)
            | (1 << group_type::FF),
        capabilities: c::SELECT_WEIGHT | c::SELECT_LIVENESS | c::CHAINING | c::CHAINING_CHECKS,
        max_groups: [MAX_GROUPS as u32; 4],
        actions: [actions; 4],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(weight: u16) -> BucketSpec<u32> {
        BucketSpec {
            weight,
            watch_port: port_no::ANY,
            watch_group: group_id::ANY,
            chained: vec![],
            payload: u32::from(weight),
        }
    }

    #[test]
    fn slots_follow_weights_exactly() {
        let s = build_slots(&[1, 2, 0, 3]);
        let k = MIN_SELECT_SLOTS.div_ceil(6);
        assert_eq!(s.len(), 6 * k);
        let count = |i| s.iter().filter(|&&x| x == i).count();
        assert_eq!(
            (count(0), count(1), count(2), count(3)),
            (k, 2 * k, 0, 3 * k)
        );
        // Interleaved, not in blocks.
        assert_ne!(&s[..3], &[3, 3, 3]);
        let s = build_slots(&[4000, 96]);
        assert_eq!((s.len(), s.iter().filter(|&&x| x == 1).count()), (4096, 96));
    }

    #[test]
    fn slots_apportion_large_weights() {
        let s = build_slots(&[65535, 65535, 1]);
        assert_eq!(s.len(), MAX_SELECT_SLOTS + 1);
        let count = |i| s.iter().filter(|&&x| x == i).count();
        assert_eq!(count(2), 1, "tiny weight keeps one slot");
        assert!(count(0).abs_diff(count(1)) <= 1);
        assert!(build_slots(&[0, 0]).is_empty());
    }

    #[test]
    fn dead_slots_go_to_live_buckets_only() {
        let buckets: Vec<Bucket<()>> = [1u16, 1, 2]
            .iter()
            .map(|&w| Bucket {
                weight: w,
                watch_port: 1,
                watch_group: group_id::ANY,
                watch_idx: NO_BUCKET,
                payload: (),
            })
            .collect();
        let slots = build_slots(&[1, 1, 2]);
        let re = reassign_dead_slots(&slots, &buckets, &[true, false, true]);
        assert_eq!(re.len(), slots.len());
        for (a, b) in slots.iter().zip(re.iter()) {
            assert_ne!(*b, 1);
            if *a != 1 {
                assert_eq!(a, b, "live bucket keeps its slot");
            }
        }
        assert!(reassign_dead_slots(&slots, &buckets, &[false; 3]).is_empty());
    }

    #[test]
    fn local_rules() {
        let mut t = GroupTableBuilder::<u32>::new(1, Instant::now());
        let spec = |id, ty, buckets| GroupSpec {
            group_id: id,
            group_type: ty,
            buckets,
            counters: None,
        };
        assert_eq!(
            t.insert(spec(1, 9, vec![])).unwrap_err().error_code(),
            ErrorCode::GroupModFailed(GroupModFailedCode::BadType)
        );
        assert!(matches!(
            t.insert(spec(group_id::ALL, 0, vec![])),
            Err(GroupError::InvalidGroupId { .. })
        ));
        assert!(matches!(
            t.insert(spec(1, group_type::INDIRECT, vec![b(0), b(0)])),
            Err(GroupError::IndirectBuckets { buckets: 2, .. })
        ));
        assert!(matches!(
            t.insert(spec(1, group_type::INDIRECT, vec![])),
            Err(GroupError::IndirectBuckets { buckets: 0, .. })
        ));
        assert!(matches!(
            t.insert(spec(1, group_type::ALL, vec![b(0), b(3)])),
            Err(GroupError::WeightNotAllowed {
                bucket: 1,
                weight: 3,
                ..
            })
        ));
        assert!(matches!(
            t.insert(spec(1, group_type::FF, vec![b(0)])),
            Err(GroupError::MissingWatch { bucket: 0, .. })
        ));
        let mut w = b(0);
        w.watch_port = port_no::CONTROLLER;
        assert!(matches!(
            t.insert(spec(1, group_type::FF, vec![w])),
            Err(GroupError::BadWatchPort { .. })
        ));
        let many = (0..=MAX_BUCKETS).map(|_| b(1)).collect();
        assert_eq!(
            t.insert(spec(1, group_type::SELECT, many))
                .unwrap_err()
                .error_code(),
            ErrorCode::GroupModFailed(GroupModFailedCode::OutOfBuckets)
        );
        t.insert(spec(1, group_type::SELECT, vec![b(0), b(0)]))
            .unwrap();
        assert!(matches!(
            t.insert(spec(1, group_type::ALL, vec![])),
            Err(GroupError::Duplicate { group_id: 1 })
        ));
        let table = t.build().unwrap();
        let view = GroupView::new(Arc::new(table), &LivePorts::new());
        assert!(view.select(1, &FlowKey::new()).unwrap().is_empty());
        assert!(view.select(2, &FlowKey::new()).is_none());
    }

    #[test]
    fn live_ports_set() {
        let mut p = LivePorts::new();
        for port in [1, 63, 64, 1023, 1024, 70000] {
            assert!(!p.port_live(port));
            p.set(port, true);
            assert!(p.port_live(port));
        }
        p.set(70000, false);
        p.set(64, false);
        assert!(!p.port_live(70000) && !p.port_live(64) && p.port_live(63));
    }

    #[test]
    fn features() {
        let f = group_features(0x1);
        assert_eq!(f.types, 0b1111);
        assert_eq!(f.capabilities, 0b1111);
        assert_eq!(f.actions, [1; 4]);
    }
}
