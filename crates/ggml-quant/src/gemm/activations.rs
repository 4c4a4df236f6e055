//! Activation quantization: token rows of f32 to the blocks of 32 the integer kernels
//! read ([`Act`]), by the scheme the weight type takes ([`ActQuant`]).
//!
//! Each quantizer is written once as portable code (the `*_body` functions, which
//! define the result) and run compiled for the path in force ([`compiled`]), or, where
//! `arch/` has one, as its hand-written translation for the instruction set.

use rayon::prelude::*;

use crate::arch::{self, Quantize};
use crate::blocks::{QK_K, QK8_0};

/// Activation rows quantized by blocks of 32: `q[t * cols + k]`, `d[t * blocks + b]`,
/// and `s[t * blocks + b]` the block's `d * sum(q)` where the weights have minimums
/// (empty otherwise).
pub(crate) struct Act<T> {
    pub(crate) q: Vec<T>,
    pub(crate) d: Vec<f32>,
    pub(crate) s: Vec<f32>,
}

/// How an integer path quantizes activation rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ActQuant {
    /// int16 by blocks of 32, `d = amax / 32767` ([`quantize_i16`]).
    Int16,
    /// int16 by blocks of 32 up to 16383, `d = amax / 16383`: for Q6_K, whose integer
    /// weights (scale times quant) reach 4096, so that a block's int32 sum stays exact.
    Int16Narrow,
    /// ggml's x86 `quantize_row_q8_0` ([`quantize_u8`]).
    Q8_0,
    /// ggml's x86 `quantize_row_q8_1`: Q8_0's quants and scale, and `s = f16(amax / 127
    /// * sum(q))`.
    Q8_1,
    /// ggml's `quantize_row_q8_K_ref`: per block of 256, the value of largest magnitude
    /// `max`, `q = min(127, round_half_even(x * (-127 / max)))`, `d = 1 / (-127 / max)`
    /// (each of the 8 blocks of 32 gets that `d`).
    Q8K,
}

/// Quantizes `x` by blocks of 32 with `chunk` (whole blocks in, quants and scales out),
/// in parallel over chunks of 512 blocks.
fn quantize_rows<T: Copy + Default + Send>(x: &[f32], chunk: Quantize<T>) -> Act<T> {
    const CHUNK: usize = 512;
    let mut q = vec![T::default(); x.len()];
    let mut d = vec![0f32; x.len() / QK8_0];
    q.par_chunks_mut(CHUNK * QK8_0)
        .zip(d.par_chunks_mut(CHUNK))
        .zip(x.par_chunks(CHUNK * QK8_0))
        .for_each(|((q, d), x)| chunk(x, q, d));
    Act {
        q,
        d,
        s: Vec::new(),
    }
}

/// Activation rows quantized for an int16 kernel by `act` (`Int16`, `Int16Narrow` or
/// `Q8K`), with the block sums when `sums`.
pub(crate) fn quantize_act_i16(x: &[f32], act: ActQuant, sums: bool) -> Act<i16> {
    let mut a = match act {
        ActQuant::Int16 => quantize_i16(x),
        ActQuant::Int16Narrow => quantize_rows(x, compiled::quantize_i16_narrow),
        ActQuant::Q8K => quantize_rows(x, quantize_q8k_i16),
        ActQuant::Q8_0 | ActQuant::Q8_1 => unreachable!("int8 activations for an int16 kernel"),
    };
    if sums {
        a.s = block_sums(&a, i32::from);
    }
    a
}

/// Activation rows quantized for an int8 kernel by `act` (`Q8_0`, `Q8_1` or `Q8K`),
/// stored `+ 128`, with the block sums when `sums` (always for `Q8_1`).
pub(crate) fn quantize_act_u8(x: &[f32], act: ActQuant, sums: bool) -> Act<u8> {
    let mut a = match act {
        ActQuant::Q8_0 | ActQuant::Q8_1 => quantize_u8(x),
        ActQuant::Q8K => quantize_rows(x, quantize_q8k_u8),
        ActQuant::Int16 | ActQuant::Int16Narrow => {
            unreachable!("int16 activations for an int8 kernel")
        }
    };
    let unsigned = |q: u8| i32::from(q) - 128;
    if act == ActQuant::Q8_1 {
        // ggml: `s = f16(d * sum)` with the scale before its rounding to f16.
        a.s = x
            .chunks_exact(QK8_0)
            .zip(a.q.chunks_exact(QK8_0))
            .map(|(xb, qb)| {
                let amax = f32::from_bits(amax_bits(xb));
                let sum: i32 = qb.iter().map(|&q| unsigned(q)).sum();
                half::f16::from_f32(amax / 127.0 * sum as f32).to_f32()
            })
            .collect();
    } else if sums {
        a.s = block_sums(&a, unsigned);
    }
    a
}

