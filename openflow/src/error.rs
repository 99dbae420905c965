//! OpenFlow error codes (`ofp_error_type` and every per-type code enum of
//! OpenFlow 1.3.5 §A.4.4) and the codec's own parse error.
//!
//! [`ErrorCode`] is what travels in an `OFPT_ERROR` message. Every code enum has an
//! `Other(u16)` variant so that codes this crate does not name still round-trip;
//! [`ErrorCode::from_raw`] always picks the named variant when there is one, so two
//! equal wire values give equal Rust values.
//!
//! [`ParseError`] is returned by every parser in this crate. It says what was wrong
//! (the element, the offset from the start of the message, declared versus actual
//! length) and [`ParseError::error_code`] gives the exact error a switch must answer
//! with.

use core::fmt;

/// Defines a `u16` code enum with an `Other(u16)` fallback.
macro_rules! code_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $var:ident = $val:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $var,)*
            /// A code this crate does not name; kept so it round-trips.
            Other(u16),
        }

        impl $name {
            /// Decodes a wire value, preferring a named variant.
            pub const fn from_u16(v: u16) -> Self {
                match v {
                    $($val => Self::$var,)*
                    other => Self::Other(other),
                }
            }

            /// The wire value.
            pub const fn to_u16(self) -> u16 {
                match self {
                    $(Self::$var => $val,)*
                    Self::Other(other) => other,
                }
            }

            /// The variant's name, `CamelCase` (`"OTHER"` for unnamed
            /// codes); [`ErrorCode::spec_name`] gives the spec's constant.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$var => stringify!($var),)*
                    Self::Other(_) => "OTHER",
                }
            }
        }
    };
}

