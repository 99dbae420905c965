//! Mutual TLS as Open vSwitch does it.
//!
//! Both ends hold a certificate signed by a CA they both trust and require
//! the other's: the controller presents its chain to the switch, and the
//! switch's chain must verify against the CA file. OVS checks the chain
//! only, not the host name (switch certificates usually name a datapath,
//! not an address), and so does this client by default;
//! [`TlsConfig::with_server_name_check`] turns the usual web check on.
//!
//! The crypto provider is *ring*, passed explicitly to every rustls builder
//! so that a process that links another provider (or none by default) gets
//! the same behaviour.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use super::error::TlsError;

/// Certificates and key for mutual TLS, with the rustls configurations for
/// both roles built from them (we dial a switch: client; a switch dials us:
/// server). Cheap to clone.
#[derive(Clone)]
pub struct TlsConfig {
    roots: Arc<RootCertStore>,
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
    check_server_name: bool,
    client: Arc<rustls::ClientConfig>,
    server: Arc<rustls::ServerConfig>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the key.
        f.debug_struct("TlsConfig")
            .field("ca_certificates", &self.roots.len())
            .field("chain_len", &self.chain.len())
            .field("check_server_name", &self.check_server_name)
            .finish_non_exhaustive()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn certs(what: &'static str, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem { what, source })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate { what });
    }
    Ok(certs)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsConfig {
    /// Loads the CA certificate(s), our certificate chain (leaf first) and
    /// our private key (PKCS#8, PKCS#1 or SEC1) from PEM files, like OVS's
    /// `--ca-cert`, `--certificate` and `--private-key`.
    pub fn from_pem_files(
        ca_cert: impl AsRef<Path>,
        cert_chain: impl AsRef<Path>,
        private_key: impl AsRef<Path>,
    ) -> Result<Self, TlsError> {
        Self::from_pem(
            &read(ca_cert.as_ref())?,
            &read(cert_chain.as_ref())?,
            &read(private_key.as_ref())?,
        )
    }

    /// [`TlsConfig::from_pem_files`] from PEM text already in memory.
    pub fn from_pem(
        ca_cert: &[u8],
        cert_chain: &[u8],
        private_key: &[u8],
    ) -> Result<Self, TlsError> {
        let mut roots = RootCertStore::empty();
        for ca in certs("CA certificate", ca_cert)? {
            roots.add(ca).map_err(TlsError::BadCa)?;
        }
        let chain = certs("certificate chain", cert_chain)?;
        let key = PrivateKeyDer::from_pem_slice(private_key).map_err(|source| TlsError::Pem {
            what: "private key",
            source,
        })?;
        Self::build(Arc::new(roots), chain, Arc::new(key), false)
    }

    /// Also require the switch's certificate to name the host we dial (off
    /// by default, as in OVS).
    pub fn with_server_name_check(self, check: bool) -> Result<Self, TlsError> {
        Self::build(self.roots, self.chain, self.key, check)
    }

    fn build(
        roots: Arc<RootCertStore>,
        chain: Vec<CertificateDer<'static>>,
        key: Arc<PrivateKeyDer<'static>>,
        check_server_name: bool,
    ) -> Result<Self, TlsError> {
        let provider = provider();
        let server_verifier =
            WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
                .build()
                .map_err(TlsError::Verifier)?;
        let client = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(CaVerifier {
                inner: server_verifier,
                check_server_name,
            }))
            .with_client_auth_cert(chain.clone(), key.clone_key())
            .map_err(TlsError::Config)?;
        let client_verifier =
            WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
                .build()
                .map_err(TlsError::Verifier)?;
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?
            .with_client_cert_verifier(client_verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(TlsError::Config)?;
        Ok(Self {
            roots,
            chain,
            key,
            check_server_name,
            client: Arc::new(client),
            server: Arc::new(server),
        })
    }

    /// The rustls configuration for dialing a switch (`ssl:`).
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        self.client.clone()
    }

    /// The rustls configuration for accepting a switch (`pssl:`): a client
    /// certificate signed by the CA is required.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        self.server.clone()
    }
}

/// The web-PKI verifier, except that (unless asked) a certificate that
/// chains to the CA but names another host is accepted. rustls checks the
/// chain before the name, so a name error means the chain was good.
#[derive(Debug)]
struct CaVerifier {
    inner: Arc<WebPkiServerVerifier>,
    check_server_name: bool,
}

impl ServerCertVerifier for CaVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_server_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
