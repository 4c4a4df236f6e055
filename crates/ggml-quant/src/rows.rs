//! One row of f32 values to or from a [`QuantType`], bit-exact with ggml.

use crate::error::{Error, ErrorKind};
use crate::float::{bf16_to_f32, f32_to_bf16};
use crate::{QuantType, kquants, legacy};

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

/// Quantizes one row of f32 values to `quant` (see [`quantize_row_into`]).
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
        return Err(Error::new(ErrorKind::WrongLength {
            quant,
            expected: want,
            got: bytes.len(),
        }));
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
