//! One short query in a warm [`Embedder`]: the latency a search box waits for.
//!
//! The text is 10 tokens with BOS and EOS (the bench checks it), embedded with the
//! default options on the cached Q8_0 model. Such a pass is bound by reading the layer
//! weights once from memory; `cargo xtask bench` sets this median against that floor
//! (bytes read / `read-bandwidth`). Threads: rayon's global pool (`RAYON_NUM_THREADS`).

#![allow(missing_docs)] // criterion_group! defines an undocumented pub fn
use criterion::{Criterion, criterion_group, criterion_main};
use gemma_encoder::{EmbedOptions, Embedder};

use testkit::model_paths;

/// Eight tokens of text between BOS and EOS.
const QUERY: &str = "which planet is known as the red planet";
const TOKENS: usize = 10;

fn query(c: &mut Criterion) {
    let Some(path) = model_paths::require(model_paths::gguf("q8_0"), "bench query") else {
        return;
    };
    let model = Embedder::open(&path).expect("open the Q8_0 model");
    let opts = EmbedOptions::new();
    let warm = model.embed(&[QUERY], &opts).expect("embed the query");
    assert_eq!(
        warm[0].n_tokens, TOKENS,
        "the query must stay {TOKENS} tokens"
    );
    c.bench_function("query/10-tokens", |b| {
        b.iter(|| {
            let e = model.embed(&[QUERY], &opts).unwrap();
            std::hint::black_box(e[0].vector[0]);
        })
    });
}

criterion_group!(benches, query);
criterion_main!(benches);
