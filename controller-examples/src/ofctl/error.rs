//! The one error type of the text syntax layer.

use thiserror::Error;

/// Why a flow, group or meter string was refused.
///
/// Every variant names the offending token exactly as the user wrote it (or
/// the keyword at fault), so the CLI can print the message and exit with
/// status 2, the way `ovs-ofctl` does for a syntax error.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SyntaxError {
    /// A keyword that names no match field, flow parameter or group/meter
    /// parameter (`ovs-ofctl`: "unknown keyword").
    #[error("unknown keyword {token}")]
    UnknownField {
        /// The keyword.
        token: String,
    },
    /// An action or instruction name that is not known.
    #[error("unknown action {token}")]
    UnknownAction {
        /// The action name.
        token: String,
    },
    /// A keyword that needs a value was given without one.
    #[error("{token}: missing value")]
    MissingValue {
        /// The keyword.
        token: String,
    },
    /// A keyword that takes no value was given one.
    #[error("{token}: takes no value")]
    UnexpectedValue {
        /// The `key=value` token.
        token: String,
    },
    /// A value that does not parse, or is out of range for its field.
    #[error("{token}: {why}")]
    BadValue {
        /// The `key=value` token (or just the value).
        token: String,
        /// What was expected.
        why: &'static str,
    },
    /// A match field, or a set-field action, whose prerequisite is missing
    /// from the match (e.g. `tp_dst` without `tcp`/`udp`/`sctp`).
    #[error("{token}: prerequisites not met (needs {needs})")]
    MissingPrerequisite {
        /// The field token.
        token: String,
        /// What the match must contain first.
        needs: &'static str,
    },
    /// The same field, parameter or instruction was given twice with
    /// different values.
    #[error("{token}: given more than once, or conflicts with an earlier field")]
    Conflict {
        /// The second token.
        token: String,
    },
    /// A keyword that is valid syntax but not allowed in this command (e.g.
    /// `out_port` in add-flow, `idle_timeout` in del-flows, a cookie mask
    /// in add-flow).
    #[error("{token}: not allowed in {command}")]
    NotAllowed {
        /// The token.
        token: String,
        /// The command (`add-flow`, `mod-flows`, …).
        command: &'static str,
    },
    /// add-flow and mod-flows need `actions=` (`ovs-ofctl`: "must specify an
    /// action").
    #[error("must specify an action")]
    MissingActions,
    /// A required parameter is missing (e.g. `group_id`, `type`, `meter`).
    #[error("must specify {what}")]
    MissingParameter {
        /// The parameter.
        what: &'static str,
    },
    /// `drop` together with other actions or instructions.
    #[error("\"drop\" must not be accompanied by any other action or instruction")]
    DropNotAlone,
    /// A set-field (or `mod_*` action) on a field that cannot be written.
    #[error("{token}: field is read-only")]
    ReadOnlyField {
        /// The field name.
        token: String,
    },
    /// Syntax `ovs-ofctl` accepts but this switch or tool does not implement
    /// (e.g. the `normal` action: Oko has no L2 learning pipeline).
    #[error("{token}: not supported: {why}")]
    Unsupported {
        /// The token.
        token: String,
        /// Why.
        why: &'static str,
    },
    /// Unbalanced parentheses.
    #[error("{token}: unbalanced parentheses")]
    Unbalanced {
        /// The text from the opening parenthesis on.
        token: String,
    },
}

impl SyntaxError {
    pub(crate) fn bad(token: impl Into<String>, why: &'static str) -> Self {
        Self::BadValue {
            token: token.into(),
            why,
        }
    }
}
