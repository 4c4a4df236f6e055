//! aarch64 translations of the portable kernels in `gemm/reference.rs`, in NEON: `fmla` for f32,
//! `smlal` (widening multiply-accumulate) for int16, and for int8 either the dot-product
//! extension's `sdot` (four byte products per lane) or, without it, `smull` + `sadalp`.
//!
//! NEON has 32 vector registers of four lanes, so each call covers one group of 16 rows
//! (four vectors) and as many tokens as the accumulators leave room for. The integer
//! sums are exact in every order, and the float steps are the scalar kernel's, so every
//! kernel gives the scalar kernel's bits. `sdot`'s intrinsic is not stable in Rust yet:
//! it is one instruction of inline assembly, run only where the CPU reports `dotprod`.

// Register arrays are indexed by token and vector; iterators would hide that.
#![allow(clippy::needless_range_loop)]

use std::arch::aarch64::*;
use std::arch::asm;
use std::ops::Range;

use crate::arch::{check_f32, check_i8, check_i16};
use crate::gemm::{
    BLOCK_I8, BLOCK_I16, GROUP, KernelF32, KernelI8, KernelI16, Panel, PanelF32, Tile, Tokens,
};
use crate::simd::SimdPath::{self, Neon, NeonDotprod};

fn has_neon() -> bool {
    std::arch::is_aarch64_feature_detected!("neon")
}

fn has_dotprod() -> bool {
    has_neon() && std::arch::is_aarch64_feature_detected!("dotprod")
}

pub(super) fn kernel_i16(path: SimdPath) -> Option<KernelI16> {
    match path {
        Neon | NeonDotprod if has_neon() => Some(i16_neon),
        _ => None,
    }
}

pub(super) fn kernel_i16_name(path: SimdPath) -> Option<&'static str> {
    kernel_i16(path).map(|_| "neon")
}

pub(super) fn kernel_i8(path: SimdPath) -> Option<KernelI8> {
    match path {
        NeonDotprod if has_dotprod() => Some(i8_neon::<true>),
        Neon | NeonDotprod if has_neon() => Some(i8_neon::<false>),
        _ => None,
    }
}

pub(super) fn kernel_i8_name(path: SimdPath) -> Option<&'static str> {
    match path {
        NeonDotprod if has_dotprod() => Some("neon-dotprod"),
        Neon | NeonDotprod if has_neon() => Some("neon"),
        _ => None,
    }
}

pub(super) fn kernel_f32(path: SimdPath) -> Option<KernelF32> {
    match path {
        Neon | NeonDotprod if has_neon() => Some(f32_neon),
        _ => None,
    }
}

/// Calls `$f::<N>` for the tokens `t..t + N` of one group, `N` up to `$max`, for every
/// token of the tile and both groups.
macro_rules! by_group {
    ($m:expr, $max:literal, |$g:ident, $t:ident, $n:ident| $call:expr) => {
        for $g in 0..2 {
            let mut $t = 0;
            while $t < $m {
                let $n = ($m - $t).min($max);
                $call;
                $t += $n;
            }
        }
    };
}

fn i16_neon(p: &Panel<'_, i16>, ks: Range<usize>, x: &Tokens<'_, i16>, acc: &mut Tile) {
    check_i16(p, &ks, x);
    by_group!(x.n, 2, |g, t, n| {
        let (pg, xs) = (p.group(g), x.skip(t, p.blocks));
        // SAFETY: chosen only when the CPU has NEON (`kernel_i16`); the kernel reads `n`
        // token rows from `t` and one group, within the lengths checked above, and
        // writes accumulators `t..t + n` of group `g`.
        unsafe {
            if n == 1 {
                i16_group::<1>(&pg, ks.clone(), &xs, acc, t, g)
            } else {
                i16_group::<2>(&pg, ks.clone(), &xs, acc, t, g)
            }
        }
    });
}

