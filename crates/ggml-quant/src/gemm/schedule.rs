//! The scheduler: a product split over tokens or panels with rayon, each task running
//! the kernel tile by tile over k-chunks that stay in L1.

use std::ops::Range;

use rayon::prelude::*;

use super::activations::{Act, ActQuant};
use super::pack::{IntPacking, PackedF32};
use super::unpack::WeightRows;
use super::{MR, PANEL, Panel, Tile, Tokens};
use crate::arch;
use crate::blocks::QK8_0;

/// Fewest tokens for which [`crate::matmul_with`] packs the whole matrix before the
/// product (then split over token chunks); below it each task packs the panel it
/// multiplies, where it is used, and nothing of the size of the matrix is allocated
/// (`examples/pack_threshold.rs` times both ways).
pub(crate) const PACK_WHOLE_FROM: usize = 512;

/// f32 values per k-chunk: 2 groups x 128 x 64 B = 16 KiB of weights in L1.
const K_F32: usize = 128;

/// `y = x * W^T` with integer-packed weights and the activations their scheme takes.
pub(crate) fn gemm_int<P: IntPacking>(p: &P, rows: usize, x: &[f32], y: &mut [f32]) {
    let (act, mins) = p.scheme();
    let a = P::quantize(x, act, mins);
    run_int::<P>(rows, p.blocks(), &a, y, false, |panel| {
        PanelOf::Borrowed(p, panel)
    });
}

/// [`gemm_int`] on weights packed panel by panel as they are used (for fewer than
/// [`PACK_WHOLE_FROM`] tokens), for activations `act` and minimums when `mins`.
pub(crate) fn gemm_int_unpacked<P: IntPacking>(
    rows: usize,
    cols: usize,
    (act, mins): (ActQuant, bool),
    src: WeightRows<'_>,
    x: &[f32],
    y: &mut [f32],
) {
    let a = P::quantize(x, act, mins);
    let one = |panel: usize| {
        let r0 = panel * PANEL;
        let n = PANEL.min(rows - r0);
        let spare = P::scratch().take();
        let p = P::pack_reusing(spare, n, cols, act, mins, src.skip(r0), usize::MAX);
        PanelOf::Owned(p)
    };
    run_int::<P>(rows, cols / QK8_0, &a, y, true, one);
}

/// `y = x * W^T` with f32-packed weights.
pub(crate) fn gemm_f32(p: &PackedF32, rows: usize, x: &[f32], y: &mut [f32]) {
    let cols = p.cols;
    let n_tokens = x.len() / cols;
    let kernel = arch::kernel_f32();
    let ks = chunks(cols, K_F32);
    let panel = |panel: usize| p.panel(panel);
    drive(rows, n_tokens, &ks, y, false, panel, |w, t0, m, ks, acc| {
        kernel(w, ks, &x[t0 * cols..(t0 + m) * cols], m, acc)
    });
}

/// A panel of a packing shared by all tasks, or one a task packed for itself (whose
/// buffers go back to the thread's [`IntPacking::scratch`] when it is dropped, for the
/// next panel this thread packs: each thread keeps one panel's worth).
enum PanelOf<'a, P: IntPacking> {
    Borrowed(&'a P, usize),
    Owned(P),
}

impl<P: IntPacking> Drop for PanelOf<'_, P> {
    fn drop(&mut self) {
        if let PanelOf::Owned(p) = self {
            P::scratch().set(Some(std::mem::replace(p, P::empty())));
        }
    }
}

impl<P: IntPacking> PanelOf<'_, P> {
    fn get(&self) -> Panel<'_, P::Lane> {
        match self {
            PanelOf::Borrowed(p, panel) => p.panel(*panel),
            PanelOf::Owned(p) => p.panel(0),
        }
    }
}

/// The integer product over the panels `panel` gives (split over panels when
/// `by_panels`); after each k-chunk's integer blocks, the minimums' term `m * s` of the
/// same blocks by the f32 kernel (see the [module docs](super)).
fn run_int<'a, P: IntPacking + 'a>(
    rows: usize,
    blocks: usize,
    a: &Act<P::X>,
    y: &mut [f32],
    by_panels: bool,
    panel: impl Fn(usize) -> PanelOf<'a, P> + Sync,
) {
    let cols = blocks * QK8_0;
    let n_tokens = a.q.len() / cols;
    let (kernel, kf) = (P::kernel(), arch::kernel_f32());
    let ks = chunks(blocks, P::K_BLOCKS);
    let tile = |src: &PanelOf<'a, P>, t0: usize, m: usize, ks: Range<usize>, acc: &mut Tile| {
        let p = src.get();
        let x = Tokens {
            q: &a.q[t0 * cols..(t0 + m) * cols],
            d: &a.d[t0 * blocks..(t0 + m) * blocks],
            n: m,
        };
        kernel(&p, ks.clone(), &x, acc);
        if let Some(mins) = &p.mins {
            kf(mins, ks, &a.s[t0 * blocks..(t0 + m) * blocks], m, acc);
        }
    };
    drive(rows, n_tokens, &ks, y, by_panels, panel, tile);
}

