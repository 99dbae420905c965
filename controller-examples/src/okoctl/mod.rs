//! # okoctl — the pieces of the `okoctl` command that are not command-line
//! plumbing
//!
//! The [`ofctl`](crate::ofctl) module already speaks `ovs-ofctl`'s flow,
//! group and meter language and prints flow, group, meter and port
//! statistics. What `okoctl` needs on top is here, as plain functions the
//! binary calls and the tests check:
//!
//! - the replies `ovs-ofctl show`, `dump-ports-desc` and `dump-tables`
//!   print ([`format_features`], [`format_port_desc`],
//!   [`format_table_stats`], [`format_switch_config`]) and the header line
//!   every reply starts with ([`reply_header`]);
//! - the filter-program extension's replies, which OVS has no format for:
//!   [`format_prog_load_reply`], [`format_map_desc`], [`format_prog_stats`],
//!   [`format_map_entry`], in the same `key=value, …` style as flow dumps so
//!   the same scripts can cut them apart;
//! - hexadecimal keys and values for the map commands ([`parse_hex`],
//!   [`format_hex`]);
//! - [`multipart_with_xid`], a multipart request that also returns the xid
//!   it went out under, because `ovs-ofctl` prints it in each header line
//!   and a made-up xid would be a lie;
//! - [`describe_error`], the one-line text of a switch's refusal.
//!
//! ## Why keys and values are printed as raw hex
//!
//! A map's key and value are whatever the C program's structs are, in the
//! BPF target's (little-endian) byte order; the switch does not know their
//! layout and neither does `okoctl`. Printing bytes in memory order is the
//! only reading that is never wrong, and it is exactly what `update-map`
//! takes back.

use std::fmt::Write as _;

use ofext_filter::wire::{MapDesc, ProgLoadReply, ProgStatsEntry, name16_str};
use openflow::message::{MessageBody, SwitchConfig, SwitchFeatures, capabilities, config_flags};
use openflow::multipart::OFPMPF_REPLY_MORE;
use openflow::multipart::{MultipartReply, MultipartRequest, MultipartRequestBody, TableStats};
use openflow::port::{Port, port_config, port_features, port_state};

use openflow::ErrorCode;

use crate::client::{ClientError, Connection, SubscriptionError};
use crate::ofctl::format_port;

/// The header line `ovs-ofctl` prints before a reply:
/// `OFPST_FLOW reply (OF1.3) (xid=0x2):`. `what` is the message name as
/// OVS spells it (`OFPST_FLOW reply`, `OFPT_FEATURES_REPLY`, …).
pub fn reply_header(what: &str, xid: u32) -> String {
    format!("{what} (OF1.3) (xid={xid:#x}):")
}

/// Sends a MULTIPART_REQUEST and gathers every reply part, like
/// [`Connection::multipart`], but also returns the xid the request went out
/// under (the first reply's xid).
///
/// The first part is the request's answer (an OFPT_ERROR there is the
/// request's typed error); the switch sends further parts under the same
/// xid, and since the connection routes only the first message to the
/// request, they are read from a subscription made before sending. Each
/// further part must arrive within the connection's request timeout.
pub async fn multipart_with_xid(
    conn: &Connection,
    body: MultipartRequestBody,
) -> Result<(u32, Vec<MultipartReply>), ClientError> {
    let mp_type = body.mp_type();
    let mut events = conn.subscribe();
    let reply = conn
        .request(MessageBody::MultipartRequest(MultipartRequest {
            flags: 0,
            body,
        }))
        .await?;
    let xid = reply.xid;
    let first = match reply.body {
        MessageBody::MultipartReply(part) => part,
        other => {
            return Err(ClientError::UnexpectedReply {
                expected: "MULTIPART_REPLY",
                got: openflow::message::msg_type_name(other.msg_type()),
            });
        }
    };
    let mut more = first.flags & OFPMPF_REPLY_MORE != 0;
    let mut parts = vec![first];
    let timeout = conn.request_timeout();
    while more {
        let next = match tokio::time::timeout(timeout, events.recv()).await {
            Err(_) => {
                return Err(ClientError::Timeout {
                    xid,
                    after: timeout,
                });
            }
            Ok(Err(SubscriptionError::Closed)) => return Err(ClientError::Closed),
            // Whatever was dropped cannot be recovered; if a part of ours was
            // among it, the wait for the last part times out.
            Ok(Err(SubscriptionError::Lagged { .. })) => continue,
            Ok(Ok(msg)) => msg,
        };
        if next.xid != xid {
            continue;
        }
        match next.body {
            MessageBody::MultipartReply(part) => {
                more = part.flags & OFPMPF_REPLY_MORE != 0;
                parts.push(part);
            }
            MessageBody::Error(e) => return Err(ClientError::from_error_msg(&e)),
            other => {
                return Err(ClientError::UnexpectedReply {
                    expected: "MULTIPART_REPLY",
                    got: openflow::message::msg_type_name(other.msg_type()),
                });
            }
        }
    }
    if parts.iter().any(|p| p.body.mp_type() != mp_type) {
        return Err(ClientError::UnexpectedReply {
            expected: "a multipart reply of the requested type",
            got: "a multipart reply of another type",
        });
    }
    Ok((xid, parts))
}