code_enum! {
    /// `ofp_hello_failed_code`.
    HelloFailedCode { #[doc = "OFPHFC_INCOMPATIBLE"] Incompatible = 0, #[doc = "OFPHFC_EPERM"] Eperm = 1, }
}

code_enum! {
    /// `ofp_bad_request_code`.
    BadRequestCode {
        /// OFPBRC_BAD_VERSION
        BadVersion = 0,
        /// OFPBRC_BAD_TYPE
        BadType = 1,
        /// OFPBRC_BAD_MULTIPART
        BadMultipart = 2,
        /// OFPBRC_BAD_EXPERIMENTER
        BadExperimenter = 3,
        /// OFPBRC_BAD_EXP_TYPE
        BadExpType = 4,
        /// OFPBRC_EPERM
        Eperm = 5,
        /// OFPBRC_BAD_LEN
        BadLen = 6,
        /// OFPBRC_BUFFER_EMPTY
        BufferEmpty = 7,
        /// OFPBRC_BUFFER_UNKNOWN
        BufferUnknown = 8,
        /// OFPBRC_BAD_TABLE_ID
        BadTableId = 9,
        /// OFPBRC_IS_SLAVE
        IsSlave = 10,
        /// OFPBRC_BAD_PORT
        BadPort = 11,
        /// OFPBRC_BAD_PACKET
        BadPacket = 12,
        /// OFPBRC_MULTIPART_BUFFER_OVERFLOW
        MultipartBufferOverflow = 13,
    }
}

code_enum! {
    /// `ofp_bad_action_code`.
    BadActionCode {
        /// OFPBAC_BAD_TYPE
        BadType = 0,
        /// OFPBAC_BAD_LEN
        BadLen = 1,
        /// OFPBAC_BAD_EXPERIMENTER
        BadExperimenter = 2,
        /// OFPBAC_BAD_EXP_TYPE
        BadExpType = 3,
        /// OFPBAC_BAD_OUT_PORT
        BadOutPort = 4,
        /// OFPBAC_BAD_ARGUMENT
        BadArgument = 5,
        /// OFPBAC_EPERM
        Eperm = 6,
        /// OFPBAC_TOO_MANY
        TooMany = 7,
        /// OFPBAC_BAD_QUEUE
        BadQueue = 8,
        /// OFPBAC_BAD_OUT_GROUP
        BadOutGroup = 9,
        /// OFPBAC_MATCH_INCONSISTENT
        MatchInconsistent = 10,
        /// OFPBAC_UNSUPPORTED_ORDER
        UnsupportedOrder = 11,
        /// OFPBAC_BAD_TAG
        BadTag = 12,
        /// OFPBAC_BAD_SET_TYPE
        BadSetType = 13,
        /// OFPBAC_BAD_SET_LEN
        BadSetLen = 14,
        /// OFPBAC_BAD_SET_ARGUMENT
        BadSetArgument = 15,
    }
}

code_enum! {
    /// `ofp_bad_instruction_code`.
    BadInstructionCode {
        /// OFPBIC_UNKNOWN_INST
        UnknownInst = 0,
        /// OFPBIC_UNSUP_INST
        UnsupInst = 1,
        /// OFPBIC_BAD_TABLE_ID
        BadTableId = 2,
        /// OFPBIC_UNSUP_METADATA
        UnsupMetadata = 3,
        /// OFPBIC_UNSUP_METADATA_MASK
        UnsupMetadataMask = 4,
        /// OFPBIC_BAD_EXPERIMENTER
        BadExperimenter = 5,
        /// OFPBIC_BAD_EXP_TYPE
        BadExpType = 6,
        /// OFPBIC_BAD_LEN
        BadLen = 7,
        /// OFPBIC_EPERM
        Eperm = 8,
    }
}

code_enum! {
    /// `ofp_bad_match_code`.
    BadMatchCode {
        /// OFPBMC_BAD_TYPE
        BadType = 0,
        /// OFPBMC_BAD_LEN
        BadLen = 1,
        /// OFPBMC_BAD_TAG
        BadTag = 2,
        /// OFPBMC_BAD_DL_ADDR_MASK
        BadDlAddrMask = 3,
        /// OFPBMC_BAD_NW_ADDR_MASK
        BadNwAddrMask = 4,
        /// OFPBMC_BAD_WILDCARDS
        BadWildcards = 5,
        /// OFPBMC_BAD_FIELD
        BadField = 6,
        /// OFPBMC_BAD_VALUE
        BadValue = 7,
        /// OFPBMC_BAD_MASK
        BadMask = 8,
        /// OFPBMC_BAD_PREREQ
        BadPrereq = 9,
        /// OFPBMC_DUP_FIELD
        DupField = 10,
        /// OFPBMC_EPERM
        Eperm = 11,
    }
}

code_enum! {
    /// `ofp_flow_mod_failed_code`.
    FlowModFailedCode {
        /// OFPFMFC_UNKNOWN
        Unknown = 0,
        /// OFPFMFC_TABLE_FULL
        TableFull = 1,
        /// OFPFMFC_BAD_TABLE_ID
        BadTableId = 2,
        /// OFPFMFC_OVERLAP
        Overlap = 3,
        /// OFPFMFC_EPERM
        Eperm = 4,
        /// OFPFMFC_BAD_TIMEOUT
        BadTimeout = 5,
        /// OFPFMFC_BAD_COMMAND
        BadCommand = 6,
        /// OFPFMFC_BAD_FLAGS
        BadFlags = 7,
    }
}

code_enum! {
    /// `ofp_group_mod_failed_code`.
    GroupModFailedCode {
        /// OFPGMFC_GROUP_EXISTS
        GroupExists = 0,
        /// OFPGMFC_INVALID_GROUP
        InvalidGroup = 1,
        /// OFPGMFC_WEIGHT_UNSUPPORTED
        WeightUnsupported = 2,
        /// OFPGMFC_OUT_OF_GROUPS
        OutOfGroups = 3,
        /// OFPGMFC_OUT_OF_BUCKETS
        OutOfBuckets = 4,
        /// OFPGMFC_CHAINING_UNSUPPORTED
        ChainingUnsupported = 5,
        /// OFPGMFC_WATCH_UNSUPPORTED
        WatchUnsupported = 6,
        /// OFPGMFC_LOOP
        Loop = 7,
        /// OFPGMFC_UNKNOWN_GROUP
        UnknownGroup = 8,
        /// OFPGMFC_CHAINED_GROUP
        ChainedGroup = 9,
        /// OFPGMFC_BAD_TYPE
        BadType = 10,
        /// OFPGMFC_BAD_COMMAND
        BadCommand = 11,
        /// OFPGMFC_BAD_BUCKET
        BadBucket = 12,
        /// OFPGMFC_BAD_WATCH
        BadWatch = 13,
        /// OFPGMFC_EPERM
        Eperm = 14,
    }
}

code_enum! {
    /// `ofp_port_mod_failed_code`.
    PortModFailedCode {
        /// OFPPMFC_BAD_PORT
        BadPort = 0,
        /// OFPPMFC_BAD_HW_ADDR
        BadHwAddr = 1,
        /// OFPPMFC_BAD_CONFIG
        BadConfig = 2,
        /// OFPPMFC_BAD_ADVERTISE
        BadAdvertise = 3,
        /// OFPPMFC_EPERM
        Eperm = 4,
    }
}

code_enum! {
    /// `ofp_table_mod_failed_code`.
    TableModFailedCode {
        /// OFPTMFC_BAD_TABLE
        BadTable = 0,
        /// OFPTMFC_BAD_CONFIG
        BadConfig = 1,
        /// OFPTMFC_EPERM
        Eperm = 2,
    }
}

code_enum! {
    /// `ofp_queue_op_failed_code`.
    QueueOpFailedCode {
        /// OFPQOFC_BAD_PORT
        BadPort = 0,
        /// OFPQOFC_BAD_QUEUE
        BadQueue = 1,
        /// OFPQOFC_EPERM
        Eperm = 2,
    }
}

code_enum! {
    /// `ofp_switch_config_failed_code`.
    SwitchConfigFailedCode {
        /// OFPSCFC_BAD_FLAGS
        BadFlags = 0,
        /// OFPSCFC_BAD_LEN
        BadLen = 1,
        /// OFPSCFC_EPERM
        Eperm = 2,
    }
}

code_enum! {
    /// `ofp_role_request_failed_code`.
    RoleRequestFailedCode {
        /// OFPRRFC_STALE
        Stale = 0,
        /// OFPRRFC_UNSUP
        Unsup = 1,
        /// OFPRRFC_BAD_ROLE
        BadRole = 2,
    }
}

code_enum! {
    /// `ofp_meter_mod_failed_code`.
    MeterModFailedCode {
        /// OFPMMFC_UNKNOWN
        Unknown = 0,
        /// OFPMMFC_METER_EXISTS
        MeterExists = 1,
        /// OFPMMFC_INVALID_METER
        InvalidMeter = 2,
        /// OFPMMFC_UNKNOWN_METER
        UnknownMeter = 3,
        /// OFPMMFC_BAD_COMMAND
        BadCommand = 4,
        /// OFPMMFC_BAD_FLAGS
        BadFlags = 5,
        /// OFPMMFC_BAD_RATE
        BadRate = 6,
        /// OFPMMFC_BAD_BURST
        BadBurst = 7,
        /// OFPMMFC_BAD_BAND
        BadBand = 8,
        /// OFPMMFC_BAD_BAND_VALUE
        BadBandValue = 9,
        /// OFPMMFC_OUT_OF_METERS
        OutOfMeters = 10,
        /// OFPMMFC_OUT_OF_BANDS
        OutOfBands = 11,
    }
}

code_enum! {
    /// `ofp_table_features_failed_code`.
    TableFeaturesFailedCode {
        /// OFPTFFC_BAD_TABLE
        BadTable = 0,
        /// OFPTFFC_BAD_METADATA
        BadMetadata = 1,
        /// OFPTFFC_BAD_TYPE
        BadType = 2,
        /// OFPTFFC_BAD_LEN
        BadLen = 3,
        /// OFPTFFC_BAD_ARGUMENT
        BadArgument = 4,
        /// OFPTFFC_EPERM
        Eperm = 5,
    }
}

/// `ofp_error_type` values.
pub mod error_type {
    /// OFPET_HELLO_FAILED
    pub const HELLO_FAILED: u16 = 0;
    /// OFPET_BAD_REQUEST
    pub const BAD_REQUEST: u16 = 1;
    /// OFPET_BAD_ACTION
    pub const BAD_ACTION: u16 = 2;
    /// OFPET_BAD_INSTRUCTION
    pub const BAD_INSTRUCTION: u16 = 3;
    /// OFPET_BAD_MATCH
    pub const BAD_MATCH: u16 = 4;
    /// OFPET_FLOW_MOD_FAILED
    pub const FLOW_MOD_FAILED: u16 = 5;
    /// OFPET_GROUP_MOD_FAILED
    pub const GROUP_MOD_FAILED: u16 = 6;
    /// OFPET_PORT_MOD_FAILED
    pub const PORT_MOD_FAILED: u16 = 7;
    /// OFPET_TABLE_MOD_FAILED
    pub const TABLE_MOD_FAILED: u16 = 8;
    /// OFPET_QUEUE_OP_FAILED
    pub const QUEUE_OP_FAILED: u16 = 9;
    /// OFPET_SWITCH_CONFIG_FAILED
    pub const SWITCH_CONFIG_FAILED: u16 = 10;
    /// OFPET_ROLE_REQUEST_FAILED
    pub const ROLE_REQUEST_FAILED: u16 = 11;
    /// OFPET_METER_MOD_FAILED
    pub const METER_MOD_FAILED: u16 = 12;
    /// OFPET_TABLE_FEATURES_FAILED
    pub const TABLE_FEATURES_FAILED: u16 = 13;
    /// OFPET_EXPERIMENTER
    pub const EXPERIMENTER: u16 = 0xffff;
}

/// An OpenFlow error: the `(type, code)` pair of `ofp_error_msg`, typed.
///
/// Experimenter errors (`OFPET_EXPERIMENTER`) carry the 16-bit `exp_code` and the
/// experimenter id, which sit in a different layout on the wire (see
/// [`crate::message::ErrorMsg`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// OFPET_HELLO_FAILED
    HelloFailed(HelloFailedCode),
    /// OFPET_BAD_REQUEST
    BadRequest(BadRequestCode),
    /// OFPET_BAD_ACTION
    BadAction(BadActionCode),
    /// OFPET_BAD_INSTRUCTION
    BadInstruction(BadInstructionCode),
    /// OFPET_BAD_MATCH
    BadMatch(BadMatchCode),
    /// OFPET_FLOW_MOD_FAILED
    FlowModFailed(FlowModFailedCode),
    /// OFPET_GROUP_MOD_FAILED
    GroupModFailed(GroupModFailedCode),
    /// OFPET_PORT_MOD_FAILED
    PortModFailed(PortModFailedCode),
    /// OFPET_TABLE_MOD_FAILED
    TableModFailed(TableModFailedCode),
    /// OFPET_QUEUE_OP_FAILED
    QueueOpFailed(QueueOpFailedCode),
    /// OFPET_SWITCH_CONFIG_FAILED
    SwitchConfigFailed(SwitchConfigFailedCode),
    /// OFPET_ROLE_REQUEST_FAILED
    RoleRequestFailed(RoleRequestFailedCode),
    /// OFPET_METER_MOD_FAILED
    MeterModFailed(MeterModFailedCode),
    /// OFPET_TABLE_FEATURES_FAILED
    TableFeaturesFailed(TableFeaturesFailedCode),
    /// OFPET_EXPERIMENTER
    Experimenter {
        /// Experimenter-defined code.
        exp_code: u16,
        /// Experimenter id.
        experimenter: u32,
    },
    /// An error type this crate does not name.
    Unknown {
        /// `ofp_error_msg.type`
        err_type: u16,
        /// `ofp_error_msg.code`
        code: u16,
    },
}

