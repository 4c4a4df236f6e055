//! Encoding and decoding arbitrary bytes with the real Gemma vocabulary, read once per
//! process from the GGUF named by `SPM_FUZZ_GGUF` (`cargo xtask fuzz` sets it to the
//! cached model). Beyond "no panic", the invariants that must hold on any text:
//!
//! - `encode_bytes` succeeds exactly on UTF-8 and otherwise names the first bad byte;
//! - every id is in the vocabulary, BOS first and EOS last when special tokens are added;
//! - the word split changes nothing: `encode` equals `encode_unsplit`;
//! - without special-token parsing, decoding gives the text back (when it holds no `▁`,
//!   which decodes to a space);
//! - truncation keeps at most the limit, and what it keeps plus what it cut is the text;
//! - decoding any ids gives a string, or an error at the first id out of range.
#![no_main]

use std::sync::OnceLock;

use gguf_format::MappedGguf;
use spm_tokenizer::{EncodeOptions, ErrorKind, SpecialTokens, Tokenizer};

fn tokenizer() -> &'static Tokenizer {
    static TOK: OnceLock<Tokenizer> = OnceLock::new();
    TOK.get_or_init(|| {
        let path = std::env::var_os("SPM_FUZZ_GGUF")
            .expect("SPM_FUZZ_GGUF must name a GGUF with the Gemma vocabulary");
        let map = MappedGguf::open(std::path::Path::new(&path)).expect("open the GGUF");
        let g = map.parse().expect("parse the GGUF");
        let tokens = g.get_array("tokenizer.ggml.tokens").expect("tokens");
        let scores: Vec<f32> = g
            .get_array("tokenizer.ggml.scores")
            .expect("scores")
            .f32s()
            .expect("f32 scores")
            .collect();
        let types: Vec<i32> = g
            .get_array("tokenizer.ggml.token_type")
            .expect("types")
            .i32s()
            .expect("i32 types")
            .collect();
        let pieces: Vec<&str> = tokens.strs().expect("string tokens").collect();
        Tokenizer::new(pieces, &scores, &types, SpecialTokens::GEMMA).expect("the vocabulary")
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let tok = tokenizer();
    let n = tok.vocab_size() as u32;
    let special = *tok.special_tokens();

    let lossy;
    let text = match (
        std::str::from_utf8(data),
        tok.encode_bytes(data, EncodeOptions::default()),
    ) {
        (Ok(text), Ok(ids)) => {
            assert_eq!(ids, tok.encode(text, EncodeOptions::default()));
            assert_eq!(ids.first(), Some(&special.bos));
            assert_eq!(ids.last(), Some(&special.eos));
            assert!(ids.iter().all(|&id| id < n));
            text
        }
        (Err(e), Err(err)) => {
            assert_eq!(
                err.kind(),
                &ErrorKind::InvalidUtf8 {
                    offset: e.valid_up_to()
                }
            );
            lossy = String::from_utf8_lossy(data);
            &*lossy
        }
        (utf8, enc) => panic!("from_utf8 {utf8:?} but encode_bytes {enc:?}"),
    };

    for parse_special in [false, true] {
        let opts = EncodeOptions::default()
            .with_add_special(false)
            .with_parse_special(parse_special);
        let ids = tok.encode(text, opts);
        assert!(ids.iter().all(|&id| id < n));
        assert_eq!(
            ids,
            tok.encode_unsplit(text, opts),
            "the word split changed the ids"
        );
        if !parse_special && !text.contains('\u{2581}') {
            assert_eq!(tok.decode(&ids).expect("ids in range"), text);
        }
        let max = usize::from(data.first().copied().unwrap_or(0));
        let cut = tok.encode_truncated(text, parse_special, max);
        assert!(cut.ids.len() <= max.max(2));
        assert_eq!(cut.ids.len() - 2 + cut.truncated, ids.len());
        assert_eq!(cut.ids[1..cut.ids.len() - 1], ids[..cut.ids.len() - 2]);
    }

    // The bytes as ids: decoded, or refused at the first one out of range.
    let ids: Vec<u32> = data
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) % (2 * n))
        .collect();
    match tok.decode(&ids) {
        Ok(_) => assert!(ids.iter().all(|&id| id < n)),
        Err(e) => {
            let first = ids
                .iter()
                .position(|&id| id >= n)
                .expect("an id out of range");
            assert!(
                matches!(e.kind(), ErrorKind::UnknownId { index, .. } if *index == first),
                "{e}"
            );
        }
    }
});
