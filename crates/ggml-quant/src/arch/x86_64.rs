//! x86-64 translations of the portable kernels in `gemm/reference.rs`: AVX-512 (with VNNI's
//! `vpdpwssd` / `vpdpbusd`, or AVX-512BW's `vpmaddwd` + `vpaddd`), AVX2+FMA, and AVX2
//! with AVX-VNNI's 256-bit `vpdpbusd` for the int8 kernel.
//!
//! Each `unsafe fn` needs its target features; the safe wrappers returned by
//! [`kernel_i16`], [`kernel_i8`] and [`kernel_f32`] are handed out only for a path whose
//! features the CPU has, and check every slice length the kernel reads.

// Register arrays are indexed by token and group; iterators would hide that.
#![allow(clippy::needless_range_loop)]

use std::arch::x86_64::*;
use std::ops::Range;

use crate::arch::{PackQ8_0I16, Quantize, check_f32, check_i8, check_i16, check_pack_q8_0};
use crate::float::f16_to_f32;
use crate::gemm::{
    BLOCK_I8, BLOCK_I16, GROUP, KernelF32, KernelI8, KernelI16, MR, Panel, PanelF32, Tile, Tokens,
};
use crate::peak::{Arithmetic, Spin};
use crate::simd::SimdPath;

fn has_avx512() -> bool {
    is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw")
}

fn has_vnni() -> bool {
    has_avx512() && is_x86_feature_detected!("avx512vnni")
}

fn has_avx2() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
}

fn has_avx_vnni() -> bool {
    has_avx2() && is_x86_feature_detected!("avxvnni")
}

use SimdPath::{Avx2, Avx512};

pub(super) fn kernel_i8(path: SimdPath) -> Option<KernelI8> {
    match path {
        Avx512 if has_vnni() => Some(i8_avx512),
        Avx512 | Avx2 if has_avx_vnni() => Some(i8_avx2),
        _ => None,
    }
}

pub(super) fn kernel_i8_name(path: SimdPath) -> Option<&'static str> {
    match path {
        Avx512 if has_vnni() => Some("avx512-vnni"),
        Avx512 | Avx2 if has_avx_vnni() => Some("avx-vnni"),
        _ => None,
    }
}

pub(super) fn kernel_i16(path: SimdPath) -> Option<KernelI16> {
    match path {
        Avx512 if has_vnni() => Some(i16_avx512::<true>),
        Avx512 if has_avx512() => Some(i16_avx512::<false>),
        Avx512 | Avx2 if has_avx2() => Some(i16_avx2),
        _ => None,
    }
}

pub(super) fn kernel_i16_name(path: SimdPath) -> Option<&'static str> {
    match path {
        Avx512 if has_vnni() => Some("avx512-vnni"),
        Avx512 if has_avx512() => Some("avx512bw"),
        Avx512 | Avx2 if has_avx2() => Some("avx2"),
        _ => None,
    }
}

pub(super) fn quantize_i16(path: SimdPath) -> Option<Quantize<i16>> {
    match path {
        Avx512 if has_avx512() && is_x86_feature_detected!("f16c") => Some(quantize_i16_avx512),
        _ => None,
    }
}

pub(super) fn quantize_u8(path: SimdPath) -> Option<Quantize<u8>> {
    match path {
        Avx512 if has_avx512() && is_x86_feature_detected!("f16c") => Some(quantize_u8_avx512),
        _ => None,
    }
}

pub(super) fn pack_q8_0_i16(path: SimdPath) -> Option<PackQ8_0I16> {
    match path {
        Avx512 if has_avx512() => Some(pack_q8_0_avx512),
        Avx512 | Avx2 if has_avx2() => Some(pack_q8_0_avx2),
        _ => None,
    }
}

/// Bytes of one Q8_0 block: the f16 scale, then 32 quants.
const Q8_0_BYTES: usize = 34;

fn pack_q8_0_avx512(rows: &[&[u8]], ahead: &[u8], blocks: usize, w: &mut [i16], d: &mut [f32]) {
    check_pack_q8_0(rows, blocks, w, d);
    // SAFETY: chosen only when the CPU has AVX-512F/BW (`pack_q8_0_i16`); the lengths
    // the packer reads and writes were checked above.
    unsafe { pack_q8_0_512(rows, ahead, blocks, w, d) }
}

fn pack_q8_0_avx2(rows: &[&[u8]], ahead: &[u8], blocks: usize, w: &mut [i16], d: &mut [f32]) {
    check_pack_q8_0(rows, blocks, w, d);
    // SAFETY: chosen only when the CPU has AVX2 (`pack_q8_0_i16`); the lengths the
    // packer reads and writes were checked above.
    unsafe { pack_q8_0_256(rows, ahead, blocks, w, d) }
}

/// Prefetches share `b` of `n` of the cache lines of `bytes`.
fn prefetch_share(bytes: &[u8], b: usize, n: usize) {
    let lines = bytes.len().div_ceil(64);
    for line in b * lines / n..(b + 1) * lines / n {
        // SAFETY: a prefetch neither faults nor writes; the address is inside `bytes`.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(bytes.as_ptr().add(line * 64).cast()) }
    }
}

/// The scales of block `b` of every row (zero past the rows).
fn q8_0_scales(rows: &[&[u8]], b: usize, d: &mut [f32]) {
    for (i, o) in d.iter_mut().enumerate() {
        *o = rows.get(i).map_or(0.0, |r| {
            let at = b * Q8_0_BYTES;
            f16_to_f32(u16::from_le_bytes([r[at], r[at + 1]]))
        });
    }
}

