//! ggml's block formats, and the kernels that compute with them.
//!
//! This crate's one job is the numeric core under a GGUF model: the block layouts
//! (`#[repr(C)]`, size-checked at compile time, readable from GGUF bytes without a copy),
//! converting rows to and from them bit-exactly as ggml does, and — as the runtime grows —
//! dot products and matrix multiplication on the blocks.
//!
//! - [`blocks`]: [`BlockQ8_0`], [`BlockQ4_0`], [`BlockQ4_1`], [`BlockQ5_0`], [`BlockQ5_1`],
//!   and the K-quants' super-blocks of 256: [`BlockQ4K`], [`BlockQ5K`], [`BlockQ6K`], [`BlockQ8K`].
//! - [`quantize_row`] / [`dequantize_row`]: one row of f32 to or from a [`QuantType`],
//!   mirroring ggml's `quantize_row_*_ref` and `dequantize_row_*`.
//! - [`Matrix`] and [`matmul()`] / [`matmul_with`]: `Y = X * W^T` with `W` in its GGUF
//!   type and the activations as ggml does ([`Activations::Native`]: Q8_0, Q8_1 or Q8_K
//!   by weight type), in int16 ([`Activations::Int16`]: exact VNNI block sums, f32
//!   accuracy) or in f32; kernels
//!   chosen at run time ([`simd_path`], [`kernel_i16_name`], forced lower with
//!   `GGML_QUANT_SIMD`), each bit-identical with the portable one.
//! - [`PackedWeights`]: a weight matrix packed once for many products.
//! - [`PackedMatrix`]: an f32 matrix packed once for many products on one thread
//!   (attention's keys and values).
//! - [`Error`]: the crate's one error type.
//!
//! # Example
//!
//! ```
//! use ggml_quant::{QuantType, dequantize_row, quantize_row};
//!
//! let row: Vec<f32> = (0..64).map(|i| (i as f32 - 32.0) / 8.0).collect();
//! let bytes = quantize_row(QuantType::Q8_0, &row).unwrap();
//! assert_eq!(bytes.len(), 2 * 34); // two blocks of 32 values, 34 bytes each
//! let back = dequantize_row(QuantType::Q8_0, &bytes, row.len()).unwrap();
//! assert!(row.iter().zip(&back).all(|(a, b)| (a - b).abs() < 0.02));
//! ```
#![deny(unsafe_code)]

mod arch;
pub mod blocks;
mod error;
mod float;
mod gemm;
pub mod kernels;
mod kquants;
mod legacy;
pub mod matmul;

pub use arch::{kernel_i8_name, kernel_i16_name};
pub use blocks::{
    BlockQ4_0, BlockQ4_1, BlockQ4K, BlockQ5_0, BlockQ5_1, BlockQ5K, BlockQ6K, BlockQ8_0, BlockQ8K,
    QK_K, QK4_0, QK8_0,
};
pub use error::Error;
pub use float::{bf16_to_f32, f16_to_f32, f32_to_bf16, f32_to_f16};
pub use gemm::PackedMatrix;
pub use kernels::{SIMD_ENV, available_paths, simd_path, with_path};
pub use matmul::{Activations, Matrix, PackedWeights, matmul, matmul_with};

/// The weight formats this crate converts to and from.
#[allow(non_camel_case_types, missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QuantType {
    F32,
    F16,
    BF16,
    Q8_0,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q4_K,
    Q5_K,
    Q6_K,
    Q8_K,
}

impl QuantType {
    /// Values per block.
    pub fn block_size(self) -> usize {
        match self {
            QuantType::F32 | QuantType::F16 | QuantType::BF16 => 1,
            QuantType::Q4_K | QuantType::Q5_K | QuantType::Q6_K | QuantType::Q8_K => QK_K,
            _ => 32,
        }
    }

    /// Bytes per block.
    pub fn type_size(self) -> usize {
        match self {
            QuantType::F32 => 4,
            QuantType::F16 | QuantType::BF16 => 2,
            QuantType::Q8_0 => size_of::<BlockQ8_0>(),
            QuantType::Q4_0 => size_of::<BlockQ4_0>(),
            QuantType::Q4_1 => size_of::<BlockQ4_1>(),
            QuantType::Q5_0 => size_of::<BlockQ5_0>(),
            QuantType::Q5_1 => size_of::<BlockQ5_1>(),
            QuantType::Q4_K => size_of::<BlockQ4K>(),
            QuantType::Q5_K => size_of::<BlockQ5K>(),
            QuantType::Q6_K => size_of::<BlockQ6K>(),
            QuantType::Q8_K => size_of::<BlockQ8K>(),
        }
    }

