//! Compiled actions and the per-packet action set.
//!
//! The agent hands OpenFlow [`Action`] lists over once, at FLOW_MOD /
//! GROUP_MOD time; [`compile`] turns them into [`Act`]s: set-field values
//! already converted to the packet rewriter's form ([`SetField`]), ethertypes
//! checked, every action the dataplane cannot carry out refused with the
//! exact OpenFlow error. A worker only ever walks a slice of `Act`s.
//!
//! The action set (WRITE_ACTIONS / CLEAR_ACTIONS) holds at most one action
//! of each type, a SET_FIELD counting as one type per field (OpenFlow 1.3.5
//! §5.10: a written action replaces the one of its type). At pipeline end it
//! runs in the spec's order, whatever the order of writing: copy TTL inwards,
//! pop, push-MPLS, push-PBB, push-VLAN, copy TTL outwards, decrement TTL,
//! set (SET_FIELD, SET_*_TTL), queue, group, output; an OUTPUT is ignored
//! when a GROUP is present. Within one category (several pops, several
//! set-fields) the order is the [`Act::kind`] order, which the spec leaves
//! open: pops outermost first (VLAN, PBB, MPLS).

use std::net::{Ipv4Addr, Ipv6Addr};

use openflow::action::Action;
use openflow::error::{BadActionCode, ErrorCode};
use openflow::oxm::Oxm;

use crate::modify::SetField;

/// Ethertypes PUSH_VLAN accepts (802.1Q, 802.1ad).
pub const VLAN_ETHERTYPES: [u16; 2] = [0x8100, 0x88a8];
/// Ethertypes PUSH_MPLS accepts (unicast, multicast).
pub const MPLS_ETHERTYPES: [u16; 2] = [0x8847, 0x8848];
/// The ethertype PUSH_PBB accepts.
pub const PBB_ETHERTYPE: u16 = 0x88e7;

/// One compiled action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Act {
    /// OUTPUT to a port number (physical or reserved).
    Output {
        /// Port, possibly reserved (`IN_PORT`, `ALL`, `FLOOD`, `CONTROLLER`,
        /// `LOCAL`, `TABLE`).
        port: u32,
        /// Bytes for the controller.
        max_len: u16,
    },
    /// GROUP.
    Group(u32),
    /// SET_FIELD on a packet header.
    SetField(SetField),
    /// SET_FIELD on tunnel_id (pipeline metadata, not packet bytes).
    SetTunnelId(u64),
    /// PUSH_VLAN with this TPID.
    PushVlan(u16),
    /// POP_VLAN.
    PopVlan,
    /// PUSH_MPLS with this ethertype.
    PushMpls(u16),
    /// POP_MPLS, the payload's ethertype.
    PopMpls(u16),
    /// PUSH_PBB with this ethertype.
    PushPbb(u16),
    /// POP_PBB.
    PopPbb,
    /// COPY_TTL_OUT.
    CopyTtlOut,
    /// COPY_TTL_IN.
    CopyTtlIn,
    /// SET_MPLS_TTL.
    SetMplsTtl(u8),
    /// DEC_MPLS_TTL.
    DecMplsTtl,
    /// SET_NW_TTL.
    SetNwTtl(u8),
    /// DEC_NW_TTL.
    DecNwTtl,
    /// SET_QUEUE (recorded; queues are not modelled).
    SetQueue(u32),
}

/// Action-set categories in execution order (OpenFlow 1.3.5 §5.10).
mod category {
    pub(super) const COPY_TTL_IN: u8 = 0;
    pub(super) const POP: u8 = 1;
    pub(super) const PUSH_MPLS: u8 = 2;
    pub(super) const PUSH_PBB: u8 = 3;
    pub(super) const PUSH_VLAN: u8 = 4;
    pub(super) const COPY_TTL_OUT: u8 = 5;
    pub(super) const DEC_TTL: u8 = 6;
    pub(super) const SET: u8 = 7;
    pub(super) const QOS: u8 = 8;
    pub(super) const GROUP: u8 = 9;
    pub(super) const OUTPUT: u8 = 10;
}

