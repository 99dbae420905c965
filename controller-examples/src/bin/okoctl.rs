//! `okoctl`: `ovs-ofctl` for Oko.
//!
//! The OpenFlow 1.3 commands of `ovs-ofctl` that Oko implements (flows,
//! groups, meters, ports, tables), with the same syntax and output, plus
//! the filter-program extension: loading and unloading programs, their
//! statistics, reading and writing their maps, and verifying an object
//! offline exactly as the switch would.
//!
//! Exit status, as `ovs-ofctl`: 0 on success; 1 when the switch refused the
//! request (the OpenFlow or extension error is printed), the connection
//! failed, or `verify` refused the object; 2 for bad command-line input
//! (unknown command, a flow/group/meter that does not parse — the message
//! names the token —, a bad target or hex argument).
//!
//! Every command that changes state is confirmed with a barrier before
//! `okoctl` exits 0: at that point the change is in effect in every
//! dataplane worker.

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use controller_examples::client::ClientError;
use controller_examples::client::{ClientOptions, Connection, Target, TlsConfig};
use controller_examples::ofctl::{
    FlowMode, GroupMode, MeterMode, SyntaxError, format_flow_stats, format_group_desc,
    format_meter_config, format_port_stats, parse_flow, parse_group, parse_meter, parse_port_name,
};
use controller_examples::okoctl::{
    describe_error, ext_replies, format_features, format_hex, format_map_desc, format_map_entry,
    format_port_desc, format_prog_load_reply, format_prog_stats, format_switch_config,
    format_table_stats, multipart_with_xid, parse_hex, reply_header,
};
use ofext_filter::program::Program;
use ofext_filter::wire::{
    ExtMultipartReply, ExtMultipartRequest, PROG_ID_ALL, load_flags, unload_flags, update_flags,
};
use openflow::message::MessageBody;
use openflow::multipart::{MultipartReplyBody, MultipartRequestBody};
use openflow::port::port_no;

