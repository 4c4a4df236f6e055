//! Opening a model: the hyperparameters from the `gemma-embedding.*` keys, validated; a
//! reference (byte range, type, shape) to every tensor in the memory map; the tokenizer
//! from the vocabulary arrays. Nothing is dequantized or copied here but the norm
//! vectors.

use std::ops::Range;
use std::path::Path;

use ggml_quant::{Matrix, QuantType};
use gguf_format::{Gguf, MappedGguf, TensorInfo, Value};
use spm_tokenizer::{SpecialTokens, Tokenizer};

use crate::error::{Error, ErrorKind, model_err};
use crate::keys::{self, ARCHITECTURE, arch, arch_key, general, tensor};

/// EmbeddingGemma's hyperparameters, as the GGUF states them.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
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
    /// Which layers use the sliding window, by layer: from
    /// `attention.sliding_window_pattern` when the file has it (a period or one flag
    /// per layer, as llama.cpp reads it), else the architecture's period
    /// [`keys::SLIDING_WINDOW_PATTERN`].
    pub sliding_layers: Vec<bool>,
    /// Size of the output vectors: `n_embd`, which the Dense layers map back to.
    pub n_out: usize,
}

impl Hparams {
    /// Whether layer `il` uses the sliding window (the others attend to the whole text).
    pub fn is_sliding(&self, il: usize) -> bool {
        self.sliding_layers.get(il).copied().unwrap_or(false)
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

impl Model {
    pub fn open(path: &Path) -> Result<Model, Error> {
        let map = MappedGguf::open(path).map_err(|e| {
            Error::caused_by(
                ErrorKind::Gguf,
                format!("cannot open {}", path.display()),
                e,
            )
        })?;
        let gguf = map.parse().map_err(|e| {
            Error::caused_by(
                ErrorKind::Gguf,
                format!("{} is not a readable GGUF", path.display()),
                e,
            )
        })?;
        let parts = read_model(&gguf, map.bytes())?;
        Ok(Model { map, parts })
    }

    /// The weight matrix behind `t`.
    pub fn matrix(&self, t: &TensorRef) -> Matrix<'_> {
        // The shape and size were checked against the type when the model was opened.
        Matrix::new(t.quant, &self.map.bytes()[t.range.clone()], t.ne1, t.ne0)
            .unwrap_or_else(|e| unreachable!("tensor {} was validated at open: {e}", t.name))
    }
}

/// The value of `key`; its absence is an error naming it.
fn value_of<'a>(g: &Gguf<'a>, key: &str) -> Result<Value<'a>, Error> {
    g.get(key)
        .ok_or_else(|| model_err(format!("missing key {key}")))
}

/// `key` read by `get` (one of `Gguf`'s typed getters), `None` when absent; present
/// with another type, an error naming it.
fn optional<'a, T>(
    g: &Gguf<'a>,
    key: &str,
    get: impl FnOnce(&Gguf<'a>, &str) -> gguf_format::Result<T>,
) -> Result<Option<T>, Error> {
    if g.get(key).is_none() {
        return Ok(None);
    }
    get(g, key).map(Some).map_err(|e| wrong_type(key, e))
}

/// `key`, which must be present, read by `get`.
fn required<'a, T>(
    g: &Gguf<'a>,
    key: &str,
    get: impl FnOnce(&Gguf<'a>, &str) -> gguf_format::Result<T>,
) -> Result<T, Error> {
    value_of(g, key)?;
    get(g, key).map_err(|e| wrong_type(key, e))
}

fn wrong_type(key: &str, e: gguf_format::Error) -> Error {
    Error::caused_by(ErrorKind::Model, format!("key {key} has the wrong type"), e)
}

/// The unsigned integer at architecture key `suffix`.
fn arch_usize(g: &Gguf<'_>, suffix: &str) -> Result<usize, Error> {
    required(g, &arch_key(suffix), Gguf::get_u32).map(|v| v as usize)
}

