//! Weight rows unpacked for the packers: a GGUF row of any quantized type as integer
//! quants, f32 scales and f32 minimums by blocks of 32 (the input of
//! [`super::pack::Unpack`]).

use super::pack::Lane;
use crate::QuantType;
use crate::blocks::{
    BlockQ4_0, BlockQ4_1, BlockQ4K, BlockQ5_0, BlockQ5_1, BlockQ5K, BlockQ6K, BlockQ8_0, BlockQ8K,
    QK8_0,
};
use crate::float::f16_to_f32;
use crate::kquants::scale_min_k4;
use crate::legacy::{blocks, unpack5};

/// The rows of a weight matrix in its GGUF encoding, from row `first` on, as the
/// packers read them: unpacked by [`unpack_row`], or, for Q8_0, as they are (the packers
/// of `arch/` read Q8_0 blocks directly).
#[derive(Clone, Copy)]
pub(crate) struct WeightRows<'a> {
    quant: QuantType,
    data: &'a [u8],
    row_bytes: usize,
    first: usize,
}

impl<'a> WeightRows<'a> {
    /// The `rows` rows of `data` (whole rows of `quant`).
    pub(crate) fn new(quant: QuantType, data: &'a [u8], rows: usize) -> Self {
        WeightRows {
            quant,
            data,
            row_bytes: data.len() / rows.max(1),
            first: 0,
        }
    }

    /// The rows from the `r0`-th on.
    pub(crate) fn skip(self, r0: usize) -> Self {
        WeightRows {
            first: self.first + r0,
            ..self
        }
    }

    /// The weights' type.
    pub(crate) fn quant(&self) -> QuantType {
        self.quant
    }

    /// The bytes of row `r`.
    pub(crate) fn row(&self, r: usize) -> &'a [u8] {
        let r = self.first + r;
        &self.data[r * self.row_bytes..(r + 1) * self.row_bytes]
    }

    /// The bytes of rows `r..r + n` of the whole matrix, cut at its end (rows past this
    /// view's share included: a packer prefetches them).
    pub(crate) fn rows_bytes(&self, r: usize, n: usize) -> &'a [u8] {
        let start = ((self.first + r) * self.row_bytes).min(self.data.len());
        let end = ((self.first + r + n) * self.row_bytes).min(self.data.len());
        &self.data[start..end]
    }

    /// Row `r` unpacked ([`unpack_row`]).
    pub(crate) fn unpack<T: Lane>(
        &self,
        r: usize,
        q: &mut [[T; QK8_0]],
        d: &mut [f32],
        m: &mut [f32],
    ) {
        unpack_row(self.quant, self.row(r), q, d, m);
    }
}