pub use crate::client::ext_replies;

/// An OpenFlow error code by the name `ovs-ofctl` prints for it, the
/// `openflow.h` constant: `OFPBAC_BAD_OUT_PORT`, `OFPGMFC_GROUP_EXISTS`.
/// Codes without a name (and experimenter errors) are printed by the
/// `openflow` crate's `Display`.
pub fn error_name(code: ErrorCode) -> String {
    code.spec_name().unwrap_or_else(|| code.to_string())
}

/// The one-line text of an error: for a switch's refusal the OpenFlow error
/// name as `ovs-ofctl` prints it (`OFPT_ERROR: OFPBAC_BAD_OUT_PORT`) or the
/// extension's code and text (`OFPT_ERROR: PROG_IN_USE: program 7 is
/// referenced by 2 flows`); otherwise the error's message.
pub fn describe_error(e: &ClientError) -> String {
    match e {
        ClientError::OpenFlow { code, .. } => format!("OFPT_ERROR: {}", error_name(*code)),
        ClientError::Extension { code, message } if message.is_empty() => {
            format!("OFPT_ERROR: {code}")
        }
        ClientError::Extension { code, message } => format!("OFPT_ERROR: {code}: {message}"),
        ClientError::PartiallyApplied { applied, source } => {
            format!(
                "first {applied} entries applied, then {}",
                describe_error(source)
            )
        }
        other => other.to_string(),
    }
}

/// Parses hexadecimal bytes: an optional `0x`, then pairs of hex digits,
/// optionally separated by `:`, `-`, `_` or spaces (`01:00:00:00`,
/// `0x01000000`). The bytes are taken in the order written.
pub fn parse_hex(s: &str) -> Result<Vec<u8>, HexError> {
    let body = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    let digits: Vec<u8> = body
        .bytes()
        .filter(|b| !matches!(b, b':' | b'-' | b'_' | b' '))
        .collect();
    if digits.is_empty() {
        return Err(HexError::Empty);
    }
    if !digits.len().is_multiple_of(2) {
        return Err(HexError::OddLength {
            digits: digits.len(),
        });
    }
    let nibble = |c: u8| -> Result<u8, HexError> {
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(HexError::BadDigit {
                digit: char::from(c),
            }),
        }
    };
    digits
        .chunks_exact(2)
        .map(|p| Ok(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
}

/// Why a hexadecimal argument was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HexError {
    /// No digits at all.
    #[error("no hex digits")]
    Empty,
    /// An odd number of digits: the bytes are ambiguous.
    #[error("{digits} hex digits do not make whole bytes")]
    OddLength {
        /// How many digits were given.
        digits: usize,
    },
    /// A character that is neither a hex digit nor a separator.
    #[error("{digit:?} is not a hex digit")]
    BadDigit {
        /// The character.
        digit: char,
    },
}

