//! Matrix multiplication `Y[n_tokens x rows] = X[n_tokens x cols] * W^T` with `W` in its
//! GGUF type, parallel over output rows with rayon.
//!
//! Which arithmetic each weight type uses:
//! - [`Activations::Native`] (the default) is ggml's scheme for every quantized type:
//!   each activation row is quantized once to the weight type's dot type, as ggml does
//!   it on x86 — Q8_0 for Q8_0, Q4_0, Q5_0 (`quantize_row_q8_0`: multiplier `127/amax`,
//!   round half to even, the scale stored as f16), Q8_1 for Q4_1, Q5_1 (the same, plus
//!   `s = d * sum(q)` as f16), Q8_K for Q4_K, Q5_K, Q6_K (`quantize_row_q8_K_ref`: per
//!   256 values, multiplier `-127/max`) — and every block of 32 contributes
//!   `d_w * d_x * sum(q_w * q_x)` with an exact integer sum, plus `m_w * s_x` where the
//!   weights have a minimum (ggml's `vec_dot_*_q8_*` terms; ggml's K-quant dots sum the
//!   sub-blocks in integers before one float step per 256, so the last bits can
//!   differ). The K-quants' sub-block scales go into the block scale (`d * sc`, as
//!   ggml's dequantization computes it), so their quants stay small: int8 kernels
//!   (`vpdpbusd` on AVX-512 VNNI or AVX-VNNI, `sdot` with NEON's dot product, `smull` +
//!   `sadalp` without it) for all but Q6_K, whose 16-value sub-blocks put two scales
//!   in one block of 32: it runs `scale * (q - 32)` (up to 4096) through the int16
//!   kernel.
//! - [`Activations::Int16`]: the same weights against int16 activations (256 times
//!   finer than Q8_0), exact block sums at the int16 rate: f32 accuracy at integer speed.
//! - F32, F16, BF16 weights, and every type under [`Activations::F32`]: each weight row
//!   is widened to f32 once per call into packed panels and multiplied with the f32
//!   activations. For F16 and BF16 this is more accurate than ggml, which rounds the
//!   activations to the weight's type.
//!
//! Every output element is computed from its own row and column alone, in a fixed
//! order, so results do not depend on the batch, the tile sizes or the thread count.

use crate::error::{Error, ErrorKind};
use crate::gemm::activations::ActQuant;
use crate::gemm::pack::{IntPacking, PackedF32, PackedI8, PackedI16};
use crate::gemm::schedule::{PACK_WHOLE_FROM, gemm_f32, gemm_int, gemm_int_unpacked};
use crate::gemm::unpack::WeightRows;
use crate::simd::on_pool;
use crate::{QuantType, dequantize_row};

/// A weight matrix of `rows` rows of `cols` values, borrowed in its GGUF encoding.
#[derive(Clone, Copy, Debug)]
pub struct Matrix<'a> {
    quant: QuantType,
    data: &'a [u8],
    rows: usize,
    cols: usize,
}

impl<'a> Matrix<'a> {
    /// A matrix over `data`, which must be exactly `rows` rows of `cols` values.
    pub fn new(quant: QuantType, data: &'a [u8], rows: usize, cols: usize) -> Result<Self, Error> {
        let row_bytes = quant.row_bytes(cols)?;
        let wrong_length = |expected| {
            Error::new(ErrorKind::WrongLength {
                quant,
                expected,
                got: data.len(),
            })
        };
        let expected = row_bytes
            .checked_mul(rows)
            .ok_or_else(|| wrong_length(usize::MAX))?;
        if data.len() != expected {
            return Err(wrong_length(expected));
        }
        Ok(Matrix {
            quant,
            data,
            rows,
            cols,
        })
    }

