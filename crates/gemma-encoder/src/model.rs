//! Opening a model: the hyperparameters from the `gemma-embedding.*` keys, validated; a
//! reference (byte range, type, shape) to every tensor in the memory map; the tokenizer
//! from the vocabulary arrays. Nothing is dequantized or copied here.

use std::ops::Range;
use std::path::Path;

use ggml_quant::{Matrix, QuantType};
use gguf_format::{GgmlType, Gguf, MappedGguf, TensorInfo};
use spm_tokenizer::{SpecialTokens, Tokenizer};

use crate::error::{Error, ErrorKind, model_err};

/// The architecture this crate runs.
pub const ARCHITECTURE: &str = "gemma-embedding";

/// EmbeddingGemma's hyperparameters, as the GGUF states them.
#[derive(Clone, Debug, PartialEq)]
pub struct Hparams {
    /// Transformer layers.
    pub n_layers: usize,
    /// Hidden size (768).
    pub n_embd: usize,
    /// Feed-forward size (1152).
    pub n_ff: usize,
    /// Query heads (3).
    pub n_head: usize,
    /// Key/value heads (1).
    pub n_head_kv: usize,
    /// Width of one head (256).
    pub head_dim: usize,
    /// Longest input in tokens (2048).
    pub n_ctx: usize,
    /// RMSNorm epsilon.
    pub eps: f32,
    /// RoPE base on the global layers.
    pub rope_base: f32,
    /// RoPE base on the sliding-window layers.
    pub rope_base_swa: f32,
    /// The sliding window; a sliding layer sees positions within `±window/2`.
    pub sliding_window: usize,
    /// Output size of the Dense layers, or of the transformer when they are absent.
    pub n_out: usize,
}

impl Hparams {
    /// Whether layer `il` uses the sliding window (Gemma 3: five sliding, one global).
    pub fn is_sliding(&self, il: usize) -> bool {
        il % 6 < 5
    }
}

/// A tensor in the map: its bytes' range, type and shape (`ne0` = row length).
#[derive(Clone, Debug)]
pub(crate) struct TensorRef {
    pub name: String,
    pub quant: QuantType,
    pub range: Range<usize>,
    pub ne0: usize,
    pub ne1: usize,
}

/// One transformer layer's tensors.
#[derive(Clone, Debug)]
pub(crate) struct Layer {
    pub attn_norm: Vec<f32>,
    pub q: TensorRef,
    pub k: TensorRef,
    pub v: TensorRef,
    pub q_norm: Vec<f32>,
    pub k_norm: Vec<f32>,
    pub o: TensorRef,
    pub post_attn_norm: Vec<f32>,
    pub ffn_norm: Vec<f32>,
    pub gate: TensorRef,
    pub up: TensorRef,
    pub down: TensorRef,
    pub post_ffn_norm: Vec<f32>,
}

/// What is read from the GGUF at open: references into the map, never its bytes.
pub(crate) struct Parts {
    pub hp: Hparams,
    pub token_embd: TensorRef,
    pub layers: Vec<Layer>,
    pub output_norm: Vec<f32>,
    pub dense: Option<(TensorRef, TensorRef)>,
    pub tokenizer: Tokenizer,
    pub file_type: Option<u32>,
}

/// The opened model: the map and what was read from it.
pub(crate) struct Model {
    pub map: MappedGguf,
    parts: Parts,
}

impl std::ops::Deref for Model {
    type Target = Parts;
    fn deref(&self) -> &Parts {
        &self.parts
    }
}

fn quant_of(t: &TensorInfo<'_>) -> Result<QuantType, Error> {
    Ok(match t.ggml_type() {
        GgmlType::F32 => QuantType::F32,
        GgmlType::F16 => QuantType::F16,
        GgmlType::BF16 => QuantType::BF16,
        GgmlType::Q8_0 => QuantType::Q8_0,
        GgmlType::Q4_0 => QuantType::Q4_0,
        GgmlType::Q4_1 => QuantType::Q4_1,
        GgmlType::Q5_0 => QuantType::Q5_0,
        GgmlType::Q5_1 => QuantType::Q5_1,
        GgmlType::Q4_K => QuantType::Q4_K,
        GgmlType::Q5_K => QuantType::Q5_K,
        GgmlType::Q6_K => QuantType::Q6_K,
        other => {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "tensor {} has type {other}, which this runtime cannot compute with yet",
                    t.name()
                ),
            ));
        }
    })
}

