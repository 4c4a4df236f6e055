//! [`convert`] end to end on a tiny synthetic release (two layers, hidden size 64): the
//! layout, the metadata order and the values llama.cpp's rules give, and the errors.
//! The byte identity with llama.cpp's own files on the real model is checked by the
//! workspace's tests against its manifests.

use std::fs;
use std::path::{Path, PathBuf};

use gguf_format::{GgmlType, Gguf, Value};

use crate::{ErrorKind, Options, OutType, convert};

const HIDDEN: usize = 64;
const FFN: usize = 96;
const HEAD_DIM: usize = 32;
const HEADS: usize = 2;
const LAYERS: usize = 2;
/// More ids than the tokenizer has pieces: the rest are `[PAD{i}]` fillers.
const VOCAB: usize = 8;
const PIECES: [&str; 6] = ["<pad>", "<eos>", "<bos>", "<unk>", "\u{2581}a", "b"];

/// A fresh folder for one test.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gemma-convert-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

/// A safetensors file of F32 tensors (values from `value(tensor index, value index)`),
/// except those named in `bf16`, stored as BF16.
fn write_safetensors(path: &Path, tensors: &[(&str, Vec<usize>)], bf16: &[&str]) {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (ti, (name, shape)) in tensors.iter().enumerate() {
        let n: usize = shape.iter().product();
        let start = data.len();
        let is_bf16 = bf16.contains(name);
        for i in 0..n {
            let v = value(ti, i);
            if is_bf16 {
                data.extend_from_slice(&((v.to_bits() >> 16) as u16).to_le_bytes());
            } else {
                data.extend_from_slice(&v.to_le_bytes());
            }
        }
        header.insert(
            name.to_string(),
            serde_json::json!({
                "dtype": if is_bf16 { "BF16" } else { "F32" },
                "shape": shape,
                "data_offsets": [start, data.len()],
            }),
        );
    }
    let header = serde_json::to_vec(&header).unwrap();
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header);
    bytes.extend(data);
    fs::write(path, bytes).unwrap();
}

/// Small values exact in BF16.
fn value(tensor: usize, i: usize) -> f32 {
    ((tensor * 7 + i) % 33) as f32 / 16.0 - 1.0
}

/// A `tokenizer.model` (SentencePiece protobuf) with [`PIECES`]; `<pad>`, `<eos>`,
/// `<bos>` are control pieces and `<unk>` the unknown one.
fn tokenizer_model() -> Vec<u8> {
    let mut out = Vec::new();
    for (i, text) in PIECES.iter().enumerate() {
        let kind = match i {
            0..=2 => 3, // CONTROL
            3 => 2,     // UNKNOWN
            _ => 1,     // NORMAL
        };
        let mut piece = vec![0x0a, text.len() as u8];
        piece.extend_from_slice(text.as_bytes());
        piece.push(0x15); // field 2, fixed32: the score
        piece.extend_from_slice(&(-(i as f32)).to_le_bytes());
        piece.extend_from_slice(&[0x18, kind]);
        out.extend_from_slice(&[0x0a, piece.len() as u8]);
        out.extend(piece);
    }
    out
}

/// The model's tensors (Hugging Face names and shapes).
fn model_tensors() -> Vec<(String, Vec<usize>)> {
    let mut v = vec![
        ("embed_tokens.weight".to_string(), vec![VOCAB, HIDDEN]),
        ("norm.weight".to_string(), vec![HIDDEN]),
    ];
    for il in 0..LAYERS {
        let q = HEADS * HEAD_DIM;
        for (name, shape) in [
            ("input_layernorm", vec![HIDDEN]),
            ("self_attn.q_proj", vec![q, HIDDEN]),
            ("self_attn.k_proj", vec![HEAD_DIM, HIDDEN]),
            ("self_attn.v_proj", vec![HEAD_DIM, HIDDEN]),
            ("self_attn.o_proj", vec![HIDDEN, q]),
            ("self_attn.q_norm", vec![HEAD_DIM]),
            ("self_attn.k_norm", vec![HEAD_DIM]),
            ("post_attention_layernorm", vec![HIDDEN]),
            ("pre_feedforward_layernorm", vec![HIDDEN]),
            ("post_feedforward_layernorm", vec![HIDDEN]),
            ("mlp.gate_proj", vec![FFN, HIDDEN]),
            ("mlp.up_proj", vec![FFN, HIDDEN]),
            ("mlp.down_proj", vec![HIDDEN, FFN]),
        ] {
            v.push((format!("layers.{il}.{name}.weight"), shape));
        }
    }
    v
}

