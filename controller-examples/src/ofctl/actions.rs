//! Actions and instructions: `ovs-ofctl`'s `actions=` syntax to OpenFlow 1.3
//! instructions, and back.
//!
//! `ovs-ofctl` writes one flat list: bare actions form the APPLY_ACTIONS
//! instruction, and `meter:N`, `clear_actions`, `write_actions(...)`,
//! `write_metadata:V[/M]` and `goto_table:N` are the other instructions.
//! Each instruction may appear once; the result is in the order OpenFlow
//! executes them (meter, apply, clear, write, metadata, goto), which is
//! also the order `ovs-ofctl` prints them in.
//!
//! Some OVS actions depend on the flow's match, and are resolved against
//! it as OVS does: `mod_tp_src` is a set-field of TCP_SRC, UDP_SRC or
//! SCTP_SRC depending on the match's protocol; `mod_vlan_vid` and
//! `mod_vlan_pcp` first push an 802.1Q tag when the match does not already
//! guarantee one; a `set_field` whose field's prerequisites are not in the
//! match (after earlier `push_mpls`/`pop_mpls`/`push_vlan`/`pop_vlan`) is
//! refused, as OVS refuses it with `OFPBAC_MATCH_INCONSISTENT`. Group
//! buckets have no match, so they are not checked.

use openflow::action::{Action, OFPCML_NO_BUFFER};
use openflow::instruction::Instruction;
use openflow::oxm::{Match, OFPVID_PRESENT, Oxm};
use openflow::port::port_no;

use super::SyntaxError;
use super::fields::{format_set_field, needs, set_field_oxm};
use super::lex::{Kv, KvIter};
use super::value::{format_port, parse_int, parse_masked, parse_max, parse_port, reserved_port};

/// What the packet looks like at this point of the action list, as far as
/// the match tells.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    check: bool,
    eth: Option<u16>,
    proto: Option<u8>,
    icmp6_type: Option<u8>,
    vlan: bool,
}

impl Ctx {
    /// The packet a flow with match `m` sees (`None`: a group bucket, where
    /// nothing is known and nothing is checked).
    pub(crate) fn new(m: Option<&Match>) -> Self {
        match m {
            None => Self {
                check: false,
                eth: None,
                proto: None,
                icmp6_type: None,
                vlan: false,
            },
            Some(m) => Self {
                check: true,
                eth: m.eth_type(),
                proto: m.ip_proto(),
                icmp6_type: m.fields.iter().find_map(|o| match o {
                    Oxm::Icmpv6Type(t) => Some(*t),
                    _ => None,
                }),
                vlan: m.fields.iter().any(|o| match *o {
                    Oxm::VlanVid { value, mask } => {
                        value & OFPVID_PRESENT != 0 && mask.is_none_or(|m| m & OFPVID_PRESENT != 0)
                    }
                    _ => false,
                }),
            },
        }
    }

    fn as_match(&self) -> Match {
        let mut fields = Vec::new();
        if let Some(t) = self.eth {
            fields.push(Oxm::EthType(t));
        }
        if let Some(p) = self.proto {
            fields.push(Oxm::IpProto(p));
        }
        if let Some(t) = self.icmp6_type {
            fields.push(Oxm::Icmpv6Type(t));
        }
        if self.vlan {
            fields.push(Oxm::VlanVid {
                value: OFPVID_PRESENT,
                mask: Some(OFPVID_PRESENT),
            });
        }
        Match { fields }
    }

    fn check_set(&self, o: &Oxm, token: &str) -> Result<(), SyntaxError> {
        if self.check && !self.as_match().prereq_ok(o) {
            return Err(SyntaxError::MissingPrerequisite {
                token: token.to_string(),
                needs: needs(o),
            });
        }
        Ok(())
    }

    /// The actions for `mod_vlan_*`: a push first when there is no tag.
    fn vlan_set(&mut self, o: Oxm) -> Vec<Action> {
        let mut v = Vec::with_capacity(2);
        if !self.vlan {
            v.push(Action::PushVlan(0x8100));
            self.vlan = true;
        }
        v.push(Action::SetField(o));
        v
    }
}