/// Per block: each row's 32 quants widened to int16 (16 pairs, one vector a row), then
/// the 16 x 16 transpose of the pairs, so vector `p` holds pair `p` of rows 0-15.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn pack_q8_0_512(rows: &[&[u8]], ahead: &[u8], blocks: usize, w: &mut [i16], d: &mut [f32]) {
    // SAFETY: the caller guarantees the target features and the lengths: every row
    // holds `blocks` blocks, `w` and `d` `blocks` packed blocks.
    unsafe {
        for b in 0..blocks {
            prefetch_share(ahead, b, blocks);
            let mut r = [_mm512_setzero_si512(); 16];
            for (i, row) in rows.iter().enumerate() {
                let qs = row.as_ptr().add(b * Q8_0_BYTES + 2);
                r[i] = _mm512_cvtepi8_epi16(_mm256_loadu_si256(qs.cast()));
            }
            // Pairs (a, b) of rows: a0 b0 a1 b1 | a4 b4 a5 b5 | ... per 128-bit lane.
            let mut t = [_mm512_setzero_si512(); 16];
            for k in 0..8 {
                t[2 * k] = _mm512_unpacklo_epi32(r[2 * k], r[2 * k + 1]);
                t[2 * k + 1] = _mm512_unpackhi_epi32(r[2 * k], r[2 * k + 1]);
            }
            // u[4k + j], lane L: pair 4L + j of rows 4k..4k+3.
            let mut u = [_mm512_setzero_si512(); 16];
            for k in 0..4 {
                let (a, b1, c, e) = (t[4 * k], t[4 * k + 1], t[4 * k + 2], t[4 * k + 3]);
                u[4 * k] = _mm512_unpacklo_epi64(a, c);
                u[4 * k + 1] = _mm512_unpackhi_epi64(a, c);
                u[4 * k + 2] = _mm512_unpacklo_epi64(b1, e);
                u[4 * k + 3] = _mm512_unpackhi_epi64(b1, e);
            }
            let out = w.as_mut_ptr().add(b * BLOCK_I16);
            for j in 0..4 {
                // Lanes 0, 2 (v) and 1, 3 (x) of rows 0-7, and of rows 8-15.
                let v = _mm512_shuffle_i32x4::<0x88>(u[j], u[4 + j]);
                let x = _mm512_shuffle_i32x4::<0xdd>(u[j], u[4 + j]);
                let v2 = _mm512_shuffle_i32x4::<0x88>(u[8 + j], u[12 + j]);
                let x2 = _mm512_shuffle_i32x4::<0xdd>(u[8 + j], u[12 + j]);
                let pairs = [
                    (j, _mm512_shuffle_i32x4::<0x88>(v, v2)),
                    (8 + j, _mm512_shuffle_i32x4::<0xdd>(v, v2)),
                    (4 + j, _mm512_shuffle_i32x4::<0x88>(x, x2)),
                    (12 + j, _mm512_shuffle_i32x4::<0xdd>(x, x2)),
                ];
                for (p, vec) in pairs {
                    _mm512_storeu_si512(out.add(p * 2 * GROUP).cast(), vec);
                }
            }
            q8_0_scales(rows, b, &mut d[b * GROUP..(b + 1) * GROUP]);
        }
    }
}

/// [`pack_q8_0_512`] for AVX2: four 8 x 8 transposes of pairs per block (rows 0-7 and
/// 8-15, pairs 0-7 and 8-15).
#[target_feature(enable = "avx2")]
unsafe fn pack_q8_0_256(rows: &[&[u8]], ahead: &[u8], blocks: usize, w: &mut [i16], d: &mut [f32]) {
    // SAFETY: as for `pack_q8_0_512`.
    unsafe {
        for b in 0..blocks {
            prefetch_share(ahead, b, blocks);
            let out = w.as_mut_ptr().add(b * BLOCK_I16);
            for half in 0..2 {
                for pairs in 0..2 {
                    let mut r = [_mm256_setzero_si256(); 8];
                    for (i, row) in rows.iter().skip(8 * half).take(8).enumerate() {
                        let qs = row.as_ptr().add(b * Q8_0_BYTES + 2 + 16 * pairs);
                        r[i] = _mm256_cvtepi8_epi16(_mm_loadu_si128(qs.cast()));
                    }
                    let t = [0, 2, 4, 6].map(|k| {
                        [
                            _mm256_unpacklo_epi32(r[k], r[k + 1]),
                            _mm256_unpackhi_epi32(r[k], r[k + 1]),
                        ]
                    });
                    // u[h][j], lane L: pair 4 L + j of rows 4 h..4 h + 3.
                    let u = [0, 2].map(|h| {
                        let (a, c) = (t[h], t[h + 1]);
                        [
                            _mm256_unpacklo_epi64(a[0], c[0]),
                            _mm256_unpackhi_epi64(a[0], c[0]),
                            _mm256_unpacklo_epi64(a[1], c[1]),
                            _mm256_unpackhi_epi64(a[1], c[1]),
                        ]
                    });
                    for j in 0..4 {
                        let lo = _mm256_permute2x128_si256::<0x20>(u[0][j], u[1][j]);
                        let hi = _mm256_permute2x128_si256::<0x31>(u[0][j], u[1][j]);
                        for (p, vec) in [(8 * pairs + j, lo), (8 * pairs + 4 + j, hi)] {
                            _mm256_storeu_si256(out.add(p * 2 * GROUP + 8 * half * 2).cast(), vec);
                        }
                    }
                }
            }
            q8_0_scales(rows, b, &mut d[b * GROUP..(b + 1) * GROUP]);
        }
    }
}

fn quantize_i16_avx512(x: &[f32], q: &mut [i16], d: &mut [f32]) {
    let n = (x.len() / 32).min(q.len() / 32).min(d.len());
    // SAFETY: chosen only when the CPU has AVX-512F/BW and F16C (`quantize_i16`); `n`
    // whole blocks fit in all three slices.
    unsafe {
        quantize_512(x, n, |b, amax, v| {
            let id = if amax != 0.0 { 32767.0 / amax } else { 0.0 };
            d[b] = amax / 32767.0;
            let r = round_512(v, id, 0);
            let dst = q.as_mut_ptr().add(b * 32);
            _mm256_storeu_si256(dst.cast(), _mm512_cvtepi32_epi16(r[0]));
            _mm256_storeu_si256(dst.add(16).cast(), _mm512_cvtepi32_epi16(r[1]));
        })
    }
}

fn quantize_u8_avx512(x: &[f32], q: &mut [u8], d: &mut [f32]) {
    let n = (x.len() / 32).min(q.len() / 32).min(d.len());
    // SAFETY: as in `quantize_i16_avx512`.
    unsafe {
        quantize_512(x, n, |b, amax, v| {
            let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
            // The scale through f16 and back, rounding to nearest even (as `half`'s
            // conversions, which are calls through a feature check here).
            let h = _mm_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm_set_ss(amax / 127.0));
            d[b] = _mm_cvtss_f32(_mm_cvtph_ps(h));
            let r = round_512(v, id, 128);
            let dst = q.as_mut_ptr().add(b * 32);
            _mm_storeu_si128(dst.cast(), _mm512_cvtepi32_epi8(r[0]));
            _mm_storeu_si128(dst.add(16).cast(), _mm512_cvtepi32_epi8(r[1]));
        })
    }
}