fn i8_neon<const DOT: bool>(
    p: &Panel<'_, i8>,
    ks: Range<usize>,
    x: &Tokens<'_, u8>,
    acc: &mut Tile,
) {
    check_i8(p, &ks, x);
    // `sdot` needs four accumulators a token, `smull` + `sadalp` eight.
    by_group!(x.n, 3, |g, t, n| {
        let (pg, xs) = (p.group(g), x.skip(t, p.blocks));
        // SAFETY: chosen only when the CPU has NEON, and the dot-product extension for
        // `DOT = true` (`kernel_i8`); lengths as in `i16_neon`.
        unsafe {
            match (DOT, n) {
                (true, 1) => i8_dot_group::<1>(&pg, ks.clone(), &xs, acc, t, g),
                (true, 2) => i8_dot_group::<2>(&pg, ks.clone(), &xs, acc, t, g),
                (true, _) => i8_dot_group::<3>(&pg, ks.clone(), &xs, acc, t, g),
                (false, 1) => i8_mull_group::<1>(&pg, ks.clone(), &xs, acc, t, g),
                (false, _) => {
                    // Eight accumulators a token: two tokens fit, so split a third.
                    i8_mull_group::<2>(&pg, ks.clone(), &xs, acc, t, g);
                    if n == 3 {
                        let xs = xs.skip(2, p.blocks);
                        i8_mull_group::<1>(&pg, ks.clone(), &xs, acc, t + 2, g)
                    }
                }
            }
        }
    });
}

fn f32_neon(p: &PanelF32<'_>, ks: Range<usize>, x: &[f32], m: usize, acc: &mut Tile) {
    check_f32(p, &ks, x, m);
    by_group!(m, 6, |g, t, n| {
        let pg = p.group(g);
        let xs = &x[t * p.cols..];
        // SAFETY: chosen only when the CPU has NEON (`kernel_f32`); lengths as in
        // `i16_neon`.
        unsafe {
            match n {
                1 => f32_group::<1>(&pg, ks.clone(), xs, acc, t, g),
                2 => f32_group::<2>(&pg, ks.clone(), xs, acc, t, g),
                3 => f32_group::<3>(&pg, ks.clone(), xs, acc, t, g),
                4 => f32_group::<4>(&pg, ks.clone(), xs, acc, t, g),
                5 => f32_group::<5>(&pg, ks.clone(), xs, acc, t, g),
                _ => f32_group::<6>(&pg, ks.clone(), xs, acc, t, g),
            }
        }
    });
}

/// Loads the f32 accumulators of tokens `t0..t0 + M`, group `g`.
#[inline(always)]
unsafe fn load_acc<const M: usize>(acc: &Tile, t0: usize, g: usize) -> [[float32x4_t; 4]; M] {
    // SAFETY: `t0 + M <= MR` and `g < 2` (the callers' loops), so every read is in `acc`.
    unsafe {
        let mut a = [[vdupq_n_f32(0.0); 4]; M];
        for t in 0..M {
            let p = acc[t0 + t].as_ptr().add(g * GROUP);
            for v in 0..4 {
                a[t][v] = vld1q_f32(p.add(4 * v));
            }
        }
        a
    }
}

/// Stores what [`load_acc`] loaded.
#[inline(always)]
unsafe fn store_acc<const M: usize>(
    acc: &mut Tile,
    a: &[[float32x4_t; 4]; M],
    t0: usize,
    g: usize,
) {
    // SAFETY: as in `load_acc`.
    unsafe {
        for t in 0..M {
            let p = acc[t0 + t].as_mut_ptr().add(g * GROUP);
            for v in 0..4 {
                vst1q_f32(p.add(4 * v), a[t][v]);
            }
        }
    }
}

/// f32: tokens `t0..t0 + M` x one group, one fused multiply-add per product in k order.
#[target_feature(enable = "neon")]
unsafe fn f32_group<const M: usize>(
    p: &PanelF32<'_>,
    ks: Range<usize>,
    x: &[f32],
    acc: &mut Tile,
    t0: usize,
    g: usize,
) {
    // SAFETY: the caller guarantees NEON and the slice lengths (see `f32_neon`).
    unsafe {
        let (w, cols) = (p.w, p.cols);
        let mut a = load_acc::<M>(acc, t0, g);
        for k in ks {
            let wp = w.as_ptr().add(k * GROUP);
            let wv = [
                vld1q_f32(wp),
                vld1q_f32(wp.add(4)),
                vld1q_f32(wp.add(8)),
                vld1q_f32(wp.add(12)),
            ];
            for t in 0..M {
                let xv = *x.get_unchecked(t * cols + k);
                for v in 0..4 {
                    a[t][v] = vfmaq_n_f32(a[t][v], wv[v], xv);
                }
            }
        }
        store_acc::<M>(acc, &a, t0, g);
    }
}

