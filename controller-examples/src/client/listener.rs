//! [`Listener`]: passive targets (`ptcp:`, `pssl:`), for switches that dial
//! the controller, as `ovs-vsctl set-controller br0 tcp:CONTROLLER` makes
//! Open vSwitch (and `okod --controller`) do.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tokio::net::TcpListener;

use super::connection::{ClientOptions, Connection};
use super::error::ConnectError;
use super::target::Target;

/// Listens for switches and turns each accepted one into a [`Connection`].
pub struct Listener {
    listener: TcpListener,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    options: ClientOptions,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("local_addr", &self.listener.local_addr().ok())
            .field("tls", &self.acceptor.is_some())
            .finish_non_exhaustive()
    }
}

impl Listener {
    /// Binds a passive target (`ptcp:PORT[:IP]` or `pssl:PORT[:IP]`; all
    /// IPv4 addresses when IP is absent). `pssl:` needs
    /// [`ClientOptions::tls`]: the switch must present a certificate signed
    /// by the CA.
    pub async fn bind(target: &Target, options: &ClientOptions) -> Result<Self, ConnectError> {
        let (port, ip, tls) = match target {
            Target::Ptcp { port, ip } => (*port, *ip, false),
            Target::Pssl { port, ip } => (*port, *ip, true),
            _ => {
                return Err(ConnectError::WrongTarget {
                    target: target.to_string(),
                    reason: "an active target needs Connection::connect",
                });
            }
        };
        let acceptor = if tls {
            let tls = options
                .tls
                .as_ref()
                .ok_or_else(|| ConnectError::TlsRequired {
                    target: target.to_string(),
                })?;
            Some(tokio_rustls::TlsAcceptor::from(tls.server_config()))
        } else {
            None
        };
        let addr = SocketAddr::new(ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ConnectError::Bind {
                target: target.to_string(),
                source,
            })?;
        Ok(Self {
            listener,
            acceptor,
            options: options.clone(),
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Waits for a switch to connect and performs the TLS (for `pssl:`) and
    /// OpenFlow handshakes with it, bounded by
    /// [`ClientOptions::handshake_timeout`] from the TCP accept on.
    ///
    /// An error concerns that one switch (refused certificate, wrong
    /// version, timeout); the listener stays usable. Handshakes are done one
    /// at a time: a controller expecting many switches at once can accept in
    /// one task and hand connections out.
    pub async fn accept(&self) -> Result<Connection, ConnectError> {
        let (tcp, peer) = self.listener.accept().await.map_err(ConnectError::Io)?;
        let _ = tcp.set_nodelay(true);
        let after = self.options.handshake_timeout;
        let handshake = async {
            match &self.acceptor {
                None => Connection::handshake(tcp, Some(peer), &self.options).await,
                Some(acceptor) => {
                    let stream = acceptor.accept(tcp).await.map_err(ConnectError::from_io)?;
                    Connection::handshake(stream, Some(peer), &self.options).await
                }
            }
        };
        tokio::time::timeout(after, handshake)
            .await
            .unwrap_or(Err(ConnectError::Timeout { after }))
    }
}
