//! The forward pass (`llamacpp-embeddinggemma.md` §2.4), over several texts packed into
//! one batch without padding. Matrix products run over all packed tokens at once;
//! attention runs within each text only, and on sliding layers only within the window.
//! Every value a text gets depends on that text alone, computed in a fixed order, so
//! results are the same alone or in any batch, in any order, on any thread count.

use ggml_quant::kernels::{gelu_tanh_mul, softmax};
use ggml_quant::{Activations, PackedMatrix, matmul_with};
use rayon::prelude::*;

use crate::error::{Error, ErrorKind};
use crate::model::{Model, TensorRef};

/// `rms_norm(x) * w` row by row, as ggml: the mean of squares in f64, the scale
/// `1 / sqrtf(mean + eps)` in f32, then `(x * scale) * w`.
fn rms_norm_rows(x: &mut [f32], w: &[f32], eps: f32) {
    let n = w.len();
    x.par_chunks_mut(n.max(1))
        .for_each(|row| rms_norm(row, w, eps));
}

fn rms_norm(row: &mut [f32], w: &[f32], eps: f32) {
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

/// `y = x * W^T` into `y`, a buffer of at least `n_tokens * t.ne1` values that is
/// resized (not reallocated once big enough) so the pass reuses its memory.
fn linear_into(
    model: &Model,
    t: &TensorRef,
    x: &[f32],
    y: &mut Vec<f32>,
    act: Activations,
) -> Result<(), Error> {
    let w = model.matrix(t);
    y.resize(x.len() / t.ne0 * t.ne1, 0.0);
    matmul_with(&w, x, y, act)
        .map_err(|e| Error::caused_by(ErrorKind::Model, format!("the product with {}", t.name), e))
}

fn linear(model: &Model, t: &TensorRef, x: &[f32], act: Activations) -> Result<Vec<f32>, Error> {
    let mut y = Vec::new();
    linear_into(model, t, x, &mut y, act)?;
    Ok(y)
}

/// The RoPE tables of the two kinds of layers, `[global, sliding]`.
pub(crate) struct RopeTables([Vec<(f32, f32)>; 2]);

impl RopeTables {
    pub(crate) fn new(hp: &crate::model::Hparams) -> RopeTables {
        RopeTables([
            rope_table(hp.rope_base, hp.head_dim, hp.n_ctx),
            rope_table(hp.rope_base_swa, hp.head_dim, hp.n_ctx),
        ])
    }
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
    ropes: &RopeTables,
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
    let half_window = hp.sliding_window / 2;
    let q_scale = 1.0 / (hd as f32).sqrt();
    // Each token's position within its own text.
    let positions: Vec<usize> = tokens.iter().flat_map(|t| 0..t.len()).collect();
    // Buffers reused by every layer: the pass touches fresh memory once, not per layer.
    let (mut h, mut q, mut k, mut v) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut a, mut g, mut u) = (Vec::new(), Vec::new(), Vec::new());
    let mut attn = vec![0f32; total * q_dim];
    for (il, layer) in model.layers.iter().enumerate() {
        h.clear();
        h.extend_from_slice(&x);
        rms_norm_rows(&mut h, &layer.attn_norm, hp.eps);
        linear_into(model, &layer.q, &h, &mut q, act)?;
        linear_into(model, &layer.k, &h, &mut k, act)?;
        linear_into(model, &layer.v, &h, &mut v, act)?;
        let sliding = hp.is_sliding(il);
        let table = &ropes.0[usize::from(sliding)];
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
        let shape = AttnShape {
            n_head: hp.n_head,
            n_head_kv: hp.n_head_kv,
            head_dim: hd,
            half_window: sliding.then_some(half_window),
        };
        // Tasks: blocks of queries of one text, in batch order, each owning its rows.
        let mut tasks = Vec::new();
        let mut rest = attn.as_mut_slice();
        for (text, toks) in tokens.iter().enumerate() {
            for i0 in (0..toks.len()).step_by(Q_BLOCK) {
                let i1 = (i0 + Q_BLOCK).min(toks.len());
                let (mine, tail) = rest.split_at_mut((i1 - i0) * q_dim);
                rest = tail;
                tasks.push((text, toks.len(), i0..i1, mine));
            }
        }
        // Without a window every query block of a text sees all its keys: pack them
        // once per text and share the packing between its blocks.
        let shared: Vec<Option<KvPack>> = tokens
            .par_iter()
            .enumerate()
            .map(|(text, toks)| {
                (!sliding && toks.len() > Q_BLOCK).then(|| {
                    let (n, end) = (starts[text] * kv_dim, (starts[text] + toks.len()) * kv_dim);
                    KvPack::new(&shape, &k[n..end], &v[n..end], 0, toks.len())
                })
            })
            .collect();
        tasks.into_par_iter().for_each(|(text, len, queries, out)| {
            let t0 = starts[text];
            let n = t0 * kv_dim;
            let end = (t0 + len) * kv_dim;
            attend(
                &shape,
                &q[(t0 + queries.start) * q_dim..(t0 + queries.end) * q_dim],
                &k[n..end],
                &v[n..end],
                shared[text].as_ref(),
                queries,
                out,
            );
        });
        linear_into(model, &layer.o, &attn, &mut a, act)?;
        rms_norm_rows(&mut a, &layer.post_attn_norm, hp.eps);
        x.par_iter_mut().zip(&a).for_each(|(x, a)| *x += a);

        h.clear();
        h.extend_from_slice(&x);
        rms_norm_rows(&mut h, &layer.ffn_norm, hp.eps);
        linear_into(model, &layer.gate, &h, &mut g, act)?;
        linear_into(model, &layer.up, &h, &mut u, act)?;
        g.par_chunks_mut(4096)
            .zip(u.par_chunks(4096))
            .for_each(|(g, u)| gelu_tanh_mul(g, u));
        linear_into(model, &layer.down, &g, &mut a, act)?;
        rms_norm_rows(&mut a, &layer.post_ffn_norm, hp.eps);
        x.par_iter_mut().zip(&a).for_each(|(x, d)| *x += d);
    }
    rms_norm_rows(&mut x, &model.output_norm, hp.eps);
    Ok(x)
}

