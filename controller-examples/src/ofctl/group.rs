//! Groups: `add-group`/`mod-group`/`del-groups` strings to GROUP_MOD, and
//! `dump-groups` / `dump-group-stats` output.

use openflow::group::{Bucket, group_id, group_mod_command, group_type};
use openflow::message::GroupMod;
use openflow::multipart::{GroupDesc, GroupStats};
use openflow::port::port_no;

use super::SyntaxError;
use super::actions::{Ctx, format_action_list, parse_action_list};
use super::lex::KvIter;
use super::value::{fmt_duration, format_port, parse_int, parse_port};

/// Which `ovs-ofctl` group command a string is for.
///
/// `Add` and `Modify` need `group_id` and `type`; `Delete` takes only
/// `group_id` (default: all groups).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GroupMode {
    /// `add-group` (OFPGC_ADD).
    Add,
    /// `mod-group` (OFPGC_MODIFY).
    Modify,
    /// `del-groups` (OFPGC_DELETE).
    Delete,
}

impl GroupMode {
    const fn name(self) -> &'static str {
        match self {
            Self::Add => "add-group",
            Self::Modify => "mod-group",
            Self::Delete => "del-groups",
        }
    }
}

const TYPE_NAMES: [(&str, u8); 5] = [
    ("all", group_type::ALL),
    ("select", group_type::SELECT),
    ("indirect", group_type::INDIRECT),
    ("ff", group_type::FF),
    ("fast_failover", group_type::FF),
];

/// Splits `text` before each `bucket=` keyword.
fn split_buckets(text: &str) -> (&str, Vec<&str>) {
    let mut starts = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("bucket=") {
        let at = from + i;
        let boundary = text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| matches!(c, ',' | ' ' | '\t' | '\r' | '\n'));
        if boundary {
            starts.push(at);
        }
        from = at + "bucket=".len();
    }
    let Some(&first) = starts.first() else {
        return (text, Vec::new());
    };
    let mut buckets = Vec::new();
    for (k, &s) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(text.len());
        buckets.push(&text[s + "bucket=".len()..end]);
    }
    (&text[..first], buckets)
}

fn parse_bucket(text: &str, gtype: u8) -> Result<Bucket, SyntaxError> {
    let mut bucket = Bucket::new(Vec::new());
    bucket.weight = u16::from(gtype == group_type::SELECT);
    // Everything from `actions=` on is the action list; before it, the
    // bucket parameters, and any other item is an action too (as in OVS).
    let (head, tail) = match text.find("actions=") {
        Some(i) => (&text[..i], Some(&text[i + "actions=".len()..])),
        None => (text, None),
    };
    let mut actions: Vec<&str> = Vec::new();
    for kv in KvIter::new(head) {
        let kv = kv?;
        let t = kv.token;
        match kv.key {
            "weight" => bucket.weight = parse_int(kv.need()?, t)?,
            "watch_port" => bucket.watch_port = parse_port(kv.need()?, t)?,
            "watch_group" => bucket.watch_group = parse_int(kv.need()?, t)?,
            "bucket_id" => {
                return Err(SyntaxError::Unsupported {
                    token: t.to_string(),
                    why: "bucket ids are OpenFlow 1.5",
                });
            }
            _ => actions.push(t),
        }
    }
    let mut text = actions.join(",");
    if let Some(tail) = tail {
        if !text.is_empty() {
            text.push(',');
        }
        text.push_str(tail);
    }
    bucket.actions = parse_action_list(&text, &mut Ctx::new(None), "bucket")?;
    Ok(bucket)
}

