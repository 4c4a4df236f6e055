//! SentencePiece tokenization exactly as llama.cpp does it.
//!
//! This crate's one job is turning text into the token ids llama.cpp's `llama_tokenize`
//! gives for a SentencePiece (`tokenizer.ggml.model = "llama"`) vocabulary such as
//! Gemma's: special and user-defined pieces split out longest first, spaces escaped to
//! `▁`, greedy merging of the highest-scoring adjacent pair (the scores of a BPE model
//! are merge priorities), byte fallback to `<0xXX>`, no normalization. It depends on no
//! file format: build it from plain slices (the GGUF arrays) with [`Tokenizer::new`], or
//! from a `tokenizer.model` with [`SentencePieceModel`] and [`Tokenizer::from_sentencepiece`].
//!
//! - [`Tokenizer`]: [`encode`](Tokenizer::encode), [`encode_truncated`](Tokenizer::encode_truncated),
//!   [`decode`](Tokenizer::decode), pieces and ids.
//! - [`SpecialTokens`]: BOS/EOS ids and the flags that say when to add them.
//! - [`Error`]: the crate's one error type.
//!
//! # Example
//!
//! ```
//! use spm_tokenizer::{EncodeOptions, SpecialTokens, Tokenizer};
//!
//! // A toy vocabulary: control tokens, then pieces whose scores are merge priorities.
//! let pieces = ["<pad>", "<eos>", "<bos>", "<unk>", "H", "e", "l", "o", "▁", "w", "r", "d",
//!               "He", "ll", "llo", "Hello", "▁w", "or", "▁wor", "ld", "▁world"];
//! let scores: Vec<f32> = (0..pieces.len()).map(|i| -(i as f32)).collect();
//! let types: Vec<i32> = (0..pieces.len()).map(|i| if i < 3 { 3 } else if i == 3 { 2 } else { 1 }).collect();
//! let tok = Tokenizer::new(pieces, &scores, &types, SpecialTokens::GEMMA).unwrap();
//!
//! let ids = tok.encode("Hello world", EncodeOptions::default());
//! let shown: Vec<&str> = ids.iter().map(|&i| tok.piece(i).unwrap()).collect();
//! assert_eq!(shown, ["<bos>", "Hello", "▁world", "<eos>"]);
//! assert_eq!(tok.decode(&ids).unwrap(), "Hello world");
//! ```
#![forbid(unsafe_code)]

mod error;
pub mod model_proto;
mod tokenizer;
mod vocab;

pub use error::{Error, ErrorKind};
pub use model_proto::{ModelType, Piece, PieceType, SentencePieceModel};
pub use tokenizer::{EncodeOptions, Encoding, SpecialTokens, Tokenizer};
