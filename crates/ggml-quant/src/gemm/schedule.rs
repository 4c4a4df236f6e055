//! Packed-panel matrix multiplication, the batch hot path of the runtime.
//!
//! A weight matrix is repacked once per call into groups of [`GROUP`] output rows laid
//! out k-major, so the kernel multiplies one vector of 16 rows by one broadcast
//! activation and never reduces horizontally; a kernel call computes [`MR`] tokens
//! against a panel of [`PANEL`] rows from registers. Two arithmetic schemes:
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
//! on every path, with exact integer sums where the order could differ), so the scalar
//! kernel and every SIMD kernel give the same bits, and a result does not depend on the
//! batch, the tiling or the thread count.

use std::ops::Range;

use rayon::prelude::*;

use crate::arch::{self, Quantize};
use crate::blocks::{QK_K, QK8_0};
use crate::kernels;

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

/// Groups a packed matrix of `rows` rows holds: whole panels, the tail zero.
fn n_groups(rows: usize) -> usize {
    rows.div_ceil(PANEL) * 2
}

/// An integer weight lane: `i8` for the int8 kernels, `i16` for the int16 ones.
pub(crate) trait Lane: Copy + Default + Send + Sync {
    /// `v`, which the unpacker keeps within the lane's range.
    fn from_i16(v: i16) -> Self;
}

impl Lane for i8 {
    #[inline(always)]
    fn from_i16(v: i16) -> i8 {
        debug_assert!(i8::try_from(v).is_ok(), "{v} is not an int8 quant");
        v as i8
    }
}

impl Lane for i16 {
    #[inline(always)]
    fn from_i16(v: i16) -> i16 {
        v
    }
}

/// One weight row unpacked by blocks of 32: `(row, quants, scales, minimums)`, the
/// minimums left at zero by the types without one.
pub(crate) trait Unpack<T>:
    Fn(usize, &mut [[T; QK8_0]], &mut [f32], &mut [f32]) + Sync
{
}
impl<T, F: Fn(usize, &mut [[T; QK8_0]], &mut [f32], &mut [f32]) + Sync> Unpack<T> for F {}

/// Weights widened to int16 and packed: for group `g`, block `b`, pair `p`, row `i`:
/// `w[((g * blocks + b) * 16 + p) * 32 + 2 * i + e] = q[16 g + i][32 b + 2 p + e]`, and
/// `d[(g * blocks + b) * 16 + i]` the row's block scale. Rows past the matrix are zero.
/// `m`: the block minimums (see the module docs), for the types that have them.
pub(crate) struct PackedI16 {
    pub(crate) w: Vec<i16>,
    pub(crate) d: Vec<f32>,
    pub(crate) m: Option<PackedF32>,
    pub(crate) blocks: usize,
    pub(crate) act: ActQuant,
}

/// The block minimums of a packing under way: one f32 per row and block, laid out as a
/// [`PackedF32`] of `blocks` columns.
struct Minimums(Option<Vec<f32>>, usize);

impl Minimums {
    fn new(keep: bool, groups: usize, blocks: usize) -> Self {
        Minimums(keep.then(|| vec![0f32; groups * blocks * GROUP]), groups)
    }

    /// Each group's share, or `None`s when there are none to keep.
    fn groups(&mut self) -> rayon::vec::IntoIter<Option<&mut [f32]>> {
        let groups = self.1;
        match &mut self.0 {
            Some(m) => {
                let per_group = (m.len() / groups.max(1)).max(1);
                m.chunks_mut(per_group).map(Some).collect()
            }
            None => (0..groups).map(|_| None).collect::<Vec<_>>(),
        }
        .into_par_iter()
    }

    fn finish(self, blocks: usize) -> Option<PackedF32> {
        self.0.map(|w| PackedF32 { w, cols: blocks })
    }
}

/// For each row `i` of group `g` (rows past `rows` skipped) and each of its `blocks`
/// blocks `b`: `put(i, b, quants, scale, minimum)`, the row unpacked by `unpack` as the
/// packers take it.
fn group_blocks<T: Lane>(
    g: usize,
    rows: usize,
    blocks: usize,
    unpack: &impl Unpack<T>,
    mut put: impl FnMut(usize, usize, &[T; QK8_0], f32, f32),
) {
    let mut q = vec![[T::default(); QK8_0]; blocks];
    let mut s = vec![0f32; blocks];
    let mut m = vec![0f32; blocks];
    for i in 0..GROUP.min(rows.saturating_sub(g * GROUP)) {
        unpack(g * GROUP + i, &mut q, &mut s, &mut m);
        for (b, ((qb, sb), mb)) in q.iter().zip(&s).zip(&m).enumerate() {
            put(i, b, qb, *sb, *mb);
        }
    }
}

/// Weights kept in int8 and packed for `vpdpbusd` (4 products of unsigned x signed bytes
/// per lane): for group `g`, block `b`, quad `q`, row `i`:
/// `w[((g * blocks + b) * 8 + q) * 64 + 4 * i + e] = q[16 g + i][32 b + 4 q + e]`,
/// `d[(g * blocks + b) * 16 + i]` the row's block scale and `c[..]` (same index)
/// `-128 * sum(q)` over the row's block: the activations enter as `x + 128` (unsigned),
/// and starting each block's sum at `c` takes the 128s back out, exactly. `m` as in
/// [`PackedI16`].
pub(crate) struct PackedI8 {
    pub(crate) w: Vec<i8>,
    pub(crate) c: Vec<i32>,
    pub(crate) d: Vec<f32>,
    pub(crate) m: Option<PackedF32>,
    pub(crate) blocks: usize,
    pub(crate) act: ActQuant,
}

