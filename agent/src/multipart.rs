//! Answers to MULTIPART_REQUESTs (OpenFlow 1.3.5 §7.3.5), split into
//! messages of at most 64 KiB with OFPMPF_REPLY_MORE on all but the last.

use std::time::Instant;

use ofext_filter::wire::{ExtMultipartRequest, OKO_EXPERIMENTER, OXM_FILTER_PROG_HEADER};
use openflow::MessageBody;
use openflow::error::{BadRequestCode, ErrorCode, TableFeaturesFailedCode};
use openflow::group::group_id;
use openflow::meter::meter_id;
use openflow::multipart::{
    Desc, FixedStr, GroupDesc, MeterConfig, MeterStats, MultipartReply, MultipartReplyBody,
    MultipartRequest, MultipartRequestBody, TableStats,
};
use openflow::oxm::{OxmId, basic_maskable, basic_value_len};
use openflow::port::port_no;
use openflow::table_features::{ActionId, InstructionId, TableFeatureProp, TableFeatures};

use crate::programs::Refusal;
use crate::role::ConnId;
use crate::switch::{Switch, supported_actions};

/// Largest multipart body in one message (64 KiB minus the OpenFlow header).
const MAX_BODY: usize = 65535 - 8;

/// The reply messages' bodies for `req`.
pub(crate) fn answer(
    sw: &Switch,
    _conn: ConnId,
    req: &MultipartRequest,
) -> Result<Vec<MessageBody>, Refusal> {
    use MultipartReplyBody as R;
    use MultipartRequestBody as Q;
    let now = Instant::now();
    let body = match &req.body {
        Q::Desc => R::Desc(Desc {
            mfr_desc: FixedStr::new("Oko in Rust"),
            hw_desc: FixedStr::new("okod userspace switch"),
            sw_desc: FixedStr::new(env!("CARGO_PKG_VERSION")),
            serial_num: FixedStr::new("None"),
            dp_desc: FixedStr::new(&sw.settings().description),
        }),
        Q::Flow(f) => R::Flow(sw.flows().flow_stats(f, now)?),
        Q::Aggregate(f) => R::Aggregate(sw.flows().aggregate(f)?),
        Q::Table => R::Table(
            (0..sw.n_tables())
                .map(|t| {
                    let (lookup_count, matched_count) =
                        sw.table_counters()[usize::from(t)].totals();
                    TableStats {
                        table_id: t,
                        active_count: sw.flows().active_count(t),
                        lookup_count,
                        matched_count,
                    }
                })
                .collect(),
        ),
        Q::PortStats { port_no } => R::PortStats(
            sw.port_stats(*port_no)
                .ok_or(ErrorCode::BadRequest(BadRequestCode::BadPort))?,
        ),
        Q::Queue { port_no, .. } => {
            if *port_no != port_no::ANY && !sw.has_port(*port_no) {
                return Err(
                    ErrorCode::QueueOpFailed(openflow::error::QueueOpFailedCode::BadPort).into(),
                );
            }
            // No queues are configured on any port.
            R::Queue(Vec::new())
        }
        Q::Group { group_id: id } => {
            let (table, _) = sw.groups();
            if *id != group_id::ALL && table.get(*id).is_none() {
                return Err(ErrorCode::GroupModFailed(
                    openflow::error::GroupModFailedCode::UnknownGroup,
                )
                .into());
            }
            R::Group(
                table
                    .groups()
                    .filter(|g| *id == group_id::ALL || g.id() == *id)
                    .map(|g| g.stats(sw.group_ref_count(g.id()), now))
                    .collect(),
            )
        }
        Q::GroupDesc => {
            let (_, defs) = sw.groups();
            R::GroupDesc(
                defs.map(|g| GroupDesc {
                    group_type: g.group_type,
                    group_id: g.group_id,
                    buckets: g.buckets.clone(),
                })
                .collect(),
            )
        }
        Q::GroupFeatures => R::GroupFeatures(sw.group_features()),
        Q::Meter { meter_id: id } | Q::MeterConfig { meter_id: id } => {
            if *id != meter_id::ALL && !sw.meters().contains_key(id) {
                return Err(ErrorCode::MeterModFailed(
                    openflow::error::MeterModFailedCode::UnknownMeter,
                )
                .into());
            }
            let sel = sw
                .meters()
                .values()
                .filter(|m| *id == meter_id::ALL || m.id() == *id);
            if matches!(req.body, Q::Meter { .. }) {
                R::Meter(
                    sel.map(|m| m.stats(sw.meter_flow_count(m.id()), now))
                        .collect::<Vec<MeterStats>>(),
                )
            } else {
                R::MeterConfig(sel.map(|m| m.config()).collect::<Vec<MeterConfig>>())
            }
        }
        Q::MeterFeatures => R::MeterFeatures(sw.meter_features()),
        Q::TableFeatures(set) => {
            if !set.is_empty() {
                // Tables are fixed: reconfiguring them is refused.
                return Err(ErrorCode::TableFeaturesFailed(TableFeaturesFailedCode::Eperm).into());
            }
            R::TableFeatures((0..sw.n_tables()).map(|t| table_features(sw, t)).collect())
        }
        Q::PortDesc => R::PortDesc(sw.port_descs()),
        Q::Experimenter {
            experimenter,
            exp_type,
            data,
        } => {
            if *experimenter != OKO_EXPERIMENTER {
                return Err(ErrorCode::BadRequest(BadRequestCode::BadExperimenter).into());
            }
            let ext = ExtMultipartRequest::parse(*experimenter, *exp_type, data)?;
            let replies = crate::programs::answer_multipart(sw, &ext, MAX_BODY)?;
            return Ok(replies
                .into_iter()
                .map(MessageBody::MultipartReply)
                .collect());
        }
        _ => return Err(ErrorCode::BadRequest(BadRequestCode::BadMultipart).into()),
    };
    Ok(MultipartReply { flags: 0, body }
        .split(MAX_BODY)
        .into_iter()
        .map(MessageBody::MultipartReply)
        .collect())
}

