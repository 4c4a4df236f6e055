use std::fmt;

/// What kind of problem it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The GGUF could not be read (see the message for the byte offset).
    Gguf,
    /// The GGUF is not an EmbeddingGemma model, or its keys or tensors are inconsistent.
    Model,
    /// A tensor type this runtime cannot compute with yet.
    Unsupported,
    /// The input or the options cannot be used (too long with truncation refused,
    /// unknown prompt name, bad dimension).
    Input,
}

/// The error type of this crate: a kind and a message that names the key, tensor,
/// text or option concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
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

impl std::error::Error for Error {}

impl From<gguf_format::Error> for Error {
    fn from(e: gguf_format::Error) -> Self {
        // A missing or mistyped key is the model's problem, not the file format's.
        let kind = match e.kind() {
            gguf_format::ErrorKind::Metadata(_) => ErrorKind::Model,
            _ => ErrorKind::Gguf,
        };
        Error::new(kind, e.to_string())
    }
}

pub(crate) fn model_err(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Model, message)
}
