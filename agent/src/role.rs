//! Controller roles and master election (OpenFlow 1.3.5 §6.3.6).
//!
//! A switch may be connected to several controllers at once. Each connection
//! has a role: EQUAL (the default: full access, receives asynchronous
//! messages), MASTER (the same, but at most one connection holds it) or SLAVE
//! (read-only, receives only PORT_STATUS by default). Roles are a property of
//! the *switch*, not of one connection: making one connection MASTER demotes
//! the previous master. That is why the bookkeeping lives here, in one
//! [`RoleArbiter`] shared by every session of a switch, and not in
//! [`crate::session::Session`], which only caches its own role so that it can
//! filter asynchronous messages and reject a slave's state changes without
//! asking anyone.
//!
//! ## Generation ids
//!
//! Controllers that fight over mastership attach a 64-bit `generation_id` to
//! MASTER and SLAVE requests. The switch remembers the largest one it has
//! accepted (`GEN_ID_CACHED`) and refuses any request whose id is *older*,
//! where "older" is the sign of the wrapping difference interpreted as a
//! signed 64-bit number, so that the counter may wrap around:
//! `(gen_id - cached) as i64 < 0` → ROLE_REQUEST_FAILED/STALE. Before the
//! first MASTER/SLAVE request no id is cached and everything is accepted.
//! EQUAL and NOCHANGE requests ignore the id. This is also what Open vSwitch
//! does (`ofconn_set_master_election_id`).
//!
//! ## What the caller does with an outcome
//!
//! [`RoleArbiter::handle_request`] returns the reply to send, the role the
//! requesting connection now has, and the connections that were demoted from
//! MASTER to SLAVE. The caller updates those sessions
//! ([`crate::session::Session::set_role`]). OpenFlow 1.3 has no ROLE_STATUS
//! message (it arrived in 1.4), so demoted controllers are not told.

use std::collections::BTreeMap;

use openflow::error::{ErrorCode, RoleRequestFailedCode};
use openflow::message::{RoleMsg, controller_role};
use openflow::{Message, MessageBody};

/// The role of one controller connection (`OFPCR_ROLE_*` except NOCHANGE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Role {
    /// OFPCR_ROLE_EQUAL: full access, the initial role of every connection.
    #[default]
    Equal,
    /// OFPCR_ROLE_MASTER: full access; at most one connection at a time.
    Master,
    /// OFPCR_ROLE_SLAVE: read-only access.
    Slave,
}

impl Role {
    /// The role from its wire value; `None` for NOCHANGE and unknown values.
    pub const fn from_wire(v: u32) -> Option<Role> {
        match v {
            controller_role::EQUAL => Some(Role::Equal),
            controller_role::MASTER => Some(Role::Master),
            controller_role::SLAVE => Some(Role::Slave),
            _ => None,
        }
    }

    /// The wire value (`OFPCR_ROLE_*`).
    pub const fn to_wire(self) -> u32 {
        match self {
            Role::Equal => controller_role::EQUAL,
            Role::Master => controller_role::MASTER,
            Role::Slave => controller_role::SLAVE,
        }
    }

    /// Index into the `[master/equal, slave]` mask pairs of
    /// [`openflow::message::AsyncConfig`].
    pub const fn async_index(self) -> usize {
        match self {
            Role::Equal | Role::Master => 0,
            Role::Slave => 1,
        }
    }
}

/// Identifies one controller connection of a switch. Chosen by the caller
/// (the connection manager); only compared and ordered here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

/// Why a ROLE_REQUEST was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RoleError {
    /// The request's generation id is older than the cached one.
    #[error("stale generation id {generation_id} (cached {cached})")]
    Stale {
        /// The id in the request.
        generation_id: u64,
        /// The largest id accepted so far.
        cached: u64,
    },
    /// The role value is not one of NOCHANGE, EQUAL, MASTER, SLAVE.
    #[error("unknown role value {role}")]
    BadRole {
        /// The value received.
        role: u32,
    },
}

impl RoleError {
    /// The error to answer the ROLE_REQUEST with.
    pub const fn error_code(&self) -> ErrorCode {
        match self {
            RoleError::Stale { .. } => ErrorCode::RoleRequestFailed(RoleRequestFailedCode::Stale),
            RoleError::BadRole { .. } => {
                ErrorCode::RoleRequestFailed(RoleRequestFailedCode::BadRole)
            }
        }
    }
}

/// The result of an accepted ROLE_REQUEST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleOutcome {
    /// The requesting connection's role after the request.
    pub role: Role,
    /// The body of the ROLE_REPLY: the resulting role and the cached
    /// generation id (0 when none has been seen yet, as Open vSwitch does).
    pub reply: RoleMsg,
    /// Connections demoted from MASTER to SLAVE by this request, in
    /// ascending order.
    pub demoted: Vec<ConnId>,
}

