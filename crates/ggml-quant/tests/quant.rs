//! ggml-quant against ground truth: real EmbeddingGemma rows quantized by ggml
//! (`testdata/quant-vectors.gguf`, see `testdata/README.md`).

use ggml_quant::{QuantType, dequantize_row, quantize_row};

#[path = "../../../testdata/mini_gguf.rs"]
mod mini_gguf;

/// The tensors of quant-vectors.gguf, as (name, type id, dims, bytes).
fn tensors() -> Vec<(String, u32, Vec<u64>, Vec<u8>)> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/quant-vectors.gguf");
    mini_gguf::read(&path, true)
        .tensors
        .into_iter()
        .map(|(name, t)| (name, t.ggml_type, t.dims, t.data))
        .collect()
}

fn get<'a>(
    all: &'a [(String, u32, Vec<u64>, Vec<u8>)],
    name: &str,
) -> &'a (String, u32, Vec<u64>, Vec<u8>) {
    all.iter()
        .find(|t| t.0 == name)
        .unwrap_or_else(|| panic!("no tensor {name}"))
}

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

#[test]
fn quantize_is_bit_exact_with_ggml_ref() {
    let all = tensors();
    for (name, q) in [
        ("Q8_0", QuantType::Q8_0),
        ("Q4_0", QuantType::Q4_0),
        ("Q4_1", QuantType::Q4_1),
        ("Q5_0", QuantType::Q5_0),
        ("Q5_1", QuantType::Q5_1),
        ("F16", QuantType::F16),
        ("BF16", QuantType::BF16),
    ] {
        let src = get(&all, &format!("{name}.source"));
        let expected = &get(&all, &format!("{name}.expected")).3;
        let row_len = src.2[0] as usize;
        let rows = f32s(&src.3);
        let row_bytes = q.row_bytes(row_len).unwrap();
        for (r, (x, want)) in rows
            .chunks(row_len)
            .zip(expected.chunks(row_bytes))
            .enumerate()
        {
            let got = quantize_row(q, x).unwrap();
            assert!(
                got == want,
                "{name} row {r}: quantization differs from ggml's"
            );
        }
    }
}

#[test]
fn dequantize_is_bit_exact_with_ggml() {
    let all = tensors();
    for (name, q) in [
        ("Q8_0", QuantType::Q8_0),
        ("Q4_0", QuantType::Q4_0),
        ("Q5_0", QuantType::Q5_0),
        ("Q4_K", QuantType::Q4_K),
        ("Q5_K", QuantType::Q5_K),
        ("Q6_K", QuantType::Q6_K),
        ("F16", QuantType::F16),
        ("BF16", QuantType::BF16),
    ] {
        let quant = get(&all, &format!("{name}.quant"));
        let want = f32s(&get(&all, &format!("{name}.dequant")).3);
        let n = quant.2.iter().product::<u64>() as usize;
        let got = dequantize_row(q, &quant.3, n).unwrap();
        let same = got
            .iter()
            .zip(&want)
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "{name}: dequantization differs from ggml's");
    }
}

#[test]
fn bad_lengths_are_errors() {
    assert!(quantize_row(QuantType::Q8_0, &[0.0; 33]).is_err());
    let e = dequantize_row(QuantType::Q4_0, &[0; 17], 32).unwrap_err();
    assert_eq!(e.to_string(), "Q4_0 row needs 18 bytes, got 17");
}

/// The kernel paths this CPU offers, so the SIMD == scalar tests cannot pass by
/// comparing the scalar path with itself: `GGML_QUANT_EXPECT_PATHS` (set by
/// `cargo xtask test-aarch64`, where qemu offers NEON and the dot-product extension)
/// names them all; each path's int8 kernel is its own.
#[test]
fn the_expected_kernel_paths_are_there() {
    let paths = ggml_quant::available_paths();
    if let Ok(want) = std::env::var("GGML_QUANT_EXPECT_PATHS") {
        assert_eq!(paths.join(","), want);
    }
    for path in &paths {
        let name = ggml_quant::with_path(path, ggml_quant::kernel_i8_name).unwrap();
        let want = match *path {
            "avx512" => ["avx512-vnni", "avx-vnni", "scalar"].as_slice(),
            "avx2" => &["avx-vnni", "scalar"],
            "neon-dotprod" => &["neon-dotprod"],
            "neon" => &["neon"],
            _ => &["scalar"],
        };
        assert!(want.contains(&name), "path {path}: int8 kernel {name}");
    }
}
