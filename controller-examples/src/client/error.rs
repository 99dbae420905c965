//! The client's errors, one enum per kind of operation: parsing a target
//! ([`TargetError`]), loading TLS material ([`TlsError`]), establishing a
//! connection ([`ConnectError`]) and using one ([`ClientError`]).
//!
//! The switch's own answers are kept typed: an `OFPT_ERROR` becomes
//! [`ClientError::OpenFlow`] with the parsed [`ErrorCode`], or
//! [`ClientError::Extension`] with the extension's [`ExtErrorCode`] and the
//! switch's explanation (for `VERIFY_FAILED` the verifier's message, which
//! names the instruction). Callers match on variants, never on text.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use ofext_filter::wire::{ExtErrorCode, ExtParseError};
use openflow::message::ErrorMsg;
use openflow::{ErrorCode, FrameError, ParseError};

/// A connection target string (`tcp:HOST:PORT`, `ptcp:PORT:IP`, …) that
/// could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// The part before the first `:` is not `tcp`, `ssl`, `ptcp` or `pssl`.
    #[error("{target:?}: unknown method {method:?} (expected tcp, ssl, ptcp or pssl)")]
    UnknownMethod {
        /// The whole target string.
        target: String,
        /// The method that was given.
        method: String,
    },
    /// An active target without a host.
    #[error("{target:?}: missing host")]
    MissingHost {
        /// The whole target string.
        target: String,
    },
    /// A port that is not a number in 0…65535.
    #[error("{target:?}: bad port {port:?}")]
    BadPort {
        /// The whole target string.
        target: String,
        /// The text that should have been a port.
        port: String,
    },
    /// A host or listening address that is malformed (an IPv6 address must
    /// be written in brackets, `[::1]`).
    #[error("{target:?}: bad address {address:?}")]
    BadAddress {
        /// The whole target string.
        target: String,
        /// The text that should have been an address.
        address: String,
    },
}

