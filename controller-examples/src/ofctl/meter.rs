//! Meters: `add-meter`/`mod-meter`/`del-meters` strings to METER_MOD, and
//! `dump-meters` / `meter-stats` output.

use openflow::message::MeterMod;
use openflow::meter::{MeterBand, meter_flags, meter_id, meter_mod_command};
use openflow::multipart::{MeterConfig, MeterStats};

use super::SyntaxError;
use super::lex::KvIter;
use super::value::{fmt_duration, parse_int};

/// Which `ovs-ofctl` meter command a string is for.
///
/// `Add` and `Modify` need `meter=N` and at least one band; `Delete` takes
/// only `meter` (default: all meters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MeterMode {
    /// `add-meter` (OFPMC_ADD).
    Add,
    /// `mod-meter` (OFPMC_MODIFY).
    Modify,
    /// `del-meters` (OFPMC_DELETE).
    Delete,
}

fn meter_id_of(v: &str, token: &str) -> Result<u32, SyntaxError> {
    Ok(match v {
        "all" => meter_id::ALL,
        "controller" => meter_id::CONTROLLER,
        "slowpath" => meter_id::SLOWPATH,
        _ => {
            let id: u32 = parse_int(v, token)?;
            if id == 0 || id > meter_id::MAX {
                return Err(SyntaxError::bad(token, "meter ids are 1 to 0xffff0000"));
            }
            id
        }
    })
}

/// One band being built.
#[derive(Debug, Default)]
struct BandText {
    kind: u16,
    rate: Option<u32>,
    burst_size: u32,
    prec_level: Option<u8>,
}

impl BandText {
    fn finish(self) -> Result<MeterBand, SyntaxError> {
        let rate = self
            .rate
            .ok_or(SyntaxError::MissingParameter { what: "rate" })?;
        Ok(match self.kind {
            openflow::meter::band_type::DROP => {
                if self.prec_level.is_some() {
                    return Err(SyntaxError::bad(
                        "prec_level",
                        "only dscp_remark bands have a prec_level",
                    ));
                }
                MeterBand::Drop {
                    rate,
                    burst_size: self.burst_size,
                }
            }
            _ => MeterBand::DscpRemark {
                rate,
                burst_size: self.burst_size,
                prec_level: self.prec_level.unwrap_or(0),
            },
        })
    }
}

/// Parses a meter in `ovs-ofctl` syntax, e.g.
/// `meter=1,kbps,burst,stats,bands=type=drop,rate=1000,burst_size=100`.
///
/// Before `bands=`: `meter=N` (`all` in del-meters) and the flags `kbps`,
/// `pktps`, `burst`, `stats`. After it, each `type=drop` or
/// `type=dscp_remark` starts a band, followed by `rate=N`, optionally
/// `burst_size=N` and (dscp_remark) `prec_level=N`.
pub fn parse_meter(text: &str, mode: MeterMode) -> Result<MeterMod, SyntaxError> {
    let (head, bands_text) = match text.find("bands=") {
        Some(i) => (&text[..i], Some(&text[i + "bands=".len()..])),
        None => (text, None),
    };
    let mut id: Option<u32> = None;
    let mut flags = 0u16;
    for kv in KvIter::new(head) {
        let kv = kv?;
        let t = kv.token;
        let flag = match kv.key {
            "kbps" => meter_flags::KBPS,
            "pktps" => meter_flags::PKTPS,
            "burst" => meter_flags::BURST,
            "stats" => meter_flags::STATS,
            "meter" => {
                if id.replace(meter_id_of(kv.need()?, t)?).is_some() {
                    return Err(SyntaxError::Conflict {
                        token: t.to_string(),
                    });
                }
                continue;
            }
            _ => {
                return Err(SyntaxError::UnknownField {
                    token: kv.key.to_string(),
                });
            }
        };
        kv.none()?;
        if mode == MeterMode::Delete {
            return Err(SyntaxError::NotAllowed {
                token: t.to_string(),
                command: "del-meters",
            });
        }
        flags |= flag;
    }
    let command = match mode {
        MeterMode::Add => meter_mod_command::ADD,
        MeterMode::Modify => meter_mod_command::MODIFY,
        MeterMode::Delete => meter_mod_command::DELETE,
    };
    if mode == MeterMode::Delete {
        if let Some(b) = bands_text {
            return Err(SyntaxError::NotAllowed {
                token: format!("bands={b}"),
                command: "del-meters",
            });
        }
        return Ok(MeterMod {
            command,
            flags: 0,
            meter_id: id.unwrap_or(meter_id::ALL),
            bands: Vec::new(),
        });
    }
    let meter_id = id.ok_or(SyntaxError::MissingParameter { what: "meter" })?;
    if flags & meter_flags::KBPS != 0 && flags & meter_flags::PKTPS != 0 {
        return Err(SyntaxError::Conflict {
            token: "pktps".into(),
        });
    }
    let mut bands = Vec::new();
    let mut cur: Option<BandText> = None;
    for kv in KvIter::new(bands_text.unwrap_or("")) {
        let kv = kv?;
        let t = kv.token;
        if kv.key == "type" {
            if let Some(b) = cur.take() {
                bands.push(b.finish()?);
            }
            let kind = match kv.need()? {
                "drop" => openflow::meter::band_type::DROP,
                "dscp_remark" => openflow::meter::band_type::DSCP_REMARK,
                _ => return Err(SyntaxError::bad(t, "band type must be drop or dscp_remark")),
            };
            cur = Some(BandText {
                kind,
                ..BandText::default()
            });
            continue;
        }
        let Some(b) = cur.as_mut() else {
            return Err(SyntaxError::MissingParameter {
                what: "a band type (type=drop or type=dscp_remark) first",
            });
        };
        match kv.key {
            "rate" => b.rate = Some(parse_int(kv.need()?, t)?),
            "burst_size" => b.burst_size = parse_int(kv.need()?, t)?,
            "prec_level" => b.prec_level = Some(parse_int(kv.need()?, t)?),
            _ => {
                return Err(SyntaxError::UnknownField {
                    token: kv.key.to_string(),
                });
            }
        }
    }
    if let Some(b) = cur.take() {
        bands.push(b.finish()?);
    }
    if bands.is_empty() {
        return Err(SyntaxError::MissingParameter { what: "bands" });
    }
    Ok(MeterMod {
        command,
        flags,
        meter_id,
        bands,
    })
}