impl Act {
    /// The action-set identity of this action: two actions with the same
    /// kind replace each other in the set, and sets run in ascending kind
    /// order (the category is the high byte).
    pub fn kind(&self) -> u16 {
        use category as c;
        let (cat, sub) = match self {
            Act::CopyTtlIn => (c::COPY_TTL_IN, 0),
            Act::PopVlan => (c::POP, 0),
            Act::PopPbb => (c::POP, 1),
            Act::PopMpls(_) => (c::POP, 2),
            Act::PushMpls(_) => (c::PUSH_MPLS, 0),
            Act::PushPbb(_) => (c::PUSH_PBB, 0),
            Act::PushVlan(_) => (c::PUSH_VLAN, 0),
            Act::CopyTtlOut => (c::COPY_TTL_OUT, 0),
            Act::DecMplsTtl => (c::DEC_TTL, 0),
            Act::DecNwTtl => (c::DEC_TTL, 1),
            Act::SetMplsTtl(_) => (c::SET, 0),
            Act::SetNwTtl(_) => (c::SET, 1),
            Act::SetTunnelId(_) => (c::SET, 2),
            Act::SetField(f) => (c::SET, 3 + set_field_slot(f)),
            Act::SetQueue(_) => (c::QOS, 0),
            Act::Group(_) => (c::GROUP, 0),
            Act::Output { .. } => (c::OUTPUT, 0),
        };
        (u16::from(cat) << 8) | u16::from(sub)
    }

    /// Whether this action changes the packet's bytes or its pipeline
    /// fields (so a later table needs the key extracted again).
    pub fn modifies(&self) -> bool {
        !matches!(
            self,
            Act::Output { .. } | Act::Group(_) | Act::SetQueue(_) | Act::SetTunnelId(_)
        )
    }
}

/// A per-field slot number for set-field actions (their action-set identity).
fn set_field_slot(f: &SetField) -> u8 {
    use SetField as S;
    match f {
        S::EthDst(_) => 0,
        S::EthSrc(_) => 1,
        S::VlanVid(_) => 2,
        S::VlanPcp(_) => 3,
        S::IpDscp(_) => 4,
        S::IpEcn(_) => 5,
        S::Ipv4Src(_) => 6,
        S::Ipv4Dst(_) => 7,
        S::Ipv6Src(_) => 8,
        S::Ipv6Dst(_) => 9,
        S::Ipv6Flabel(_) => 10,
        S::TcpSrc(_) => 11,
        S::TcpDst(_) => 12,
        S::UdpSrc(_) => 13,
        S::UdpDst(_) => 14,
        S::SctpSrc(_) => 15,
        S::SctpDst(_) => 16,
        S::Icmpv4Type(_) => 17,
        S::Icmpv4Code(_) => 18,
        S::Icmpv6Type(_) => 19,
        S::Icmpv6Code(_) => 20,
        S::ArpOp(_) => 21,
        S::ArpSpa(_) => 22,
        S::ArpTpa(_) => 23,
        S::ArpSha(_) => 24,
        S::ArpTha(_) => 25,
        S::MplsLabel(_) => 26,
        S::MplsTc(_) => 27,
        S::MplsBos(_) => 28,
        S::Ipv6NdTarget(_) => 29,
        S::Ipv6NdSll(_) => 30,
        S::Ipv6NdTll(_) => 31,
        S::PbbIsid(_) => 32,
    }
}

fn bad(code: BadActionCode) -> ErrorCode {
    ErrorCode::BadAction(code)
}

