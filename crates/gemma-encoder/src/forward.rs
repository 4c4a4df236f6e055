//! The forward pass (`llamacpp-embeddinggemma.md` §2.4), over several texts packed into
//! one batch without padding. Matrix products run over all packed tokens at once;
//! attention runs within each text only, and on sliding layers only within the window.
//! Every value a text gets depends on that text alone, computed in a fixed order, so
//! results are the same alone or in any batch, in any order, on any thread count.

use ggml_quant::kernels::{axpy_f32_strided, dot_f32_strided};
use ggml_quant::{Activations, matmul_with};
use rayon::prelude::*;

use crate::error::{Error, ErrorKind};
use crate::model::{Model, TensorRef};

/// `rms_norm(x) * w` row by row, as ggml: the mean of squares summed in f64, the scale
/// `1 / sqrtf(mean + eps)` in f32, then `(x * scale) * w`.
fn rms_norm_rows(x: &mut [f32], w: &[f32], eps: f32) {
    let n = w.len();
    x.par_chunks_mut(n.max(1))
        .for_each(|row| rms_norm(row, w, eps));
}

fn rms_norm(row: &mut [f32], w: &[f32], eps: f32) {
    let sum: f64 = row.iter().map(|v| f64::from(v * v)).sum();
    let mean = (sum / row.len() as f64) as f32;
    let scale = 1.0 / (mean + eps).sqrt();
    for (v, w) in row.iter_mut().zip(w) {
        *v = (*v * scale) * w;
    }
}

fn linear(model: &Model, t: &TensorRef, x: &[f32], act: Activations) -> Result<Vec<f32>, Error> {
    let w = model.matrix(t);
    let mut y = vec![0f32; x.len() / t.ne0 * t.ne1];
    matmul_with(&w, x, &mut y, act)
        .map_err(|e| Error::new(ErrorKind::Model, format!("{}: {e}", t.name)))?;
    Ok(y)
}

/// GELU with the tanh approximation, in f32 (as `gelu_pytorch_tanh`).
fn gelu_tanh(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    const COEF_A: f32 = 0.044_715;
    0.5 * x * (1.0 + (SQRT_2_OVER_PI * x * (1.0 + COEF_A * x * x)).tanh())
}

/// NEOX RoPE tables for positions `0..n_pos`: per position, `head_dim / 2` (cos, sin)
/// pairs, with `theta_i = p * base^(-2i/d)` built by repeated f32 products as ggml does.
pub(crate) fn rope_table(base: f32, head_dim: usize, n_pos: usize) -> Vec<(f32, f32)> {
    let half = head_dim / 2;
    let theta_scale = base.powf(-2.0 / head_dim as f32);
    let mut t = Vec::with_capacity(n_pos * half);
    for p in 0..n_pos {
        let mut theta = p as f32;
        for _ in 0..half {
            t.push((theta.cos(), theta.sin()));
            theta *= theta_scale;
        }
    }
    t
}

fn rope(x: &mut [f32], table: &[(f32, f32)]) {
    let half = x.len() / 2;
    for i in 0..half {
        let (c, s) = table[i];
        let (x0, x1) = (x[i], x[i + half]);
        x[i] = x0 * c - x1 * s;
        x[i + half] = x0 * s + x1 * c;
    }
}