    /// Its type.
    pub fn quant(&self) -> QuantType {
        self.quant
    }
    /// Output rows.
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Values per row.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Its rows as the packers read them.
    fn rows_src(&self) -> WeightRows<'a> {
        WeightRows::new(self.quant, self.data, self.rows)
    }

    fn row(&self, r: usize) -> &'a [u8] {
        let rb = self.data.len() / self.rows.max(1);
        &self.data[r * rb..(r + 1) * rb]
    }

    /// Row `r` widened to f32.
    pub fn row_f32(&self, r: usize) -> Result<Vec<f32>, Error> {
        if r >= self.rows {
            return Err(Error::new(ErrorKind::RowOutOfRange {
                row: r,
                rows: self.rows,
            }));
        }
        dequantize_row(self.quant, self.row(r), self.cols)
    }
}

/// How activations meet the weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Activations {
    /// The weight type's scheme (ggml's): activations quantized to Q8_0 for Q8_0, Q4_0,
    /// Q5_0, to Q8_1 for Q4_1, Q5_1, to Q8_K for Q4_K, Q5_K, Q6_K; f32 for F32, F16, BF16.
    #[default]
    Native,
    /// int16 activations by blocks of 32 for every quantized type (exact integer block
    /// sums, 256 times finer than Q8_0 activations; Q6_K's up to 16383, half as fine);
    /// f32 for F32, F16, BF16.
    Int16,
    /// Always f32 activations against widened weights: slowest, closest to the f32 model.
    F32,
}

/// `y = x * w^T` for `x` of `n_tokens = x.len() / w.cols()` rows; `y` gets
/// `n_tokens * w.rows()` values, token-major.
pub fn matmul(w: &Matrix<'_>, x: &[f32], y: &mut [f32]) -> Result<(), Error> {
    matmul_with(w, x, y, Activations::Native)
}

/// [`matmul`] with a choice of activation arithmetic.
pub fn matmul_with(
    w: &Matrix<'_>,
    x: &[f32],
    y: &mut [f32],
    act: Activations,
) -> Result<(), Error> {
    check_shapes(w.rows, w.cols, x, y)?;
    if x.is_empty() || w.rows == 0 {
        return Ok(());
    }
    on_pool(|| product(w, x, y, act))
}

/// [`matmul_with`] after its checks.
fn product(w: &Matrix<'_>, x: &[f32], y: &mut [f32], act: Activations) -> Result<(), Error> {
    if x.len() / w.cols < PACK_WHOLE_FROM {
        // Each task packs the panel it multiplies, where it is used (the same bits).
        let (rows, cols) = (w.rows, w.cols);
        match plan(w.quant, act) {
            Plan::I8(s) => {
                gemm_int_unpacked::<PackedI8>(rows, cols, s, w.rows_src(), x, y);
                return Ok(());
            }
            Plan::I16(s) => {
                gemm_int_unpacked::<PackedI16>(rows, cols, s, w.rows_src(), x, y);
                return Ok(());
            }
            Plan::F32 => {}
        }
    }
    PackedWeights::new(w, act)?.matmul(x, y)
}

/// Which packing and activations a weight type gets under `act` (see [`Activations`]).
enum Plan {
    F32,
    /// int8 kernels: the activations' quantization, and whether the type has minimums.
    I8((ActQuant, bool)),
    /// int16 kernels, likewise.
    I16((ActQuant, bool)),
}

fn plan(quant: QuantType, act: Activations) -> Plan {
    use QuantType as Q;
    let mins = matches!(quant, Q::Q4_1 | Q::Q5_1 | Q::Q4_K | Q::Q5_K);
    match (act, quant) {
        (Activations::F32, _) | (_, Q::F32 | Q::F16 | Q::BF16) => Plan::F32,
        (Activations::Native, Q::Q6_K) => Plan::I16((ActQuant::Q8K, false)),
        (Activations::Int16, Q::Q6_K) => Plan::I16((ActQuant::Int16Narrow, false)),
        (Activations::Native, Q::Q4_1 | Q::Q5_1) => Plan::I8((ActQuant::Q8_1, mins)),
        (Activations::Native, Q::Q4_K | Q::Q5_K) => Plan::I8((ActQuant::Q8K, mins)),
        (Activations::Native, _) => Plan::I8((ActQuant::Q8_0, mins)),
        (Activations::Int16, _) => Plan::I16((ActQuant::Int16, mins)),
    }
}