/// Weights widened to f32 and packed: `w[(g * cols + k) * 16 + i] = W[16 g + i][k]`.
pub(crate) struct PackedF32 {
    pub(crate) w: Vec<f32>,
    pub(crate) cols: usize,
}

impl PackedF32 {
    /// Packs `rows` rows given by `row(r, out)`, which writes row `r` as f32.
    pub(crate) fn pack<E: Send>(
        rows: usize,
        cols: usize,
        row: impl Fn(usize, &mut [f32]) -> Result<(), E> + Sync,
    ) -> Result<Self, E> {
        let mut p = PackedF32::zeroed(rows, cols);
        p.w.par_chunks_mut(cols * GROUP)
            .enumerate()
            .try_for_each(|(g, wg)| {
                let mut buf = vec![0f32; cols];
                for i in 0..GROUP {
                    let r = g * GROUP + i;
                    if r >= rows {
                        break;
                    }
                    row(r, &mut buf)?;
                    scatter_row(wg, i, &buf);
                }
                Ok(())
            })?;
        Ok(p)
    }

    /// Room for `rows` rows of `cols`, all zero.
    fn zeroed(rows: usize, cols: usize) -> Self {
        PackedF32 {
            w: vec![0f32; n_groups(rows) * cols * GROUP],
            cols,
        }
    }
}

/// Puts `row` as row `i` of the packed group `wg` (every 16th value).
fn scatter_row(wg: &mut [f32], i: usize, row: &[f32]) {
    for (k, v) in row.iter().enumerate() {
        wg[k * GROUP + i] = *v;
    }
}

/// An f32 matrix packed once for many products on the calling thread (attention's keys
/// and values, where each task owns its matrix): `y[t][r] = sum_k W[r][k] * x[t][k]`
/// with the same kernels, and so the same bits, as [`crate::matmul_with`]'s f32 path.
pub struct PackedMatrix {
    inner: PackedF32,
    rows: usize,
}

impl PackedMatrix {
    /// `W[r][k] = w[r * stride + k]` for `r < rows`, `k < cols`.
    pub fn from_rows(w: &[f32], rows: usize, cols: usize, stride: usize) -> Self {
        let mut p = PackedF32::zeroed(rows, cols);
        for r in 0..rows {
            let (g, i) = (r / GROUP, r % GROUP);
            let wg = &mut p.w[g * cols * GROUP..(g + 1) * cols * GROUP];
            scatter_row(wg, i, &w[r * stride..r * stride + cols]);
        }
        PackedMatrix { inner: p, rows }
    }

    /// The transpose of what `wt` holds: `W[r][k] = wt[k * stride + r]` (so a value
    /// matrix `V[key][dim]` gives `W[dim][key]`).
    pub fn from_columns(wt: &[f32], rows: usize, cols: usize, stride: usize) -> Self {
        let mut p = PackedF32::zeroed(rows, cols);
        for g in 0..n_groups(rows) {
            let n = GROUP.min(rows.saturating_sub(g * GROUP));
            if n == 0 {
                break;
            }
            let wg = &mut p.w[g * cols * GROUP..(g + 1) * cols * GROUP];
            for k in 0..cols {
                let src = &wt[k * stride + g * GROUP..k * stride + g * GROUP + n];
                wg[k * GROUP..k * GROUP + n].copy_from_slice(src);
            }
        }
        PackedMatrix { inner: p, rows }
    }

    /// Rows of `W` (outputs per token).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Values per row of `W` (and per token of `x`).
    pub fn cols(&self) -> usize {
        self.inner.cols
    }

    /// `y[t * y_stride + r] = sum_k W[r][k] * x[t * cols + k]` for every token row of
    /// `x`, on the calling thread.
    ///
    /// # Panics
    /// When `x` is not whole rows of `cols` or `y` is too short for them.
    pub fn mul(&self, x: &[f32], y: &mut [f32], y_stride: usize) {
        let cols = self.inner.cols;
        assert!(
            cols > 0 && x.len().is_multiple_of(cols),
            "x is not rows of {cols}"
        );
        let n_tokens = x.len() / cols;
        assert!(y_stride >= self.rows, "y_stride below the row count");
        assert!(n_tokens == 0 || y.len() >= (n_tokens - 1) * y_stride + self.rows);
        let kernel = arch::kernel_f32();
        let gw = cols * GROUP;
        for panel in 0..self.rows.div_ceil(PANEL) {
            let r0 = panel * PANEL;
            let n = PANEL.min(self.rows - r0);
            for t0 in (0..n_tokens).step_by(MR) {
                let m = MR.min(n_tokens - t0);
                let mut tile = [[0f32; PANEL]; MR];
                kernel(
                    &self.inner.w[2 * panel * gw..(2 * panel + 2) * gw],
                    cols,
                    0..cols,
                    &x[t0 * cols..(t0 + m) * cols],
                    m,
                    &mut tile,
                );
                for (i, row) in tile.iter().enumerate().take(m) {
                    let o = (t0 + i) * y_stride + r0;
                    y[o..o + n].copy_from_slice(&row[..n]);
                }
            }
        }
    }
}

/// Activation rows quantized by blocks of 32: `q[t * cols + k]`, `d[t * blocks + b]`,
/// and `s[t * blocks + b]` the block's `d * sum(q)` where the weights have minimums
/// (empty otherwise).
pub(crate) struct Act<T> {
    pub(crate) q: Vec<T>,
    pub(crate) d: Vec<f32>,
    pub(crate) s: Vec<f32>,
}

