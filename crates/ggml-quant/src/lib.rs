#![doc = include_str!("../README.md")]
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
pub mod peak;
mod quant_type;
mod rows;
mod simd;

pub use arch::{kernel_i8_name, kernel_i16_name};
pub use blocks::{
    BlockQ4_0, BlockQ4_1, BlockQ4K, BlockQ5_0, BlockQ5_1, BlockQ5K, BlockQ6K, BlockQ8_0, BlockQ8K,
    QK_K, QK4_0, QK8_0,
};
pub use error::{Error, ErrorKind};
pub use float::{bf16_to_f32, f16_to_f32, f32_to_bf16, f32_to_f16};
pub use gemm::PackedMatrix;
pub use matmul::{Activations, Matrix, PackedWeights, matmul, matmul_with};
pub use quant_type::QuantType;
pub use rows::{dequantize_row, quantize_row, quantize_row_into};
pub use simd::{SIMD_ENV, SimdPath, available_paths, on_pool, simd_path, with_path};