/// The rewriter's form of a SET_FIELD's OXM. A masked value is
/// BAD_SET_ARGUMENT (OpenFlow 1.3 has no masked set-field), a field that is
/// not settable (in_port, metadata, ipv6_exthdr, experimenter) is
/// BAD_SET_TYPE, a value out of the field's range BAD_SET_ARGUMENT.
pub fn set_field_from_oxm(oxm: &Oxm) -> Result<Act, ErrorCode> {
    use SetField as S;
    let arg = || bad(BadActionCode::BadSetArgument);
    let v4 = |a: &Ipv4Addr| u32::from(*a);
    let v6 = |a: &Ipv6Addr| u128::from(*a);
    let f = match oxm {
        Oxm::EthDst { value, mask: None } => S::EthDst(*value),
        Oxm::EthSrc { value, mask: None } => S::EthSrc(*value),
        Oxm::VlanVid { value, mask: None } => {
            // The value carries OFPVID_PRESENT; the 12-bit VID is what is set.
            if value & !0x1fff != 0 {
                return Err(arg());
            }
            S::VlanVid(value & 0x0fff)
        }
        Oxm::VlanPcp(p) if *p < 8 => S::VlanPcp(*p),
        Oxm::IpDscp(d) if *d < 64 => S::IpDscp(*d),
        Oxm::IpEcn(e) if *e < 4 => S::IpEcn(*e),
        Oxm::Ipv4Src { value, mask: None } => S::Ipv4Src(v4(value)),
        Oxm::Ipv4Dst { value, mask: None } => S::Ipv4Dst(v4(value)),
        Oxm::Ipv6Src { value, mask: None } => S::Ipv6Src(v6(value)),
        Oxm::Ipv6Dst { value, mask: None } => S::Ipv6Dst(v6(value)),
        Oxm::Ipv6Flabel { value, mask: None } if *value < 1 << 20 => S::Ipv6Flabel(*value),
        Oxm::TcpSrc(p) => S::TcpSrc(*p),
        Oxm::TcpDst(p) => S::TcpDst(*p),
        Oxm::UdpSrc(p) => S::UdpSrc(*p),
        Oxm::UdpDst(p) => S::UdpDst(*p),
        Oxm::SctpSrc(p) => S::SctpSrc(*p),
        Oxm::SctpDst(p) => S::SctpDst(*p),
        Oxm::Icmpv4Type(t) => S::Icmpv4Type(*t),
        Oxm::Icmpv4Code(c) => S::Icmpv4Code(*c),
        Oxm::Icmpv6Type(t) => S::Icmpv6Type(*t),
        Oxm::Icmpv6Code(c) => S::Icmpv6Code(*c),
        Oxm::ArpOp(o) => S::ArpOp(*o),
        Oxm::ArpSpa { value, mask: None } => S::ArpSpa(v4(value)),
        Oxm::ArpTpa { value, mask: None } => S::ArpTpa(v4(value)),
        Oxm::ArpSha { value, mask: None } => S::ArpSha(*value),
        Oxm::ArpTha { value, mask: None } => S::ArpTha(*value),
        Oxm::Ipv6NdTarget(a) => S::Ipv6NdTarget(v6(a)),
        Oxm::Ipv6NdSll(m) => S::Ipv6NdSll(*m),
        Oxm::Ipv6NdTll(m) => S::Ipv6NdTll(*m),
        Oxm::MplsLabel(l) if *l < 1 << 20 => S::MplsLabel(*l),
        Oxm::MplsTc(t) if *t < 8 => S::MplsTc(*t),
        Oxm::MplsBos(b) if *b < 2 => S::MplsBos(*b == 1),
        Oxm::PbbIsid { value, mask: None } if *value < 1 << 24 => S::PbbIsid(*value),
        Oxm::TunnelId { value, mask: None } => return Ok(Act::SetTunnelId(*value)),
        Oxm::EthDst { .. }
        | Oxm::EthSrc { .. }
        | Oxm::VlanVid { .. }
        | Oxm::VlanPcp(_)
        | Oxm::IpDscp(_)
        | Oxm::IpEcn(_)
        | Oxm::Ipv4Src { .. }
        | Oxm::Ipv4Dst { .. }
        | Oxm::Ipv6Src { .. }
        | Oxm::Ipv6Dst { .. }
        | Oxm::Ipv6Flabel { .. }
        | Oxm::ArpSpa { .. }
        | Oxm::ArpTpa { .. }
        | Oxm::ArpSha { .. }
        | Oxm::ArpTha { .. }
        | Oxm::MplsLabel(_)
        | Oxm::MplsTc(_)
        | Oxm::MplsBos(_)
        | Oxm::PbbIsid { .. }
        | Oxm::TunnelId { .. } => return Err(arg()),
        _ => return Err(bad(BadActionCode::BadSetType)),
    };
    Ok(Act::SetField(f))
}

