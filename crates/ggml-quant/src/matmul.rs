//! Matrix multiplication `Y[n_tokens x rows] = X[n_tokens x cols] * W^T` with `W` in its
//! GGUF type, parallel over output rows with rayon.
//!
//! Which arithmetic each weight type uses:
//! - Q8_0, Q4_0, Q5_0: ggml's scheme. Each activation row is quantized once to Q8_0
//!   (as ggml's x86 `quantize_row_q8_0`: multiplier `127/amax`, round half to even, the
//!   scale stored as f16), and each block contributes `d_w * d_x * sum(q_w * q_x)` with
//!   an exact integer sum, accumulated in f32 (`ggml_vec_dot_q8_0_q8_0` and friends).
//!   The integer dot is the fast path and gives llama.cpp's numbers: `vpdpbusd`
//!   (AVX-512 VNNI, or AVX-VNNI on 256-bit vectors), `sdot` with NEON's dot product,
//!   `smull` + `sadalp` without it, on weights packed as for the int16 path.
//! - F32, F16, BF16, Q4_1, Q5_1, Q4_K, Q5_K, Q6_K: each weight row is widened to f32
//!   once per call into packed panels and multiplied with the f32 activations. For F16
//!   and BF16 this is more accurate than ggml, which rounds the activations to the
//!   weight's type; for Q4_1/Q5_1 (ggml: Q8_1 activations) and the K-quants (ggml: Q8_K
//!   activations) it stands in for the integer kernels still to come, and is at least
//!   as accurate.
//!
//! Every output element is computed from its own row and column alone, in a fixed
//! order, so results do not depend on the batch, the tile sizes or the thread count.

use crate::blocks::{BlockQ4_0, BlockQ5_0, BlockQ8_0, QK8_0};
use crate::error::Error;
use crate::gemm::{PackedF32, PackedI8, PackedI16, gemm_f32, gemm_i8, gemm_i16};
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
        let expected = row_bytes.checked_mul(rows).ok_or(Error::WrongLength {
            quant,
            expected: usize::MAX,
            got: data.len(),
        })?;
        if data.len() != expected {
            return Err(Error::WrongLength {
                quant,
                expected,
                got: data.len(),
            });
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

    fn row(&self, r: usize) -> &'a [u8] {
        let rb = self.data.len() / self.rows.max(1);
        &self.data[r * rb..(r + 1) * rb]
    }

    /// Row `r` widened to f32.
    pub fn row_f32(&self, r: usize) -> Result<Vec<f32>, Error> {
        if r >= self.rows {
            return Err(Error::RowOutOfRange {
                row: r,
                rows: self.rows,
            });
        }
        dequantize_row(self.quant, self.row(r), self.cols)
    }
}

/// How activations meet the weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Activations {
    /// The weight type's scheme (ggml's): Q8_0 activations for Q8_0, Q4_0, Q5_0.
    #[default]
    Native,
    /// int16 activations by blocks of 32 for Q8_0, Q4_0, Q5_0 weights (exact integer
    /// block sums, 256 times finer than Q8_0 activations); f32 for the other types.
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
    PackedWeights::new(w, act)?.matmul(x, y)
}

/// Errors unless `x` is whole rows of `cols` and `y` has `rows` values per token.
fn check_shapes(rows: usize, cols: usize, x: &[f32], y: &[f32]) -> Result<(), Error> {
    if cols == 0 || !x.len().is_multiple_of(cols) {
        return Err(Error::Shape(format!(
            "activations of {} values are not rows of {cols}",
            x.len()
        )));
    }
    let n_tokens = x.len() / cols;
    if y.len() != n_tokens * rows {
        return Err(Error::Shape(format!(
            "output has {} values, expected {n_tokens} x {rows}",
            y.len()
        )));
    }
    Ok(())
}

/// A weight matrix repacked once for the kernels of one activation scheme, for many
/// products: [`matmul_with`] packs on every call, which costs about as much as the
/// product itself for a few hundred tokens. Owns its memory (int8 schemes about 1.25
/// bytes per weight, int16 2.5, f32 4).
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
        let int8_family = matches!(w.quant, QuantType::Q8_0 | QuantType::Q4_0 | QuantType::Q5_0);
        let kind = match act {
            Activations::Native if int8_family => {
                Packed::I8(PackedI8::pack(rows, cols, |r, q, d| unpack_q8(w, r, q, d)))
            }
            Activations::Int16 if int8_family => {
                Packed::I16(PackedI16::pack(rows, cols, |r, q, d| unpack_q8(w, r, q, d)))
            }
            _ => Packed::F32(PackedF32::pack(rows, cols, |r, out| {
                out.copy_from_slice(&w.row_f32(r)?);
                Ok(())
            })?),
        };
        Ok(PackedWeights { kind, rows, cols })
    }

    /// `y = x * W^T`, as [`matmul_with`] with the scheme this was packed for (the same
    /// bits).
    pub fn matmul(&self, x: &[f32], y: &mut [f32]) -> Result<(), Error> {
        check_shapes(self.rows, self.cols, x, y)?;
        if x.is_empty() || self.rows == 0 {
            return Ok(());
        }
        match &self.kind {
            Packed::I8(p) => gemm_i8(p, self.rows, x, y),
            Packed::I16(p) => gemm_i16(p, self.rows, x, y),
            Packed::F32(p) => gemm_f32(p, self.rows, x, y),
        }
        Ok(())
    }
}

