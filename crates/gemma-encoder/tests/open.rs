//! Opening models: a small EmbeddingGemma-shaped GGUF written here (random f32 weights,
//! a ten-piece vocabulary), then the same file with one key or tensor taken away or
//! mistyped. Needs nothing outside the package.

use std::error::Error as _;
use std::path::PathBuf;

use gemma_encoder::keys::{self, arch, arch_key, general, tensor};
use gemma_encoder::{EmbedOptions, Embedder, ErrorKind, Pooling, Precision};
use gguf_format::{GgmlType, MetadataArray, MetadataValue, TensorSpec, write_to_vec};

const N_EMBD: usize = 32;
const N_FF: usize = 64;
const HEAD_DIM: usize = 16;
const N_HEAD: usize = 2;
const N_LAYERS: usize = 2;
const DENSE_MID: usize = 48;

/// The metadata of the small model, every key this crate reads.
fn metadata() -> Vec<(String, MetadataValue)> {
    use MetadataValue as V;
    let pieces = [
        "<pad>", "<eos>", "<bos>", "<unk>", "▁", "a", "b", "▁a", "▁b", "▁ab",
    ];
    let types = [3, 3, 3, 2, 1, 1, 1, 1, 1, 1];
    let arch_u32 = |k: &str, v: usize| (arch_key(k), V::U32(v as u32));
    vec![
        (
            general::ARCHITECTURE.into(),
            V::String(keys::ARCHITECTURE.into()),
        ),
        (general::FILE_TYPE.into(), V::U32(0)),
        arch_u32(arch::CONTEXT_LENGTH, 64),
        arch_u32(arch::EMBEDDING_LENGTH, N_EMBD),
        arch_u32(arch::BLOCK_COUNT, N_LAYERS),
        arch_u32(arch::FEED_FORWARD_LENGTH, N_FF),
        arch_u32(arch::HEAD_COUNT, N_HEAD),
        arch_u32(arch::HEAD_COUNT_KV, 1),
        arch_u32(arch::KEY_LENGTH, HEAD_DIM),
        arch_u32(arch::VALUE_LENGTH, HEAD_DIM),
        (arch_key(arch::RMS_EPSILON), V::F32(1e-6)),
        arch_u32(arch::SLIDING_WINDOW, 4),
        (arch_key(arch::ROPE_FREQ_BASE), V::F32(1_000_000.0)),
        (arch_key(arch::ROPE_FREQ_BASE_SWA), V::F32(10_000.0)),
        (keys::tokenizer::MODEL.into(), V::String("llama".into())),
        (
            keys::tokenizer::TOKENS.into(),
            V::Array(MetadataArray::String(
                pieces.iter().map(|p| p.to_string()).collect(),
            )),
        ),
        (
            keys::tokenizer::SCORES.into(),
            V::Array(MetadataArray::F32(
                (0..pieces.len()).map(|i| -(i as f32)).collect(),
            )),
        ),
        (
            keys::tokenizer::TOKEN_TYPE.into(),
            V::Array(MetadataArray::I32(types.to_vec())),
        ),
        (keys::tokenizer::BOS_ID.into(), V::U32(2)),
        (keys::tokenizer::EOS_ID.into(), V::U32(1)),
        (keys::tokenizer::UNK_ID.into(), V::U32(3)),
        (keys::tokenizer::PAD_ID.into(), V::U32(0)),
        (keys::tokenizer::ADD_BOS.into(), V::Bool(true)),
        (keys::tokenizer::ADD_EOS.into(), V::Bool(true)),
        (keys::tokenizer::ADD_SPACE_PREFIX.into(), V::Bool(false)),
    ]
}