/// How an integer path quantizes activation rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ActQuant {
    /// int16 by blocks of 32, `d = amax / 32767` ([`quantize_i16`]).
    Int16,
    /// int16 by blocks of 32 up to 16383, `d = amax / 16383`: for Q6_K, whose integer
    /// weights (scale times quant) reach 4096, so that a block's int32 sum stays exact.
    Int16Narrow,
    /// ggml's x86 `quantize_row_q8_0` ([`quantize_u8`]).
    Q8_0,
    /// ggml's x86 `quantize_row_q8_1`: Q8_0's quants and scale, and `s = f16(amax / 127
    /// * sum(q))`.
    Q8_1,
    /// ggml's `quantize_row_q8_K_ref`: per block of 256, the value of largest magnitude
    /// `max`, `q = min(127, round_half_even(x * (-127 / max)))`, `d = 1 / (-127 / max)`
    /// (each of the 8 blocks of 32 gets that `d`).
    Q8K,
}

/// Quantizes `x` by blocks of 32 with `chunk` (whole blocks in, quants and scales out),
/// in parallel over chunks of 512 blocks.
fn quantize_rows<T: Copy + Default + Send>(x: &[f32], chunk: Quantize<T>) -> Act<T> {
    const CHUNK: usize = 512;
    let mut q = vec![T::default(); x.len()];
    let mut d = vec![0f32; x.len() / QK8_0];
    q.par_chunks_mut(CHUNK * QK8_0)
        .zip(d.par_chunks_mut(CHUNK))
        .zip(x.par_chunks(CHUNK * QK8_0))
        .for_each(|((q, d), x)| chunk(x, q, d));
    Act {
        q,
        d,
        s: Vec::new(),
    }
}

/// Activation rows quantized for an int16 kernel by `act` (`Int16`, `Int16Narrow` or
/// `Q8K`), with the block sums when `sums`.
pub(crate) fn quantize_act_i16(x: &[f32], act: ActQuant, sums: bool) -> Act<i16> {
    let mut a = match act {
        ActQuant::Int16 => quantize_i16(x),
        ActQuant::Int16Narrow => quantize_rows(x, kernels::quantize_i16_narrow),
        ActQuant::Q8K => quantize_rows(x, quantize_q8k_i16),
        ActQuant::Q8_0 | ActQuant::Q8_1 => unreachable!("int8 activations for an int16 kernel"),
    };
    if sums {
        a.s = block_sums(&a, i32::from);
    }
    a
}

/// Activation rows quantized for an int8 kernel by `act` (`Q8_0`, `Q8_1` or `Q8K`),
/// stored `+ 128`, with the block sums when `sums` (always for `Q8_1`).
pub(crate) fn quantize_act_u8(x: &[f32], act: ActQuant, sums: bool) -> Act<u8> {
    let mut a = match act {
        ActQuant::Q8_0 | ActQuant::Q8_1 => quantize_u8(x),
        ActQuant::Q8K => quantize_rows(x, quantize_q8k_u8),
        ActQuant::Int16 | ActQuant::Int16Narrow => {
            unreachable!("int16 activations for an int8 kernel")
        }
    };
    let unsigned = |q: u8| i32::from(q) - 128;
    if act == ActQuant::Q8_1 {
        // ggml: `s = f16(d * sum)` with the scale before its rounding to f16.
        a.s = x
            .chunks_exact(QK8_0)
            .zip(a.q.chunks_exact(QK8_0))
            .map(|(xb, qb)| {
                let amax = f32::from_bits(amax_bits(xb));
                let sum: i32 = qb.iter().map(|&q| unsigned(q)).sum();
                half::f16::from_f32(amax / 127.0 * sum as f32).to_f32()
            })
            .collect();
    } else if sums {
        a.s = block_sums(&a, unsigned);
    }
    a
}

/// `d * sum(q)` for every block of 32 of `a`, each quant read by `value`.
fn block_sums<T: Copy>(a: &Act<T>, value: impl Fn(T) -> i32) -> Vec<f32> {
    a.q.chunks_exact(QK8_0)
        .zip(&a.d)
        .map(|(qb, d)| d * qb.iter().map(|&q| value(q)).sum::<i32>() as f32)
        .collect()
}

/// [`ActQuant::Q8K`] for whole blocks of 256, as int16.
fn quantize_q8k_i16(x: &[f32], q: &mut [i16], d: &mut [f32]) {
    quantize_q8k_body(x, q, d, |v| v as i16);
}

/// [`ActQuant::Q8K`] for whole blocks of 256, stored `+ 128`.
fn quantize_q8k_u8(x: &[f32], q: &mut [u8], d: &mut [f32]) {
    quantize_q8k_body(x, q, d, |v| (v + 128) as u8);
}

/// ggml's `quantize_row_q8_K_ref` on whole blocks of 256 (the quants handed to `store`,
/// the scale given to each block of 32). A NaN makes its block's scale NaN, so that it
/// reaches the output (ggml's scan skips it).
#[inline(always)]
fn quantize_q8k_body<T: Copy>(x: &[f32], q: &mut [T], d: &mut [f32], store: impl Fn(i32) -> T) {
    for ((xb, qb), db) in x
        .chunks_exact(QK_K)
        .zip(q.chunks_exact_mut(QK_K))
        .zip(d.chunks_exact_mut(QK_K / QK8_0))
    {
        let bits = amax_bits(xb);
        let amax = f32::from_bits(bits);
        if amax == 0.0 || amax.is_nan() {
            qb.fill(store(0));
            db.fill(amax);
            continue;
        }
        // ggml keeps the first value of the largest magnitude, with its sign.
        let max = xb
            .iter()
            .find(|v| v.to_bits() & 0x7fff_ffff == bits)
            .copied()
            .unwrap_or(amax);
        let iscale = -127.0 / max;
        for (o, &v) in qb.iter_mut().zip(xb) {
            *o = store(crate::kquants::nearest_int(iscale * v).min(127));
        }
        db.fill(1.0 / iscale);
    }
}

