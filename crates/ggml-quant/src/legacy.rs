//! Scalar reference conversions for the 32-value formats, mirroring ggml's
//! `quantize_row_q*_ref` and `dequantize_row_q*` (`ggml/src/ggml-quants.c`).

use bytemuck::{Pod, pod_read_unaligned};
use half::f16;

use crate::blocks::{BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, QK4_0, QK8_0};

pub(crate) fn h(x: f32) -> u16 {
    f16::from_f32(x).to_bits()
}

pub(crate) fn f(bits: u16) -> f32 {
    f16::from_bits(bits).to_f32()
}

pub(crate) fn push<B: Pod>(out: &mut Vec<u8>, b: &B) {
    out.extend_from_slice(bytemuck::bytes_of(b));
}

pub(crate) fn blocks<B: Pod>(bytes: &[u8]) -> impl Iterator<Item = B> + '_ {
    bytes
        .chunks_exact(size_of::<B>())
        .map(pod_read_unaligned::<B>)
}

/// The element of largest magnitude (the first one on ties), as ggml finds it.
fn signed_absmax(x: &[f32]) -> f32 {
    let (mut amax, mut max) = (0.0f32, 0.0f32);
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    max
}

fn min_max(x: &[f32]) -> (f32, f32) {
    x.iter()
        .fold((f32::MAX, -f32::MAX), |(lo, hi), &v| (lo.min(v), hi.max(v)))
}

/// `quantize_row_q8_0_ref`.
pub fn quantize_q8_0(x: &[f32], out: &mut Vec<u8>) {
    for xb in x.chunks_exact(QK8_0) {
        let amax = xb.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let mut b = BlockQ8_0 {
            d: h(d),
            qs: [0; QK8_0],
        };
        for (q, &v) in b.qs.iter_mut().zip(xb) {
            *q = (v * id).round() as i8;
        }
        push(out, &b);
    }
}

/// `dequantize_row_q8_0`.
pub fn dequantize_q8_0(bytes: &[u8], y: &mut [f32]) {
    for (b, yb) in blocks::<BlockQ8_0>(bytes).zip(y.chunks_exact_mut(QK8_0)) {
        let d = f(b.d);
        for (v, &q) in yb.iter_mut().zip(&b.qs) {
            *v = f32::from(q) * d;
        }
    }
}

/// `quantize_row_q4_0_ref`.
pub fn quantize_q4_0(x: &[f32], out: &mut Vec<u8>) {
    for xb in x.chunks_exact(QK4_0) {
        let d = signed_absmax(xb) / -8.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let mut b = BlockQ4_0 {
            d: h(d),
            qs: [0; QK4_0 / 2],
        };
        for j in 0..QK4_0 / 2 {
            let x0 = ((xb[j] * id + 8.5) as i8).min(15) as u8;
            let x1 = ((xb[j + QK4_0 / 2] * id + 8.5) as i8).min(15) as u8;
            b.qs[j] = x0 | (x1 << 4);
        }
        push(out, &b);
    }
}

/// `dequantize_row_q4_0`.
pub fn dequantize_q4_0(bytes: &[u8], y: &mut [f32]) {
    for (b, yb) in blocks::<BlockQ4_0>(bytes).zip(y.chunks_exact_mut(QK4_0)) {
        let d = f(b.d);
        for j in 0..QK4_0 / 2 {
            yb[j] = (i32::from(b.qs[j] & 0x0f) - 8) as f32 * d;
            yb[j + QK4_0 / 2] = (i32::from(b.qs[j] >> 4) - 8) as f32 * d;
        }
    }
}

/// `quantize_row_q4_1_ref`.
pub fn quantize_q4_1(x: &[f32], out: &mut Vec<u8>) {
    for xb in x.chunks_exact(QK4_0) {
        let (min, max) = min_max(xb);
        let d = (max - min) / 15.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let mut b = BlockQ4_1 {
            d: h(d),
            m: h(min),
            qs: [0; QK4_0 / 2],
        };
        for j in 0..QK4_0 / 2 {
            let x0 = (((xb[j] - min) * id + 0.5) as i8).min(15) as u8;
            let x1 = (((xb[j + QK4_0 / 2] - min) * id + 0.5) as i8).min(15) as u8;
            b.qs[j] = x0 | (x1 << 4);
        }
        push(out, &b);
    }
}