fn read_model(g: &Gguf<'_>, bytes: &[u8]) -> Result<Parts, Error> {
    let arch = required(g, general::ARCHITECTURE, Gguf::get_str)?;
    if arch != ARCHITECTURE {
        return Err(model_err(format!(
            "{} is {arch:?}: this runtime runs {ARCHITECTURE:?} (EmbeddingGemma) models only",
            general::ARCHITECTURE
        )));
    }
    let vocab = match value_of(g, keys::tokenizer::TOKENS)?.as_array() {
        Some(tokens) => tokens.len(),
        None => {
            return Err(model_err(format!(
                "{} is not an array",
                keys::tokenizer::TOKENS
            )));
        }
    };
    let hp = read_hparams(g)?;
    let weights = Weights { g, bytes };
    let token_embd = weights.matrix(tensor::TOKEN_EMBD, hp.n_embd, vocab)?;
    let layers = (0..hp.n_layers)
        .map(|il| weights.layer(il, &hp))
        .collect::<Result<Vec<_>, _>>()?;
    let output_norm = weights.vector(tensor::OUTPUT_NORM, hp.n_embd)?;
    let dense = weights.dense(hp.n_embd)?;
    let tokenizer = read_tokenizer(g)?;
    if tokenizer.vocab_size() != vocab {
        return Err(model_err("tokenizer arrays disagree in length"));
    }
    let file_type = optional(g, general::FILE_TYPE, Gguf::get_u32)?;
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

/// The `gemma-embedding.*` keys, checked for a shape the forward pass can run.
fn read_hparams(g: &Gguf<'_>) -> Result<Hparams, Error> {
    let n_embd = arch_usize(g, arch::EMBEDDING_LENGTH)?;
    let n_head = arch_usize(g, arch::HEAD_COUNT)?;
    let head_dim = match optional(g, &arch_key(arch::KEY_LENGTH), Gguf::get_u32)? {
        Some(d) => d as usize,
        None => n_embd / n_head.max(1),
    };
    let value_length = optional(g, &arch_key(arch::VALUE_LENGTH), Gguf::get_u32)?;
    if value_length.is_some_and(|d| d as usize != head_dim) {
        return Err(model_err(format!(
            "{} differs from {}: not supported",
            arch_key(arch::VALUE_LENGTH),
            arch_key(arch::KEY_LENGTH)
        )));
    }
    let n_layers = arch_usize(g, arch::BLOCK_COUNT)?;
    let hp = Hparams {
        n_layers,
        n_embd,
        n_ff: arch_usize(g, arch::FEED_FORWARD_LENGTH)?,
        n_head,
        n_head_kv: arch_usize(g, arch::HEAD_COUNT_KV)?,
        head_dim,
        n_ctx: arch_usize(g, arch::CONTEXT_LENGTH)?,
        eps: required(g, &arch_key(arch::RMS_EPSILON), Gguf::get_f32)?,
        rope_base: required(g, &arch_key(arch::ROPE_FREQ_BASE), Gguf::get_f32)?,
        rope_base_swa: required(g, &arch_key(arch::ROPE_FREQ_BASE_SWA), Gguf::get_f32)?,
        sliding_window: arch_usize(g, arch::SLIDING_WINDOW)?,
        sliding_layers: read_sliding_layers(g, n_layers)?,
        n_out: n_embd,
    };
    let sane = hp.n_layers > 0
        && hp.n_embd > 0
        && hp.n_head > 0
        && hp.n_head_kv > 0
        && hp.n_head.is_multiple_of(hp.n_head_kv)
        && hp.head_dim.is_multiple_of(2)
        && hp.head_dim > 0
        && hp.n_ctx > 2
        && hp.eps > 0.0
        && hp.rope_base > 0.0
        && hp.rope_base_swa > 0.0
        && hp.n_layers <= 1024;
    if !sane {
        return Err(model_err(format!("inconsistent hyperparameters: {hp:?}")));
    }
    Ok(hp)
}

/// Which layers slide, as llama.cpp reads `attention.sliding_window_pattern`: a period
/// `n` makes layer `il` sliding unless `il % n == n - 1` (0: every layer), an array
/// gives one flag per layer; without the key, the architecture's period.
fn read_sliding_layers(g: &Gguf<'_>, n_layers: usize) -> Result<Vec<bool>, Error> {
    let key = arch_key(arch::SLIDING_WINDOW_PATTERN);
    let period = |n: usize| (0..n_layers).map(|il| n == 0 || il % n < n - 1).collect();
    let Some(value) = g.get(&key) else {
        return Ok(period(keys::SLIDING_WINDOW_PATTERN));
    };
    if let Some(flags) = value.as_array() {
        let flags: Vec<bool> = flags
            .bools()
            .ok_or_else(|| {
                model_err(format!(
                    "{key} is an array of {}, not of bools",
                    flags.elem_type()
                ))
            })?
            .collect();
        if flags.len() != n_layers {
            return Err(model_err(format!(
                "{key} has {} flags for {n_layers} layers",
                flags.len()
            )));
        }
        return Ok(flags);
    }
    let n = required(g, &key, Gguf::get_u32)?;
    Ok(period(n as usize))
}

/// Tensors looked up by name and checked against the shape the model needs.
struct Weights<'g, 'a> {
    g: &'g Gguf<'a>,
    bytes: &'g [u8],
}

impl Weights<'_, '_> {
    /// The tensor `name`, which must be `ne1` rows of `ne0`, as a reference into the map.
    fn matrix(&self, name: &str, ne0: usize, ne1: usize) -> Result<TensorRef, Error> {
        let t = self
            .g
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
        Matrix::new(quant, &self.bytes[r.range.clone()], ne1, ne0).map_err(|e| {
            Error::caused_by(
                ErrorKind::Model,
                format!("tensor {name} does not hold its shape in its type"),
                e,
            )
        })?;
        Ok(r)
    }

    /// The vector `name` of `n` values, widened to f32. Every value must be finite: a
    /// NaN or infinite norm weight would turn every vector NaN, so it is refused here
    /// rather than served. (The matrices are not scanned: that would read the whole file
    /// at open.)
    fn vector(&self, name: &str, n: usize) -> Result<Vec<f32>, Error> {
        let r = self.matrix(name, n, 1)?;
        let v =
            ggml_quant::dequantize_row(r.quant, &self.bytes[r.range.clone()], n).map_err(|e| {
                Error::caused_by(ErrorKind::Model, format!("tensor {name} cannot be read"), e)
            })?;
        if let Some((i, x)) = v.iter().enumerate().find(|(_, x)| !x.is_finite()) {
            return Err(model_err(format!(
                "tensor {name} holds {x} at index {i}: its values must be finite"
            )));
        }
        Ok(v)
    }

    /// Layer `il`'s tensors.
    fn layer(&self, il: usize, hp: &Hparams) -> Result<Layer, Error> {
        let (e, f, hd) = (hp.n_embd, hp.n_ff, hp.head_dim);
        let (q_dim, kv_dim) = (hp.n_head * hd, hp.n_head_kv * hd);
        let matrix = |name: &str, ne0, ne1| self.matrix(&tensor::block(il, name), ne0, ne1);
        let vector = |name: &str, n| self.vector(&tensor::block(il, name), n);
        Ok(Layer {
            attn_norm: vector(tensor::ATTN_NORM, e)?,
            q: matrix(tensor::ATTN_Q, e, q_dim)?,
            k: matrix(tensor::ATTN_K, e, kv_dim)?,
            v: matrix(tensor::ATTN_V, e, kv_dim)?,
            q_norm: vector(tensor::ATTN_Q_NORM, hd)?,
            k_norm: vector(tensor::ATTN_K_NORM, hd)?,
            o: matrix(tensor::ATTN_OUTPUT, q_dim, e)?,
            post_attn_norm: vector(tensor::POST_ATTENTION_NORM, e)?,
            ffn_norm: vector(tensor::FFN_NORM, e)?,
            gate: matrix(tensor::FFN_GATE, e, f)?,
            up: matrix(tensor::FFN_UP, e, f)?,
            down: matrix(tensor::FFN_DOWN, f, e)?,
            post_ffn_norm: vector(tensor::POST_FFW_NORM, e)?,
        })
    }

    /// The two Dense layers (`n_embd` to their inner width and back), or `None` when the
    /// file has neither.
    fn dense(&self, n_embd: usize) -> Result<Option<(TensorRef, TensorRef)>, Error> {
        match (
            self.g.tensor(tensor::DENSE_2),
            self.g.tensor(tensor::DENSE_3),
        ) {
            (Some(d2), Some(_)) => {
                let mid = d2.dims().get(1).copied().unwrap_or(0) as usize;
                let d2 = self.matrix(tensor::DENSE_2, n_embd, mid)?;
                let d3 = self.matrix(tensor::DENSE_3, mid, n_embd)?;
                Ok(Some((d2, d3)))
            }
            (None, None) => Ok(None),
            _ => Err(model_err(format!(
                "only one of {} and {} is present",
                tensor::DENSE_2,
                tensor::DENSE_3
            ))),
        }
    }
}

/// The kernels' type for a tensor's GGUF type.
fn quant_of(t: &TensorInfo<'_>) -> Result<QuantType, Error> {
    // Q8_K is only ever an activation type in ggml: no weight is stored in it.
    match QuantType::try_from(t.ggml_type()) {
        Ok(q) if q != QuantType::Q8_K => Ok(q),
        _ => Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "tensor {} has type {}, which this runtime cannot compute with yet",
                t.name(),
                t.ggml_type()
            ),
        )),
    }
}

