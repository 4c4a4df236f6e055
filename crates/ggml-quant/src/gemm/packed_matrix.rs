//! [`PackedMatrix`]: an f32 matrix packed once for many products on one thread.

use super::pack::{PackedF32, scatter_row};
use super::{GROUP, MR, PANEL, n_groups};
use crate::arch;

/// An f32 matrix packed once for many products on the calling thread (attention's keys
/// and values, where each task owns its matrix): `y[t][r] = sum_k W[r][k] * x[t][k]`
/// with the same kernels, and so the same bits, as [`crate::matmul_with`]'s f32 path.
///
/// ```
/// use ggml_quant::PackedMatrix;
///
/// // W = [[1, 2], [3, 4], [5, 6]]: 3 rows of 2.
/// let w = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
/// let m = PackedMatrix::from_rows(&w, 3, 2, 2);
/// let mut y = [0.0; 3];
/// m.mul(&[1.0, 1.0], &mut y, 3);
/// assert_eq!(y, [3.0, 7.0, 11.0]);
/// ```
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
        for panel in 0..self.rows.div_ceil(PANEL) {
            let (r0, p) = (panel * PANEL, self.inner.panel(panel));
            let n = PANEL.min(self.rows - r0);
            for t0 in (0..n_tokens).step_by(MR) {
                let m = MR.min(n_tokens - t0);
                let mut tile = [[0f32; PANEL]; MR];
                kernel(&p, 0..cols, &x[t0 * cols..(t0 + m) * cols], m, &mut tile);
                for (i, row) in tile.iter().enumerate().take(m) {
                    let o = (t0 + i) * y_stride + r0;
                    y[o..o + n].copy_from_slice(&row[..n]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Activations, Matrix, QuantType, matmul_with};

    use crate::gemm::test_values as values;

    #[test]
    fn from_rows_and_from_columns_agree() {
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
}