/// Parses a group in `ovs-ofctl` syntax, e.g.
/// `group_id=1,type=select,bucket=weight:10,actions=output:1,bucket=actions=output:2`.
///
/// Group keywords: `group_id=N` (`all` in del-groups), `type=all|select|
/// indirect|ff` (`fast_failover` too). Each `bucket=` starts a bucket:
/// `weight:N` (default 1 in select groups, else 0), `watch_port:P`,
/// `watch_group:G`, then `actions=...` (or actions directly).
pub fn parse_group(text: &str, mode: GroupMode) -> Result<GroupMod, SyntaxError> {
    let (head, bucket_texts) = split_buckets(text);
    let mut id: Option<u32> = None;
    let mut gtype: Option<u8> = None;
    for kv in KvIter::new(head) {
        let kv = kv?;
        let t = kv.token;
        match kv.key {
            "group_id" => {
                let v = kv.need()?;
                let g = if v.eq_ignore_ascii_case("all") {
                    group_id::ALL
                } else if v.eq_ignore_ascii_case("any") {
                    group_id::ANY
                } else {
                    parse_int(v, t)?
                };
                if id.replace(g).is_some() {
                    return Err(SyntaxError::Conflict {
                        token: t.to_string(),
                    });
                }
            }
            "type" => {
                if mode == GroupMode::Delete {
                    return Err(SyntaxError::NotAllowed {
                        token: t.to_string(),
                        command: mode.name(),
                    });
                }
                let v = kv.need()?;
                let ty = TYPE_NAMES
                    .iter()
                    .find(|(n, _)| *n == v)
                    .map(|(_, ty)| *ty)
                    .ok_or_else(|| {
                        SyntaxError::bad(t, "type must be all, select, indirect or ff")
                    })?;
                if gtype.replace(ty).is_some() {
                    return Err(SyntaxError::Conflict {
                        token: t.to_string(),
                    });
                }
            }
            _ => {
                return Err(SyntaxError::UnknownField {
                    token: kv.key.to_string(),
                });
            }
        }
    }
    let command = match mode {
        GroupMode::Add => group_mod_command::ADD,
        GroupMode::Modify => group_mod_command::MODIFY,
        GroupMode::Delete => group_mod_command::DELETE,
    };
    if mode == GroupMode::Delete {
        if let Some(b) = bucket_texts.first() {
            return Err(SyntaxError::NotAllowed {
                token: format!("bucket={b}"),
                command: mode.name(),
            });
        }
        return Ok(GroupMod {
            command,
            group_type: group_type::ALL,
            group_id: id.unwrap_or(group_id::ALL),
            buckets: Vec::new(),
        });
    }
    let group_id = id.ok_or(SyntaxError::MissingParameter { what: "group_id" })?;
    let group_type = gtype.ok_or(SyntaxError::MissingParameter { what: "type" })?;
    let buckets = bucket_texts
        .iter()
        .map(|b| parse_bucket(b, group_type))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(GroupMod {
        command,
        group_type,
        group_id,
        buckets,
    })
}

fn type_name(t: u8) -> &'static str {
    match t {
        group_type::ALL => "all",
        group_type::SELECT => "select",
        group_type::INDIRECT => "indirect",
        group_type::FF => "ff",
        _ => "unknown",
    }
}

/// One group as `ovs-ofctl -O OpenFlow13 dump-groups` prints it (leading
/// space, no newline):
/// ` group_id=1,type=select,bucket=weight:10,actions=output:1`.
///
/// A bucket's weight is shown when it is not the default (1 for select
/// groups, 0 otherwise), `watch_port`/`watch_group` when not ANY.
pub fn format_group_desc(g: &GroupDesc) -> String {
    format_group(g.group_id, g.group_type, &g.buckets)
}

/// A GROUP_MOD's group in the same format as [`format_group_desc`].
pub fn format_group_mod(g: &GroupMod) -> String {
    format_group(g.group_id, g.group_type, &g.buckets)
}

fn format_group(id: u32, ty: u8, buckets: &[Bucket]) -> String {
    let mut s = format!(" group_id={id},type={}", type_name(ty));
    let default_weight = u16::from(ty == group_type::SELECT);
    for b in buckets {
        s.push_str(",bucket=");
        if b.weight != default_weight {
            s.push_str(&format!("weight:{},", b.weight));
        }
        if b.watch_port != port_no::ANY {
            s.push_str(&format!("watch_port:{},", format_port(b.watch_port)));
        }
        if b.watch_group != group_id::ANY {
            s.push_str(&format!("watch_group:{},", b.watch_group));
        }
        s.push_str("actions=");
        s.push_str(&format_action_list(&b.actions));
    }
    s
}

/// One group's statistics as `ovs-ofctl -O OpenFlow13 dump-group-stats`
/// prints them (leading space, no newline):
/// ` group_id=1,duration=3.500s,ref_count=3,packet_count=5,byte_count=256,bucket0:packet_count=1,byte_count=64`.
pub fn format_group_stats(g: &GroupStats) -> String {
    let mut s = format!(
        " group_id={},duration={},ref_count={},packet_count={},byte_count={}",
        g.group_id,
        fmt_duration(g.duration_sec, g.duration_nsec),
        g.ref_count,
        g.packet_count,
        g.byte_count
    );
    for (i, c) in g.bucket_stats.iter().enumerate() {
        s.push_str(&format!(
            ",bucket{i}:packet_count={},byte_count={}",
            c.packet_count, c.byte_count
        ));
    }
    s
}