/// Runs `tile(panel(p), t0, m, ks, acc)` — `m <= MR` tokens from `t0` against the 32
/// rows of panel `p`, adding the k-chunk `ks` to `acc` — over every panel, token and
/// k-chunk (chunks in order, so every sum keeps its order), writing `y[t * rows + r]`. A
/// chunk of a panel's weights stays in L1 while all the tokens of a task pass over it.
/// Work is split over token chunks when there are enough tokens (and not `by_panels`),
/// otherwise over panels; `panel(p)` is called once per task and panel.
fn drive<S>(
    rows: usize,
    n_tokens: usize,
    k_chunks: &[Range<usize>],
    y: &mut [f32],
    by_panels: bool,
    panel: impl Fn(usize) -> S + Sync,
    tile: impl Fn(&S, usize, usize, Range<usize>, &mut Tile) + Sync,
) {
    let panels = rows.div_ceil(PANEL);
    let threads = rayon::current_num_threads().max(1);
    let put = |y: &mut [f32], t: &Tile, m: usize, panel: usize| {
        let r0 = panel * PANEL;
        let n = PANEL.min(rows - r0);
        for (i, row) in t.iter().enumerate().take(m) {
            let dst = &mut y[i * rows + r0..];
            if n == PANEL {
                // A constant-length copy: two vector stores, not a libc call per row.
                dst[..PANEL].copy_from_slice(row);
            } else {
                dst[..n].copy_from_slice(&row[..n]);
            }
        }
    };
    // Every micro-tile of tokens `t0..t0 + nt` against one panel, all k-chunks.
    let panel_tiles = |p: usize, t0: usize, nt: usize| -> Vec<Tile> {
        let src = panel(p);
        let mut acc = vec![[[0f32; PANEL]; MR]; nt.div_ceil(MR)];
        for ks in k_chunks {
            for (i, a) in acc.iter_mut().enumerate() {
                let ts = i * MR;
                tile(&src, t0 + ts, MR.min(nt - ts), ks.clone(), a);
            }
        }
        acc
    };
    if !by_panels && n_tokens >= 4 * threads * MR {
        // Token chunks: each task owns whole output rows. A multiple of the thread count
        // of tasks, at most 32 tiles each, the tiles spread evenly over them (so that no
        // thread is left with a task more, or a larger one, than another).
        let tiles = n_tokens.div_ceil(MR);
        let tasks = (2 * threads).max(tiles.div_ceil(32).next_multiple_of(threads));
        let mut parts = Vec::with_capacity(tasks);
        let (mut rest, mut t0) = (y, 0);
        for j in 1..=tasks {
            let end = (j * tiles / tasks * MR).min(n_tokens);
            let (part, tail) = rest.split_at_mut((end - t0) * rows);
            parts.push((t0, part));
            (rest, t0) = (tail, end);
        }
        parts.into_par_iter().for_each(|(t0, yc)| {
            let nt = yc.len() / rows;
            for panel in 0..panels {
                for (i, t) in panel_tiles(panel, t0, nt).iter().enumerate() {
                    let ts = i * MR;
                    put(&mut yc[ts * rows..], t, MR.min(nt - ts), panel);
                }
            }
        });
    } else {
        // Few tokens: split the panels; each task returns its columns.
        let cols: Vec<Vec<Tile>> = (0..panels)
            .into_par_iter()
            .map(|panel| panel_tiles(panel, 0, n_tokens))
            .collect();
        for (panel, tiles) in cols.iter().enumerate() {
            for (k, t) in tiles.iter().enumerate() {
                let ts = k * MR;
                put(&mut y[ts * rows..], t, MR.min(n_tokens - ts), panel);
            }
        }
    }
}

/// `0..n` in chunks of `step`.
fn chunks(n: usize, step: usize) -> Vec<Range<usize>> {
    (0..n).step_by(step).map(|a| a..(a + step).min(n)).collect()
}

