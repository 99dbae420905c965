//! # learning — an L2 learning switch controller
//!
//! The classic first OpenFlow controller (NOX's `pyswitch`, OVS's
//! `ovs-testcontroller`), for OpenFlow 1.3:
//!
//! 1. On connect: delete every flow and install a table-miss flow
//!    (priority 0, empty match) that sends whole packets to the controller.
//! 2. On each PACKET_IN: remember that the frame's source MAC lives behind
//!    its ingress port. If the destination is a known unicast MAC on another
//!    port, install an exact `eth_dst` flow that outputs there (with an idle
//!    timeout, so stale stations are forgotten) and send the packet itself
//!    out of that port; if the destination is unknown, broadcast or
//!    multicast, flood the packet. A packet whose destination sits behind
//!    its own ingress port is dropped (it was already delivered).
//!
//! The switch releases a buffered packet only when told what to do with
//! it, so the PACKET_OUT names the buffer when the switch kept one and
//! carries the frame otherwise.
//!
//! The decisions ([`LearningSwitch::decide`]) and the messages they become
//! ([`LearningSwitch::handle`]) are plain functions of the switch's state
//! and one message, so they are tested without a switch; [`run`] is the
//! loop that feeds a [`Connection`]'s messages through them.
//!
//! One instance learns for one switch: a controller serving several
//! switches makes one per connection.

use std::collections::HashMap;

use openflow::action::Action;
use openflow::instruction::Instruction;
use openflow::message::{
    FlowMod, Message, MessageBody, OFP_NO_BUFFER, OFPCML_NO_BUFFER, PacketIn, PacketOut,
    flow_mod_command, table_id,
};
use openflow::oxm::{Match, Oxm};
use openflow::port::port_no;

use crate::client::{ClientError, Connection, SubscriptionError};

/// What the learning switch does with one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// Destination unknown, broadcast or multicast: send out of every port
    /// but the ingress one.
    Flood,
    /// Destination known behind `port`: install a flow and send there.
    Forward {
        /// The destination's port.
        port: u32,
    },
    /// Destination known behind the ingress port: nothing to deliver.
    Drop,
    /// Not a frame we can act on (too short, no ingress port).
    Ignore,
}

/// The state of an L2 learning switch: where each MAC address was last
/// seen.
#[derive(Debug, Clone)]
pub struct LearningSwitch {
    macs: HashMap<[u8; 6], u32>,
    /// Idle timeout of the installed forwarding flows, seconds.
    pub idle_timeout: u16,
    /// Priority of the installed forwarding flows (above the table-miss
    /// flow's 0).
    pub priority: u16,
    /// The table the flows go into.
    pub table_id: u8,
}

impl Default for LearningSwitch {
    fn default() -> Self {
        Self {
            macs: HashMap::new(),
            idle_timeout: 60,
            priority: 10,
            table_id: 0,
        }
    }
}

fn is_group(mac: &[u8; 6]) -> bool {
    // The I/G bit: set for broadcast and multicast addresses.
    mac[0] & 1 != 0
}

fn in_port(pi: &PacketIn) -> Option<u32> {
    pi.match_.fields.iter().find_map(|o| match o {
        Oxm::InPort(p) => Some(*p),
        _ => None,
    })
}

fn macs(frame: &[u8]) -> Option<([u8; 6], [u8; 6])> {
    let dst: [u8; 6] = frame.get(0..6)?.try_into().ok()?;
    let src: [u8; 6] = frame.get(6..12)?.try_into().ok()?;
    // An Ethernet header also needs its EtherType.
    frame.get(12..14)?;
    Some((dst, src))
}

impl LearningSwitch {
    /// A learning switch with the default settings (idle timeout 60 s,
    /// priority 10, table 0).
    pub fn new() -> Self {
        Self::default()
    }

    /// The port a MAC address was learnt on.
    pub fn port_of(&self, mac: &[u8; 6]) -> Option<u32> {
        self.macs.get(mac).copied()
    }

    /// How many addresses are known.
    pub fn n_learnt(&self) -> usize {
        self.macs.len()
    }

    /// Forgets every address (e.g. after the switch reconnected).
    pub fn clear(&mut self) {
        self.macs.clear();
    }

    /// The messages that prepare a switch: delete the flows of every table,
    /// then install the table-miss flow sending whole packets to the
    /// controller.
    pub fn setup_messages(&self) -> Vec<MessageBody> {
        let delete_all = FlowMod {
            command: flow_mod_command::DELETE,
            table_id: table_id::ALL,
            ..FlowMod::default()
        };
        let miss = FlowMod {
            table_id: self.table_id,
            priority: 0,
            instructions: vec![Instruction::ApplyActions(vec![Action::Output {
                port: port_no::CONTROLLER,
                max_len: OFPCML_NO_BUFFER,
            }])],
            ..FlowMod::default()
        };
        vec![MessageBody::FlowMod(delete_all), MessageBody::FlowMod(miss)]
    }

