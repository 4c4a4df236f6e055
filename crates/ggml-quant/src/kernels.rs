//! The elementwise and vector kernels, written once as portable code and compiled for
//! the [`SimdPath`](crate::SimdPath) in force with `pulp` (AVX-512, AVX2+FMA or scalar
//! on x86-64; NEON on aarch64): the f32 and Q8_0 dot products, and the model math the
//! encoder runs between its matrix products ([`gelu_tanh_mul`], [`softmax`], on
//! [`exp_approx`]). Each loop is laid out so the compiler vectorizes it for whichever
//! set runs: several independent accumulators, fixed-size blocks, no reassociation the
//! scalar path would not also do, so every path gives the same bits.

use pulp::{Simd, WithSimd};

use crate::blocks::QK8_0;
use crate::simd::dispatch;

/// `sum(a[i] * b[i])` in f32 with 16 running sums (the same order on every path).
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    struct Op<'a>(&'a [f32], &'a [f32]);
    impl WithSimd for Op<'_> {
        type Output = f32;
        #[inline(always)]
        fn with_simd<S: Simd>(self, _simd: S) -> f32 {
            dot_f32_body(self.0, self.1)
        }
    }
    dispatch(Op(a, b))
}

/// The fixed reduction of 16 running sums every f32 dot here ends with.
#[inline(always)]
fn reduce16(a: [f32; 16]) -> f32 {
    let mut s = [0f32; 8];
    for i in 0..8 {
        s[i] = a[i] + a[i + 8];
    }
    ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]))
}

#[inline(always)]
fn dot_f32_body(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 16];
    let mut ca = a.chunks_exact(16);
    let mut cb = b.chunks_exact(16);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..16 {
            acc[i] = x[i].mul_add(y[i], acc[i]);
        }
    }
    for (i, (x, y)) in ca.remainder().iter().zip(cb.remainder()).enumerate() {
        acc[i] = x.mul_add(*y, acc[i]);
    }
    reduce16(acc)
}

/// `sum_b wd[b] * xd[b] * sum_j wq[b][j] * xq[b][j]`, as `ggml_vec_dot_q8_0_q8_0`:
/// exact integer block sums, f32 accumulation in block order.
pub fn dot_i8_blocks(wq: &[[i8; QK8_0]], wd: &[f32], xq: &[[i8; QK8_0]], xd: &[f32]) -> f32 {
    struct Op<'a>(&'a [[i8; QK8_0]], &'a [f32], &'a [[i8; QK8_0]], &'a [f32]);
    impl WithSimd for Op<'_> {
        type Output = f32;
        #[inline(always)]
        fn with_simd<S: Simd>(self, _simd: S) -> f32 {
            dot_i8_body(self.0, self.1, self.2, self.3)
        }
    }
    dispatch(Op(wq, wd, xq, xd))
}

#[inline(always)]
fn dot_i8_body(wq: &[[i8; QK8_0]], wd: &[f32], xq: &[[i8; QK8_0]], xd: &[f32]) -> f32 {
    let mut sum = 0f32;
    for ((a, b), (da, db)) in wq.iter().zip(xq).zip(wd.iter().zip(xd)) {
        let mut s = 0i32;
        for j in 0..QK8_0 {
            s += i32::from(a[j]) * i32::from(b[j]);
        }
        sum += s as f32 * (da * db);
    }
    sum
}

/// `e^x` in f32 by Cephes' `expf` scheme (range reduction by ln 2, a degree-6
/// polynomial, the exponent set by bits), written to vectorize: within 2 ulp of `exp` for
/// `x` in [-87, 88]; the input is clamped to [-87.3, 88.7]; NaN stays NaN.
#[inline(always)]
pub fn exp_approx(x: f32) -> f32 {
    let x = x.clamp(-87.3, 88.7);
    let n = (x * std::f32::consts::LOG2_E).round_ties_even();
    let r = n.mul_add(-0.693_359_4, x);
    let r = n.mul_add(2.121_944_4e-4, r);
    let mut p = 1.987_569_1e-4f32;
    p = p.mul_add(r, 1.398_2e-3);
    p = p.mul_add(r, 8.333_452e-3);
    p = p.mul_add(r, 4.166_579_6e-2);
    p = p.mul_add(r, 1.666_666_5e-1);
    p = p.mul_add(r, 0.5);
    let p = (p * r).mul_add(r, r) + 1.0;
    // 2^n by the exponent bits (n is within [-126, 128] after the clamp).
    let scale = f32::from_bits((((n as i32) + 127).clamp(1, 254) as u32) << 23);
    let v = p * scale;
    if n > 127.0 { v * 2.0 } else { v }
}

/// `g[i] = gelu_tanh(g[i]) * u[i]` (GELU with the tanh approximation, as
/// `gelu_pytorch_tanh`, gating `u`), vectorized with [`exp_approx`]:
/// `0.5 x (1 + tanh(y)) = x / (1 + e^(-2y))`, which keeps full relative accuracy for
/// negative `x` too.
pub fn gelu_tanh_mul(g: &mut [f32], u: &[f32]) {
    struct Op<'a>(&'a mut [f32], &'a [f32]);
    impl WithSimd for Op<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, _simd: S) {
            for (g, u) in self.0.iter_mut().zip(self.1) {
                *g = gelu_tanh(*g) * u;
            }
        }
    }
    dispatch(Op(g, u))
}

/// GELU-tanh of one value, the arithmetic of [`gelu_tanh_mul`].
#[inline(always)]
pub fn gelu_tanh(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    const COEF_A: f32 = 0.044_715;
    let y = SQRT_2_OVER_PI * x * (1.0 + COEF_A * x * x);
    x / (1.0 + exp_approx(-2.0 * y))
}