impl RoleOutcome {
    /// The ROLE_REPLY message answering a request with transaction id `xid`.
    pub fn reply_message(&self, xid: u32) -> Message {
        Message::new(xid, MessageBody::RoleReply(self.reply))
    }
}

/// The roles of all controller connections of one switch and the master
/// election generation id. See the module documentation.
#[derive(Debug, Clone, Default)]
pub struct RoleArbiter {
    /// Every known connection and its role. A `BTreeMap` so that demotion
    /// lists come out in a deterministic order.
    roles: BTreeMap<ConnId, Role>,
    /// `GEN_ID_CACHED`: the largest generation id accepted, once there is one.
    generation_id: Option<u64>,
}

impl RoleArbiter {
    /// An arbiter with no connections and no cached generation id.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a new connection with role EQUAL. Registering a known
    /// connection again resets it to EQUAL.
    pub fn add(&mut self, conn: ConnId) {
        self.roles.insert(conn, Role::Equal);
    }

    /// Forgets a connection (it closed); returns its last role. The cached
    /// generation id is kept: it belongs to the switch, not to a connection.
    pub fn remove(&mut self, conn: ConnId) -> Option<Role> {
        self.roles.remove(&conn)
    }

    /// The role of a connection, if it is known.
    pub fn role(&self, conn: ConnId) -> Option<Role> {
        self.roles.get(&conn).copied()
    }

    /// The current master, if any.
    pub fn master(&self) -> Option<ConnId> {
        self.roles
            .iter()
            .find_map(|(&c, &r)| (r == Role::Master).then_some(c))
    }

    /// The cached generation id (`None` until a MASTER or SLAVE request has
    /// been accepted).
    pub fn generation_id(&self) -> Option<u64> {
        self.generation_id
    }

    /// Handles a ROLE_REQUEST from `conn` (registered as EQUAL first if it
    /// was unknown). On error nothing changes.
    pub fn handle_request(
        &mut self,
        conn: ConnId,
        req: &RoleMsg,
    ) -> Result<RoleOutcome, RoleError> {
        let current = *self.roles.entry(conn).or_default();
        let role = if req.role == controller_role::NOCHANGE {
            current
        } else {
            let Some(role) = Role::from_wire(req.role) else {
                return Err(RoleError::BadRole { role: req.role });
            };
            if role != Role::Equal {
                self.check_generation(req.generation_id)?;
                self.generation_id = Some(req.generation_id);
            }
            role
        };
        let mut demoted = Vec::new();
        if role == Role::Master {
            for (&c, r) in self.roles.iter_mut() {
                if c != conn && *r == Role::Master {
                    *r = Role::Slave;
                    demoted.push(c);
                }
            }
        }
        self.roles.insert(conn, role);
        Ok(RoleOutcome {
            role,
            reply: RoleMsg {
                role: role.to_wire(),
                generation_id: self.generation_id.unwrap_or(0),
            },
            demoted,
        })
    }

