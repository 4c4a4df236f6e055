//! SentencePiece tokenization exactly as llama.cpp does it.
//!
//! So far this crate reads SentencePiece's `tokenizer.model` ([`SentencePieceModel`]);
//! the tokenizer itself lands with its own issue.
#![forbid(unsafe_code)]

mod error;
pub mod model_proto;

pub use error::{Error, ErrorKind};
pub use model_proto::{ModelType, Piece, PieceType, SentencePieceModel};
