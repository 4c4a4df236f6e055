//! The kernels of [`crate::gemm`] per instruction set, and the one safe place that picks
//! them. The portable kernels (`gemm/reference.rs`) define the arithmetic; each module
//! here is a thin translation of them to one instruction set, tested against them bit
//! for bit (the proptests of `gemm/schedule.rs` and `gemm/activations.rs`).
//!
//! The choice follows the [`SimdPath`](crate::SimdPath) in force ([`crate::simd_path`], or the one forced
//! with [`crate::with_path`] / `GGML_QUANT_SIMD`): `avx512` uses AVX-512 with VNNI
//! (`vpdpwssd`) when the CPU has it and AVX-512BW (`vpmaddwd`) otherwise; `avx2` uses
//! AVX2+FMA; the NEON paths use NEON; anything else the portable kernels. The int8
//! kernels need `vpdpbusd`: AVX-512 VNNI on the `avx512` path, the VEX-coded AVX-VNNI
//! (256-bit) on `avx2` (and on `avx512` without AVX-512 VNNI); a CPU with neither runs
//! the portable int8 kernel.
//!
//! Each kernel here is a safe function that checks, before its `unsafe` block, every
//! length it reads ([`check_i16`], [`check_i8`], [`check_f32`]), and is handed out only
//! for a path whose features the CPU has.

use std::ops::Range;

use crate::gemm::{
    BLOCK_I8, BLOCK_I16, GROUP, KernelF32, KernelI8, KernelI16, MR, Panel, PanelF32, Tokens,
    reference,
};
use crate::simd;

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86_64;

#[cfg(target_arch = "aarch64")]
#[allow(unsafe_code)]
mod aarch64;

/// An activation quantizer: (values, quants, block scales), whole blocks of 32.
pub(crate) type Quantize<T> = fn(&[f32], &mut [T], &mut [f32]);

/// The int16 kernel for the path in force on this thread.
pub(crate) fn kernel_i16() -> KernelI16 {
    #[cfg(target_arch = "x86_64")]
    if let Some(k) = x86_64::kernel_i16(simd::path()) {
        return k;
    }
    #[cfg(target_arch = "aarch64")]
    if let Some(k) = aarch64::kernel_i16(simd::path()) {
        return k;
    }
    reference::kernel_i16
}

/// The int8 kernel for the path in force on this thread.
pub(crate) fn kernel_i8() -> KernelI8 {
    #[cfg(target_arch = "x86_64")]
    if let Some(k) = x86_64::kernel_i8(simd::path()) {
        return k;
    }
    #[cfg(target_arch = "aarch64")]
    if let Some(k) = aarch64::kernel_i8(simd::path()) {
        return k;
    }
    reference::kernel_i8
}

/// The f32 kernel for the path in force on this thread.
pub(crate) fn kernel_f32() -> KernelF32 {
    #[cfg(target_arch = "x86_64")]
    if let Some(k) = x86_64::kernel_f32(simd::path()) {
        return k;
    }
    #[cfg(target_arch = "aarch64")]
    if let Some(k) = aarch64::kernel_f32(simd::path()) {
        return k;
    }
    reference::kernel_f32
}

/// A Q8_0 group packer: up to 16 rows of Q8_0 blocks (`blocks` of them each) packed
/// into one group of [`crate::gemm::pack::PackedI16`] (weights `w`, scales `d`; rows
/// past the slice zero). The portable packer (`PackedI16::pack` through `unpack_row`)
/// defines the layout; these read the blocks as they are, a 16 x 16 transpose of int16
/// pairs per block in registers. The second argument is the bytes the next group will
/// read, prefetched as this one goes (sixteen row streams at once are more than the
/// hardware prefetchers follow: without it the packer waits on memory).
pub(crate) type PackQ8_0I16 = fn(&[&[u8]], &[u8], usize, &mut [i16], &mut [f32]);

/// The Q8_0 group packer for the path in force, where there is one.
pub(crate) fn pack_q8_0_i16() -> Option<PackQ8_0I16> {
    #[cfg(target_arch = "x86_64")]
    if let Some(f) = x86_64::pack_q8_0_i16(simd::path()) {
        return Some(f);
    }
    None
}

