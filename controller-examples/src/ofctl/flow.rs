//! Whole flows: `parse_flow` for add-flow / mod-flows / del-flows /
//! dump-flows strings, and `format_flow_stats` for dump-flows output.

use openflow::group::group_id;
use openflow::instruction::Instruction;
use openflow::message::{
    FlowMod, OFP_DEFAULT_PRIORITY, flow_mod_command, flow_mod_flags, table_id,
};
use openflow::multipart::{FlowStats, FlowStatsRequest};
use openflow::oxm::Match;
use openflow::port::port_no;

use super::SyntaxError;
use super::actions::{format_instructions, parse_instructions};
use super::fields::{build_match, format_match_priority, is_match_key};
use super::lex::{Kv, KvIter};
use super::value::{fmt_duration, parse_int, parse_port, parse_u64, split_mask};

/// Which `ovs-ofctl` command a flow string is for; it decides which
/// keywords are allowed and whether `actions=` is required.
///
/// | mode | actions | timeouts, flags | `out_port`, `out_group` | `cookie=V/M` | default table |
/// |---|---|---|---|---|---|
/// | `Add` | required | yes | no | no (`cookie=V` sets it) | 0 |
/// | `Modify`, `ModifyStrict` | required | yes | no | yes (`cookie=V` sets it) | all |
/// | `Delete`, `DeleteStrict` | no | no | yes | yes (`cookie=V` refused) | all |
/// | `Dump` | no | no | yes | yes (`cookie=V` refused) | all |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FlowMode {
    /// `add-flow` / `add-flows` (OFPFC_ADD).
    Add,
    /// `mod-flows` (OFPFC_MODIFY).
    Modify,
    /// `mod-flows --strict` (OFPFC_MODIFY_STRICT).
    ModifyStrict,
    /// `del-flows` (OFPFC_DELETE).
    Delete,
    /// `del-flows --strict` (OFPFC_DELETE_STRICT).
    DeleteStrict,
    /// `dump-flows` / `dump-aggregate` (a flow stats request).
    Dump,
}

impl FlowMode {
    /// The command name, for error messages.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Add => "add-flow",
            Self::Modify | Self::ModifyStrict => "mod-flows",
            Self::Delete | Self::DeleteStrict => "del-flows",
            Self::Dump => "dump-flows",
        }
    }

    /// The FLOW_MOD command (`OFPFC_*`), `None` for [`FlowMode::Dump`].
    pub const fn flow_mod_command(self) -> Option<u8> {
        Some(match self {
            Self::Add => flow_mod_command::ADD,
            Self::Modify => flow_mod_command::MODIFY,
            Self::ModifyStrict => flow_mod_command::MODIFY_STRICT,
            Self::Delete => flow_mod_command::DELETE,
            Self::DeleteStrict => flow_mod_command::DELETE_STRICT,
            Self::Dump => return None,
        })
    }

    const fn modifies(self) -> bool {
        matches!(self, Self::Add | Self::Modify | Self::ModifyStrict)
    }
}

/// A parsed flow string: the match, the instructions and the FLOW_MOD (or
/// flow stats request) header fields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlowSpec {
    /// The command the string was parsed for.
    pub mode: FlowMode,
    /// `table=N`; when absent, 0 for add and OFPTT_ALL (0xff) otherwise
    /// (which [`FlowSpec::to_flow_mod`] sends as 0 for a modify).
    pub table_id: u8,
    /// `priority=N` (default 32768).
    pub priority: u16,
    /// The cookie: `cookie=V` in add/modify (the cookie to set), or the
    /// value of `cookie=V/M` (the cookie to match).
    pub cookie: u64,
    /// The mask of `cookie=V/M` (0: cookies are not matched).
    pub cookie_mask: u64,
    /// `idle_timeout=N` seconds (0: none).
    pub idle_timeout: u16,
    /// `hard_timeout=N` seconds (0: none).
    pub hard_timeout: u16,
    /// `OFPFF_*` flags: `send_flow_rem`, `check_overlap`, `reset_counts`,
    /// `no_packet_counts`, `no_byte_counts`.
    pub flags: u16,
    /// `out_port=P` (default OFPP_ANY: no restriction).
    pub out_port: u32,
    /// `out_group=G` (default OFPG_ANY: no restriction).
    pub out_group: u32,
    /// The match, fields in canonical order (by OXM field number).
    pub match_: Match,
    /// The instructions (empty for `actions=drop`, and when the mode takes
    /// no actions).
    pub instructions: Vec<Instruction>,
}

