//! The one error type of this crate.

use std::fmt;
use std::sync::Arc;

/// What went wrong, without the where (that is in [`Error`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A vocabulary or model file that cannot be used.
    InvalidModel(String),
    /// Input bytes that are not UTF-8.
    InvalidUtf8 {
        /// Offset of the first byte that is not valid.
        offset: usize,
    },
    /// An id outside the vocabulary, at `index` in the input.
    UnknownId {
        /// The id.
        id: u32,
        /// Its position in the ids given.
        index: usize,
        /// The vocabulary size.
        vocab_size: usize,
    },
}

/// An error from building a tokenizer or from encoding or decoding: what was wrong
/// ([`ErrorKind`]), what was being read when it concerns a file (`tokenizer.model`), and
/// the underlying error when there is one ([`std::error::Error::source`]: the
/// [`std::str::Utf8Error`] of input or a piece that is not UTF-8).
///
/// Two errors are equal when their kind and context are; the source is not compared.
#[derive(Clone, Debug)]
pub struct Error {
    kind: ErrorKind,
    context: Option<String>,
    source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Error {
            kind,
            context: None,
            source: None,
        }
    }

    pub(crate) fn with_context(mut self, context: impl Into<String>) -> Self {
        if self.context.is_none() {
            self.context = Some(context.into());
        }
        self
    }

    pub(crate) fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// What was being read (`tokenizer.model`), when the error concerns a file.
    pub fn context(&self) -> Option<&str> {
        self.context.as_deref()
    }
}

impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        (&self.kind, &self.context) == (&other.kind, &other.context)
    }
}

impl Eq for Error {}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::InvalidModel(why) => f.write_str(why),
            ErrorKind::InvalidUtf8 { offset } => {
                write!(f, "input is not valid UTF-8 at byte {offset}")
            }
            ErrorKind::UnknownId {
                id,
                index,
                vocab_size,
            } => write!(
                f,
                "token {index}: id {id} is outside the {vocab_size}-token vocabulary"
            ),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(ctx) = &self.context {
            write!(f, "{ctx}: ")?;
        }
        write!(f, "{}", self.kind)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
