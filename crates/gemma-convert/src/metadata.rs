//! The GGUF's metadata keys, in llama.cpp's order: `general.*` (with the name, license
//! and tags llama.cpp's metadata heuristics take from the folder name and model card),
//! the architecture's hyperparameters, then the tokenizer's.

use std::fs;
use std::path::Path;

use gemma_encoder::keys::{self, arch, arch_key, general};
use gguf_format::MetadataValue;

use crate::config::{Release, read_json};
use crate::error::Result;
use crate::out_type::OutType;
use crate::tokenizer::tokenizer_metadata;

/// `general.*` keys only the converter writes (the encoder reads none of them).
mod general_extra {
    pub const TYPE: &str = "general.type";
    pub const SAMPLING_TOP_K: &str = "general.sampling.top_k";
    pub const SAMPLING_TOP_P: &str = "general.sampling.top_p";
    pub const NAME: &str = "general.name";
    pub const BASENAME: &str = "general.basename";
    pub const SIZE_LABEL: &str = "general.size_label";
    pub const LICENSE: &str = "general.license";
    pub const TAGS: &str = "general.tags";
}

/// The version of the quantization formats: 2 since ggml's 2023 change.
const QUANTIZATION_VERSION: u32 = 2;
/// llama.cpp's `LLAMA_POOLING_TYPE_MEAN`.
const POOLING_MEAN: u32 = 1;

/// Metadata keys in the order they are put.
#[derive(Default)]
struct Keys(Vec<(String, MetadataValue)>);

impl Keys {
    fn put(&mut self, key: &str, value: impl Into<MetadataValue>) {
        self.0.push((key.to_string(), value.into()));
    }

    /// An architecture key: `gemma-embedding.{suffix}`.
    fn arch(&mut self, suffix: &str, value: impl Into<MetadataValue>) {
        self.0.push((arch_key(suffix), value.into()));
    }

    /// Moves `key` to the end, as setting it again does in llama.cpp's writer.
    fn move_last(&mut self, key: &str) {
        if let Some(i) = self.0.iter().position(|(k, _)| k == key) {
            let kv = self.0.remove(i);
            self.0.push(kv);
        }
    }
}

/// Every metadata key of the GGUF converted from the release in `dir` as `out_type`.
pub(crate) fn metadata(
    dir: &Path,
    release: &Release,
    out_type: OutType,
) -> Result<Vec<(String, MetadataValue)>> {
    let mut md = Keys::default();
    md.put(general::ARCHITECTURE, keys::ARCHITECTURE);
    md.put(general_extra::TYPE, "model");
    let gen_path = dir.join("generation_config.json");
    if gen_path.is_file() {
        let g = read_json(&gen_path)?;
        if let Some(k) = g["top_k"].as_i64() {
            md.put(general_extra::SAMPLING_TOP_K, MetadataValue::I32(k as i32));
        }
        if let Some(p) = g["top_p"].as_f64() {
            md.put(general_extra::SAMPLING_TOP_P, MetadataValue::F32(p as f32));
        }
    }
    let naming = Naming::from_dir(dir);
    md.put(general_extra::NAME, naming.name);
    if let Some(b) = naming.basename {
        md.put(general_extra::BASENAME, b);
    }
    if let Some(s) = naming.size_label {
        md.put(general_extra::SIZE_LABEL, s);
    }
    let card = ModelCard::read(&dir.join("README.md"));
    if let Some(l) = card.license {
        md.put(general_extra::LICENSE, l);
    }
    if !card.tags.is_empty() {
        md.put(general_extra::TAGS, card.tags);
    }

    let hp = &release.hp;
    md.arch(arch::BLOCK_COUNT, hp.layers as u32);
    md.arch(arch::CONTEXT_LENGTH, release.context_length as u32);
    md.arch(arch::EMBEDDING_LENGTH, hp.hidden as u32);
    md.arch(arch::FEED_FORWARD_LENGTH, hp.ffn as u32);
    md.arch(arch::HEAD_COUNT, hp.heads as u32);
    md.arch(arch::HEAD_COUNT_KV, hp.kv_heads as u32);
    md.arch(arch::ROPE_FREQ_BASE, release.rope_base);
    md.arch(arch::ROPE_FREQ_BASE_SWA, release.rope_base_swa);
    md.arch(arch::RMS_EPSILON, release.rms_eps);
    md.arch(arch::KEY_LENGTH, hp.head_dim as u32);
    md.arch(arch::VALUE_LENGTH, hp.head_dim as u32);
    md.put(general::FILE_TYPE, out_type.file_type());
    md.arch(arch::SLIDING_WINDOW, release.sliding_window as u32);
    for (i, d) in release.dense.iter().enumerate() {
        // The release's first Dense module is `2_Dense`.
        let n = i + 2;
        md.arch(&arch::dense_feat_in(n), d.in_features as u32);
        md.arch(&arch::dense_feat_out(n), d.out_features as u32);
    }
    md.arch(arch::POOLING_TYPE, POOLING_MEAN);
    md.put(general::QUANTIZATION_VERSION, QUANTIZATION_VERSION);
    md.0.extend(tokenizer_metadata(dir, hp.vocab)?);
    if out_type.by_llama_quantize() {
        // llama-quantize sets these two keys again, which moves them to the end.
        md.move_last(general::QUANTIZATION_VERSION);
        md.move_last(general::FILE_TYPE);
    }
    Ok(md.0)
}

