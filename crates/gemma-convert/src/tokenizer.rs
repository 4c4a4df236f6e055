//! The tokenizer keys, as llama.cpp's `_set_vocab_sentencepiece` and `SpecialVocab`
//! write them: the pieces of `tokenizer.model`, overridden by `added_tokens.json` and
//! `tokenizer_config.json`'s `added_tokens_decoder`, then the special ids and flags.

use std::fs;
use std::path::Path;

use gemma_encoder::keys::tokenizer as key;
use gguf_format::{MetadataArray, MetadataValue};
use serde_json::Value as Json;
use spm_tokenizer::{PieceType, SentencePieceModel};

use crate::config::read_json;
use crate::error::{Error, ErrorKind, Result};

/// The score llama.cpp gives the `[PAD{i}]` fillers of ids past the pieces.
const FILLER_SCORE: f32 = -10000.0;
/// The score llama.cpp gives an added token.
const ADDED_SCORE: f32 = -1000.0;

/// The `tokenizer.ggml.*` keys for a vocabulary of `vocab` ids, in llama.cpp's order.
pub(crate) fn tokenizer_metadata(dir: &Path, vocab: usize) -> Result<Vec<(String, MetadataValue)>> {
    let sp_path = dir.join("tokenizer.model");
    let bytes = fs::read(&sp_path).map_err(|e| Error::io(&sp_path, e))?;
    let sp = SentencePieceModel::parse(&bytes)
        .map_err(|e| Error::caused_by(ErrorKind::Tokenizer, e).at(&sp_path))?;

    let mut tokens: Vec<String> = (0..vocab).map(|i| format!("[PAD{i}]")).collect();
    let mut scores = vec![FILLER_SCORE; vocab];
    let mut types = vec![PieceType::Unused as i32; vocab];
    for (i, p) in sp.pieces.iter().enumerate().take(vocab) {
        tokens[i] = p.text.clone();
        scores[i] = p.score;
        // The first pass never asks for USER_DEFINED: such pieces come out NORMAL.
        types[i] = match p.kind {
            PieceType::UserDefined => PieceType::Normal,
            k => k,
        } as i32;
    }
    let added_path = dir.join("added_tokens.json");
    if added_path.is_file() {
        let added = read_json(&added_path)?;
        for (text, id) in added.as_object().into_iter().flatten() {
            let Some(id) = id.as_u64().map(|i| i as usize).filter(|&i| i < vocab) else {
                continue; // out of range: llama.cpp ignores it too
            };
            tokens[id] = text.clone();
            scores[id] = ADDED_SCORE;
            types[id] = PieceType::UserDefined as i32;
        }
    }
    let tc_path = dir.join("tokenizer_config.json");
    let tc = if tc_path.is_file() {
        read_json(&tc_path)?
    } else {
        Json::Null
    };
    if let Some(decoder) = tc["added_tokens_decoder"].as_object() {
        for (id, data) in decoder {
            let bad = || {
                Error::new(
                    ErrorKind::Tokenizer,
                    format!("bad added_tokens_decoder entry {id:?}"),
                )
                .at(&tc_path)
            };
            let id: usize = id.parse().map_err(|_| bad())?;
            let text = data["content"].as_str().ok_or_else(bad)?;
            if id >= vocab {
                continue;
            }
            if data["special"] == true || looks_special(text) {
                types[id] = PieceType::Control as i32;
                tokens[id] = text.to_string();
            } else {
                types[id] = PieceType::UserDefined as i32;
                tokens[id] = text.replace('\u{2581}', " ");
            }
            scores[id] = ADDED_SCORE;
        }
    }
    let special = |config_key: &str, fallback: &str| -> Option<u32> {
        let text = match &tc[config_key] {
            Json::String(s) => s.as_str(),
            Json::Object(o) => o.get("content").and_then(Json::as_str).unwrap_or(fallback),
            _ => fallback,
        };
        tokens.iter().position(|t| t == text).map(|i| i as u32)
    };
    let mut ids = Vec::new();
    for (config_key, gguf_key, fallback) in [
        ("bos_token", key::BOS_ID, "<bos>"),
        ("eos_token", key::EOS_ID, "<eos>"),
        ("unk_token", key::UNK_ID, "<unk>"),
        ("pad_token", key::PAD_ID, "<pad>"),
    ] {
        if let Some(id) = special(config_key, fallback) {
            ids.push((gguf_key.to_string(), MetadataValue::U32(id)));
        }
    }
    let flag = |k: &str, default: bool| tc[k].as_bool().unwrap_or(default);
    let (add_bos, add_eos) = (flag("add_bos_token", true), flag("add_eos_token", true));

    let mut md: Vec<(String, MetadataValue)> = vec![
        (key::MODEL.into(), "llama".into()),
        (key::PRE.into(), "default".into()),
        (key::TOKENS.into(), MetadataArray::String(tokens).into()),
        (key::SCORES.into(), MetadataArray::F32(scores).into()),
        (key::TOKEN_TYPE.into(), MetadataArray::I32(types).into()),
    ];
    md.extend(ids);
    md.push((key::ADD_BOS.into(), add_bos.into()));
    md.push((key::ADD_EOS.into(), add_eos.into()));
    md.push((key::ADD_SEP.into(), false.into()));
    md.push((key::ADD_SPACE_PREFIX.into(), false.into()));
    Ok(md)
}

/// llama.cpp's `does_token_look_special`.
fn looks_special(t: &str) -> bool {
    matches!(t, "<pad>" | "<mask>" | "<2mass>" | "[@BOS@]")
        || (t.starts_with("<|") && t.ends_with("|>"))
        || (t.starts_with("<｜") && t.ends_with("｜>"))
        || (t.starts_with("<unused") && t.ends_with('>'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_looking_tokens() {
        assert!(looks_special("<unused12>"));
        assert!(looks_special("<|im_start|>"));
        assert!(looks_special("<mask>"));
        assert!(!looks_special("[multimodal]"));
        assert!(!looks_special("<start_of_image>"));
    }
}