/// Bytes as lowercase hex digits, no separators (what [`parse_hex`] takes
/// back).
pub fn format_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Appends `names` of the set bits of `bits`, space-separated, or `0` when
/// none is set; unknown bits as `0x…`.
fn flag_names(bits: u32, names: &[(u32, &str)]) -> String {
    if bits == 0 {
        return "0".to_owned();
    }
    let mut out: Vec<String> = Vec::new();
    let mut rest = bits;
    for &(bit, name) in names {
        if bits & bit != 0 {
            out.push(name.to_owned());
            rest &= !bit;
        }
    }
    if rest != 0 {
        out.push(format!("{rest:#x}"));
    }
    out.join(" ")
}

const CAPABILITY_NAMES: [(u32, &str); 7] = [
    (capabilities::FLOW_STATS, "FLOW_STATS"),
    (capabilities::TABLE_STATS, "TABLE_STATS"),
    (capabilities::PORT_STATS, "PORT_STATS"),
    (capabilities::GROUP_STATS, "GROUP_STATS"),
    (capabilities::IP_REASM, "IP_REASM"),
    (capabilities::QUEUE_STATS, "QUEUE_STATS"),
    (capabilities::PORT_BLOCKED, "PORT_BLOCKED"),
];

const CONFIG_NAMES: [(u32, &str); 4] = [
    (port_config::PORT_DOWN, "PORT_DOWN"),
    (port_config::NO_RECV, "NO_RECV"),
    (port_config::NO_FWD, "NO_FWD"),
    (port_config::NO_PACKET_IN, "NO_PACKET_IN"),
];

const STATE_NAMES: [(u32, &str); 3] = [
    (port_state::LINK_DOWN, "LINK_DOWN"),
    (port_state::BLOCKED, "BLOCKED"),
    (port_state::LIVE, "LIVE"),
];

const FEATURE_NAMES: [(u32, &str); 16] = [
    (port_features::RATE_10MB_HD, "10MB-HD"),
    (port_features::RATE_10MB_FD, "10MB-FD"),
    (port_features::RATE_100MB_HD, "100MB-HD"),
    (port_features::RATE_100MB_FD, "100MB-FD"),
    (port_features::RATE_1GB_HD, "1GB-HD"),
    (port_features::RATE_1GB_FD, "1GB-FD"),
    (port_features::RATE_10GB_FD, "10GB-FD"),
    (port_features::RATE_40GB_FD, "40GB-FD"),
    (port_features::RATE_100GB_FD, "100GB-FD"),
    (port_features::RATE_1TB_FD, "1TB-FD"),
    (port_features::OTHER, "OTHER"),
    (port_features::COPPER, "COPPER"),
    (port_features::FIBER, "FIBER"),
    (port_features::AUTONEG, "AUTO_NEG"),
    (port_features::PAUSE, "AUTO_PAUSE"),
    (port_features::PAUSE_ASYM, "AUTO_PAUSE_ASYM"),
];

/// A FEATURES_REPLY as `ovs-ofctl -O OpenFlow13 show` prints it (three
/// lines, no final newline):
///
/// ```text
/// OFPT_FEATURES_REPLY (OF1.3) (xid=0x2): dpid:0000000000000001
/// n_tables:254, n_buffers:0
/// capabilities: FLOW_STATS TABLE_STATS PORT_STATS GROUP_STATS
/// ```
pub fn format_features(xid: u32, f: &SwitchFeatures) -> String {
    format!(
        "{} dpid:{:016x}\nn_tables:{}, n_buffers:{}\ncapabilities: {}",
        reply_header("OFPT_FEATURES_REPLY", xid),
        f.datapath_id,
        f.n_tables,
        f.n_buffers,
        flag_names(f.capabilities, &CAPABILITY_NAMES)
    )
}

