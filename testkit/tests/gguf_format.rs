//! gguf-format on files it did not write: the quantization vectors gguf-py wrote
//! (`testdata/quant-vectors.gguf`) and the real model, when it is cached.

use gguf_format::{GgmlType, Gguf, MappedGguf, TensorSpec, write_to_vec};
use testkit::model_paths;

#[test]
fn reads_the_gguf_py_written_quant_vectors() {
    let file = MappedGguf::open(testkit::testdata("quant-vectors.gguf")).unwrap();
    let g = file.parse().unwrap();
    assert_eq!(g.tensors().len(), 30);
    for t in g.tensors() {
        assert_eq!(t.dims(), [768, 8], "{}", t.name());
    }
    let ty = |n: &str| {
        g.tensor(n)
            .unwrap_or_else(|| panic!("no tensor {n}"))
            .ggml_type()
    };
    for (name, t) in [
        ("q8_0", GgmlType::Q8_0),
        ("q4_0", GgmlType::Q4_0),
        ("q5_0", GgmlType::Q5_0),
        ("q4_k", GgmlType::Q4_K),
        ("q5_k", GgmlType::Q5_K),
        ("q6_k", GgmlType::Q6_K),
        ("f16", GgmlType::F16),
        ("bf16", GgmlType::BF16),
    ] {
        assert_eq!(ty(&format!("{}.quant", name.to_uppercase())), t);
        assert_eq!(
            ty(&format!("{}.dequant", name.to_uppercase())),
            GgmlType::F32
        );
    }
    for (name, t) in [
        ("q8_0", GgmlType::Q8_0),
        ("q4_0", GgmlType::Q4_0),
        ("q4_1", GgmlType::Q4_1),
        ("q5_0", GgmlType::Q5_0),
        ("q5_1", GgmlType::Q5_1),
        ("f16", GgmlType::F16),
        ("bf16", GgmlType::BF16),
    ] {
        assert_eq!(
            ty(&format!("{}.source", name.to_uppercase())),
            GgmlType::F32
        );
        assert_eq!(ty(&format!("{}.expected", name.to_uppercase())), t);
    }
    // Rewriting it with our writer keeps every key and every tensor byte.
    let metadata: Vec<_> = g
        .metadata()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_owned_value()))
        .collect();
    let tensors: Vec<_> = g
        .tensors()
        .iter()
        .map(|t| (TensorSpec::new(t.name(), t.ggml_type(), t.dims()), t.data()))
        .collect();
    let again = write_to_vec(&metadata, &tensors).unwrap();
    let g2 = Gguf::parse(&again).unwrap();
    assert_eq!(g2.metadata(), g.metadata());
    for (a, b) in g.tensors().iter().zip(g2.tensors()) {
        assert_eq!(
            (a.name(), a.dims(), a.ggml_type(), a.data()),
            (b.name(), b.dims(), b.ggml_type(), b.data())
        );
    }
}

#[test]
fn real_model_parses_zero_copy() {
    let Some(path) = model_paths::require(model_paths::gguf("q8_0"), "real_model_parses_zero_copy")
    else {
        return;
    };
    let file = MappedGguf::open(&path).unwrap();
    let g = file.parse().unwrap();
    assert_eq!(
        g.get_str("general.architecture").unwrap(),
        "gemma-embedding"
    );
    assert_eq!(g.get_u32("gemma-embedding.block_count").unwrap(), 24);
    assert_eq!(g.tensors().len(), 316);
    let tokens = g.get_array("tokenizer.ggml.tokens").unwrap();
    assert_eq!(tokens.len(), 262_144);
    assert_eq!(tokens.strs().unwrap().nth(2), Some("<bos>"));
    assert_eq!(
        g.get_array("tokenizer.ggml.scores")
            .unwrap()
            .f32s()
            .unwrap()
            .len(),
        262_144
    );
    // Tensor data are slices of the map itself, not copies.
    let map = file.bytes().as_ptr_range();
    for t in g.tensors() {
        let d = t.data().as_ptr_range();
        assert!(
            map.start <= d.start && d.end <= map.end,
            "{} is not borrowed from the map",
            t.name()
        );
        assert_eq!(t.file_offset() % 32, 0);
    }
    let embd = g.tensor("token_embd.weight").unwrap();
    assert_eq!(
        (embd.ggml_type(), embd.dims()),
        (GgmlType::Q8_0, &[768u64, 262_144][..])
    );
    assert!(g.tensor("dense_2.weight").is_some() && g.tensor("dense_3.weight").is_some());
}
