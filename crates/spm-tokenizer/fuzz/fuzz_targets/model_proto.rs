//! `tokenizer.model` (SentencePiece protobuf) from arbitrary bytes: parsed or refused,
//! never a panic; a parsed model builds a tokenizer or is refused, and a built one
//! encodes and decodes with every id in range.
#![no_main]

use spm_tokenizer::{EncodeOptions, SentencePieceModel, SpecialTokens, Tokenizer};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(model) = SentencePieceModel::parse(data) else {
        return;
    };
    assert!(!model.pieces.is_empty());
    let last = model.pieces.len() as u32 - 1;
    // Gemma's special ids when the vocabulary has them, else the last piece.
    let special = SpecialTokens {
        bos: SpecialTokens::GEMMA.bos.min(last),
        eos: SpecialTokens::GEMMA.eos.min(last),
        unk: Some(SpecialTokens::GEMMA.unk.unwrap_or(0).min(last)),
        pad: None,
        ..SpecialTokens::GEMMA
    };
    let Ok(tok) = Tokenizer::from_sentencepiece(&model, special) else {
        return;
    };
    assert_eq!(tok.vocab_size(), model.pieces.len());
    for text in ["Hello world", "  a\u{2581}b <bos>\n\u{1F600} \u{0}", ""] {
        let ids = tok.encode(text, EncodeOptions::default());
        assert!(ids.iter().all(|&id| id <= last));
        tok.decode(&ids).expect("ids from encode decode");
    }
});
