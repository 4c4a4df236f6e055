//! The one error type of this crate.

use std::fmt;
use std::path::{Path, PathBuf};

/// What kind of problem stopped a conversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A file of the release is missing or unreadable.
    Io,
    /// A config file is not JSON, is missing a key, or has a value that cannot be right.
    Config,
    /// The release is not an EmbeddingGemma (Gemma3TextModel) model.
    Architecture,
    /// A tensor is missing, unexpected, of an unsupported dtype, or of the wrong shape.
    Tensor,
    /// A safetensors file is malformed or truncated.
    Safetensors,
    /// `tokenizer.model` or the tokenizer configs are malformed.
    Tokenizer,
    /// Writing the GGUF failed.
    Write,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Io => "i/o error",
            ErrorKind::Config => "bad config",
            ErrorKind::Architecture => "not an EmbeddingGemma release",
            ErrorKind::Tensor => "bad tensor",
            ErrorKind::Safetensors => "bad safetensors file",
            ErrorKind::Tokenizer => "bad tokenizer",
            ErrorKind::Write => "cannot write the GGUF",
        })
    }
}

type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A conversion error: its kind, the file and (where there is one) the tensor it
/// concerns, and the error that caused it.
///
/// `Display` gives the file and what is wrong with it; the cause (an `io::Error`, a JSON,
/// GGUF or tokenizer error) is [`source`](std::error::Error::source), so a printer of the
/// whole chain (anyhow's `{:#}`) shows each once: `…/config.json: No such file or
/// directory (os error 2)`.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    path: Option<PathBuf>,
    tensor: Option<String>,
    message: Option<String>,
    source: Option<Cause>,
}

impl Error {
    /// An error of `kind` saying `message`.
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            path: None,
            tensor: None,
            message: Some(message.into()),
            source: None,
        }
    }

    /// An error of `kind` whose cause says what is wrong.
    pub(crate) fn caused_by(kind: ErrorKind, cause: impl Into<Cause>) -> Self {
        Error {
            kind,
            path: None,
            tensor: None,
            message: None,
            source: Some(cause.into()),
        }
    }

    /// Reading or writing `path` failed with `e`.
    pub(crate) fn io(path: &Path, e: std::io::Error) -> Self {
        Error::caused_by(ErrorKind::Io, e).at(path)
    }

    /// The error concerns the file `path`.
    pub(crate) fn at(mut self, path: &Path) -> Self {
        self.path = Some(path.to_path_buf());
        self
    }

    /// The error was caused by `cause` (after what the message says).
    pub(crate) fn because(mut self, cause: impl Into<Cause>) -> Self {
        self.source = Some(cause.into());
        self
    }

    /// The error concerns the tensor `name` (its name in the file the error is about).
    pub(crate) fn in_tensor(mut self, name: &str) -> Self {
        self.tensor = Some(name.to_string());
        self
    }

    /// What kind of problem it is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The file the problem is in, when it concerns one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The tensor the problem is with, when it concerns one.
    pub fn tensor(&self) -> Option<&str> {
        self.tensor.as_deref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.path, &self.message) {
            (Some(p), Some(m)) => write!(f, "{}: {m}", p.display()),
            (Some(p), None) => write!(f, "{}", p.display()),
            (None, Some(m)) => f.write_str(m),
            (None, None) => write!(f, "{}", self.kind),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// The result of this crate's operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn display_names_the_file_and_source_keeps_the_cause() {
        let cause = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let e = Error::io(Path::new("/r/config.json"), cause);
        assert_eq!(e.kind(), ErrorKind::Io);
        assert_eq!(e.to_string(), "/r/config.json");
        assert_eq!(e.source().map(|s| s.to_string()).as_deref(), Some("gone"));
        let e = Error::new(ErrorKind::Tensor, "missing tensor x")
            .at(Path::new("m.safetensors"))
            .in_tensor("x");
        assert_eq!(e.to_string(), "m.safetensors: missing tensor x");
        assert_eq!(
            (e.tensor(), e.path()),
            (Some("x"), Some(Path::new("m.safetensors")))
        );
        assert!(e.source().is_none());
    }

    #[test]
    fn errors_cross_threads() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<Error>();
    }
}