/// One port description as `ovs-ofctl show` and `dump-ports-desc` print it
/// (lines joined with `\n`, no final newline):
///
/// ```text
///  1(p1): addr:aa:55:aa:55:00:01
///      config:     0
///      state:      LIVE
///      current:    10GB-FD COPPER
///      speed: 10000 Mbps now, 0 Mbps max
/// ```
///
/// The `current`, `advertised`, `supported` and `peer` lines appear only
/// when their features are not all zero.
pub fn format_port_desc(p: &Port) -> String {
    let a = p.hw_addr;
    let mut s = format!(
        " {}({}): addr:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}\n     config:     {}\n     state:      {}",
        format_port(p.port_no),
        p.name_str(),
        a[0],
        a[1],
        a[2],
        a[3],
        a[4],
        a[5],
        flag_names(p.config, &CONFIG_NAMES),
        flag_names(p.state, &STATE_NAMES),
    );
    for (label, bits) in [
        ("current:    ", p.curr),
        ("advertised: ", p.advertised),
        ("supported:  ", p.supported),
        ("peer:       ", p.peer),
    ] {
        if bits != 0 {
            let _ = write!(s, "\n     {label}{}", flag_names(bits, &FEATURE_NAMES));
        }
    }
    let _ = write!(
        s,
        "\n     speed: {} Mbps now, {} Mbps max",
        p.curr_speed / 1000,
        p.max_speed / 1000
    );
    s
}

/// A GET_CONFIG_REPLY as `ovs-ofctl show` prints it:
/// `OFPT_GET_CONFIG_REPLY (OF1.3) (xid=0x4): frags=normal miss_send_len=128`.
pub fn format_switch_config(xid: u32, c: &SwitchConfig) -> String {
    let frags = match c.flags & config_flags::FRAG_MASK {
        config_flags::FRAG_NORMAL => "normal",
        config_flags::FRAG_DROP => "drop",
        config_flags::FRAG_REASM => "reassemble",
        _ => "nx-match",
    };
    format!(
        "{} frags={frags} miss_send_len={}",
        reply_header("OFPT_GET_CONFIG_REPLY", xid),
        c.miss_send_len
    )
}

/// Table statistics as `ovs-ofctl -O OpenFlow13 dump-tables` prints them
/// after the header line, one string per output line:
///
/// ```text
///   table 0:
///     active=1, lookup=10, matched=7
///
///   tables 1...253: ditto
/// ```
///
/// A run of tables whose counters equal the previous table's is collapsed
/// into one `ditto` line, as OVS does.
pub fn format_table_stats(tables: &[TableStats]) -> Vec<String> {
    let counters = |t: &TableStats| (t.active_count, t.lookup_count, t.matched_count);
    let mut lines = Vec::new();
    let mut i = 0;
    while i < tables.len() {
        let t = &tables[i];
        if i > 0 {
            lines.push(String::new());
        }
        lines.push(format!("  table {}:", t.table_id));
        lines.push(format!(
            "    active={}, lookup={}, matched={}",
            t.active_count, t.lookup_count, t.matched_count
        ));
        let mut j = i + 1;
        while j < tables.len() && counters(&tables[j]) == counters(t) {
            j += 1;
        }
        if j > i + 1 {
            let (first, last) = (tables[i + 1].table_id, tables[j - 1].table_id);
            lines.push(String::new());
            if first == last {
                lines.push(format!("  table {first}: ditto"));
            } else {
                lines.push(format!("  tables {first}...{last}: ditto"));
            }
        }
        i = j;
    }
    lines
}

/// The name of a Linux map type number (`array`, `hash`, …), or the number.
pub fn map_type_name(t: u32) -> String {
    match t {
        1 => "hash".to_owned(),
        2 => "array".to_owned(),
        5 => "percpu_hash".to_owned(),
        6 => "percpu_array".to_owned(),
        9 => "lru_hash".to_owned(),
        n => format!("type{n}"),
    }
}

/// One map of a PROG_LOAD_REPLY (or of `okoctl verify`), leading space:
/// ` map_id=0, name=config, type=array, key_size=4, value_size=16, max_entries=1`.
pub fn format_map_desc(m: &MapDesc) -> String {
    format!(
        " map_id={}, name={}, type={}, key_size={}, value_size={}, max_entries={}",
        m.map_id,
        name16_str(&m.name),
        map_type_name(m.map_type),
        m.key_size,
        m.value_size,
        m.max_entries
    )
}