/// Every tensor of the small model as `(name, ne0, ne1)`.
fn shapes() -> Vec<(String, usize, usize)> {
    let (e, f, q, kv) = (N_EMBD, N_FF, N_HEAD * HEAD_DIM, HEAD_DIM);
    let mut t = vec![(tensor::TOKEN_EMBD.to_string(), e, 10)];
    for il in 0..N_LAYERS {
        for (name, ne0, ne1) in [
            (tensor::ATTN_NORM, e, 1),
            (tensor::ATTN_Q, e, q),
            (tensor::ATTN_K, e, kv),
            (tensor::ATTN_V, e, kv),
            (tensor::ATTN_Q_NORM, HEAD_DIM, 1),
            (tensor::ATTN_K_NORM, HEAD_DIM, 1),
            (tensor::ATTN_OUTPUT, q, e),
            (tensor::POST_ATTENTION_NORM, e, 1),
            (tensor::FFN_NORM, e, 1),
            (tensor::FFN_GATE, e, f),
            (tensor::FFN_UP, e, f),
            (tensor::FFN_DOWN, f, e),
            (tensor::POST_FFW_NORM, e, 1),
        ] {
            t.push((tensor::block(il, name), ne0, ne1));
        }
    }
    t.push((tensor::OUTPUT_NORM.into(), e, 1));
    t.push((tensor::DENSE_2.into(), e, DENSE_MID));
    t.push((tensor::DENSE_3.into(), DENSE_MID, e));
    t
}

/// Deterministic values in [-0.5, 0.5) (a linear congruential sequence per tensor).
fn values(seed: usize, n: usize) -> Vec<u8> {
    let mut s = (seed as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .flat_map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let v = (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            v.to_le_bytes()
        })
        .collect()
}

/// Writes the small model, changed by `edit_meta` and without the tensors `drop`, to a
/// file named after `test`.
fn write_model(
    test: &str,
    edit_meta: impl FnOnce(&mut Vec<(String, MetadataValue)>),
    drop: &[&str],
) -> PathBuf {
    write_model_with(test, edit_meta, drop, |_, _| {})
}

