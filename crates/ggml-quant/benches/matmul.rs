//! Matrix multiplication at EmbeddingGemma's shapes, per weight format, activation
//! scheme and kernel path. Throughput is in multiply-adds: criterion's `elem/s` here is
//! MAC/s (so `Gelem/s` reads as GMAC/s).
//!
//! `cargo bench -p ggml-quant --bench matmul`; filter with e.g. `-- q8_0/int16/avx512`.
//! Thread count follows rayon (`RAYON_NUM_THREADS`).
#![allow(missing_docs)] // criterion_group! defines an undocumented pub fn

mod common;

use common::values;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ggml_quant::{
    Activations, Matrix, PackedWeights, QuantType, SimdPath, available_paths, matmul_with,
    quantize_row, with_path,
};

/// (rows, cols): q/o, k/v, gate/up, down, dense_2 (3072 x 768) and dense_3.
const SHAPES: [(usize, usize); 5] = [
    (768, 768),
    (256, 768),
    (1152, 768),
    (768, 1152),
    (3072, 768),
];

fn bench_matmul(c: &mut Criterion) {
    let quick = std::env::var("BENCH_QUICK").is_ok();
    let tokens: &[usize] = if quick { &[128] } else { &[1, 16, 128, 2048] };
    // Each call packs the weights, as `matmul_with` does, except for the `-prepacked`
    // schemes, which time `PackedWeights::matmul` on weights packed once (the kernel and
    // the activation quantization alone).
    let cases = [
        (QuantType::Q8_0, Activations::Int16, "int16"),
        (QuantType::Q8_0, Activations::Int16, "int16-prepacked"),
        (QuantType::Q8_0, Activations::Native, "int8"),
        (QuantType::Q8_0, Activations::Native, "int8-prepacked"),
        (QuantType::Q8_0, Activations::F32, "f32"),
        (QuantType::F16, Activations::F32, "f32"),
        (QuantType::Q4_0, Activations::Int16, "int16"),
        (QuantType::Q4_0, Activations::Native, "int8"),
        (QuantType::Q4_1, Activations::Native, "int8"),
        (QuantType::Q4_K, Activations::Native, "int8"),
        (QuantType::Q4_K, Activations::Int16, "int16"),
        (QuantType::Q4_K, Activations::F32, "f32"),
        (QuantType::Q5_K, Activations::Native, "int8"),
        // Q6_K's native scheme: Q8_K activations through the int16 kernel.
        (QuantType::Q6_K, Activations::Native, "q8k-int16"),
        (QuantType::Q6_K, Activations::Int16, "int16"),
    ];
    for (q, act, scheme) in cases {
        let prepacked = scheme.ends_with("-prepacked");
        let mut g = c.benchmark_group(format!("matmul/{q:?}/{scheme}").to_lowercase());
        g.sample_size(10);
        for (rows, cols) in SHAPES {
            if cols % q.block_size() != 0 {
                continue; // a K-quant row is whole super-blocks of 256
            }
            let wf = values(rows * cols, 7);
            let data: Vec<u8> = wf
                .chunks(cols)
                .flat_map(|r| quantize_row(q, r).unwrap())
                .collect();
            let w = Matrix::new(q, &data, rows, cols).unwrap();
            for &n in tokens {
                let x = values(n * cols, 11);
                let mut y = vec![0f32; n * rows];
                g.throughput(Throughput::Elements((rows * cols * n) as u64));
                for path in available_paths() {
                    if path == SimdPath::Scalar && n > 16 {
                        continue;
                    }
                    let id = BenchmarkId::new(format!("{path}/{rows}x{cols}"), n);
                    if prepacked {
                        let p = PackedWeights::new(&w, act).unwrap();
                        g.bench_with_input(id, &n, |b, _| {
                            b.iter(|| with_path(path, || p.matmul(&x, &mut y).unwrap()))
                        });
                    } else {
                        g.bench_with_input(id, &n, |b, _| {
                            b.iter(|| {
                                with_path(path, || matmul_with(&w, &x, &mut y, act).unwrap());
                            })
                        });
                    }
                }
            }
        }
        g.finish();
    }
}

criterion_group!(benches, bench_matmul);
criterion_main!(benches);
