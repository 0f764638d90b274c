//! What can go wrong talking to an ODCS server.

use thiserror::Error;

/// A failed client operation; every variant renders as one line a person can act on.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server answered with an error (its JSON `status`, `error` and `message`).
    #[error("{status} {error}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Short error name, e.g. `Not Found`.
        error: String,
        /// The server's explanation.
        message: String,
    },
    /// The server could not be reached or the connection broke.
    #[error("cannot reach {url}: {reason}")]
    Unreachable {
        /// What was requested.
        url: String,
        /// The transport error.
        reason: String,
        /// Whether the request may have reached the server (false: no connection was made,
        /// so sending it again cannot do anything twice).
        request_sent: bool,
    },
    /// The server answered with something that is not what the API promises.
    #[error("unexpected answer from {url}: {reason}")]
    Decode {
        /// What was requested.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// The compose did not finish in time.
    #[error("compose {id} did not finish within {seconds} seconds (last state: {state})")]
    Timeout {
        /// The compose.
        id: odcs_common::compose::ComposeId,
        /// The time allowed.
        seconds: u64,
        /// Its state when time ran out.
        state: String,
    },
    /// The message broker could not be used for waiting.
    #[error("cannot wait on messages from {url}: {reason}")]
    Broker {
        /// The broker URL (credentials removed).
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The client cannot prove who it is (no Kerberos ticket, a keytab without the principal),
    /// or the server could not prove who it is.
    #[error("cannot log in: {0}")]
    Login(String),
    /// The client is misconfigured (bad URL, unreadable certificate or token file).
    #[error("{0}")]
    Config(String),
}

impl ClientError {
    /// The HTTP status of an API error, if this is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}