/// `CamelCase` → `SCREAMING_SNAKE` (`BadOutPort` → `BAD_OUT_PORT`).
fn screaming_snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut prev_lower = false;
    for c in name.chars() {
        if c.is_ascii_uppercase() && prev_lower {
            out.push('_');
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        out.push(c.to_ascii_uppercase());
    }
    out
}

impl ErrorCode {
    /// The `openflow.h` constant naming this code, as `ovs-ofctl` prints
    /// it: `OFPBAC_BAD_OUT_PORT`, `OFPGMFC_GROUP_EXISTS`. `None` for codes
    /// the spec does not name and for experimenter errors.
    pub fn spec_name(&self) -> Option<String> {
        let (prefix, name) = match *self {
            Self::HelloFailed(c) => ("OFPHFC_", c.name()),
            Self::BadRequest(c) => ("OFPBRC_", c.name()),
            Self::BadAction(c) => ("OFPBAC_", c.name()),
            Self::BadInstruction(c) => ("OFPBIC_", c.name()),
            Self::BadMatch(c) => ("OFPBMC_", c.name()),
            Self::FlowModFailed(c) => ("OFPFMFC_", c.name()),
            Self::GroupModFailed(c) => ("OFPGMFC_", c.name()),
            Self::PortModFailed(c) => ("OFPPMFC_", c.name()),
            Self::TableModFailed(c) => ("OFPTMFC_", c.name()),
            Self::QueueOpFailed(c) => ("OFPQOFC_", c.name()),
            Self::SwitchConfigFailed(c) => ("OFPSCFC_", c.name()),
            Self::RoleRequestFailed(c) => ("OFPRRFC_", c.name()),
            Self::MeterModFailed(c) => ("OFPMMFC_", c.name()),
            Self::TableFeaturesFailed(c) => ("OFPTFFC_", c.name()),
            Self::Experimenter { .. } | Self::Unknown { .. } => return None,
        };
        (name != "OTHER").then(|| format!("{prefix}{}", screaming_snake(name)))
    }