impl Model {
    pub fn open(path: &Path) -> Result<Model, Error> {
        let map = MappedGguf::open(path)?;
        let parts = read_model(&map.parse()?, map.bytes())?;
        Ok(Model { map, parts })
    }

    /// The weight matrix behind `t`.
    pub fn matrix(&self, t: &TensorRef) -> Matrix<'_> {
        // The shape and size were checked against the type when the model was opened.
        Matrix::new(t.quant, &self.map.bytes()[t.range.clone()], t.ne1, t.ne0)
            .unwrap_or_else(|e| unreachable!("tensor {} was validated at open: {e}", t.name))
    }
}

fn read_model(g: &Gguf<'_>, bytes: &[u8]) -> Result<Parts, Error> {
    let arch = g.get_str("general.architecture")?;
    if arch != ARCHITECTURE {
        return Err(model_err(format!(
            "general.architecture is {arch:?}: this runtime runs {ARCHITECTURE:?} (EmbeddingGemma) models only"
        )));
    }
    let key = |k: &str| format!("{ARCHITECTURE}.{k}");
    let u = |k: &str| -> Result<usize, Error> { Ok(g.get_u32(&key(k))? as usize) };
    let n_embd = u("embedding_length")?;
    let n_head = u("attention.head_count")?;
    let head_dim = match g.get(&key("attention.key_length")) {
        Some(_) => u("attention.key_length")?,
        None => n_embd / n_head.max(1),
    };
    let mut hp = Hparams {
        n_layers: u("block_count")?,
        n_embd,
        n_ff: u("feed_forward_length")?,
        n_head,
        n_head_kv: u("attention.head_count_kv")?,
        head_dim,
        n_ctx: u("context_length")?,
        eps: g.get_f32(&key("attention.layer_norm_rms_epsilon"))?,
        rope_base: g.get_f32(&key("rope.freq_base")).unwrap_or(10_000.0),
        rope_base_swa: g.get_f32(&key("rope.freq_base_swa")).unwrap_or(10_000.0),
        sliding_window: u("attention.sliding_window")?,
        n_out: n_embd,
    };
    if g.get(&key("attention.value_length")).is_some() && u("attention.value_length")? != head_dim {
        return Err(model_err(
            "attention.value_length differs from key_length: not supported",
        ));
    }
    let sane = hp.n_layers > 0
        && hp.n_embd > 0
        && hp.n_head > 0
        && hp.n_head_kv > 0
        && hp.n_head.is_multiple_of(hp.n_head_kv)
        && hp.head_dim.is_multiple_of(2)
        && hp.head_dim > 0
        && hp.n_ctx > 2
        && hp.eps > 0.0
        && hp.n_layers <= 1024;
    if !sane {
        return Err(model_err(format!("inconsistent hyperparameters: {hp:?}")));
    }

    let tensor = |name: &str, ne0: usize, ne1: usize| -> Result<TensorRef, Error> {
        let t = g
            .tensor(name)
            .ok_or_else(|| model_err(format!("missing tensor {name}")))?;
        let dims = t.dims();
        let (d0, d1) = (
            dims.first().copied().unwrap_or(1),
            dims.get(1).copied().unwrap_or(1),
        );
        if dims.len() > 2 || d0 != ne0 as u64 || d1 != ne1 as u64 {
            return Err(model_err(format!(
                "tensor {name} has shape {dims:?}, expected [{ne0}, {ne1}]"
            )));
        }
        let start = t.file_offset() as usize;
        let quant = quant_of(t)?;
        let r = TensorRef {
            name: name.to_string(),
            quant,
            range: start..start + t.data().len(),
            ne0,
            ne1,
        };
        Matrix::new(quant, &bytes[r.range.clone()], ne1, ne0)
            .map_err(|e| model_err(format!("tensor {name}: {e}")))?;
        Ok(r)
    };
    let vector = |name: &str, n: usize| -> Result<Vec<f32>, Error> {
        let r = tensor(name, n, 1)?;
        ggml_quant::dequantize_row(r.quant, &bytes[r.range.clone()], n)
            .map_err(|e| model_err(format!("tensor {name}: {e}")))
    };

    let vocab = g.get_array("tokenizer.ggml.tokens")?.len();
    let token_embd = tensor("token_embd.weight", hp.n_embd, vocab)?;
    let (e, f, hd) = (hp.n_embd, hp.n_ff, hp.head_dim);
    let mut layers = Vec::with_capacity(hp.n_layers);
    for il in 0..hp.n_layers {
        let n = |s: &str| format!("blk.{il}.{s}.weight");
        layers.push(Layer {
            attn_norm: vector(&n("attn_norm"), e)?,
            q: tensor(&n("attn_q"), e, hp.n_head * hd)?,
            k: tensor(&n("attn_k"), e, hp.n_head_kv * hd)?,
            v: tensor(&n("attn_v"), e, hp.n_head_kv * hd)?,
            q_norm: vector(&n("attn_q_norm"), hd)?,
            k_norm: vector(&n("attn_k_norm"), hd)?,
            o: tensor(&n("attn_output"), hp.n_head * hd, e)?,
            post_attn_norm: vector(&n("post_attention_norm"), e)?,
            ffn_norm: vector(&n("ffn_norm"), e)?,
            gate: tensor(&n("ffn_gate"), e, f)?,
            up: tensor(&n("ffn_up"), e, f)?,
            down: tensor(&n("ffn_down"), f, e)?,
            post_ffn_norm: vector(&n("post_ffw_norm"), e)?,
        });
    }
    let output_norm = vector("output_norm.weight", e)?;
    let dense = match (g.tensor("dense_2.weight"), g.tensor("dense_3.weight")) {
        (Some(d2), Some(_)) => {
            let mid = d2.dims().get(1).copied().unwrap_or(0) as usize;
            let d2 = tensor("dense_2.weight", e, mid)?;
            let d3 = tensor("dense_3.weight", mid, e)?;
            hp.n_out = e;
            Some((d2, d3))
        }
        (None, None) => None,
        _ => {
            return Err(model_err(
                "only one of dense_2.weight and dense_3.weight is present",
            ));
        }
    };

    let tokenizer = read_tokenizer(g)?;
    if tokenizer.vocab_size() != vocab {
        return Err(model_err("tokenizer arrays disagree in length"));
    }
    let file_type = g.get_u32("general.file_type").ok();
    Ok(Parts {
        hp,
        token_embd,
        layers,
        output_norm,
        dense,
        tokenizer,
        file_type,
    })
}

