//! Scaled dot-product attention of each text on itself, in blocks of queries: a block's
//! scores are one product with the keys in its reach, a softmax per row, and one
//! product with the values.

use std::ops::Range;

use ggml_quant::PackedMatrix;
use ggml_quant::kernels::softmax;
use rayon::prelude::*;

use super::Batch;

/// Queries per attention task: a task packs its keys and values once for them.
const Q_BLOCK: usize = 64;

/// What attention needs to know of the model and the layer.
pub(super) struct AttnShape {
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    /// On sliding layers, how far a query sees on each side.
    pub half_window: Option<usize>,
}

/// Attention of every text of `batch` on itself, into `out` (`n_head` heads per
/// token). `q` (scaled by `1/sqrt(head_dim)`), `k` and `v` hold every token's heads,
/// positioned by RoPE. Tasks are blocks of [`Q_BLOCK`] queries of one text, each
/// writing its own rows of `out`.
pub(super) fn attend_texts(
    s: &AttnShape,
    batch: &Batch<'_>,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    out: &mut [f32],
) {
    let (q_dim, kv_dim) = (s.n_head * s.head_dim, s.n_head_kv * s.head_dim);
    let mut tasks = Vec::new();
    let mut rest = out;
    for (text, toks) in batch.texts.iter().enumerate() {
        for i0 in (0..toks.len()).step_by(Q_BLOCK) {
            let i1 = (i0 + Q_BLOCK).min(toks.len());
            let (mine, tail) = rest.split_at_mut((i1 - i0) * q_dim);
            rest = tail;
            tasks.push((text, i0..i1, mine));
        }
    }
    // A text's keys and values, all its rows.
    let kv_of = |text: usize| {
        let rows =
            batch.starts[text] * kv_dim..(batch.starts[text] + batch.texts[text].len()) * kv_dim;
        (&k[rows.clone()], &v[rows])
    };
    // Without a window every query block of a text sees all its keys: pack them once
    // per text and share the packing between its blocks.
    let shared: Vec<Option<KvPack>> = (0..batch.texts.len())
        .into_par_iter()
        .map(|text| {
            let len = batch.texts[text].len();
            (s.half_window.is_none() && len > Q_BLOCK).then(|| {
                let (k, v) = kv_of(text);
                KvPack::new(s, k, v, 0, len)
            })
        })
        .collect();
    tasks.into_par_iter().for_each(|(text, queries, out)| {
        let t0 = batch.starts[text];
        let (k, v) = kv_of(text);
        attend(
            s,
            &q[(t0 + queries.start) * q_dim..(t0 + queries.end) * q_dim],
            k,
            v,
            shared[text].as_ref(),
            queries,
            out,
        );
    });
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
/// over the text's keys `k` and values `v` (all its rows), into `out`. The softmax sums
/// in f64, and keys out of reach get weight 0 exactly, so a query's result does not
/// depend on the block it was computed in. `shared` is the packing of all the text's
/// keys, when the caller made it once for every block.
fn attend(
    s: &AttnShape,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    shared: Option<&KvPack>,
    queries: Range<usize>,
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
