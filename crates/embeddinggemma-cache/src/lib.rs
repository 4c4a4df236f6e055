#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use std::path::PathBuf;

/// The environment variable that overrides the cache folder.
pub const CACHE_ENV: &str = "EMBEDDINGGEMMA_CACHE";

/// The name of the release folder and the stem of the GGUF files.
pub const MODEL_STEM: &str = "embeddinggemma-300m";

/// The cache folder (see the crate docs for the rule).
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

/// The Hugging Face release (safetensors, `tokenizer.model`, `2_Dense/`, `3_Dense/`).
pub fn release_dir() -> PathBuf {
    cache_dir().join(MODEL_STEM)
}

/// The cached GGUF of type `ty` (`f32`, `q8_0`, ...), as the converter names it.
pub fn gguf(ty: &str) -> PathBuf {
    cache_dir().join(format!("{MODEL_STEM}-{ty}.gguf"))
}