    /// §6.3.6: stale when `distance(gen_id, cached) < 0`, with distance the
    /// wrapping difference read as a signed 64-bit number.
    fn check_generation(&self, generation_id: u64) -> Result<(), RoleError> {
        match self.generation_id {
            Some(cached) if (generation_id.wrapping_sub(cached) as i64) < 0 => {
                Err(RoleError::Stale {
                    generation_id,
                    cached,
                })
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: ConnId = ConnId(1);
    const B: ConnId = ConnId(2);
    const C: ConnId = ConnId(3);

    fn req(role: u32, generation_id: u64) -> RoleMsg {
        RoleMsg {
            role,
            generation_id,
        }
    }

    fn arbiter() -> RoleArbiter {
        let mut a = RoleArbiter::new();
        for c in [A, B, C] {
            a.add(c);
        }
        a
    }

    #[test]
    fn wire_values() {
        for r in [Role::Equal, Role::Master, Role::Slave] {
            assert_eq!(Role::from_wire(r.to_wire()), Some(r));
        }
        assert_eq!(Role::from_wire(controller_role::NOCHANGE), None);
        assert_eq!(Role::from_wire(4), None);
        assert_eq!(Role::Master.to_wire(), 2);
        assert_eq!(Role::Slave.async_index(), 1);
        assert_eq!(Role::Equal.async_index(), 0);
    }

    #[test]
    fn nochange_reports_the_current_role() {
        let mut a = arbiter();
        let out = a
            .handle_request(A, &req(controller_role::NOCHANGE, 99))
            .unwrap();
        assert_eq!(out.role, Role::Equal);
        assert_eq!(out.reply, req(controller_role::EQUAL, 0));
        assert!(out.demoted.is_empty());
        // NOCHANGE ignores the generation id: nothing is cached.
        assert_eq!(a.generation_id(), None);

        a.handle_request(A, &req(controller_role::SLAVE, 7))
            .unwrap();
        let out = a
            .handle_request(A, &req(controller_role::NOCHANGE, 0))
            .unwrap();
        assert_eq!(out.reply, req(controller_role::SLAVE, 7));
    }

    #[test]
    fn master_election_and_demotion() {
        let mut a = arbiter();
        let out = a
            .handle_request(A, &req(controller_role::MASTER, 1))
            .unwrap();
        assert_eq!(out.role, Role::Master);
        assert_eq!(out.reply, req(controller_role::MASTER, 1));
        assert!(out.demoted.is_empty());
        assert_eq!(a.master(), Some(A));

        // Asking again for MASTER does not demote oneself.
        let out = a
            .handle_request(A, &req(controller_role::MASTER, 1))
            .unwrap();
        assert!(out.demoted.is_empty());

        let out = a
            .handle_request(B, &req(controller_role::MASTER, 2))
            .unwrap();
        assert_eq!(out.demoted, vec![A]);
        assert_eq!(a.role(A), Some(Role::Slave));
        assert_eq!(a.role(B), Some(Role::Master));
        assert_eq!(a.role(C), Some(Role::Equal));
        assert_eq!(a.master(), Some(B));
        assert_eq!(
            out.reply_message(42),
            Message::new(42, MessageBody::RoleReply(req(2, 2)))
        );

        // EQUAL does not touch the master and ignores the generation id.
        let out = a
            .handle_request(C, &req(controller_role::EQUAL, 0))
            .unwrap();
        assert_eq!(out.reply, req(controller_role::EQUAL, 2));
        assert_eq!(a.master(), Some(B));

        // The master stepping down to SLAVE leaves no master.
        a.handle_request(B, &req(controller_role::SLAVE, 3))
            .unwrap();
        assert_eq!(a.master(), None);
    }

    #[test]
    fn stale_generation_is_refused_and_changes_nothing() {
        let mut a = arbiter();
        a.handle_request(A, &req(controller_role::MASTER, 10))
            .unwrap();
        let e = a
            .handle_request(B, &req(controller_role::MASTER, 9))
            .unwrap_err();
        assert_eq!(
            e,
            RoleError::Stale {
                generation_id: 9,
                cached: 10
            }
        );
        assert_eq!(
            e.error_code(),
            ErrorCode::RoleRequestFailed(RoleRequestFailedCode::Stale)
        );
        assert_eq!(a.role(A), Some(Role::Master));
        assert_eq!(a.role(B), Some(Role::Equal));
        assert_eq!(a.generation_id(), Some(10));
        // SLAVE requests are checked too.
        assert!(matches!(
            a.handle_request(B, &req(controller_role::SLAVE, 5)),
            Err(RoleError::Stale { .. })
        ));
        // Equal ids are not stale.
        a.handle_request(B, &req(controller_role::MASTER, 10))
            .unwrap();
        assert_eq!(a.master(), Some(B));
    }

    #[test]
    fn generation_distance_wraps() {
        let mut a = arbiter();
        a.handle_request(A, &req(controller_role::MASTER, u64::MAX - 1))
            .unwrap();
        // u64::MAX - 1 → 3 is a distance of +5: newer.
        a.handle_request(B, &req(controller_role::MASTER, 3))
            .unwrap();
        assert_eq!(a.generation_id(), Some(3));
        // 3 → u64::MAX is a distance of -4: stale.
        assert!(matches!(
            a.handle_request(A, &req(controller_role::MASTER, u64::MAX)),
            Err(RoleError::Stale { .. })
        ));
        // Half-way round is still "newer" by one step less than 2^63.
        a.handle_request(A, &req(controller_role::MASTER, 3 + (1 << 63) - 1))
            .unwrap();
    }

    #[test]
    fn bad_role() {
        let mut a = arbiter();
        let e = a.handle_request(A, &req(4, 0)).unwrap_err();
        assert_eq!(e, RoleError::BadRole { role: 4 });
        assert_eq!(
            e.error_code(),
            ErrorCode::RoleRequestFailed(RoleRequestFailedCode::BadRole)
        );
        assert_eq!(a.role(A), Some(Role::Equal));
    }

    #[test]
    fn unknown_connections_are_registered_and_removed() {
        let mut a = RoleArbiter::new();
        assert_eq!(a.role(A), None);
        let out = a
            .handle_request(A, &req(controller_role::MASTER, 0))
            .unwrap();
        assert_eq!(out.role, Role::Master);
        assert_eq!(a.remove(A), Some(Role::Master));
        assert_eq!(a.master(), None);
        // The generation id survives the connection.
        assert_eq!(a.generation_id(), Some(0));
    }
}
