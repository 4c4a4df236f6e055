//! The forward pass, over several texts packed into one batch without padding.
//!
//! Token embeddings (scaled by `sqrt(n_embd)`), then per layer two blocks on the
//! residual stream `x`, each `x += post_norm(block(pre_norm(x)))`: [`attention`] and
//! [`feed_forward`]; then the output norm. A sentence is then [`mean_pool`]ed, sent
//! through the [`dense`] layers and L2-normalized.
//!
//! Matrix products run over all packed tokens at once; attention runs within each text
//! only, and on sliding layers only within the window. Every value a text gets depends
//! on that text alone, computed in a fixed order, so results are the same alone or in
//! any batch, in any order, on any thread count.

mod attention;
mod norm;
mod rope;

use ggml_quant::kernels::gelu_tanh_mul;
use ggml_quant::{Activations, matmul_with};
use rayon::prelude::*;

use crate::error::{Error, ErrorKind};
use crate::model::{Layer, Model, TensorRef};
use attention::AttnShape;
pub(crate) use norm::l2_normalize;
use norm::{rms_norm, rms_norm_into, rms_norm_rows};
use rope::RopeTable;
pub(crate) use rope::RopeTables;

/// Final hidden states (after the output norm) of each text, packed: as many rows of
/// `n_embd` as text `i` has tokens, for each text in order.
pub(crate) fn encode(
    model: &Model,
    texts: &[Vec<u32>],
    ropes: &RopeTables,
    act: Activations,
) -> Result<Vec<f32>, Error> {
    let hp = &model.hp;
    let batch = Batch::new(texts);
    let mut x = token_embeddings(model, &batch)?;
    let mut buf = Buffers::new(batch.total, hp.n_head * hp.head_dim);
    for (il, layer) in model.layers.iter().enumerate() {
        let sliding = hp.is_sliding(il);
        let kind = LayerKind {
            rope: ropes.for_layer(sliding),
            half_window: sliding.then_some(hp.sliding_window / 2),
        };

        rms_norm_into(&x, &layer.attn_norm, hp.eps, &mut buf.normed);
        attention(model, layer, &batch, &kind, &mut buf, act)?;
        rms_norm_rows(&mut buf.out, &layer.post_attn_norm, hp.eps);
        add_residual(&mut x, &buf.out);

        rms_norm_into(&x, &layer.ffn_norm, hp.eps, &mut buf.normed);
        feed_forward(model, layer, &mut buf, act)?;
        rms_norm_rows(&mut buf.out, &layer.post_ffn_norm, hp.eps);
        add_residual(&mut x, &buf.out);
    }
    rms_norm_rows(&mut x, &model.output_norm, hp.eps);
    Ok(x)
}

/// Self-attention of each text on itself, `buf.normed` in, `buf.out` out: the q, k, v
/// projections; per-head RMSNorm and RoPE at each token's position within its text;
/// attention within the text (and the window); the output projection.
fn attention(
    model: &Model,
    layer: &Layer,
    batch: &Batch<'_>,
    kind: &LayerKind<'_>,
    buf: &mut Buffers,
    act: Activations,
) -> Result<(), Error> {
    let hp = &model.hp;
    let hd = hp.head_dim;
    linear_into(model, &layer.q, &buf.normed, &mut buf.q, act)?;
    linear_into(model, &layer.k, &buf.normed, &mut buf.k, act)?;
    linear_into(model, &layer.v, &buf.normed, &mut buf.v, act)?;
    // The scores' 1/sqrt(d) is applied to the queries, once per query.
    let q_scale = 1.0 / (hd as f32).sqrt();
    let heads = |x: &mut [f32], n_head: usize, norm: &[f32], scale: Option<f32>| {
        norm_and_rotate(x, n_head, norm, hp.eps, &batch.positions, kind.rope, scale)
    };
    heads(&mut buf.q, hp.n_head, &layer.q_norm, Some(q_scale));
    heads(&mut buf.k, hp.n_head_kv, &layer.k_norm, None);
    let shape = AttnShape {
        n_head: hp.n_head,
        n_head_kv: hp.n_head_kv,
        head_dim: hd,
        half_window: kind.half_window,
    };
    attention::attend_texts(&shape, batch, &buf.q, &buf.k, &buf.v, &mut buf.heads);
    linear_into(model, &layer.o, &buf.heads, &mut buf.out, act)
}

/// The gated feed-forward, `buf.normed` in, `buf.out` out:
/// `down(gelu_tanh(gate(x)) * up(x))`.
fn feed_forward(
    model: &Model,
    layer: &Layer,
    buf: &mut Buffers,
    act: Activations,
) -> Result<(), Error> {
    linear_into(model, &layer.gate, &buf.normed, &mut buf.gate, act)?;
    linear_into(model, &layer.up, &buf.normed, &mut buf.up, act)?;
    buf.gate
        .par_chunks_mut(GELU_CHUNK)
        .zip(buf.up.par_chunks(GELU_CHUNK))
        .for_each(|(g, u)| gelu_tanh_mul(g, u));
    linear_into(model, &layer.down, &buf.gate, &mut buf.out, act)
}

