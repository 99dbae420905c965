//! `okod`'s settings: command line, TOML file, and their merge.
//!
//! Every option exists in both forms; the command line wins over the file.
//! The file uses the long option names with `-` or `_`:
//!
//! ```toml
//! dpid = "0x0000000000000001"
//! ports = ["1=afpacket:veth0", "2=pcap:in.pcap,out.pcap", "3=mem"]
//! controllers = ["ptcp:6653", "tcp:10.0.0.1:6653"]
//! fail-mode = "secure"
//! workers = 2
//! private-key = "/etc/okod/key.pem"
//! certificate = "/etc/okod/cert.pem"
//! ca-cert = "/etc/okod/ca.pem"
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use controller_examples::client::{Target, TargetError, TlsConfig, TlsError};
use dataplane::port::{PortConfig, PortSpecError};
use serde::Deserialize;

/// What to do while no controller is connected (as OVS's `fail_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum FailMode {
    /// Keep the installed flows, drop table misses.
    #[default]
    Secure,
    /// Keep the installed flows and forward table misses as a learning
    /// switch.
    Standalone,
}

/// The settings as read from a TOML file (all optional).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    /// Datapath id.
    pub dpid: Option<String>,
    /// `N=SPEC` ports.
    #[serde(default)]
    pub ports: Vec<String>,
    /// Controller targets.
    #[serde(default)]
    pub controllers: Vec<String>,
    /// Fail mode.
    pub fail_mode: Option<FailMode>,
    /// Worker threads.
    pub workers: Option<usize>,
    /// Pin workers to cores.
    pub pin: Option<bool>,
    /// TLS private key (PEM).
    pub private_key: Option<PathBuf>,
    /// TLS certificate chain (PEM).
    pub certificate: Option<PathBuf>,
    /// CA certificate controllers must be signed by (PEM).
    pub ca_cert: Option<PathBuf>,
    /// Seconds of silence before an echo probe.
    pub echo_interval: Option<f64>,
    /// Flow tables.
    pub tables: Option<u8>,
}

/// Settings ready to run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Datapath id.
    pub dpid: u64,
    /// Ports.
    pub ports: Vec<PortConfig>,
    /// Controller targets.
    pub controllers: Vec<Target>,
    /// Fail mode.
    pub fail_mode: FailMode,
    /// Worker threads.
    pub workers: usize,
    /// Pin workers to cores.
    pub pin: bool,
    /// TLS material, when given.
    pub tls: Option<TlsConfig>,
    /// Echo interval.
    pub echo_interval: Duration,
    /// Flow tables.
    pub tables: u8,
}

/// A setting that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for these settings.
    #[error("{path}: {source}")]
    Toml {
        /// File.
        path: PathBuf,
        /// Why.
        source: toml::de::Error,
    },
    /// A bad datapath id.
    #[error("bad datapath id {0:?}: expected up to 16 hex digits, with or without 0x")]
    Dpid(String),
    /// A bad port.
    #[error("bad port {spec:?}: {source}")]
    Port {
        /// As given.
        spec: String,
        /// Why.
        source: PortSpecError,
    },
    /// Two ports with one number.
    #[error("port number {0} configured twice")]
    DuplicatePort(u32),
    /// A bad controller target.
    #[error("bad controller target {target:?}: {source}")]
    Target {
        /// As given.
        target: String,
        /// Why.
        source: TargetError,
    },
    /// TLS files incomplete or unusable.
    #[error("TLS: {0}")]
    Tls(String),
    /// TLS files that do not load.
    #[error("TLS: {0}")]
    TlsFiles(#[from] TlsError),
    /// Other bad values.
    #[error("{0}")]
    Invalid(String),
}

/// Parses a datapath id as OVS does: up to 16 hex digits, `0x` optional.
pub fn parse_dpid(s: &str) -> Result<u64, ConfigError> {
    let t = s.trim();
    let h = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    if h.is_empty() || h.len() > 16 {
        return Err(ConfigError::Dpid(s.into()));
    }
    u64::from_str_radix(h, 16).map_err(|_| ConfigError::Dpid(s.into()))
}

