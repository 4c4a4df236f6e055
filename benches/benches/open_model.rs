//! Opening a model: memory-map and parse the GGUF header, metadata and tensor table.
//! Runs on the cached Q8_0 model when `cargo xtask fetch-model` has made it, and always on
//! the small quantization-vector file in `testdata/`.

#![allow(missing_docs)] // criterion_group! defines an undocumented pub fn
use criterion::{Criterion, criterion_group, criterion_main};
use gguf_format::MappedGguf;

use testkit::model_paths;

fn open(c: &mut Criterion) {
    let small = testkit::testdata("quant-vectors.gguf");
    let mut files = vec![("quant-vectors", small)];
    if let Some(p) = model_paths::require(model_paths::gguf("q8_0"), "bench open_model/q8_0") {
        files.push(("embeddinggemma-300m-q8_0", p));
    }
    for (name, path) in files {
        c.bench_function(&format!("open_model/{name}"), |b| {
            b.iter(|| {
                let file = MappedGguf::open(&path).unwrap();
                let g = file.parse().unwrap();
                std::hint::black_box(g.tensors().len());
            })
        });
    }
}

criterion_group!(benches, open);
criterion_main!(benches);