/// For each of the `n` blocks of 32 in `x`: the block's largest magnitude (an unsigned
/// max of the bits without the sign, as the portable quantizers take it) and its values,
/// handed to `put`.
#[target_feature(enable = "avx512f,avx512bw,f16c")]
unsafe fn quantize_512(x: &[f32], n: usize, mut put: impl FnMut(usize, f32, [__m512; 2])) {
    // SAFETY: the callers pass `n` whole blocks within `x`.
    unsafe {
        let abs = _mm512_set1_epi32(0x7fff_ffff);
        for b in 0..n {
            let p = x.as_ptr().add(b * 32);
            let v = [_mm512_loadu_ps(p), _mm512_loadu_ps(p.add(16))];
            let m = _mm512_max_epu32(
                _mm512_and_si512(_mm512_castps_si512(v[0]), abs),
                _mm512_and_si512(_mm512_castps_si512(v[1]), abs),
            );
            put(b, f32::from_bits(_mm512_reduce_max_epu32(m)), v);
        }
    }
}

/// `round_half_even(v * id) + add` as the portable quantizers compute it: the product,
/// then 1.5 * 2^23 added, the integer read from the low mantissa bits.
#[inline]
#[target_feature(enable = "avx512f")]
fn round_512(v: [__m512; 2], id: f32, add: i32) -> [__m512i; 2] {
    let idv = _mm512_set1_ps(id);
    let magic = _mm512_set1_ps(12_582_912.0);
    let off = _mm512_set1_epi32(0x4B40_0000 - add);
    v.map(|v| {
        let r = _mm512_add_ps(_mm512_mul_ps(v, idv), magic);
        _mm512_sub_epi32(_mm512_castps_si512(r), off)
    })
}

pub(super) fn kernel_f32(path: SimdPath) -> Option<KernelF32> {
    match path {
        Avx512 if has_avx512() => Some(f32_avx512),
        Avx512 | Avx2 if has_avx2() => Some(f32_avx2),
        _ => None,
    }
}

/// Expands `$body` with `$m` bound to the const token count `m` (1..=MR).
macro_rules! by_m {
    ($m:expr, $f:ident, $($arg:expr),*) => {
        match $m {
            0 => {}
            1 => $f::<1>($($arg),*),
            2 => $f::<2>($($arg),*),
            3 => $f::<3>($($arg),*),
            4 => $f::<4>($($arg),*),
            5 => $f::<5>($($arg),*),
            _ => $f::<6>($($arg),*),
        }
    };
}

/// The AVX-512 int16 kernel: `vpdpwssd` when `VNNI`, else `vpmaddwd` + add.
fn i16_avx512<const VNNI: bool>(
    p: &Panel<'_, i16>,
    ks: Range<usize>,
    x: &Tokens<'_, i16>,
    acc: &mut Tile,
) {
    check_i16(p, &ks, x);
    // SAFETY: chosen only when the CPU has AVX-512F/BW, and VNNI for `VNNI = true`
    // (`kernel_i16`); the slice lengths the kernel reads were checked above.
    unsafe {
        if VNNI {
            by_m!(x.n, i16_512_vnni, p, ks.clone(), x, acc)
        } else {
            by_m!(x.n, i16_512_bw, p, ks.clone(), x, acc)
        }
    }
}

fn i8_avx512(p: &Panel<'_, i8>, ks: Range<usize>, x: &Tokens<'_, u8>, acc: &mut Tile) {
    check_i8(p, &ks, x);
    // SAFETY: chosen only when the CPU has AVX-512F/BW/VNNI (`kernel_i8`); the slice
    // lengths the kernel reads were checked above.
    unsafe { by_m!(x.n, i8_512, p, ks.clone(), x, acc) }
}

fn i8_avx2(p: &Panel<'_, i8>, ks: Range<usize>, x: &Tokens<'_, u8>, acc: &mut Tile) {
    check_i8(p, &ks, x);
    // Three tokens against one group at a time: AVX2 has 16 registers.
    for g in 0..2 {
        let pg = p.group(g);
        let mut t = 0;
        while t < x.n {
            let n = (x.n - t).min(3);
            let xs = x.skip(t, p.blocks);
            let init: [&[f32]; 3] =
                [0, 1, 2].map(|k| &acc[(t + k).min(MR - 1)][g * GROUP..(g + 1) * GROUP]);
            // SAFETY: chosen only when the CPU has AVX2, FMA and AVX-VNNI; the kernel
            // reads `n` token rows from `t` and one group, within the lengths checked above.
            let r = unsafe {
                match n {
                    1 => i8_256::<1>(&pg, ks.clone(), &xs, init),
                    2 => i8_256::<2>(&pg, ks.clone(), &xs, init),
                    _ => i8_256::<3>(&pg, ks.clone(), &xs, init),
                }
            };
            for k in 0..n {
                acc[t + k][g * GROUP..(g + 1) * GROUP].copy_from_slice(&r[k]);
            }
            t += n;
        }
    }
}

fn i16_avx2(p: &Panel<'_, i16>, ks: Range<usize>, x: &Tokens<'_, i16>, acc: &mut Tile) {
    check_i16(p, &ks, x);
    // Three tokens against one group at a time: AVX2 has 16 registers.
    for g in 0..2 {
        let pg = p.group(g);
        let mut t = 0;
        while t < x.n {
            let n = (x.n - t).min(3);
            let xs = x.skip(t, p.blocks);
            let init: [&[f32]; 3] =
                [0, 1, 2].map(|k| &acc[(t + k).min(MR - 1)][g * GROUP..(g + 1) * GROUP]);
            // SAFETY: chosen only when the CPU has AVX2 and FMA; the kernel reads
            // `n` token rows from `t` and one group, within the lengths checked above.
            let r = unsafe {
                match n {
                    1 => i16_256::<1>(&pg, ks.clone(), &xs, init),
                    2 => i16_256::<2>(&pg, ks.clone(), &xs, init),
                    _ => i16_256::<3>(&pg, ks.clone(), &xs, init),
                }
            };
            for k in 0..n {
                acc[t + k][g * GROUP..(g + 1) * GROUP].copy_from_slice(&r[k]);
            }
            t += n;
        }
    }
}