/// `dequantize_row_q4_1`.
pub fn dequantize_q4_1(bytes: &[u8], y: &mut [f32]) {
    for (b, yb) in blocks::<BlockQ4_1>(bytes).zip(y.chunks_exact_mut(QK4_0)) {
        let (d, m) = (f(b.d), f(b.m));
        for j in 0..QK4_0 / 2 {
            yb[j] = f32::from(b.qs[j] & 0x0f) * d + m;
            yb[j + QK4_0 / 2] = f32::from(b.qs[j] >> 4) * d + m;
        }
    }
}

/// Packs 32 five-bit values as ggml's Q5 formats do.
fn pack5(q: &[u8; QK4_0]) -> ([u8; 4], [u8; QK4_0 / 2]) {
    let mut qh = 0u32;
    let mut qs = [0u8; QK4_0 / 2];
    for j in 0..QK4_0 / 2 {
        let (x0, x1) = (q[j], q[j + QK4_0 / 2]);
        qs[j] = (x0 & 0x0f) | ((x1 & 0x0f) << 4);
        qh |= u32::from((x0 & 0x10) >> 4) << j;
        qh |= u32::from((x1 & 0x10) >> 4) << (j + QK4_0 / 2);
    }
    (qh.to_le_bytes(), qs)
}

/// The 32 five-bit values of a Q5 block.
pub(crate) fn unpack5(qh: [u8; 4], qs: &[u8; QK4_0 / 2]) -> [u8; QK4_0] {
    let qh = u32::from_le_bytes(qh);
    let mut q = [0u8; QK4_0];
    for j in 0..QK4_0 / 2 {
        let xh0 = (((qh >> j) << 4) & 0x10) as u8;
        let xh1 = ((qh >> (j + 12)) & 0x10) as u8;
        q[j] = (qs[j] & 0x0f) | xh0;
        q[j + QK4_0 / 2] = (qs[j] >> 4) | xh1;
    }
    q
}

/// `quantize_row_q5_0_ref`.
pub fn quantize_q5_0(x: &[f32], out: &mut Vec<u8>) {
    for xb in x.chunks_exact(QK4_0) {
        let d = signed_absmax(xb) / -16.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let mut q = [0u8; QK4_0];
        for (q, &v) in q.iter_mut().zip(xb) {
            *q = ((v * id + 16.5) as i8).min(31) as u8;
        }
        let (qh, qs) = pack5(&q);
        push(out, &BlockQ5_0 { d: h(d), qh, qs });
    }
}

/// `dequantize_row_q5_0`.
pub fn dequantize_q5_0(bytes: &[u8], y: &mut [f32]) {
    for (b, yb) in blocks::<BlockQ5_0>(bytes).zip(y.chunks_exact_mut(QK4_0)) {
        let d = f(b.d);
        for (v, q) in yb.iter_mut().zip(unpack5(b.qh, &b.qs)) {
            *v = (i32::from(q) - 16) as f32 * d;
        }
    }
}

/// `quantize_row_q5_1_ref`.
pub fn quantize_q5_1(x: &[f32], out: &mut Vec<u8>) {
    for xb in x.chunks_exact(QK4_0) {
        let (min, max) = min_max(xb);
        let d = (max - min) / 31.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let mut q = [0u8; QK4_0];
        for (q, &v) in q.iter_mut().zip(xb) {
            *q = ((v - min) * id + 0.5) as u8;
        }
        let (qh, qs) = pack5(&q);
        push(
            out,
            &BlockQ5_1 {
                d: h(d),
                m: h(min),
                qh,
                qs,
            },
        );
    }
}

/// `dequantize_row_q5_1`.
pub fn dequantize_q5_1(bytes: &[u8], y: &mut [f32]) {
    for (b, yb) in blocks::<BlockQ5_1>(bytes).zip(y.chunks_exact_mut(QK4_0)) {
        let (d, m) = (f(b.d), f(b.m));
        for (v, q) in yb.iter_mut().zip(unpack5(b.qh, &b.qs)) {
            *v = f32::from(q) * d + m;
        }
    }
}
