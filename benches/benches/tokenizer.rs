//! spm-tokenizer on the real Gemma vocabulary (read from the cached Q8_0 GGUF; `cargo
//! xtask fetch-model` first): vocabulary build time, and encoding throughput over
//! `testdata/bench-prose.txt` and over 1 MiB runs of one character and of spaces, beside
//! the Hugging Face `tokenizers` crate loading the release's `tokenizer.json`.
//!
//! `cargo bench -p embed-benches --bench tokenizer`
#![allow(missing_docs)] // criterion_group! defines an undocumented pub fn

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gguf_format::MappedGguf;
use spm_tokenizer::{EncodeOptions, SpecialTokens, Tokenizer};
use testkit::model_paths;

/// The GGUF arrays `tokenizer.ggml.tokens`, `.scores` and `.token_type`.
fn arrays() -> Option<(Vec<String>, Vec<f32>, Vec<i32>)> {
    let path = model_paths::require(model_paths::gguf("q8_0"), "bench tokenizer")?;
    let file = MappedGguf::open(&path).unwrap();
    let g = file.parse().unwrap();
    let array = |k: &str| g.get_array(k).unwrap();
    Some((
        array("tokenizer.ggml.tokens")
            .strs()
            .unwrap()
            .map(str::to_owned)
            .collect(),
        array("tokenizer.ggml.scores").f32s().unwrap().collect(),
        array("tokenizer.ggml.token_type").i32s().unwrap().collect(),
    ))
}

fn bench(c: &mut Criterion) {
    let Some((tokens, scores, types)) = arrays() else {
        return;
    };
    let build = || {
        Tokenizer::new(
            tokens.iter().map(String::as_str),
            &scores,
            &types,
            SpecialTokens::GEMMA,
        )
        .unwrap()
    };
    c.bench_function("vocab_build/262144", |b| b.iter(build));
    let tok = build();
    let prose = std::fs::read_to_string(testkit::testdata("bench-prose.txt")).unwrap();
    // The Hugging Face tokenizer of the same model, for comparison.
    let hf_json = model_paths::release_dir().join("tokenizer.json");
    let hf = tokenizers::Tokenizer::from_file(&hf_json).ok();
    if hf.is_some() {
        c.bench_function("vocab_build/hf_tokenizer_json", |b| {
            b.iter(|| tokenizers::Tokenizer::from_file(&hf_json).unwrap())
        });
    }
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Bytes(prose.len() as u64));
    g.bench_function("english_prose", |b| {
        b.iter(|| tok.encode(&prose, EncodeOptions::default()))
    });
    if let Some(hf) = &hf {
        g.bench_function("english_prose_hf", |b| {
            b.iter(|| hf.encode(prose.as_str(), true).unwrap())
        });
    }
    let spaces = " ".repeat(1 << 20);
    g.throughput(Throughput::Bytes(spaces.len() as u64));
    g.sample_size(10);
    g.bench_function("1MiB_spaces", |b| {
        b.iter(|| tok.encode(&spaces, EncodeOptions::default()))
    });
    let one = "a".repeat(1 << 20);
    g.bench_function("1MiB_one_char", |b| {
        b.iter(|| tok.encode(&one, EncodeOptions::default()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
