//! Where the real model lives, shared by every test binary that needs it and by xtask
//! (`#[path = ".../testdata/model_paths.rs"] mod model_paths;`), so the rule is written once.
//!
//! The cache folder is `$EMBEDDINGGEMMA_CACHE` when set, else
//! `$XDG_CACHE_HOME/embeddinggemma-rs`, else `~/.cache/embeddinggemma-rs`.
//! `cargo xtask fetch-model` fills it.
#![allow(dead_code)]

use std::io::Write;
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

/// The GGUF of type `ty` (`f32`, `q8_0`, ...) made by `cargo xtask fetch-model`.
pub fn gguf(ty: &str) -> PathBuf {
    cache_dir().join(format!("embeddinggemma-300m-{ty}.gguf"))
}

/// `path` if it exists. Otherwise, under `CI=true`, a panic (CI must run the real-model
/// tests); elsewhere a note on stderr naming the skipped test and how to enable it.
pub fn require(path: PathBuf, test: &str) -> Option<PathBuf> {
    if path.exists() {
        return Some(path);
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(
        !ci,
        "{test}: {} is missing and CI=true: the real-model tests must run in CI (run `cargo xtask fetch-model`)",
        path.display()
    );
    // Written to the stderr handle directly so the test harness does not capture it.
    let _ = writeln!(
        std::io::stderr(),
        "skipped {test}: {} not found; run `cargo xtask fetch-model` (or set {CACHE_ENV}) to enable it",
        path.display()
    );
    None
}