fn yes_no(b: u8) -> &'static str {
    if b != 0 { "yes" } else { "no" }
}

/// A PROG_LOAD_REPLY: a first line
/// `OKO_PROG_LOAD_REPLY: prog_id=7, n_insns=120, jit=yes, n_maps=2` then one
/// [`format_map_desc`] line per map, joined with `\n`.
pub fn format_prog_load_reply(r: &ProgLoadReply) -> String {
    let mut s = format!(
        "OKO_PROG_LOAD_REPLY: prog_id={}, n_insns={}, jit={}, n_maps={}",
        r.prog_id,
        r.n_insns,
        yes_no(r.jit),
        r.maps.len()
    );
    for m in &r.maps {
        s.push('\n');
        s.push_str(&format_map_desc(m));
    }
    s
}

/// One PROG_STATS entry, leading space:
/// ` prog_id=1, name=conntrack, n_insns=120, jit=yes, n_flows=2, runs=10, matches=4, run_ns=1234`.
pub fn format_prog_stats(e: &ProgStatsEntry) -> String {
    format!(
        " prog_id={}, name={}, n_insns={}, jit={}, n_flows={}, runs={}, matches={}, run_ns={}",
        e.prog_id,
        name16_str(&e.name),
        e.n_insns,
        yes_no(e.jit),
        e.n_flows,
        e.runs,
        e.matches,
        e.run_ns
    )
}