const INSTRUCTIONS: [&str; 5] = [
    "meter",
    "clear_actions",
    "write_actions",
    "write_metadata",
    "goto_table",
];

fn once<T>(slot: &mut Option<T>, v: T, token: &str) -> Result<(), SyntaxError> {
    if slot.is_some() {
        return Err(SyntaxError::Conflict {
            token: token.to_string(),
        });
    }
    *slot = Some(v);
    Ok(())
}

/// Parses a flow's `actions=` text into instructions (see the module docs).
/// `m` is the flow's match, `None` for contexts without one.
pub(crate) fn parse_instructions(
    text: &str,
    m: Option<&Match>,
) -> Result<Vec<Instruction>, SyntaxError> {
    let mut ctx = Ctx::new(m);
    let mut apply = Vec::new();
    let mut meter = None;
    let mut clear = None;
    let mut write = None;
    let mut metadata = None;
    let mut goto = None;
    let mut drop = false;
    let mut n_items = 0usize;
    for kv in KvIter::new(text) {
        let kv = kv?;
        n_items += 1;
        let t = kv.token;
        match kv.key {
            "drop" => {
                kv.none()?;
                drop = true;
            }
            "meter" => once(&mut meter, parse_int::<u32>(kv.need()?, t)?, t)?,
            "clear_actions" => {
                kv.none()?;
                once(&mut clear, (), t)?;
            }
            "write_actions" => {
                let acts = parse_action_list(kv.value.unwrap_or(""), &mut Ctx::new(m), t)?;
                once(&mut write, acts, t)?;
            }
            "write_metadata" => {
                let (v, mask) = parse_masked(kv.need()?, u64::MAX, t)?.unwrap_or((0, Some(0)));
                once(&mut metadata, (v, mask.unwrap_or(u64::MAX)), t)?;
            }
            "goto_table" => {
                let n = parse_max(kv.need()?, 254, t)? as u8;
                once(&mut goto, n, t)?;
            }
            _ => apply.extend(parse_action(&kv, &mut ctx)?),
        }
    }
    if drop && n_items > 1 {
        return Err(SyntaxError::DropNotAlone);
    }
    let mut out = Vec::new();
    if let Some(id) = meter {
        out.push(Instruction::Meter(id));
    }
    if !apply.is_empty() {
        out.push(Instruction::ApplyActions(apply));
    }
    if clear.is_some() {
        out.push(Instruction::ClearActions);
    }
    if let Some(a) = write {
        out.push(Instruction::WriteActions(a));
    }
    if let Some((metadata, mask)) = metadata {
        out.push(Instruction::WriteMetadata { metadata, mask });
    }
    if let Some(t) = goto {
        out.push(Instruction::GotoTable(t));
    }
    Ok(out)
}

/// Parses a plain action list in `ovs-ofctl` syntax, as `packet-out` and
/// group buckets take it (`output:1,set_field:00:00:00:00:00:01->eth_dst`;
/// `drop` for none). There is no match to resolve against, so match-
/// dependent actions (`mod_tp_src`) are refused and set-field
/// prerequisites are not checked; instructions are refused.
pub fn parse_actions(text: &str) -> Result<Vec<Action>, SyntaxError> {
    parse_action_list(text, &mut Ctx::new(None), "actions")
}

/// Parses a plain action list (inside `write_actions(...)`, or a group
/// bucket): no instructions; `drop` alone means the empty list. `what`
/// names the context for errors.
pub(crate) fn parse_action_list(
    text: &str,
    ctx: &mut Ctx,
    what: &str,
) -> Result<Vec<Action>, SyntaxError> {
    let mut out = Vec::new();
    let mut drop = false;
    let mut n_items = 0usize;
    for kv in KvIter::new(text) {
        let kv = kv?;
        n_items += 1;
        if kv.key == "drop" {
            kv.none()?;
            drop = true;
        } else if INSTRUCTIONS.contains(&kv.key) {
            return Err(SyntaxError::NotAllowed {
                token: kv.token.to_string(),
                command: match what {
                    w if w.starts_with("write_actions") => "write_actions",
                    "bucket" => "a group bucket",
                    _ => "an action list",
                },
            });
        } else {
            out.extend(parse_action(&kv, ctx)?);
        }
    }
    if drop && n_items > 1 {
        return Err(SyntaxError::DropNotAlone);
    }
    Ok(out)
}

