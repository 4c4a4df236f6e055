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
//! - [`Tokenizer`] holds the vocabulary and does the work:
//!   [`encode`](Tokenizer::encode) (with [`EncodeOptions`]),
//!   [`encode_bytes`](Tokenizer::encode_bytes) for input that may not be UTF-8,
//!   [`encode_truncated`](Tokenizer::encode_truncated) (an [`Encoding`] cut as
//!   sentence-transformers cuts it), [`decode`](Tokenizer::decode), and pieces by id.
//! - [`SpecialTokens`]: BOS/EOS ids and the flags that say when to add them, as the GGUF
//!   `tokenizer.ggml.*` keys give them.
//! - [`SentencePieceModel`] (module [`model_proto`]): a parsed `tokenizer.model`, its
//!   [`Piece`]s typed by [`PieceType`].
//! - [`Error`]: the crate's one error type; its [`ErrorKind`] says what was wrong.
//!
//! Encoding is linear in the input: a megabyte of one character or of spaces is fine.
//!
//! # Example
//!
//! ```
//! use spm_tokenizer::{EncodeOptions, SpecialTokens, Tokenizer};
//!
//! fn main() -> Result<(), spm_tokenizer::Error> {
//!     // A toy vocabulary: control tokens, then pieces whose scores are merge priorities.
//!     let pieces = [
//!         "<pad>", "<eos>", "<bos>", "<unk>", "H", "e", "l", "o", "▁", "w", "r", "d", "He",
//!         "ll", "llo", "Hello", "▁w", "or", "▁wor", "ld", "▁world",
//!     ];
//!     let scores: Vec<f32> = (0..pieces.len()).map(|i| -(i as f32)).collect();
//!     let types: Vec<i32> = (0..pieces.len())
//!         .map(|i| match i {
//!             0..3 => 3, // control
//!             3 => 2,    // unknown
//!             _ => 1,    // normal
//!         })
//!         .collect();
//!     let tok = Tokenizer::new(pieces, &scores, &types, SpecialTokens::GEMMA)?;
//!
//!     let ids = tok.encode("Hello world", EncodeOptions::default());
//!     let shown: Vec<&str> = ids.iter().filter_map(|&i| tok.piece(i)).collect();
//!     assert_eq!(shown, ["<bos>", "Hello", "▁world", "<eos>"]);
//!     assert_eq!(tok.decode(&ids)?, "Hello world");
//!     Ok(())
//! }
//! ```
#![forbid(unsafe_code)]

mod error;
pub mod model_proto;
mod tokenizer;
mod vocab;

pub use error::{Error, ErrorKind};
pub use model_proto::{ModelType, Piece, PieceType, SentencePieceModel};
pub use tokenizer::{EncodeOptions, Encoding, SpecialTokens, Tokenizer};

// The README's examples, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