/// Quantizes activation rows of `cols` values to int16, per block of 32: `d = amax /
/// 32767`, `q = round_half_even(x * (32767 / amax))`. The quantizer is chosen once, on
/// the calling thread, as the kernels are.
pub(crate) fn quantize_i16(x: &[f32]) -> Act<i16> {
    quantize_rows(x, arch::quantize_i16().unwrap_or(kernels::quantize_i16))
}

/// The scalar reference of [`quantize_i16`] for one chunk of whole blocks.
#[inline(always)]
pub(crate) fn quantize_i16_body(x: &[f32], q: &mut [i16], d: &mut [f32]) {
    quantize_blocks(x, q, d, 32767.0, |amax| amax / 32767.0, |r| r as i16);
}

/// [`ActQuant::Int16Narrow`] for one chunk of whole blocks.
#[inline(always)]
pub(crate) fn quantize_i16_narrow_body(x: &[f32], q: &mut [i16], d: &mut [f32]) {
    quantize_blocks(x, q, d, 16383.0, |amax| amax / 16383.0, |r| r as i16);
}

/// The bits of the largest magnitude in `x`, the sign cleared: an integer max, which
/// vectorizes, and where a NaN wins (and poisons its block) instead of being skipped.
#[inline(always)]
fn amax_bits(x: &[f32]) -> u32 {
    x.iter().fold(0u32, |m, v| m.max(v.to_bits() & 0x7fff_ffff))
}

/// Quantizes whole blocks of 32 to integers of magnitude up to `top`: per block the
/// largest magnitude `amax`, the scale `scale(amax)`, and each value's
/// `round_half_even(v * (top / amax))` handed to `store`.
#[inline(always)]
fn quantize_blocks<T>(
    x: &[f32],
    q: &mut [T],
    d: &mut [f32],
    top: f32,
    scale: impl Fn(f32) -> f32,
    store: impl Fn(i32) -> T,
) {
    // Fixed-size blocks, one pass each, so the compiler vectorizes within a block (on
    // AVX-512 it vectorized across blocks instead, with gathers: `arch` has that path
    // written out).
    let (xs, _) = x.as_chunks::<QK8_0>();
    let (qs, _) = q.as_chunks_mut::<QK8_0>();
    for ((xb, qb), db) in xs.iter().zip(qs).zip(d.iter_mut()) {
        let amax = f32::from_bits(amax_bits(xb));
        let id = if amax != 0.0 { top / amax } else { 0.0 };
        *db = scale(amax);
        // Round half to even by adding 1.5 * 2^23: |v * id| <= top < 2^22, so the sum's
        // unit in the last place is 1 and its low mantissa bits are the integer (the same
        // as `round_ties_even`, without a saturating cast that would not vectorize).
        const MAGIC: f32 = 12_582_912.0;
        for (o, v) in qb.iter_mut().zip(xb) {
            *o = store((v * id + MAGIC).to_bits().wrapping_sub(0x4B40_0000) as i32);
        }
    }
}

/// Quantizes activation rows to Q8_0 (ggml's x86 `quantize_row_q8_0`: `d = f16(amax /
/// 127)`, `q = round_half_even(x * (127 / amax))`), stored `q + 128` (unsigned, as
/// `vpdpbusd` takes them).
pub(crate) fn quantize_u8(x: &[f32]) -> Act<u8> {
    quantize_rows(x, arch::quantize_u8().unwrap_or(kernels::quantize_u8))
}

/// The scalar reference of [`quantize_u8`] for one chunk of whole blocks: ggml's
/// x86 `quantize_row_q8_0` (the scale rounded to f16), stored `+ 128`.
#[inline(always)]
pub(crate) fn quantize_u8_body(x: &[f32], q: &mut [u8], d: &mut [f32]) {
    let scale = |amax: f32| half::f16::from_f32(amax / 127.0).to_f32();
    quantize_blocks(x, q, d, 127.0, scale, |r| r.wrapping_add(128) as u8);
}

/// The scalar int8 kernel: the definition every SIMD kernel reproduces bit for bit. Each
/// block's sum `c + sum((x + 128) * w)` is the exact `sum(x * w)`; it adds
/// `sum * (d_w * d_x)` to the accumulator, a multiply then an add (as ggml's generic
/// `ggml_vec_dot_q8_0_q8_0`; a fused multiply-add there moved the worst text of the
/// reference corpus from 0.99926 to 0.99704 in cosine with llama.cpp: int8 activations
/// amplify any rounding change). Arguments as [`kernel_i16_scalar`], with
/// the packing of [`PackedI8`] and the activations of [`quantize_u8`].
#[allow(clippy::too_many_arguments)] // the kernel signature every path shares
pub(crate) fn kernel_i8_scalar(
    w: &[i8],
    c: &[i32],
    d: &[f32],
    blocks: usize,
    ks: Range<usize>,
    x: &[u8],
    xd: &[f32],
    m: usize,
    out: &mut Tile,
) {
    let cols = blocks * QK8_0;
    for (t, out_t) in out.iter_mut().enumerate().take(m) {
        let xt = &x[t * cols..(t + 1) * cols];
        for (j, o) in out_t.iter_mut().enumerate() {
            let (g, i) = (j / GROUP, j % GROUP);
            let mut acc = *o;
            for b in ks.clone() {
                let wb = &w[(g * blocks + b) * BLOCK_I8..][..BLOCK_I8];
                let mut s = c[(g * blocks + b) * GROUP + i];
                for quad in 0..QK8_0 / 4 {
                    for e in 0..4 {
                        s += i32::from(wb[quad * 64 + 4 * i + e])
                            * i32::from(xt[b * 32 + 4 * quad + e]);
                    }
                }
                let scale = d[(g * blocks + b) * GROUP + i] * xd[t * blocks + b];
                acc += s as f32 * scale;
            }
            *o = acc;
        }
    }
}