    /// Builds the typed code from a non-experimenter `(type, code)` pair. Type
    /// `0xffff` is not accepted here (its layout differs); it becomes `Unknown`.
    pub const fn from_raw(err_type: u16, code: u16) -> Self {
        use error_type as t;
        match err_type {
            t::HELLO_FAILED => Self::HelloFailed(HelloFailedCode::from_u16(code)),
            t::BAD_REQUEST => Self::BadRequest(BadRequestCode::from_u16(code)),
            t::BAD_ACTION => Self::BadAction(BadActionCode::from_u16(code)),
            t::BAD_INSTRUCTION => Self::BadInstruction(BadInstructionCode::from_u16(code)),
            t::BAD_MATCH => Self::BadMatch(BadMatchCode::from_u16(code)),
            t::FLOW_MOD_FAILED => Self::FlowModFailed(FlowModFailedCode::from_u16(code)),
            t::GROUP_MOD_FAILED => Self::GroupModFailed(GroupModFailedCode::from_u16(code)),
            t::PORT_MOD_FAILED => Self::PortModFailed(PortModFailedCode::from_u16(code)),
            t::TABLE_MOD_FAILED => Self::TableModFailed(TableModFailedCode::from_u16(code)),
            t::QUEUE_OP_FAILED => Self::QueueOpFailed(QueueOpFailedCode::from_u16(code)),
            t::SWITCH_CONFIG_FAILED => {
                Self::SwitchConfigFailed(SwitchConfigFailedCode::from_u16(code))
            }
            t::ROLE_REQUEST_FAILED => {
                Self::RoleRequestFailed(RoleRequestFailedCode::from_u16(code))
            }
            t::METER_MOD_FAILED => Self::MeterModFailed(MeterModFailedCode::from_u16(code)),
            t::TABLE_FEATURES_FAILED => {
                Self::TableFeaturesFailed(TableFeaturesFailedCode::from_u16(code))
            }
            _ => Self::Unknown { err_type, code },
        }
    }

