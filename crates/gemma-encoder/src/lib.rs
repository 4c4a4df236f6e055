//! EmbeddingGemma-300M from GGUF: text in, the vector sentence-transformers gives out.
//!
//! This crate's one job is the model: it opens a `gemma-embedding` GGUF (memory-mapped
//! through `gguf-format`, weights left in their GGUF type), tokenizes with
//! `spm-tokenizer`, runs the transformer with `ggml-quant`'s kernels, mean-pools,
//! applies the Dense layers and normalizes.
//!
//! - [`Embedder`]: [`Embedder::open`] a model, [`Embedder::embed`] texts. It is `Sync`:
//!   share one between threads.
//! - [`EmbedOptions`]: the [`Prompt`], Matryoshka dimension, normalization,
//!   [`Pooling`], truncation and [`Precision`] of one call.
//! - [`Embedding`]: the vector(s) of one text, its token count and how many tokens were
//!   cut.
//! - [`Hparams`]: the model's shape, read from the GGUF's keys ([`keys`] names them).
//! - [`Error`]: the crate's one error type, with an [`ErrorKind`] and the cause from
//!   the crate below.
//!
//! Inside, `model` reads the GGUF into [`Hparams`] and references to the weights,
//! `forward` is the transformer, and [`Embedder`] does the steps around it (prompt,
//! tokens, batches, pooling, Dense layers, Matryoshka, normalization).
//!
//! # Example
//!
//! ```no_run
//! use gemma_encoder::{EmbedOptions, Embedder, Prompt, cosine};
//!
//! fn main() -> Result<(), gemma_encoder::Error> {
//!     let model = Embedder::open("embeddinggemma-300m-q8_0.gguf")?;
//!     let query = model.embed(
//!         &["Which planet is known as the Red Planet?"],
//!         &EmbedOptions::new().prompt(Prompt::Query),
//!     )?;
//!     let docs = model.embed(
//!         &["Mars is often called the Red Planet.", "Venus is the hottest planet."],
//!         &EmbedOptions::new().prompt(Prompt::Document),
//!     )?;
//!     assert_eq!(query[0].vector.len(), 768);
//!     for doc in &docs {
//!         println!("{:.3}", cosine(&query[0].vector, &doc.vector));
//!     }
//!     Ok(())
//! }
//! ```
#![forbid(unsafe_code)]

mod embedder;
mod error;
mod forward;
pub mod keys;
mod model;
mod options;
mod prompts;

pub use embedder::{Embedder, Embedding};
pub use error::{Error, ErrorKind};
pub use keys::ARCHITECTURE;
pub use model::Hparams;
pub use options::{EmbedOptions, MATRYOSHKA_DIMS, Pooling, Precision};
pub use prompts::Prompt;
/// The tokenizer [`Embedder::tokenizer`] returns.
pub use spm_tokenizer::Tokenizer;

/// Cosine similarity of two vectors (f64 sums); 0 when either is all zeros.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x) * f64::from(*x)).sum();
    let nb: f64 = b.iter().map(|x| f64::from(*x) * f64::from(*x)).sum();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    }
}

/// The README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