/// [`write_model`], with each tensor's f32 values passed through `edit_values(name, ..)`.
fn write_model_with(
    test: &str,
    edit_meta: impl FnOnce(&mut Vec<(String, MetadataValue)>),
    drop: &[&str],
    mut edit_values: impl FnMut(&str, &mut [u8]),
) -> PathBuf {
    let mut meta = metadata();
    edit_meta(&mut meta);
    let data: Vec<(TensorSpec, Vec<u8>)> = shapes()
        .into_iter()
        .enumerate()
        .filter(|(_, (name, _, _))| !drop.contains(&name.as_str()))
        .map(|(i, (name, ne0, ne1))| {
            let dims: &[u64] = if ne1 == 1 {
                &[ne0 as u64]
            } else {
                &[ne0 as u64, ne1 as u64]
            };
            let mut v = values(i, ne0 * ne1);
            edit_values(&name, &mut v);
            (TensorSpec::new(name, GgmlType::F32, dims), v)
        })
        .collect();
    let tensors: Vec<(TensorSpec, &[u8])> = data
        .iter()
        .map(|(s, d)| (s.clone(), d.as_slice()))
        .collect();
    let bytes = write_to_vec(&meta, &tensors).unwrap();
    let path =
        std::env::temp_dir().join(format!("gemma-encoder-{test}-{}.gguf", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Opens the model `write_model` makes, then deletes the file.
fn open(
    test: &str,
    edit_meta: impl FnOnce(&mut Vec<(String, MetadataValue)>),
    drop: &[&str],
) -> Result<Embedder, gemma_encoder::Error> {
    let path = write_model(test, edit_meta, drop);
    let model = Embedder::open(&path);
    std::fs::remove_file(&path).unwrap();
    model
}

fn without(key: &str) -> impl FnOnce(&mut Vec<(String, MetadataValue)>) + '_ {
    move |meta| meta.retain(|(k, _)| k != key)
}

fn set(key: String, value: MetadataValue) -> impl FnOnce(&mut Vec<(String, MetadataValue)>) {
    move |meta| {
        meta.retain(|(k, _)| *k != key);
        meta.push((key, value));
    }
}

#[test]
fn the_small_model_opens_and_embeds() {
    let m = open("complete", |_| {}, &[]).unwrap();
    let hp = m.hparams();
    assert_eq!(
        (hp.n_layers, hp.n_embd, hp.n_ff, hp.n_head, hp.n_head_kv),
        (N_LAYERS, N_EMBD, N_FF, N_HEAD, 1)
    );
    assert_eq!(
        (hp.head_dim, hp.n_ctx, hp.sliding_window),
        (HEAD_DIM, 64, 4)
    );
    assert_eq!((hp.rope_base, hp.rope_base_swa), (1_000_000.0, 10_000.0));
    assert!(m.has_dense() && m.warnings().is_empty());
    assert_eq!(m.file_type(), Some(0));

    let texts = ["ab a b", "b", "a b a b a b a b a b a b a b a b a b"];
    let out = m.embed(&texts, &EmbedOptions::new()).unwrap();
    for (o, t) in out.iter().zip(texts) {
        assert_eq!(o.vector.len(), N_EMBD);
        let norm: f64 = o.vector.iter().map(|x| f64::from(*x).powi(2)).sum();
        assert!((norm - 1.0).abs() < 1e-5, "{t}: norm {norm}");
        let alone = m.embed(&[t], &EmbedOptions::new()).unwrap();
        assert_eq!(alone[0], *o, "{t}: alone and in a batch");
    }
    let tokens = m
        .embed(
            &["ab"],
            &EmbedOptions::new().pooling(Pooling::None).dim(N_EMBD),
        )
        .unwrap();
    assert_eq!(tokens[0].vector.len(), tokens[0].n_tokens * N_EMBD);
    assert!(
        m.embed_tokens(&[], &EmbedOptions::new())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn layers_slide_by_the_architectures_pattern_or_the_files() {
    // Without the key: five sliding layers, then a global one.
    let m = open("pattern-default", |_| {}, &[]).unwrap();
    assert_eq!(m.hparams().sliding_layers, [true, true]);
    let key = arch_key(arch::SLIDING_WINDOW_PATTERN);
    let m = open("pattern-2", set(key.clone(), MetadataValue::U32(2)), &[]).unwrap();
    assert_eq!(m.hparams().sliding_layers, [true, false]);
    assert!(m.hparams().is_sliding(0) && !m.hparams().is_sliding(1));
    let flags = MetadataValue::Array(MetadataArray::Bool(vec![false, true]));
    let m = open("pattern-flags", set(key.clone(), flags), &[]).unwrap();
    assert_eq!(m.hparams().sliding_layers, [false, true]);
    let short = MetadataValue::Array(MetadataArray::Bool(vec![true]));
    let e = open("pattern-short", set(key.clone(), short), &[]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Model);
    assert!(e.to_string().contains(&key), "{e}");
}

#[test]
fn every_missing_key_is_an_error_naming_it() {
    let required = [
        general::ARCHITECTURE.to_string(),
        arch_key(arch::CONTEXT_LENGTH),
        arch_key(arch::EMBEDDING_LENGTH),
        arch_key(arch::BLOCK_COUNT),
        arch_key(arch::FEED_FORWARD_LENGTH),
        arch_key(arch::HEAD_COUNT),
        arch_key(arch::HEAD_COUNT_KV),
        arch_key(arch::RMS_EPSILON),
        arch_key(arch::SLIDING_WINDOW),
        arch_key(arch::ROPE_FREQ_BASE),
        arch_key(arch::ROPE_FREQ_BASE_SWA),
        keys::tokenizer::MODEL.to_string(),
        keys::tokenizer::TOKENS.to_string(),
        keys::tokenizer::SCORES.to_string(),
        keys::tokenizer::TOKEN_TYPE.to_string(),
    ];
    for key in &required {
        let e = open("missing-key", without(key), &[]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Model, "{key}: {e}");
        assert_eq!(e.to_string(), format!("missing key {key}"));
    }
}

#[test]
fn a_mistyped_key_names_it_and_keeps_the_gguf_error() {
    let key = arch_key(arch::ROPE_FREQ_BASE);
    let e = open(
        "mistyped",
        set(key.clone(), MetadataValue::String("1e6".into())),
        &[],
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Model);
    assert_eq!(e.to_string(), format!("key {key} has the wrong type"));
    let cause = e.source().expect("a cause");
    assert!(cause.downcast_ref::<gguf_format::Error>().is_some());
    assert!(cause.to_string().contains("expected"), "{cause}");
}

#[test]
fn missing_or_misshapen_tensors_are_named() {
    let up = tensor::block(1, tensor::FFN_UP);
    let e = open("missing-tensor", |_| {}, &[&up]).unwrap_err();
    assert_eq!(
        (e.kind(), e.to_string()),
        (ErrorKind::Model, format!("missing tensor {up}"))
    );
    let e = open("one-dense", |_| {}, &[tensor::DENSE_3]).unwrap_err();
    assert!(e.to_string().contains(tensor::DENSE_2), "{e}");
    let e = open(
        "wide-ffn",
        set(arch_key(arch::FEED_FORWARD_LENGTH), MetadataValue::U32(65)),
        &[],
    )
    .unwrap_err();
    assert!(
        e.to_string().contains(&format!(
            "tensor {} has shape",
            tensor::block(0, tensor::FFN_GATE)
        )),
        "{e}"
    );
}

#[test]
fn no_dense_layers_is_a_warning() {
    let m = open("no-dense", |_| {}, &[tensor::DENSE_2, tensor::DENSE_3]).unwrap();
    assert!(!m.has_dense());
    assert!(
        m.warnings()[0].contains("no dense_2/dense_3"),
        "{:?}",
        m.warnings()
    );
    let v = m.embed(&["a"], &EmbedOptions::new()).unwrap();
    assert_eq!(v[0].vector.len(), N_EMBD);
}

#[test]
fn other_architectures_and_unreadable_files_are_refused() {
    let e = open(
        "llama",
        set(
            general::ARCHITECTURE.into(),
            MetadataValue::String("llama".into()),
        ),
        &[],
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Model);
    assert!(e.to_string().contains("\"llama\""), "{e}");

    let e = Embedder::open("/nonexistent/model.gguf").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Gguf);
    assert!(e.to_string().contains("/nonexistent/model.gguf"), "{e}");
    assert!(e.source().unwrap().is::<gguf_format::Error>());

    let path = std::env::temp_dir().join(format!("gemma-encoder-not-gguf-{}", std::process::id()));
    std::fs::write(&path, b"GGML and then some more bytes").unwrap();
    let e = Embedder::open(&path).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(e.kind(), ErrorKind::Gguf);
    assert!(e.source().unwrap().is::<gguf_format::Error>());
}

#[test]
fn bad_inputs_and_options_are_errors() {
    let m = open("inputs", |_| {}, &[]).unwrap();
    let e = m
        .embed_tokens(&[vec![2, 10, 1]], &EmbedOptions::new())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Input);
    assert!(e.to_string().contains("token id 10"), "{e}");
    let e = m.embed_tokens(&[vec![]], &EmbedOptions::new()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Input);
    let e = m.embed(&["a"], &EmbedOptions::new().dim(100)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Input);
    let e = m
        .embed(&["a"], &EmbedOptions::new().max_tokens(1))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Input);
    let long = "a ".repeat(100);
    let e = m
        .embed(&["a", long.as_str()], &EmbedOptions::new().truncate(false))
        .unwrap_err();
    assert!(e.to_string().starts_with("text 1 is "), "{e}");
    let cut = m.embed(&[long.as_str()], &EmbedOptions::new()).unwrap();
    assert_eq!(cut[0].n_tokens, 64);
    assert!(
        m.project(&[0.0; N_EMBD - 1], Precision::F32Activations)
            .is_err()
    );
}

/// Opens the small model with value `at` of tensor `target` set to `x`.
fn open_with_value(target: &str, at: usize, x: f32) -> Result<Embedder, gemma_encoder::Error> {
    let path = write_model_with(
        "value",
        |_| {},
        &[],
        |name, v| {
            if name == target {
                v[4 * at..4 * at + 4].copy_from_slice(&x.to_le_bytes());
            }
        },
    );
    let model = Embedder::open(&path);
    std::fs::remove_file(&path).unwrap();
    model
}

#[test]
fn a_norm_weight_that_is_not_finite_is_named_at_open() {
    let cases = [
        (tensor::block(1, tensor::ATTN_NORM), 5, f32::NAN),
        (tensor::block(0, tensor::ATTN_K_NORM), 15, f32::INFINITY),
        (
            tensor::block(1, tensor::POST_FFW_NORM),
            0,
            f32::NEG_INFINITY,
        ),
        (tensor::OUTPUT_NORM.to_string(), 31, f32::NAN),
    ];
    for (name, at, x) in cases {
        let e = open_with_value(&name, at, x).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Model, "{e}");
        assert_eq!(
            e.to_string(),
            format!("tensor {name} holds {x} at index {at}: its values must be finite")
        );
    }
    // A large but finite value is the file's business.
    open_with_value(tensor::OUTPUT_NORM, 3, 1e30).unwrap();
}