fn ethertype(kv: &Kv<'_>, allowed: &[u16]) -> Result<u16, SyntaxError> {
    let t = parse_int::<u16>(kv.need()?, kv.token)?;
    if !allowed.contains(&t) {
        return Err(SyntaxError::bad(
            kv.token,
            "ethertype not allowed for this action",
        ));
    }
    Ok(t)
}

fn is_number(s: &str) -> bool {
    !s.is_empty()
        && (s.bytes().all(|b| b.is_ascii_digit())
            || s.strip_prefix("0x")
                .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit())))
}

fn unsupported_normal(token: &str) -> SyntaxError {
    SyntaxError::Unsupported {
        token: token.to_string(),
        why: "Oko has no NORMAL (L2 learning switch) pipeline; use explicit output ports",
    }
}

fn output(port: u32, token: &str) -> Result<Action, SyntaxError> {
    match port {
        port_no::NORMAL => Err(unsupported_normal(token)),
        port_no::ANY => Err(SyntaxError::bad(token, "ANY is not an output port")),
        port_no::CONTROLLER => Ok(Action::Output {
            port,
            max_len: OFPCML_NO_BUFFER,
        }),
        _ => Ok(Action::Output { port, max_len: 0 }),
    }
}

fn controller(kv: &Kv<'_>) -> Result<Action, SyntaxError> {
    let t = kv.token;
    let max_len = match kv.value {
        None | Some("") => OFPCML_NO_BUFFER,
        Some(v) => {
            let mut max_len = OFPCML_NO_BUFFER;
            for item in KvIter::new(v) {
                let item = item?;
                match (item.key, item.value) {
                    ("max_len", Some(n)) => max_len = parse_int::<u16>(n, t)?,
                    (n, None) if is_number(n) => max_len = parse_int::<u16>(n, t)?,
                    ("reason", Some("action")) | ("id", Some("0")) => {}
                    _ => {
                        return Err(SyntaxError::Unsupported {
                            token: t.to_string(),
                            why: "OpenFlow 1.3 output to CONTROLLER takes only max_len",
                        });
                    }
                }
            }
            max_len
        }
    };
    Ok(Action::Output {
        port: port_no::CONTROLLER,
        max_len,
    })
}