    /// `ofp_error_msg.type`.
    pub const fn err_type(self) -> u16 {
        use error_type as t;
        match self {
            Self::HelloFailed(_) => t::HELLO_FAILED,
            Self::BadRequest(_) => t::BAD_REQUEST,
            Self::BadAction(_) => t::BAD_ACTION,
            Self::BadInstruction(_) => t::BAD_INSTRUCTION,
            Self::BadMatch(_) => t::BAD_MATCH,
            Self::FlowModFailed(_) => t::FLOW_MOD_FAILED,
            Self::GroupModFailed(_) => t::GROUP_MOD_FAILED,
            Self::PortModFailed(_) => t::PORT_MOD_FAILED,
            Self::TableModFailed(_) => t::TABLE_MOD_FAILED,
            Self::QueueOpFailed(_) => t::QUEUE_OP_FAILED,
            Self::SwitchConfigFailed(_) => t::SWITCH_CONFIG_FAILED,
            Self::RoleRequestFailed(_) => t::ROLE_REQUEST_FAILED,
            Self::MeterModFailed(_) => t::METER_MOD_FAILED,
            Self::TableFeaturesFailed(_) => t::TABLE_FEATURES_FAILED,
            Self::Experimenter { .. } => t::EXPERIMENTER,
            Self::Unknown { err_type, .. } => err_type,
        }
    }