/// The scalar int16 kernel: the definition every SIMD kernel reproduces bit for bit.
/// `w`/`d` start at the panel's first group (`blocks` blocks per group); `x` holds `m`
/// token rows of `blocks * 32` values, `xd` their `blocks` scales each. Blocks `ks` are
/// added, in order, to the accumulators `acc`.
#[allow(clippy::too_many_arguments)] // the kernel signature every path shares
pub(crate) fn kernel_i16_scalar(
    w: &[i16],
    d: &[f32],
    blocks: usize,
    ks: Range<usize>,
    x: &[i16],
    xd: &[f32],
    m: usize,
    out: &mut Tile,
) {
    let cols = blocks * QK8_0;
    for (t, out_t) in out.iter_mut().enumerate().take(m) {
        let xt = &x[t * cols..(t + 1) * cols];
        for (j, o) in out_t.iter_mut().enumerate() {
            let (g, i) = (j / GROUP, j % GROUP);
            let mut acc = *o;
            for b in ks.clone() {
                let wb = &w[(g * blocks + b) * BLOCK_I16..][..BLOCK_I16];
                let mut s = 0i32;
                for p in 0..QK8_0 / 2 {
                    s += i32::from(wb[p * 32 + 2 * i]) * i32::from(xt[b * 32 + 2 * p])
                        + i32::from(wb[p * 32 + 2 * i + 1]) * i32::from(xt[b * 32 + 2 * p + 1]);
                }
                let sw = s as f32 * d[(g * blocks + b) * GROUP + i];
                acc = sw.mul_add(xd[t * blocks + b], acc);
            }
            *o = acc;
        }
    }
}

/// The scalar f32 kernel: adds `W[j][k] * x[t][k]` for `k` in `ks`, in order, one fused
/// multiply-add each, to the accumulators `acc`. `w` starts at the panel's first group.
pub(crate) fn kernel_f32_scalar(
    w: &[f32],
    cols: usize,
    ks: Range<usize>,
    x: &[f32],
    m: usize,
    out: &mut Tile,
) {
    for (t, out_t) in out.iter_mut().enumerate().take(m) {
        let xt = &x[t * cols..(t + 1) * cols];
        for (j, o) in out_t.iter_mut().enumerate() {
            let (g, i) = (j / GROUP, j % GROUP);
            let wg = &w[g * cols * GROUP..(g + 1) * cols * GROUP];
            let mut acc = *o;
            for k in ks.clone() {
                acc = wg[k * GROUP + i].mul_add(xt[k], acc);
            }
            *o = acc;
        }
    }
}

/// Runs `tile(panel(p), t0, m, ks, acc)` — `m <= MR` tokens from `t0` against the 32
/// rows of panel `p`, adding the k-chunk `ks` to `acc` — over every panel, token and
/// k-chunk (chunks in order, so every sum keeps its order), writing `y[t * rows + r]`. A
/// chunk of a panel's weights stays in L1 while all the tokens of a task pass over it.
/// Work is split over token chunks when there are enough tokens (and not `by_panels`),
/// otherwise over panels; `panel(p)` is called once per task and panel.
pub(crate) fn drive<S>(
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

/// int16 blocks per k-chunk: 2 groups x 8 blocks x 1 KiB = 16 KiB of weights in L1.
const K_BLOCKS: usize = 8;
/// int8 blocks per k-chunk: 2 groups x 16 blocks x 512 B = 16 KiB of weights in L1.
const K_BLOCKS_I8: usize = 16;
/// f32 values per k-chunk: 2 groups x 128 x 64 B = 16 KiB.
const K_F32: usize = 128;

/// The slices of one panel (two groups) of an integer packing: weights, block
/// corrections (int8 only), scales, minimums.
pub(crate) struct Panel<'a, T> {
    w: &'a [T],
    c: &'a [i32],
    d: &'a [f32],
    m: Option<&'a [f32]>,
}

/// Panel `panel` of a packing of `blocks` blocks per row with `bw` values per packed
/// block.
fn panel_of<'a, T>(
    panel: usize,
    blocks: usize,
    bw: usize,
    (w, c, d, m): (&'a [T], &'a [i32], &'a [f32], Option<&'a PackedF32>),
) -> Panel<'a, T> {
    let (gw, gd) = (blocks * bw, blocks * GROUP);
    let g0 = 2 * panel;
    let part = |v: &'a [f32]| &v[g0 * gd..(g0 + 2) * gd];
    Panel {
        w: &w[g0 * gw..(g0 + 2) * gw],
        c: if c.is_empty() {
            c
        } else {
            &c[g0 * gd..(g0 + 2) * gd]
        },
        d: part(d),
        m: m.map(|m| part(&m.w)),
    }
}