/// What table `t` supports (TABLE_FEATURES reply).
fn table_features(sw: &Switch, t: u8) -> TableFeatures {
    let n = sw.n_tables();
    let insts: Vec<InstructionId> = [1u16, 2, 3, 4, 5, 6]
        .iter()
        .filter(|&&i| i != 1 || t + 1 < n)
        .map(|&inst_type| InstructionId {
            inst_type,
            data: Vec::new(),
        })
        .collect();
    let acts: Vec<ActionId> = (0..32u16)
        .filter(|a| supported_actions() & (1 << a) != 0)
        .map(|action_type| ActionId {
            action_type,
            data: Vec::new(),
        })
        .collect();
    let mut matchable: Vec<OxmId> = (0..=39u8)
        .filter(|f| basic_value_len(*f).is_some())
        .map(|f| OxmId::basic(f, basic_maskable(f)))
        .collect();
    matchable.push(OxmId {
        class: (OXM_FILTER_PROG_HEADER >> 16) as u16,
        field: ((OXM_FILTER_PROG_HEADER >> 9) & 0x7f) as u8,
        has_mask: false,
        length: (OXM_FILTER_PROG_HEADER & 0xff) as u8,
        experimenter: Some(OKO_EXPERIMENTER),
    });
    // WILDCARDS lists fields, not masks (OVS refuses masked ids here).
    let wildcards: Vec<OxmId> = matchable
        .iter()
        .map(|o| match o.experimenter {
            Some(_) => *o,
            None => OxmId::basic(o.field, false),
        })
        .collect();
    // Settable: every basic field but in_port, in_phy_port, metadata and
    // ipv6_exthdr (0, 1, 2, 39).
    let settable: Vec<OxmId> = (3..=38u8)
        .filter(|f| basic_value_len(*f).is_some())
        .map(|f| OxmId::basic(f, false))
        .collect();
    let next: Vec<u8> = ((t + 1)..n).collect();
    TableFeatures {
        table_id: t,
        name: FixedStr::new(&format!("table{t}")),
        metadata_match: u64::MAX,
        metadata_write: u64::MAX,
        config: 0,
        max_entries: sw.settings().max_flows_per_table.min(u32::MAX as usize) as u32,
        properties: vec![
            TableFeatureProp::Instructions(insts.clone()),
            TableFeatureProp::InstructionsMiss(insts),
            TableFeatureProp::NextTables(next.clone()),
            TableFeatureProp::NextTablesMiss(next),
            TableFeatureProp::WriteActions(acts.clone()),
            TableFeatureProp::WriteActionsMiss(acts.clone()),
            TableFeatureProp::ApplyActions(acts.clone()),
            TableFeatureProp::ApplyActionsMiss(acts),
            TableFeatureProp::Match(matchable),
            TableFeatureProp::Wildcards(wildcards),
            TableFeatureProp::WriteSetfield(settable.clone()),
            TableFeatureProp::WriteSetfieldMiss(settable.clone()),
            TableFeatureProp::ApplySetfield(settable.clone()),
            TableFeatureProp::ApplySetfieldMiss(settable),
        ],
    }
}
