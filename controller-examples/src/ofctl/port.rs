//! `dump-ports` output.

use openflow::multipart::PortStats;

use super::value::{fmt_duration, format_port};

fn stat(name: &str, v: u64) -> String {
    if v == u64::MAX {
        format!("{name}?")
    } else {
        format!("{name}{v}")
    }
}

/// One port's statistics as `ovs-ofctl -O OpenFlow13 --no-names
/// dump-ports` prints them: three lines joined with `\n` (no final
/// newline), the last omitted when the duration is unknown (0xffffffff):
///
/// ```text
///   port  1: rx pkts=1, bytes=3, drop=5, errs=7, frame=9, over=10, crc=11
///            tx pkts=2, bytes=4, drop=6, errs=8, coll=12
///            duration=7s
/// ```
///
/// Counters the switch does not keep (all ones) print as `?`.
pub fn format_port_stats(p: &PortStats) -> String {
    let pad = if p.port_no < 10 { " " } else { "" };
    let mut s = format!(
        "  port {pad}{}: rx {}, {}, {}, {}, {}, {}, {}\n           tx {}, {}, {}, {}, {}",
        format_port(p.port_no),
        stat("pkts=", p.rx_packets),
        stat("bytes=", p.rx_bytes),
        stat("drop=", p.rx_dropped),
        stat("errs=", p.rx_errors),
        stat("frame=", p.rx_frame_err),
        stat("over=", p.rx_over_err),
        stat("crc=", p.rx_crc_err),
        stat("pkts=", p.tx_packets),
        stat("bytes=", p.tx_bytes),
        stat("drop=", p.tx_dropped),
        stat("errs=", p.tx_errors),
        stat("coll=", p.collisions),
    );
    if p.duration_sec != u32::MAX {
        s.push_str("\n           duration=");
        s.push_str(&fmt_duration(p.duration_sec, p.duration_nsec));
    }
    s
}