/// Values per parallel task of the GELU.
const GELU_CHUNK: usize = 4096;

/// The texts of one pass and where each token sits.
struct Batch<'t> {
    texts: &'t [Vec<u32>],
    /// Where each text's first token is in the packed batch.
    starts: Vec<usize>,
    /// Each token's position within its own text.
    positions: Vec<usize>,
    /// Tokens in the batch.
    total: usize,
}

impl<'t> Batch<'t> {
    fn new(texts: &'t [Vec<u32>]) -> Batch<'t> {
        let mut starts = Vec::with_capacity(texts.len());
        let mut total = 0;
        for t in texts {
            starts.push(total);
            total += t.len();
        }
        let positions = texts.iter().flat_map(|t| 0..t.len()).collect();
        Batch {
            texts,
            starts,
            positions,
            total,
        }
    }
}

/// What differs between sliding-window and global layers.
struct LayerKind<'r> {
    /// The RoPE table for the layer's base.
    rope: &'r RopeTable,
    /// How far a query sees on each side; `None` for the whole text.
    half_window: Option<usize>,
}

/// The pass's working memory, reused by every layer so that the pass touches fresh
/// memory once, not per layer. [`linear_into`] sizes the product outputs.
#[derive(Default)]
struct Buffers {
    /// The normed residual stream, input of a block.
    normed: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    /// Attention's output heads, before the output projection.
    heads: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
    /// A block's output, before its post-norm.
    out: Vec<f32>,
}

impl Buffers {
    fn new(n_tokens: usize, q_dim: usize) -> Buffers {
        Buffers {
            heads: vec![0.0; n_tokens * q_dim],
            ..Buffers::default()
        }
    }
}

/// The token embedding rows of the batch's tokens (dequantized only for those),
/// scaled by `sqrt(n_embd)`.
fn token_embeddings(model: &Model, batch: &Batch<'_>) -> Result<Vec<f32>, Error> {
    let e = model.hp.n_embd;
    let table = model.matrix(&model.token_embd);
    let scale = (e as f32).sqrt();
    let mut x = vec![0f32; batch.total * e];
    let ids: Vec<u32> = batch.texts.iter().flatten().copied().collect();
    x.par_chunks_mut(e).zip(&ids).try_for_each(|(row, &id)| {
        let r = table.row_f32(id as usize).map_err(|_| {
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
    Ok(x)
}

/// For each token's row of `x` (`n_head` heads, each as wide as `norm`): each head
/// RMSNormed with `norm`, rotated at the token's position, then multiplied by `scale`.
fn norm_and_rotate(
    x: &mut [f32],
    n_head: usize,
    norm: &[f32],
    eps: f32,
    positions: &[usize],
    rope: &RopeTable,
    scale: Option<f32>,
) {
    let head_dim = norm.len();
    x.par_chunks_mut(n_head * head_dim)
        .zip(positions)
        .for_each(|(row, &p)| {
            for head in row.chunks_mut(head_dim) {
                rms_norm(head, norm, eps);
                rope.rotate(head, p);
                if let Some(s) = scale {
                    head.iter_mut().for_each(|v| *v *= s);
                }
            }
        });
}

/// `x += block`, element by element.
fn add_residual(x: &mut [f32], block: &[f32]) {
    x.par_iter_mut().zip(block).for_each(|(x, b)| *x += b);
}

/// `y = x * W^T` into `y`, resized to `n_tokens * t.ne1` values (not reallocated once
/// big enough, so the pass reuses its memory).
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

/// The mean over a text's token rows, BOS and EOS included (summed in f64).
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

/// The Dense layers, `dense_3 * (dense_2 * e)`, for pooled vectors packed one after
/// another; without them in the file, the vectors as they are.
pub(crate) fn dense(model: &Model, pooled: &[f32], act: Activations) -> Result<Vec<f32>, Error> {
    match &model.dense {
        Some((d2, d3)) => linear(model, d3, &linear(model, d2, pooled, act)?, act),
        None => Ok(pooled.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gelu_matches_known_values() {
        let mut g = [0.0f32, 1.0, -3.0];
        gelu_tanh_mul(&mut g, &[1.0; 3]);
        assert_eq!(g[0], 0.0);
        assert!((g[1] - 0.841_192).abs() < 1e-5);
        assert!((g[2] + 0.003_637_4).abs() < 1e-5);
    }

    #[test]
    fn a_batch_knows_where_each_token_is() {
        let texts = [vec![2, 5, 1], vec![2, 1], vec![2, 6, 7, 1]];
        let b = Batch::new(&texts);
        assert_eq!(b.starts, [0, 3, 5]);
        assert_eq!(b.positions, [0, 1, 2, 0, 1, 0, 1, 2, 3]);
        assert_eq!(b.total, 9);
    }

    #[test]
    fn mean_pool_averages_rows() {
        assert_eq!(mean_pool(&[1.0, 2.0, 3.0, 6.0], 2), [2.0, 4.0]);
    }
}
