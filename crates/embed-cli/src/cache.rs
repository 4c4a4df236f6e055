//! Where `cargo xtask fetch-model` caches the model, and so where `embed` looks for one
//! when neither `--model` nor `EMBED_MODEL` names it.
//!
//! The folder is `$EMBEDDINGGEMMA_CACHE` when set, else `$XDG_CACHE_HOME/embeddinggemma-rs`,
//! else `~/.cache/embeddinggemma-rs`. (The tests and xtask include this file too, so the
//! rule is written once.)
#![allow(dead_code)]

use std::path::PathBuf;

/// The environment variable that overrides the cache folder.
pub const CACHE_ENV: &str = "EMBEDDINGGEMMA_CACHE";

/// The cache folder.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os(CACHE_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("embeddinggemma-rs")
}

/// The Hugging Face release (safetensors, tokenizer.model, 2_Dense/, 3_Dense/).
pub fn release_dir() -> PathBuf {
    cache_dir().join("embeddinggemma-300m")
}

/// The cached GGUF of type `ty` (`f32`, `q8_0`, ...).
pub fn gguf(ty: &str) -> PathBuf {
    cache_dir().join(format!("embeddinggemma-300m-{ty}.gguf"))
}