fn f32_avx512(p: &PanelF32<'_>, ks: Range<usize>, x: &[f32], m: usize, acc: &mut Tile) {
    check_f32(p, &ks, x, m);
    // SAFETY: chosen only when the CPU has AVX-512F; lengths checked above.
    unsafe { by_m!(m, f32_512, p, ks.clone(), x, acc) }
}

fn f32_avx2(p: &PanelF32<'_>, ks: Range<usize>, x: &[f32], m: usize, acc: &mut Tile) {
    check_f32(p, &ks, x, m);
    for g in 0..2 {
        let pg = p.group(g);
        let init: [&[f32]; MR] = std::array::from_fn(|t| &acc[t][g * GROUP..(g + 1) * GROUP]);
        let ks = ks.clone();
        // SAFETY: chosen only when the CPU has AVX2 and FMA; the kernel reads `m` token
        // rows and one group, within the lengths checked above.
        let r = unsafe {
            match m {
                0 => [[0f32; GROUP]; MR],
                1 => f32_256::<1>(&pg, ks, x, init),
                2 => f32_256::<2>(&pg, ks, x, init),
                3 => f32_256::<3>(&pg, ks, x, init),
                4 => f32_256::<4>(&pg, ks, x, init),
                5 => f32_256::<5>(&pg, ks, x, init),
                _ => f32_256::<6>(&pg, ks, x, init),
            }
        };
        for k in 0..m {
            acc[k][g * GROUP..(g + 1) * GROUP].copy_from_slice(&r[k]);
        }
    }
}

/// The int16 block loop for `M` tokens x 32 rows; `DP` is the pair dot-accumulate.
#[inline(always)]
unsafe fn i16_512_body<const M: usize>(
    p: &Panel<'_, i16>,
    ks: Range<usize>,
    x: &Tokens<'_, i16>,
    acc: &mut Tile,
    dp: impl Fn(__m512i, __m512i, __m512i) -> __m512i,
) {
    // SAFETY: the caller guarantees the target features and the slice lengths
    // (see the safe wrappers above); every pointer read stays within them.
    unsafe {
        let (blocks, xd) = (p.blocks, x.d);
        let cols = blocks * 32;
        let (w0, w1) = (p.w.as_ptr(), p.w.as_ptr().add(blocks * BLOCK_I16));
        let (d0, d1) = (p.d.as_ptr(), p.d.as_ptr().add(blocks * GROUP));
        let mut accf = [[_mm512_setzero_ps(); 2]; M];
        for t in 0..M {
            accf[t][0] = _mm512_loadu_ps(acc[t].as_ptr());
            accf[t][1] = _mm512_loadu_ps(acc[t].as_ptr().add(GROUP));
        }
        for b in ks {
            let mut acci = [[_mm512_setzero_si512(); 2]; M];
            for q in 0..16 {
                let off = b * BLOCK_I16 + q * 32;
                let wa = _mm512_loadu_si512(w0.add(off).cast());
                let wb = _mm512_loadu_si512(w1.add(off).cast());
                for t in 0..M {
                    let xp = x.q.as_ptr().add(t * cols + b * 32 + 2 * q).cast::<i32>();
                    let xv = _mm512_set1_epi32(xp.read_unaligned());
                    acci[t][0] = dp(acci[t][0], xv, wa);
                    acci[t][1] = dp(acci[t][1], xv, wb);
                }
            }
            let sa = _mm512_loadu_ps(d0.add(b * GROUP));
            let sb = _mm512_loadu_ps(d1.add(b * GROUP));
            for t in 0..M {
                let sx = _mm512_set1_ps(*xd.get_unchecked(t * blocks + b));
                let fa = _mm512_mul_ps(_mm512_cvtepi32_ps(acci[t][0]), sa);
                let fb = _mm512_mul_ps(_mm512_cvtepi32_ps(acci[t][1]), sb);
                accf[t][0] = _mm512_fmadd_ps(fa, sx, accf[t][0]);
                accf[t][1] = _mm512_fmadd_ps(fb, sx, accf[t][1]);
            }
        }
        for t in 0..M {
            _mm512_storeu_ps(acc[t].as_mut_ptr(), accf[t][0]);
            _mm512_storeu_ps(acc[t].as_mut_ptr().add(GROUP), accf[t][1]);
        }
    }
}

/// `acc + a . b` by pairs of int16, as one `vpdpwssd`. Through the intrinsic, LLVM's
/// generic x86-64 tuning (it assumes a slow VNNI unit) splits it into `vpmaddwd` +
/// `vpaddd`: twice the instructions on the kernel's critical port, which held the int16
/// kernel near half of its peak.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn dpwssd(acc: __m512i, a: __m512i, b: __m512i) -> __m512i {
    let mut acc = acc;
    // SAFETY: one register-only instruction; the callers run only where the CPU has
    // AVX-512 VNNI (`kernel_i16`).
    unsafe {
        std::arch::asm!(
            "vpdpwssd {acc}, {a}, {b}",
            acc = inout(zmm_reg) acc,
            a = in(zmm_reg) a,
            b = in(zmm_reg) b,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    acc
}

#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn i16_512_vnni<const M: usize>(
    p: &Panel<'_, i16>,
    ks: Range<usize>,
    x: &Tokens<'_, i16>,
    acc: &mut Tile,
) {
    // SAFETY: the caller guarantees the target features and the slice lengths
    // (see the safe wrappers above); every pointer read stays within them.
    unsafe { i16_512_body::<M>(p, ks, x, acc, |acc, a, b| dpwssd(acc, a, b)) }
}

#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn i16_512_bw<const M: usize>(
    p: &Panel<'_, i16>,
    ks: Range<usize>,
    x: &Tokens<'_, i16>,
    acc: &mut Tile,
) {
    // SAFETY: the caller guarantees the target features and the slice lengths
    // (see the safe wrappers above); every pointer read stays within them.
    unsafe {
        i16_512_body::<M>(p, ks, x, acc, |acc, a, b| {
            _mm512_add_epi32(acc, _mm512_madd_epi16(a, b))
        })
    }
}

