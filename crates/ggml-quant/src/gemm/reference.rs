//! The portable kernels: the definition of the arithmetic, which every kernel in `arch/`
//! reproduces bit for bit (the tests of [`super::schedule`] compare them through the
//! whole product, on every path the CPU has).
//!
//! Each adds the k-chunk `ks` of `Tokens` x `Panel` to the accumulators of one [`Tile`]:
//! tile row `t` is token `t`, tile column `j` is row `j` of the panel (group `j / 16`,
//! row `j % 16` of it).

use std::ops::Range;

use super::{BLOCK_I8, BLOCK_I16, GROUP, Panel, PanelF32, Tile, Tokens};
use crate::blocks::QK8_0;

/// The int8 kernel (the packing of [`super::pack::PackedI8`], the activations of
/// [`super::activations::quantize_u8`], stored `+ 128`). Each block's sum
/// `c + sum((x + 128) * w)` is the exact `sum(x * w)`; it adds `sum * (d_w * d_x)` to the
/// accumulator, a multiply then an add, as ggml's generic `ggml_vec_dot_q8_0_q8_0`. (A
/// fused multiply-add there would change the last bits, and int8 activations amplify
/// any rounding change: the cosine with llama.cpp drops on some texts.)
pub(crate) fn kernel_i8(p: &Panel<'_, i8>, ks: Range<usize>, x: &Tokens<'_, u8>, out: &mut Tile) {
    let blocks = p.blocks;
    let cols = blocks * QK8_0;
    for (t, out_t) in out.iter_mut().enumerate().take(x.n) {
        let xt = &x.q[t * cols..(t + 1) * cols];
        for (j, o) in out_t.iter_mut().enumerate() {
            let (g, i) = (j / GROUP, j % GROUP);
            let mut acc = *o;
            for b in ks.clone() {
                let wb = &p.w[(g * blocks + b) * BLOCK_I8..][..BLOCK_I8];
                let mut s = p.c[(g * blocks + b) * GROUP + i];
                for quad in 0..QK8_0 / 4 {
                    for e in 0..4 {
                        s += i32::from(wb[quad * 64 + 4 * i + e])
                            * i32::from(xt[b * 32 + 4 * quad + e]);
                    }
                }
                let scale = p.d[(g * blocks + b) * GROUP + i] * x.d[t * blocks + b];
                acc += s as f32 * scale;
            }
            *o = acc;
        }
    }
}

/// The int16 kernel (the packing of [`super::pack::PackedI16`]; no ggml counterpart).
/// Each block's sum `sum(x * w)` is exact in int32; it adds `(sum * d_w) * d_x` with one
/// fused multiply-add.
pub(crate) fn kernel_i16(
    p: &Panel<'_, i16>,
    ks: Range<usize>,
    x: &Tokens<'_, i16>,
    out: &mut Tile,
) {
    let blocks = p.blocks;
    let cols = blocks * QK8_0;
    for (t, out_t) in out.iter_mut().enumerate().take(x.n) {
        let xt = &x.q[t * cols..(t + 1) * cols];
        for (j, o) in out_t.iter_mut().enumerate() {
            let (g, i) = (j / GROUP, j % GROUP);
            let mut acc = *o;
            for b in ks.clone() {
                let wb = &p.w[(g * blocks + b) * BLOCK_I16..][..BLOCK_I16];
                let mut s = 0i32;
                for q in 0..QK8_0 / 2 {
                    s += i32::from(wb[q * 32 + 2 * i]) * i32::from(xt[b * 32 + 2 * q])
                        + i32::from(wb[q * 32 + 2 * i + 1]) * i32::from(xt[b * 32 + 2 * q + 1]);
                }
                let sw = s as f32 * p.d[(g * blocks + b) * GROUP + i];
                acc = sw.mul_add(x.d[t * blocks + b], acc);
            }
            *o = acc;
        }
    }
}

/// The f32 kernel: adds `W[j][k] * x[t][k]` for `k` in `ks`, in order, one fused
/// multiply-add each, to the accumulators, for the `n` token rows of `x` (`p.cols`
/// values each). (ggml's `ggml_vec_dot_f32` sums in another order; this is the order
/// every path here keeps.)
pub(crate) fn kernel_f32(p: &PanelF32<'_>, ks: Range<usize>, x: &[f32], n: usize, out: &mut Tile) {
    let cols = p.cols;
    for (t, out_t) in out.iter_mut().enumerate().take(n) {
        let xt = &x[t * cols..(t + 1) * cols];
        for (j, o) in out_t.iter_mut().enumerate() {
            let (g, i) = (j / GROUP, j % GROUP);
            let wg = &p.w[g * cols * GROUP..(g + 1) * cols * GROUP];
            let mut acc = *o;
            for k in ks.clone() {
                acc = wg[k * GROUP + i].mul_add(xt[k], acc);
            }
            *o = acc;
        }
    }
}