    /// `ofp_error_msg.code` (the `exp_code` for experimenter errors).
    pub const fn code(self) -> u16 {
        match self {
            Self::HelloFailed(c) => c.to_u16(),
            Self::BadRequest(c) => c.to_u16(),
            Self::BadAction(c) => c.to_u16(),
            Self::BadInstruction(c) => c.to_u16(),
            Self::BadMatch(c) => c.to_u16(),
            Self::FlowModFailed(c) => c.to_u16(),
            Self::GroupModFailed(c) => c.to_u16(),
            Self::PortModFailed(c) => c.to_u16(),
            Self::TableModFailed(c) => c.to_u16(),
            Self::QueueOpFailed(c) => c.to_u16(),
            Self::SwitchConfigFailed(c) => c.to_u16(),
            Self::RoleRequestFailed(c) => c.to_u16(),
            Self::MeterModFailed(c) => c.to_u16(),
            Self::TableFeaturesFailed(c) => c.to_u16(),
            Self::Experimenter { exp_code, .. } => exp_code,
            Self::Unknown { code, .. } => code,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (ty, name) = match *self {
            Self::HelloFailed(c) => ("HELLO_FAILED", c.name()),
            Self::BadRequest(c) => ("BAD_REQUEST", c.name()),
            Self::BadAction(c) => ("BAD_ACTION", c.name()),
            Self::BadInstruction(c) => ("BAD_INSTRUCTION", c.name()),
            Self::BadMatch(c) => ("BAD_MATCH", c.name()),
            Self::FlowModFailed(c) => ("FLOW_MOD_FAILED", c.name()),
            Self::GroupModFailed(c) => ("GROUP_MOD_FAILED", c.name()),
            Self::PortModFailed(c) => ("PORT_MOD_FAILED", c.name()),
            Self::TableModFailed(c) => ("TABLE_MOD_FAILED", c.name()),
            Self::QueueOpFailed(c) => ("QUEUE_OP_FAILED", c.name()),
            Self::SwitchConfigFailed(c) => ("SWITCH_CONFIG_FAILED", c.name()),
            Self::RoleRequestFailed(c) => ("ROLE_REQUEST_FAILED", c.name()),
            Self::MeterModFailed(c) => ("METER_MOD_FAILED", c.name()),
            Self::TableFeaturesFailed(c) => ("TABLE_FEATURES_FAILED", c.name()),
            Self::Experimenter {
                exp_code,
                experimenter,
            } => {
                return write!(
                    f,
                    "EXPERIMENTER(experimenter={experimenter:#010x}, exp_code={exp_code})"
                );
            }
            Self::Unknown { err_type, code } => {
                return write!(f, "type {err_type}, code {code}");
            }
        };
        write!(f, "{ty}/{name}({})", self.code())
    }
}

/// The part of a message a parse error is about. It decides which `*_BAD_LEN`
/// (or nearest) error code a malformed length maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Element {
    /// The 8-byte `ofp_header` or the message as a whole.
    Message,
    /// A HELLO element.
    HelloElement,
    /// An `ofp_match` structure.
    Match,
    /// One OXM TLV inside a match or a SET_FIELD action.
    Oxm,
    /// An instruction.
    Instruction,
    /// An action.
    Action,
    /// A group bucket.
    Bucket,
    /// A meter band.
    MeterBand,
    /// An `ofp_port` description.
    Port,
    /// A queue description or queue property.
    Queue,
    /// A multipart request or reply body.
    Multipart,
    /// A table-features entry or one of its properties.
    TableFeatures,
    /// An experimenter body (the extension's parsers use this).
    Experimenter,
}

impl Element {
    /// The error a switch sends for a malformed length in this element.
    pub const fn bad_len(self) -> ErrorCode {
        match self {
            Self::Match | Self::Oxm => ErrorCode::BadMatch(BadMatchCode::BadLen),
            Self::Instruction => ErrorCode::BadInstruction(BadInstructionCode::BadLen),
            Self::Action => ErrorCode::BadAction(BadActionCode::BadLen),
            Self::Bucket => ErrorCode::GroupModFailed(GroupModFailedCode::BadBucket),
            Self::MeterBand => ErrorCode::MeterModFailed(MeterModFailedCode::BadBand),
            Self::TableFeatures => ErrorCode::TableFeaturesFailed(TableFeaturesFailedCode::BadLen),
            Self::Message
            | Self::HelloElement
            | Self::Port
            | Self::Queue
            | Self::Multipart
            | Self::Experimenter => ErrorCode::BadRequest(BadRequestCode::BadLen),
        }
    }
}

impl fmt::Display for Element {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Message => "message",
            Self::HelloElement => "hello element",
            Self::Match => "match",
            Self::Oxm => "OXM field",
            Self::Instruction => "instruction",
            Self::Action => "action",
            Self::Bucket => "bucket",
            Self::MeterBand => "meter band",
            Self::Port => "port",
            Self::Queue => "queue",
            Self::Multipart => "multipart body",
            Self::TableFeatures => "table features",
            Self::Experimenter => "experimenter body",
        })
    }
}

