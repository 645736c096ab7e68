//! The one error type of the UI's server functions. It carries a short message meant for the person
//! using the page; database and I/O details stay in the server's log.
use serde::{Deserialize, Serialize};
use server_fn::codec::JsonEncoding;
use server_fn::error::{FromServerFnError, ServerFnErrorErr};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// No session, or it expired: the page offers to log in again and keeps what is being edited.
    #[error("You are not logged in, or your session has expired.")]
    NotAuthenticated,
    /// A missing or wrong CSRF token, or an action this session may not take.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// Bad input: an empty title, a move into the note's own subtree, …
    #[error("{0}")]
    Invalid(String),
    /// The note changed since the page loaded it (another tab, another instance through sync).
    #[error("{0}")]
    Stale(String),
    /// Something failed on the server; the details are in its log.
    #[error("{0}")]
    Server(String),
    /// The request did not reach the server, or its answer did not come back.
    #[error("Could not reach the server: {0}")]
    Network(String),
}

impl AppError {
    /// The HTTP status a server function answers with for this error.
    pub fn status(&self) -> u16 {
        match self {
            AppError::NotAuthenticated => 401,
            AppError::Forbidden(_) => 403,
            AppError::NotFound(_) => 404,
            AppError::Invalid(_) => 400,
            AppError::Stale(_) => 409,
            AppError::Server(_) => 500,
            AppError::Network(_) => 502,
        }
    }

    /// Whether retrying the same call later may succeed (a save keeps retrying these).
    pub fn is_transient(&self) -> bool {
        matches!(self, AppError::Network(_) | AppError::Server(_))
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Request(message) => AppError::Network(message),
            // A body that is not one of ours (a proxy's error page, a server that went away mid-answer).
            ServerFnErrorErr::Deserialization(message) | ServerFnErrorErr::Response(message) => AppError::Network(message),
            other => AppError::Server(other.to_string()),
        }
    }
}