impl FlowSpec {
    /// The FLOW_MOD this flow string asks for (`None` in
    /// [`FlowMode::Dump`]). `buffer_id` is OFP_NO_BUFFER.
    ///
    /// Encoded as `ovs-ofctl` encodes OpenFlow 1.3: OFPTT_ALL is valid only
    /// for deletes, so an add or modify without `table=` goes to table 0;
    /// OpenFlow 1.3 cannot change a flow's cookie on modify, so the cookie
    /// field of a modify carries only the cookie to match
    /// (`cookie & cookie_mask`).
    pub fn to_flow_mod(&self) -> Option<FlowMod> {
        let command = self.mode.flow_mod_command()?;
        let delete = matches!(self.mode, FlowMode::Delete | FlowMode::DeleteStrict);
        let table_id = if self.table_id == table_id::ALL && !delete {
            0
        } else {
            self.table_id
        };
        let cookie = if self.mode == FlowMode::Add {
            self.cookie
        } else {
            self.cookie & self.cookie_mask
        };
        Some(FlowMod {
            cookie,
            cookie_mask: self.cookie_mask,
            table_id,
            command,
            idle_timeout: self.idle_timeout,
            hard_timeout: self.hard_timeout,
            priority: self.priority,
            out_port: self.out_port,
            out_group: self.out_group,
            flags: self.flags,
            match_: self.match_.clone(),
            instructions: self.instructions.clone(),
            ..FlowMod::default()
        })
    }

    /// The flow (or aggregate) stats request body for dump-flows.
    pub fn to_flow_stats_request(&self) -> FlowStatsRequest {
        FlowStatsRequest {
            table_id: self.table_id,
            out_port: self.out_port,
            out_group: self.out_group,
            cookie: self.cookie,
            cookie_mask: self.cookie_mask,
            match_: self.match_.clone(),
        }
    }
}

/// Splits `text` at the `actions=` keyword (ovs-ofctl takes everything
/// after it as the action list, commas and all).
fn split_actions(text: &str) -> (&str, Option<&str>) {
    let mut from = 0;
    while let Some(i) = text[from..].find("action") {
        let at = from + i;
        let before_ok = text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| matches!(c, ',' | ' ' | '\t' | '\r' | '\n'));
        let rest = &text[at..];
        for kw in ["actions=", "actions:", "action=", "action:"] {
            if before_ok && let Some(acts) = rest.strip_prefix(kw) {
                return (&text[..at], Some(acts));
            }
        }
        from = at + "action".len();
    }
    (text, None)
}

fn flag_bit(key: &str) -> Option<u16> {
    Some(match key {
        "send_flow_rem" => flow_mod_flags::SEND_FLOW_REM,
        "check_overlap" => flow_mod_flags::CHECK_OVERLAP,
        "reset_counts" => flow_mod_flags::RESET_COUNTS,
        "no_packet_counts" => flow_mod_flags::NO_PKT_COUNTS,
        "no_byte_counts" => flow_mod_flags::NO_BYT_COUNTS,
        _ => return None,
    })
}

