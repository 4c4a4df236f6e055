//! Hugging Face Text Embeddings Inference (`POST /embed`, `POST /`, `/info`, `/tokenize`,
//! `/decode`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, ErrorKind};

/// `POST /embed` (and `POST /`, where `huggingface_hub`'s `feature_extraction` posts).
#[derive(Debug, Deserialize)]
pub(crate) struct EmbedRequest {
    #[serde(default)]
    pub inputs: Value,
    pub truncate: Option<bool>,
    pub truncation_direction: Option<String>,
    pub prompt_name: Option<String>,
    pub normalize: Option<bool>,
    pub dimensions: Option<usize>,
}

/// Whether `truncation_direction` asks to keep the end of the text (`left`).
pub(crate) fn truncate_left(direction: Option<&str>) -> Result<bool, Error> {
    match direction {
        None | Some("right" | "Right") => Ok(false),
        Some("left" | "Left") => Ok(true),
        Some(other) => Err(Error::new(
            ErrorKind::InvalidRequest,
            format!("truncation_direction {other:?} is not one of \"right\", \"left\""),
        )),
    }
}

/// `POST /tokenize`.
#[derive(Debug, Deserialize)]
pub(crate) struct TokenizeRequest {
    #[serde(default)]
    pub inputs: Value,
    #[serde(default = "yes")]
    pub add_special_tokens: bool,
    pub prompt_name: Option<String>,
}

fn yes() -> bool {
    true
}

/// One token of `/tokenize`'s answer (this tokenizer keeps no character offsets).
#[derive(Debug, Serialize)]
pub(crate) struct SimpleToken {
    pub id: u32,
    pub text: String,
    pub special: bool,
    pub start: Option<usize>,
    pub stop: Option<usize>,
}

/// `POST /decode`.
#[derive(Debug, Deserialize)]
pub(crate) struct DecodeRequest {
    #[serde(default)]
    pub ids: Value,
    #[serde(default = "yes")]
    pub skip_special_tokens: bool,
}

/// `GET /info`.
#[derive(Debug, Serialize)]
pub(crate) struct Info {
    pub model_id: String,
    pub model_sha: Option<String>,
    pub model_dtype: String,
    pub model_type: Value,
    pub max_concurrent_requests: usize,
    pub max_input_length: usize,
    pub max_batch_tokens: usize,
    pub max_batch_requests: Option<usize>,
    pub max_client_batch_size: usize,
    pub auto_truncate: bool,
    pub tokenization_workers: usize,
    pub version: &'static str,
    pub sha: Option<String>,
    pub docker_label: Option<String>,
    pub prompts: Vec<&'static str>,
}