/// A complete release in `<root>/tiny-1m`.
fn tiny_release(root: &Path) -> PathBuf {
    let dir = root.join("tiny-1m");
    for sub in ["1_Pooling", "2_Dense", "3_Dense"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let json = |p: &str, v: serde_json::Value| fs::write(dir.join(p), v.to_string()).unwrap();
    json(
        "config.json",
        serde_json::json!({
            "architectures": ["Gemma3TextModel"],
            "hidden_size": HIDDEN, "num_hidden_layers": LAYERS, "intermediate_size": FFN,
            "num_attention_heads": HEADS, "num_key_value_heads": 1, "head_dim": HEAD_DIM,
            "vocab_size": VOCAB, "max_position_embeddings": 2048, "sliding_window": 512,
            "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "rope_local_base_freq": 10000.0,
        }),
    );
    json(
        "modules.json",
        serde_json::json!([
            {"idx": 0, "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
            {"idx": 3, "path": "3_Dense", "type": "sentence_transformers.models.Dense"},
        ]),
    );
    json(
        "1_Pooling/config.json",
        serde_json::json!({"pooling_mode_mean_tokens": true}),
    );
    for (sub, fin, fout) in [
        ("2_Dense", HIDDEN, 2 * HIDDEN),
        ("3_Dense", 2 * HIDDEN, HIDDEN),
    ] {
        json(
            &format!("{sub}/config.json"),
            serde_json::json!({"in_features": fin, "out_features": fout, "bias": false,
                "activation_function": "torch.nn.modules.linear.Identity"}),
        );
        write_safetensors(
            &dir.join(sub).join("model.safetensors"),
            &[("linear.weight", vec![fout, fin])],
            &[],
        );
    }
    json(
        "tokenizer_config.json",
        serde_json::json!({"added_tokens_decoder": {"5": {"content": "b", "special": false}}}),
    );
    fs::write(
        dir.join("README.md"),
        "---\nlicense: gemma\npipeline_tag: sentence-similarity\n---\n",
    )
    .unwrap();
    fs::write(dir.join("tokenizer.model"), tokenizer_model()).unwrap();
    let tensors = model_tensors();
    let named: Vec<(&str, Vec<usize>)> = tensors
        .iter()
        .map(|(n, s)| (n.as_str(), s.clone()))
        .collect();
    write_safetensors(
        &dir.join("model.safetensors"),
        &named,
        &["layers.1.mlp.up_proj.weight"],
    );
    dir
}

fn keys<'a>(g: &'a Gguf<'_>) -> Vec<&'a str> {
    g.metadata().iter().map(|(k, _)| *k).collect()
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[test]
fn q8_0_has_llama_cpp_layout_and_values() {
    let root = scratch("q8_0");
    let release = tiny_release(&root);
    let out = root.join("tiny.gguf");
    let mut calls = 0;
    let report = convert(&release, &out, OutType::Q8_0, &mut |p| {
        calls += 1;
        assert!(p.done <= p.total);
    })
    .unwrap();
    let bytes = fs::read(&out).unwrap();
    let g = Gguf::parse(&bytes).unwrap();
    assert_eq!(report.file_bytes, bytes.len() as u64);
    assert_eq!(
        (report.n_tensors, report.n_keys),
        (g.tensors().len(), g.metadata().len())
    );
    assert_eq!(g.tensors().len(), 2 + 2 + 13 * LAYERS);
    assert!(calls >= g.tensors().len());

    let k = keys(&g);
    assert_eq!(
        k[..4],
        [
            "general.architecture",
            "general.type",
            "general.name",
            "general.basename"
        ]
    );
    assert_eq!(
        g.get_str("general.architecture").unwrap(),
        "gemma-embedding"
    );
    assert_eq!(g.get_str("general.name").unwrap(), "Tiny 1m");
    assert_eq!(g.get_str("general.size_label").unwrap(), "1M");
    assert_eq!(g.get_str("general.license").unwrap(), "gemma");
    assert_eq!(g.get_u32("general.file_type").unwrap(), 7);
    assert_eq!(g.get_u32("gemma-embedding.dense_2_feat_out").unwrap(), 128);
    assert_eq!(k.last(), Some(&"tokenizer.ggml.add_space_prefix"));

    // The tokenizer: pieces, the added token as user-defined, fillers past the pieces.
    let Some(Value::Array(tokens)) = g.get("tokenizer.ggml.tokens") else {
        panic!("no tokens");
    };
    assert_eq!(tokens.len(), VOCAB);
    let Some(Value::Array(types)) = g.get("tokenizer.ggml.token_type") else {
        panic!("no token types");
    };
    let types: Vec<i64> = types.iter().map(|v| v.as_i64().unwrap()).collect();
    assert_eq!(types, [3, 3, 3, 2, 1, 4, 5, 5]);
    assert_eq!(g.get_u32("tokenizer.ggml.bos_token_id").unwrap(), 2);
    assert_eq!(g.get_u32("tokenizer.ggml.padding_token_id").unwrap(), 0);

    // The Dense layers first, then the model's tensors in name order.
    let names: Vec<&str> = g.tensors().iter().map(|t| t.name()).collect();
    assert_eq!(
        names[..4],
        [
            "dense_2.weight",
            "dense_3.weight",
            "token_embd.weight",
            "blk.0.attn_norm.weight"
        ]
    );
    assert_eq!(names.last(), Some(&"output_norm.weight"));
    let norm = g.tensor("blk.1.attn_norm.weight").unwrap();
    assert_eq!(
        (norm.ggml_type(), norm.dims()),
        (GgmlType::F32, &[HIDDEN as u64][..])
    );
    // Norms are stored as 1 + w.
    let ti = model_tensors()
        .iter()
        .position(|(n, _)| n == "layers.1.input_layernorm.weight")
        .unwrap();
    let want: Vec<f32> = (0..HIDDEN).map(|i| 1.0 + value(ti, i)).collect();
    assert_eq!(f32s(norm.data()), want);
    let up = g.tensor("blk.1.ffn_up.weight").unwrap();
    assert_eq!(
        (up.ggml_type(), up.dims()),
        (GgmlType::Q8_0, &[HIDDEN as u64, FFN as u64][..])
    );
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_recipe_moves_the_type_keys_last_and_picks_types_per_tensor() {
    let root = scratch("q4_k_m");
    let release = tiny_release(&root);
    let out = root.join("tiny.gguf");
    convert(&release, &out, OutType::Q4_K_M, &mut |_| {}).unwrap();
    let bytes = fs::read(&out).unwrap();
    let g = Gguf::parse(&bytes).unwrap();
    let k = keys(&g);
    assert_eq!(
        k[k.len() - 2..],
        ["general.quantization_version", "general.file_type"]
    );
    assert_eq!(g.get_u32("general.file_type").unwrap(), 15);
    let ty = |n: &str| g.tensor(n).unwrap().ggml_type();
    // Rows of 64 are not whole super-blocks: Q4_K falls back to Q5_0, Q6_K to Q8_0.
    assert_eq!(ty("blk.0.ffn_up.weight"), GgmlType::Q5_0);
    assert_eq!(ty("token_embd.weight"), GgmlType::Q8_0);
    assert_eq!(ty("blk.0.attn_norm.weight"), GgmlType::F32);
    let names: Vec<&str> = g.tensors().iter().map(|t| t.name()).collect();
    assert_eq!(names[3], "token_embd.weight");
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn converting_twice_gives_the_same_bytes() {
    let root = scratch("twice");
    let release = tiny_release(&root);
    let (a, b) = (root.join("a.gguf"), root.join("b.gguf"));
    convert(
        &release,
        &a,
        Options::new(OutType::Q5_K_S).pure(true),
        &mut |_| {},
    )
    .unwrap();
    convert(
        &release,
        &b,
        Options::new(OutType::Q5_K_S).pure(true),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(fs::read(&a).unwrap(), fs::read(&b).unwrap());
    fs::remove_dir_all(&root).unwrap();
}

/// `convert` fails with `kind`, a message containing `want`, and writes nothing.
fn fails(release: &Path, kind: ErrorKind, want: &str) -> crate::Error {
    let out_dir = release.parent().unwrap().join("out");
    fs::create_dir_all(&out_dir).unwrap();
    let e = convert(release, &out_dir.join("x.gguf"), OutType::Q8_0, &mut |_| {}).unwrap_err();
    assert_eq!(e.kind(), kind, "{e}");
    assert!(e.to_string().contains(want), "{e}");
    assert!(
        fs::read_dir(&out_dir).unwrap().next().is_none(),
        "output left behind"
    );
    e
}

#[test]
fn a_missing_release_is_an_io_error_with_its_cause() {
    let root = scratch("missing");
    let e = fails(&root.join("nope"), ErrorKind::Io, "nope/config.json");
    let cause = std::error::Error::source(&e).unwrap();
    assert!(cause.downcast_ref::<std::io::Error>().is_some());
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn bad_releases_are_errors_that_name_the_file_and_tensor() {
    let root = scratch("bad");
    let release = tiny_release(&root);
    let model = release.join("model.safetensors");

    // A tensor of the wrong shape.
    let mut tensors = model_tensors();
    tensors[5].1 = vec![HEAD_DIM, HEAD_DIM];
    let bad_name = tensors[5].0.clone();
    let named: Vec<(&str, Vec<usize>)> = tensors
        .iter()
        .map(|(n, s)| (n.as_str(), s.clone()))
        .collect();
    write_safetensors(&model, &named, &[]);
    let e = fails(&release, ErrorKind::Tensor, "the config implies");
    assert_eq!(
        (e.tensor(), e.path()),
        (Some(bad_name.as_str()), Some(model.as_path()))
    );

    // A tensor the model does not have.
    let mut extra = named.clone();
    extra[5].1 = model_tensors()[5].1.clone();
    extra.push(("lm_head.weight", vec![VOCAB, HIDDEN]));
    write_safetensors(&model, &extra, &[]);
    fails(
        &release,
        ErrorKind::Tensor,
        "unexpected tensor lm_head.weight",
    );

    // A truncated file.
    extra.pop();
    write_safetensors(&model, &extra, &[]);
    let bytes = fs::read(&model).unwrap();
    fs::write(&model, &bytes[..bytes.len() - 4]).unwrap();
    fails(&release, ErrorKind::Safetensors, "truncated or padded");

    // Not JSON, with the parser's error as the cause.
    fs::write(release.join("modules.json"), "[{").unwrap();
    let e = fails(&release, ErrorKind::Config, "modules.json");
    assert!(
        std::error::Error::source(&e)
            .unwrap()
            .is::<serde_json::Error>()
    );

    // Another architecture.
    fs::write(
        release.join("config.json"),
        r#"{"architectures": ["BertModel"]}"#,
    )
    .unwrap();
    fails(
        &release,
        ErrorKind::Architecture,
        "not an EmbeddingGemma release",
    );
    fs::remove_dir_all(&root).unwrap();
}
