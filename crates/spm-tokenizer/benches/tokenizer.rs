//! Vocabulary build time and encoding throughput on the real Gemma vocabulary (from the
//! cached Q8_0 GGUF; `cargo xtask fetch-model` first), over `testdata/bench-prose.txt`,
//! beside the Hugging Face `tokenizers` crate loading the release's `tokenizer.json`.
//!
//! `cargo bench -p spm-tokenizer`
#![allow(missing_docs)] // criterion_group! defines an undocumented pub fn

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use spm_tokenizer::{EncodeOptions, SpecialTokens, Tokenizer};

#[path = "../../../testdata/mini_gguf.rs"]
mod mini_gguf;
#[path = "../../../testdata/model_paths.rs"]
mod model_paths;

use mini_gguf::Meta;

fn arrays() -> Option<(Vec<String>, Vec<f32>, Vec<i32>)> {
    let path = model_paths::require(model_paths::gguf("q8_0"), "spm-tokenizer benches")?;
    let g = mini_gguf::read(&path, false);
    let (Some(Meta::Strs(t)), Some(Meta::Floats(s)), Some(Meta::Ints(ty))) = (
        g.meta.get("tokenizer.ggml.tokens"),
        g.meta.get("tokenizer.ggml.scores"),
        g.meta.get("tokenizer.ggml.token_type"),
    ) else {
        return None;
    };
    Some((
        t.clone(),
        s.iter().map(|&x| x as f32).collect(),
        ty.iter().map(|&x| x as i32).collect(),
    ))
}

fn bench(c: &mut Criterion) {
    let Some((tokens, scores, types)) = arrays() else {
        return;
    };
    c.bench_function("vocab_build/262144", |b| {
        b.iter(|| {
            Tokenizer::new(
                tokens.iter().map(String::as_str),
                &scores,
                &types,
                SpecialTokens::GEMMA,
            )
            .unwrap()
        })
    });
    let tok = Tokenizer::new(
        tokens.iter().map(String::as_str),
        &scores,
        &types,
        SpecialTokens::GEMMA,
    )
    .unwrap();
    let prose = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/bench-prose.txt"
    ))
    .unwrap();
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