/// What differs between the int16 and the int8 paths: the packing, the activations'
/// type and the kernel. [`gemm_int`] and [`gemm_int_unpacked`] run either.
pub(crate) trait IntPacking: Sized + Sync {
    /// The packed weights' type.
    type Lane: Lane;
    /// The quantized activations' type.
    type X: Copy + Default + Send + Sync;
    /// The kernel, chosen once per product.
    type Kernel: Copy + Send + Sync;
    /// Blocks per k-chunk (16 KiB of a panel's weights).
    const K_BLOCKS: usize;
    /// Packs `rows` rows given by `unpack` (minimums kept when `mins`), for activations
    /// quantized by `act`, in parallel over groups of at least `min_len` (`usize::MAX`:
    /// on the calling thread).
    fn pack(
        rows: usize,
        cols: usize,
        act: ActQuant,
        mins: bool,
        unpack: impl Unpack<Self::Lane>,
        min_len: usize,
    ) -> Self;
    /// Blocks of 32 per row.
    fn blocks(&self) -> usize;
    /// The activations' quantization, and whether there are minimums.
    fn scheme(&self) -> (ActQuant, bool);
    /// The slices of panel `panel`.
    fn panel(&self, panel: usize) -> Panel<'_, Self::Lane>;
    /// The activation quantizer (`quantize_act_i16`, `quantize_act_u8`).
    fn quantize(x: &[f32], act: ActQuant, sums: bool) -> Act<Self::X>;
    /// The kernel for the path in force on this thread.
    fn kernel() -> Self::Kernel;
    /// The kernel on one tile: (panel, blocks, k-chunk, token quants, token scales,
    /// tokens, accumulators).
    #[allow(clippy::too_many_arguments)]
    fn tile(
        k: Self::Kernel,
        p: &Panel<'_, Self::Lane>,
        blocks: usize,
        ks: Range<usize>,
        x: &[Self::X],
        xd: &[f32],
        m: usize,
        acc: &mut Tile,
    );
}

impl IntPacking for PackedI16 {
    type Lane = i16;
    type X = i16;
    type Kernel = arch::KernelI16;
    const K_BLOCKS: usize = K_BLOCKS;
    /// Packs `rows` rows given by `unpack` (minimums kept when `mins`), for activations
    /// quantized by `act`, in parallel over groups of at least `min_len` (`usize::MAX`:
    /// on the calling thread).
    fn pack(
        rows: usize,
        cols: usize,
        act: ActQuant,
        mins: bool,
        unpack: impl Unpack<i16>,
        min_len: usize,
    ) -> Self {
        let blocks = cols / QK8_0;
        let groups = n_groups(rows);
        let mut w = vec![0i16; groups * blocks * BLOCK_I16];
        let mut d = vec![0f32; groups * blocks * GROUP];
        let mut m = Minimums::new(mins, groups, blocks);
        w.par_chunks_mut(blocks * BLOCK_I16)
            .zip(d.par_chunks_mut(blocks * GROUP))
            .zip(m.groups())
            .enumerate()
            .with_min_len(min_len)
            .for_each(|(g, ((wg, dg), mut mg))| {
                group_blocks(g, rows, blocks, &unpack, |i, b, qb, sb, mb| {
                    let wb = &mut wg[b * BLOCK_I16..(b + 1) * BLOCK_I16];
                    for p in 0..QK8_0 / 2 {
                        wb[p * 2 * GROUP + 2 * i] = qb[2 * p];
                        wb[p * 2 * GROUP + 2 * i + 1] = qb[2 * p + 1];
                    }
                    dg[b * GROUP + i] = sb;
                    if let Some(mg) = mg.as_deref_mut() {
                        mg[b * GROUP + i] = mb;
                    }
                })
            });
        PackedI16 {
            w,
            d,
            m: m.finish(blocks),
            blocks,
            act,
        }
    }
    fn blocks(&self) -> usize {
        self.blocks
    }
    fn scheme(&self) -> (ActQuant, bool) {
        (self.act, self.m.is_some())
    }
    fn panel(&self, panel: usize) -> Panel<'_, i16> {
        let parts = (&self.w[..], &[][..], &self.d[..], self.m.as_ref());
        panel_of(panel, self.blocks, BLOCK_I16, parts)
    }
    fn quantize(x: &[f32], act: ActQuant, sums: bool) -> Act<i16> {
        quantize_act_i16(x, act, sums)
    }
    fn kernel() -> arch::KernelI16 {
        arch::kernel_i16()
    }
    fn tile(
        k: arch::KernelI16,
        p: &Panel<'_, i16>,
        blocks: usize,
        ks: Range<usize>,
        x: &[i16],
        xd: &[f32],
        m: usize,
        acc: &mut Tile,
    ) {
        k(p.w, p.d, blocks, ks, x, xd, m, acc)
    }
}