/// One action item (possibly two actions: `mod_vlan_*` may push a tag).
fn parse_action(kv: &Kv<'_>, ctx: &mut Ctx) -> Result<Vec<Action>, SyntaxError> {
    let t = kv.token;
    let one = |a: Action| Ok(vec![a]);
    let set = |ctx: &Ctx, o: Oxm| -> Result<Vec<Action>, SyntaxError> {
        ctx.check_set(&o, t)?;
        Ok(vec![Action::SetField(o)])
    };
    match kv.key {
        "output" => {
            let p = parse_port(kv.need()?, t)?;
            one(output(p, t)?)
        }
        "controller" => one(controller(kv)?),
        "normal" => Err(unsupported_normal(t)),
        "group" => one(Action::Group(parse_int::<u32>(kv.need()?, t)?)),
        "set_field" => {
            let v = kv.need()?;
            let Some((value, name)) = v.rsplit_once("->") else {
                return Err(SyntaxError::bad(t, "expected set_field:VALUE->FIELD"));
            };
            let o = set_field_oxm(name, value, t)?;
            if matches!(o, Oxm::VlanVid { .. }) {
                // A set of VLAN_VID needs a tag to write into.
                if ctx.check && !ctx.vlan {
                    return Err(SyntaxError::MissingPrerequisite {
                        token: t.to_string(),
                        needs: "a VLAN tag: match dl_vlan, or push_vlan first",
                    });
                }
            }
            set(ctx, o)
        }
        "mod_dl_src" => set(ctx, set_field_oxm("eth_src", kv.need()?, t)?),
        "mod_dl_dst" => set(ctx, set_field_oxm("eth_dst", kv.need()?, t)?),
        "mod_nw_src" => set(ctx, set_field_oxm("ip_src", kv.need()?, t)?),
        "mod_nw_dst" => set(ctx, set_field_oxm("ip_dst", kv.need()?, t)?),
        "mod_nw_tos" => set(ctx, set_field_oxm("nw_tos", kv.need()?, t)?),
        "mod_nw_ecn" => set(ctx, set_field_oxm("nw_ecn", kv.need()?, t)?),
        "mod_tp_src" | "mod_tp_dst" => {
            let src = kv.key == "mod_tp_src";
            let name = match (ctx.proto, src) {
                (Some(6), true) => "tcp_src",
                (Some(6), false) => "tcp_dst",
                (Some(17), true) => "udp_src",
                (Some(17), false) => "udp_dst",
                (Some(132), true) => "sctp_src",
                (Some(132), false) => "sctp_dst",
                _ => {
                    return Err(SyntaxError::MissingPrerequisite {
                        token: t.to_string(),
                        needs: "tcp, udp or sctp in the match",
                    });
                }
            };
            set(ctx, set_field_oxm(name, kv.need()?, t)?)
        }
        "mod_vlan_vid" => {
            let vid = parse_max(kv.need()?, 0x0fff, t)? as u16;
            Ok(ctx.vlan_set(Oxm::VlanVid {
                value: vid | OFPVID_PRESENT,
                mask: None,
            }))
        }
        "mod_vlan_pcp" => {
            let pcp = parse_max(kv.need()?, 7, t)? as u8;
            Ok(ctx.vlan_set(Oxm::VlanPcp(pcp)))
        }
        "strip_vlan" | "pop_vlan" => {
            kv.none()?;
            ctx.vlan = false;
            one(Action::PopVlan)
        }
        "push_vlan" => {
            let e = ethertype(kv, &[0x8100, 0x88a8])?;
            ctx.vlan = true;
            one(Action::PushVlan(e))
        }
        "push_mpls" => {
            let e = ethertype(kv, &[0x8847, 0x8848])?;
            ctx.eth = Some(e);
            ctx.proto = None;
            ctx.icmp6_type = None;
            one(Action::PushMpls(e))
        }
        "pop_mpls" => {
            let e = parse_int::<u16>(kv.need()?, t)?;
            ctx.eth = Some(e);
            one(Action::PopMpls(e))
        }
        "push_pbb" => one(Action::PushPbb(ethertype(kv, &[0x88e7])?)),
        "pop_pbb" => {
            kv.none()?;
            one(Action::PopPbb)
        }
        "set_mpls_ttl" => one(Action::SetMplsTtl(parse_int::<u8>(kv.need()?, t)?)),
        "dec_mpls_ttl" => {
            kv.none()?;
            one(Action::DecMplsTtl)
        }
        "mod_nw_ttl" | "set_nw_ttl" => one(Action::SetNwTtl(parse_int::<u8>(kv.need()?, t)?)),
        "dec_ttl" => match kv.value {
            None | Some("") => one(Action::DecNwTtl),
            Some(_) => Err(SyntaxError::Unsupported {
                token: t.to_string(),
                why: "dec_ttl with controller ids is an OVS extension",
            }),
        },
        "copy_ttl_out" => {
            kv.none()?;
            one(Action::CopyTtlOut)
        }
        "copy_ttl_in" => {
            kv.none()?;
            one(Action::CopyTtlIn)
        }
        "set_queue" => one(Action::SetQueue(parse_int::<u32>(kv.need()?, t)?)),
        key => {
            // A bare port: `2`, `LOCAL`, `in_port`, `CONTROLLER:100`.
            if key.eq_ignore_ascii_case("controller") {
                return one(controller(kv)?);
            }
            let port = if let Some(p) = reserved_port(key) {
                p
            } else if is_number(key) {
                parse_port(key, t)?
            } else {
                return Err(SyntaxError::UnknownAction {
                    token: key.to_string(),
                });
            };
            kv.none()?;
            one(output(port, t)?)
        }
    }
}

