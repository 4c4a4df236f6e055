//! Helpers for the workspace's tests, benches and xtask that need data the published
//! crates do not ship: the shared reference set in `testdata/` and the real model.
//!
//! - [`testdata`]: the path of a file in `testdata/`.
//! - [`model_paths`]: where the cached model is; [`model_paths::require`] skips a test
//!   without it, or fails under `CI=true`.
//! - [`manifest_check`]: compares a parsed GGUF with a llama.cpp manifest.
//!
//! The crate's own `tests/` hold the published crates' tests that read `testdata/` or
//! the model.
#![forbid(unsafe_code)]

pub mod manifest_check;
pub mod model_paths;

use std::path::PathBuf;

/// The path of `name` in the repository's `testdata/` folder.
pub fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(name)
}