impl IntPacking for PackedI8 {
    type Lane = i8;
    type X = u8;
    type Kernel = arch::KernelI8;
    const K_BLOCKS: usize = K_BLOCKS_I8;
    /// Packs `rows` rows given by `unpack`, as the int16 packer.
    fn pack(
        rows: usize,
        cols: usize,
        act: ActQuant,
        mins: bool,
        unpack: impl Unpack<i8>,
        min_len: usize,
    ) -> Self {
        let blocks = cols / QK8_0;
        let groups = n_groups(rows);
        let mut w = vec![0i8; groups * blocks * BLOCK_I8];
        let mut c = vec![0i32; groups * blocks * GROUP];
        let mut d = vec![0f32; groups * blocks * GROUP];
        let mut m = Minimums::new(mins, groups, blocks);
        w.par_chunks_mut(blocks * BLOCK_I8)
            .zip(c.par_chunks_mut(blocks * GROUP))
            .zip(d.par_chunks_mut(blocks * GROUP))
            .zip(m.groups())
            .enumerate()
            .with_min_len(min_len)
            .for_each(|(g, (((wg, cg), dg), mut mg))| {
                group_blocks(g, rows, blocks, &unpack, |i, b, qb, sb, mb| {
                    let wb = &mut wg[b * BLOCK_I8..(b + 1) * BLOCK_I8];
                    for (quad, v) in qb.chunks_exact(4).enumerate() {
                        wb[quad * 4 * GROUP + 4 * i..][..4].copy_from_slice(v);
                    }
                    // sum(q) as the sum of the bytes q + 128, less 32 * 128 (a sum of
                    // unsigned bytes compiles to `psadbw`).
                    let biased: u32 = qb.iter().map(|&v| u32::from(v as u8 ^ 0x80)).sum();
                    cg[b * GROUP + i] = -128 * (biased as i32 - 32 * 128);
                    dg[b * GROUP + i] = sb;
                    if let Some(mg) = mg.as_deref_mut() {
                        mg[b * GROUP + i] = mb;
                    }
                })
            });
        PackedI8 {
            w,
            c,
            d,
            m: m.finish(blocks),
            blocks,
            act,
        }
    }
    fn blocks(&self) -> usize {
        self.blocks
    }
    fn scheme(&self) -> (ActQuant, bool) {
        (self.act, self.m.is_some())
    }
    fn panel(&self, panel: usize) -> Panel<'_, i8> {
        let parts = (&self.w[..], &self.c[..], &self.d[..], self.m.as_ref());
        panel_of(panel, self.blocks, BLOCK_I8, parts)
    }
    fn quantize(x: &[f32], act: ActQuant, sums: bool) -> Act<u8> {
        quantize_act_u8(x, act, sums)
    }
    fn kernel() -> arch::KernelI8 {
        arch::kernel_i8()
    }
    fn tile(
        k: arch::KernelI8,
        p: &Panel<'_, i8>,
        blocks: usize,
        ks: Range<usize>,
        x: &[u8],
        xd: &[f32],
        m: usize,
        acc: &mut Tile,
    ) {
        k(p.w, p.c, p.d, blocks, ks, x, xd, m, acc)
    }
}

/// `y = x * W^T` with integer-packed weights and the activations their scheme takes.
pub(crate) fn gemm_int<P: IntPacking>(p: &P, rows: usize, x: &[f32], y: &mut [f32]) {
    let (act, mins) = p.scheme();
    let a = P::quantize(x, act, mins);
    run_int::<P>(rows, p.blocks(), &a, y, false, |panel| {
        PanelOf::Borrowed(p, panel)
    });
}

/// Fewest tokens for which [`crate::matmul_with`] packs the whole matrix before the
/// product (then split over token chunks); below it each task packs the panel it
/// multiplies, where it is used, and nothing of the size of the matrix is allocated
/// (`examples/pack_threshold.rs` times both ways: even at 511 tokens).
pub(crate) const PACK_WHOLE_FROM: usize = 512;

/// [`gemm_int`] on weights packed panel by panel as they are used (for fewer than
/// [`PACK_WHOLE_FROM`] tokens), for activations `act` and minimums when `mins`.
pub(crate) fn gemm_int_unpacked<P: IntPacking>(
    rows: usize,
    cols: usize,
    (act, mins): (ActQuant, bool),
    unpack: impl Unpack<P::Lane>,
    x: &[f32],
    y: &mut [f32],
) {
    let a = P::quantize(x, act, mins);
    let one = |panel: usize| {
        let r0 = panel * PANEL;
        let n = PANEL.min(rows - r0);
        let rows = |r: usize, q: &mut [[P::Lane; QK8_0]], d: &mut [f32], m: &mut [f32]| {
            unpack(r0 + r, q, d, m)
        };
        PanelOf::Owned(P::pack(n, cols, act, mins, rows, usize::MAX))
    };
    run_int::<P>(rows, cols / QK8_0, &a, y, true, one);
}

/// A panel of a packing shared by all tasks, or one a task packed for itself.
enum PanelOf<'a, P> {
    Borrowed(&'a P, usize),
    Owned(P),
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
/// same blocks by the f32 kernel (see the module docs).
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
        let (x, xd) = (
            &a.q[t0 * cols..(t0 + m) * cols],
            &a.d[t0 * blocks..(t0 + m) * blocks],
        );
        P::tile(kernel, &p, blocks, ks.clone(), x, xd, m, acc);
        if let Some(mw) = p.m {
            kf(mw, blocks, ks, &a.s[t0 * blocks..(t0 + m) * blocks], m, acc);
        }
    };
    drive(rows, n_tokens, &ks, y, by_panels, panel, tile);
}

