//! EmbeddingGemma's Hugging Face release (safetensors) to GGUF, as llama.cpp makes it.
//!
//! This crate's one job is the conversion llama.cpp's `convert_hf_to_gguf.py
//! --sentence-transformers-dense-modules` does, and `llama-quantize` after it. The output
//! has architecture `gemma-embedding`, the same metadata keys in the same order, the norm
//! weights with Gemma's `+1` baked in, `dense_2.weight` and `dense_3.weight`, and the
//! tokenizer arrays with llama.cpp's token types. For F32, F16, BF16 and Q8_0 every byte
//! is the one llama.cpp's converter writes. The other types are `llama-quantize`'s
//! recipes (Q4_0, Q4_1, Q5_0, Q5_1, Q4_K_S, Q4_K_M, Q5_K_S, Q5_K_M, Q6_K): its type for
//! each tensor, its tensor order and key order, and its quantization without an
//! importance matrix, so the file is the one `llama-quantize` makes from llama.cpp's F32
//! GGUF ([`Options::pure`]: one type for every matrix, as `--pure`).
//!
//! - [`convert`]: a release folder in, a GGUF file out, with [`Progress`] reports along
//!   the way and a [`Report`] at the end. Nothing is left at the output path on error.
//! - [`OutType`]: the output type or recipe; [`Options`]: it and `pure`.
//! - [`temp_path`]: the temporary name the output is written under before the rename.
//! - [`Error`] / [`ErrorKind`]: what stopped a conversion, the file and tensor, and the
//!   cause.
//!
//! Inside, one module per step: the release's config files (`config`), the safetensors
//! reader (`safetensors_file`: headers checked, data read a batch at a time, not mapped,
//! so resident memory stays bounded), the tensor-name map (`names`), the per-tensor type
//! rules (`recipe`), the metadata and tokenizer keys (`metadata`, `tokenizer`), and the
//! writer (`write`: rows quantized in parallel with rayon by `ggml-quant`, written by
//! `gguf-format`'s streaming writer). Key and tensor names are `gemma_encoder::keys`',
//! the ones the encoder reads.
//!
//! # Example
//!
//! ```no_run
//! use gemma_convert::{Options, OutType, convert};
//! use std::path::Path;
//!
//! let report = convert(
//!     Path::new("embeddinggemma-300m"),
//!     Path::new("embeddinggemma-300m-q4_k_m.gguf"),
//!     Options::new(OutType::Q4_K_M),
//!     &mut |p| eprint!("\r{} / {} bytes", p.done, p.total),
//! )?;
//! println!("{} tensors, {} keys, {} bytes", report.n_tensors, report.n_keys, report.file_bytes);
//! # Ok::<(), gemma_convert::Error>(())
//! ```
#![forbid(unsafe_code)]

mod config;
mod error;
mod metadata;
mod names;
mod out_type;
mod plan;
mod recipe;
mod safetensors_file;
#[cfg(test)]
mod tests;
mod tokenizer;
mod write;

use std::fs;
use std::path::{Path, PathBuf};

pub use error::{Error, ErrorKind, Result};
pub use out_type::{Options, OutType};

use plan::Plan;

/// Progress of a conversion, reported after each batch of rows.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Progress<'a> {
    /// The GGUF name of the tensor being written.
    pub tensor: &'a str,
    /// Source bytes converted so far (as f32: 4 bytes a value).
    pub done: u64,
    /// Source bytes in all.
    pub total: u64,
}

/// What a finished conversion wrote.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Report {
    /// Tensors written.
    pub n_tensors: usize,
    /// Metadata keys written.
    pub n_keys: usize,
    /// Bytes in the output file.
    pub file_bytes: u64,
}

/// Converts the sentence-transformers release in `hf_dir` to a GGUF at `out`.
///
/// The release is read and checked whole (configs, tensor names and shapes, tokenizer)
/// before the output is created; the GGUF is written to [`temp_path`]`(out)` and renamed
/// over `out` when complete. `progress` is called after every batch of rows. On error
/// nothing is left at `out` (nor any temporary file).
pub fn convert(
    hf_dir: &Path,
    out: &Path,
    opts: impl Into<Options>,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Report> {
    let plan = Plan::read(hf_dir, opts.into())?;
    let tmp = temp_path(out);
    let written = plan.write(&tmp, progress).and_then(|report| {
        fs::rename(&tmp, out).map_err(|e| Error::io(out, e))?;
        Ok(report)
    });
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// The temporary name a conversion writes `out` under (`OUT.tmp-PID`), renamed over
/// `out` when complete. Other writers of whole files (the `embed` CLI's outputs) use it
/// too, so an interrupted run leaves one recognizable kind of leftover.
///
/// ```
/// use std::path::Path;
///
/// let tmp = gemma_convert::temp_path(Path::new("out/model.gguf"));
/// assert_eq!(tmp, Path::new(&format!("out/model.gguf.tmp-{}", std::process::id())));
/// ```
pub fn temp_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    out.with_file_name(name)
}

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