/// Final hidden states (after the output norm) of each text, packed: `lens[i]` rows of
/// `n_embd` for text `i`, in order.
pub(crate) fn encode(
    model: &Model,
    tokens: &[Vec<u32>],
    ropes: &[Vec<(f32, f32)>; 2],
    act: Activations,
) -> Result<Vec<f32>, Error> {
    let hp = &model.hp;
    let (e, hd) = (hp.n_embd, hp.head_dim);
    let total: usize = tokens.iter().map(Vec::len).sum();
    // Where each text starts in the packed batch.
    let mut starts = Vec::with_capacity(tokens.len());
    let mut at = 0;
    for t in tokens {
        starts.push(at);
        at += t.len();
    }

    // Token embeddings, dequantized only for the tokens at hand, scaled by sqrt(n_embd).
    let embd = model.matrix(&model.token_embd);
    let scale = (e as f32).sqrt();
    let mut x = vec![0f32; total * e];
    let ids: Vec<u32> = tokens.iter().flatten().copied().collect();
    x.par_chunks_mut(e).zip(&ids).try_for_each(|(row, &id)| {
        let r = embd.row_f32(id as usize).map_err(|_| {
            Error::new(
                ErrorKind::Input,
                format!("token id {id} is outside the model's vocabulary"),
            )
        })?;
        for (o, v) in row.iter_mut().zip(r) {
            *o = v * scale;
        }
        Ok::<(), Error>(())
    })?;

    let q_dim = hp.n_head * hd;
    let kv_dim = hp.n_head_kv * hd;
    let group = hp.n_head / hp.n_head_kv;
    let half_window = hp.sliding_window / 2;
    let q_scale = 1.0 / (hd as f32).sqrt();
    // Each token's position within its own text.
    let positions: Vec<usize> = tokens.iter().flat_map(|t| 0..t.len()).collect();
    for (il, layer) in model.layers.iter().enumerate() {
        let mut h = x.clone();
        rms_norm_rows(&mut h, &layer.attn_norm, hp.eps);
        let mut q = linear(model, &layer.q, &h, act)?;
        let mut k = linear(model, &layer.k, &h, act)?;
        let v = linear(model, &layer.v, &h, act)?;
        let sliding = hp.is_sliding(il);
        let table = &ropes[usize::from(sliding)];
        // Per-head q/k norms, RoPE at each token's position within its text, q / sqrt(d).
        q.par_chunks_mut(q_dim)
            .zip(&positions)
            .for_each(|(row, &p)| {
                for head in row.chunks_mut(hd) {
                    rms_norm(head, &layer.q_norm, hp.eps);
                    rope(head, &table[p * hd / 2..(p + 1) * hd / 2]);
                    head.iter_mut().for_each(|v| *v *= q_scale);
                }
            });
        k.par_chunks_mut(kv_dim)
            .zip(&positions)
            .for_each(|(row, &p)| {
                for head in row.chunks_mut(hd) {
                    rms_norm(head, &layer.k_norm, hp.eps);
                    rope(head, &table[p * hd / 2..(p + 1) * hd / 2]);
                }
            });

        // Attention within each text; a sliding layer sees keys within ±window/2.
        let mut attn = vec![0f32; total * q_dim];
        attn.par_chunks_mut(q_dim)
            .enumerate()
            .for_each(|(gi, out)| {
                let text = starts.partition_point(|&s| s <= gi) - 1;
                let (t0, len) = (starts[text], tokens[text].len());
                let i = gi - t0;
                let (lo, hi) = if sliding {
                    (
                        i.saturating_sub(half_window),
                        (i + half_window + 1).min(len),
                    )
                } else {
                    (0, len)
                };
                let mut scores = vec![0f32; hi - lo];
                for h in 0..hp.n_head {
                    let kvh = h / group;
                    let qh = &q[gi * q_dim + h * hd..gi * q_dim + (h + 1) * hd];
                    let keys = &k[(t0 + lo) * kv_dim + kvh * hd..];
                    dot_f32_strided(qh, keys, kv_dim, &mut scores);
                    let max = scores.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s));
                    let mut sum = 0f64;
                    for s in scores.iter_mut() {
                        *s = (*s - max).exp();
                        sum += f64::from(*s);
                    }
                    let inv = (1.0 / sum) as f32;
                    scores.iter_mut().for_each(|s| *s *= inv);
                    let o = &mut out[h * hd..(h + 1) * hd];
                    o.iter_mut().for_each(|v| *v = 0.0);
                    axpy_f32_strided(&scores, &v[(t0 + lo) * kv_dim + kvh * hd..], kv_dim, o);
                }
            });
        let mut a = linear(model, &layer.o, &attn, act)?;
        rms_norm_rows(&mut a, &layer.post_attn_norm, hp.eps);
        x.par_iter_mut().zip(&a).for_each(|(x, a)| *x += a);

        let mut f = x.clone();
        rms_norm_rows(&mut f, &layer.ffn_norm, hp.eps);
        let mut g = linear(model, &layer.gate, &f, act)?;
        let u = linear(model, &layer.up, &f, act)?;
        g.par_iter_mut()
            .zip(&u)
            .for_each(|(g, u)| *g = gelu_tanh(*g) * u);
        let mut d = linear(model, &layer.down, &g, act)?;
        rms_norm_rows(&mut d, &layer.post_ffn_norm, hp.eps);
        x.par_iter_mut().zip(&d).for_each(|(x, d)| *x += d);
    }
    rms_norm_rows(&mut x, &model.output_norm, hp.eps);
    Ok(x)
}

/// Mean over a text's token rows.
pub(crate) fn mean_pool(rows: &[f32], n_embd: usize) -> Vec<f32> {
    let n = rows.len() / n_embd;
    let mut sum = vec![0f64; n_embd];
    for row in rows.chunks_exact(n_embd) {
        for (s, v) in sum.iter_mut().zip(row) {
            *s += f64::from(*v);
        }
    }
    sum.iter().map(|s| (s / n as f64) as f32).collect()
}

/// `dense_3 * (dense_2 * e)` for pooled vectors packed one after another.
pub(crate) fn dense(model: &Model, pooled: &[f32], act: Activations) -> Result<Vec<f32>, Error> {
    match &model.dense {
        Some((d2, d3)) => linear(model, d3, &linear(model, d2, pooled, act)?, act),
        None => Ok(pooled.to_vec()),
    }
}

/// L2 normalization as `common_embd_normalize(.., 2)`: squares summed in f64.
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
    fn rope_rotates_pairs_half_a_head_apart() {
        let table = rope_table(10_000.0, 4, 3);
        assert_eq!(table[0], (1.0, 0.0));
        let mut x = [1.0, 0.0, 0.0, 1.0];
        rope(&mut x, &table[2..4]); // position 1
        let (c, s) = table[2];
        assert!((x[0] - c).abs() < 1e-7 && (x[2] - s).abs() < 1e-7);
        let norm: f32 = x.iter().map(|v| v * v).sum();
        assert!((norm - 2.0).abs() < 1e-6);
    }

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
    fn gelu_matches_known_values() {
        assert_eq!(gelu_tanh(0.0), 0.0);
        assert!((gelu_tanh(1.0) - 0.841_192).abs() < 1e-5);
        assert!((gelu_tanh(-3.0) + 0.003_637_4).abs() < 1e-5);
    }
}