/// Weight row `r` as int8 blocks and f32 scales, whatever its 32-value format.
fn unpack_q8(w: &Matrix<'_>, r: usize, q: &mut [[i8; QK8_0]], d: &mut [f32]) {
    let row = w.row(r);
    let f16 = |b: u16| half::f16::from_bits(b).to_f32();
    match w.quant {
        QuantType::Q8_0 => {
            for ((c, q), d) in row.chunks_exact(size_of::<BlockQ8_0>()).zip(q).zip(d) {
                let b: BlockQ8_0 = bytemuck::pod_read_unaligned(c);
                *q = b.qs;
                *d = f16(b.d);
            }
        }
        QuantType::Q4_0 => {
            for ((c, q), d) in row.chunks_exact(size_of::<BlockQ4_0>()).zip(q).zip(d) {
                let b: BlockQ4_0 = bytemuck::pod_read_unaligned(c);
                for j in 0..16 {
                    q[j] = (b.qs[j] & 0x0f) as i8 - 8;
                    q[j + 16] = (b.qs[j] >> 4) as i8 - 8;
                }
                *d = f16(b.d);
            }
        }
        QuantType::Q5_0 => {
            for ((c, q), d) in row.chunks_exact(size_of::<BlockQ5_0>()).zip(q).zip(d) {
                let b: BlockQ5_0 = bytemuck::pod_read_unaligned(c);
                let qh = u32::from_le_bytes(b.qh);
                for j in 0..16 {
                    let h0 = (((qh >> j) << 4) & 0x10) as u8;
                    let h1 = ((qh >> (j + 12)) & 0x10) as u8;
                    q[j] = ((b.qs[j] & 0x0f) | h0) as i8 - 16;
                    q[j + 16] = ((b.qs[j] >> 4) | h1) as i8 - 16;
                }
                *d = f16(b.d);
            }
        }
        _ => unreachable!("unpack_q8 is called for Q8_0, Q4_0 and Q5_0 only"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantize_row;

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
        let (n_rows, cols, n_tok) = (37, 96, 5);
        let wf = rows(n_rows, cols, 7);
        let x = rows(n_tok, cols, 99);
        for q in [
            QuantType::F32,
            QuantType::F16,
            QuantType::BF16,
            QuantType::Q8_0,
            QuantType::Q4_0,
            QuantType::Q4_1,
            QuantType::Q5_0,
            QuantType::Q5_1,
        ] {
            let data: Vec<u8> = wf
                .chunks(cols)
                .flat_map(|r| quantize_row(q, r).unwrap())
                .collect();
            let w = Matrix::new(q, &data, n_rows, cols).unwrap();
            let mut y = vec![0f32; n_tok * n_rows];
            matmul(&w, &x, &mut y).unwrap();
            let want = reference(&w, &x);
            // int16 activations: within 2^-15 of each block's largest value.
            let mut y16 = vec![0f32; n_tok * n_rows];
            matmul_with(&w, &x, &mut y16, Activations::Int16).unwrap();
            for (a, b) in y16.iter().zip(&want) {
                assert!((a - b).abs() <= 1e-3, "{q:?} int16: {a} vs {b}");
            }
            // Activation quantization to Q8_0 costs about 1/254 of each term's size.
            let tol = if matches!(q, QuantType::Q8_0 | QuantType::Q4_0 | QuantType::Q5_0) {
                0.05
            } else {
                1e-4
            };
            for (a, b) in y.iter().zip(&want) {
                assert!((a - b).abs() <= tol, "{q:?}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn results_do_not_depend_on_the_batch() {
        let (n_rows, cols) = (19, 64);
        let wf = rows(n_rows, cols, 3);
        for (q, act) in [
            (QuantType::Q8_0, Activations::Native),
            (QuantType::Q8_0, Activations::F32),
            (QuantType::Q8_0, Activations::Int16),
            (QuantType::Q4_0, Activations::Int16),
            (QuantType::F16, Activations::Native),
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