/// TLS material (CA certificate, certificate chain, private key) that could
/// not be loaded or does not form a usable configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A PEM file is malformed.
    #[error("malformed PEM in the {what}: {source}")]
    Pem {
        /// Which input: `"CA certificate"`, `"certificate chain"` or
        /// `"private key"`.
        what: &'static str,
        /// The PEM parser's error.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// A PEM input that holds no certificate.
    #[error("the {what} holds no certificate")]
    NoCertificate {
        /// Which input: `"CA certificate"` or `"certificate chain"`.
        what: &'static str,
    },
    /// A CA certificate that cannot be used as a trust anchor.
    #[error("unusable CA certificate: {0}")]
    BadCa(#[source] rustls::Error),
    /// The peer verifier could not be built from the CA certificates.
    #[error("cannot build the certificate verifier: {0}")]
    Verifier(#[source] rustls::server::VerifierBuilderError),
    /// rustls refused the configuration (e.g. a key that does not match the
    /// certificate, or an unsupported key type).
    #[error("TLS configuration refused: {0}")]
    Config(#[source] rustls::Error),
}

/// Establishing a connection failed: connecting, accepting, the TLS
/// handshake or the OpenFlow handshake (HELLO, FEATURES).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// An `ssl:`/`pssl:` target without TLS material in the options.
    #[error("target {target} needs TLS but no TLS configuration was given")]
    TlsRequired {
        /// The target.
        target: String,
    },
    /// `connect` was given a passive target or `Listener::bind` an active
    /// one.
    #[error("target {target} cannot be used here: {reason}")]
    WrongTarget {
        /// The target.
        target: String,
        /// What was expected instead.
        reason: &'static str,
    },
    /// Connecting to an active target failed (resolution or TCP connect).
    #[error("cannot connect to {target}: {source}")]
    Connect {
        /// The target.
        target: String,
        /// The socket error.
        #[source]
        source: io::Error,
    },
    /// Binding a passive target failed.
    #[error("cannot listen on {target}: {source}")]
    Bind {
        /// The target.
        target: String,
        /// The socket error.
        #[source]
        source: io::Error,
    },
    /// The TLS handshake failed or the peer's certificate was refused (by
    /// us, or ours by the peer: then this is the alert it sent).
    #[error("TLS: {0}")]
    Tls(#[source] rustls::Error),
    /// The transport failed during the handshake.
    #[error("transport error during the handshake: {0}")]
    Io(#[source] io::Error),
    /// The peer's byte stream cannot be framed as OpenFlow.
    #[error("bad framing from the peer: {0}")]
    Frame(#[source] FrameError),
    /// The peer sent a malformed message during the handshake.
    #[error("malformed message from the peer during the handshake: {0}")]
    Parse(#[source] ParseError),
    /// The peer closed the connection during the handshake.
    #[error("the peer closed the connection during the handshake")]
    Closed,
    /// The handshake did not finish in time.
    #[error("the handshake did not finish within {after:?}")]
    Timeout {
        /// The handshake timeout in force.
        after: Duration,
    },
    /// The peer cannot speak OpenFlow 1.3 (we answered HELLO_FAILED /
    /// INCOMPATIBLE and closed).
    #[error("the peer does not speak OpenFlow 1.3 (HELLO version {peer_version:#04x})")]
    Incompatible {
        /// The version in the peer's HELLO header.
        peer_version: u8,
        /// The peer's version bitmap, when it sent one.
        peer_bitmap: Option<Vec<u32>>,
    },
    /// The peer answered with an OFPT_ERROR during the handshake (e.g.
    /// HELLO_FAILED because it does not speak 1.3).
    #[error("the peer refused the handshake: {code:?}: {}", String::from_utf8_lossy(.data))]
    Refused {
        /// The error code.
        code: ErrorCode,
        /// The error's data (for HELLO_FAILED usually an explanation).
        data: Vec<u8>,
    },
    /// The peer sent something else where the handshake expects a HELLO or
    /// a FEATURES_REPLY.
    #[error("expected {expected}, got {got}")]
    Unexpected {
        /// What the handshake waited for.
        expected: &'static str,
        /// The message type received.
        got: &'static str,
    },
}

impl ConnectError {
    /// Classifies a transport error: rustls reports TLS failures (bad
    /// certificates, alerts from the peer) wrapped in `io::Error`, and they
    /// deserve their own variant.
    pub(crate) fn from_io(e: io::Error) -> Self {
        if e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) {
            match e
                .into_inner()
                .map(|inner| inner.downcast::<rustls::Error>())
            {
                Some(Ok(tls)) => return Self::Tls(*tls),
                // Unreachable after the `is` check; keep the error anyway.
                Some(Err(other)) => return Self::Io(io::Error::other(other)),
                None => return Self::Closed,
            }
        }
        match e.kind() {
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe => Self::Closed,
            _ => Self::Io(e),
        }
    }

    pub(crate) fn from_frame(e: FrameError) -> Self {
        match e {
            FrameError::Io(io) => Self::from_io(io),
            FrameError::UnexpectedEof { .. } => Self::Closed,
            other => Self::Frame(other),
        }
    }
}

/// A request on an established connection failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The switch answered with a standard OpenFlow error (or an
    /// experimenter error that is not the Oko extension's).
    #[error("switch answered with an error: {code:?}")]
    OpenFlow {
        /// The error type and code.
        code: ErrorCode,
        /// The error's data: usually the start of the offending message.
        data: Vec<u8>,
    },
    /// The switch answered with one of the filter extension's errors.
    #[error("switch answered {code}: {message}")]
    Extension {
        /// The extension's error code.
        code: ExtErrorCode,
        /// The switch's explanation (for VERIFY_FAILED the verifier's
        /// message naming the instruction; for MAP_UPDATE/MAP_DELETE it
        /// names the failing entry's index).
        message: String,
    },
    /// The connection is closed (or closed while the request was pending).
    #[error("connection closed")]
    Closed,
    /// No reply arrived in time. A reply that arrives later is handed to
    /// subscribers like any unsolicited message.
    #[error("no reply to xid {xid} within {after:?}")]
    Timeout {
        /// The request's xid.
        xid: u32,
        /// The timeout in force.
        after: Duration,
    },
    /// The message cannot be sent: it does not fit one OpenFlow message.
    #[error("cannot encode the message: {0}")]
    Encode(#[source] FrameError),
    /// The switch's reply to this request is malformed OpenFlow.
    #[error("malformed reply: {0}")]
    BadReply(#[source] ParseError),
    /// The switch's reply is a malformed extension body.
    #[error("malformed extension reply: {0}")]
    BadExtReply(#[source] ExtParseError),
    /// The switch answered with a message of the wrong kind.
    #[error("expected {expected} in reply, got {got}")]
    UnexpectedReply {
        /// What the request expects.
        expected: &'static str,
        /// What arrived.
        got: &'static str,
    },
    /// A program object larger than the extension allows (16 MiB).
    #[error("program object of {len} bytes exceeds the maximum of {max}")]
    ProgramTooLarge {
        /// The object's length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// In one MAP_UPDATE/MAP_DELETE call every key must have the same
    /// length and every value the same length (the switch splits the
    /// entries by the map's sizes). Nothing was sent.
    #[error(
        "entry {index}: key of {key_len} bytes and value of {value_len} bytes, \
         but entry 0 has {expected_key_len} and {expected_value_len}"
    )]
    InconsistentEntry {
        /// Index of the first entry that differs from entry 0.
        index: usize,
        /// Its key length.
        key_len: usize,
        /// Its value length (0 for MAP_DELETE).
        value_len: usize,
        /// Entry 0's key length.
        expected_key_len: usize,
        /// Entry 0's value length (0 for MAP_DELETE).
        expected_value_len: usize,
    },
    /// A MAP_UPDATE/MAP_DELETE too large for one message was sent as
    /// several, each confirmed before the next: the first `applied` entries
    /// are in effect, and `source` is the switch's error for a later
    /// message (an entry index in its text counts from entry `applied`).
    #[error("first {applied} entries applied, then: {source}")]
    PartiallyApplied {
        /// Entries applied before the failing message.
        applied: usize,
        /// The failing message's error.
        #[source]
        source: Box<ClientError>,
    },
}

impl ClientError {
    /// The typed form of an OFPT_ERROR received in answer to a request.
    pub fn from_error_msg(e: &ErrorMsg) -> Self {
        match ExtErrorCode::from_error_code(e.code) {
            Some(code) => Self::Extension {
                code,
                message: String::from_utf8_lossy(&e.data).into_owned(),
            },
            None => Self::OpenFlow {
                code: e.code,
                data: e.data.clone(),
            },
        }
    }

    /// The extension error code, if this is (or wraps) an extension error.
    pub fn ext_code(&self) -> Option<ExtErrorCode> {
        match self {
            Self::Extension { code, .. } => Some(*code),
            Self::PartiallyApplied { source, .. } => source.ext_code(),
            _ => None,
        }
    }

    /// The OpenFlow error code the switch answered with, if this is (or
    /// wraps) a switch error; extension errors give their experimenter code.
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self {
            Self::OpenFlow { code, .. } => Some(*code),
            Self::Extension { code, .. } => Some(code.error_code()),
            Self::PartiallyApplied { source, .. } => source.error_code(),
            _ => None,
        }
    }
}
