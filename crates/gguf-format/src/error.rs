//! The one error type of this crate.

use std::fmt;
use std::sync::Arc;

use crate::GgmlType;

/// What went wrong, without the where (that is in [`Error`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file does not start with `GGUF`.
    BadMagic([u8; 4]),
    /// The version field reads as a byte-swapped small number.
    BigEndian,
    /// A version other than 2 or 3.
    UnsupportedVersion(u32),
    /// The bytes end before a field does.
    UnexpectedEof {
        /// Bytes the field needs.
        needed: u64,
        /// Bytes left in the file.
        available: u64,
    },
    /// A count or length above what this reader accepts or the file could hold.
    TooLarge {
        /// What was counted (`"string length"`, `"tensor count"`...).
        what: &'static str,
        /// The value in the file.
        value: u64,
        /// The largest value accepted there.
        limit: u64,
    },
    /// A string is not valid UTF-8.
    InvalidUtf8,
    /// A metadata value type id outside the spec.
    UnknownValueType(u32),
    /// A bool byte other than 0 or 1.
    InvalidBool(u8),
    /// Arrays nested deeper than the reader's limit.
    NestingTooDeep(u32),
    /// A tensor type id that is unknown or removed from ggml.
    UnknownGgmlType(u32),
    /// A tensor with more than 4 dimensions.
    TooManyDims(u32),
    /// A tensor whose first dimension is not a whole number of blocks of its type.
    NotBlockMultiple {
        /// The tensor's type.
        ggml_type: GgmlType,
        /// Its first dimension.
        ne0: u64,
    },
    /// A size or offset computation overflowed.
    Overflow,
    /// The same metadata key twice.
    DuplicateKey(String),
    /// The same tensor name twice.
    DuplicateTensor(String),
    /// `general.alignment` is not a non-zero power of two `u32`.
    BadAlignment(String),
    /// A tensor's data offset is not a multiple of the alignment.
    MisalignedTensor {
        /// The offset, relative to the data section.
        offset: u64,
        /// The alignment in force.
        alignment: u64,
    },
    /// A tensor's data runs past the end of the file.
    TensorOutOfBounds {
        /// Where its data ends, relative to the data section.
        end: u64,
        /// How long the data section is.
        data_len: u64,
    },
    /// Two tensors' data ranges overlap.
    TensorsOverlap(String),
    /// A metadata key is missing or has another type than asked for.
    Metadata(String),
    /// A writer was given inconsistent input.
    InvalidInput(String),
    /// Reading, mapping or writing the file failed; the message is the I/O error's, and
    /// [`std::error::Error::source`] gives the [`std::io::Error`] itself.
    Io(String),
}

/// An error from reading or writing GGUF: what was wrong ([`ErrorKind`]), the byte
/// offset in the file where it was found, the metadata key, tensor or path it concerns,
/// and the underlying error when there is one ([`std::error::Error::source`]: the
/// [`std::io::Error`] of a failed open, map or write, the [`std::str::Utf8Error`] of a
/// string that is not UTF-8).
///
/// Two errors are equal when their kind, offset and context are; the source is not
/// compared.
#[derive(Clone, Debug)]
pub struct Error {
    kind: ErrorKind,
    offset: Option<u64>,
    context: Option<String>,
    source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Error {
            kind,
            offset: None,
            context: None,
            source: None,
        }
    }

    pub(crate) fn at(kind: ErrorKind, offset: u64) -> Self {
        Error {
            offset: Some(offset),
            ..Error::new(kind)
        }
    }

    /// An [`ErrorKind::Io`] error keeping `e` as its source.
    pub(crate) fn io(e: std::io::Error) -> Self {
        Error::new(ErrorKind::Io(e.to_string())).with_source(e)
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

    /// The byte offset in the file where the problem was found, when it concerns a place.
    pub fn offset(&self) -> Option<u64> {
        self.offset
    }

    /// The metadata key, tensor name or file path concerned, when there is one.
    pub fn context(&self) -> Option<&str> {
        self.context.as_deref()
    }
}

impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        (&self.kind, self.offset, &self.context) == (&other.kind, other.offset, &other.context)
    }
}

impl Eq for Error {}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ErrorKind::*;
        match self {
            BadMagic(m) => write!(
                f,
                "not a GGUF file (magic bytes {m:02x?}, expected \"GGUF\")"
            ),
            BigEndian => f.write_str("big-endian GGUF is not supported"),
            UnsupportedVersion(v) => write!(f, "unsupported GGUF version {v} (2 and 3 are)"),
            UnexpectedEof { needed, available } => write!(
                f,
                "unexpected end of file: needed {needed} bytes, {available} left"
            ),
            TooLarge { what, value, limit } => {
                write!(f, "{what} {value} is too large (at most {limit})")
            }
            InvalidUtf8 => f.write_str("string is not valid UTF-8"),
            UnknownValueType(t) => write!(f, "unknown metadata value type {t}"),
            InvalidBool(b) => write!(f, "bool value {b} is neither 0 nor 1"),
            NestingTooDeep(d) => write!(f, "arrays nested deeper than {d} levels"),
            UnknownGgmlType(t) => write!(f, "unknown or removed ggml type id {t}"),
            TooManyDims(n) => write!(f, "tensor has {n} dimensions (at most 4)"),
            NotBlockMultiple { ggml_type, ne0 } => write!(
                f,
                "first dimension {ne0} is not a multiple of the {ggml_type} block size {}",
                ggml_type.block_size()
            ),
            Overflow => f.write_str("size or offset overflows"),
            DuplicateKey(k) => write!(f, "duplicate metadata key {k:?}"),
            DuplicateTensor(t) => write!(f, "duplicate tensor name {t:?}"),
            BadAlignment(why) => write!(f, "bad general.alignment: {why}"),
            MisalignedTensor { offset, alignment } => write!(
                f,
                "tensor data offset {offset} is not a multiple of the alignment {alignment}"
            ),
            TensorOutOfBounds { end, data_len } => write!(
                f,
                "tensor data ends at {end}, past the {data_len}-byte data section"
            ),
            TensorsOverlap(other) => write!(f, "tensor data overlaps tensor {other:?}"),
            Metadata(why) => f.write_str(why),
            InvalidInput(why) => f.write_str(why),
            Io(why) => write!(f, "i/o error: {why}"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A cause kept as `source()` is not repeated here: error reporters (anyhow's
        // `{:#}`, `Report`) print the chain, and would print it twice.
        match &self.kind {
            ErrorKind::Io(_) if self.source.is_some() => f.write_str("gguf: i/o error")?,
            kind => write!(f, "gguf: {kind}")?,
        }
        if let Some(ctx) = &self.context {
            write!(f, " (in {ctx})")?;
        }
        if let Some(off) = self.offset {
            write!(f, " at byte {off}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::io(e)
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
