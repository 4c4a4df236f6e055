//! Row conversion and single dot products per format and kernel path: dequantize and
//! quantize throughput (criterion's `elem/s` = values per second) on one row of
//! 768 x 1152 values (a whole `ffn_down` matrix), and vec_dot (`elem/s` = multiply-adds
//! per second) at the model's row lengths.
//!
//! `cargo bench -p ggml-quant --bench quant`; filter with e.g. `-- dequantize/q4_k`.
#![allow(missing_docs)] // criterion_group! defines an undocumented pub fn

mod common;

use common::values;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ggml_quant::kernels::{dot_f32, dot_i8_blocks};
use ggml_quant::{QK8_0, QuantType, available_paths, dequantize_row, quantize_row, with_path};

const FORMATS: [QuantType; 11] = [
    QuantType::F32,
    QuantType::F16,
    QuantType::BF16,
    QuantType::Q8_0,
    QuantType::Q4_0,
    QuantType::Q4_1,
    QuantType::Q5_0,
    QuantType::Q5_1,
    QuantType::Q4_K,
    QuantType::Q5_K,
    QuantType::Q6_K,
];

fn bench_rows(c: &mut Criterion) {
    let n = 768 * 1152;
    let x = values(n, 3);
    for (what, dequantize) in [("dequantize", true), ("quantize", false)] {
        let mut g = c.benchmark_group(what);
        g.sample_size(10);
        g.throughput(Throughput::Elements(n as u64));
        for q in FORMATS {
            let bytes = quantize_row(q, &x).unwrap();
            let id = format!("{q:?}").to_lowercase();
            if dequantize {
                g.bench_function(id, |b| b.iter(|| dequantize_row(q, &bytes, n).unwrap()));
            } else {
                g.bench_function(id, |b| b.iter(|| quantize_row(q, &x).unwrap()));
            }
        }
        g.finish();
    }
}

fn bench_vec_dot(c: &mut Criterion) {
    let mut g = c.benchmark_group("vec_dot");
    for n in [768, 1152, 3072] {
        let (a, b) = (values(n, 5), values(n, 7));
        // Q8_0 blocks of both rows, as the int8 scheme holds them.
        let blocks = |v: &[f32]| -> (Vec<[i8; QK8_0]>, Vec<f32>) {
            let bytes = quantize_row(QuantType::Q8_0, v).unwrap();
            bytes
                .chunks_exact(34)
                .map(|blk| {
                    let d = half::f16::from_le_bytes([blk[0], blk[1]]).to_f32();
                    let q: [i8; QK8_0] = std::array::from_fn(|j| blk[2 + j] as i8);
                    (q, d)
                })
                .unzip()
        };
        let ((wq, wd), (xq, xd)) = (blocks(&a), blocks(&b));
        g.throughput(Throughput::Elements(n as u64));
        for path in available_paths() {
            g.bench_with_input(BenchmarkId::new(format!("f32/{path}"), n), &n, |bch, _| {
                bch.iter(|| with_path(path, || dot_f32(&a, &b)))
            });
            g.bench_with_input(BenchmarkId::new(format!("q8_0/{path}"), n), &n, |bch, _| {
                bch.iter(|| with_path(path, || dot_i8_blocks(&wq, &wd, &xq, &xd)))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench_rows, bench_vec_dot);
criterion_main!(benches);