/// What went wrong while parsing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// `ofp_header.version` is not 0x04 (HELLO excepted).
    #[error("unsupported version {version:#04x}")]
    BadVersion {
        /// The version byte received.
        version: u8,
    },
    /// `ofp_header.type` is not an OpenFlow 1.3 message type.
    #[error("unknown message type {msg_type}")]
    BadType {
        /// The type byte received.
        msg_type: u8,
    },
    /// A multipart type this codec does not know.
    #[error("unknown multipart type {mp_type:#06x}")]
    BadMultipart {
        /// The multipart type received.
        mp_type: u16,
    },
    /// Fewer bytes than the element's fixed part or declared length needs.
    #[error("{element} truncated: needs {needed} bytes, {available} available")]
    Truncated {
        /// What was being read.
        element: Element,
        /// Bytes needed.
        needed: usize,
        /// Bytes that were there.
        available: usize,
    },
    /// A length field that is inconsistent with the element's layout.
    #[error("{element} declares length {declared}, {reason} (actual {actual})")]
    BadLength {
        /// What carried the length.
        element: Element,
        /// The declared length.
        declared: usize,
        /// The length the layout allows or the bytes that were there.
        actual: usize,
        /// Why the declared length is wrong.
        reason: &'static str,
    },
    /// A value the wire format does not allow, with the exact error to send.
    #[error("invalid {element}: {reason}")]
    Invalid {
        /// What held the value.
        element: Element,
        /// The error a switch must send.
        code: ErrorCode,
        /// Why it is invalid.
        reason: &'static str,
    },
}

/// A parse failure: what was wrong and where.
///
/// While a message is being parsed, `at` counts the bytes *remaining* after the
/// error position (nom parsers only see the rest of their input); the top-level
/// parser turns it into an offset from the message start with
/// [`ParseError::located`]. Offsets reported by [`crate::Message::parse`] are
/// always message offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    kind: ParseErrorKind,
    /// Message type byte, when known.
    msg_type: Option<u8>,
    at: usize,
    located: bool,
}

impl ParseError {
    /// A new error whose position is given as the number of input bytes
    /// remaining where it happened.
    pub fn new(kind: ParseErrorKind, remaining: usize) -> Self {
        Self {
            kind,
            msg_type: None,
            at: remaining,
            located: false,
        }
    }

    /// `Truncated` at the start of `input`.
    pub fn truncated(element: Element, input: &[u8], needed: usize) -> Self {
        Self::new(
            ParseErrorKind::Truncated {
                element,
                needed,
                available: input.len(),
            },
            input.len(),
        )
    }

    /// `Invalid` at the start of `input`.
    pub fn invalid(element: Element, input: &[u8], code: ErrorCode, reason: &'static str) -> Self {
        Self::new(
            ParseErrorKind::Invalid {
                element,
                code,
                reason,
            },
            input.len(),
        )
    }

    /// `BadLength` at the start of `input`.
    pub fn bad_length(
        element: Element,
        input: &[u8],
        declared: usize,
        actual: usize,
        reason: &'static str,
    ) -> Self {
        Self::new(
            ParseErrorKind::BadLength {
                element,
                declared,
                actual,
                reason,
            },
            input.len(),
        )
    }

    /// Converts the remaining-bytes position into an offset from the start of
    /// an input of `total_len` bytes. Idempotent.
    #[must_use]
    pub fn located(mut self, total_len: usize) -> Self {
        if !self.located {
            self.at = total_len.saturating_sub(self.at);
            self.located = true;
        }
        self
    }

    /// Moves an error found in a sub-region so that its position counts the
    /// `after` bytes that follow the region in the enclosing input (a no-op
    /// once located).
    #[must_use]
    pub fn rebased(mut self, after: usize) -> Self {
        if !self.located {
            self.at += after;
        }
        self
    }

    /// Records the message type the error happened in.
    #[must_use]
    pub fn in_message(mut self, msg_type: u8) -> Self {
        self.msg_type.get_or_insert(msg_type);
        self
    }

    /// What was wrong.
    pub fn kind(&self) -> &ParseErrorKind {
        &self.kind
    }

    /// The message type, when the header was readable.
    pub fn msg_type(&self) -> Option<u8> {
        self.msg_type
    }

    /// Byte offset of the error from the start of the message (after
    /// [`ParseError::located`]; before it, the bytes remaining).
    pub fn offset(&self) -> usize {
        self.at
    }

