//! The release's configuration: `config.json` (the transformer), `modules.json` and the
//! sentence-transformers modules it lists (mean pooling, two Dense layers).

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use crate::error::{Error, ErrorKind, Result};

/// The hyperparameters the tensors' shapes follow from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Hparams {
    pub hidden: usize,
    pub layers: usize,
    pub ffn: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub vocab: usize,
}

/// A Dense module: its folder and its widths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Dense {
    pub dir: PathBuf,
    pub in_features: usize,
    pub out_features: usize,
}

/// What the converter reads from the release's config files.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Release {
    pub hp: Hparams,
    pub context_length: u64,
    pub sliding_window: u64,
    pub rms_eps: f32,
    pub rope_base: f32,
    pub rope_base_swa: f32,
    /// The two Dense modules, in the order `modules.json` lists them.
    pub dense: Vec<Dense>,
}

impl Release {
    /// Reads `config.json` and the sentence-transformers modules of the release in `dir`.
    pub fn read(dir: &Path) -> Result<Release> {
        let config_path = dir.join("config.json");
        let config = read_json(&config_path)?;
        let arch_ok = config["architectures"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == "Gemma3TextModel"));
        if !arch_ok {
            return Err(Error::new(
                ErrorKind::Architecture,
                format!(
                    "architectures {} is not [\"Gemma3TextModel\"]: not an EmbeddingGemma release",
                    config["architectures"]
                ),
            )
            .at(&config_path));
        }
        let c = |k| cfg_u64(&config, &config_path, k).map(|v| v as usize);
        let hp = Hparams {
            hidden: c("hidden_size")?,
            layers: c("num_hidden_layers")?,
            ffn: c("intermediate_size")?,
            heads: c("num_attention_heads")?,
            kv_heads: c("num_key_value_heads")?,
            head_dim: c("head_dim")?,
            vocab: c("vocab_size")?,
        };
        let context_length = cfg_u64(&config, &config_path, "max_position_embeddings")?;
        let sliding_window = cfg_u64(&config, &config_path, "sliding_window")?;
        let rms_eps = cfg_f64(&config, &config_path, "rms_norm_eps")? as f32;
        let rope_base = cfg_f64(&config, &config_path, "rope_theta")? as f32;
        let rope_base_swa = cfg_f64(&config, &config_path, "rope_local_base_freq")? as f32;
        let dense = read_modules(dir, hp.hidden)?;
        Ok(Release {
            hp,
            context_length,
            sliding_window,
            rms_eps,
            rope_base,
            rope_base_swa,
            dense,
        })
    }
}

/// The sentence-transformers modules: mean pooling, then two Dense layers without bias
/// or activation that chain from the hidden size.
fn read_modules(dir: &Path, hidden: usize) -> Result<Vec<Dense>> {
    let modules_path = dir.join("modules.json");
    let modules = read_json(&modules_path)?;
    let config_err = |path: &Path, m: String| Error::new(ErrorKind::Config, m).at(path);
    let mut dense_dirs = Vec::new();
    let mut pooling_dir = None;
    for m in modules.as_array().into_iter().flatten() {
        let ty = m["type"].as_str().unwrap_or_default();
        let rel = m["path"].as_str().unwrap_or_default();
        if ty.ends_with(".Dense") {
            dense_dirs.push(dir.join(rel));
        } else if ty.ends_with(".Pooling") {
            pooling_dir = Some(dir.join(rel));
        }
    }
    let pooling_dir =
        pooling_dir.ok_or_else(|| config_err(&modules_path, "no Pooling module".into()))?;
    let pooling_path = pooling_dir.join("config.json");
    let pooling = read_json(&pooling_path)?;
    if pooling["pooling_mode_mean_tokens"] != true {
        return Err(config_err(
            &pooling_path,
            "only mean pooling is supported".into(),
        ));
    }
    if dense_dirs.len() != 2 {
        return Err(config_err(
            &modules_path,
            format!(
                "expected 2 Dense modules (2_Dense, 3_Dense), found {}",
                dense_dirs.len()
            ),
        ));
    }
    let mut dense = Vec::new();
    for dir in dense_dirs {
        let p = dir.join("config.json");
        let j = read_json(&p)?;
        if j["bias"] == true {
            return Err(config_err(&p, "Dense with bias is not supported".into()));
        }
        let act = j["activation_function"]
            .as_str()
            .unwrap_or("torch.nn.modules.linear.Identity");
        if !act.ends_with("Identity") {
            return Err(config_err(
                &p,
                format!("Dense activation {act} is not supported (only Identity)"),
            ));
        }
        dense.push(Dense {
            in_features: cfg_u64(&j, &p, "in_features")? as usize,
            out_features: cfg_u64(&j, &p, "out_features")? as usize,
            dir,
        });
    }
    if dense[0].in_features != hidden || dense[1].in_features != dense[0].out_features {
        let feats: Vec<(usize, usize)> = dense
            .iter()
            .map(|d| (d.in_features, d.out_features))
            .collect();
        return Err(Error::new(
            ErrorKind::Config,
            format!("Dense layers {feats:?} do not chain from hidden size {hidden}"),
        ));
    }
    Ok(dense)
}

/// A JSON file of the release.
pub(crate) fn read_json(path: &Path) -> Result<Json> {
    let text = fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::caused_by(ErrorKind::Config, e).at(path))
}

/// A key of a JSON config, with an error naming the file and key.
fn cfg<'a>(json: &'a Json, path: &Path, key: &str) -> Result<&'a Json> {
    json.get(key)
        .filter(|v| !v.is_null())
        .ok_or_else(|| Error::new(ErrorKind::Config, format!("missing key {key:?}")).at(path))
}

fn cfg_u64(json: &Json, path: &Path, key: &str) -> Result<u64> {
    cfg(json, path, key)?.as_u64().ok_or_else(|| {
        Error::new(
            ErrorKind::Config,
            format!("{key:?} is not a non-negative integer"),
        )
        .at(path)
    })
}

fn cfg_f64(json: &Json, path: &Path, key: &str) -> Result<f64> {
    cfg(json, path, key)?
        .as_f64()
        .ok_or_else(|| Error::new(ErrorKind::Config, format!("{key:?} is not a number")).at(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_errors_name_the_file_and_key() {
        let j: Json = serde_json::json!({"a": 3, "b": -1, "c": "x", "n": null});
        let p = Path::new("config.json");
        assert_eq!(cfg_u64(&j, p, "a").unwrap(), 3);
        let e = cfg_u64(&j, p, "b").unwrap_err();
        assert_eq!(
            e.to_string(),
            "config.json: \"b\" is not a non-negative integer"
        );
        assert_eq!(
            cfg_u64(&j, p, "n").unwrap_err().to_string(),
            "config.json: missing key \"n\""
        );
        assert_eq!(cfg_f64(&j, p, "c").unwrap_err().kind(), ErrorKind::Config);
    }
}
