//! llama.cpp's `llama-server` embedding route (`POST /embedding`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /embedding`: `content` is a text, a list of texts, or token ids.
#[derive(Debug, Deserialize)]
pub(crate) struct EmbeddingRequest {
    #[serde(default)]
    pub content: Value,
    /// llama.cpp's normalization: 2 (L2, the default) or -1 (none).
    pub embd_normalize: Option<i32>,
}

/// One input's answer: the pooled vector as a one-row matrix, as llama-server sends it.
#[derive(Debug, Serialize)]
pub(crate) struct EmbeddingResult {
    pub index: usize,
    pub embedding: Vec<Vec<f32>>,
}
