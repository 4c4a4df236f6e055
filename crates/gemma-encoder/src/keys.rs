//! The names in an EmbeddingGemma GGUF: metadata keys and tensor names.
//!
//! The encoder reads these names and the converter (`gemma-convert`) writes them, so they
//! are written here once. They are llama.cpp's (`gguf-py/gguf/constants.py`,
//! `LLM_ARCH_GEMMA_EMBEDDING`): a file from either converter opens in both runtimes.

/// The `general.architecture` of the models this crate runs.
pub const ARCHITECTURE: &str = "gemma-embedding";

/// Keys of the `general.*` namespace.
pub mod general {
    /// The architecture string; [`super::ARCHITECTURE`] for this model.
    pub const ARCHITECTURE: &str = "general.architecture";
    /// The llama.cpp file type (`LLAMA_FTYPE_*`: 0 = all F32, 7 = mostly Q8_0, ...).
    pub const FILE_TYPE: &str = "general.file_type";
    /// The version of the quantization formats (2 since ggml's 2023 change).
    pub const QUANTIZATION_VERSION: &str = "general.quantization_version";
}

/// Keys of the `tokenizer.ggml.*` namespace.
pub mod tokenizer {
    /// The tokenizer kind: `llama` for SentencePiece.
    pub const MODEL: &str = "tokenizer.ggml.model";
    /// The pre-tokenizer: `default` for SentencePiece.
    pub const PRE: &str = "tokenizer.ggml.pre";
    /// The pieces, by id.
    pub const TOKENS: &str = "tokenizer.ggml.tokens";
    /// The piece scores, by id.
    pub const SCORES: &str = "tokenizer.ggml.scores";
    /// The piece types (`PieceType` as i32), by id.
    pub const TOKEN_TYPE: &str = "tokenizer.ggml.token_type";
    /// The id of `<bos>`.
    pub const BOS_ID: &str = "tokenizer.ggml.bos_token_id";
    /// The id of `<eos>`.
    pub const EOS_ID: &str = "tokenizer.ggml.eos_token_id";
    /// The id of `<unk>`.
    pub const UNK_ID: &str = "tokenizer.ggml.unknown_token_id";
    /// The id of `<pad>`.
    pub const PAD_ID: &str = "tokenizer.ggml.padding_token_id";
    /// Whether encoding starts with BOS.
    pub const ADD_BOS: &str = "tokenizer.ggml.add_bos_token";
    /// Whether encoding ends with EOS.
    pub const ADD_EOS: &str = "tokenizer.ggml.add_eos_token";
    /// Whether a separator token is added (false for this model).
    pub const ADD_SEP: &str = "tokenizer.ggml.add_sep_token";
    /// Whether a space is put before the text (false for this model).
    pub const ADD_SPACE_PREFIX: &str = "tokenizer.ggml.add_space_prefix";
}

/// The architecture's own keys, each `gemma-embedding.` followed by the suffix; see
/// [`arch_key`].
pub mod arch {
    /// Longest input in tokens.
    pub const CONTEXT_LENGTH: &str = "context_length";
    /// Hidden size.
    pub const EMBEDDING_LENGTH: &str = "embedding_length";
    /// Transformer layers.
    pub const BLOCK_COUNT: &str = "block_count";
    /// Feed-forward size.
    pub const FEED_FORWARD_LENGTH: &str = "feed_forward_length";
    /// Query heads.
    pub const HEAD_COUNT: &str = "attention.head_count";
    /// Key/value heads.
    pub const HEAD_COUNT_KV: &str = "attention.head_count_kv";
    /// Width of a key head.
    pub const KEY_LENGTH: &str = "attention.key_length";
    /// Width of a value head.
    pub const VALUE_LENGTH: &str = "attention.value_length";
    /// RMSNorm epsilon.
    pub const RMS_EPSILON: &str = "attention.layer_norm_rms_epsilon";
    /// The sliding window of the local layers (a layer sees `±window/2`).
    pub const SLIDING_WINDOW: &str = "attention.sliding_window";
    /// Every how many layers one is global (absent in this model's files: the
    /// architecture's pattern, [`crate::keys::SLIDING_WINDOW_PATTERN`], applies).
    pub const SLIDING_WINDOW_PATTERN: &str = "attention.sliding_window_pattern";
    /// RoPE base of the global layers.
    pub const ROPE_FREQ_BASE: &str = "rope.freq_base";
    /// RoPE base of the sliding-window layers.
    pub const ROPE_FREQ_BASE_SWA: &str = "rope.freq_base_swa";
    /// The pooling (1 = mean).
    pub const POOLING_TYPE: &str = "pooling_type";

