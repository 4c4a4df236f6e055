//! The crate's one error type: starting the server, and every refusal a request can get.
//! Each route family renders a refusal in its own shape (see `http::family`); the kind
//! decides the HTTP status.

use std::fmt;

/// What kind of problem it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The address could not be bound, or the listener failed.
    Bind,
    /// The model could not be opened or warmed up.
    Model,
    /// The configuration is inconsistent (a zero limit, an empty API key).
    Config,
    /// The async runtime, the engine thread or the compute threads could not start.
    Runtime,
    /// The request is not valid: malformed JSON, a wrong type, an unknown prompt or
    /// dimension, a token id outside the vocabulary.
    InvalidRequest,
    /// The request has no input.
    EmptyInput,
    /// An input is longer than the per-input limit and truncation is off.
    InputTooLong,
    /// More inputs in one request than allowed.
    TooManyInputs,
    /// The body, or the request's tokens, exceed what the server ever accepts (413).
    PayloadTooLarge,
    /// No valid API key (401).
    Unauthorized,
    /// The queue is full for now: try again after [`Error::retry_after`] seconds (429).
    Overloaded,
    /// The server cannot answer now: the model is loading or failed, the server is
    /// draining, or the request waited past its queue deadline (503).
    Unavailable,
    /// The client took longer than the server allows to send its request (408).
    RequestTimeout,
    /// A route that does not exist (404).
    NotFound,
    /// A route that exists, called with another method (405).
    MethodNotAllowed,
    /// The engine failed on a valid request (500): a bug, reported as such.
    Internal,
}

/// The error type of this crate: a kind, a message for the user, and the cause.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    retry_after: Option<u64>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            retry_after: None,
            source: None,
        }
    }

    pub(crate) fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    pub(crate) fn overloaded(message: impl Into<String>, retry_after_secs: u64) -> Self {
        let mut e = Error::new(ErrorKind::Overloaded, message);
        e.retry_after = Some(retry_after_secs.max(1));
        e
    }

    /// What kind of problem it is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// For [`ErrorKind::Overloaded`]: the seconds a client should wait before retrying
    /// (sent as `Retry-After`).
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    /// The message alone, without the cause.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The message and every cause after it, `: `-separated: what a client is told.
    pub(crate) fn detail(&self) -> String {
        let mut out = self.message.clone();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            out += ": ";
            out += &c.to_string();
            cause = c.source();
        }
        out
    }
}

/// The message only: the cause is [`std::error::Error::source`], for reporters that
/// walk the chain.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

impl From<gemma_encoder::Error> for Error {
    /// The encoder's input errors (unknown prompt, bad dimension, too long) are the
    /// client's; anything else is the model's.
    fn from(e: gemma_encoder::Error) -> Self {
        match e.kind() {
            gemma_encoder::ErrorKind::Input => {
                Error::new(ErrorKind::InvalidRequest, "invalid input").with_source(e)
            }
            _ => Error::new(ErrorKind::Model, "the model failed").with_source(e),
        }
    }
}