/// int16: tokens `t0..t0 + M` x one group. A packed pair row is four vectors of two
/// rows x two k; `smlal` keeps the two k apart and `addp` joins them at the block's end.
#[target_feature(enable = "neon")]
unsafe fn i16_group<const M: usize>(
    p: &Panel<'_, i16>,
    ks: Range<usize>,
    x: &Tokens<'_, i16>,
    acc: &mut Tile,
    t0: usize,
    g: usize,
) {
    // SAFETY: the caller guarantees NEON and the slice lengths (see `i16_neon`).
    unsafe {
        let (w, d, blocks, xd) = (p.w, p.d, p.blocks, x.d);
        let cols = blocks * 32;
        let mut a = load_acc::<M>(acc, t0, g);
        for b in ks {
            let mut ai = [[vdupq_n_s32(0); 8]; M];
            for q in 0..16 {
                let wp = w.as_ptr().add(b * BLOCK_I16 + q * 32);
                let wv = [
                    vld1q_s16(wp),
                    vld1q_s16(wp.add(8)),
                    vld1q_s16(wp.add(16)),
                    vld1q_s16(wp.add(24)),
                ];
                for t in 0..M {
                    let xp = x.q.as_ptr().add(t * cols + b * 32 + 2 * q).cast::<i32>();
                    let xv = vreinterpretq_s16_s32(vdupq_n_s32(xp.read_unaligned()));
                    for v in 0..4 {
                        ai[t][2 * v] =
                            vmlal_s16(ai[t][2 * v], vget_low_s16(wv[v]), vget_low_s16(xv));
                        ai[t][2 * v + 1] = vmlal_high_s16(ai[t][2 * v + 1], wv[v], xv);
                    }
                }
            }
            for t in 0..M {
                let sx = *xd.get_unchecked(t * blocks + b);
                for v in 0..4 {
                    let s = vpaddq_s32(ai[t][2 * v], ai[t][2 * v + 1]);
                    let sw = vmulq_f32(
                        vcvtq_f32_s32(s),
                        vld1q_f32(d.as_ptr().add(b * GROUP + 4 * v)),
                    );
                    a[t][v] = vfmaq_n_f32(a[t][v], sw, sx);
                }
            }
        }
        store_acc::<M>(acc, &a, t0, g);
    }
}

