//! The library behind the `embed` command.
//!
//! - [`convert`]: the Hugging Face safetensors to GGUF converter `embed convert` runs.
//! - [`cache`]: where `cargo xtask fetch-model` caches the model, the CLI's default.
//!
//! # Example
//!
//! ```no_run
//! use embed_cli::convert::{OutType, convert};
//! use std::path::Path;
//!
//! let report = convert(
//!     Path::new("embeddinggemma-300m"),
//!     Path::new("embeddinggemma-300m-q8_0.gguf"),
//!     OutType::Q8_0,
//!     &mut |_progress| {},
//! )?;
//! println!("{} tensors, {} bytes", report.n_tensors, report.file_bytes);
//! # Ok::<(), embed_cli::convert::Error>(())
//! ```
#![forbid(unsafe_code)]

pub mod cache;
pub mod convert;