/// `M` tokens x one group of 16 rows, AVX2: each pair row of a group is two vectors
/// (rows 0-7, rows 8-15).
#[target_feature(enable = "avx2,fma")]
unsafe fn i16_256<const M: usize>(
    p: &Panel<'_, i16>,
    ks: Range<usize>,
    x: &Tokens<'_, i16>,
    init: [&[f32]; 3],
) -> [[f32; GROUP]; MR] {
    // SAFETY: the caller guarantees the target features and the slice lengths
    // (see the safe wrappers above); every pointer read stays within them.
    unsafe {
        let (w, d, blocks, xd) = (p.w, p.d, p.blocks, x.d);
        let cols = blocks * 32;
        let mut accf = [[_mm256_setzero_ps(); 2]; M];
        for t in 0..M {
            accf[t][0] = _mm256_loadu_ps(init[t].as_ptr());
            accf[t][1] = _mm256_loadu_ps(init[t].as_ptr().add(8));
        }
        for b in ks {
            let mut acci = [[_mm256_setzero_si256(); 2]; M];
            for q in 0..16 {
                let wp = w.as_ptr().add(b * BLOCK_I16 + q * 32);
                let wa = _mm256_loadu_si256(wp.cast());
                let wb = _mm256_loadu_si256(wp.add(16).cast());
                for t in 0..M {
                    let xp = x.q.as_ptr().add(t * cols + b * 32 + 2 * q).cast::<i32>();
                    let xv = _mm256_set1_epi32(xp.read_unaligned());
                    acci[t][0] = _mm256_add_epi32(acci[t][0], _mm256_madd_epi16(xv, wa));
                    acci[t][1] = _mm256_add_epi32(acci[t][1], _mm256_madd_epi16(xv, wb));
                }
            }
            let sa = _mm256_loadu_ps(d.as_ptr().add(b * GROUP));
            let sb = _mm256_loadu_ps(d.as_ptr().add(b * GROUP + 8));
            for t in 0..M {
                let sx = _mm256_set1_ps(*xd.get_unchecked(t * blocks + b));
                let fa = _mm256_mul_ps(_mm256_cvtepi32_ps(acci[t][0]), sa);
                let fb = _mm256_mul_ps(_mm256_cvtepi32_ps(acci[t][1]), sb);
                accf[t][0] = _mm256_fmadd_ps(fa, sx, accf[t][0]);
                accf[t][1] = _mm256_fmadd_ps(fb, sx, accf[t][1]);
            }
        }
        let mut out = [[0f32; GROUP]; MR];
        for t in 0..M {
            _mm256_storeu_ps(out[t].as_mut_ptr(), accf[t][0]);
            _mm256_storeu_ps(out[t].as_mut_ptr().add(8), accf[t][1]);
        }
        out
    }
}

/// int8: `M` tokens x 32 rows with `vpdpbusd` (unsigned activations x signed weights,
/// four products per lane), each block's sum started at its correction `c`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn i8_512<const M: usize>(
    p: &Panel<'_, i8>,
    ks: Range<usize>,
    x: &Tokens<'_, u8>,
    acc: &mut Tile,
) {
    // SAFETY: the caller guarantees the target features and the slice lengths
    // (see the safe wrappers above); every pointer read stays within them.
    unsafe {
        let (blocks, xd) = (p.blocks, x.d);
        let cols = blocks * 32;
        let (w0, w1) = (p.w.as_ptr(), p.w.as_ptr().add(blocks * BLOCK_I8));
        let (c0, c1) = (p.c.as_ptr(), p.c.as_ptr().add(blocks * GROUP));
        let (d0, d1) = (p.d.as_ptr(), p.d.as_ptr().add(blocks * GROUP));
        let mut accf = [[_mm512_setzero_ps(); 2]; M];
        for t in 0..M {
            accf[t][0] = _mm512_loadu_ps(acc[t].as_ptr());
            accf[t][1] = _mm512_loadu_ps(acc[t].as_ptr().add(GROUP));
        }
        for b in ks {
            let ca = _mm512_loadu_si512(c0.add(b * GROUP).cast());
            let cb = _mm512_loadu_si512(c1.add(b * GROUP).cast());
            let mut acci = [[ca, cb]; M];
            for q in 0..8 {
                let off = b * BLOCK_I8 + q * 64;
                let wa = _mm512_loadu_si512(w0.add(off).cast());
                let wb = _mm512_loadu_si512(w1.add(off).cast());
                for t in 0..M {
                    let xp = x.q.as_ptr().add(t * cols + b * 32 + 4 * q).cast::<i32>();
                    let xv = _mm512_set1_epi32(xp.read_unaligned());
                    acci[t][0] = _mm512_dpbusd_epi32(acci[t][0], xv, wa);
                    acci[t][1] = _mm512_dpbusd_epi32(acci[t][1], xv, wb);
                }
            }
            let sa = _mm512_loadu_ps(d0.add(b * GROUP));
            let sb = _mm512_loadu_ps(d1.add(b * GROUP));
            for t in 0..M {
                let sx = _mm512_set1_ps(*xd.get_unchecked(t * blocks + b));
                let fa = _mm512_cvtepi32_ps(acci[t][0]);
                let fb = _mm512_cvtepi32_ps(acci[t][1]);
                accf[t][0] = _mm512_add_ps(_mm512_mul_ps(fa, _mm512_mul_ps(sa, sx)), accf[t][0]);
                accf[t][1] = _mm512_add_ps(_mm512_mul_ps(fb, _mm512_mul_ps(sb, sx)), accf[t][1]);
            }
        }
        for t in 0..M {
            _mm512_storeu_ps(acc[t].as_mut_ptr(), accf[t][0]);
            _mm512_storeu_ps(acc[t].as_mut_ptr().add(GROUP), accf[t][1]);
        }
    }
}

