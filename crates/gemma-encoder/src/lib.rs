//! The EmbeddingGemma-300M forward pass from GGUF.
//!
//! Work in progress: the encoder lands with its own issue; this crate currently only
//! reserves its place in the workspace and fixes its dependencies.
#![forbid(unsafe_code)]

pub use ggml_quant;
pub use gguf_format;
pub use spm_tokenizer;