/// One map entry, leading space: ` key=01000000 value=e803000000000000`.
pub fn format_map_entry(key: &[u8], value: &[u8]) -> String {
    format!(" key={} value={}", format_hex(key), format_hex(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_errors() {
        assert_eq!(parse_hex("0x01000000").unwrap(), vec![1, 0, 0, 0]);
        assert_eq!(
            parse_hex("de:AD-be_ef").unwrap(),
            vec![0xde, 0xad, 0xbe, 0xef]
        );
        assert_eq!(format_hex(&[0xde, 0xad, 0, 1]), "dead0001");
        assert_eq!(parse_hex(""), Err(HexError::Empty));
        assert_eq!(parse_hex("0x"), Err(HexError::Empty));
        assert_eq!(parse_hex("abc"), Err(HexError::OddLength { digits: 3 }));
        assert_eq!(parse_hex("zz"), Err(HexError::BadDigit { digit: 'z' }));
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(parse_hex(&format_hex(&bytes)).unwrap(), bytes);
    }

    #[test]
    fn features_as_ovs_prints_them() {
        let f = SwitchFeatures {
            datapath_id: 1,
            n_buffers: 256,
            n_tables: 254,
            auxiliary_id: 0,
            capabilities: capabilities::FLOW_STATS
                | capabilities::TABLE_STATS
                | capabilities::PORT_STATS
                | capabilities::GROUP_STATS,
            reserved: 0,
        };
        assert_eq!(
            format_features(2, &f),
            "OFPT_FEATURES_REPLY (OF1.3) (xid=0x2): dpid:0000000000000001\n\
             n_tables:254, n_buffers:256\n\
             capabilities: FLOW_STATS TABLE_STATS PORT_STATS GROUP_STATS"
        );
    }

    #[test]
    fn port_desc_as_ovs_prints_it() {
        let mut p = Port::new(1, [0xaa, 0x55, 0xaa, 0x55, 0, 1]).with_name("p1");
        p.state = port_state::LIVE;
        p.curr = port_features::RATE_10GB_FD | port_features::COPPER;
        p.curr_speed = 10_000_000;
        assert_eq!(
            format_port_desc(&p),
            " 1(p1): addr:aa:55:aa:55:00:01\n     config:     0\n     state:      LIVE\n     \
             current:    10GB-FD COPPER\n     speed: 10000 Mbps now, 0 Mbps max"
        );
        let mut local = Port::new(0xffff_fffe, [0; 6]).with_name("br0");
        local.config = port_config::PORT_DOWN | 0x1000;
        local.state = port_state::LINK_DOWN;
        assert_eq!(
            format_port_desc(&local),
            " LOCAL(br0): addr:00:00:00:00:00:00\n     config:     PORT_DOWN 0x1000\n     \
             state:      LINK_DOWN\n     speed: 0 Mbps now, 0 Mbps max"
        );
    }

    #[test]
    fn switch_config_line() {
        let c = SwitchConfig {
            flags: config_flags::FRAG_NORMAL,
            miss_send_len: 128,
        };
        assert_eq!(
            format_switch_config(4, &c),
            "OFPT_GET_CONFIG_REPLY (OF1.3) (xid=0x4): frags=normal miss_send_len=128"
        );
    }

    fn table(id: u8, active: u32, lookup: u64, matched: u64) -> TableStats {
        TableStats {
            table_id: id,
            active_count: active,
            lookup_count: lookup,
            matched_count: matched,
        }
    }

    #[test]
    fn table_stats_collapse_runs_into_ditto() {
        let tables = [
            table(0, 2, 10, 7),
            table(1, 0, 0, 0),
            table(2, 0, 0, 0),
            table(3, 0, 0, 0),
            table(4, 1, 0, 0),
            table(5, 1, 0, 0),
        ];
        assert_eq!(
            format_table_stats(&tables),
            [
                "  table 0:",
                "    active=2, lookup=10, matched=7",
                "",
                "  table 1:",
                "    active=0, lookup=0, matched=0",
                "",
                "  tables 2...3: ditto",
                "",
                "  table 4:",
                "    active=1, lookup=0, matched=0",
                "",
                "  table 5: ditto",
            ]
        );
        assert!(format_table_stats(&[]).is_empty());
    }

    #[test]
    fn extension_replies() {
        let reply = ProgLoadReply {
            prog_id: 7,
            n_insns: 120,
            jit: 1,
            maps: vec![MapDesc {
                map_id: 0,
                map_type: 2,
                key_size: 4,
                value_size: 16,
                max_entries: 1,
                name: ofext_filter::wire::name16("config"),
            }],
        };
        assert_eq!(
            format_prog_load_reply(&reply),
            "OKO_PROG_LOAD_REPLY: prog_id=7, n_insns=120, jit=yes, n_maps=1\n \
             map_id=0, name=config, type=array, key_size=4, value_size=16, max_entries=1"
        );
        let e = ProgStatsEntry {
            prog_id: 1,
            n_insns: 9,
            jit: 0,
            n_flows: 2,
            runs: 10,
            matches: 4,
            run_ns: 1234,
            name: ofext_filter::wire::name16("conntrack"),
        };
        assert_eq!(
            format_prog_stats(&e),
            " prog_id=1, name=conntrack, n_insns=9, jit=no, n_flows=2, runs=10, matches=4, run_ns=1234"
        );
        assert_eq!(
            format_map_entry(&[1, 0, 0, 0], &[0xe8, 3]),
            " key=01000000 value=e803"
        );
        assert_eq!(map_type_name(99), "type99");
    }

    #[test]
    fn errors_name_the_code() {
        let e = ClientError::Extension {
            code: ofext_filter::wire::ExtErrorCode::ProgInUse,
            message: "2 flows".to_owned(),
        };
        assert_eq!(describe_error(&e), "OFPT_ERROR: PROG_IN_USE: 2 flows");
        let e = ClientError::OpenFlow {
            code: openflow::ErrorCode::BadAction(openflow::error::BadActionCode::BadOutPort),
            data: Vec::new(),
        };
        assert_eq!(describe_error(&e), "OFPT_ERROR: OFPBAC_BAD_OUT_PORT");
        // Unnamed codes fall back to the numbers.
        let other = ErrorCode::FlowModFailed(openflow::error::FlowModFailedCode::Other(99));
        assert_eq!(error_name(other), other.to_string());
    }
}