/// int8, AVX-VNNI: `M` tokens x one group of 16 rows (each quad row of a group is two
/// vectors: rows 0-7, rows 8-15).
#[target_feature(enable = "avx2,fma,avxvnni")]
unsafe fn i8_256<const M: usize>(
    p: &Panel<'_, i8>,
    ks: Range<usize>,
    x: &Tokens<'_, u8>,
    init: [&[f32]; 3],
) -> [[f32; GROUP]; MR] {
    // SAFETY: the caller guarantees the target features and the slice lengths
    // (see the safe wrappers above); every pointer read stays within them.
    unsafe {
        let (w, c, d, blocks, xd) = (p.w, p.c, p.d, p.blocks, x.d);
        let cols = blocks * 32;
        let mut accf = [[_mm256_setzero_ps(); 2]; M];
        for t in 0..M {
            accf[t][0] = _mm256_loadu_ps(init[t].as_ptr());
            accf[t][1] = _mm256_loadu_ps(init[t].as_ptr().add(8));
        }
        for b in ks {
            let ca = _mm256_loadu_si256(c.as_ptr().add(b * GROUP).cast());
            let cb = _mm256_loadu_si256(c.as_ptr().add(b * GROUP + 8).cast());
            let mut acci = [[ca, cb]; M];
            for q in 0..8 {
                let wp = w.as_ptr().add(b * BLOCK_I8 + q * 64);
                let wa = _mm256_loadu_si256(wp.cast());
                let wb = _mm256_loadu_si256(wp.add(32).cast());
                for t in 0..M {
                    let xp = x.q.as_ptr().add(t * cols + b * 32 + 4 * q).cast::<i32>();
                    let xv = _mm256_set1_epi32(xp.read_unaligned());
                    acci[t][0] = _mm256_dpbusd_avx_epi32(acci[t][0], xv, wa);
                    acci[t][1] = _mm256_dpbusd_avx_epi32(acci[t][1], xv, wb);
                }
            }
            let sa = _mm256_loadu_ps(d.as_ptr().add(b * GROUP));
            let sb = _mm256_loadu_ps(d.as_ptr().add(b * GROUP + 8));
            for t in 0..M {
                let sx = _mm256_set1_ps(*xd.get_unchecked(t * blocks + b));
                let fa = _mm256_cvtepi32_ps(acci[t][0]);
                let fb = _mm256_cvtepi32_ps(acci[t][1]);
                accf[t][0] = _mm256_add_ps(_mm256_mul_ps(fa, _mm256_mul_ps(sa, sx)), accf[t][0]);
                accf[t][1] = _mm256_add_ps(_mm256_mul_ps(fb, _mm256_mul_ps(sb, sx)), accf[t][1]);
            }
        }
        let mut out = [[0f32; GROUP]; MR];
        for t in 0..M {
            _mm256_storeu_ps(out[t].as_mut_ptr(), accf[t][0]);
            _mm256_storeu_ps(out[t].as_mut_ptr().add(8), accf[t][1]);
        }
        out
    }
}

/// f32: `M` tokens x 32 rows, one fused multiply-add per product in k order.
#[target_feature(enable = "avx512f")]
unsafe fn f32_512<const M: usize>(
    p: &PanelF32<'_>,
    ks: Range<usize>,
    x: &[f32],
    acc_io: &mut Tile,
) {
    // SAFETY: the caller guarantees the target features and the slice lengths
    // (see the safe wrappers above); every pointer read stays within them.
    unsafe {
        let cols = p.cols;
        let (w0, w1) = (p.w.as_ptr(), p.w.as_ptr().add(cols * GROUP));
        let mut acc = [[_mm512_setzero_ps(); 2]; M];
        for t in 0..M {
            acc[t][0] = _mm512_loadu_ps(acc_io[t].as_ptr());
            acc[t][1] = _mm512_loadu_ps(acc_io[t].as_ptr().add(GROUP));
        }
        for k in ks {
            let wa = _mm512_loadu_ps(w0.add(k * GROUP));
            let wb = _mm512_loadu_ps(w1.add(k * GROUP));
            for t in 0..M {
                let xv = _mm512_set1_ps(*x.get_unchecked(t * cols + k));
                acc[t][0] = _mm512_fmadd_ps(wa, xv, acc[t][0]);
                acc[t][1] = _mm512_fmadd_ps(wb, xv, acc[t][1]);
            }
        }
        for t in 0..M {
            _mm512_storeu_ps(acc_io[t].as_mut_ptr(), acc[t][0]);
            _mm512_storeu_ps(acc_io[t].as_mut_ptr().add(GROUP), acc[t][1]);
        }
    }
}

/// f32, AVX2: `M` tokens x one group of 16 rows.
#[target_feature(enable = "avx2,fma")]
unsafe fn f32_256<const M: usize>(
    p: &PanelF32<'_>,
    ks: Range<usize>,
    x: &[f32],
    init: [&[f32]; MR],
) -> [[f32; GROUP]; MR] {
    // SAFETY: the caller guarantees the target features and the slice lengths
    // (see the safe wrappers above); every pointer read stays within them.
    unsafe {
        let (w, cols) = (p.w, p.cols);
        let mut acc = [[_mm256_setzero_ps(); 2]; M];
        for t in 0..M {
            acc[t][0] = _mm256_loadu_ps(init[t].as_ptr());
            acc[t][1] = _mm256_loadu_ps(init[t].as_ptr().add(8));
        }
        for k in ks {
            let wa = _mm256_loadu_ps(w.as_ptr().add(k * GROUP));
            let wb = _mm256_loadu_ps(w.as_ptr().add(k * GROUP + 8));
            for t in 0..M {
                let xv = _mm256_set1_ps(*x.get_unchecked(t * cols + k));
                acc[t][0] = _mm256_fmadd_ps(wa, xv, acc[t][0]);
                acc[t][1] = _mm256_fmadd_ps(wb, xv, acc[t][1]);
            }
        }
        let mut out = [[0f32; GROUP]; MR];
        for t in 0..M {
            _mm256_storeu_ps(out[t].as_mut_ptr(), acc[t][0]);
            _mm256_storeu_ps(out[t].as_mut_ptr().add(8), acc[t][1]);
        }
        out
    }
}

