//! SentencePiece tokenization exactly as llama.cpp does it.
//!
//! Work in progress: the tokenizer lands with its own issue; this crate currently
//! only reserves its place in the workspace.
#![forbid(unsafe_code)]