    /// Learns from one PACKET_IN and decides what to do with the packet.
    pub fn decide(&mut self, pi: &PacketIn) -> Decision {
        let (Some(port), Some((dst, src))) = (in_port(pi), macs(&pi.data)) else {
            return Decision::Ignore;
        };
        if !is_group(&src) {
            self.macs.insert(src, port);
        }
        if is_group(&dst) {
            return Decision::Flood;
        }
        match self.macs.get(&dst) {
            None => Decision::Flood,
            Some(&out) if out == port => Decision::Drop,
            Some(&out) => Decision::Forward { port: out },
        }
    }

    /// Handles one message from the switch: for a PACKET_IN, the FLOW_MOD
    /// (when the destination is known) and the PACKET_OUT that carry out
    /// [`LearningSwitch::decide`]'s decision; nothing for anything else.
    pub fn handle(&mut self, msg: &Message) -> Vec<MessageBody> {
        let MessageBody::PacketIn(pi) = &msg.body else {
            return Vec::new();
        };
        let decision = self.decide(pi);
        let Some(port) = in_port(pi) else {
            return Vec::new();
        };
        let actions = match decision {
            Decision::Ignore => return Vec::new(),
            Decision::Flood => vec![Action::Output {
                port: port_no::FLOOD,
                max_len: 0,
            }],
            Decision::Forward { port } => vec![Action::Output { port, max_len: 0 }],
            // An empty action list drops the packet and frees its buffer.
            Decision::Drop => Vec::new(),
        };
        let mut out = Vec::with_capacity(2);
        if let (Decision::Forward { port: to }, Some((dst, _))) = (decision, macs(&pi.data)) {
            out.push(MessageBody::FlowMod(FlowMod {
                table_id: self.table_id,
                priority: self.priority,
                idle_timeout: self.idle_timeout,
                match_: Match {
                    fields: vec![Oxm::EthDst {
                        value: dst,
                        mask: None,
                    }],
                },
                instructions: vec![Instruction::ApplyActions(vec![Action::Output {
                    port: to,
                    max_len: 0,
                }])],
                ..FlowMod::default()
            }));
        }
        // With a buffer the switch still has the frame; without one, the
        // table-miss flow asked for the whole frame, so `data` is all of it.
        let packet_out = if pi.buffer_id == OFP_NO_BUFFER {
            PacketOut::new(port, actions, pi.data.clone())
        } else {
            PacketOut {
                buffer_id: pi.buffer_id,
                in_port: port,
                actions,
                data: Vec::new(),
            }
        };
        out.push(MessageBody::PacketOut(packet_out));
        out
    }
}