/// The register-only loop of the instruction the path's kernel for `arith` multiplies
/// with ([`crate::peak`]): the same choice as [`kernel_i16`], [`kernel_i8`] and
/// [`kernel_f32`].
pub(super) fn spin(path: SimdPath, arith: Arithmetic) -> Option<Spin> {
    let s = |name, macs_per_round, run| {
        Some(Spin {
            name,
            macs_per_round,
            run,
        })
    };
    // Twelve independent accumulators a round: enough to cover a latency of four or
    // five cycles on two or three pipes.
    match (arith, path) {
        (Arithmetic::Int16, Avx512) if has_vnni() => s("avx512-vnni", 12 * 32, spin_dpwssd_512),
        (Arithmetic::Int16, Avx512) if has_avx512() => s("avx512bw", 12 * 32, spin_maddwd_512),
        (Arithmetic::Int16, Avx512 | Avx2) if has_avx2() => s("avx2", 6 * 16, spin_maddwd_256),
        (Arithmetic::Int8, Avx512) if has_vnni() => s("avx512-vnni", 12 * 64, spin_dpbusd_512),
        (Arithmetic::Int8, Avx512 | Avx2) if has_avx_vnni() => {
            s("avx-vnni", 12 * 32, spin_dpbusd_256)
        }
        (Arithmetic::F32, Avx512) if has_avx512() => s("avx512", 12 * 16, spin_fma_512),
        (Arithmetic::F32, Avx512 | Avx2) if has_avx2() => s("avx2", 12 * 8, spin_fma_256),
        _ => None,
    }
}

/// `rounds` rounds of the instructions `$body` (a string of them), on registers only;
/// `$reg` are the registers they write or read.
macro_rules! spin_fn {
    ($name:ident, $features:literal, $init:literal, $body:literal, [$($reg:tt),*]) => {
        fn $name(rounds: u64) {
            assert!(
                $features.split(',').all(|f| match f {
                    "avx512f" => has_avx512(),
                    "avx512vnni" => has_vnni(),
                    "avxvnni" => has_avx_vnni(),
                    _ => has_avx2(),
                }),
                "the CPU lacks {}",
                $features
            );
            #[target_feature(enable = $features)]
            unsafe fn spin(rounds: u64) {
                // SAFETY: register-only instructions of the features enabled here, in a
                // counted loop; no memory is touched and no stack is used.
                unsafe {
                    std::arch::asm!(
                        $init,
                        "2:",
                        $body,
                        "dec {n}",
                        "jnz 2b",
                        n = inout(reg) rounds.max(1) => _,
                        $(out($reg) _,)*
                        options(nomem, nostack)
                    );
                }
            }
            // SAFETY: the features were checked above.
            unsafe { spin(rounds) }
        }
    };
}

spin_fn!(
    spin_dpwssd_512,
    "avx512f,avx512bw,avx512vnni",
    "vpxord zmm12, zmm12, zmm12\nvpxord zmm13, zmm13, zmm13",
    "vpdpwssd zmm0, zmm12, zmm13\nvpdpwssd zmm1, zmm12, zmm13\nvpdpwssd zmm2, zmm12, zmm13
     vpdpwssd zmm3, zmm12, zmm13\nvpdpwssd zmm4, zmm12, zmm13\nvpdpwssd zmm5, zmm12, zmm13
     vpdpwssd zmm6, zmm12, zmm13\nvpdpwssd zmm7, zmm12, zmm13\nvpdpwssd zmm8, zmm12, zmm13
     vpdpwssd zmm9, zmm12, zmm13\nvpdpwssd zmm10, zmm12, zmm13\nvpdpwssd zmm11, zmm12, zmm13",
    [
        "zmm0", "zmm1", "zmm2", "zmm3", "zmm4", "zmm5", "zmm6", "zmm7", "zmm8", "zmm9", "zmm10",
        "zmm11", "zmm12", "zmm13"
    ]
);

spin_fn!(
    spin_maddwd_512,
    "avx512f,avx512bw",
    "vpxord zmm24, zmm24, zmm24\nvpxord zmm25, zmm25, zmm25",
    "vpmaddwd zmm12, zmm24, zmm25\nvpaddd zmm0, zmm0, zmm12\nvpmaddwd zmm13, zmm24, zmm25\nvpaddd zmm1, zmm1, zmm13
     vpmaddwd zmm14, zmm24, zmm25\nvpaddd zmm2, zmm2, zmm14\nvpmaddwd zmm15, zmm24, zmm25\nvpaddd zmm3, zmm3, zmm15
     vpmaddwd zmm16, zmm24, zmm25\nvpaddd zmm4, zmm4, zmm16\nvpmaddwd zmm17, zmm24, zmm25\nvpaddd zmm5, zmm5, zmm17
     vpmaddwd zmm18, zmm24, zmm25\nvpaddd zmm6, zmm6, zmm18\nvpmaddwd zmm19, zmm24, zmm25\nvpaddd zmm7, zmm7, zmm19
     vpmaddwd zmm20, zmm24, zmm25\nvpaddd zmm8, zmm8, zmm20\nvpmaddwd zmm21, zmm24, zmm25\nvpaddd zmm9, zmm9, zmm21
     vpmaddwd zmm22, zmm24, zmm25\nvpaddd zmm10, zmm10, zmm22\nvpmaddwd zmm23, zmm24, zmm25\nvpaddd zmm11, zmm11, zmm23",
    ["zmm0", "zmm1", "zmm2", "zmm3", "zmm4", "zmm5", "zmm6", "zmm7", "zmm8", "zmm9", "zmm10", "zmm11",
     "zmm12", "zmm13", "zmm14", "zmm15", "zmm16", "zmm17", "zmm18", "zmm19", "zmm20", "zmm21", "zmm22", "zmm23",
     "zmm24", "zmm25"]
);

// AVX2 has 16 registers: six accumulators, six products, two operands.
spin_fn!(
    spin_maddwd_256,
    "avx2,fma",
    "vpxor ymm12, ymm12, ymm12\nvpxor ymm13, ymm13, ymm13",
    "vpmaddwd ymm6, ymm12, ymm13\nvpaddd ymm0, ymm0, ymm6\nvpmaddwd ymm7, ymm12, ymm13\nvpaddd ymm1, ymm1, ymm7
     vpmaddwd ymm8, ymm12, ymm13\nvpaddd ymm2, ymm2, ymm8\nvpmaddwd ymm9, ymm12, ymm13\nvpaddd ymm3, ymm3, ymm9
     vpmaddwd ymm10, ymm12, ymm13\nvpaddd ymm4, ymm4, ymm10\nvpmaddwd ymm11, ymm12, ymm13\nvpaddd ymm5, ymm5, ymm11",
    ["ymm0", "ymm1", "ymm2", "ymm3", "ymm4", "ymm5", "ymm6", "ymm7", "ymm8", "ymm9", "ymm10", "ymm11", "ymm12", "ymm13"]
);