/// One weight row (`row`, its bytes in `quant`) by blocks of 32: integer quants, f32 scales and
/// minimums, so that `w = d * q + m` is the type's dequantization (`dequantize_row_*`:
/// for the K-quants `d = d_super * sc` and `m = -(dmin * min)` per sub-block, for Q6_K
/// `q = sc * (q6 - 32)` with `d = d_super`, as its two 16-value sub-blocks per block of
/// 32 have scales of their own). Every quant fits in int8 but Q6_K's.
pub(crate) fn unpack_row<T: Lane>(
    quant: QuantType,
    row: &[u8],
    q: &mut [[T; QK8_0]],
    d: &mut [f32],
    m: &mut [f32],
) {
    fn put<T: Lane>(dst: &mut [T; QK8_0], v: impl IntoIterator<Item = i16>) {
        for (o, v) in dst.iter_mut().zip(v) {
            *o = T::from_i16(v);
        }
    }
    let small = |v: u8| i16::from(v);
    // Low nibbles first, then high ones, less `zero`.
    fn nibbles<T: Lane>(dst: &mut [T; QK8_0], qs: &[u8; 16], zero: i16) {
        let (lo, hi) = dst.split_at_mut(16);
        for ((l, h), &v) in lo.iter_mut().zip(hi).zip(qs) {
            *l = T::from_i16(i16::from(v & 0x0f) - zero);
            *h = T::from_i16(i16::from(v >> 4) - zero);
        }
    }
    match quant {
        QuantType::Q8_0 => {
            for ((b, q), d) in blocks::<BlockQ8_0>(row).zip(q).zip(d) {
                put(q, b.qs.iter().map(|&v| i16::from(v)));
                *d = f16_to_f32(b.d);
            }
        }
        QuantType::Q8_K => {
            for (b, (q, d)) in blocks::<BlockQ8K>(row).zip(q.chunks_mut(8).zip(d.chunks_mut(8))) {
                for (j, (q, d)) in q.iter_mut().zip(d).enumerate() {
                    put(q, b.qs[32 * j..32 * j + 32].iter().map(|&v| i16::from(v)));
                    *d = b.d;
                }
            }
        }
        QuantType::Q4_0 => {
            for ((b, q), d) in blocks::<BlockQ4_0>(row).zip(q).zip(d) {
                nibbles(q, &b.qs, 8);
                *d = f16_to_f32(b.d);
            }
        }
        QuantType::Q4_1 => {
            for (((b, q), d), m) in blocks::<BlockQ4_1>(row).zip(q).zip(d).zip(m) {
                nibbles(q, &b.qs, 0);
                *d = f16_to_f32(b.d);
                *m = f16_to_f32(b.m);
            }
        }
        QuantType::Q5_0 => {
            for ((b, q), d) in blocks::<BlockQ5_0>(row).zip(q).zip(d) {
                put(q, unpack5(b.qh, &b.qs).into_iter().map(|v| small(v) - 16));
                *d = f16_to_f32(b.d);
            }
        }
        QuantType::Q5_1 => {
            for (((b, q), d), m) in blocks::<BlockQ5_1>(row).zip(q).zip(d).zip(m) {
                put(q, unpack5(b.qh, &b.qs).into_iter().map(small));
                *d = f16_to_f32(b.d);
                *m = f16_to_f32(b.m);
            }
        }
        QuantType::Q4_K => {
            let it = blocks::<BlockQ4K>(row).map(|b| (b.d, b.dmin, b.scales, b.qs, [0; 32]));
            unpack_k(it, q, d, m);
        }
        QuantType::Q5_K => {
            let it = blocks::<BlockQ5K>(row).map(|b| (b.d, b.dmin, b.scales, b.qs, b.qh));
            unpack_k(it, q, d, m);
        }
        QuantType::Q6_K => {
            for (b, (q, d)) in blocks::<BlockQ6K>(row).zip(q.chunks_mut(8).zip(d.chunks_mut(8))) {
                let dd = f16_to_f32(b.d);
                let (ql, _) = b.ql.as_chunks::<32>();
                let (qh, _) = b.qh.as_chunks::<32>();
                // Block 4 c + k: values 128 c + 32 k + l; the low nibble of
                // ql[64 c + l (+ 32 for odd k)] (the high one for k >= 2), bits 2 k of
                // qh[32 c + l]; scale sc[8 c + 2 k] for l < 16, sc[8 c + 2 k + 1] after.
                for (blk, (q, d)) in q.iter_mut().zip(d).enumerate() {
                    let (c, k) = (blk / 4, blk % 4);
                    let (lo, hi) = (&ql[2 * c + k % 2], &qh[c]);
                    let (shift, hshift) = (4 * (k / 2), 2 * k);
                    let sc = [b.scales[8 * c + 2 * k], b.scales[8 * c + 2 * k + 1]];
                    for (l, o) in q.iter_mut().enumerate() {
                        let v = ((lo[l] >> shift) & 0xF) | (((hi[l] >> hshift) & 3) << 4);
                        *o = T::from_i16(i16::from(sc[l / 16]) * (small(v) - 32));
                    }
                    *d = dd;
                }
            }
        }
        QuantType::F32 | QuantType::F16 | QuantType::BF16 => {
            unreachable!("float weights are widened, not unpacked")
        }
    }
}

/// Q4_K / Q5_K super-blocks `(d, dmin, scales, qs, qh)` (Q4_K's `qh` zero) by blocks of
/// 32: sub-block `j` is the low nibbles of `qs[32 (j / 2)..]` for even `j`, the high
/// ones for odd, Q5_K's fifth bit bit `j` of `qh`.
fn unpack_k<T: Lane>(
    it: impl Iterator<Item = (u16, u16, [u8; 12], [u8; 128], [u8; 32])>,
    q: &mut [[T; QK8_0]],
    d: &mut [f32],
    m: &mut [f32],
) {
    for ((bd, bmin, scales, qs, qh), ((q, d), m)) in
        it.zip(q.chunks_mut(8).zip(d.chunks_mut(8)).zip(m.chunks_mut(8)))
    {
        let (dd, dmin) = (f16_to_f32(bd), f16_to_f32(bmin));
        for j in 0..8 {
            let c = &qs[32 * (j / 2)..32 * (j / 2) + 32];
            let shift = 4 * (j % 2);
            for (i, o) in q[j].iter_mut().enumerate() {
                let v = ((c[i] >> shift) & 0xF) | (((qh[i] >> j) & 1) << 4);
                *o = T::from_i16(i16::from(v));
            }
            let (sc, mn) = scale_min_k4(j, &scales);
            d[j] = dd * f32::from(sc);
            m[j] = -(dmin * f32::from(mn));
        }
    }
}