/// One action as `ovs-ofctl` prints it.
pub(crate) fn format_action(a: &Action) -> String {
    match a {
        Action::Output { port, max_len } => match *port {
            port_no::CONTROLLER => format!("CONTROLLER:{max_len}"),
            p if p < port_no::MAX => format!("output:{p}"),
            p => format_port(p),
        },
        Action::CopyTtlOut => "copy_ttl_out".into(),
        Action::CopyTtlIn => "copy_ttl_in".into(),
        Action::SetMplsTtl(n) => format!("set_mpls_ttl({n})"),
        Action::DecMplsTtl => "dec_mpls_ttl".into(),
        Action::PushVlan(e) => format!("push_vlan:0x{e:04x}"),
        Action::PopVlan => "pop_vlan".into(),
        Action::PushMpls(e) => format!("push_mpls:0x{e:04x}"),
        Action::PopMpls(e) => format!("pop_mpls:0x{e:04x}"),
        Action::SetQueue(q) => format!("set_queue:{q}"),
        Action::Group(g) => format!("group:{g}"),
        Action::SetNwTtl(n) => format!("mod_nw_ttl:{n}"),
        Action::DecNwTtl => "dec_ttl".into(),
        Action::SetField(o) => format!("set_field:{}", format_set_field(o)),
        Action::PushPbb(e) => format!("push_pbb:0x{e:04x}"),
        Action::PopPbb => "pop_pbb".into(),
        Action::Experimenter { experimenter, data } => format!(
            "experimenter(0x{experimenter:08x},{})",
            data.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
        Action::Unknown { action_type, .. } => format!("unknown_action(type={action_type})"),
    }
}

/// An action list as `ovs-ofctl` prints it (e.g. in a group bucket or a
/// packet-out): comma-separated, `drop` when empty.
pub fn format_action_list(actions: &[Action]) -> String {
    if actions.is_empty() {
        return "drop".into();
    }
    actions
        .iter()
        .map(format_action)
        .collect::<Vec<_>>()
        .join(",")
}

fn inst_rank(i: &Instruction) -> u8 {
    match i {
        Instruction::Meter(_) => 0,
        Instruction::ApplyActions(_) => 1,
        Instruction::ClearActions => 2,
        Instruction::WriteActions(_) => 3,
        Instruction::WriteMetadata { .. } => 4,
        Instruction::GotoTable(_) => 5,
        _ => 6,
    }
}

/// Instructions as `ovs-ofctl` prints them after `actions=`: in execution
/// order, apply-actions bare, `drop` when there is nothing to print.
pub(crate) fn format_instructions(insts: &[Instruction]) -> String {
    let mut sorted: Vec<&Instruction> = insts.iter().collect();
    sorted.sort_by_key(|i| inst_rank(i));
    let mut parts: Vec<String> = Vec::new();
    for i in sorted {
        match i {
            Instruction::Meter(m) => parts.push(format!("meter:{m}")),
            Instruction::ApplyActions(a) => parts.extend(a.iter().map(format_action)),
            Instruction::ClearActions => parts.push("clear_actions".into()),
            Instruction::WriteActions(a) => {
                parts.push(format!("write_actions({})", format_action_list(a)));
            }
            Instruction::WriteMetadata { metadata, mask } => {
                if *mask == u64::MAX {
                    parts.push(format!("write_metadata:{metadata:#x}"));
                } else {
                    parts.push(format!("write_metadata:{metadata:#x}/{mask:#x}"));
                }
            }
            Instruction::GotoTable(t) => parts.push(format!("goto_table:{t}")),
            Instruction::Experimenter { experimenter, .. } => {
                parts.push(format!("experimenter_instruction(0x{experimenter:08x})"));
            }
            Instruction::Unknown { inst_type, .. } => {
                parts.push(format!("unknown_instruction(type={inst_type})"));
            }
        }
    }
    if parts.is_empty() {
        "drop".into()
    } else {
        parts.join(",")
    }
}
