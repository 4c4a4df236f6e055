//! Rotary position embeddings, NEOX style (the pairs are half a head apart), as ggml's
//! `rope_f32` computes them.

use crate::model::Hparams;

/// The (cos, sin) pairs of every position for one RoPE base.
pub(crate) struct RopeTable {
    /// Pairs per position: half a head.
    half: usize,
    /// `half` pairs per position, position after position.
    pairs: Vec<(f32, f32)>,
}

impl RopeTable {
    /// The table for positions `0..n_pos`: `theta_i = p * base^(-2i/d)`, built by
    /// repeated f32 products as ggml does so that the angles round as ggml's.
    fn new(base: f32, head_dim: usize, n_pos: usize) -> RopeTable {
        let half = head_dim / 2;
        let theta_scale = base.powf(-2.0 / head_dim as f32);
        let mut pairs = Vec::with_capacity(n_pos * half);
        for p in 0..n_pos {
            let mut theta = p as f32;
            for _ in 0..half {
                pairs.push((theta.cos(), theta.sin()));
                theta *= theta_scale;
            }
        }
        RopeTable { half, pairs }
    }

    /// Rotates one head at `position`: each `(x[i], x[i + half])` by its angle.
    pub(super) fn rotate(&self, head: &mut [f32], position: usize) {
        let table = &self.pairs[position * self.half..(position + 1) * self.half];
        for (i, &(c, s)) in table.iter().enumerate() {
            let (x0, x1) = (head[i], head[i + self.half]);
            head[i] = x0 * c - x1 * s;
            head[i + self.half] = x0 * s + x1 * c;
        }
    }
}

/// The tables of the two kinds of layers, built once when the model opens.
pub(crate) struct RopeTables {
    global: RopeTable,
    sliding: RopeTable,
}

impl RopeTables {
    /// The tables for `rope.freq_base` (global layers) and `rope.freq_base_swa`
    /// (sliding-window layers), over the whole context.
    pub(crate) fn new(hp: &Hparams) -> RopeTables {
        RopeTables {
            global: RopeTable::new(hp.rope_base, hp.head_dim, hp.n_ctx),
            sliding: RopeTable::new(hp.rope_base_swa, hp.head_dim, hp.n_ctx),
        }
    }

    /// The table of a sliding-window or a global layer.
    pub(super) fn for_layer(&self, sliding: bool) -> &RopeTable {
        if sliding { &self.sliding } else { &self.global }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rope_rotates_pairs_half_a_head_apart() {
        let table = RopeTable::new(10_000.0, 4, 3);
        assert_eq!(table.pairs[0], (1.0, 0.0));
        let mut x = [1.0, 0.0, 0.0, 1.0];
        table.rotate(&mut x, 1);
        let (c, s) = table.pairs[2];
        assert!((x[0] - c).abs() < 1e-7 && (x[2] - s).abs() < 1e-7);
        let norm: f32 = x.iter().map(|v| v * v).sum();
        assert!((norm - 2.0).abs() < 1e-6);
    }
}
