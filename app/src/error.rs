//! The one error type of the UI's server functions. It carries a short message meant for the person
//! using the page; database and I/O details stay in the server's log.
use serde::{Deserialize, Serialize};
use server_fn::codec::JsonEncoding;
use server_fn::{Bytes, Encodes};
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

/// Longest message an error answer carries; a longer one (an echoed value of a hostile request) keeps
/// its beginning and its end, which says what to do.
const MAX_MESSAGE_CHARS: usize = 600;

/// `message` fit to show a person, on a page, in a log or in a terminal: control characters (of an
/// echoed value) written as escapes, and a message of thousands of characters cut in the middle.
pub fn printable(message: &str) -> String {
    let escape = |c: char| if c.is_control() && !matches!(c, '\n' | '\t') { c.escape_unicode().to_string() } else { c.to_string() };
    let count = message.chars().count();
    if count <= MAX_MESSAGE_CHARS {
        return message.chars().map(escape).collect();
    }
    let half = MAX_MESSAGE_CHARS / 2;
    let head: String = message.chars().take(half).map(escape).collect();
    let tail: String = message.chars().skip(count - half).map(escape).collect();
    format!("{head} … ({} characters left out) … {tail}", count - 2 * half)
}

impl AppError {
    /// The same error with its message [`printable`].
    fn printable(&self) -> AppError {
        match self {
            AppError::NotAuthenticated => AppError::NotAuthenticated,
            AppError::Forbidden(m) => AppError::Forbidden(printable(m)),
            AppError::NotFound(m) => AppError::NotFound(printable(m)),
            AppError::Invalid(m) => AppError::Invalid(printable(m)),
            AppError::Stale(m) => AppError::Stale(printable(m)),
            AppError::Server(m) => AppError::Server(printable(m)),
            AppError::Network(m) => AppError::Network(printable(m)),
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            // On the server: a call whose arguments do not decode (a field missing or of another type,
            // a body that is not UTF-8) is the caller's mistake, refused before the function runs.
            #[cfg(feature = "ssr")]
            ServerFnErrorErr::Args(message) | ServerFnErrorErr::MissingArg(message) | ServerFnErrorErr::Deserialization(message) => {
                AppError::Invalid(format!("The request's arguments are not valid: {message}"))
            }
            ServerFnErrorErr::Request(message) => AppError::Network(message),
            // In the browser: a body that is not one of ours (a proxy's error page, a server that went
            // away mid-answer).
            #[cfg(not(feature = "ssr"))]
            ServerFnErrorErr::Deserialization(message) => AppError::Network(message),
            ServerFnErrorErr::Response(message) => AppError::Network(message),
            other => AppError::Server(other.to_string()),
        }
    }

    fn ser(&self) -> Bytes {
        // Encoding an enum of strings cannot fail.
        Self::Encoder::encode(&self.printable()).unwrap_or_default()
    }
}
