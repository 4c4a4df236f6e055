//! Scalar reference conversions for the K-quants (super-blocks of 256 values), mirroring
//! ggml's `quantize_row_q{4,5,6,8}_K_ref` and `dequantize_row_q{4,5,6,8}_K`
//! (`ggml/src/ggml-quants.c`) operation for operation, so the bytes are ggml's.
//!
//! ggml quantizes K-quants without an importance matrix through the `_ref` functions
//! (`quantize_q4_K(.., quant_weights = NULL)` calls `quantize_row_q4_K_ref`), which is
//! what `llama-quantize` does without `--imatrix`.

use crate::blocks::{BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K, K_SCALE_SIZE, QK_K};
use crate::legacy::{blocks, f, h, push};

/// `GROUP_MAX_EPS`.
const GROUP_MAX_EPS: f32 = 1e-15;

/// `nearest_int`: round half to even through the 1.5 * 2^23 trick (exact for
/// |x| <= 2^22; outside that ggml asserts, and this gives the same bits without panicking).
pub(crate) fn nearest_int(x: f32) -> i32 {
    let bits = (x + 12_582_912.0f32).to_bits() as i32;
    (bits & 0x007f_ffff) - 0x0040_0000
}

/// `make_qkx2_quants`: a scale and a minimum for `x` with levels `0..=nmax`, searched
/// over `nstep + 1` candidate scales for the least weighted squared error.
/// Returns `(scale, -min)`; `l` gets the levels.
#[allow(clippy::too_many_arguments)]
fn make_qkx2_quants(
    nmax: i32,
    x: &[f32],
    weights: &[f32],
    l: &mut [u8],
    rmin: f32,
    rdelta: f32,
    nstep: i32,
) -> (f32, f32) {
    let n = x.len();
    let mut min = x[0];
    let mut max = x[0];
    let mut sum_w = weights[0];
    let mut sum_x = sum_w * x[0];
    for i in 1..n {
        if x[i] < min {
            min = x[i];
        }
        if x[i] > max {
            max = x[i];
        }
        let w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        l[..n].fill(0);
        return (0.0, -min);
    }
    let nmax_f = nmax as f32;
    let mut iscale = nmax_f / (max - min);
    let mut scale = 1.0 / iscale;
    let mut best_error = 0.0f32;
    for i in 0..n {
        let q = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
        l[i] = q as u8;
        let diff = scale * f32::from(l[i]) + min - x[i];
        best_error += weights[i] * (diff * diff);
    }
    let mut laux = [0u8; 32];
    for is in 0..=nstep {
        iscale = (rmin + rdelta * is as f32 + nmax_f) / (max - min);
        let (mut sum_l, mut sum_l2, mut sum_xl) = (0.0f32, 0.0f32, 0.0f32);
        for i in 0..n {
            let q = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
            laux[i] = q as u8;
            let lf = q as f32;
            let w = weights[i];
            sum_l += w * lf;
            sum_l2 += w * lf * lf;
            sum_xl += w * lf * x[i];
        }
        let d = sum_w * sum_l2 - sum_l * sum_l;
        if d > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / d;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / d;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let mut cur_error = 0.0f32;
            for i in 0..n {
                let diff = this_scale * f32::from(laux[i]) + this_min - x[i];
                cur_error += weights[i] * (diff * diff);
            }
            if cur_error < best_error {
                l[..n].copy_from_slice(&laux[..n]);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}

/// `make_qx_quants` with `rmse_type = 1` and no importance weights (the only use in the
/// reference quantizers): symmetric levels `-nmax..nmax`, stored offset by `nmax`.
fn make_qx_quants_rmse1(nmax: i32, x: &[f32], l: &mut [i8]) -> f32 {
    let (mut max, mut amax) = (0.0f32, 0.0f32);
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        l.fill(0);
        return 0.0;
    }
    let nmax_f = nmax as f32;
    let level = |iscale: f32, v: f32| nearest_int(iscale * v).clamp(-nmax, nmax - 1);
    let mut iscale = -nmax_f / max;
    let (mut sumlx, mut suml2) = (0.0f32, 0.0f32);
    for (q, &v) in l.iter_mut().zip(x) {
        let lv = level(iscale, v);
        *q = (lv + nmax) as i8;
        let w = v * v;
        sumlx += w * v * lv as f32;
        suml2 += w * lv as f32 * lv as f32;
    }
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;
    for is in -9..=9 {
        if is == 0 {
            continue;
        }
        iscale = -(nmax_f + 0.1 * is as f32) / max;
        sumlx = 0.0;
        suml2 = 0.0;
        for &v in x {
            let lv = level(iscale, v);
            let w = v * v;
            sumlx += w * v * lv as f32;
            suml2 += w * lv as f32 * lv as f32;
        }
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            for (q, &v) in l.iter_mut().zip(x) {
                *q = (level(iscale, v) + nmax) as i8;
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

/// `get_scale_min_k4`: sub-block `j`'s 6-bit scale and min.
pub(crate) fn scale_min_k4(j: usize, q: &[u8; K_SCALE_SIZE]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// The part `quantize_row_q4_K_ref` and `quantize_row_q5_K_ref` share: per sub-block of
/// 32, `make_qkx2_quants` with weights `rms + |x|`, the scales and mins quantized to 6
/// bits against their maxima, then every value's level (`0..=nmax`) from the stored scales.
/// Returns `(d, dmin, scales, levels)`.
fn quantize_k_scales(
    x: &[f32],
    nmax: i32,
    rmin: f32,
    nstep: i32,
) -> (u16, u16, [u8; K_SCALE_SIZE], [u8; QK_K]) {
    let mut l = [0u8; QK_K];
    let mut scales = [0f32; QK_K / 32];
    let mut mins = [0f32; QK_K / 32];
    let (mut max_scale, mut max_min) = (0.0f32, 0.0f32);
    let mut weights = [0f32; 32];
    for j in 0..QK_K / 32 {
        let xs = &x[32 * j..32 * j + 32];
        let mut sum_x2 = 0.0f32;
        for &v in xs {
            sum_x2 += v * v;
        }
        let av_x = (sum_x2 / 32.0).sqrt();
        for (w, &v) in weights.iter_mut().zip(xs) {
            *w = av_x + v.abs();
        }
        let (s, m) = make_qkx2_quants(
            nmax,
            xs,
            &weights,
            &mut l[32 * j..32 * j + 32],
            rmin,
            0.1,
            nstep,
        );
        scales[j] = s;
        mins[j] = m;
        if s > max_scale {
            max_scale = s;
        }
        if m > max_min {
            max_min = m;
        }
    }
    let inv_scale = if max_scale > 0.0 {
        63.0 / max_scale
    } else {
        0.0
    };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    let mut packed = [0u8; K_SCALE_SIZE];
    for j in 0..QK_K / 32 {
        // ggml stores `nearest_int` in a uint8_t before the MIN: keep the truncation.
        let ls = (nearest_int(inv_scale * scales[j]) as u8).min(63);
        let lm = (nearest_int(inv_min * mins[j]) as u8).min(63);
        if j < 4 {
            packed[j] = ls;
            packed[j + 4] = lm;
        } else {
            packed[j + 4] = (ls & 0xF) | ((lm & 0xF) << 4);
            packed[j - 4] |= (ls >> 4) << 6;
            packed[j] |= (lm >> 4) << 6;
        }
    }
    let d = h(max_scale / 63.0);
    let dmin = h(max_min / 63.0);
    for j in 0..QK_K / 32 {
        let (sc, m) = scale_min_k4(j, &packed);
        let dj = f(d) * f32::from(sc);
        if dj == 0.0 {
            continue;
        }
        let dm = f(dmin) * f32::from(m);
        for ii in 0..32 {
            l[32 * j + ii] = nearest_int((x[32 * j + ii] + dm) / dj).clamp(0, nmax) as u8;
        }
    }
    (d, dmin, packed, l)
}

/// `quantize_row_q4_K_ref`.
pub fn quantize_q4_k(x: &[f32], out: &mut Vec<u8>) {
    for xb in x.chunks_exact(QK_K) {
        let (d, dmin, scales, l) = quantize_k_scales(xb, 15, -1.0, 20);
        let mut b = BlockQ4K {
            d,
            dmin,
            scales,
            qs: [0; QK_K / 2],
        };
        for (c, q) in b.qs.chunks_exact_mut(32).enumerate() {
            for (i, q) in q.iter_mut().enumerate() {
                *q = l[64 * c + i] | (l[64 * c + 32 + i] << 4);
            }
        }
        push(out, &b);
    }
}

/// `dequantize_row_q4_K`.
pub fn dequantize_q4_k(bytes: &[u8], y: &mut [f32]) {
    for (b, yb) in blocks::<BlockQ4K>(bytes).zip(y.chunks_exact_mut(QK_K)) {
        let (d, min) = (f(b.d), f(b.dmin));
        for (c, (q, yc)) in
            b.qs.chunks_exact(32)
                .zip(yb.chunks_exact_mut(64))
                .enumerate()
        {
            let (sc1, m1) = scale_min_k4(2 * c, &b.scales);
            let (sc2, m2) = scale_min_k4(2 * c + 1, &b.scales);
            let (d1, m1) = (d * f32::from(sc1), min * f32::from(m1));
            let (d2, m2) = (d * f32::from(sc2), min * f32::from(m2));
            for (i, &q) in q.iter().enumerate() {
                yc[i] = d1 * f32::from(q & 0xF) - m1;
                yc[32 + i] = d2 * f32::from(q >> 4) - m2;
            }
        }
    }
}

/// `quantize_row_q5_K_ref`.
pub fn quantize_q5_k(x: &[f32], out: &mut Vec<u8>) {
    for xb in x.chunks_exact(QK_K) {
        let (d, dmin, scales, l) = quantize_k_scales(xb, 31, -0.5, 15);
        let mut b = BlockQ5K {
            d,
            dmin,
            scales,
            qh: [0; QK_K / 8],
            qs: [0; QK_K / 2],
        };
        for (c, ql) in b.qs.chunks_exact_mut(32).enumerate() {
            let (m1, m2) = (1u8 << (2 * c), 2u8 << (2 * c));
            for (j, q) in ql.iter_mut().enumerate() {
                let (mut l1, mut l2) = (l[64 * c + j], l[64 * c + 32 + j]);
                if l1 > 15 {
                    l1 -= 16;
                    b.qh[j] |= m1;
                }
                if l2 > 15 {
                    l2 -= 16;
                    b.qh[j] |= m2;
                }
                *q = l1 | (l2 << 4);
            }
        }
        push(out, &b);
    }
}

/// `dequantize_row_q5_K`.
pub fn dequantize_q5_k(bytes: &[u8], y: &mut [f32]) {
    for (b, yb) in blocks::<BlockQ5K>(bytes).zip(y.chunks_exact_mut(QK_K)) {
        let (d, min) = (f(b.d), f(b.dmin));
        for (c, (ql, yc)) in
            b.qs.chunks_exact(32)
                .zip(yb.chunks_exact_mut(64))
                .enumerate()
        {
            let (u1, u2) = (1u8 << (2 * c), 2u8 << (2 * c));
            let (sc1, m1) = scale_min_k4(2 * c, &b.scales);
            let (sc2, m2) = scale_min_k4(2 * c + 1, &b.scales);
            let (d1, m1) = (d * f32::from(sc1), min * f32::from(m1));
            let (d2, m2) = (d * f32::from(sc2), min * f32::from(m2));
            for (i, &q) in ql.iter().enumerate() {
                let h1 = if b.qh[i] & u1 != 0 { 16 } else { 0 };
                let h2 = if b.qh[i] & u2 != 0 { 16 } else { 0 };
                yc[i] = d1 * f32::from((q & 0xF) + h1) - m1;
                yc[32 + i] = d2 * f32::from((q >> 4) + h2) - m2;
            }
        }
    }
}

/// `quantize_row_q6_K_ref`.
pub fn quantize_q6_k(x: &[f32], out: &mut Vec<u8>) {
    for xb in x.chunks_exact(QK_K) {
        let mut l = [0i8; QK_K];
        let mut scales = [0f32; QK_K / 16];
        let (mut max_scale, mut max_abs_scale) = (0.0f32, 0.0f32);
        for ib in 0..QK_K / 16 {
            let s = make_qx_quants_rmse1(
                32,
                &xb[16 * ib..16 * ib + 16],
                &mut l[16 * ib..16 * ib + 16],
            );
            scales[ib] = s;
            if s.abs() > max_abs_scale {
                max_abs_scale = s.abs();
                max_scale = s;
            }
        }
        let mut b = BlockQ6K {
            ql: [0; QK_K / 2],
            qh: [0; QK_K / 4],
            scales: [0; QK_K / 16],
            d: h(0.0),
        };
        if max_abs_scale < GROUP_MAX_EPS {
            push(out, &b);
            continue;
        }
        let iscale = -128.0 / max_scale;
        b.d = h(1.0 / iscale);
        for (s, &v) in b.scales.iter_mut().zip(&scales) {
            *s = nearest_int(iscale * v).min(127) as i8;
        }
        for j in 0..QK_K / 16 {
            let d = f(b.d) * f32::from(b.scales[j]);
            if d == 0.0 {
                continue;
            }
            for ii in 0..16 {
                let q = nearest_int(xb[16 * j + ii] / d).clamp(-32, 31);
                l[16 * j + ii] = (q + 32) as i8;
            }
        }
        let l = l.map(|v| v as u8);
        for c in 0..QK_K / 128 {
            let (ql, qh) = (
                &mut b.ql[64 * c..64 * c + 64],
                &mut b.qh[32 * c..32 * c + 32],
            );
            let lc = &l[128 * c..128 * c + 128];
            for i in 0..32 {
                let (q1, q2, q3, q4) = (lc[i], lc[i + 32], lc[i + 64], lc[i + 96]);
                ql[i] = (q1 & 0xF) | ((q3 & 0xF) << 4);
                ql[i + 32] = (q2 & 0xF) | ((q4 & 0xF) << 4);
                qh[i] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
            }
        }
        push(out, &b);
    }
}

/// `dequantize_row_q6_K`.
pub fn dequantize_q6_k(bytes: &[u8], y: &mut [f32]) {
    for (b, yb) in blocks::<BlockQ6K>(bytes).zip(y.chunks_exact_mut(QK_K)) {
        let d = f(b.d);
        for c in 0..QK_K / 128 {
            let (ql, qh) = (&b.ql[64 * c..64 * c + 64], &b.qh[32 * c..32 * c + 32]);
            let sc = &b.scales[8 * c..8 * c + 8];
            let yc = &mut yb[128 * c..128 * c + 128];
            for l in 0..32 {
                let is = l / 16;
                let q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) as i8 - 32;
                let q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) as i8 - 32;
                let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i8 - 32;
                let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i8 - 32;
                yc[l] = d * f32::from(sc[is]) * f32::from(q1);
                yc[l + 32] = d * f32::from(sc[is + 2]) * f32::from(q2);
                yc[l + 64] = d * f32::from(sc[is + 4]) * f32::from(q3);
                yc[l + 96] = d * f32::from(sc[is + 6]) * f32::from(q4);
            }
        }
    }
}

/// `quantize_row_q8_K_ref`.
pub fn quantize_q8_k(x: &[f32], out: &mut Vec<u8>) {
    for xb in x.chunks_exact(QK_K) {
        let (mut max, mut amax) = (0.0f32, 0.0f32);
        for &v in xb {
            if v.abs() > amax {
                amax = v.abs();
                max = v;
            }
        }
        let mut b = BlockQ8K {
            d: 0.0,
            qs: [0; QK_K],
            bsums: [0; QK_K / 16],
        };
        if amax != 0.0 {
            let iscale = -127.0 / max;
            for (q, &v) in b.qs.iter_mut().zip(xb) {
                *q = nearest_int(iscale * v).min(127) as i8;
            }
            for (s, q) in b.bsums.iter_mut().zip(b.qs.chunks_exact(16)) {
                *s = q.iter().map(|&v| i16::from(v)).sum();
            }
            b.d = 1.0 / iscale;
        }
        push(out, &b);
    }
}

/// `dequantize_row_q8_K`.
pub fn dequantize_q8_k(bytes: &[u8], y: &mut [f32]) {
    for (b, yb) in blocks::<BlockQ8K>(bytes).zip(y.chunks_exact_mut(QK_K)) {
        for (v, &q) in yb.iter_mut().zip(&b.qs) {
            *v = b.d * f32::from(q);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_int_rounds_half_to_even() {
        assert_eq!(nearest_int(0.5), 0);
        assert_eq!(nearest_int(1.5), 2);
        assert_eq!(nearest_int(-2.5), -2);
        assert_eq!(nearest_int(-2.6), -3);
        assert_eq!(nearest_int(4_194_303.0), 4_194_303);
    }

    #[test]
    fn scale_min_packing_round_trips() {
        // Every 6-bit scale and min survives the 12-byte packing of quantize_k_scales.
        let x: Vec<f32> = (0..QK_K)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) * (1.0 + (i / 32) as f32))
            .collect();
        let (d, dmin, packed, _) = quantize_k_scales(&x, 15, -1.0, 20);
        assert!(f(d) > 0.0 && f(dmin) > 0.0);
        let got: Vec<(u8, u8)> = (0..8).map(|j| scale_min_k4(j, &packed)).collect();
        assert!(got.iter().all(|&(s, m)| s < 64 && m < 64));
        // The largest sub-block (the last) takes the top scale.
        assert_eq!(got[7].0, 63);
    }

    #[test]
    fn zero_blocks_stay_zero() {
        for (q, deq) in [
            (
                quantize_q4_k as fn(&[f32], &mut Vec<u8>),
                dequantize_q4_k as fn(&[u8], &mut [f32]),
            ),
            (quantize_q5_k, dequantize_q5_k),
            (quantize_q6_k, dequantize_q6_k),
            (quantize_q8_k, dequantize_q8_k),
        ] {
            let mut bytes = Vec::new();
            q(&[0.0; QK_K], &mut bytes);
            let mut y = [1.0f32; QK_K];
            deq(&bytes, &mut y);
            assert!(y.iter().all(|&v| v == 0.0));
        }
    }
}