/// Panics unless `rows` (at most 16) hold `blocks` Q8_0 blocks each and the group's
/// `w` and `d` hold `blocks` packed blocks.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) fn check_pack_q8_0(rows: &[&[u8]], blocks: usize, w: &[i16], d: &[f32]) {
    let bytes = blocks * std::mem::size_of::<crate::blocks::BlockQ8_0>();
    assert!(rows.len() <= GROUP && rows.iter().all(|r| r.len() >= bytes));
    assert!(w.len() >= blocks * BLOCK_I16 && d.len() >= blocks * GROUP);
}

/// `gemm::activations::quantize_i16_body` written for the path in force, where there
/// is one.
pub(crate) fn quantize_i16() -> Option<Quantize<i16>> {
    #[cfg(target_arch = "x86_64")]
    if let Some(f) = x86_64::quantize_i16(simd::path()) {
        return Some(f);
    }
    None
}

/// `gemm::activations::quantize_u8_body` written for the path in force, where there is
/// one.
pub(crate) fn quantize_u8() -> Option<Quantize<u8>> {
    #[cfg(target_arch = "x86_64")]
    if let Some(f) = x86_64::quantize_u8(simd::path()) {
        return Some(f);
    }
    None
}

/// The name of the int16 kernel the path in force uses (benchmarks report it):
/// `avx512-vnni`, `avx512bw`, `avx2`, `neon` or `scalar`.
pub fn kernel_i16_name() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    if let Some(n) = x86_64::kernel_i16_name(simd::path()) {
        return n;
    }
    #[cfg(target_arch = "aarch64")]
    if let Some(n) = aarch64::kernel_i16_name(simd::path()) {
        return n;
    }
    "scalar"
}

/// The name of the int8 kernel the path in force uses (benchmarks report it):
/// `avx512-vnni`, `avx-vnni`, `neon-dotprod`, `neon` or `scalar`.
pub fn kernel_i8_name() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    if let Some(n) = x86_64::kernel_i8_name(simd::path()) {
        return n;
    }
    #[cfg(target_arch = "aarch64")]
    if let Some(n) = aarch64::kernel_i8_name(simd::path()) {
        return n;
    }
    "scalar"
}

/// The register-only loop of the multiply instruction the path in force runs for
/// `arith` ([`crate::peak`]); `None` where that is the portable kernel (and on aarch64,
/// which has no loops yet).
pub(crate) fn spin(arith: crate::peak::Arithmetic) -> Option<crate::peak::Spin> {
    #[cfg(target_arch = "x86_64")]
    return x86_64::spin(simd::path(), arith);
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = arith;
        None
    }
}

/// Panics unless the panel and tokens hold what an int16 kernel call on blocks `ks`
/// reads.
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
pub(crate) fn check_i16(p: &Panel<'_, i16>, ks: &Range<usize>, x: &Tokens<'_, i16>) {
    let blocks = p.blocks;
    assert!(x.n <= MR && ks.start <= ks.end && ks.end <= blocks);
    assert!(p.w.len() >= 2 * blocks * BLOCK_I16 && p.d.len() >= 2 * blocks * GROUP);
    assert!(x.q.len() >= x.n * blocks * 32 && x.d.len() >= x.n * blocks);
}

/// Panics unless the panel and tokens hold what an int8 kernel call on blocks `ks`
/// reads.
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
pub(crate) fn check_i8(p: &Panel<'_, i8>, ks: &Range<usize>, x: &Tokens<'_, u8>) {
    let blocks = p.blocks;
    assert!(x.n <= MR && ks.start <= ks.end && ks.end <= blocks);
    assert!(p.w.len() >= 2 * blocks * BLOCK_I8);
    assert!(p.c.len() >= 2 * blocks * GROUP && p.d.len() >= 2 * blocks * GROUP);
    assert!(x.q.len() >= x.n * blocks * 32 && x.d.len() >= x.n * blocks);
}

/// Panics unless the panel and the `n` token rows of `x` hold what an f32 kernel call
/// on `ks` reads.
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
pub(crate) fn check_f32(p: &PanelF32<'_>, ks: &Range<usize>, x: &[f32], n: usize) {
    assert!(n <= MR && ks.start <= ks.end && ks.end <= p.cols);
    assert!(p.w.len() >= 2 * p.cols * GROUP && x.len() >= n * p.cols);
}