/// The metadata with piece `id` of the vocabulary replaced by `text`.
fn with_piece(id: usize, text: &str) -> impl FnOnce(&mut Vec<(String, MetadataValue)>) + '_ {
    move |meta| {
        for (k, v) in meta.iter_mut() {
            if k == keys::tokenizer::TOKENS
                && let MetadataValue::Array(MetadataArray::String(pieces)) = v
            {
                pieces[id] = text.to_string();
            }
        }
    }
}

#[test]
fn duplicate_or_empty_pieces_are_named_at_open() {
    let e = open("duplicate-piece", with_piece(9, "▁a"), &[]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Model);
    assert_eq!(
        e.to_string(),
        "the tokenizer.ggml arrays do not make a tokenizer"
    );
    let cause = e.source().expect("the tokenizer's error");
    assert_eq!(cause.to_string(), "pieces 7 and 9 are both \"▁a\"");

    let e = open("empty-piece", with_piece(6, ""), &[]).unwrap_err();
    assert_eq!(
        (e.kind(), e.to_string()),
        (
            ErrorKind::Model,
            format!("{}: piece 6 is empty", keys::tokenizer::TOKENS)
        )
    );
}

#[test]
fn a_vector_tensor_of_the_wrong_length_is_named() {
    // A norm one value short: the tensor and both shapes are in the message.
    let name = tensor::block(0, tensor::ATTN_Q_NORM);
    let path = write_model("short-norm", |_| {}, &[]);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let g = gguf_format::Gguf::parse(&bytes).unwrap();
    let meta: Vec<(String, MetadataValue)> = g
        .metadata()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_owned_value()))
        .collect();
    let data: Vec<(TensorSpec, &[u8])> = g
        .tensors()
        .iter()
        .map(|t| {
            let mut dims = t.dims().to_vec();
            let mut d = t.data();
            if t.name() == name {
                dims[0] -= 1;
                d = &d[..d.len() - 4];
            }
            (TensorSpec::new(t.name(), t.ggml_type(), &dims), d)
        })
        .collect();
    let short = write_to_vec(&meta, &data).unwrap();
    let path =
        std::env::temp_dir().join(format!("gemma-encoder-short-{}.gguf", std::process::id()));
    std::fs::write(&path, short).unwrap();
    let e = Embedder::open(&path).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        e.to_string(),
        format!("tensor {name} has shape [15], expected [{HEAD_DIM}, 1]")
    );
}
