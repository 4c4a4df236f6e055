//! The one error type of this crate.

use std::fmt;
use std::sync::Arc;

/// What kind of problem it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The GGUF could not be read (the source error has the byte offset).
    Gguf,
    /// The GGUF is not an EmbeddingGemma model, or its keys or tensors are missing or
    /// inconsistent.
    Model,
    /// A tensor type this runtime cannot compute with yet.
    Unsupported,
    /// The input or the options cannot be used (too long with truncation refused,
    /// unknown prompt name, bad dimension).
    Input,
}

/// The cause of an error, from the crate below that found it.
type Source = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// The error type of this crate: a kind, a message that names the key, tensor, text or
/// option concerned, and the error of `gguf-format`, `ggml-quant` or `spm-tokenizer`
/// behind it when there is one ([`std::error::Error::source`]).
///
/// The message does not repeat the source: print the chain (`{:#}` with `anyhow`) to
/// see both.
#[derive(Clone, Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<Source>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// The error `source` met while doing what `message` says.
    pub(crate) fn caused_by(
        kind: ErrorKind,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error {
            kind,
            message: message.into(),
            source: Some(Arc::new(source)),
        }
    }

    /// What kind of problem it is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

pub(crate) fn model_err(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Model, message)
}
