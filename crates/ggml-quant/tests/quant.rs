//! ggml-quant against ground truth: real EmbeddingGemma rows quantized by ggml
//! (`testdata/quant-vectors.gguf`, see `testdata/README.md`).

use ggml_quant::{QuantType, dequantize_row, quantize_row};

/// The tensors of quant-vectors.gguf: a minimal GGUF reader, since this crate depends on
/// no workspace crate. The file holds only string metadata and 2-D tensors.
fn tensors() -> Vec<(String, u32, Vec<u64>, Vec<u8>)> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/quant-vectors.gguf");
    let b = std::fs::read(path).unwrap();
    let mut p = 0usize;
    let u32_ = |p: &mut usize| {
        *p += 4;
        u32::from_le_bytes(b[*p - 4..*p].try_into().unwrap())
    };
    let u64_ = |b: &[u8], p: &mut usize| {
        *p += 8;
        u64::from_le_bytes(b[*p - 8..*p].try_into().unwrap())
    };
    assert_eq!(&b[..4], b"GGUF");
    p += 4;
    let _version = u32_(&mut p);
    let n_tensors = u64_(&b, &mut p);
    let n_kv = u64_(&b, &mut p);
    let string = |b: &[u8], p: &mut usize| {
        let n = u64_(b, p) as usize;
        *p += n;
        String::from_utf8(b[*p - n..*p].to_vec()).unwrap()
    };
    for _ in 0..n_kv {
        string(&b, &mut p);
        assert_eq!(
            u32::from_le_bytes(b[p..p + 4].try_into().unwrap()),
            8,
            "string values only"
        );
        p += 4;
        string(&b, &mut p);
    }
    let mut infos = Vec::new();
    for _ in 0..n_tensors {
        let name = string(&b, &mut p);
        let n_dims = u32::from_le_bytes(b[p..p + 4].try_into().unwrap());
        p += 4;
        let dims: Vec<u64> = (0..n_dims).map(|_| u64_(&b, &mut p)).collect();
        let ty = u32::from_le_bytes(b[p..p + 4].try_into().unwrap());
        p += 4;
        let off = u64_(&b, &mut p);
        infos.push((name, ty, dims, off));
    }
    let data = p.next_multiple_of(32);
    infos
        .into_iter()
        .map(|(name, ty, dims, off)| {
            let n: u64 = dims.iter().product();
            let q = quant_of(ty);
            let len = q.row_bytes(n as usize).unwrap();
            let start = data + off as usize;
            (name, ty, dims, b[start..start + len].to_vec())
        })
        .collect()
}

fn quant_of(ggml_type: u32) -> QuantType {
    match ggml_type {
        0 => QuantType::F32,
        1 => QuantType::F16,
        30 => QuantType::BF16,
        8 => QuantType::Q8_0,
        2 => QuantType::Q4_0,
        3 => QuantType::Q4_1,
        6 => QuantType::Q5_0,
        7 => QuantType::Q5_1,
        // K-quants are read as raw bytes here; their kernels come later.
        _ => QuantType::F32,
    }
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
