//! The one-way dependency rule of DEVELOPERS.md, checked over `cargo metadata`:
//! `gguf-format`, `ggml-quant` and `spm-tokenizer` depend on no workspace crate;
//! `gemma-encoder` only on those three; `embed-cli` only on `gemma-encoder`.
//! Dev- and build-dependencies count too.

use anyhow::{Context, Result};
use serde_json::Value;

/// The workspace crates each library crate may depend on.
const ALLOWED: [(&str, &[&str]); 5] = [
    ("gguf-format", &[]),
    ("ggml-quant", &[]),
    ("spm-tokenizer", &[]),
    (
        "gemma-encoder",
        &["gguf-format", "ggml-quant", "spm-tokenizer"],
    ),
    ("embed-cli", &["gemma-encoder"]),
];

/// Every arrow in `metadata` (the JSON of `cargo metadata --no-deps`) that breaks the
/// rule, as `"from -> to"`; also a missing crate.
pub fn violations(metadata: &Value) -> Result<Vec<String>> {
    let packages = metadata["packages"]
        .as_array()
        .context("no packages in cargo metadata")?;
    let names: Vec<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    let mut bad = Vec::new();
    for (krate, allowed) in ALLOWED {
        let Some(pkg) = packages.iter().find(|p| p["name"] == krate) else {
            bad.push(format!("{krate} is missing from the workspace"));
            continue;
        };
        for dep in pkg["dependencies"].as_array().into_iter().flatten() {
            let Some(to) = dep["name"].as_str() else {
                continue;
            };
            let in_workspace = names.contains(&to);
            if in_workspace && !allowed.contains(&to) {
                let kind = dep["kind"].as_str().unwrap_or("normal");
                bad.push(format!("{krate} -> {to} ({kind})"));
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
            "dependency arrows that break DEVELOPERS.md: {bad:?}"
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
            .push(serde_json::json!({"name": "gemma-encoder", "kind": "dev"}));
        assert_eq!(
            violations(&m).unwrap(),
            ["gguf-format -> gemma-encoder (dev)"]
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
            .push(serde_json::json!({"name": "ggml-quant", "kind": null}));
        assert_eq!(
            violations(&m).unwrap(),
            ["embed-cli -> ggml-quant (normal)"]
        );
    }
}