/// Parses a flow in `ovs-ofctl` syntax (`man ovs-fields`, `ovs-actions`,
/// `ovs-ofctl` "Flow Syntax"), e.g.
/// `table=0,priority=10,tcp,tp_dst=80,filter_prog=3,actions=output:2`.
///
/// Keywords: `table`, `priority`, `cookie` (`cookie=V/M` outside add-flow),
/// `idle_timeout`, `hard_timeout`, the flags `send_flow_rem`,
/// `check_overlap`, `reset_counts`, `no_packet_counts`, `no_byte_counts`,
/// `out_port` and `out_group` (del-flows and dump-flows), every OpenFlow 1.3
/// match field by its OVS name, the protocol shorthands (`ip`, `tcp6`, …),
/// `filter_prog=N` (the filter-program extension's FILTER_PROG field), and
/// `actions=` (required in add-flow and mod-flows, refused elsewhere). See
/// [`FlowMode`] for what each command allows. As in `ovs-ofctl`, the
/// statistics in dump-flows output (`duration`, `n_packets`, `n_bytes`,
/// `idle_age`, `hard_age`) are ignored, so a dump-flows line parses back.
pub fn parse_flow(text: &str, mode: FlowMode) -> Result<FlowSpec, SyntaxError> {
    let (head, actions) = split_actions(text);
    let not_allowed = |token: &str| SyntaxError::NotAllowed {
        token: token.to_string(),
        command: mode.name(),
    };
    let mut spec = FlowSpec {
        mode,
        table_id: if mode == FlowMode::Add {
            0
        } else {
            table_id::ALL
        },
        priority: OFP_DEFAULT_PRIORITY,
        cookie: 0,
        cookie_mask: 0,
        idle_timeout: 0,
        hard_timeout: 0,
        flags: 0,
        out_port: port_no::ANY,
        out_group: group_id::ANY,
        match_: Match::default(),
        instructions: Vec::new(),
    };
    let mut seen: Vec<&str> = Vec::new();
    let mut match_items: Vec<Kv<'_>> = Vec::new();
    for kv in KvIter::new(head) {
        let kv = kv?;
        let t = kv.token;
        if is_match_key(kv.key) {
            match_items.push(kv);
            continue;
        }
        if matches!(
            kv.key,
            "duration" | "n_packets" | "n_bytes" | "idle_age" | "hard_age"
        ) {
            // dump-flows output fields: ignored, as ovs-ofctl ignores them,
            // so that dump-flows output can be fed back as flows.
            continue;
        }
        if seen.contains(&kv.key) {
            return Err(SyntaxError::Conflict {
                token: t.to_string(),
            });
        }
        seen.push(kv.key);
        if let Some(bit) = flag_bit(kv.key) {
            if !mode.modifies() {
                return Err(not_allowed(t));
            }
            kv.none()?;
            spec.flags |= bit;
            continue;
        }
        match kv.key {
            "table" => {
                let v = kv.need()?;
                spec.table_id = if v.eq_ignore_ascii_case("all") {
                    table_id::ALL
                } else {
                    parse_int(v, t)?
                };
            }
            "priority" => spec.priority = parse_int(kv.need()?, t)?,
            "cookie" => {
                let (v, m) = split_mask(kv.need()?);
                match m {
                    Some(m) => {
                        if mode == FlowMode::Add {
                            return Err(not_allowed(t));
                        }
                        spec.cookie_mask = parse_u64(m, t)?;
                        spec.cookie = parse_u64(v, t)? & spec.cookie_mask;
                    }
                    None => {
                        if !mode.modifies() {
                            return Err(not_allowed(t));
                        }
                        spec.cookie = parse_u64(v, t)?;
                    }
                }
            }
            "idle_timeout" | "hard_timeout" => {
                if !mode.modifies() {
                    return Err(not_allowed(t));
                }
                let n = parse_int(kv.need()?, t)?;
                if kv.key == "idle_timeout" {
                    spec.idle_timeout = n;
                } else {
                    spec.hard_timeout = n;
                }
            }
            "out_port" => {
                if mode.modifies() {
                    return Err(not_allowed(t));
                }
                spec.out_port = parse_port(kv.need()?, t)?;
            }
            "out_group" => {
                if mode.modifies() {
                    return Err(not_allowed(t));
                }
                let v = kv.need()?;
                spec.out_group = if v.eq_ignore_ascii_case("any") {
                    group_id::ANY
                } else {
                    parse_int(v, t)?
                };
            }
            _ => {
                return Err(SyntaxError::UnknownField {
                    token: kv.key.to_string(),
                });
            }
        }
    }
    spec.match_ = build_match(&match_items)?;
    match (actions, mode.modifies()) {
        (Some(a), true) => spec.instructions = parse_instructions(a, Some(&spec.match_))?,
        (None, true) => return Err(SyntaxError::MissingActions),
        (Some(a), false) => {
            return Err(not_allowed(&format!("actions={a}")));
        }
        (None, false) => {}
    }
    Ok(spec)
}

