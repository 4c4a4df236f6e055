//! Packed-panel matrix multiplication, the batch hot path of the runtime.
//!
//! A weight matrix is repacked into groups of [`GROUP`] output rows laid out k-major
//! ([`pack`]), so a kernel multiplies one vector of 16 rows by one broadcast activation
//! and never reduces horizontally; one kernel call computes up to [`MR`] tokens against
//! a [`Panel`] of [`PANEL`] rows, from registers. The activations are quantized by
//! blocks of 32 first ([`activations`]); [`schedule`] splits the work over tokens or
//! panels with rayon. The portable kernels in [`reference`](mod@reference) define the
//! arithmetic; `arch/` has them per instruction set. Three arithmetic schemes:
//!
//! - **int16** (every quantized weight type): every block of 32 activations is quantized
//!   to int16 with an f32 scale `amax / 32767`, the weights are widened to int16, each
//!   block's integer sum is exact (`vpdpwssd` on AVX-512 VNNI, `vpmaddwd` on AVX2), and
//!   each block adds `(sum * d_w) * d_x` to an f32 accumulator with one fused
//!   multiply-add. The activation error is 2^-16 of the block's largest value, 256
//!   times finer than ggml's Q8_0 activations, at half the int8 peak rate. Q6_K's
//!   integer weights reach 4096 (scale times quant), so its activations stop at 16383.
//! - **int8** (ggml's schemes): activations quantized as ggml quantizes them for the
//!   weight type (Q8_0, Q8_1, Q8_K), weights kept in bytes, `vpdpbusd` block sums.
//! - **f32** (every weight type): the weights widened to f32, f32 activations, one fused
//!   multiply-add per product in k order.
//!
//! Weight types with a minimum per block (Q4_1, Q5_1, Q4_K, Q5_K: `w = d * q + m`) carry
//! the minimums as an f32 matrix of one value per row and block; the activations carry
//! `s = d_x * sum(q_x)` per block, and after the integer blocks of a k-chunk the f32
//! kernel adds `m * s` for the same blocks (ggml's `m * s` term of `vec_dot_q4_1_q8_1`,
//! and of the K-quants' `dmin * sum(mins * bsums)`).
//!
//! The arithmetic of one output element is fixed (the same operations in the same order
//! on every path, with exact integer sums where the order could differ), so the portable
//! kernel and every SIMD kernel give the same bits, and a result does not depend on the
//! batch, the tiling or the thread count.

pub(crate) mod activations;
pub(crate) mod pack;
mod packed_matrix;
pub(crate) mod reference;
pub(crate) mod schedule;
pub(crate) mod unpack;

use std::ops::Range;

use crate::blocks::QK8_0;

pub use packed_matrix::PackedMatrix;

/// Output rows per packed group: one 512-bit vector of f32 or i32.
pub(crate) const GROUP: usize = 16;
/// Output rows per kernel call (two groups).
pub(crate) const PANEL: usize = 2 * GROUP;
/// Tokens per kernel call.
pub(crate) const MR: usize = 6;
/// int16 values of one packed block of one group: 16 pairs of k x 16 rows x 2.
pub(crate) const BLOCK_I16: usize = QK8_0 * GROUP;
/// int8 values of one packed block of one group: 8 quads of k x 16 rows x 4.
pub(crate) const BLOCK_I8: usize = QK8_0 * GROUP;

/// One kernel call's output: `MR` tokens x `PANEL` rows.
pub(crate) type Tile = [[f32; PANEL]; MR];