#[cfg(test)]
mod tests {
    use crate::gemm::activations::quantize_u8;
    use crate::simd::{SimdPath, available_paths, with_path};
    use crate::{Activations, Matrix, PackedWeights, QuantType, matmul_with, quantize_row};

    use crate::gemm::test_values as values;

    proptest::proptest! {
        /// Every SIMD kernel gives the scalar kernel's bits, through the whole matmul, on
        /// shapes that are not multiples of the panel or the token tile, in both the
        /// few-token and the many-token split.
        #[test]
        fn simd_kernels_equal_scalar(
            rows in 1usize..70,
            blocks in 1usize..5,
            tokens in prop_tokens(),
            q in proptest::sample::select(vec![
                QuantType::Q8_0, QuantType::Q4_0, QuantType::Q5_0, QuantType::Q4_1,
                QuantType::Q5_1, QuantType::F16, QuantType::Q4_K, QuantType::Q5_K,
                QuantType::Q6_K,
            ]),
            seed in 1u64..u64::MAX,
        ) {
            // Rows of whole blocks of the type: 32 values, or 256 for the K-quants.
            let cols = blocks * q.block_size().max(32);
            let wf = values(rows * cols, seed);
            let data: Vec<u8> = wf.chunks(cols).flat_map(|r| quantize_row(q, r).unwrap()).collect();
            let w = Matrix::new(q, &data, rows, cols).unwrap();
            let x = values(tokens * cols, seed ^ 0x9e37);
            for act in [Activations::Native, Activations::Int16, Activations::F32] {
                let run = |path| with_path(path, || {
                    let mut y = vec![0f32; tokens * rows];
                    matmul_with(&w, &x, &mut y, act).unwrap();
                    y
                }).unwrap();
                let want = run(SimdPath::Scalar);
                for path in available_paths() {
                    let got = run(path);
                    proptest::prop_assert!(
                        got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()),
                        "{:?} {:?} path {}", q, act, path
                    );
                }
                // Packed whole first (as for many tokens, split over token chunks) or
                // panel by panel where used (`matmul_with` below PACK_WHOLE_FROM tokens):
                // the same bits.
                let mut y = vec![0f32; tokens * rows];
                PackedWeights::new(&w, act).unwrap().matmul(&x, &mut y).unwrap();
                proptest::prop_assert!(
                    y.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{:?} {:?} prepacked", q, act
                );
            }
        }
    }

    fn prop_tokens() -> impl proptest::strategy::Strategy<Value = usize> {
        proptest::prop_oneof![1usize..13, 40usize..120]
    }

    /// ggml's scheme written out naively: Q8_0 activations, exact block sums, f64 total.
    #[test]
    fn int8_scheme_matches_a_naive_ggml_product() {
        let (rows, cols, n) = (40, 96, 9);
        let w: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect();
        let x: Vec<f32> = (0..n * cols)
            .map(|i| {
                if i % 29 == 3 {
                    300.0
                } else {
                    ((i * 53 % 97) as f32 - 48.0) / 3.0
                }
            })
            .collect();
        let data: Vec<u8> = w
            .chunks(cols)
            .flat_map(|r| quantize_row(QuantType::Q8_0, r).unwrap())
            .collect();
        let m = Matrix::new(QuantType::Q8_0, &data, rows, cols).unwrap();
        let mut y = vec![0f32; n * rows];
        matmul_with(&m, &x, &mut y, Activations::Native).unwrap();
        let a = quantize_u8(&x);
        for t in 0..n {
            for r in 0..rows {
                let blocks = &data[r * 3 * 34..(r + 1) * 3 * 34];
                let (mut want, mut size) = (0f64, 0f64);
                for b in 0..3 {
                    let blk = &blocks[b * 34..(b + 1) * 34];
                    let dw = half::f16::from_le_bytes([blk[0], blk[1]]).to_f32();
                    let s: i32 = (0..32)
                        .map(|j| {
                            i32::from(blk[2 + j] as i8)
                                * (i32::from(a.q[t * cols + b * 32 + j]) - 128)
                        })
                        .sum();
                    let term = f64::from(s) * f64::from(dw) * f64::from(a.d[t * 3 + b]);
                    want += term;
                    size += term.abs();
                }
                let got = f64::from(y[t * rows + r]);
                assert!(
                    (got - want).abs() <= 1e-6 * size,
                    "{t} {r}: {got} vs {want}"
                );
            }
        }
    }
}
