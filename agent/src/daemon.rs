//! Starting and stopping a whole `okod`: ports, dataplane workers, switch
//! model, controller connections.

use std::sync::{Arc, Mutex};

use dataplane::pipeline::Snapshot;
use dataplane::port::Port;
use dataplane::port::mem::MemHandle;
use dataplane::worker::{Dataplane, DataplaneConfig, StartError};
use tracing::info;

use crate::config::Settings;
use crate::programs::Programs;
use crate::server::{Server, ServerConfig, ServerError};
use crate::session::SessionConfig;
use crate::switch::{Switch, SwitchSettings};

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    /// A port could not be opened.
    #[error("port {port_no}: {source}")]
    Port {
        /// Port number.
        port_no: u32,
        /// Why.
        source: dataplane::port::PortOpenError,
    },
    /// The workers could not start.
    #[error(transparent)]
    Dataplane(#[from] StartError),
    /// A controller target could not be set up.
    #[error(transparent)]
    Server(#[from] ServerError),
}

/// A running switch.
#[derive(Debug)]
pub struct Daemon {
    /// The controller side.
    pub server: Server,
    /// Harness handles of `mem` ports, by port number.
    pub mem_ports: Vec<(u32, MemHandle)>,
    /// The dataplane (shared with the switch model).
    pub dataplane: Arc<Dataplane>,
    /// The installed programs.
    pub programs: Arc<Mutex<Programs>>,
}

impl Daemon {
    /// Opens the ports, starts the workers and the controller targets.
    pub async fn start(s: &Settings) -> Result<Self, DaemonError> {
        let mut ports = Vec::with_capacity(s.ports.len());
        let mut mem_ports = Vec::new();
        for p in &s.ports {
            let name = format!("p{}", p.port_no);
            let (port, handle) =
                Port::open(&p.spec, &name).map_err(|source| DaemonError::Port {
                    port_no: p.port_no,
                    source,
                })?;
            if let Some(h) = handle {
                mem_ports.push((p.port_no, h));
            }
            info!(
                "port {} = {} ({})",
                p.port_no,
                port.name(),
                describe(&p.spec)
            );
            ports.push((p.port_no, port));
        }
        let nos: Vec<u32> = s.ports.iter().map(|p| p.port_no).collect();
        let cfg = DataplaneConfig {
            n_workers: s.workers,
            pin: s.pin,
            ..DataplaneConfig::default()
        };
        let initial = Snapshot::empty(1, usize::from(s.tables), s.workers, &nos);
        let dp = Arc::new(Dataplane::start(&cfg, ports, initial)?);
        let programs = Arc::new(Mutex::new(Programs::new()));
        let sw = Switch::new(
            SwitchSettings {
                datapath_id: s.dpid,
                n_tables: s.tables,
                ..SwitchSettings::default()
            },
            dp.clone(),
            programs.clone(),
        );
        let server = Server::start(
            sw,
            ServerConfig {
                targets: s.controllers.clone(),
                tls: s.tls.clone(),
                session: SessionConfig::default().with_echo_interval(Some(s.echo_interval)),
                fail_mode: s.fail_mode,
                ..ServerConfig::default()
            },
        )
        .await?;
        info!(
            "okod running: datapath {:016x}, {} ports, {} workers",
            s.dpid,
            nos.len(),
            s.workers
        );
        Ok(Self {
            server,
            mem_ports,
            dataplane: dp,
            programs,
        })
    }

    /// Stops the controller side; the workers stop when the last handle
    /// to the dataplane goes.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

fn describe(spec: &dataplane::port::PortSpec) -> &'static str {
    match spec {
        dataplane::port::PortSpec::AfPacket { .. } => "afpacket",
        dataplane::port::PortSpec::Pcap(_) => "pcap",
        dataplane::port::PortSpec::Mem(_) => "mem",
        _ => "other",
    }
}