/// `general.name`, `basename` and `size_label` from the release's folder name, as
/// llama.cpp's metadata heuristics give them for `embeddinggemma-300m`.
struct Naming {
    name: String,
    basename: Option<String>,
    size_label: Option<String>,
}

impl Naming {
    fn from_dir(dir: &Path) -> Naming {
        let stem = dir
            .canonicalize()
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "model".into());
        let words: Vec<&str> = stem.split(['-', '_']).filter(|w| !w.is_empty()).collect();
        let is_size = |w: &str| {
            let (num, unit) = w.split_at(w.len().saturating_sub(1));
            !num.is_empty()
                && num.chars().all(|c| c.is_ascii_digit() || c == '.')
                && matches!(unit, "k" | "K" | "m" | "M" | "b" | "B" | "t" | "T")
        };
        let size_pos = words.iter().position(|w| is_size(w));
        let name = words
            .iter()
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map_or(String::new(), |f| f.to_uppercase().chain(c).collect())
            })
            .collect::<Vec<_>>()
            .join(" ");
        Naming {
            name,
            basename: size_pos
                .filter(|&p| p > 0)
                .map(|p| words[..p].join("-").to_lowercase()),
            size_label: size_pos.map(|p| words[p].to_uppercase()),
        }
    }
}

/// The model card's YAML front matter: license and tags (plus the pipeline tag, which
/// llama.cpp appends to the tags).
#[derive(Default)]
struct ModelCard {
    license: Option<String>,
    tags: Vec<String>,
}

impl ModelCard {
    /// The card at `path`; an absent or unreadable card has no license and no tags.
    fn read(path: &Path) -> ModelCard {
        fs::read_to_string(path).map_or_else(|_| ModelCard::default(), |t| ModelCard::parse(&t))
    }

    fn parse(text: &str) -> ModelCard {
        let mut card = ModelCard::default();
        let mut lines = text.lines();
        if lines.next().map(str::trim) != Some("---") {
            return card;
        }
        let mut in_tags = false;
        let mut pipeline = None;
        for line in lines {
            if line.trim() == "---" {
                break;
            }
            if in_tags {
                if let Some(item) = line.trim_start().strip_prefix("- ") {
                    card.tags.push(unquote(item));
                    continue;
                }
                in_tags = false;
            }
            if let Some((k, v)) = line.split_once(':') {
                match (k, v.trim()) {
                    ("license", v) => card.license = Some(unquote(v)),
                    ("pipeline_tag", v) => pipeline = Some(unquote(v)),
                    ("tags", "") => in_tags = true,
                    _ => {}
                }
            }
        }
        card.tags.extend(pipeline);
        card
    }
}

fn unquote(s: &str) -> String {
    s.trim().trim_matches(['"', '\'']).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naming_follows_the_folder() {
        let d = std::env::temp_dir().join(format!("gemma-convert-naming-{}", std::process::id()));
        let dir = d.join("embeddinggemma-300m");
        fs::create_dir_all(&dir).unwrap();
        let n = Naming::from_dir(&dir);
        fs::remove_dir_all(&d).unwrap();
        assert_eq!(n.name, "Embeddinggemma 300m");
        assert_eq!(n.basename.as_deref(), Some("embeddinggemma"));
        assert_eq!(n.size_label.as_deref(), Some("300M"));
    }

    #[test]
    fn model_card_front_matter() {
        let card = ModelCard::parse(
            "---\nlicense: gemma\ntags:\n- sentence-transformers\n- \"text\"\n\
             pipeline_tag: sentence-similarity\nlibrary_name: x\n---\n# Title\ntags:\n- no\n",
        );
        assert_eq!(card.license.as_deref(), Some("gemma"));
        assert_eq!(
            card.tags,
            ["sentence-transformers", "text", "sentence-similarity"]
        );
        let none = ModelCard::parse("# No front matter\nlicense: mit\n");
        assert_eq!((none.license, none.tags.len()), (None, 0));
    }
}