    /// Bytes taken by `n` values, or an error when `n` is not a whole number of blocks.
    pub fn row_bytes(self, n: usize) -> Result<usize, Error> {
        if !n.is_multiple_of(self.block_size()) {
            return Err(Error::NotBlockMultiple {
                quant: self,
                n,
                block: self.block_size(),
            });
        }
        Ok(n / self.block_size() * self.type_size())
    }
}

/// Quantizes one row of f32 values to `quant`, appending the bytes to `out`.
///
/// Bit-exact with ggml's `quantize_row_*_ref` (the K-quants without an importance
/// matrix, as `llama-quantize` without `--imatrix`; for F16, IEEE round-to-nearest-even as
/// `GGML_FP32_TO_FP16`; for BF16, `GGML_FP32_TO_BF16` with NaN quieted).
pub fn quantize_row_into(quant: QuantType, x: &[f32], out: &mut Vec<u8>) -> Result<(), Error> {
    let n_bytes = quant.row_bytes(x.len())?;
    let start = out.len();
    out.reserve(n_bytes);
    match quant {
        QuantType::F32 => x
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        QuantType::F16 => x
            .iter()
            .for_each(|v| out.extend_from_slice(&half::f16::from_f32(*v).to_bits().to_le_bytes())),
        QuantType::BF16 => x
            .iter()
            .for_each(|v| out.extend_from_slice(&f32_to_bf16(*v).to_le_bytes())),
        QuantType::Q8_0 => legacy::quantize_q8_0(x, out),
        QuantType::Q4_0 => legacy::quantize_q4_0(x, out),
        QuantType::Q4_1 => legacy::quantize_q4_1(x, out),
        QuantType::Q5_0 => legacy::quantize_q5_0(x, out),
        QuantType::Q5_1 => legacy::quantize_q5_1(x, out),
        QuantType::Q4_K => kquants::quantize_q4_k(x, out),
        QuantType::Q5_K => kquants::quantize_q5_k(x, out),
        QuantType::Q6_K => kquants::quantize_q6_k(x, out),
        QuantType::Q8_K => kquants::quantize_q8_k(x, out),
    }
    debug_assert_eq!(out.len() - start, n_bytes);
    Ok(())
}

/// Quantizes one row of f32 values to `quant`.
pub fn quantize_row(quant: QuantType, x: &[f32]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    quantize_row_into(quant, x, &mut out)?;
    Ok(out)
}

/// Dequantizes `n` values of `quant` from `bytes` (exactly their size), as ggml's
/// `dequantize_row_*`.
pub fn dequantize_row(quant: QuantType, bytes: &[u8], n: usize) -> Result<Vec<f32>, Error> {
    let want = quant.row_bytes(n)?;
    if bytes.len() != want {
        return Err(Error::WrongLength {
            quant,
            expected: want,
            got: bytes.len(),
        });
    }
    let mut y = vec![0f32; n];
    let le16 = |c: &[u8]| u16::from_le_bytes([c[0], c[1]]);
    match quant {
        QuantType::F32 => {
            for (v, c) in y.iter_mut().zip(bytes.chunks_exact(4)) {
                *v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
        QuantType::F16 => {
            for (v, c) in y.iter_mut().zip(bytes.chunks_exact(2)) {
                *v = half::f16::from_bits(le16(c)).to_f32();
            }
        }
        QuantType::BF16 => {
            for (v, c) in y.iter_mut().zip(bytes.chunks_exact(2)) {
                *v = bf16_to_f32(le16(c));
            }
        }
        QuantType::Q8_0 => legacy::dequantize_q8_0(bytes, &mut y),
        QuantType::Q4_0 => legacy::dequantize_q4_0(bytes, &mut y),
        QuantType::Q4_1 => legacy::dequantize_q4_1(bytes, &mut y),
        QuantType::Q5_0 => legacy::dequantize_q5_0(bytes, &mut y),
        QuantType::Q5_1 => legacy::dequantize_q5_1(bytes, &mut y),
        QuantType::Q4_K => kquants::dequantize_q4_k(bytes, &mut y),
        QuantType::Q5_K => kquants::dequantize_q5_k(bytes, &mut y),
        QuantType::Q6_K => kquants::dequantize_q6_k(bytes, &mut y),
        QuantType::Q8_K => kquants::dequantize_q8_k(bytes, &mut y),
    }
    Ok(y)
}