/// Queries per attention task: a task packs its keys and values once for them.
const Q_BLOCK: usize = 64;

/// What attention needs to know of the model.
struct AttnShape {
    n_head: usize,
    n_head_kv: usize,
    head_dim: usize,
    /// On sliding layers, how far a query sees on each side.
    half_window: Option<usize>,
}

/// A text's keys `lo..hi` and their values, packed per K/V head for products.
struct KvPack {
    keys: Vec<PackedMatrix>,
    values: Vec<PackedMatrix>,
}

impl KvPack {
    fn new(s: &AttnShape, k: &[f32], v: &[f32], lo: usize, hi: usize) -> KvPack {
        let (hd, kv_dim) = (s.head_dim, s.n_head_kv * s.head_dim);
        let n = hi - lo;
        let heads = 0..s.n_head_kv;
        KvPack {
            keys: heads
                .clone()
                .map(|h| PackedMatrix::from_rows(&k[lo * kv_dim + h * hd..], n, hd, kv_dim))
                .collect(),
            values: heads
                .map(|h| PackedMatrix::from_columns(&v[lo * kv_dim + h * hd..], hd, n, kv_dim))
                .collect(),
        }
    }
}

/// Attention of the queries `queries` (positions within one text; `q` holds their rows)
/// over the text's keys `k` and values `v` (all its rows), into `out`. Scores are one
/// product of the query block with the keys in reach, a softmax per row (the sum in
/// f64), and one product with the values; masked keys get weight 0 exactly, so a
/// query's result does not depend on the block it was computed in. `shared` is the
/// packing of all the text's keys, when the caller made it once for every block.
fn attend(
    s: &AttnShape,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    shared: Option<&KvPack>,
    queries: std::ops::Range<usize>,
    out: &mut [f32],
) {
    let hd = s.head_dim;
    let (q_dim, kv_dim) = (s.n_head * hd, s.n_head_kv * hd);
    let len = k.len() / kv_dim;
    let nq = queries.len();
    let group = s.n_head / s.n_head_kv;
    let reach = |i: usize| match s.half_window {
        Some(w) => (i.saturating_sub(w), (i + w + 1).min(len)),
        None => (0, len),
    };
    let (lo, hi) = match shared {
        Some(_) => (0, len),
        None => (reach(queries.start).0, reach(queries.end - 1).1),
    };
    let n_keys = hi - lo;
    let local;
    let pack = match shared {
        Some(p) => p,
        None => {
            local = KvPack::new(s, k, v, lo, hi);
            &local
        }
    };
    let mut qbuf = vec![0f32; group * nq * hd];
    let mut scores = vec![0f32; group * nq * n_keys];
    let mut o = vec![0f32; group * nq * hd];
    for kvh in 0..s.n_head_kv {
        let (keys, values) = (&pack.keys[kvh], &pack.values[kvh]);
        // The query rows of the heads that share this K/V head, head-major.
        for j in 0..group {
            let h = kvh * group + j;
            for i in 0..nq {
                qbuf[(j * nq + i) * hd..(j * nq + i + 1) * hd]
                    .copy_from_slice(&q[i * q_dim + h * hd..i * q_dim + (h + 1) * hd]);
            }
        }
        keys.mul(&qbuf, &mut scores, n_keys);
        for (row, p) in scores.chunks_exact_mut(n_keys).enumerate() {
            let (a, b) = reach(queries.start + row % nq);
            let (a, b) = (a - lo, b - lo);
            p[..a].iter_mut().for_each(|x| *x = 0.0);
            p[b..].iter_mut().for_each(|x| *x = 0.0);
            softmax(&mut p[a..b]);
        }
        values.mul(&scores, &mut o, hd);
        for j in 0..group {
            let h = kvh * group + j;
            for i in 0..nq {
                out[i * q_dim + h * hd..i * q_dim + (h + 1) * hd]
                    .copy_from_slice(&o[(j * nq + i) * hd..(j * nq + i + 1) * hd]);
            }
        }
    }
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
        let mut g = [0.0f32, 1.0, -3.0];
        gelu_tanh_mul(&mut g, &[1.0; 3]);
        assert_eq!(g[0], 0.0);
        assert!((g[1] - 0.841_192).abs() < 1e-5);
        assert!((g[2] + 0.003_637_4).abs() < 1e-5);
    }
}