/// Administer an Oko (OpenFlow 1.3 + eBPF filter programs) switch, with
/// `ovs-ofctl`'s syntax and output.
///
/// TARGET is `tcp:HOST[:PORT]` or `ssl:HOST[:PORT]` (port 6653 by
/// default); `ssl:` needs --private-key, --certificate and --ca-cert.
#[derive(Debug, Parser)]
#[command(name = "okoctl", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// TLS private key (PEM) for ssl: targets.
    #[arg(long, global = true, value_name = "FILE")]
    private_key: Option<PathBuf>,
    /// TLS certificate chain (PEM) for ssl: targets.
    #[arg(long, global = true, value_name = "FILE")]
    certificate: Option<PathBuf>,
    /// CA certificate (PEM) the switch's certificate must chain to.
    #[arg(long, global = true, value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    /// Seconds to wait for the connection and for each reply.
    #[arg(long, global = true, value_name = "SECS", default_value_t = 10)]
    timeout: u64,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the switch's features, ports and configuration.
    Show {
        /// The switch.
        target: String,
    },
    /// Print the flows matching FLOW (all flows by default).
    DumpFlows {
        /// The switch.
        target: String,
        /// Flows to print, e.g. `table=0,tcp` (`out_port`, `cookie=V/M` allowed).
        flow: Option<String>,
    },
    /// Add one flow.
    AddFlow {
        /// The switch.
        target: String,
        /// The flow, e.g. `priority=10,in_port=1,actions=output:2`.
        flow: String,
    },
    /// Add the flows of FILE, one per line (`#` starts a comment; `-` reads stdin).
    AddFlows {
        /// The switch.
        target: String,
        /// The file.
        file: PathBuf,
    },
    /// Modify the actions of the flows matching FLOW.
    ModFlows {
        /// The switch.
        target: String,
        /// Match and new actions.
        flow: String,
        /// Match priority and fields exactly (MODIFY_STRICT).
        #[arg(long)]
        strict: bool,
    },
    /// Delete the flows matching FLOW (all flows by default).
    DelFlows {
        /// The switch.
        target: String,
        /// Flows to delete.
        flow: Option<String>,
        /// Match priority and fields exactly (DELETE_STRICT).
        #[arg(long)]
        strict: bool,
    },
    /// Print port statistics (of PORT, or all ports).
    DumpPorts {
        /// The switch.
        target: String,
        /// A port number or name (LOCAL, …).
        port: Option<String>,
    },
    /// Print the port descriptions.
    DumpPortsDesc {
        /// The switch.
        target: String,
    },
    /// Print flow table statistics.
    DumpTables {
        /// The switch.
        target: String,
    },
    /// Print the groups.
    DumpGroups {
        /// The switch.
        target: String,
    },
    /// Add a group, e.g. `group_id=1,type=all,bucket=actions=output:1`.
    AddGroup {
        /// The switch.
        target: String,
        /// The group.
        group: String,
    },
    /// Modify a group.
    ModGroup {
        /// The switch.
        target: String,
        /// The group.
        group: String,
    },
    /// Delete groups (`group_id=N`; all groups by default).
    DelGroups {
        /// The switch.
        target: String,
        /// Which group.
        group: Option<String>,
    },
    /// Print the meters.
    DumpMeters {
        /// The switch.
        target: String,
    },
    /// Add a meter, e.g. `meter=1,kbps,bands=type=drop,rate=1000`.
    AddMeter {
        /// The switch.
        target: String,
        /// The meter.
        meter: String,
    },
    /// Modify a meter.
    ModMeter {
        /// The switch.
        target: String,
        /// The meter.
        meter: String,
    },
    /// Delete meters (`meter=N`; all meters by default).
    DelMeters {
        /// The switch.
        target: String,
        /// Which meter.
        meter: Option<String>,
    },
    /// Load filter program ID from a clang `-target bpf` object; prints its maps.
    LoadProg {
        /// The switch.
        target: String,
        /// Program id.
        id: u32,
        /// The ELF object.
        file: PathBuf,
        /// Replace a loaded program with this id atomically.
        #[arg(long)]
        replace: bool,
        /// With --replace: keep the contents of maps whose definition is unchanged.
        #[arg(long, requires = "replace")]
        keep_maps: bool,
    },
    /// Unload filter program ID.
    UnloadProg {
        /// The switch.
        target: String,
        /// Program id.
        id: u32,
        /// Also delete the flows that use it (otherwise they make it fail PROG_IN_USE).
        #[arg(long)]
        cascade: bool,
    },
    /// Print statistics of program ID (all programs by default).
    ProgStats {
        /// The switch.
        target: String,
        /// Program id.
        id: Option<u32>,
    },
    /// Print every entry of a program's map (keys and values in hex).
    DumpMap {
        /// The switch.
        target: String,
        /// Program id.
        prog: u32,
        /// Map id (from load-prog's output).
        map: u32,
        /// For per-CPU maps: the switch's dataplane workers (each entry
        /// holds one value per worker, printed concatenated).
        #[arg(long, value_name = "N", default_value_t = 1)]
        workers: u32,
    },
    /// Create or replace one map entry (KEY and VALUE in hex, memory order).
    UpdateMap {
        /// The switch.
        target: String,
        /// Program id.
        prog: u32,
        /// Map id.
        map: u32,
        /// The key, hex (e.g. 00000000 or 00:00:00:00).
        key: String,
        /// The value, hex.
        value: String,
        /// any: create or replace; noexist: create only; exist: replace only.
        #[arg(long, value_enum, default_value_t = UpdateFlags::Any)]
        flags: UpdateFlags,
    },
    /// Delete one map entry.
    DeleteMap {
        /// The switch.
        target: String,
        /// Program id.
        prog: u32,
        /// Map id.
        map: u32,
        /// The key, hex.
        key: String,
    },
    /// Print one map entry's value.
    LookupMap {
        /// The switch.
        target: String,
        /// Program id.
        prog: u32,
        /// Map id.
        map: u32,
        /// The key, hex.
        key: String,
    },
    /// Verify an object offline, as the switch's PROG_LOAD would (no switch needed).
    Verify {
        /// The ELF object.
        file: PathBuf,
    },
}

