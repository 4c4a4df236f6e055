//! The one-way dependency rule, checked over `cargo metadata`.
//!
//! - A published crate's normal and build dependencies on workspace crates are the ones
//!   [`ALLOWED`] lists for it, which all point down the layers of `docs/ARCHITECTURE.md`.
//! - Its dev-dependencies on workspace crates are path-only (no version): cargo strips
//!   them when packaging, so a test-only arrow never binds two releases together
//!   (rust-analyzer's rule). The tests that need them are not shipped.
//! - The workspace-only crates ([`UNPUBLISHED`]) may depend on anything; no published
//!   crate depends on them except through such a path-only dev-dependency.
//! - Every workspace crate is in one of the two lists, so a new crate is a decision.

use anyhow::{Context, Result};
use serde_json::Value;

/// The workspace crates each published crate may depend on, lowest layer first.
pub const ALLOWED: [(&str, &[&str]); 8] = [
    ("gguf-format", &[]),
    ("spm-tokenizer", &[]),
    ("embeddinggemma-cache", &[]),
    // The ggml type table (block sizes, type sizes, GGUF ids) is gguf-format's.
    ("ggml-quant", &["gguf-format"]),
    (
        "gemma-encoder",
        &["gguf-format", "ggml-quant", "spm-tokenizer"],
    ),
    (
        "gemma-convert",
        &[
            "gguf-format",
            "ggml-quant",
            "spm-tokenizer",
            "gemma-encoder",
        ],
    ),
    ("embed-server", &["gemma-encoder", "spm-tokenizer"]),
    (
        "embed-cli",
        &[
            "gemma-encoder",
            "gemma-convert",
            "embed-server",
            "embeddinggemma-cache",
            "gguf-format",
            "spm-tokenizer",
        ],
    ),
];

/// The crates never published to crates.io (`publish = false`): the workspace-only ones,
/// and the Python package's native module (`bindings/python`), which ships to PyPI as a
/// wheel built from this workspace, so no crates.io release ever has to resolve its
/// arrows. It depends on `gemma-encoder` only.
pub const UNPUBLISHED: [&str; 4] = [
    "testkit",
    "xtask",
    "embed-benches",
    "embeddinggemma-rs-python",
];

/// Every arrow in `metadata` (the JSON of `cargo metadata --no-deps`) that breaks the
/// rule, as `"from -> to (kind)"`, and every crate in neither list.
pub fn violations(metadata: &Value) -> Result<Vec<String>> {
    let packages = metadata["packages"]
        .as_array()
        .context("no packages in cargo metadata")?;
    let names: Vec<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    let mut bad = Vec::new();
    for name in &names {
        if !UNPUBLISHED.contains(name) && !ALLOWED.iter().any(|(k, _)| k == name) {
            bad.push(format!("{name} is in neither ALLOWED nor UNPUBLISHED"));
        }
    }
    for (krate, allowed) in ALLOWED {
        let Some(pkg) = packages.iter().find(|p| p["name"] == krate) else {
            continue;
        };
        for dep in pkg["dependencies"].as_array().into_iter().flatten() {
            let Some(to) = dep["name"].as_str() else {
                continue;
            };
            if !names.contains(&to) {
                continue;
            }
            let kind = dep["kind"].as_str().unwrap_or("normal");
            let path_only = dep["req"].as_str().is_none_or(|r| r == "*");
            let ok = match kind {
                "dev" => path_only,
                _ => allowed.contains(&to),
            };
            if !ok {
                let why = if kind == "dev" { ", versioned" } else { "" };
                bad.push(format!("{krate} -> {to} ({kind}{why})"));
            }
        }
    }
    Ok(bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn metadata() -> Value {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .args([
                "metadata",
                "--format-version",
                "1",
                "--no-deps",
                "--offline",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    #[test]
    fn dependencies_point_one_way() {
        let bad = violations(&metadata()).unwrap();
        assert!(
            bad.is_empty(),
            "dependency arrows that break docs/ARCHITECTURE.md: {bad:?}"
        );
    }

    #[test]
    fn a_reversed_arrow_is_caught() {
        let mut m = metadata();
        let pkgs = m["packages"].as_array_mut().unwrap();
        let gguf = pkgs
            .iter_mut()
            .find(|p| p["name"] == "gguf-format")
            .unwrap();
        gguf["dependencies"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"name": "gemma-encoder", "kind": null, "req": "^0.1.0"}));
        assert_eq!(
            violations(&m).unwrap(),
            ["gguf-format -> gemma-encoder (normal)"]
        );
    }

    #[test]
    fn a_versioned_dev_dependency_is_caught() {
        let with_dev = |req: &str| {
            let mut m = metadata();
            let pkgs = m["packages"].as_array_mut().unwrap();
            let tok = pkgs
                .iter_mut()
                .find(|p| p["name"] == "spm-tokenizer")
                .unwrap();
            tok["dependencies"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!({"name": "gguf-format", "kind": "dev", "req": req}));
            violations(&m).unwrap()
        };
        assert_eq!(with_dev("*"), Vec::<String>::new());
        assert_eq!(
            with_dev("^0.1.0"),
            ["spm-tokenizer -> gguf-format (dev, versioned)"]
        );
    }

    #[test]
    fn an_unlisted_crate_is_caught() {
        let mut m = metadata();
        let pkgs = m["packages"].as_array_mut().unwrap();
        pkgs.push(serde_json::json!({"name": "new-crate", "dependencies": []}));
        assert_eq!(
            violations(&m).unwrap(),
            ["new-crate is in neither ALLOWED nor UNPUBLISHED"]
        );
    }

    #[test]
    fn a_skipped_layer_is_caught() {
        let mut m = metadata();
        let pkgs = m["packages"].as_array_mut().unwrap();
        let cli = pkgs.iter_mut().find(|p| p["name"] == "embed-cli").unwrap();
        cli["dependencies"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"name": "ggml-quant", "kind": null, "req": "^0.1.0"}));
        assert_eq!(
            violations(&m).unwrap(),
            ["embed-cli -> ggml-quant (normal)"]
        );
    }
}
