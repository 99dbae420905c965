//! `okod`: the Oko switch daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use agent::config::{FailMode, FileConfig};
use agent::daemon::Daemon;
use clap::{Parser, Subcommand};
use tracing::{error, info};

/// An OpenFlow 1.3 switch whose flows can match on eBPF filter programs
/// loaded at run time (Oko, SOSR 2018).
#[derive(Debug, Parser)]
#[command(name = "okod", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Settings file (TOML); command-line options override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Datapath id, hex, with or without 0x (OVS's other-config:datapath-id).
    #[arg(long, value_name = "HEX")]
    dpid: Option<String>,
    /// A port: `N=afpacket:IFNAME`, `N=pcap:IN[,OUT][,loop]` or `N=mem[:CAPACITY]` (repeatable).
    #[arg(long = "port", value_name = "N=BACKEND")]
    ports: Vec<String>,
    /// A controller: `tcp:HOST:PORT`, `ssl:HOST:PORT`, `ptcp:PORT[:IP]` or `pssl:PORT[:IP]`
    /// (repeatable; default `ptcp:6653`).
    #[arg(long = "controller", value_name = "TARGET")]
    controllers: Vec<String>,
    /// What to do while no controller is connected.
    #[arg(long, value_enum)]
    fail_mode: Option<FailMode>,
    /// Dataplane worker threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// Do not pin workers to cores.
    #[arg(long)]
    no_pin: bool,
    /// TLS private key (PEM) for ssl:/pssl:.
    #[arg(long, value_name = "FILE")]
    private_key: Option<PathBuf>,
    /// TLS certificate chain (PEM).
    #[arg(long, value_name = "FILE")]
    certificate: Option<PathBuf>,
    /// CA certificate (PEM) that controllers' certificates must chain to.
    #[arg(long, value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    /// Seconds of silence before an echo probe (a second interval closes).
    #[arg(long, value_name = "SECONDS")]
    echo_interval: Option<f64>,
    /// Number of flow tables (1..=254).
    #[arg(long)]
    tables: Option<u8>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs a self-contained demonstration: in-memory ports, an embedded
    /// controller installing forwarding and the paper's three filters, a
    /// generated trace; prints what each filter did.
    Demo(agent::demo::DemoArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo prints its own report; the daemon logs what it does.
    let default_level = if cli.command.is_some() {
        "warn"
    } else {
        "info"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(Command::Demo(args)) = cli.command {
        return rt.block_on(agent::demo::run(args));
    }
    let file = match &cli.config {
        Some(p) => match FileConfig::read(p) {
            Ok(f) => f,
            Err(e) => {
                error!("{e}");
                return ExitCode::from(2);
            }
        },
        None => FileConfig::default(),
    };
    let over = FileConfig {
        dpid: cli.dpid,
        ports: cli.ports,
        controllers: cli.controllers,
        fail_mode: cli.fail_mode,
        workers: cli.workers,
        pin: cli.no_pin.then_some(false),
        private_key: cli.private_key,
        certificate: cli.certificate,
        ca_cert: cli.ca_cert,
        echo_interval: cli.echo_interval,
        tables: cli.tables,
    };
    let settings = match file.merge(over).resolve() {
        Ok(s) => s,
        Err(e) => {
            error!("{e}");
            return ExitCode::from(2);
        }
    };
    rt.block_on(async move {
        let daemon = match Daemon::start(&settings).await {
            Ok(d) => d,
            Err(e) => {
                error!("{e}");
                return ExitCode::FAILURE;
            }
        };
        wait_for_signal().await;
        info!("shutting down");
        daemon.shutdown().await;
        ExitCode::SUCCESS
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
