//! The kernels of [`crate::gemm`] per instruction set, and the one safe place that picks
//! them. The portable (scalar) kernels live in `gemm.rs` and define the arithmetic; each
//! module here is a thin translation of them to one instruction set, tested against them
//! bit for bit (`tests` below and `tests/quant.rs`).
//!
//! The choice follows the kernel path in force ([`crate::simd_path`], or the one forced
//! with [`crate::with_path`] / `GGML_QUANT_SIMD`): `avx512` uses AVX-512 with VNNI
//! (`vpdpwssd`) when the CPU has it and AVX-512BW (`vpmaddwd`) otherwise; `avx2` uses
//! AVX2+FMA; anything else uses the portable kernels. The int8 kernels need `vpdpbusd`:
//! AVX-512 VNNI on the `avx512` path, the VEX-coded AVX-VNNI (256-bit) on `avx2` (and on
//! `avx512` without AVX-512 VNNI); a CPU with neither runs the portable int8 kernel.

use std::ops::Range;

use crate::gemm::{self, BLOCK_I8, BLOCK_I16, GROUP, MR, Tile};
use crate::kernels;

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86_64;

#[cfg(target_arch = "aarch64")]
#[allow(unsafe_code)]
mod aarch64;

/// An int16 kernel: (panel weights, panel scales, blocks, blocks to add, token quants,
/// token scales, tokens, accumulators updated in place).
pub(crate) type KernelI16 =
    fn(&[i16], &[f32], usize, Range<usize>, &[i16], &[f32], usize, &mut Tile);
/// An int8 kernel: (panel weights, panel block corrections, panel scales, blocks,
/// blocks to add, token quants + 128, token scales, tokens, accumulators updated in place).
pub(crate) type KernelI8 =
    fn(&[i8], &[i32], &[f32], usize, Range<usize>, &[u8], &[f32], usize, &mut Tile);
/// An f32 kernel: (panel weights, cols, k to add, tokens, token count, accumulators
/// updated in place).
pub(crate) type KernelF32 = fn(&[f32], usize, Range<usize>, &[f32], usize, &mut Tile);

/// The int16 kernel for the path in force on this thread.
pub(crate) fn kernel_i16() -> KernelI16 {
    #[cfg(target_arch = "x86_64")]
    if let Some(k) = x86_64::kernel_i16(kernels::path()) {
        return k;
    }
    #[cfg(target_arch = "aarch64")]
    if let Some(k) = aarch64::kernel_i16(kernels::path()) {
        return k;
    }
    gemm::kernel_i16_scalar
}

/// An activation quantizer: (values, quants, block scales), whole blocks of 32.
pub(crate) type Quantize<T> = fn(&[f32], &mut [T], &mut [f32]);

/// [`gemm::quantize_i16_body`] written for the path in force, where there is one.
pub(crate) fn quantize_i16() -> Option<Quantize<i16>> {
    #[cfg(target_arch = "x86_64")]
    if let Some(f) = x86_64::quantize_i16(kernels::path()) {
        return Some(f);
    }
    None
}

/// [`gemm::quantize_u8_body`] written for the path in force, where there is one.
pub(crate) fn quantize_u8() -> Option<Quantize<u8>> {
    #[cfg(target_arch = "x86_64")]
    if let Some(f) = x86_64::quantize_u8(kernels::path()) {
        return Some(f);
    }
    None
}

/// The int8 kernel for the path in force on this thread.
pub(crate) fn kernel_i8() -> KernelI8 {
    #[cfg(target_arch = "x86_64")]
    if let Some(k) = x86_64::kernel_i8(kernels::path()) {
        return k;
    }
    #[cfg(target_arch = "aarch64")]
    if let Some(k) = aarch64::kernel_i8(kernels::path()) {
        return k;
    }
    gemm::kernel_i8_scalar
}

/// The f32 kernel for the path in force on this thread.
pub(crate) fn kernel_f32() -> KernelF32 {
    #[cfg(target_arch = "x86_64")]
    if let Some(k) = x86_64::kernel_f32(kernels::path()) {
        return k;
    }
    #[cfg(target_arch = "aarch64")]
    if let Some(k) = aarch64::kernel_f32(kernels::path()) {
        return k;
    }
    gemm::kernel_f32_scalar
}

/// The name of the int16 kernel the path in force uses (benchmarks report it).
pub fn kernel_i16_name() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    if let Some(n) = x86_64::kernel_i16_name(kernels::path()) {
        return n;
    }
    #[cfg(target_arch = "aarch64")]
    if let Some(n) = aarch64::kernel_i16_name(kernels::path()) {
        return n;
    }
    "scalar"
}

/// The name of the int8 kernel the path in force uses (benchmarks report it).
pub fn kernel_i8_name() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    if let Some(n) = x86_64::kernel_i8_name(kernels::path()) {
        return n;
    }
    #[cfg(target_arch = "aarch64")]
    if let Some(n) = aarch64::kernel_i8_name(kernels::path()) {
        return n;
    }
    "scalar"
}

/// Panics unless the slices hold what an int16 kernel call reads.
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
pub(crate) fn check_i16(
    w: &[i16],
    d: &[f32],
    blocks: usize,
    ks: &Range<usize>,
    x: &[i16],
    xd: &[f32],
    m: usize,
) {
    assert!(m <= MR && ks.start <= ks.end && ks.end <= blocks);
    assert!(w.len() >= 2 * blocks * BLOCK_I16 && d.len() >= 2 * blocks * GROUP);
    assert!(x.len() >= m * blocks * 32 && xd.len() >= m * blocks);
}

/// Panics unless the slices hold what an int8 kernel call reads.
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
#[allow(clippy::too_many_arguments)] // the kernel's own arguments
pub(crate) fn check_i8(
    w: &[i8],
    c: &[i32],
    d: &[f32],
    blocks: usize,
    ks: &Range<usize>,
    x: &[u8],
    xd: &[f32],
    m: usize,
) {
    assert!(m <= MR && ks.start <= ks.end && ks.end <= blocks);
    assert!(w.len() >= 2 * blocks * BLOCK_I8);
    assert!(c.len() >= 2 * blocks * GROUP && d.len() >= 2 * blocks * GROUP);
    assert!(x.len() >= m * blocks * 32 && xd.len() >= m * blocks);
}

/// Panics unless the slices hold what an f32 kernel call reads.
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
pub(crate) fn check_f32(w: &[f32], cols: usize, ks: &Range<usize>, x: &[f32], m: usize) {
    assert!(m <= MR && ks.start <= ks.end && ks.end <= cols);
    assert!(w.len() >= 2 * cols * GROUP && x.len() >= m * cols);
}