/// Compiles one action. Errors are the OpenFlow BAD_ACTION codes a switch
/// must answer with; ports, groups and queues are checked by the agent,
/// which knows which exist.
pub fn compile_action(a: &Action) -> Result<Act, ErrorCode> {
    let arg = || bad(BadActionCode::BadArgument);
    Ok(match a {
        Action::Output { port, max_len } => Act::Output {
            port: *port,
            max_len: *max_len,
        },
        Action::Group(g) => Act::Group(*g),
        Action::SetField(oxm) => return set_field_from_oxm(oxm),
        Action::PushVlan(t) if VLAN_ETHERTYPES.contains(t) => Act::PushVlan(*t),
        Action::PushMpls(t) if MPLS_ETHERTYPES.contains(t) => Act::PushMpls(*t),
        Action::PushPbb(t) if *t == PBB_ETHERTYPE => Act::PushPbb(*t),
        Action::PushVlan(_) | Action::PushMpls(_) | Action::PushPbb(_) => return Err(arg()),
        Action::PopVlan => Act::PopVlan,
        Action::PopMpls(t) => Act::PopMpls(*t),
        Action::PopPbb => Act::PopPbb,
        Action::CopyTtlOut => Act::CopyTtlOut,
        Action::CopyTtlIn => Act::CopyTtlIn,
        Action::SetMplsTtl(t) => Act::SetMplsTtl(*t),
        Action::DecMplsTtl => Act::DecMplsTtl,
        Action::SetNwTtl(t) => Act::SetNwTtl(*t),
        Action::DecNwTtl => Act::DecNwTtl,
        Action::SetQueue(q) => Act::SetQueue(*q),
        Action::Experimenter { .. } => return Err(bad(BadActionCode::BadExperimenter)),
        _ => return Err(bad(BadActionCode::BadType)),
    })
}

/// Compiles an action list (APPLY_ACTIONS, a bucket).
pub fn compile(actions: &[Action]) -> Result<Box<[Act]>, ErrorCode> {
    actions.iter().map(compile_action).collect()
}

/// Compiles a WRITE_ACTIONS list into set form: within the list, as
/// across instructions, a later action replaces an earlier one of its kind.
pub fn compile_set(actions: &[Action]) -> Result<Box<[Act]>, ErrorCode> {
    let mut set = ActionSet::with_capacity(actions.len());
    for a in actions {
        set.write(compile_action(a)?);
    }
    Ok(set.acts.into_boxed_slice())
}

/// The action set of one packet: at most one action per [`Act::kind`],
/// kept sorted by kind (the execution order). The worker keeps one and
/// clears it per packet, so it allocates only while it grows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionSet {
    acts: Vec<Act>,
}