/// In place, `p = exp(p - max) / sum` with [`exp_approx`], the sum in f64 in index order.
pub fn softmax(p: &mut [f32]) {
    struct Op<'a>(&'a mut [f32]);
    impl WithSimd for Op<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, _simd: S) {
            let p = self.0;
            // 16 lane maxima by compare-and-select (which vectorizes, unlike the
            // NaN-aware `f32::max` chain), then their maximum.
            let mut lanes = [f32::NEG_INFINITY; 16];
            let mut chunks16 = p.chunks_exact(16);
            for c in &mut chunks16 {
                for i in 0..16 {
                    lanes[i] = if c[i] > lanes[i] { c[i] } else { lanes[i] };
                }
            }
            for (i, &v) in chunks16.remainder().iter().enumerate() {
                lanes[i] = if v > lanes[i] { v } else { lanes[i] };
            }
            let max = lanes
                .iter()
                .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
            for s in p.iter_mut() {
                *s = exp_approx(*s - max);
            }
            let mut sum = [0f64; 8];
            let mut chunks = p.chunks_exact(8);
            for c in &mut chunks {
                for i in 0..8 {
                    sum[i] += f64::from(c[i]);
                }
            }
            for (i, v) in chunks.remainder().iter().enumerate() {
                sum[i] += f64::from(*v);
            }
            let total =
                ((sum[0] + sum[4]) + (sum[1] + sum[5])) + ((sum[2] + sum[6]) + (sum[3] + sum[7]));
            let inv = (1.0 / total) as f32;
            p.iter_mut().for_each(|s| *s *= inv);
        }
    }
    dispatch(Op(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::{SimdPath, available_paths, with_path};

    #[test]
    fn dot_f32_handles_remainders() {
        for n in [0, 1, 15, 16, 17, 33, 768] {
            let a: Vec<f32> = (0..n).map(|i| i as f32 * 0.5).collect();
            let b: Vec<f32> = (0..n).map(|i| 1.0 - i as f32 * 0.01).collect();
            let want: f64 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| f64::from(*x) * f64::from(*y))
                .sum();
            assert!(
                (f64::from(dot_f32(&a, &b)) - want).abs() <= 1e-3 * want.abs().max(1.0),
                "n={n}"
            );
        }
    }

    /// Deterministic pseudo-random values, some awkward (zeros, large, tiny).
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut x = seed | 1;
        (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                match i % 11 {
                    0 => 0.0,
                    1 => 300.0,
                    2 => 1e-8,
                    _ => (x % 20_001) as f32 / 1000.0 - 10.0,
                }
            })
            .collect()
    }

    proptest::proptest! {
        /// Every SIMD path gives the scalar path's bits, on lengths that are not
        /// multiples of the vector or block sizes.
        #[test]
        fn simd_paths_equal_scalar(n in 0usize..200, seed in 1u64..u64::MAX) {
            let a = values(n, seed);
            let b = values(n, seed.wrapping_mul(3));
            let scalar = with_path(SimdPath::Scalar, || dot_f32(&a, &b)).unwrap();
            for path in available_paths() {
                proptest::prop_assert_eq!(with_path(path, || dot_f32(&a, &b)).unwrap().to_bits(), scalar.to_bits(), "{}", path);
            }
        }
    }

    #[test]
    fn exp_and_gelu_are_accurate() {
        let mut worst = 0f64;
        for i in -87_000..88_000 {
            let x = i as f32 / 1000.0;
            let (got, want) = (f64::from(exp_approx(x)), f64::from(x).exp());
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 3e-7, "exp relative error {worst}");
        assert!(exp_approx(f32::NAN).is_nan());
        assert_eq!(exp_approx(-1000.0), exp_approx(-87.3));
        for i in -20_000..20_000 {
            let x = i as f32 / 1000.0;
            let y = f64::from(x);
            // 0.5 y (1 + tanh(z)) in the form that stays exact in f64 for negative y.
            let z = 0.797_884_560_802_865_4 * (y + 0.044715 * y * y * y);
            let want = y / (1.0 + (-2.0 * z).exp());
            let err = (f64::from(gelu_tanh(x)) - want).abs();
            // f32 rounding of the exponent's argument costs up to ~2e-7 * |2z| relatively.
            assert!(
                err <= (5e-7 + 5e-7 * z.abs()) * want.abs() + 1e-35,
                "{x}: {err}"
            );
        }
        let mut p = vec![1.0f32, 2.0, 3.0, f32::MIN, 3.0];
        softmax(&mut p);
        let s: f32 = p.iter().sum();
        assert!((s - 1.0).abs() < 1e-6 && p[3] < 1e-30 && p[2] == p[4]);
    }

    proptest::proptest! {
        /// The vector math gives the same bits on every path.
        #[test]
        fn vector_math_equals_scalar(n in 0usize..100, seed in 1u64..u64::MAX) {
            let g = values(n, seed);
            let u = values(n, seed ^ 3);
            let run = |path| with_path(path, || {
                let mut a = g.clone();
                gelu_tanh_mul(&mut a, &u);
                let mut b: Vec<f32> = g.iter().map(|v| v / 50.0).collect();
                softmax(&mut b);
                (a, b)
            }).unwrap();
            let want = run(SimdPath::Scalar);
            for path in available_paths() {
                let got = run(path);
                proptest::prop_assert!(got.0.iter().zip(&want.0).all(|(a, b)| a.to_bits() == b.to_bits()), "{}", path);
                proptest::prop_assert!(got.1.iter().zip(&want.1).all(|(a, b)| a.to_bits() == b.to_bits()), "{}", path);
            }
        }
    }
}