impl FileConfig {
    /// Reads a TOML file.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Toml {
            path: path.into(),
            source,
        })
    }

    /// Overlays `over` (the command line) on `self` (the file): scalar
    /// settings given on the command line win; lists given there replace
    /// the file's.
    pub fn merge(self, over: FileConfig) -> FileConfig {
        FileConfig {
            dpid: over.dpid.or(self.dpid),
            ports: if over.ports.is_empty() {
                self.ports
            } else {
                over.ports
            },
            controllers: if over.controllers.is_empty() {
                self.controllers
            } else {
                over.controllers
            },
            fail_mode: over.fail_mode.or(self.fail_mode),
            workers: over.workers.or(self.workers),
            pin: over.pin.or(self.pin),
            private_key: over.private_key.or(self.private_key),
            certificate: over.certificate.or(self.certificate),
            ca_cert: over.ca_cert.or(self.ca_cert),
            echo_interval: over.echo_interval.or(self.echo_interval),
            tables: over.tables.or(self.tables),
        }
    }

    /// Checks and converts everything.
    pub fn resolve(self) -> Result<Settings, ConfigError> {
        let dpid = match &self.dpid {
            Some(d) => parse_dpid(d)?,
            None => 1,
        };
        let mut ports = Vec::with_capacity(self.ports.len());
        for p in &self.ports {
            let c: PortConfig = p.parse().map_err(|source| ConfigError::Port {
                spec: p.clone(),
                source,
            })?;
            if ports.iter().any(|x: &PortConfig| x.port_no == c.port_no) {
                return Err(ConfigError::DuplicatePort(c.port_no));
            }
            ports.push(c);
        }
        let controllers = if self.controllers.is_empty() {
            vec![Target::Ptcp {
                port: 6653,
                ip: None,
            }]
        } else {
            self.controllers
                .iter()
                .map(|t| {
                    Target::parse(t).map_err(|source| ConfigError::Target {
                        target: t.clone(),
                        source,
                    })
                })
                .collect::<Result<_, _>>()?
        };
        let tls = match (&self.private_key, &self.certificate, &self.ca_cert) {
            (Some(k), Some(c), Some(ca)) => Some(TlsConfig::from_pem_files(ca, c, k)?),
            (None, None, None) => None,
            _ => {
                return Err(ConfigError::Tls(
                    "--private-key, --certificate and --ca-cert go together".into(),
                ));
            }
        };
        if tls.is_none() && controllers.iter().any(Target::is_tls) {
            return Err(ConfigError::Tls(
                "ssl:/pssl: targets need --private-key, --certificate and --ca-cert".into(),
            ));
        }
        let workers = self
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        if workers == 0 || workers > 256 {
            return Err(ConfigError::Invalid(format!(
                "--workers {workers}: expected 1 to 256"
            )));
        }
        let echo = self.echo_interval.unwrap_or(5.0);
        if !(echo.is_finite() && echo > 0.0 && echo <= 3600.0) {
            return Err(ConfigError::Invalid(format!(
                "echo interval {echo}: expected 0 < s <= 3600"
            )));
        }
        let tables = self.tables.unwrap_or(254);
        if tables == 0 || tables > 254 {
            return Err(ConfigError::Invalid(format!(
                "tables {tables}: expected 1 to 254"
            )));
        }
        Ok(Settings {
            dpid,
            ports,
            controllers,
            fail_mode: self.fail_mode.unwrap_or_default(),
            workers,
            pin: self.pin.unwrap_or(true),
            tls,
            echo_interval: Duration::from_secs_f64(echo),
            tables,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpids_as_ovs() {
        assert_eq!(parse_dpid("0x00000000000000ab").unwrap(), 0xab);
        assert_eq!(parse_dpid("00000000000000AB").unwrap(), 0xab);
        assert_eq!(parse_dpid("1").unwrap(), 1);
        for bad in ["", "0x", "0x11111111111111111", "xyz", "-1"] {
            assert!(
                matches!(parse_dpid(bad), Err(ConfigError::Dpid(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn file_and_command_line_merge() {
        let file: FileConfig = toml::from_str(
            r#"
            dpid = "0x2"
            ports = ["1=mem", "2=mem:64"]
            controllers = ["ptcp:6653"]
            workers = 1
            fail-mode = "standalone"
            "#,
        )
        .unwrap();
        let cli = FileConfig {
            dpid: Some("3".into()),
            ..FileConfig::default()
        };
        let s = file.merge(cli).resolve().unwrap();
        assert_eq!(s.dpid, 3);
        assert_eq!(s.ports.len(), 2);
        assert_eq!(s.workers, 1);
        assert_eq!(s.fail_mode, FailMode::Standalone);
    }

    #[test]
    fn bad_settings_are_named() {
        let e = |f: FileConfig| f.resolve().unwrap_err();
        assert!(matches!(
            e(FileConfig {
                ports: vec!["0=mem".into()],
                ..FileConfig::default()
            }),
            ConfigError::Port { .. }
        ));
        assert!(matches!(
            e(FileConfig {
                ports: vec!["1=mem".into(), "1=mem".into()],
                ..FileConfig::default()
            }),
            ConfigError::DuplicatePort(1)
        ));
        assert!(matches!(
            e(FileConfig {
                controllers: vec!["udp:1".into()],
                ..FileConfig::default()
            }),
            ConfigError::Target { .. }
        ));
        assert!(matches!(
            e(FileConfig {
                controllers: vec!["pssl:6653".into()],
                ..FileConfig::default()
            }),
            ConfigError::Tls(_)
        ));
        assert!(matches!(
            e(FileConfig {
                workers: Some(0),
                ..FileConfig::default()
            }),
            ConfigError::Invalid(_)
        ));
        assert!(toml::from_str::<FileConfig>("bogus = 1").is_err());
    }
}
