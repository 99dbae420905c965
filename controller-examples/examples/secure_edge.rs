//! The secure-edge controller: loads the paper's three filters (p0f,
//! ratelimit, conntrack), configures them, installs the forwarding flows
//! (`controller_examples::secure_edge`), then prints every program's
//! PROG_STATS every two seconds until the switch goes away.
//!
//! ```text
//! cargo run -p controller-examples --example secure_edge -- tcp:127.0.0.1:6653
//! cargo run -p controller-examples --example secure_edge -- ptcp:6653
//! ```
//!
//! With a passive target it serves the first switch that dials in.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use controller_examples::client::{
    ClientError, ClientOptions, Connection, Listener, Target, TlsConfig,
};
use controller_examples::okoctl::{format_prog_load_reply, format_prog_stats};
use controller_examples::secure_edge::{self, SecureEdge};

/// Install the secure edge and watch its filters.
#[derive(Debug, Parser)]
struct Args {
    /// tcp:HOST[:PORT] / ssl:HOST[:PORT] to dial a switch, or
    /// ptcp:PORT[:IP] / pssl:PORT[:IP] to wait for one.
    target: Target,
    /// The outside port.
    #[arg(long, default_value_t = 1)]
    outside: u32,
    /// The protected inside port.
    #[arg(long, default_value_t = 2)]
    inside: u32,
    /// Packets per second each outside source may send.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Burst, in packets.
    #[arg(long, default_value_t = 100)]
    burst: u64,
    /// Seconds between statistics.
    #[arg(long, default_value_t = 2)]
    interval: u64,
    /// TLS private key (PEM) for ssl:/pssl:.
    #[arg(long, value_name = "FILE", requires_all = ["certificate", "ca_cert"])]
    private_key: Option<PathBuf>,
    /// TLS certificate chain (PEM).
    #[arg(long, value_name = "FILE")]
    certificate: Option<PathBuf>,
    /// CA certificate (PEM).
    #[arg(long, value_name = "FILE")]
    ca_cert: Option<PathBuf>,
}

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

async fn main_async(args: Args) -> Res<()> {
    let mut options = ClientOptions::default();
    if let (Some(key), Some(cert), Some(ca)) = (&args.private_key, &args.certificate, &args.ca_cert)
    {
        options = options.with_tls(TlsConfig::from_pem_files(ca, cert, key)?);
    }
    let conn = if args.target.is_passive() {
        let listener = Listener::bind(&args.target, &options).await?;
        println!("waiting for a switch on {}", listener.local_addr()?);
        listener.accept().await?
    } else {
        Connection::connect(&args.target, &options).await?
    };
    println!("switch {:#018x} connected", conn.datapath_id());
    let plan = SecureEdge {
        outside: args.outside,
        inside: args.inside,
        rate: args.rate,
        burst: args.burst,
        ..SecureEdge::default()
    };
    for reply in secure_edge::install(&conn, &plan).await? {
        println!("{}", format_prog_load_reply(&reply));
    }
    for flow in plan.flows() {
        println!("installed {flow}");
    }
    let mut tick = tokio::time::interval(Duration::from_secs(args.interval.max(1)));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = conn.closed() => break,
        }
        match conn.program_stats(None).await {
            Ok(stats) => {
                println!("PROG_STATS:");
                for e in &stats {
                    println!("{}", format_prog_stats(e));
                }
            }
            Err(ClientError::Closed) => break,
            Err(e) => return Err(e.into()),
        }
    }
    println!("switch disconnected");
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(main_async(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("secure_edge: {e}");
            ExitCode::FAILURE
        }
    }
}
