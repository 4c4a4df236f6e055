use std::fmt;

use crate::QuantType;

/// Why a row could not be converted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The row length is not a whole number of blocks.
    NotBlockMultiple {
        /// The format asked for.
        quant: QuantType,
        /// The row length given.
        n: usize,
        /// The format's block size.
        block: usize,
    },
    /// A row index past the end of a matrix.
    RowOutOfRange {
        /// The row asked for.
        row: usize,
        /// Rows in the matrix.
        rows: usize,
    },
    /// Operands whose shapes do not fit together.
    Shape(String),
    /// The byte slice is not the size the row needs.
    WrongLength {
        /// The format asked for.
        quant: QuantType,
        /// Bytes the row needs.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotBlockMultiple { quant, n, block } => write!(
                f,
                "row of {n} values is not a multiple of the {quant:?} block size {block}"
            ),
            Error::RowOutOfRange { row, rows } => {
                write!(f, "row {row} is past the end of a {rows}-row matrix")
            }
            Error::Shape(why) => f.write_str(why),
            Error::WrongLength {
                quant,
                expected,
                got,
            } => write!(f, "{quant:?} row needs {expected} bytes, got {got}"),
        }
    }
}

impl std::error::Error for Error {}