impl ActionSet {
    /// An empty set with room for `n` actions.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            acts: Vec::with_capacity(n),
        }
    }

    /// Empties the set (CLEAR_ACTIONS, or a new packet).
    #[inline]
    pub fn clear(&mut self) {
        self.acts.clear();
    }

    /// Whether the set is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.acts.is_empty()
    }

    /// The actions in execution order (an OUTPUT included even when a
    /// GROUP is present; the executor skips it).
    #[inline]
    pub fn as_slice(&self) -> &[Act] {
        &self.acts
    }

    /// Adds an action, replacing the one of its kind.
    pub fn write(&mut self, a: Act) {
        let k = a.kind();
        match self.acts.binary_search_by_key(&k, Act::kind) {
            Ok(i) => self.acts[i] = a,
            Err(i) => self.acts.insert(i, a),
        }
    }

    /// Merges a compiled WRITE_ACTIONS list.
    #[inline]
    pub fn write_all(&mut self, acts: &[Act]) {
        for a in acts {
            self.write(*a);
        }
    }

    /// The actions to execute, in order: an OUTPUT is dropped when a GROUP
    /// is present (§5.10).
    pub fn to_execute(&self) -> impl Iterator<Item = &Act> + '_ {
        let has_group = self.acts.iter().any(|a| matches!(a, Act::Group(_)));
        self.acts
            .iter()
            .filter(move |a| !(has_group && matches!(a, Act::Output { .. })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openflow::port::port_no;

    fn out(p: u32) -> Act {
        Act::Output {
            port: p,
            max_len: 0,
        }
    }

    #[test]
    fn set_fields_convert_and_check() {
        let a = set_field_from_oxm(&Oxm::Ipv4Dst {
            value: Ipv4Addr::new(10, 0, 0, 1),
            mask: None,
        });
        assert_eq!(a, Ok(Act::SetField(SetField::Ipv4Dst(0x0a00_0001))));
        assert_eq!(
            set_field_from_oxm(&Oxm::VlanVid {
                value: 0x1000 | 42,
                mask: None
            }),
            Ok(Act::SetField(SetField::VlanVid(42)))
        );
        assert_eq!(
            set_field_from_oxm(&Oxm::Ipv4Dst {
                value: Ipv4Addr::new(10, 0, 0, 1),
                mask: Some(Ipv4Addr::new(255, 0, 0, 0)),
            }),
            Err(ErrorCode::BadAction(BadActionCode::BadSetArgument))
        );
        assert_eq!(
            set_field_from_oxm(&Oxm::VlanPcp(8)),
            Err(ErrorCode::BadAction(BadActionCode::BadSetArgument))
        );
        assert_eq!(
            set_field_from_oxm(&Oxm::MplsLabel(1 << 20)),
            Err(ErrorCode::BadAction(BadActionCode::BadSetArgument))
        );
        for unsettable in [
            Oxm::InPort(1),
            Oxm::Metadata {
                value: 1,
                mask: None,
            },
            Oxm::Ipv6Exthdr {
                value: 1,
                mask: None,
            },
        ] {
            assert_eq!(
                set_field_from_oxm(&unsettable),
                Err(ErrorCode::BadAction(BadActionCode::BadSetType))
            );
        }
        assert_eq!(
            set_field_from_oxm(&Oxm::TunnelId {
                value: 9,
                mask: None
            }),
            Ok(Act::SetTunnelId(9))
        );
    }

    #[test]
    fn compile_checks_ethertypes_and_types() {
        assert_eq!(
            compile_action(&Action::PushVlan(0x88a8)),
            Ok(Act::PushVlan(0x88a8))
        );
        let arg = Err(ErrorCode::BadAction(BadActionCode::BadArgument));
        assert_eq!(compile_action(&Action::PushVlan(0x0800)), arg);
        assert_eq!(compile_action(&Action::PushMpls(0x8100)), arg);
        assert_eq!(compile_action(&Action::PushPbb(0x8100)), arg);
        assert_eq!(
            compile_action(&Action::Experimenter {
                experimenter: 1,
                data: vec![]
            }),
            Err(ErrorCode::BadAction(BadActionCode::BadExperimenter))
        );
        assert_eq!(
            compile_action(&Action::Unknown {
                action_type: 99,
                body: vec![0; 4]
            }),
            Err(ErrorCode::BadAction(BadActionCode::BadType))
        );
    }

    #[test]
    fn action_set_replaces_by_kind_and_runs_in_spec_order() {
        let mut s = ActionSet::default();
        s.write(out(1));
        s.write(Act::SetField(SetField::Ipv4Dst(1)));
        s.write(Act::DecNwTtl);
        s.write(Act::PushVlan(0x8100));
        s.write(Act::PopMpls(0x0800));
        s.write(Act::CopyTtlIn);
        s.write(Act::SetField(SetField::Ipv4Src(2)));
        s.write(Act::SetField(SetField::Ipv4Dst(3))); // replaces Ipv4Dst(1)
        s.write(out(2)); // replaces output 1
        let order: Vec<Act> = s.to_execute().copied().collect();
        assert_eq!(
            order,
            vec![
                Act::CopyTtlIn,
                Act::PopMpls(0x0800),
                Act::PushVlan(0x8100),
                Act::DecNwTtl,
                Act::SetField(SetField::Ipv4Src(2)),
                Act::SetField(SetField::Ipv4Dst(3)),
                out(2),
            ]
        );
        // A group suppresses the output.
        s.write(Act::Group(7));
        assert!(s.to_execute().all(|a| !matches!(a, Act::Output { .. })));
        assert!(s.to_execute().any(|a| *a == Act::Group(7)));
        s.clear();
        assert!(s.is_empty());
    }

    #[test]
    fn compile_set_folds_duplicates() {
        let acts = compile_set(&[
            Action::Output {
                port: 1,
                max_len: 0,
            },
            Action::Output {
                port: port_no::CONTROLLER,
                max_len: 128,
            },
        ])
        .unwrap();
        assert_eq!(
            &*acts,
            &[Act::Output {
                port: port_no::CONTROLLER,
                max_len: 128
            }]
        );
    }
}
