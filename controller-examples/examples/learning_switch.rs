//! An L2 learning switch controller over OpenFlow 1.3.
//!
//! ```text
//! cargo run -p controller-examples --example learning_switch -- ptcp:6653
//! cargo run -p controller-examples --example learning_switch -- tcp:127.0.0.1:6653
//! ```
//!
//! With a passive target (`ptcp:`/`pssl:`) it waits for switches to dial in
//! (`okod --controller tcp:HOST:6653`) and serves each one with its own MAC
//! table; with an active target (`tcp:`/`ssl:`) it dials a switch that
//! listens (`okod`'s default `ptcp:6653`) and stops when that switch goes
//! away. The logic is `controller_examples::learning`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use controller_examples::client::{ClientOptions, Connection, Listener, Target, TlsConfig};
use controller_examples::learning::{self, LearningSwitch};

/// An L2 learning switch controller.
#[derive(Debug, Parser)]
struct Args {
    /// ptcp:PORT[:IP] / pssl:PORT[:IP] to accept switches, or
    /// tcp:HOST[:PORT] / ssl:HOST[:PORT] to dial one.
    target: Target,
    /// Idle timeout of the learnt flows, seconds.
    #[arg(long, default_value_t = 60)]
    idle_timeout: u16,
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

async fn serve(conn: Connection, idle_timeout: u16) {
    let dpid = conn.datapath_id();
    println!("switch {dpid:#018x} connected from {:?}", conn.peer_addr());
    let mut switch = LearningSwitch::new();
    switch.idle_timeout = idle_timeout;
    match learning::run(&conn, &mut switch).await {
        Ok(()) => println!(
            "switch {dpid:#018x} disconnected ({} addresses learnt)",
            switch.n_learnt()
        ),
        Err(e) => eprintln!("switch {dpid:#018x}: {e}"),
    }
}

async fn main_async(args: Args) -> Res<()> {
    let mut options = ClientOptions::default();
    if let (Some(key), Some(cert), Some(ca)) = (&args.private_key, &args.certificate, &args.ca_cert)
    {
        options = options.with_tls(TlsConfig::from_pem_files(ca, cert, key)?);
    }
    if args.target.is_passive() {
        let listener = Listener::bind(&args.target, &options).await?;
        println!("listening on {}", listener.local_addr()?);
        loop {
            match listener.accept().await {
                Ok(conn) => {
                    tokio::spawn(serve(conn, args.idle_timeout));
                }
                // One switch failing its handshake does not stop the others.
                Err(e) => eprintln!("a switch failed to connect: {e}"),
            }
        }
    } else {
        let conn = Connection::connect(&args.target, &options).await?;
        serve(conn, args.idle_timeout).await;
        Ok(())
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
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
            eprintln!("learning_switch: {e}");
            ExitCode::FAILURE
        }
    }
}