/// `y = x * W^T` with f32-packed weights.
pub(crate) fn gemm_f32(p: &PackedF32, rows: usize, x: &[f32], y: &mut [f32]) {
    let cols = p.cols;
    let n_tokens = x.len() / cols;
    let kernel = arch::kernel_f32();
    let gw = cols * GROUP;
    let ks = chunks(cols, K_F32);
    let panel = |panel: usize| &p.w[2 * panel * gw..(2 * panel + 2) * gw];
    drive(rows, n_tokens, &ks, y, false, panel, |w, t0, m, ks, acc| {
        kernel(w, cols, ks, &x[t0 * cols..(t0 + m) * cols], m, acc)
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::{available_paths, with_path};
    use crate::{Activations, Matrix, QuantType, matmul_with, quantize_row};

    /// Deterministic values, some awkward: zeros, a large outlier, tiny, negative.
    fn values(n: usize, seed: u64) -> Vec<f32> {
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

    #[test]
    fn int16_quantization_is_exact_at_the_extremes() {
        let mut x = vec![0f32; 64];
        x[0] = -3.0;
        x[1] = 1.5;
        x[40] = 1e-30;
        let mut q = vec![0i16; 64];
        let mut d = vec![0f32; 2];
        quantize_i16_body(&x, &mut q, &mut d);
        assert_eq!((q[0], q[1], d[0]), (-32767, 16384, 3.0 / 32767.0));
        assert_eq!(q[40], 32767);
        assert!(
            q[32..]
                .iter()
                .enumerate()
                .all(|(i, v)| *v == if i == 8 { 32767 } else { 0 })
        );
    }

    /// The Q8_K activations are `quantize_row_q8_K_ref`'s (the crate's bit-exact
    /// `quantize_row(Q8_K)`), with the block sums of its `bsums`.
    #[test]
    fn q8k_activations_are_ggmls() {
        let mut x = values(4 * 256, 9);
        x[256..512].fill(0.0);
        x[600] = -300.0;
        x[700] = 300.0; // the same magnitude later: the first one's sign counts
        let bytes = quantize_row(QuantType::Q8_K, &x).unwrap();
        let a8 = quantize_act_u8(&x, ActQuant::Q8K, true);
        let a16 = quantize_act_i16(&x, ActQuant::Q8K, true);
        for (i, c) in bytes.chunks_exact(size_of::<crate::BlockQ8K>()).enumerate() {
            let b: crate::BlockQ8K = bytemuck::pod_read_unaligned(c);
            for (j, &q) in b.qs.iter().enumerate() {
                assert_eq!(i32::from(a8.q[256 * i + j]) - 128, i32::from(q));
                assert_eq!(a16.q[256 * i + j], i16::from(q));
            }
            for k in 0..8 {
                assert_eq!(a8.d[8 * i + k].to_bits(), b.d.to_bits());
                assert_eq!(a16.d[8 * i + k].to_bits(), b.d.to_bits());
                let sum = i32::from(b.bsums[2 * k]) + i32::from(b.bsums[2 * k + 1]);
                assert_eq!(a8.s[8 * i + k], b.d * sum as f32);
                assert_eq!(a16.s[8 * i + k], b.d * sum as f32);
            }
        }
        // d = max / -127: positive, as the first value of the largest magnitude is -300.
        assert_eq!(a8.d[16], 1.0 / (-127.0 / -300.0));
    }

    /// Q8_1: Q8_0's quants and scale, and `s` from the scale before its f16 rounding.
    #[test]
    fn q8_1_activations_carry_ggmls_sum() {
        let x = values(3 * 32, 4);
        let a = quantize_act_u8(&x, ActQuant::Q8_1, false);
        let a0 = quantize_act_u8(&x, ActQuant::Q8_0, false);
        assert_eq!((&a.q, &a.d), (&a0.q, &a0.d));
        for (b, xb) in x.chunks(32).enumerate() {
            let amax = xb.iter().fold(0f32, |m, v| m.max(v.abs()));
            let sum: i32 = a.q[32 * b..32 * b + 32]
                .iter()
                .map(|&q| i32::from(q) - 128)
                .sum();
            let want = half::f16::from_f32(amax / 127.0 * sum as f32).to_f32();
            assert_eq!(a.s[b], want);
        }
    }

    #[test]
    fn packed_matrix_from_rows_and_columns_agree() {
        let (rows, cols, n) = (37, 20, 9);
        let w = values(rows * cols, 5);
        let mut wt = vec![0f32; rows * cols];
        for r in 0..rows {
            for k in 0..cols {
                wt[k * rows + r] = w[r * cols + k];
            }
        }
        let x = values(n * cols, 6);
        let a = PackedMatrix::from_rows(&w, rows, cols, cols);
        let b = PackedMatrix::from_columns(&wt, rows, cols, rows);
        let (mut ya, mut yb) = (vec![0f32; n * 40], vec![0f32; n * 40]);
        a.mul(&x, &mut ya, 40);
        b.mul(&x, &mut yb, 40);
        assert_eq!(ya, yb);
        for t in 0..n {
            for r in 0..rows {
                let p = |k: usize| f64::from(w[r * cols + k]) * f64::from(x[t * cols + k]);
                let want: f64 = (0..cols).map(p).sum();
                let size: f64 = (0..cols).map(|k| p(k).abs()).sum();
                assert!(
                    (f64::from(ya[t * 40 + r]) - want).abs() <= 1e-6 * size,
                    "{t} {r}"
                );
            }
        }
        // And the matmul's f32 path gives the same bits.
        let data: Vec<u8> = w.iter().flat_map(|v| v.to_le_bytes()).collect();
        let m = Matrix::new(QuantType::F32, &data, rows, cols).unwrap();
        let mut y = vec![0f32; n * rows];
        matmul_with(&m, &x, &mut y, Activations::F32).unwrap();
        for t in 0..n {
            assert_eq!(y[t * rows..(t + 1) * rows], ya[t * 40..t * 40 + rows]);
        }
    }

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
                let want = run("scalar");
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
                crate::PackedWeights::new(&w, act).unwrap().matmul(&x, &mut y).unwrap();
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
}

#[cfg(test)]
mod int8_tests {
    use super::*;
    use crate::{Activations, Matrix, QuantType, matmul_with, quantize_row};

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