    /// `dense_{n}_feat_in`: the input width of Dense layer `n` (2 or 3).
    pub fn dense_feat_in(n: usize) -> String {
        format!("dense_{n}_feat_in")
    }

    /// `dense_{n}_feat_out`: the output width of Dense layer `n` (2 or 3).
    pub fn dense_feat_out(n: usize) -> String {
        format!("dense_{n}_feat_out")
    }
}

/// The architecture's layer pattern when the file does not state one: layer `il` is a
/// sliding-window layer unless `il % 6 == 5` (llama.cpp's `set_swa_pattern(6)` for this
/// architecture; Hugging Face's `layer_types`).
pub const SLIDING_WINDOW_PATTERN: usize = 6;

/// The full key of an architecture key: `gemma-embedding.{suffix}`.
pub fn arch_key(suffix: &str) -> String {
    format!("{ARCHITECTURE}.{suffix}")
}

/// Tensor names.
pub mod tensor {
    /// The token embedding table.
    pub const TOKEN_EMBD: &str = "token_embd.weight";
    /// The final RMSNorm.
    pub const OUTPUT_NORM: &str = "output_norm.weight";
    /// The first Dense layer (768 -> 3072).
    pub const DENSE_2: &str = "dense_2.weight";
    /// The second Dense layer (3072 -> 768).
    pub const DENSE_3: &str = "dense_3.weight";

    /// Layer input norm, before attention.
    pub const ATTN_NORM: &str = "attn_norm";
    /// Query projection.
    pub const ATTN_Q: &str = "attn_q";
    /// Key projection.
    pub const ATTN_K: &str = "attn_k";
    /// Value projection.
    pub const ATTN_V: &str = "attn_v";
    /// Per-head RMSNorm of the queries.
    pub const ATTN_Q_NORM: &str = "attn_q_norm";
    /// Per-head RMSNorm of the keys.
    pub const ATTN_K_NORM: &str = "attn_k_norm";
    /// Attention output projection.
    pub const ATTN_OUTPUT: &str = "attn_output";
    /// Norm of the attention output, before the residual sum.
    pub const POST_ATTENTION_NORM: &str = "post_attention_norm";
    /// Norm before the feed-forward.
    pub const FFN_NORM: &str = "ffn_norm";
    /// Feed-forward gate projection (through GELU).
    pub const FFN_GATE: &str = "ffn_gate";
    /// Feed-forward up projection.
    pub const FFN_UP: &str = "ffn_up";
    /// Feed-forward down projection.
    pub const FFN_DOWN: &str = "ffn_down";
    /// Norm of the feed-forward output, before the residual sum.
    pub const POST_FFW_NORM: &str = "post_ffw_norm";

    /// The per-layer tensors, `blk.{il}.{name}.weight`; see [`block`].
    pub const BLOCK_TENSORS: [&str; 13] = [
        ATTN_NORM,
        ATTN_Q,
        ATTN_K,
        ATTN_V,
        ATTN_Q_NORM,
        ATTN_K_NORM,
        ATTN_OUTPUT,
        POST_ATTENTION_NORM,
        FFN_NORM,
        FFN_GATE,
        FFN_UP,
        FFN_DOWN,
        POST_FFW_NORM,
    ];

    /// The name of layer `il`'s tensor `name` (one of [`BLOCK_TENSORS`]).
    pub fn block(il: usize, name: &str) -> String {
        format!("blk.{il}.{name}.weight")
    }
}
