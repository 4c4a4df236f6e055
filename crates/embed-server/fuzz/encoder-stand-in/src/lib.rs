//! The two `gemma_encoder` items embed-server's error type names (`Error` and its
//! `ErrorKind`, for its `From` conversion), so the request-parsing fuzz target compiles
//! that error type without building the model and its kernels. Request parsing never
//! meets a model error, so nothing here is ever constructed.

use std::fmt;

/// Stands in for `gemma_encoder::ErrorKind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The client's input.
    Input,
    /// Anything else.
    Other,
}

/// Stands in for `gemma_encoder::Error`.
#[derive(Debug)]
pub struct Error(ErrorKind);

impl Error {
    /// What kind of problem it is.
    pub fn kind(&self) -> ErrorKind {
        self.0
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl std::error::Error for Error {}