/// Drives a learning switch over one connection until the switch goes
/// away: prepares the switch ([`LearningSwitch::setup_messages`], checked
/// with a barrier), then answers every PACKET_IN. Errors the switch sends
/// for our fire-and-forget messages are logged, not fatal.
///
/// Returns `Ok` when the connection closes, or the error that stopped the
/// setup or a send.
pub async fn run(conn: &Connection, switch: &mut LearningSwitch) -> Result<(), ClientError> {
    // Subscribe first: PACKET_INs that arrive during the setup are kept.
    let mut events = conn.subscribe();
    conn.send_all_checked(switch.setup_messages()).await?;
    loop {
        let msg = match events.recv().await {
            Ok(m) => m,
            Err(SubscriptionError::Closed) => return Ok(()),
            Err(SubscriptionError::Lagged { missed }) => {
                tracing::warn!(missed, "learning switch fell behind; packets dropped");
                continue;
            }
        };
        if let MessageBody::Error(e) = &msg.body {
            tracing::warn!(xid = msg.xid, code = %e.code, "switch refused a message");
            continue;
        }
        for body in switch.handle(&msg) {
            match conn.send(body).await {
                Ok(_) => {}
                Err(ClientError::Closed) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
    const B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];
    const BCAST: [u8; 6] = [0xff; 6];

    fn frame(dst: [u8; 6], src: [u8; 6]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&dst);
        f.extend_from_slice(&src);
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&[0u8; 46]);
        f
    }

    fn packet_in(port: u32, buffer_id: u32, data: Vec<u8>) -> Message {
        Message::new(
            0,
            MessageBody::PacketIn(PacketIn {
                buffer_id,
                total_len: u16::try_from(data.len()).unwrap(),
                reason: 0,
                table_id: 0,
                cookie: 0,
                match_: Match {
                    fields: vec![Oxm::InPort(port)],
                },
                data,
            }),
        )
    }

    #[test]
    fn setup_deletes_then_sends_misses_to_the_controller() {
        let msgs = LearningSwitch::new().setup_messages();
        let [MessageBody::FlowMod(del), MessageBody::FlowMod(miss)] = msgs.as_slice() else {
            panic!("unexpected setup {msgs:?}");
        };
        assert_eq!(del.command, flow_mod_command::DELETE);
        assert_eq!(del.table_id, table_id::ALL);
        assert_eq!(miss.command, flow_mod_command::ADD);
        assert_eq!(miss.priority, 0);
        assert!(miss.match_.fields.is_empty());
        assert_eq!(
            miss.instructions,
            vec![Instruction::ApplyActions(vec![Action::Output {
                port: port_no::CONTROLLER,
                max_len: OFPCML_NO_BUFFER
            }])]
        );
    }

    #[test]
    fn unknown_destination_floods_and_learns_the_source() {
        let mut sw = LearningSwitch::new();
        let data = frame(B, A);
        let out = sw.handle(&packet_in(1, OFP_NO_BUFFER, data.clone()));
        assert_eq!(sw.port_of(&A), Some(1));
        assert_eq!(
            out,
            vec![MessageBody::PacketOut(PacketOut::new(
                1,
                vec![Action::Output {
                    port: port_no::FLOOD,
                    max_len: 0
                }],
                data
            ))]
        );
    }

    #[test]
    fn known_destination_installs_a_flow_and_forwards_by_buffer() {
        let mut sw = LearningSwitch::new();
        sw.handle(&packet_in(1, OFP_NO_BUFFER, frame(BCAST, A)));
        let out = sw.handle(&packet_in(2, 77, frame(A, B)));
        assert_eq!(sw.port_of(&B), Some(2));
        let [MessageBody::FlowMod(fm), MessageBody::PacketOut(po)] = out.as_slice() else {
            panic!("unexpected answer {out:?}");
        };
        assert_eq!(fm.command, flow_mod_command::ADD);
        assert_eq!(fm.idle_timeout, 60);
        assert_eq!(fm.priority, 10);
        assert_eq!(fm.buffer_id, OFP_NO_BUFFER);
        assert_eq!(
            fm.match_.fields,
            vec![Oxm::EthDst {
                value: A,
                mask: None
            }]
        );
        let to_1 = vec![Action::Output {
            port: 1,
            max_len: 0,
        }];
        assert_eq!(
            fm.instructions,
            vec![Instruction::ApplyActions(to_1.clone())]
        );
        assert_eq!(po.buffer_id, 77);
        assert_eq!(po.in_port, 2);
        assert_eq!(po.actions, to_1);
        assert!(po.data.is_empty());
    }

    #[test]
    fn decisions() {
        let mut sw = LearningSwitch::new();
        let pi = |port, data| PacketIn {
            buffer_id: OFP_NO_BUFFER,
            total_len: 0,
            reason: 0,
            table_id: 0,
            cookie: 0,
            match_: Match {
                fields: vec![Oxm::InPort(port)],
            },
            data,
        };
        assert_eq!(sw.decide(&pi(1, frame(B, A))), Decision::Flood);
        assert_eq!(
            sw.decide(&pi(2, frame(A, B))),
            Decision::Forward { port: 1 }
        );
        assert_eq!(
            sw.decide(&pi(1, frame(B, A))),
            Decision::Forward { port: 2 }
        );
        // A moved station is relearnt on its new port.
        assert_eq!(sw.decide(&pi(3, frame(BCAST, A))), Decision::Flood);
        assert_eq!(sw.port_of(&A), Some(3));
        // Same port: already delivered.
        assert_eq!(
            sw.decide(&pi(3, frame(A, [2, 0, 0, 0, 0, 0x0c]))),
            Decision::Drop
        );
        // A multicast source is never learnt.
        let mcast = [0x01, 0, 0x5e, 0, 0, 1];
        assert_eq!(sw.decide(&pi(4, frame(BCAST, mcast))), Decision::Flood);
        assert_eq!(sw.port_of(&mcast), None);
        // Short frames and packet-ins without in_port are ignored.
        assert_eq!(sw.decide(&pi(1, vec![0; 13])), Decision::Ignore);
        let mut no_port = pi(1, frame(B, A));
        no_port.match_.fields.clear();
        assert_eq!(sw.decide(&no_port), Decision::Ignore);
        assert_eq!(sw.n_learnt(), 3);
        sw.clear();
        assert_eq!(sw.n_learnt(), 0);
    }

    #[test]
    fn same_port_drop_releases_the_buffer() {
        let mut sw = LearningSwitch::new();
        sw.handle(&packet_in(1, OFP_NO_BUFFER, frame(BCAST, A)));
        let out = sw.handle(&packet_in(1, 9, frame(A, B)));
        let [MessageBody::PacketOut(po)] = out.as_slice() else {
            panic!("unexpected answer {out:?}");
        };
        assert_eq!(po.buffer_id, 9);
        assert!(po.actions.is_empty());
    }

    #[test]
    fn other_messages_are_ignored() {
        let mut sw = LearningSwitch::new();
        assert!(
            sw.handle(&Message::new(1, MessageBody::BarrierReply))
                .is_empty()
        );
    }
}