/// Errors unless `x` is whole rows of `cols` and `y` has `rows` values per token.
fn check_shapes(rows: usize, cols: usize, x: &[f32], y: &[f32]) -> Result<(), Error> {
    if cols == 0 || !x.len().is_multiple_of(cols) {
        return Err(Error::new(ErrorKind::Shape(format!(
            "activations of {} values are not rows of {cols}",
            x.len()
        ))));
    }
    let n_tokens = x.len() / cols;
    if y.len() != n_tokens * rows {
        return Err(Error::new(ErrorKind::Shape(format!(
            "output has {} values, expected {n_tokens} x {rows}",
            y.len()
        ))));
    }
    Ok(())
}

/// A weight matrix repacked once for the kernels of one activation scheme, for many
/// products: [`matmul_with`] packs on every call (below 512 tokens each panel of 32 rows
/// in the task that multiplies it), which costs a third to half of a 128-token product.
/// Owns its memory (int8 schemes about 1.25 bytes per weight, int16 2.5, f32 4; 0.125
/// more for the types with block minimums).
pub struct PackedWeights {
    kind: Packed,
    rows: usize,
    cols: usize,
}

enum Packed {
    I8(PackedI8),
    I16(PackedI16),
    F32(PackedF32),
}

impl PackedWeights {
    /// Packs `w` for `act` (see [`Activations`] for which kernel each type gets).
    pub fn new(w: &Matrix<'_>, act: Activations) -> Result<Self, Error> {
        let (rows, cols) = (w.rows, w.cols);
        if cols == 0 {
            let why = "a weight matrix of no columns".to_string();
            return Err(Error::new(ErrorKind::Shape(why)));
        }
        let kind = on_pool(|| -> Result<_, Error> {
            Ok(match plan(w.quant, act) {
                Plan::F32 => Packed::F32(PackedF32::pack(rows, cols, |r, out| {
                    let row = w
                        .row_f32(r)
                        .map_err(|e| e.with_context(format!("row {r}")))?;
                    out.copy_from_slice(&row);
                    Ok(())
                })?),
                Plan::I8((a, mins)) => {
                    Packed::I8(PackedI8::pack(rows, cols, a, mins, w.rows_src(), 1))
                }
                Plan::I16((a, mins)) => {
                    Packed::I16(PackedI16::pack(rows, cols, a, mins, w.rows_src(), 1))
                }
            })
        })?;
        Ok(PackedWeights { kind, rows, cols })
    }