/// An integer kernel: adds the blocks `ks` of the tokens' products with the panel, in
/// block order, to the accumulators.
pub(crate) type Kernel<W, X> = fn(&Panel<'_, W>, Range<usize>, &Tokens<'_, X>, &mut Tile);
/// The int16 kernel ([`reference::kernel_i16`]).
pub(crate) type KernelI16 = Kernel<i16, i16>;
/// The int8 kernel ([`reference::kernel_i8`]); the activations are stored `+ 128`.
pub(crate) type KernelI8 = Kernel<i8, u8>;
/// The f32 kernel ([`reference::kernel_f32`]): adds `k` in `ks` of `n` token rows of
/// `x` (`p.cols` values each) to the accumulators.
pub(crate) type KernelF32 = fn(&PanelF32<'_>, Range<usize>, &[f32], usize, &mut Tile);

/// What an integer kernel multiplies: one panel (two groups of 16 rows) of an integer
/// packing ([`pack::PackedI16`], [`pack::PackedI8`]), or one group of it
/// ([`Panel::group`]).
#[derive(Clone, Copy)]
pub(crate) struct Panel<'a, W> {
    /// Packed weights from the first group, `blocks * BLOCK_I16` (or `BLOCK_I8`) a group.
    pub(crate) w: &'a [W],
    /// Block corrections `-128 * sum(q)`, `blocks * GROUP` a group (int8 only; empty
    /// for int16).
    pub(crate) c: &'a [i32],
    /// Block scales, `blocks * GROUP` a group.
    pub(crate) d: &'a [f32],
    /// Blocks of 32 per row.
    pub(crate) blocks: usize,
    /// The block minimums, an f32 panel of `blocks` columns, for the types with them.
    pub(crate) mins: Option<PanelF32<'a>>,
}

impl<'a, W> Panel<'a, W> {
    /// Group `g` of the panel (0 or 1): its weights, corrections and scales.
    pub(crate) fn group(&self, g: usize) -> Panel<'a, W> {
        let gd = g * self.blocks * GROUP;
        Panel {
            w: &self.w[g * self.blocks * QK8_0 * GROUP..],
            c: if self.c.is_empty() {
                self.c
            } else {
                &self.c[gd..]
            },
            d: &self.d[gd..],
            blocks: self.blocks,
            mins: None,
        }
    }
}

/// One panel of f32-packed weights ([`pack::PackedF32`]): two groups of 16 rows of
/// `cols` values, `w[(g * cols + k) * 16 + i] = W[16 g + i][k]`.
#[derive(Clone, Copy)]
pub(crate) struct PanelF32<'a> {
    /// The weights from the first group.
    pub(crate) w: &'a [f32],
    /// Values per row.
    pub(crate) cols: usize,
}

impl<'a> PanelF32<'a> {
    /// Group `g` of the panel (0 or 1).
    pub(crate) fn group(&self, g: usize) -> PanelF32<'a> {
        PanelF32 {
            w: &self.w[g * self.cols * GROUP..],
            cols: self.cols,
        }
    }
}

/// The quantized activations an integer kernel call reads: `n` (at most [`MR`]) token
/// rows of `blocks * 32` quants and `blocks` scales each.
#[derive(Clone, Copy)]
pub(crate) struct Tokens<'a, X> {
    /// Quants, token-major.
    pub(crate) q: &'a [X],
    /// Block scales, token-major.
    pub(crate) d: &'a [f32],
    /// Token rows.
    pub(crate) n: usize,
}

impl<'a, X> Tokens<'a, X> {
    /// The tokens from the `t`-th, for rows of `blocks` blocks.
    pub(crate) fn skip(&self, t: usize, blocks: usize) -> Tokens<'a, X> {
        Tokens {
            q: &self.q[t * blocks * QK8_0..],
            d: &self.d[t * blocks..],
            n: self.n - t,
        }
    }
}

/// Groups a packed matrix of `rows` rows holds: whole panels, the tail zero.
pub(crate) fn n_groups(rows: usize) -> usize {
    rows.div_ceil(PANEL) * 2
}

/// Deterministic test values, some awkward: zeros, a large outlier, tiny, negative.
#[cfg(test)]
pub(crate) fn test_values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed | 1;
    (0..n)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            match i % 13 {
                0 => 0.0,
                1 => 250.0,
                2 => -1e-7,
                _ => (s % 20_001) as f32 / 1000.0 - 10.0,
            }
        })
        .collect()
}