/// `d * sum(q)` for every block of 32 of `a`, each quant read by `value`.
fn block_sums<T: Copy>(a: &Act<T>, value: impl Fn(T) -> i32) -> Vec<f32> {
    a.q.chunks_exact(QK8_0)
        .zip(&a.d)
        .map(|(qb, d)| d * qb.iter().map(|&q| value(q)).sum::<i32>() as f32)
        .collect()
}

/// [`ActQuant::Q8K`] for whole blocks of 256, as int16.
fn quantize_q8k_i16(x: &[f32], q: &mut [i16], d: &mut [f32]) {
    quantize_q8k_body(x, q, d, |v| v as i16);
}

/// [`ActQuant::Q8K`] for whole blocks of 256, stored `+ 128`.
fn quantize_q8k_u8(x: &[f32], q: &mut [u8], d: &mut [f32]) {
    quantize_q8k_body(x, q, d, |v| (v + 128) as u8);
}

/// ggml's `quantize_row_q8_K_ref` on whole blocks of 256 (the quants handed to `store`,
/// the scale given to each block of 32). A NaN makes its block's scale NaN, so that it
/// reaches the output (ggml's scan skips it).
#[inline(always)]
fn quantize_q8k_body<T: Copy>(x: &[f32], q: &mut [T], d: &mut [f32], store: impl Fn(i32) -> T) {
    for ((xb, qb), db) in x
        .chunks_exact(QK_K)
        .zip(q.chunks_exact_mut(QK_K))
        .zip(d.chunks_exact_mut(QK_K / QK8_0))
    {
        let bits = amax_bits(xb);
        let amax = f32::from_bits(bits);
        if amax == 0.0 || amax.is_nan() {
            qb.fill(store(0));
            db.fill(amax);
            continue;
        }
        // ggml keeps the first value of the largest magnitude, with its sign.
        let max = xb
            .iter()
            .find(|v| v.to_bits() & 0x7fff_ffff == bits)
            .copied()
            .unwrap_or(amax);
        let iscale = -127.0 / max;
        for (o, &v) in qb.iter_mut().zip(xb) {
            *o = store(crate::kquants::nearest_int(iscale * v).min(127));
        }
        db.fill(1.0 / iscale);
    }
}

/// Quantizes activation rows of `cols` values to int16, per block of 32: `d = amax /
/// 32767`, `q = round_half_even(x * (32767 / amax))`. The quantizer is chosen once, on
/// the calling thread, as the kernels are.
pub(crate) fn quantize_i16(x: &[f32]) -> Act<i16> {
    quantize_rows(x, arch::quantize_i16().unwrap_or(compiled::quantize_i16))
}

/// The portable definition of [`quantize_i16`] for one chunk of whole blocks.
#[inline(always)]
pub(crate) fn quantize_i16_body(x: &[f32], q: &mut [i16], d: &mut [f32]) {
    quantize_blocks(x, q, d, 32767.0, |amax| amax / 32767.0, |r| r as i16);
}

/// [`ActQuant::Int16Narrow`] for one chunk of whole blocks.
#[inline(always)]
pub(crate) fn quantize_i16_narrow_body(x: &[f32], q: &mut [i16], d: &mut [f32]) {
    quantize_blocks(x, q, d, 16383.0, |amax| amax / 16383.0, |r| r as i16);
}

/// Quantizes activation rows to Q8_0 (ggml's x86 `quantize_row_q8_0`: `d = f16(amax /
/// 127)`, `q = round_half_even(x * (127 / amax))`), stored `q + 128` (unsigned, as
/// `vpdpbusd` takes them).
pub(crate) fn quantize_u8(x: &[f32]) -> Act<u8> {
    quantize_rows(x, arch::quantize_u8().unwrap_or(compiled::quantize_u8))
}

/// The portable definition of [`quantize_u8`] for one chunk of whole blocks: ggml's
/// x86 `quantize_row_q8_0` (the scale rounded to f16), stored `+ 128`.
#[inline(always)]
pub(crate) fn quantize_u8_body(x: &[f32], q: &mut [u8], d: &mut [f32]) {
    let scale = |amax: f32| half::f16::from_f32(amax / 127.0).to_f32();
    quantize_blocks(x, q, d, 127.0, scale, |r| r.wrapping_add(128) as u8);
}

