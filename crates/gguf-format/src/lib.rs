//! Read and write GGUF, the model file format of ggml and llama.cpp.
//!
//! This crate's one job is the container: it parses a GGUF file's header, metadata and
//! tensor table from borrowed bytes without copying, hands out each tensor's data as a
//! byte slice, and writes new files. It knows every ggml type's block geometry
//! ([`GgmlType`]) so tensor sizes are checked, but holds no quantization code.
//!
//! - [`Gguf`] is a parsed, validated view over bytes; [`Gguf::parse`] builds one.
//! - [`MappedGguf`] memory-maps a file so that only the pages you touch are read.
//! - [`Value`] and [`Array`] are metadata borrowed from the file; [`MetadataValue`]
//!   and [`MetadataArray`] are their owned counterparts for writing.
//! - [`GgufWriter`] streams a GGUF v3 file; [`write_to_vec`] builds one in memory.
//! - [`Error`] is the one error type; its [`ErrorKind`] says what was wrong and
//!   [`Error::offset`] where.
//!
//! Input is treated as hostile: every length is capped ([`Limits`]) and checked against
//! the bytes that remain before anything is allocated, all arithmetic is checked, and a
//! malformed file gives an [`Error`], never a panic.
//!
//! # Example
//!
//! ```
//! use gguf_format::{Gguf, GgmlType, MetadataValue, TensorSpec, write_to_vec};
//!
//! # fn main() -> Result<(), gguf_format::Error> {
//! let weights: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0].iter().flat_map(|x| x.to_le_bytes()).collect();
//! let bytes = write_to_vec(
//!     &[("general.architecture".to_string(), MetadataValue::from("demo"))],
//!     &[(TensorSpec::new("w", GgmlType::F32, &[2, 2]), &weights[..])],
//! )?;
//!
//! let file = Gguf::parse(&bytes)?;
//! assert_eq!(file.get_str("general.architecture")?, "demo");
//! let w = file.tensor("w").unwrap();
//! assert_eq!((w.dims(), w.ggml_type(), w.data()), (&[2u64, 2][..], GgmlType::F32, &weights[..]));
//! # Ok(())
//! # }
//! ```

mod error;
mod mmap;
mod read;
mod types;
mod value;
mod write;

pub use error::{Error, ErrorKind, Result};
pub use mmap::MappedGguf;
pub use read::{Gguf, Limits, TensorInfo};
pub use types::GgmlType;
pub use value::{Array, ArrayIter, MetadataArray, MetadataValue, Value, ValueType};
pub use write::{GgufWriter, TensorSpec, write_to_vec};

/// The alignment of tensor data when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// The most dimensions a ggml tensor has.
pub const MAX_DIMS: usize = 4;