/// `acc + sum of four byte products` per lane: the dot-product extension's `sdot`.
#[inline(always)]
unsafe fn sdot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    // SAFETY: one register-only instruction; the callers run only where the CPU has the
    // dot-product extension (`kernel_i8`).
    unsafe {
        asm!(
            "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
            acc = inout(vreg) acc,
            a = in(vreg) a,
            b = in(vreg) b,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    acc
}

/// Four activation bytes `x + 128` from `p`, back to signed and in every lane.
#[inline(always)]
unsafe fn broadcast_x(p: *const u8) -> int8x16_t {
    // SAFETY: the caller passes a pointer to four readable bytes.
    unsafe {
        let v = p.cast::<u32>().read_unaligned() ^ 0x8080_8080;
        vreinterpretq_s8_u32(vdupq_n_u32(v))
    }
}

/// The block's scales `d_w * d_x` for rows `4v..4v + 4`, times the integer sums, added
/// (not fused) to `a`, as the scalar int8 kernel does.
#[inline(always)]
unsafe fn add_block(a: float32x4_t, s: int32x4_t, d: *const f32, dx: f32) -> float32x4_t {
    // SAFETY: the caller passes a pointer to four readable scales.
    unsafe {
        vaddq_f32(
            a,
            vmulq_f32(vcvtq_f32_s32(s), vmulq_n_f32(vld1q_f32(d), dx)),
        )
    }
}

/// int8 with `sdot`: tokens `t0..t0 + M` x one group; a packed quad row is four vectors
/// of four rows x four k. The activations are signed again (`x + 128` flipped back), so
/// the sums start at zero rather than at the packed correction.
#[target_feature(enable = "neon,dotprod")]
unsafe fn i8_dot_group<const M: usize>(
    p: &Panel<'_, i8>,
    ks: Range<usize>,
    x: &Tokens<'_, u8>,
    acc: &mut Tile,
    t0: usize,
    g: usize,
) {
    // SAFETY: the caller guarantees NEON, the dot-product extension and the slice
    // lengths (see `i8_neon`).
    unsafe {
        let (w, d, blocks, xd) = (p.w, p.d, p.blocks, x.d);
        let cols = blocks * 32;
        let mut a = load_acc::<M>(acc, t0, g);
        for b in ks {
            let mut ai = [[vdupq_n_s32(0); 4]; M];
            for q in 0..8 {
                let wp = w.as_ptr().add(b * BLOCK_I8 + q * 64);
                let wv = [
                    vld1q_s8(wp),
                    vld1q_s8(wp.add(16)),
                    vld1q_s8(wp.add(32)),
                    vld1q_s8(wp.add(48)),
                ];
                for t in 0..M {
                    let xv = broadcast_x(x.q.as_ptr().add(t * cols + b * 32 + 4 * q));
                    for v in 0..4 {
                        ai[t][v] = sdot(ai[t][v], wv[v], xv);
                    }
                }
            }
            for t in 0..M {
                let dx = *xd.get_unchecked(t * blocks + b);
                for v in 0..4 {
                    a[t][v] = add_block(a[t][v], ai[t][v], d.as_ptr().add(b * GROUP + 4 * v), dx);
                }
            }
        }
        store_acc::<M>(acc, &a, t0, g);
    }
}

/// int8 without the dot-product extension: `smull` gives 16-bit products (at most
/// 128 x 127, no overflow), `sadalp` adds their pairs into 32-bit lanes, and `addp`
/// joins a row's two lanes at the block's end.
#[target_feature(enable = "neon")]
unsafe fn i8_mull_group<const M: usize>(
    p: &Panel<'_, i8>,
    ks: Range<usize>,
    x: &Tokens<'_, u8>,
    acc: &mut Tile,
    t0: usize,
    g: usize,
) {
    // SAFETY: the caller guarantees NEON and the slice lengths (see `i8_neon`).
    unsafe {
        let (w, d, blocks, xd) = (p.w, p.d, p.blocks, x.d);
        let cols = blocks * 32;
        let mut a = load_acc::<M>(acc, t0, g);
        for b in ks {
            let mut ai = [[vdupq_n_s32(0); 8]; M];
            for q in 0..8 {
                let wp = w.as_ptr().add(b * BLOCK_I8 + q * 64);
                let wv = [
                    vld1q_s8(wp),
                    vld1q_s8(wp.add(16)),
                    vld1q_s8(wp.add(32)),
                    vld1q_s8(wp.add(48)),
                ];
                for t in 0..M {
                    let xv = broadcast_x(x.q.as_ptr().add(t * cols + b * 32 + 4 * q));
                    for v in 0..4 {
                        let lo = vmull_s8(vget_low_s8(wv[v]), vget_low_s8(xv));
                        let hi = vmull_high_s8(wv[v], xv);
                        ai[t][2 * v] = vpadalq_s16(ai[t][2 * v], lo);
                        ai[t][2 * v + 1] = vpadalq_s16(ai[t][2 * v + 1], hi);
                    }
                }
            }
            for t in 0..M {
                let dx = *xd.get_unchecked(t * blocks + b);
                for v in 0..4 {
                    let s = vpaddq_s32(ai[t][2 * v], ai[t][2 * v + 1]);
                    a[t][v] = add_block(a[t][v], s, d.as_ptr().add(b * GROUP + 4 * v), dx);
                }
            }
        }
        store_acc::<M>(acc, &a, t0, g);
    }
}