    /// `y = x * W^T`, as [`matmul_with`] with the scheme this was packed for (the same
    /// bits).
    pub fn matmul(&self, x: &[f32], y: &mut [f32]) -> Result<(), Error> {
        check_shapes(self.rows, self.cols, x, y)?;
        if x.is_empty() || self.rows == 0 {
            return Ok(());
        }
        on_pool(|| match &self.kind {
            Packed::I8(p) => gemm_int(p, self.rows, x, y),
            Packed::I16(p) => gemm_int(p, self.rows, x, y),
            Packed::F32(p) => gemm_f32(p, self.rows, x, y),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{dequantize_row, quantize_row};

    fn rows(n: usize, cols: usize, seed: u32) -> Vec<f32> {
        (0..n * cols)
            .map(|i| {
                let v = (i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8;
                (v % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    /// The same product with f64 sums over the dequantized weights.
    fn reference(w: &Matrix<'_>, x: &[f32]) -> Vec<f32> {
        let t = x.len() / w.cols();
        let mut y = vec![0f32; t * w.rows()];
        for r in 0..w.rows() {
            let wr = w.row_f32(r).unwrap();
            for i in 0..t {
                let s: f64 = wr
                    .iter()
                    .zip(&x[i * w.cols()..])
                    .map(|(a, b)| f64::from(*a) * f64::from(*b))
                    .sum();
                y[i * w.rows() + r] = s as f32;
            }
        }
        y
    }

    #[test]
    fn every_type_matches_the_dequantized_reference() {
        let (n_rows, n_tok) = (37, 5);
        for q in QuantType::ALL {
            let cols = 2 * q.block_size().max(48);
            let wf = rows(n_rows, cols, 7);
            let x = rows(n_tok, cols, 99);
            let data: Vec<u8> = wf
                .chunks(cols)
                .flat_map(|r| quantize_row(q, r).unwrap())
                .collect();
            let w = Matrix::new(q, &data, n_rows, cols).unwrap();
            let want = reference(&w, &x);
            // Each term's error is a fraction of |w| times the largest activation (1):
            // 2^-16 for int16 activations (2^-15 for Q6_K's), 1/254 for 8-bit ones.
            let float = matches!(q, QuantType::F32 | QuantType::F16 | QuantType::BF16);
            for (act, rel) in [
                (Activations::Native, if float { 1e-6 } else { 1.0 / 250.0 }),
                (
                    Activations::Int16,
                    if float { 1e-6 } else { 1.0 / 30_000.0 },
                ),
                (Activations::F32, 1e-6),
            ] {
                let mut y = vec![0f32; n_tok * n_rows];
                matmul_with(&w, &x, &mut y, act).unwrap();
                for (i, (a, b)) in y.iter().zip(&want).enumerate() {
                    let wr = w.row_f32(i % n_rows).unwrap();
                    let size: f32 = wr.iter().map(|v| v.abs()).sum();
                    assert!(
                        (a - b).abs() <= rel * size + 1e-5,
                        "{q:?} {act:?}: {a} vs {b}"
                    );
                }
            }
        }
    }

    /// ggml's dot products written out naively, on the activations as ggml quantizes
    /// them, against the packed kernels.
    #[test]
    fn native_schemes_match_naive_ggml_dots() {
        use crate::blocks::{BlockQ4_1, BlockQ5_1};
        let (n_rows, n_tok, cols) = (21, 7, 512);
        let mut x = rows(n_tok, cols, 11);
        x[300] = -40.0; // a block whose largest magnitude is negative
        for q in [
            QuantType::Q4_1,
            QuantType::Q5_1,
            QuantType::Q4_K,
            QuantType::Q5_K,
            QuantType::Q6_K,
        ] {
            let wf = rows(n_rows, cols, 5);
            let data: Vec<u8> = wf
                .chunks(cols)
                .flat_map(|r| quantize_row(q, r).unwrap())
                .collect();
            let w = Matrix::new(q, &data, n_rows, cols).unwrap();
            let mut y = vec![0f32; n_tok * n_rows];
            matmul(&w, &x, &mut y).unwrap();
            for t in 0..n_tok {
                let xt = &x[t * cols..(t + 1) * cols];
                // Quantized activations (f64 values) and, for Q8_1, each block's `s`.
                let (xq, s): (Vec<f64>, Vec<f64>) = if q.block_size() == 32 {
                    // x86 `quantize_row_q8_1`.
                    let mut xq = Vec::new();
                    let mut s = Vec::new();
                    for xb in xt.chunks(32) {
                        let amax = xb.iter().fold(0f32, |m, v| m.max(v.abs()));
                        let d = amax / 127.0;
                        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
                        let qs: Vec<f32> = xb.iter().map(|v| (v * id).round_ties_even()).collect();
                        let dh = half::f16::from_f32(d).to_f32();
                        xq.extend(qs.iter().map(|v| f64::from(v * dh)));
                        let sum: f32 = qs.iter().sum();
                        s.push(f64::from(half::f16::from_f32(d * sum).to_f32()));
                    }
                    (xq, s)
                } else {
                    let b = quantize_row(QuantType::Q8_K, xt).unwrap();
                    let v = dequantize_row(QuantType::Q8_K, &b, cols).unwrap();
                    (v.into_iter().map(f64::from).collect(), Vec::new())
                };
                for r in 0..n_rows {
                    let wr = w.row_f32(r).unwrap();
                    // Q4_1/Q5_1: the minimum times `s`, not times each value.
                    let mins: Vec<f64> = match q {
                        QuantType::Q4_1 => crate::legacy::blocks::<BlockQ4_1>(w.row(r))
                            .map(|b| f64::from(half::f16::from_bits(b.m).to_f32()))
                            .collect(),
                        QuantType::Q5_1 => crate::legacy::blocks::<BlockQ5_1>(w.row(r))
                            .map(|b| f64::from(half::f16::from_bits(b.m).to_f32()))
                            .collect(),
                        _ => vec![0.0; cols / 32],
                    };
                    let (mut want, mut size) = (0f64, 0f64);
                    for k in 0..cols {
                        let term = (f64::from(wr[k]) - mins[k / 32]) * xq[k];
                        want += term;
                        size += term.abs();
                    }
                    for (m, s) in mins.iter().zip(&s) {
                        want += m * s;
                        size += (m * s).abs();
                    }
                    let got = f64::from(y[t * n_rows + r]);
                    assert!(
                        (got - want).abs() <= 2e-6 * size,
                        "{q:?} token {t} row {r}: {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn results_do_not_depend_on_the_batch() {
        let (n_rows, cols) = (19, 256);
        let wf = rows(n_rows, cols, 3);
        for (q, act) in [
            (QuantType::Q8_0, Activations::Native),
            (QuantType::Q8_0, Activations::F32),
            (QuantType::Q8_0, Activations::Int16),
            (QuantType::Q4_0, Activations::Int16),
            (QuantType::F16, Activations::Native),
            (QuantType::Q4_1, Activations::Native),
            (QuantType::Q5_K, Activations::Native),
            (QuantType::Q6_K, Activations::Native),
            (QuantType::Q4_K, Activations::Int16),
            (QuantType::Q6_K, Activations::Int16),
        ] {
            let data: Vec<u8> = wf
                .chunks(cols)
                .flat_map(|r| quantize_row(q, r).unwrap())
                .collect();
            let w = Matrix::new(q, &data, n_rows, cols).unwrap();
            let x = rows(70, cols, 5);
            let mut all = vec![0f32; 70 * n_rows];
            matmul_with(&w, &x, &mut all, act).unwrap();
            for t in [0, 33, 66, 69] {
                let mut one = vec![0f32; n_rows];
                matmul_with(&w, &x[t * cols..(t + 1) * cols], &mut one, act).unwrap();
                assert_eq!(
                    one,
                    all[t * n_rows..(t + 1) * n_rows],
                    "{q:?} {act:?} token {t}"
                );
            }
        }
    }

    #[test]
    fn a_nan_activation_reaches_the_output() {
        let (n_rows, cols) = (5, 256);
        let wf = rows(n_rows, cols, 3);
        let mut x = rows(2, cols, 8);
        x[cols + 77] = f32::NAN;
        for q in [
            QuantType::Q8_0,
            QuantType::Q4_1,
            QuantType::Q4_K,
            QuantType::Q6_K,
            QuantType::F16,
        ] {
            let data: Vec<u8> = wf
                .chunks(cols)
                .flat_map(|r| quantize_row(q, r).unwrap())
                .collect();
            let w = Matrix::new(q, &data, n_rows, cols).unwrap();
            for act in [Activations::Native, Activations::Int16, Activations::F32] {
                let mut y = vec![0f32; 2 * n_rows];
                matmul_with(&w, &x, &mut y, act).unwrap();
                assert!(y[..n_rows].iter().all(|v| v.is_finite()), "{q:?} {act:?}");
                assert!(y[n_rows..].iter().all(|v| v.is_nan()), "{q:?} {act:?}");
            }
        }
    }

    #[test]
    fn shapes_are_checked() {
        let data = vec![0u8; 34 * 2];
        assert!(Matrix::new(QuantType::Q8_0, &data, 3, 32).is_err());
        let w = Matrix::new(QuantType::Q8_0, &data, 2, 32).unwrap();
        let mut y = vec![0f32; 2];
        assert!(matmul(&w, &[0.0; 33], &mut y).is_err());
        assert!(matmul(&w, &[0.0; 32], &mut [0.0; 3]).is_err());
        assert!(w.row_f32(2).is_err());
    }
}
