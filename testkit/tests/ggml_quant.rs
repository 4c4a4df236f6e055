//! ggml-quant against ground truth: real EmbeddingGemma weight rows quantized by ggml
//! (`testdata/quant-vectors.gguf`, see `testdata/README.md`), read with gguf-format.
//!
//! Each tested type `T` has either `T.quant` (ggml's bytes, from gguf-py) with
//! `T.dequant` (their f32 values), or `T.source` (f32 rows) with `T.expected` (the bytes
//! of ggml's `quantize_row_*_ref`). Every tensor carries its ggml type, from which the
//! test takes the `QuantType`.

use ggml_quant::{Matrix, QuantType, dequantize_row, quantize_row, quantize_row_into};
use gguf_format::{Gguf, MappedGguf, TensorInfo};

fn open() -> MappedGguf {
    MappedGguf::open(testkit::testdata("quant-vectors.gguf")).expect("testdata/quant-vectors.gguf")
}

fn tensor<'a>(file: &'a Gguf<'a>, name: &str) -> &'a TensorInfo<'a> {
    file.tensor(name)
        .unwrap_or_else(|| panic!("no tensor {name}"))
}

/// The tensor's type as a `QuantType`, checked against the type its name gives.
fn quant_type(t: &TensorInfo<'_>, name: &str) -> QuantType {
    let q = QuantType::try_from(t.ggml_type()).unwrap_or_else(|e| panic!("{}: {e}", t.name()));
    assert!(
        q.ggml_type().name().eq_ignore_ascii_case(name),
        "{} is stored as {}",
        t.name(),
        t.ggml_type()
    );
    q
}

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// `(row length, rows)` of a 2-d tensor.
fn shape(t: &TensorInfo<'_>) -> (usize, usize) {
    match t.dims() {
        [cols, rows] => (*cols as usize, *rows as usize),
        dims => panic!("{}: dims {dims:?}", t.name()),
    }
}

#[test]
fn quantize_is_bit_exact_with_ggml_ref() {
    let mapped = open();
    let file = mapped.parse().unwrap();
    for name in ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "F16", "BF16"] {
        let src = tensor(&file, &format!("{name}.source"));
        let expected = tensor(&file, &format!("{name}.expected"));
        let q = quant_type(expected, name);
        let (row_len, n_rows) = shape(src);
        let rows = f32s(src.data());
        let row_bytes = q.row_bytes(row_len).unwrap();
        assert_eq!(expected.data().len(), n_rows * row_bytes, "{name}");
        let mut all = Vec::new();
        for (r, (x, want)) in rows
            .chunks(row_len)
            .zip(expected.data().chunks(row_bytes))
            .enumerate()
        {
            let got = quantize_row(q, x).unwrap();
            assert!(
                got == want,
                "{name} row {r}: quantization differs from ggml's"
            );
            quantize_row_into(q, x, &mut all).unwrap();
        }
        assert!(all == expected.data(), "{name}: rows appended differ");
    }
}

#[test]
fn dequantize_is_bit_exact_with_ggml() {
    let mapped = open();
    let file = mapped.parse().unwrap();
    for name in [
        "Q8_0", "Q4_0", "Q5_0", "Q4_K", "Q5_K", "Q6_K", "F16", "BF16",
    ] {
        let quant = tensor(&file, &format!("{name}.quant"));
        let want = f32s(tensor(&file, &format!("{name}.dequant")).data());
        let q = quant_type(quant, name);
        let n = quant.n_elements() as usize;
        let got = dequantize_row(q, quant.data(), n).unwrap();
        let same = got
            .iter()
            .zip(&want)
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(
            same && got.len() == want.len(),
            "{name}: dequantization differs from ggml's"
        );
        // Row by row through a `Matrix`, as the encoder reads its weights.
        let (cols, rows) = shape(quant);
        let m = Matrix::new(q, quant.data(), rows, cols).unwrap();
        for r in 0..rows {
            let row = m.row_f32(r).unwrap();
            let same = row
                .iter()
                .zip(&want[r * cols..(r + 1) * cols])
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{name} row {r}: Matrix::row_f32 differs from ggml's");
        }
    }
}