fn meter_name(id: u32) -> String {
    match id {
        meter_id::SLOWPATH => "slowpath".into(),
        meter_id::CONTROLLER => "controller".into(),
        meter_id::ALL => "all".into(),
        id if id <= meter_id::MAX => id.to_string(),
        _ => "unknown".into(),
    }
}

fn format_flags(flags: u16) -> String {
    let mut s = String::new();
    for (bit, name) in [
        (meter_flags::KBPS, "kbps "),
        (meter_flags::PKTPS, "pktps "),
        (meter_flags::BURST, "burst "),
        (meter_flags::STATS, "stats "),
    ] {
        if flags & bit != 0 {
            s.push_str(name);
        }
    }
    let rest =
        flags & !(meter_flags::KBPS | meter_flags::PKTPS | meter_flags::BURST | meter_flags::STATS);
    if rest != 0 {
        s.push_str(&format!("flags:{rest:#x} "));
    }
    s
}

fn format_band(flags: u16, b: &MeterBand) -> String {
    let kind = match b {
        MeterBand::Drop { .. } => "drop".to_string(),
        MeterBand::DscpRemark { .. } => "dscp_remark".to_string(),
        other => other.band_type().to_string(),
    };
    let mut s = format!("type={kind} rate={}", b.rate());
    if flags & meter_flags::BURST != 0 {
        s.push_str(&format!(" burst_size={}", b.burst_size()));
    }
    if let MeterBand::DscpRemark { prec_level, .. } = b {
        s.push_str(&format!(" prec_level={prec_level}"));
    }
    s
}

/// One meter as `ovs-ofctl -O OpenFlow13 dump-meters` prints it: a first
/// line `meter=1 kbps burst stats bands=`, then one line per band
/// (`type=drop rate=1000 burst_size=100`), joined with `\n`, no final
/// newline. `burst_size` is shown only with the `burst` flag. Between two
/// meters `ovs-ofctl` prints an empty line.
pub fn format_meter_config(m: &MeterConfig) -> String {
    let mut s = format!(
        "meter={} {}bands=",
        meter_name(m.meter_id),
        format_flags(m.flags)
    );
    for b in &m.bands {
        s.push('\n');
        s.push_str(&format_band(m.flags, b));
    }
    s
}

/// A METER_MOD's meter in the same format as [`format_meter_config`].
pub fn format_meter_mod(m: &MeterMod) -> String {
    format_meter_config(&MeterConfig {
        flags: m.flags,
        meter_id: m.meter_id,
        bands: m.bands.clone(),
    })
}

/// One meter's statistics as `ovs-ofctl -O OpenFlow13 meter-stats` prints
/// them: `meter:1 flow_count:2 packet_in_count:5 byte_in_count:256
/// duration:3s bands:` then one line per band (`0: packet_count:1
/// byte_count:64`), joined with `\n`, no final newline. Between two
/// meters `ovs-ofctl` prints an empty line.
pub fn format_meter_stats(m: &MeterStats) -> String {
    let mut s = format!(
        "meter:{} flow_count:{} packet_in_count:{} byte_in_count:{} duration:{} bands:",
        meter_name(m.meter_id),
        m.flow_count,
        m.packet_in_count,
        m.byte_in_count,
        fmt_duration(m.duration_sec, m.duration_nsec)
    );
    for (i, b) in m.band_stats.iter().enumerate() {
        s.push_str(&format!(
            "\n{i}: packet_count:{} byte_count:{}",
            b.packet_count, b.byte_count
        ));
    }
    s
}
