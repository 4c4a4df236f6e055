//! The two normalizations: RMSNorm (every norm of the transformer) and L2 (the output
//! vectors).

use rayon::prelude::*;

/// `rms_norm(x) * w` for each row of `w.len()` values of `x`, rows in parallel.
pub(super) fn rms_norm_rows(x: &mut [f32], w: &[f32], eps: f32) {
    let n = w.len();
    x.par_chunks_mut(n.max(1))
        .for_each(|row| rms_norm(row, w, eps));
}

/// `out` = `x` with [`rms_norm_rows`] applied; `x`, the residual stream, stays as it is.
pub(super) fn rms_norm_into(x: &[f32], w: &[f32], eps: f32, out: &mut Vec<f32>) {
    out.clear();
    out.extend_from_slice(x);
    rms_norm_rows(out, w, eps);
}

/// `rms_norm(row) * w` as ggml computes it: the mean of squares in f64, the scale
/// `1 / sqrtf(mean + eps)` in f32, then `(x * scale) * w`.
pub(super) fn rms_norm(row: &mut [f32], w: &[f32], eps: f32) {
    // Eight f64 partial sums (ggml keeps one; the order differs, the precision not),
    // so the loop vectorizes instead of waiting on one chain of additions.
    let mut lanes = [0f64; 8];
    let mut chunks = row.chunks_exact(8);
    for c in &mut chunks {
        for i in 0..8 {
            lanes[i] += f64::from(c[i] * c[i]);
        }
    }
    for (i, v) in chunks.remainder().iter().enumerate() {
        lanes[i] += f64::from(v * v);
    }
    let sum = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5]))
        + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
    let mean = (sum / row.len() as f64) as f32;
    let scale = 1.0 / (mean + eps).sqrt();
    for (v, w) in row.iter_mut().zip(w) {
        *v = (*v * scale) * w;
    }
}

/// L2 normalization as llama.cpp's `common_embd_normalize(.., 2)`: squares summed in
/// f64; an all-zero vector stays zero.
pub(crate) fn l2_normalize(v: &mut [f32]) {
    let sum: f64 = v.iter().map(|x| f64::from(x * x)).sum();
    let norm = if sum > 0.0 {
        (1.0 / sum.sqrt()) as f32
    } else {
        0.0
    };
    v.iter_mut().for_each(|x| *x *= norm);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rms_norm_and_l2() {
        let mut r = [3.0f32, 4.0];
        rms_norm(&mut r, &[1.0, 2.0], 0.0);
        let rms = (12.5f32).sqrt();
        assert!((r[0] - 3.0 / rms).abs() < 1e-6 && (r[1] - 8.0 / rms).abs() < 1e-6);
        let mut v = [3.0f32, 4.0];
        l2_normalize(&mut v);
        assert_eq!(v, [0.6, 0.8]);
        let mut z = [0.0f32; 3];
        l2_normalize(&mut z);
        assert_eq!(z, [0.0; 3]);
    }

    #[test]
    fn rows_are_normalized_one_by_one() {
        let x: Vec<f32> = (0..27).map(|i| i as f32 - 13.0).collect();
        let w: Vec<f32> = (0..9).map(|i| 1.0 + i as f32 / 8.0).collect();
        let mut rows = Vec::new();
        rms_norm_into(&x, &w, 1e-6, &mut rows);
        for (row, orig) in rows.chunks(9).zip(x.chunks(9)) {
            let mut one = orig.to_vec();
            rms_norm(&mut one, &w, 1e-6);
            assert_eq!(row, one);
        }
    }
}