    /// The `ofp_error_msg` type/code a switch must answer with.
    pub fn error_code(&self) -> ErrorCode {
        match self.kind {
            ParseErrorKind::BadVersion { .. } => ErrorCode::BadRequest(BadRequestCode::BadVersion),
            ParseErrorKind::BadType { .. } => ErrorCode::BadRequest(BadRequestCode::BadType),
            ParseErrorKind::BadMultipart { .. } => {
                ErrorCode::BadRequest(BadRequestCode::BadMultipart)
            }
            ParseErrorKind::Truncated { element, .. }
            | ParseErrorKind::BadLength { element, .. } => element.bad_len(),
            ParseErrorKind::Invalid { code, .. } => code,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(t) = self.msg_type {
            write!(f, "{} ", crate::message::msg_type_name(t))?;
        }
        if self.located {
            write!(f, "at offset {}: {}", self.at, self.kind)
        } else {
            write!(f, "{} bytes before the end: {}", self.at, self.kind)
        }
    }
}

impl std::error::Error for ParseError {}

impl<'a> nom::error::ParseError<&'a [u8]> for ParseError {
    fn from_error_kind(input: &'a [u8], _kind: nom::error::ErrorKind) -> Self {
        // nom's own failures are all short reads of a fixed-size field.
        Self::truncated(Element::Message, input, input.len() + 1)
    }

    fn append(_input: &'a [u8], _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

/// How many bytes of an offending message go into an error reply's data.
/// OpenFlow 1.3.5 §7.4.4 asks for "at least 64 bytes"; we send the whole
/// message, up to what fits in one ERROR (65535 bytes minus its 12-byte
/// header), so that a protocol analyzer can decode the embedded request
/// (Wireshark marks a cut-off one malformed) and a controller sees all of it.
pub const ERROR_DATA_LEN: usize = 65535 - 12;

/// The data field of an error reply to `msg`: the message itself, cut to
/// [`ERROR_DATA_LEN`].
pub fn error_data(msg: &[u8]) -> &[u8] {
    &msg[..msg.len().min(ERROR_DATA_LEN)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_names_are_the_openflow_h_constants() {
        assert_eq!(
            ErrorCode::GroupModFailed(GroupModFailedCode::GroupExists)
                .spec_name()
                .as_deref(),
            Some("OFPGMFC_GROUP_EXISTS")
        );
        assert_eq!(
            ErrorCode::HelloFailed(HelloFailedCode::Eperm)
                .spec_name()
                .as_deref(),
            Some("OFPHFC_EPERM")
        );
        assert_eq!(
            ErrorCode::BadRequest(BadRequestCode::IsSlave)
                .spec_name()
                .as_deref(),
            Some("OFPBRC_IS_SLAVE")
        );
        assert_eq!(
            ErrorCode::FlowModFailed(FlowModFailedCode::Other(99)).spec_name(),
            None
        );
        assert_eq!(
            ErrorCode::Experimenter {
                exp_code: 1,
                experimenter: 2
            }
            .spec_name(),
            None
        );
        assert_eq!(screaming_snake("Is12Bits"), "IS12_BITS");
    }

    #[test]
    fn raw_round_trip() {
        for ty in 0..=14u16 {
            for code in 0..=20u16 {
                let c = ErrorCode::from_raw(ty, code);
                assert_eq!((c.err_type(), c.code()), (ty, code));
            }
        }
        assert_eq!(
            ErrorCode::from_raw(1, 6),
            ErrorCode::BadRequest(BadRequestCode::BadLen)
        );
        assert_eq!(
            ErrorCode::from_raw(3, 0),
            ErrorCode::BadInstruction(BadInstructionCode::UnknownInst)
        );
        assert_eq!(
            ErrorCode::from_raw(13, 5),
            ErrorCode::TableFeaturesFailed(TableFeaturesFailedCode::Eperm)
        );
    }

    #[test]
    fn element_bad_len_codes() {
        assert_eq!(Element::Match.bad_len(), ErrorCode::from_raw(4, 1));
        assert_eq!(Element::Action.bad_len(), ErrorCode::from_raw(2, 1));
        assert_eq!(Element::Instruction.bad_len(), ErrorCode::from_raw(3, 7));
        assert_eq!(Element::Message.bad_len(), ErrorCode::from_raw(1, 6));
    }

    #[test]
    fn located_is_idempotent() {
        let e = ParseError::truncated(Element::Action, &[0; 10], 16).located(50);
        assert_eq!(e.offset(), 40);
        assert_eq!(e.clone().located(99).offset(), 40);
        assert_eq!(e.error_code(), ErrorCode::BadAction(BadActionCode::BadLen));
    }

    #[test]
    fn error_data_is_the_message_up_to_the_limit() {
        let msg: Vec<u8> = (0..100).collect();
        assert_eq!(error_data(&msg), &msg[..]);
        let huge = vec![0u8; 70_000];
        assert_eq!(error_data(&huge).len(), ERROR_DATA_LEN);
        assert_eq!(error_data(&msg[..10]), &msg[..10]);
    }
}
