//! Where the real model lives, for every test and bench that needs it. The cache rule
//! itself is the `embeddinggemma-cache` crate's, the one the CLI and xtask use.

use std::io::Write;
use std::path::PathBuf;

pub use embeddinggemma_cache::{CACHE_ENV, cache_dir, gguf, release_dir};

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