/// MAP_UPDATE flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum UpdateFlags {
    /// Create or replace (BPF_ANY).
    Any,
    /// Create only (BPF_NOEXIST).
    Noexist,
    /// Replace only (BPF_EXIST).
    Exist,
}

impl UpdateFlags {
    fn wire(self) -> u32 {
        match self {
            Self::Any => update_flags::ANY,
            Self::Noexist => update_flags::NOEXIST,
            Self::Exist => update_flags::EXIST,
        }
    }
}

/// Why a command failed, and so its exit status.
#[derive(Debug)]
enum Fail {
    /// Bad command-line input: exit 2.
    Usage(String),
    /// Refused, unreachable or failed: exit 1.
    Failed(String),
}

impl Fail {
    fn syntax(what: &str, e: &SyntaxError) -> Self {
        Self::Usage(format!("{what}: {e}"))
    }
}

impl From<ClientError> for Fail {
    fn from(e: ClientError) -> Self {
        Self::Failed(describe_error(&e))
    }
}

type Res = Result<(), Fail>;

/// Where output goes: collected, then written once (so a failing command
/// still shows what it printed before failing, and a closed pipe is not a
/// panic).
#[derive(Default)]
struct Out(String);

impl Out {
    fn line(&mut self, s: impl AsRef<str>) {
        self.0.push_str(s.as_ref());
        self.0.push('\n');
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        // clap prints the message; exit 2 for errors, 0 for --help/--version.
        Err(e) => e.exit(),
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("okoctl: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = Out::default();
    let result = rt.block_on(run(&cli, &mut out));
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.0.as_bytes());
    let _ = stdout.flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail::Usage(msg)) => {
            eprintln!("okoctl: {msg}");
            ExitCode::from(2)
        }
        Err(Fail::Failed(msg)) => {
            eprintln!("okoctl: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// Options for connecting: TLS material when given, and the timeouts.
fn options(cli: &Cli) -> Result<ClientOptions, Fail> {
    let timeout = Duration::from_secs(cli.timeout.max(1));
    let mut opts = ClientOptions::default()
        .with_request_timeout(timeout)
        .with_handshake_timeout(timeout);
    match (&cli.ca_cert, &cli.certificate, &cli.private_key) {
        (None, None, None) => {}
        (Some(ca), Some(cert), Some(key)) => {
            let tls = TlsConfig::from_pem_files(ca, cert, key)
                .map_err(|e| Fail::Failed(format!("TLS: {e}")))?;
            opts = opts.with_tls(tls);
        }
        _ => {
            return Err(Fail::Usage(
                "--private-key, --certificate and --ca-cert go together".to_owned(),
            ));
        }
    }
    Ok(opts)
}

/// Parses TARGET (before anything else, so that a typo is exit 2).
fn target(s: &str) -> Result<Target, Fail> {
    let t: Target = s.parse().map_err(|e| Fail::Usage(format!("{e}")))?;
    if t.is_passive() {
        return Err(Fail::Usage(format!(
            "{s}: okoctl connects to a switch: use tcp: or ssl:"
        )));
    }
    Ok(t)
}

async fn connect(cli: &Cli, t: &Target) -> Result<Connection, Fail> {
    let opts = options(cli)?;
    if t.is_tls() && opts.tls.is_none() {
        return Err(Fail::Usage(format!(
            "{t}: ssl: needs --private-key, --certificate and --ca-cert"
        )));
    }
    Connection::connect(t, &opts)
        .await
        .map_err(|e| Fail::Failed(format!("{t}: {e}")))
}

fn hex_arg(what: &str, s: &str) -> Result<Vec<u8>, Fail> {
    parse_hex(s).map_err(|e| Fail::Usage(format!("{what} {s:?}: {e}")))
}

fn read_input(file: &Path) -> Result<String, Fail> {
    if file == Path::new("-") {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| Fail::Failed(format!("stdin: {e}")))?;
        Ok(s)
    } else {
        std::fs::read_to_string(file).map_err(|e| Fail::Failed(format!("{}: {e}", file.display())))
    }
}

fn read_object(file: &Path) -> Result<Vec<u8>, Fail> {
    std::fs::read(file).map_err(|e| Fail::Failed(format!("{}: {e}", file.display())))
}

/// The flows of an add-flows file: every non-empty line without its `#`
/// comment, parsed for add-flow. A syntax error names the line.
fn parse_flow_file(text: &str, source: &str) -> Result<Vec<MessageBody>, Fail> {
    let mut mods = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let spec = parse_flow(line, FlowMode::Add)
            .map_err(|e| Fail::syntax(&format!("{source}:{}", n + 1), &e))?;
        if let Some(fm) = spec.to_flow_mod() {
            mods.push(MessageBody::FlowMod(fm));
        }
    }
    Ok(mods)
}

fn flow_mod(text: &str, mode: FlowMode) -> Result<MessageBody, Fail> {
    let spec = parse_flow(text, mode).map_err(|e| Fail::syntax(mode.name(), &e))?;
    match spec.to_flow_mod() {
        Some(fm) => Ok(MessageBody::FlowMod(fm)),
        None => Err(Fail::Usage(format!(
            "{}: not a flow modification",
            mode.name()
        ))),
    }
}

async fn run(cli: &Cli, out: &mut Out) -> Res {
    match &cli.command {
        Command::Verify { file } => verify(file, out),
        Command::Show { target: t } => {
            let t = target(t)?;
            show(&connect(cli, &t).await?, out).await
        }
        Command::DumpFlows { target: t, flow } => {
            let t = target(t)?;
            let spec = parse_flow(flow.as_deref().unwrap_or(""), FlowMode::Dump)
                .map_err(|e| Fail::syntax("dump-flows", &e))?;
            let conn = connect(cli, &t).await?;
            let body = MultipartRequestBody::Flow(spec.to_flow_stats_request());
            let (xid, parts) = multipart_with_xid(&conn, body).await?;
            for part in parts {
                out.line(reply_header("OFPST_FLOW reply", xid));
                if let MultipartReplyBody::Flow(flows) = part.body {
                    for f in &flows {
                        out.line(format_flow_stats(f));
                    }
                }
            }
            Ok(())
        }
        Command::AddFlow { target: t, flow } => {
            let t = target(t)?;
            let fm = flow_mod(flow, FlowMode::Add)?;
            Ok(connect(cli, &t).await?.send_checked(fm).await?)
        }
        Command::AddFlows { target: t, file } => {
            let t = target(t)?;
            let text = read_input(file)?;
            let mods = parse_flow_file(&text, &file.display().to_string())?;
            if mods.is_empty() {
                return Ok(());
            }
            Ok(connect(cli, &t).await?.send_all_checked(mods).await?)
        }
        Command::ModFlows {
            target: t,
            flow,
            strict,
        } => {
            let t = target(t)?;
            let mode = if *strict {
                FlowMode::ModifyStrict
            } else {
                FlowMode::Modify
            };
            let fm = flow_mod(flow, mode)?;
            Ok(connect(cli, &t).await?.send_checked(fm).await?)
        }
        Command::DelFlows {
            target: t,
            flow,
            strict,
        } => {
            let t = target(t)?;
            let mode = if *strict {
                FlowMode::DeleteStrict
            } else {
                FlowMode::Delete
            };
            let fm = flow_mod(flow.as_deref().unwrap_or(""), mode)?;
            Ok(connect(cli, &t).await?.send_checked(fm).await?)
        }
        Command::DumpPorts { target: t, port } => {
            let t = target(t)?;
            let port_no = match port {
                Some(p) => parse_port_name(p).map_err(|e| Fail::syntax("dump-ports", &e))?,
                None => port_no::ANY,
            };
            let conn = connect(cli, &t).await?;
            let body = MultipartRequestBody::PortStats { port_no };
            let (xid, parts) = multipart_with_xid(&conn, body).await?;
            for part in parts {
                if let MultipartReplyBody::PortStats(ports) = part.body {
                    out.line(format!(
                        "{} {} ports",
                        reply_header("OFPST_PORT reply", xid),
                        ports.len()
                    ));
                    for p in &ports {
                        out.line(format_port_stats(p));
                    }
                }
            }
            Ok(())
        }
        Command::DumpPortsDesc { target: t } => {
            let t = target(t)?;
            let conn = connect(cli, &t).await?;
            port_desc(&conn, out).await
        }
        Command::DumpTables { target: t } => {
            let t = target(t)?;
            let conn = connect(cli, &t).await?;
            let (xid, parts) = multipart_with_xid(&conn, MultipartRequestBody::Table).await?;
            let mut tables = Vec::new();
            for part in parts {
                if let MultipartReplyBody::Table(t) = part.body {
                    tables.extend(t);
                }
            }
            out.line(reply_header("OFPST_TABLE reply", xid));
            for l in format_table_stats(&tables) {
                out.line(l);
            }
            Ok(())
        }
        Command::DumpGroups { target: t } => {
            let t = target(t)?;
            let conn = connect(cli, &t).await?;
            let (xid, parts) = multipart_with_xid(&conn, MultipartRequestBody::GroupDesc).await?;
            for part in parts {
                out.line(reply_header("OFPST_GROUP_DESC reply", xid));
                if let MultipartReplyBody::GroupDesc(groups) = part.body {
                    for g in &groups {
                        out.line(format_group_desc(g));
                    }
                }
            }
            Ok(())
        }
        Command::AddGroup { target: t, group } => group_mod(cli, t, group, GroupMode::Add).await,
        Command::ModGroup { target: t, group } => group_mod(cli, t, group, GroupMode::Modify).await,
        Command::DelGroups { target: t, group } => {
            group_mod(cli, t, group.as_deref().unwrap_or(""), GroupMode::Delete).await
        }
        Command::DumpMeters { target: t } => {
            let t = target(t)?;
            let conn = connect(cli, &t).await?;
            let body = MultipartRequestBody::MeterConfig {
                meter_id: openflow::meter::meter_id::ALL,
            };
            let (xid, parts) = multipart_with_xid(&conn, body).await?;
            for part in parts {
                out.line(reply_header("OFPST_METER_CONFIG reply", xid));
                if let MultipartReplyBody::MeterConfig(meters) = part.body {
                    for (i, m) in meters.iter().enumerate() {
                        if i > 0 {
                            out.line("");
                        }
                        out.line(format_meter_config(m));
                    }
                }
            }
            Ok(())
        }
        Command::AddMeter { target: t, meter } => meter_mod(cli, t, meter, MeterMode::Add).await,
        Command::ModMeter { target: t, meter } => meter_mod(cli, t, meter, MeterMode::Modify).await,
        Command::DelMeters { target: t, meter } => {
            meter_mod(cli, t, meter.as_deref().unwrap_or(""), MeterMode::Delete).await
        }
        Command::LoadProg {
            target: t,
            id,
            file,
            replace,
            keep_maps,
        } => {
            let t = target(t)?;
            let elf = read_object(file)?;
            let mut flags = 0;
            if *replace {
                flags |= load_flags::REPLACE;
            }
            if *keep_maps {
                flags |= load_flags::KEEP_MAPS;
            }
            let conn = connect(cli, &t).await?;
            let reply = conn.load_program(*id, &elf, flags).await?;
            out.line(format_prog_load_reply(&reply));
            Ok(())
        }
        Command::UnloadProg {
            target: t,
            id,
            cascade,
        } => {
            let t = target(t)?;
            let flags = if *cascade { unload_flags::CASCADE } else { 0 };
            Ok(connect(cli, &t).await?.unload_program(*id, flags).await?)
        }
        Command::ProgStats { target: t, id } => {
            let t = target(t)?;
            let conn = connect(cli, &t).await?;
            let req = ExtMultipartRequest::ProgStats {
                prog_id: id.unwrap_or(PROG_ID_ALL),
            };
            let (xid, parts) = multipart_with_xid(&conn, req.to_request(0).body).await?;
            for reply in ext_replies(&parts)? {
                out.line(reply_header("OKO_PROG_STATS reply", xid));
                if let ExtMultipartReply::ProgStats(entries) = reply {
                    for e in &entries {
                        out.line(format_prog_stats(e));
                    }
                }
            }
            Ok(())
        }
        Command::DumpMap {
            target: t,
            prog,
            map,
            workers,
        } => {
            let t = target(t)?;
            let conn = connect(cli, &t).await?;
            let req = ExtMultipartRequest::MapDump {
                prog_id: *prog,
                map_id: *map,
            };
            let (xid, parts) = multipart_with_xid(&conn, req.to_request(0).body).await?;
            for reply in ext_replies(&parts)? {
                let ExtMultipartReply::MapDump(d) = reply else {
                    continue;
                };
                let h = d.head;
                out.line(format!(
                    "{} prog_id={}, map_id={}, key_size={}, value_size={}",
                    reply_header("OKO_MAP_DUMP reply", xid),
                    h.prog_id,
                    h.map_id,
                    h.key_size,
                    h.value_size
                ));
                let value_len = (h.value_size as usize).saturating_mul((*workers).max(1) as usize);
                let entries = d
                    .entries(value_len)
                    .map_err(|e| Fail::Failed(format!("malformed MAP_DUMP reply: {e}")))?;
                for (k, v) in entries {
                    out.line(format_map_entry(k, v));
                }
            }
            Ok(())
        }
        Command::UpdateMap {
            target: t,
            prog,
            map,
            key,
            value,
            flags,
        } => {
            let t = target(t)?;
            let key = hex_arg("key", key)?;
            let value = hex_arg("value", value)?;
            let conn = connect(cli, &t).await?;
            Ok(conn
                .map_update(*prog, *map, flags.wire(), &[(key, value)])
                .await?)
        }
        Command::DeleteMap {
            target: t,
            prog,
            map,
            key,
        } => {
            let t = target(t)?;
            let key = hex_arg("key", key)?;
            Ok(connect(cli, &t)
                .await?
                .map_delete(*prog, *map, &[key])
                .await?)
        }
        Command::LookupMap {
            target: t,
            prog,
            map,
            key,
        } => {
            let t = target(t)?;
            let key = hex_arg("key", key)?;
            let conn = connect(cli, &t).await?;
            let req = ExtMultipartRequest::MapLookup {
                prog_id: *prog,
                map_id: *map,
                key: key.clone(),
            };
            let (xid, parts) = multipart_with_xid(&conn, req.to_request(0).body).await?;
            let mut found: Option<Vec<u8>> = None;
            for reply in ext_replies(&parts)? {
                if let ExtMultipartReply::MapLookup { value: Some(v), .. } = reply {
                    found.get_or_insert_with(Vec::new).extend_from_slice(&v);
                }
            }
            out.line(reply_header("OKO_MAP_LOOKUP reply", xid));
            match found {
                Some(v) => {
                    out.line(format_map_entry(&key, &v));
                    Ok(())
                }
                None => Err(Fail::Failed(format!(
                    "key {} not found in map {map} of program {prog}",
                    format_hex(&key)
                ))),
            }
        }
    }
}

async fn group_mod(cli: &Cli, t: &str, text: &str, mode: GroupMode) -> Res {
    let t = target(t)?;
    let gm = parse_group(text, mode).map_err(|e| Fail::syntax("group", &e))?;
    let conn = connect(cli, &t).await?;
    Ok(conn.send_checked(MessageBody::GroupMod(gm)).await?)
}

async fn meter_mod(cli: &Cli, t: &str, text: &str, mode: MeterMode) -> Res {
    let t = target(t)?;
    let mm = parse_meter(text, mode).map_err(|e| Fail::syntax("meter", &e))?;
    let conn = connect(cli, &t).await?;
    Ok(conn.send_checked(MessageBody::MeterMod(mm)).await?)
}

async fn port_desc(conn: &Connection, out: &mut Out) -> Res {
    let (xid, parts) = multipart_with_xid(conn, MultipartRequestBody::PortDesc).await?;
    for part in parts {
        out.line(reply_header("OFPST_PORT_DESC reply", xid));
        if let MultipartReplyBody::PortDesc(ports) = part.body {
            for p in &ports {
                out.line(format_port_desc(p));
            }
        }
    }
    Ok(())
}

async fn show(conn: &Connection, out: &mut Out) -> Res {
    let reply = conn.request(MessageBody::FeaturesRequest).await?;
    match &reply.body {
        MessageBody::FeaturesReply(f) => out.line(format_features(reply.xid, f)),
        _ => return Err(Fail::Failed("expected FEATURES_REPLY".to_owned())),
    }
    port_desc(conn, out).await?;
    let reply = conn.request(MessageBody::GetConfigRequest).await?;
    match &reply.body {
        MessageBody::GetConfigReply(c) => out.line(format_switch_config(reply.xid, c)),
        _ => return Err(Fail::Failed("expected GET_CONFIG_REPLY".to_owned())),
    }
    Ok(())
}

/// `okoctl verify FILE.o`: what PROG_LOAD would do, without a switch.
fn verify(file: &Path, out: &mut Out) -> Res {
    let elf = read_object(file)?;
    match Program::load(&elf, 1) {
        Ok(p) => {
            let mut s = format!(
                "{}: verified: name={}, n_insns={}, jit={}, n_maps={}",
                file.display(),
                p.name(),
                p.n_insns(),
                if p.jit() { "yes" } else { "no" },
                p.maps().len()
            );
            for m in p.map_descs() {
                let _ = write!(s, "\n{}", format_map_desc(&m));
            }
            out.line(s);
            Ok(())
        }
        Err(e) => Err(Fail::Failed(format!(
            "{}: {}: {e}",
            file.display(),
            e.ext_error()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_files_skip_comments_and_name_the_bad_line() {
        let text =
            "# header\n\npriority=5,actions=drop  # trailing\n  in_port=1,actions=output:2\n";
        assert_eq!(parse_flow_file(text, "f").unwrap().len(), 2);
        let err = parse_flow_file("actions=drop\nbogus=1,actions=drop\n", "f").unwrap_err();
        match err {
            Fail::Usage(msg) => assert!(msg.starts_with("f:2: "), "{msg}"),
            Fail::Failed(msg) => panic!("expected a usage error, got {msg}"),
        }
    }

    #[test]
    fn cli_parses() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "okoctl",
            "update-map",
            "tcp:127.0.0.1:6653",
            "3",
            "0",
            "00000000",
            "01",
            "--flags",
            "noexist",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::UpdateMap {
                flags: UpdateFlags::Noexist,
                ..
            }
        ));
        assert!(
            Cli::try_parse_from(["okoctl", "load-prog", "tcp:h", "1", "x.o", "--keep-maps"])
                .is_err()
        );
    }

    #[test]
    fn targets_must_be_active() {
        assert!(matches!(target("ptcp:6653"), Err(Fail::Usage(_))));
        assert!(matches!(target("udp:1.2.3.4"), Err(Fail::Usage(_))));
        assert!(target("tcp:127.0.0.1:6653").is_ok());
    }
}
