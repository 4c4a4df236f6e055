//! Where `matmul_with` stops packing panel by panel and packs the whole matrix first
//! (`PACK_WHOLE_FROM`, 512 tokens): both ways timed at 128 ... 511 tokens on Q8_0
//! weights at three of the model's shapes, medians of 41 calls, in GMAC/s.
//!
//! `cargo run --release -p ggml-quant --example pack_threshold`

use std::time::Instant;

use ggml_quant::{Activations, Matrix, PackedWeights, QuantType, matmul_with, quantize_row};

/// The median wall time of 41 calls of `f`, in seconds.
fn median(mut f: impl FnMut()) -> f64 {
    let mut ts: Vec<f64> = (0..41)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    ts.sort_by(f64::total_cmp);
    ts[20]
}

fn main() {
    for (rows, cols) in [(768usize, 768usize), (3072, 768), (768, 1152)] {
        let wf: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 7919 % 2001) as f32 - 1000.0) / 1000.0)
            .collect();
        let data: Vec<u8> = wf
            .chunks(cols)
            .flat_map(|r| quantize_row(QuantType::Q8_0, r).unwrap())
            .collect();
        let w = Matrix::new(QuantType::Q8_0, &data, rows, cols).unwrap();
        for act in [Activations::Int16, Activations::Native] {
            for n in [128usize, 256, 384, 511] {
                let x: Vec<f32> = (0..n * cols)
                    .map(|i| ((i * 31 % 977) as f32 - 488.0) / 300.0)
                    .collect();
                let mut y = vec![0f32; n * rows];
                let panels = median(|| matmul_with(&w, &x, &mut y, act).unwrap());
                let whole = median(|| {
                    let p = PackedWeights::new(&w, act).unwrap();
                    p.matmul(&x, &mut y).unwrap()
                });
                let g = (rows * cols * n) as f64 / 1e9;
                println!(
                    "{rows}x{cols} {act:?} {n} tokens: panel by panel {:.0} GMAC/s, whole first {:.0}",
                    g / panels,
                    g / whole
                );
            }
        }
    }
}
