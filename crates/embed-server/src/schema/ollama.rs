//! Ollama's embedding API (`POST /api/embed`, legacy `POST /api/embeddings`, `/api/tags`,
//! `/api/version`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /api/embed`. `options` and `keep_alive` are accepted and have no effect: the
/// model stays loaded.
#[derive(Debug, Deserialize)]
pub(crate) struct EmbedRequest {
    pub model: Option<String>,
    #[serde(default)]
    pub input: Value,
    pub truncate: Option<bool>,
    pub dimensions: Option<usize>,
}

#[derive(Debug, Serialize)]
pub(crate) struct EmbedResponse {
    pub model: String,
    pub embeddings: Vec<Vec<f32>>,
    /// Nanoseconds from arrival to answer.
    pub total_duration: u64,
    /// Nanoseconds this request waited for the model to load.
    pub load_duration: u64,
    pub prompt_eval_count: usize,
}

/// The legacy `POST /api/embeddings`.
#[derive(Debug, Deserialize)]
pub(crate) struct EmbeddingsRequest {
    pub model: Option<String>,
    #[serde(default)]
    pub prompt: Value,
}

#[derive(Debug, Serialize)]
pub(crate) struct EmbeddingsResponse {
    pub embedding: Vec<f32>,
}

/// The Ollama API level these routes follow, for clients that check `/api/version`.
pub(crate) const API_VERSION: &str = "0.12.0";