/// The bits of the largest magnitude in `x`, the sign cleared: an integer max, which
/// vectorizes, and where a NaN wins (and poisons its block) instead of being skipped.
#[inline(always)]
fn amax_bits(x: &[f32]) -> u32 {
    x.iter().fold(0u32, |m, v| m.max(v.to_bits() & 0x7fff_ffff))
}

/// Quantizes whole blocks of 32 to integers of magnitude up to `top`: per block the
/// largest magnitude `amax`, the scale `scale(amax)`, and each value's
/// `round_half_even(v * (top / amax))` handed to `store`.
#[inline(always)]
fn quantize_blocks<T>(
    x: &[f32],
    q: &mut [T],
    d: &mut [f32],
    top: f32,
    scale: impl Fn(f32) -> f32,
    store: impl Fn(i32) -> T,
) {
    // Fixed-size blocks, one pass each, so the compiler vectorizes within a block (on
    // AVX-512 it vectorizes across blocks instead, with gathers: `arch` has that path
    // written out).
    let (xs, _) = x.as_chunks::<QK8_0>();
    let (qs, _) = q.as_chunks_mut::<QK8_0>();
    for ((xb, qb), db) in xs.iter().zip(qs).zip(d.iter_mut()) {
        let amax = f32::from_bits(amax_bits(xb));
        let id = if amax != 0.0 { top / amax } else { 0.0 };
        *db = scale(amax);
        // Round half to even by adding 1.5 * 2^23: |v * id| <= top < 2^22, so the sum's
        // unit in the last place is 1 and its low mantissa bits are the integer (the same
        // as `round_ties_even`, without a saturating cast that would not vectorize).
        const MAGIC: f32 = 12_582_912.0;
        for (o, v) in qb.iter_mut().zip(xb) {
            *o = store((v * id + MAGIC).to_bits().wrapping_sub(0x4B40_0000) as i32);
        }
    }
}

/// The portable quantizers compiled for the path in force. One wrapper per quantizer:
/// a generic one taking the body as a function item compiles to a jump to an
/// un-inlined `FnOnce::call_once`, outside the target-feature context.
mod compiled {
    use pulp::{Simd, WithSimd};

    use crate::simd::dispatch;