spin_fn!(
    spin_dpbusd_512,
    "avx512f,avx512bw,avx512vnni",
    "vpxord zmm12, zmm12, zmm12\nvpxord zmm13, zmm13, zmm13",
    "vpdpbusd zmm0, zmm12, zmm13\nvpdpbusd zmm1, zmm12, zmm13\nvpdpbusd zmm2, zmm12, zmm13
     vpdpbusd zmm3, zmm12, zmm13\nvpdpbusd zmm4, zmm12, zmm13\nvpdpbusd zmm5, zmm12, zmm13
     vpdpbusd zmm6, zmm12, zmm13\nvpdpbusd zmm7, zmm12, zmm13\nvpdpbusd zmm8, zmm12, zmm13
     vpdpbusd zmm9, zmm12, zmm13\nvpdpbusd zmm10, zmm12, zmm13\nvpdpbusd zmm11, zmm12, zmm13",
    [
        "zmm0", "zmm1", "zmm2", "zmm3", "zmm4", "zmm5", "zmm6", "zmm7", "zmm8", "zmm9", "zmm10",
        "zmm11", "zmm12", "zmm13"
    ]
);

// The VEX encoding, as the AVX-VNNI kernel's intrinsic compiles to.
spin_fn!(
    spin_dpbusd_256,
    "avx2,fma,avxvnni",
    "vpxor ymm12, ymm12, ymm12\nvpxor ymm13, ymm13, ymm13",
    "{{vex}} vpdpbusd ymm0, ymm12, ymm13\n{{vex}} vpdpbusd ymm1, ymm12, ymm13\n{{vex}} vpdpbusd ymm2, ymm12, ymm13
     {{vex}} vpdpbusd ymm3, ymm12, ymm13\n{{vex}} vpdpbusd ymm4, ymm12, ymm13\n{{vex}} vpdpbusd ymm5, ymm12, ymm13
     {{vex}} vpdpbusd ymm6, ymm12, ymm13\n{{vex}} vpdpbusd ymm7, ymm12, ymm13\n{{vex}} vpdpbusd ymm8, ymm12, ymm13
     {{vex}} vpdpbusd ymm9, ymm12, ymm13\n{{vex}} vpdpbusd ymm10, ymm12, ymm13\n{{vex}} vpdpbusd ymm11, ymm12, ymm13",
    ["ymm0", "ymm1", "ymm2", "ymm3", "ymm4", "ymm5", "ymm6", "ymm7", "ymm8", "ymm9", "ymm10", "ymm11", "ymm12", "ymm13"]
);

// Every register starts at zero: no denormal ever reaches the multiplier.
spin_fn!(
    spin_fma_512,
    "avx512f",
    "vpxord zmm0, zmm0, zmm0\nvpxord zmm1, zmm1, zmm1\nvpxord zmm2, zmm2, zmm2\nvpxord zmm3, zmm3, zmm3
     vpxord zmm4, zmm4, zmm4\nvpxord zmm5, zmm5, zmm5\nvpxord zmm6, zmm6, zmm6\nvpxord zmm7, zmm7, zmm7
     vpxord zmm8, zmm8, zmm8\nvpxord zmm9, zmm9, zmm9\nvpxord zmm10, zmm10, zmm10\nvpxord zmm11, zmm11, zmm11
     vpxord zmm12, zmm12, zmm12\nvpxord zmm13, zmm13, zmm13",
    "vfmadd231ps zmm0, zmm12, zmm13\nvfmadd231ps zmm1, zmm12, zmm13\nvfmadd231ps zmm2, zmm12, zmm13
     vfmadd231ps zmm3, zmm12, zmm13\nvfmadd231ps zmm4, zmm12, zmm13\nvfmadd231ps zmm5, zmm12, zmm13
     vfmadd231ps zmm6, zmm12, zmm13\nvfmadd231ps zmm7, zmm12, zmm13\nvfmadd231ps zmm8, zmm12, zmm13
     vfmadd231ps zmm9, zmm12, zmm13\nvfmadd231ps zmm10, zmm12, zmm13\nvfmadd231ps zmm11, zmm12, zmm13",
    ["zmm0", "zmm1", "zmm2", "zmm3", "zmm4", "zmm5", "zmm6", "zmm7", "zmm8", "zmm9", "zmm10", "zmm11", "zmm12", "zmm13"]
);

spin_fn!(
    spin_fma_256,
    "avx2,fma",
    "vpxor ymm0, ymm0, ymm0\nvpxor ymm1, ymm1, ymm1\nvpxor ymm2, ymm2, ymm2\nvpxor ymm3, ymm3, ymm3
     vpxor ymm4, ymm4, ymm4\nvpxor ymm5, ymm5, ymm5\nvpxor ymm6, ymm6, ymm6\nvpxor ymm7, ymm7, ymm7
     vpxor ymm8, ymm8, ymm8\nvpxor ymm9, ymm9, ymm9\nvpxor ymm10, ymm10, ymm10\nvpxor ymm11, ymm11, ymm11
     vpxor ymm12, ymm12, ymm12\nvpxor ymm13, ymm13, ymm13",
    "vfmadd231ps ymm0, ymm12, ymm13\nvfmadd231ps ymm1, ymm12, ymm13\nvfmadd231ps ymm2, ymm12, ymm13
     vfmadd231ps ymm3, ymm12, ymm13\nvfmadd231ps ymm4, ymm12, ymm13\nvfmadd231ps ymm5, ymm12, ymm13
     vfmadd231ps ymm6, ymm12, ymm13\nvfmadd231ps ymm7, ymm12, ymm13\nvfmadd231ps ymm8, ymm12, ymm13
     vfmadd231ps ymm9, ymm12, ymm13\nvfmadd231ps ymm10, ymm12, ymm13\nvfmadd231ps ymm11, ymm12, ymm13",
    ["ymm0", "ymm1", "ymm2", "ymm3", "ymm4", "ymm5", "ymm6", "ymm7", "ymm8", "ymm9", "ymm10", "ymm11", "ymm12", "ymm13"]
);