/// The SentencePiece tokenizer from the `tokenizer.ggml.*` arrays; special ids and
/// flags the file leaves out take SentencePiece's defaults.
fn read_tokenizer(g: &Gguf<'_>) -> Result<Tokenizer, Error> {
    use keys::tokenizer as k;
    let model = required(g, k::MODEL, Gguf::get_str)?;
    if model != "llama" {
        return Err(model_err(format!(
            "{} is {model:?}: only SentencePiece (\"llama\") vocabularies are supported",
            k::MODEL
        )));
    }
    let arr_err = |key: &str| model_err(format!("{key} has the wrong element type"));
    let tokens = required(g, k::TOKENS, Gguf::get_array)?;
    let tokens = tokens.strs().ok_or_else(|| arr_err(k::TOKENS))?;
    // llama.cpp renames an empty piece and runs on; Gemma's vocabulary has none, so one
    // means a damaged file, refused here rather than tokenized differently.
    let tokens: Vec<&str> = tokens.collect();
    if let Some(i) = tokens.iter().position(|t| t.is_empty()) {
        return Err(model_err(format!("{}: piece {i} is empty", k::TOKENS)));
    }
    let scores: Vec<f32> = required(g, k::SCORES, Gguf::get_array)?
        .f32s()
        .ok_or_else(|| arr_err(k::SCORES))?
        .collect();
    let types: Vec<i32> = required(g, k::TOKEN_TYPE, Gguf::get_array)?
        .i32s()
        .ok_or_else(|| arr_err(k::TOKEN_TYPE))?
        .collect();
    let d = SpecialTokens::SPM_DEFAULTS;
    let id = |key: &str| optional(g, key, Gguf::get_u32);
    let flag = |key: &str, default: bool| {
        Ok::<_, Error>(optional(g, key, Gguf::get_bool)?.unwrap_or(default))
    };
    let special = SpecialTokens {
        bos: id(k::BOS_ID)?.unwrap_or(d.bos),
        eos: id(k::EOS_ID)?.unwrap_or(d.eos),
        unk: id(k::UNK_ID)?.or(d.unk),
        pad: id(k::PAD_ID)?.or(d.pad),
        add_bos: flag(k::ADD_BOS, d.add_bos)?,
        add_eos: flag(k::ADD_EOS, d.add_eos)?,
        add_space_prefix: flag(k::ADD_SPACE_PREFIX, d.add_space_prefix)?,
    };
    Tokenizer::new(tokens, &scores, &types, special).map_err(|e| {
        Error::caused_by(
            ErrorKind::Model,
            "the tokenizer.ggml arrays do not make a tokenizer",
            e,
        )
    })
}