fn read_tokenizer(g: &Gguf<'_>) -> Result<Tokenizer, Error> {
    let model = g.get_str("tokenizer.ggml.model")?;
    if model != "llama" {
        return Err(model_err(format!(
            "tokenizer.ggml.model is {model:?}: only SentencePiece (\"llama\") vocabularies are supported"
        )));
    }
    let arr_err = |k: &str| model_err(format!("{k} has the wrong element type"));
    let tokens = g.get_array("tokenizer.ggml.tokens")?;
    let tokens = tokens
        .strs()
        .ok_or_else(|| arr_err("tokenizer.ggml.tokens"))?;
    let scores: Vec<f32> = g
        .get_array("tokenizer.ggml.scores")?
        .f32s()
        .ok_or_else(|| arr_err("tokenizer.ggml.scores"))?
        .collect();
    let types: Vec<i32> = g
        .get_array("tokenizer.ggml.token_type")?
        .i32s()
        .ok_or_else(|| arr_err("tokenizer.ggml.token_type"))?
        .collect();
    let d = SpecialTokens::SPM_DEFAULTS;
    let id = |k: &str, default: Option<u32>| -> Option<u32> {
        g.get_u32(&format!("tokenizer.ggml.{k}")).ok().or(default)
    };
    let flag = |k: &str, default: bool| {
        g.get_bool(&format!("tokenizer.ggml.{k}"))
            .unwrap_or(default)
    };
    let special = SpecialTokens {
        bos: id("bos_token_id", Some(d.bos)).unwrap_or(d.bos),
        eos: id("eos_token_id", Some(d.eos)).unwrap_or(d.eos),
        unk: id("unknown_token_id", d.unk),
        pad: id("padding_token_id", d.pad),
        add_bos: flag("add_bos_token", d.add_bos),
        add_eos: flag("add_eos_token", d.add_eos),
        add_space_prefix: flag("add_space_prefix", d.add_space_prefix),
    };
    Tokenizer::new(tokens, &scores, &types, special)
        .map_err(|e| model_err(format!("tokenizer: {e}")))
}
