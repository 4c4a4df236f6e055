use std::fmt;

/// What went wrong.
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
    /// An input longer than allowed, when truncation was refused.
    TooLong {
        /// Tokens the input needs.
        tokens: usize,
        /// The maximum allowed.
        max: usize,
    },
}

/// The error type of this crate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Error { kind }
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
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
            ErrorKind::TooLong { tokens, max } => {
                write!(f, "input is {tokens} tokens, more than the {max} allowed")
            }
        }
    }
}

impl std::error::Error for Error {}
