//! OpenAI's embeddings API (`POST /v1/embeddings`, `GET /v1/models`).

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, ErrorKind};

/// `POST /v1/embeddings`. Unknown fields are ignored, as OpenAI-compatible servers do.
#[derive(Debug, Deserialize)]
pub(crate) struct EmbeddingsRequest {
    #[serde(default)]
    pub input: Value,
    pub model: Option<String>,
    pub encoding_format: Option<String>,
    pub dimensions: Option<usize>,
    /// Extra fields (`extra_body` in the Python client).
    pub prompt_name: Option<String>,
    pub truncate: Option<bool>,
    pub normalize: Option<bool>,
}

/// How vectors are sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EncodingFormat {
    Float,
    /// The f32 values' little-endian bytes, base64 (what the Python client asks for when
    /// the caller does not choose).
    Base64,
}

impl EncodingFormat {
    pub fn parse(s: Option<&str>) -> Result<EncodingFormat, Error> {
        match s {
            None | Some("float") => Ok(EncodingFormat::Float),
            Some("base64") => Ok(EncodingFormat::Base64),
            Some(other) => Err(Error::new(
                ErrorKind::InvalidRequest,
                format!("encoding_format {other:?} is not one of \"float\", \"base64\""),
            )),
        }
    }
}

/// Why token-id inputs are refused, and how to stop LangChain from sending them.
pub(crate) const TOKEN_IDS_REFUSED: &str = "`input` holds token ids: this server takes text only. \
Token ids from another tokenizer (LangChain's OpenAIEmbeddings sends tiktoken ids by default) mean \
nothing to EmbeddingGemma's vocabulary; send the texts themselves (in LangChain: \
OpenAIEmbeddings(..., check_embedding_ctx_length=False))";

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum Vector {
    Float(Vec<f32>),
    Base64(String),
}

impl Vector {
    pub fn encode(v: Vec<f32>, format: EncodingFormat) -> Vector {
        match format {
            EncodingFormat::Float => Vector::Float(v),
            EncodingFormat::Base64 => {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                Vector::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
            }
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct EmbeddingObject {
    pub object: &'static str,
    pub index: usize,
    pub embedding: Vector,
}

#[derive(Debug, Serialize)]
pub(crate) struct Usage {
    pub prompt_tokens: usize,
    pub total_tokens: usize,
}

#[derive(Debug, Serialize)]
pub(crate) struct EmbeddingsResponse {
    pub object: &'static str,
    pub data: Vec<EmbeddingObject>,
    pub model: String,
    pub usage: Usage,
}

impl EmbeddingsResponse {
    pub fn new(
        vectors: Vec<Vec<f32>>,
        format: EncodingFormat,
        model: String,
        tokens: usize,
    ) -> Self {
        EmbeddingsResponse {
            object: "list",
            data: vectors
                .into_iter()
                .enumerate()
                .map(|(index, v)| EmbeddingObject {
                    object: "embedding",
                    index,
                    embedding: Vector::encode(v, format),
                })
                .collect(),
            model,
            usage: Usage {
                prompt_tokens: tokens,
                total_tokens: tokens,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_little_endian_f32() {
        let Vector::Base64(s) = Vector::encode(vec![1.0, -2.5], EncodingFormat::Base64) else {
            panic!("not base64");
        };
        let bytes = base64::engine::general_purpose::STANDARD.decode(s).unwrap();
        assert_eq!(
            bytes,
            [1.0f32.to_le_bytes(), (-2.5f32).to_le_bytes()].concat()
        );
    }
}
