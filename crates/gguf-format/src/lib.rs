//! Read and write GGUF, the model file format of ggml and llama.cpp.
//!
//! This crate's one job is the container: it parses a GGUF file's header, metadata and
//! tensor table from borrowed bytes without copying, hands out each tensor's data as a
//! byte slice, and writes new files. It knows every ggml type's block geometry
//! ([`GgmlType`]) so tensor sizes are checked, but holds no quantization code.
//!
//! - [`Gguf`] is a parsed, validated view over bytes; [`Gguf::parse`] builds one. It
//!   hands out metadata by key ([`Gguf::get`], [`Gguf::get_str`], ...) and tensors by
//!   name ([`Gguf::tensor`]), each a [`TensorInfo`] whose [`data`](TensorInfo::data)
//!   borrows the bytes.
//! - [`MappedGguf`] memory-maps a file so that only the pages you touch are read; its
//!   [`parse`](MappedGguf::parse) gives a [`Gguf`] borrowing the map. The file must not
//!   be truncated or modified while mapped (see [`MappedGguf`]).
//! - [`Value`] and [`Array`] are metadata borrowed from the file; [`MetadataValue`]
//!   and [`MetadataArray`] are their owned counterparts for writing.
//! - [`GgufWriter`] streams a GGUF v3 file, tensor by tensor, from [`TensorSpec`]s;
//!   [`write_to_vec`] builds one in memory.
//! - [`Error`] is the one error type; its [`ErrorKind`] says what was wrong,
//!   [`Error::offset`] where, [`Error::context`] which key, tensor or path, and
//!   [`std::error::Error::source`] gives the I/O or UTF-8 error underneath.
//!
//! Input is treated as hostile: every length is capped ([`Limits`]) and checked against
//! the bytes that remain before anything is allocated, all arithmetic is checked, and a
//! malformed file gives an [`Error`], never a panic.
//!
//! # Example
//!
//! Write a small file in memory, then read it back:
//!
//! ```
//! use gguf_format::{GgmlType, Gguf, MetadataValue, TensorSpec, write_to_vec};
//!
//! fn main() -> Result<(), gguf_format::Error> {
//!     let weights: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0]
//!         .iter()
//!         .flat_map(|x| x.to_le_bytes())
//!         .collect();
//!     let bytes = write_to_vec(
//!         &[("general.architecture".to_string(), MetadataValue::from("demo"))],
//!         &[(TensorSpec::new("w", GgmlType::F32, &[2, 2]), &weights[..])],
//!     )?;
//!
//!     let file = Gguf::parse(&bytes)?;
//!     assert_eq!(file.get_str("general.architecture")?, "demo");
//!     let w = file.tensor("w").expect("the tensor just written");
//!     assert_eq!(w.dims(), [2, 2]);
//!     assert_eq!(w.ggml_type(), GgmlType::F32);
//!     assert_eq!(w.data(), weights);
//!     Ok(())
//! }
//! ```
// The one `unsafe` block maps a file; it lives in `mmap`, the only module allowed one.
#![deny(unsafe_code)]

mod error;
#[allow(unsafe_code)]
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

// The README's examples, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
