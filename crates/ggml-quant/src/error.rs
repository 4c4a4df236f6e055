//! The one error type of this crate.

use std::fmt;
use std::sync::Arc;

use gguf_format::GgmlType;

use crate::QuantType;
use crate::simd::SimdPath;

/// What went wrong, without the where (that is in [`Error`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The row length is not a whole number of blocks.
    NotBlockMultiple {
        /// The format asked for.
        quant: QuantType,
        /// The row length given.
        n: usize,
        /// The format's block size.
        block: usize,
    },
    /// The byte slice is not the size the row or matrix needs.
    WrongLength {
        /// The format asked for.
        quant: QuantType,
        /// Bytes needed (`usize::MAX` when the size overflows).
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// A row index past the end of a matrix.
    RowOutOfRange {
        /// The row asked for.
        row: usize,
        /// Rows in the matrix.
        rows: usize,
    },
    /// Operands whose shapes do not fit together (the message says how).
    Shape(String),
    /// A ggml type this crate does not compute with (see [`QuantType`]).
    UnsupportedType(GgmlType),
    /// A name that is not a [`SimdPath`].
    UnknownSimdPath(String),
}

/// An error from this crate: what went wrong ([`ErrorKind`]), what was being done when
/// it is not plain from the call ([`Error::context`]), and the underlying error when
/// there is one ([`std::error::Error::source`]).
///
/// ```
/// use ggml_quant::{ErrorKind, QuantType, dequantize_row};
///
/// let e = dequantize_row(QuantType::Q4_0, &[0; 17], 32).unwrap_err();
/// assert!(matches!(e.kind(), ErrorKind::WrongLength { expected: 18, got: 17, .. }));
/// assert_eq!(e.to_string(), "Q4_0 row needs 18 bytes, got 17");
/// ```
#[derive(Debug, Clone)]
pub struct Error {
    kind: ErrorKind,
    context: Option<String>,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Error {
            kind,
            context: None,
            source: None,
        }
    }

    /// Names what was being done (kept when there is one already: the innermost
    /// context is the most precise).
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

    /// What was being done (a weight row, an environment variable), when there is more
    /// to say than the call that failed.
    pub fn context(&self) -> Option<&str> {
        self.context.as_deref()
    }
}

/// Errors are equal when their kind and context are (the underlying errors are not
/// compared).
impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.context == other.context
    }
}

impl Eq for Error {}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::NotBlockMultiple { quant, n, block } => write!(
                f,
                "row of {n} values is not a multiple of the {quant:?} block size {block}"
            ),
            ErrorKind::WrongLength {
                quant,
                expected,
                got,
            } => write!(f, "{quant:?} row needs {expected} bytes, got {got}"),
            ErrorKind::RowOutOfRange { row, rows } => {
                write!(f, "row {row} is past the end of a {rows}-row matrix")
            }
            ErrorKind::Shape(why) => f.write_str(why),
            ErrorKind::UnsupportedType(t) => {
                write!(f, "ggml type {t} is not one ggml-quant computes with")
            }
            ErrorKind::UnknownSimdPath(name) => {
                let known: Vec<_> = SimdPath::ALL.iter().map(|p| p.name()).collect();
                write!(
                    f,
                    "unknown SIMD path {name:?} (known: {})",
                    known.join(", ")
                )
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if let Some(ctx) = &self.context {
            write!(f, " (in {ctx})")?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_and_source_are_kept() {
        use std::error::Error as _;
        let cause = std::env::VarError::NotPresent;
        let e = Error::new(ErrorKind::UnknownSimdPath("x".into()))
            .with_context("inner")
            .with_context("outer")
            .with_source(cause.clone());
        assert_eq!(e.context(), Some("inner"));
        assert_eq!(e.source().unwrap().to_string(), cause.to_string());
        assert!(e.to_string().ends_with("(in inner)"));
        assert!(Error::new(ErrorKind::Shape("s".into())).source().is_none());
        assert_eq!(
            e,
            Error::new(ErrorKind::UnknownSimdPath("x".into())).with_context("inner")
        );
    }
}