/// The match as `ovs-ofctl` prints it (`tcp,nw_src=10.0.0.0/8,tp_dst=80`),
/// without a priority; empty for the all-wildcard match.
pub fn format_match(m: &Match) -> String {
    format_match_priority(m, None)
}

/// Instructions as `ovs-ofctl` prints them after `actions=`
/// (`meter:1,output:2,goto_table:3`; `drop` when empty).
pub fn format_actions(insts: &[Instruction]) -> String {
    format_instructions(insts)
}

/// The flags as `ovs-ofctl` prints them: each name followed by a space.
fn format_flags(flags: u16) -> String {
    let names = [
        (flow_mod_flags::SEND_FLOW_REM, "send_flow_rem "),
        (flow_mod_flags::CHECK_OVERLAP, "check_overlap "),
        (flow_mod_flags::RESET_COUNTS, "reset_counts "),
        (flow_mod_flags::NO_PKT_COUNTS, "no_packet_counts "),
        (flow_mod_flags::NO_BYT_COUNTS, "no_byte_counts "),
    ];
    names
        .iter()
        .filter(|(b, _)| flags & b != 0)
        .map(|(_, n)| *n)
        .collect()
}

/// One flow of a flow stats reply, exactly as
/// `ovs-ofctl -O OpenFlow13 --no-names dump-flows` prints it (one line, with
/// its leading space, without a newline):
///
/// ```text
///  cookie=0x0, duration=1.234s, table=0, n_packets=0, n_bytes=0, priority=10,tcp,tp_dst=80 actions=output:2
/// ```
///
/// `idle_timeout=`/`hard_timeout=` appear when non-zero, the flags
/// (`send_flow_rem`, `reset_counts`, …) after them, then the match with
/// its priority (omitted when 32768) and the protocol shorthand, then the
/// instructions. The match and actions parse back with [`parse_flow`] to
/// the same OXMs and instructions.
pub fn format_flow_stats(fs: &FlowStats) -> String {
    let mut s = format!(
        " cookie={:#x}, duration={}, table={}, n_packets={}, n_bytes={}, ",
        fs.cookie,
        fmt_duration(fs.duration_sec, fs.duration_nsec),
        fs.table_id,
        fs.packet_count,
        fs.byte_count
    );
    if fs.idle_timeout != 0 {
        s.push_str(&format!("idle_timeout={}, ", fs.idle_timeout));
    }
    if fs.hard_timeout != 0 {
        s.push_str(&format!("hard_timeout={}, ", fs.hard_timeout));
    }
    s.push_str(&format_flags(fs.flags));
    let m = format_match_priority(&fs.match_, Some(fs.priority));
    if !m.is_empty() {
        s.push_str(&m);
        s.push(' ');
    }
    s.push_str("actions=");
    s.push_str(&format_instructions(&fs.instructions));
    s
}

/// A flow as `ovs-ofctl parse-flow` prints the match and actions of a
/// FLOW_MOD: `priority=10,tcp,tp_dst=80 actions=output:2` (no header
/// fields). Parsing it back in [`FlowMode::Add`] gives the same match and
/// instructions.
pub fn format_flow(priority: u16, m: &Match, insts: &[Instruction]) -> String {
    let mut s = format_match_priority(m, Some(priority));
    if !s.is_empty() {
        s.push(' ');
    }
    s.push_str("actions=");
    s.push_str(&format_instructions(insts));
    s
}