    /// [`super::quantize_u8_body`] compiled for the path in force.
    pub(super) fn quantize_u8(x: &[f32], q: &mut [u8], d: &mut [f32]) {
        struct Op<'a>(&'a [f32], &'a mut [u8], &'a mut [f32]);
        impl WithSimd for Op<'_> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: Simd>(self, _simd: S) {
                super::quantize_u8_body(self.0, self.1, self.2)
            }
        }
        dispatch(Op(x, q, d))
    }

    /// [`super::quantize_i16_body`] compiled for the path in force (`arch` has it
    /// written out for AVX-512, where the compiler vectorizes this loop across blocks,
    /// with gathers).
    pub(super) fn quantize_i16(x: &[f32], q: &mut [i16], d: &mut [f32]) {
        struct Op<'a>(&'a [f32], &'a mut [i16], &'a mut [f32]);
        impl WithSimd for Op<'_> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: Simd>(self, _simd: S) {
                super::quantize_i16_body(self.0, self.1, self.2)
            }
        }
        dispatch(Op(x, q, d))
    }

    /// [`super::quantize_i16_narrow_body`] compiled for the path in force.
    pub(super) fn quantize_i16_narrow(x: &[f32], q: &mut [i16], d: &mut [f32]) {
        struct Op<'a>(&'a [f32], &'a mut [i16], &'a mut [f32]);
        impl WithSimd for Op<'_> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: Simd>(self, _simd: S) {
                super::quantize_i16_narrow_body(self.0, self.1, self.2)
            }
        }
        dispatch(Op(x, q, d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{QuantType, quantize_row};

    use crate::gemm::test_values as values;

    #[test]
    fn int16_quantization_is_exact_at_the_extremes() {
        let mut x = vec![0f32; 64];
        x[0] = -3.0;
        x[1] = 1.5;
        x[40] = 1e-30;
        let mut q = vec![0i16; 64];
        let mut d = vec![0f32; 2];
        quantize_i16_body(&x, &mut q, &mut d);
        assert_eq!((q[0], q[1], d[0]), (-32767, 16384, 3.0 / 32767.0));
        assert_eq!(q[40], 32767);
        assert!(
            q[32..]
                .iter()
                .enumerate()
                .all(|(i, v)| *v == if i == 8 { 32767 } else { 0 })
        );
    }

    #[test]
    fn q8_0_activations_round_half_to_even() {
        let mut x = [0f32; 32];
        x[0] = 127.0;
        x[1] = 2.5;
        x[2] = -3.5;
        x[3] = -127.0;
        let mut q = [0u8; 32];
        let mut d = [0f32; 1];
        quantize_u8_body(&x, &mut q, &mut d);
        // Stored + 128.
        assert_eq!(
            (q[0], q[1], q[2], q[3], q[4], d[0]),
            (255, 130, 124, 1, 128, 1.0)
        );
        let x: Vec<f32> = (0..64).map(|i| (i as f32 - 30.3) * 0.37).collect();
        let mut q = [0u8; 64];
        let mut d = [0f32; 2];
        quantize_u8_body(&x, &mut q, &mut d);
        for (i, v) in x.iter().enumerate() {
            let amax = x[i / 32 * 32..][..32]
                .iter()
                .fold(0f32, |m, v| m.max(v.abs()));
            let want = (v * (127.0 / amax)).round_ties_even() as i32 + 128;
            assert_eq!(i32::from(q[i]), want, "{i}");
        }
    }

    /// The Q8_K activations are `quantize_row_q8_K_ref`'s (the crate's bit-exact
    /// `quantize_row(Q8_K)`), with the block sums of its `bsums`.
    #[test]
    fn q8k_activations_are_ggmls() {
        let mut x = values(4 * 256, 9);
        x[256..512].fill(0.0);
        x[600] = -300.0;
        x[700] = 300.0; // the same magnitude later: the first one's sign counts
        let bytes = quantize_row(QuantType::Q8_K, &x).unwrap();
        let a8 = quantize_act_u8(&x, ActQuant::Q8K, true);
        let a16 = quantize_act_i16(&x, ActQuant::Q8K, true);
        for (i, c) in bytes.chunks_exact(size_of::<crate::BlockQ8K>()).enumerate() {
            let b: crate::BlockQ8K = bytemuck::pod_read_unaligned(c);
            for (j, &q) in b.qs.iter().enumerate() {
                assert_eq!(i32::from(a8.q[256 * i + j]) - 128, i32::from(q));
                assert_eq!(a16.q[256 * i + j], i16::from(q));
            }
            for k in 0..8 {
                assert_eq!(a8.d[8 * i + k].to_bits(), b.d.to_bits());
                assert_eq!(a16.d[8 * i + k].to_bits(), b.d.to_bits());
                let sum = i32::from(b.bsums[2 * k]) + i32::from(b.bsums[2 * k + 1]);
                assert_eq!(a8.s[8 * i + k], b.d * sum as f32);
                assert_eq!(a16.s[8 * i + k], b.d * sum as f32);
            }
        }
        // d = max / -127: positive, as the first value of the largest magnitude is -300.
        assert_eq!(a8.d[16], 1.0 / (-127.0 / -300.0));
    }

    /// Q8_1: Q8_0's quants and scale, and `s` from the scale before its f16 rounding.
    #[test]
    fn q8_1_activations_carry_ggmls_sum() {
        let x = values(3 * 32, 4);
        let a = quantize_act_u8(&x, ActQuant::Q8_1, false);
        let a0 = quantize_act_u8(&x, ActQuant::Q8_0, false);
        assert_eq!((&a.q, &a.d), (&a0.q, &a0.d));
        for (b, xb) in x.chunks(32).enumerate() {
            let amax = xb.iter().fold(0f32, |m, v| m.max(v.abs()));
            let sum: i32 = a.q[32 * b..32 * b + 32]
                .iter()
                .map(|&q| i32::from(q) - 128)
                .sum();
            let want = half::f16::from_f32(amax / 127.0 * sum as f32).to_f32();
            assert_eq!(a.s[b], want);
        }
    }

    proptest::proptest! {
        /// Every path's activation quantizers give the portable bits.
        #[test]
        fn quantizers_equal_portable(blocks in 0usize..40, seed in 1u64..u64::MAX) {
            use crate::simd::{SimdPath, available_paths, with_path};
            let x = values(blocks * 32, seed);
            let run = |path| with_path(path, || {
                let (a, b) = (quantize_i16(&x), quantize_u8(&x));
                let n = quantize_act_i16(&x, ActQuant::Int16Narrow, true);
                (a.q, a.d.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), b.q,
                 b.d.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), n.q,
                 n.s.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
            }).unwrap();
            let want = run(SimdPath::Scalar);
            for path in available_paths() {
                proptest::prop_assert!(run(path) == want, "{}", path);
            }
        }
    }
}
