//! Hugging Face release (safetensors) to GGUF, as llama.cpp's `convert_hf_to_gguf.py`
//! does it with `--sentence-transformers-dense-modules`.
//!
//! The output has architecture `gemma-embedding`, the same 41 metadata keys in the same
//! order, the norm weights with Gemma's `+1` baked in, `dense_2.weight` and
//! `dense_3.weight`, and the tokenizer arrays with llama.cpp's token types. For F32, F16,
//! BF16 and Q8_0 every tensor is byte-identical with llama.cpp's converter. The other
//! types are `llama-quantize`'s recipes (Q4_0, Q4_1, Q5_0, Q5_1, Q4_K_S, Q4_K_M, Q5_K_S,
//! Q5_K_M, Q6_K): its type for each tensor, its tensor order and key order, and its
//! quantization without an importance matrix, so the file is the one `llama-quantize`
//! makes from llama.cpp's F32 GGUF ([`Options::pure`]: one type for every matrix, as
//! `--pure`).
//!
//! Tensors are streamed a batch of rows at a time from the safetensors files (read, not
//! mapped, so resident memory stays bounded), quantized in parallel with rayon, and
//! written to a temporary file that is renamed over the output only when complete.

use std::fmt;
use std::fs::{self, File};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use gemma_encoder::ggml_quant::{QuantType, quantize_row_into};
use gemma_encoder::gguf_format::{GgmlType, GgufWriter, MetadataArray, MetadataValue, TensorSpec};
use gemma_encoder::spm_tokenizer::{PieceType, SentencePieceModel};
use rayon::prelude::*;
use safetensors::tensor::{Dtype, Metadata};
use serde_json::Value as Json;

/// The tensor types a conversion writes: one type for every matrix (F32 ... Q8_0, as
/// llama.cpp's converter makes them), or one of `llama-quantize`'s recipes (Q4_0 ...
/// Q6_K), which picks a type per tensor by its rules.
#[allow(non_camel_case_types, missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutType {
    F32,
    F16,
    BF16,
    Q8_0,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q4_K_S,
    Q4_K_M,
    Q5_K_S,
    Q5_K_M,
    Q6_K,
}

impl OutType {
    /// Every type, in the order `--type` lists them.
    pub const ALL: [OutType; 13] = [
        OutType::F32,
        OutType::F16,
        OutType::BF16,
        OutType::Q8_0,
        OutType::Q4_0,
        OutType::Q4_1,
        OutType::Q5_0,
        OutType::Q5_1,
        OutType::Q4_K_S,
        OutType::Q4_K_M,
        OutType::Q5_K_S,
        OutType::Q5_K_M,
        OutType::Q6_K,
    ];

    /// The lowercase name (`q8_0`), as in file names and `--type`.
    pub fn name(self) -> &'static str {
        match self {
            OutType::F32 => "f32",
            OutType::F16 => "f16",
            OutType::BF16 => "bf16",
            OutType::Q8_0 => "q8_0",
            OutType::Q4_0 => "q4_0",
            OutType::Q4_1 => "q4_1",
            OutType::Q5_0 => "q5_0",
            OutType::Q5_1 => "q5_1",
            OutType::Q4_K_S => "q4_k_s",
            OutType::Q4_K_M => "q4_k_m",
            OutType::Q5_K_S => "q5_k_s",
            OutType::Q5_K_M => "q5_k_m",
            OutType::Q6_K => "q6_k",
        }
    }

    /// The type called `name` (case-insensitive); `q4_k` and `q5_k` are `q4_k_m` and
    /// `q5_k_m`, as in `llama-quantize`.
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.to_ascii_lowercase();
        let name = match name.as_str() {
            "q4_k" => "q4_k_m",
            "q5_k" => "q5_k_m",
            n => n,
        };
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The type of the matrices no rule singles out.
    fn quant(self) -> QuantType {
        match self {
            OutType::F32 => QuantType::F32,
            OutType::F16 => QuantType::F16,
            OutType::BF16 => QuantType::BF16,
            OutType::Q8_0 => QuantType::Q8_0,
            OutType::Q4_0 => QuantType::Q4_0,
            OutType::Q4_1 => QuantType::Q4_1,
            OutType::Q5_0 => QuantType::Q5_0,
            OutType::Q5_1 => QuantType::Q5_1,
            OutType::Q4_K_S | OutType::Q4_K_M => QuantType::Q4_K,
            OutType::Q5_K_S | OutType::Q5_K_M => QuantType::Q5_K,
            OutType::Q6_K => QuantType::Q6_K,
        }
    }

    /// Whether llama.cpp makes this type with `llama-quantize` (from the F32 file) rather
    /// than with its converter: then the tensor types follow `llama-quantize`'s rules and
    /// the file its layout.
    fn by_llama_quantize(self) -> bool {
        !matches!(
            self,
            OutType::F32 | OutType::F16 | OutType::BF16 | OutType::Q8_0
        )
    }

    /// llama.cpp's `llama_ftype` for a file of this type (`general.file_type`).
    fn file_type(self) -> u32 {
        match self {
            OutType::F32 => 0,
            OutType::F16 => 1,
            OutType::Q4_0 => 2,
            OutType::Q4_1 => 3,
            OutType::Q8_0 => 7,
            OutType::Q5_0 => 8,
            OutType::Q5_1 => 9,
            OutType::Q4_K_S => 14,
            OutType::Q4_K_M => 15,
            OutType::Q5_K_S => 16,
            OutType::Q5_K_M => 17,
            OutType::Q6_K => 18,
            OutType::BF16 => 32,
        }
    }
}

/// How to convert: the output type, and whether to apply it to every matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// The output type or recipe.
    pub out_type: OutType,
    /// Every matrix in the recipe's base type, `token_embd` included (as
    /// `llama-quantize --pure`); a row that is not whole blocks still falls back.
    pub pure: bool,
}

impl From<OutType> for Options {
    fn from(out_type: OutType) -> Self {
        Options {
            out_type,
            pure: false,
        }
    }
}

/// `llama-quantize`'s choice of type for each matrix (`llama_tensor_get_type` in
/// `src/llama-quant.cpp`, the parts that apply to this architecture), over `items` in
/// its tensor order.
fn choose_llama_quantize_types(items: &mut [Item], opts: Options, layers: usize) {
    let base = opts.out_type.quant();
    // `use_more_bits`: the first and last eighth of the layers and every third between.
    let more_bits = |i: usize, n: usize| i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
    let mut i_attn_v = 0;
    let mut i_ffn_down = 0;
    for it in items.iter_mut() {
        if it.shape.len() < 2 {
            it.quant = QuantType::F32;
            continue;
        }
        let cols = it.row_len();
        let mut q = base;
        let name = it.gguf_name.as_str();
        if !opts.pure {
            use OutType::*;
            if name == "token_embd.weight" {
                // Gemma ties the output to the token embeddings: the output's rule.
                q = if cols % base.block_size() != 0 {
                    QuantType::Q8_0
                } else if base != QuantType::Q8_0 {
                    QuantType::Q6_K
                } else {
                    base
                };
            } else if name.ends_with(".attn_v.weight") {
                match opts.out_type {
                    Q4_K_M | Q5_K_M if more_bits(i_attn_v, layers) => q = QuantType::Q6_K,
                    Q4_K_S if i_attn_v < 4 => q = QuantType::Q5_K,
                    _ => {}
                }
                i_attn_v += 1;
            } else if name.ends_with(".ffn_down.weight") {
                match opts.out_type {
                    Q4_K_M | Q5_K_M if more_bits(i_ffn_down, layers) => q = QuantType::Q6_K,
                    Q4_K_S if i_ffn_down < layers / 8 => q = QuantType::Q5_K,
                    _ => {}
                }
                i_ffn_down += 1;
            }
        }
        // `tensor_type_fallback`: rows that are not whole super-blocks.
        if cols % q.block_size() != 0 {
            q = match q {
                QuantType::Q4_K => QuantType::Q5_0,
                QuantType::Q5_K => QuantType::Q5_1,
                QuantType::Q6_K => QuantType::Q8_0,
                other => other,
            };
            if cols % q.block_size() != 0 {
                q = QuantType::F16;
            }
        }
        it.quant = q;
    }
}

/// `llama-quantize`'s tensor order (`weight_name_comparer`): tensors outside the
/// layers first, then layer by layer, by name within each.
fn llama_quantize_order(items: &mut [Item]) {
    let layer = |name: &str| -> i64 {
        name.strip_prefix("blk.")
            .and_then(|r| r.split('.').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(-1)
    };
    items.sort_by(|a, b| {
        (layer(&a.gguf_name), &a.gguf_name).cmp(&(layer(&b.gguf_name), &b.gguf_name))
    });
}

impl fmt::Display for OutType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What kind of problem stopped a conversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A file of the release is missing or unreadable.
    Io,
    /// A config file is missing a key or has a value that cannot be right.
    Config,
    /// The release is not an EmbeddingGemma (Gemma3TextModel) model.
    Architecture,
    /// A tensor is missing, unexpected, of an unsupported dtype, or of the wrong shape.
    Tensor,
    /// A safetensors file is malformed or truncated.
    Safetensors,
    /// `tokenizer.model` or the tokenizer configs are malformed.
    Tokenizer,
    /// Writing the GGUF failed.
    Write,
}

/// A conversion error naming the file and, where there is one, the tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// What kind of problem it is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

type Result<T, E = Error> = std::result::Result<T, E>;

/// Progress of a conversion, reported after each batch of rows.
#[derive(Clone, Copy, Debug)]
pub struct Progress<'a> {
    /// The GGUF name of the tensor being written.
    pub tensor: &'a str,
    /// Source bytes converted so far.
    pub done: u64,
    /// Source bytes in all.
    pub total: u64,
}

/// What a finished conversion wrote.
#[derive(Clone, Debug)]
pub struct Report {
    /// Tensors written.
    pub n_tensors: usize,
    /// Metadata keys written.
    pub n_keys: usize,
    /// Bytes in the output file.
    pub file_bytes: u64,
}

/// Converts the sentence-transformers release in `hf_dir` to a GGUF at `out`.
///
/// `progress` is called after every batch of rows. On error nothing is left at `out`
/// (nor any temporary file).
pub fn convert(
    hf_dir: &Path,
    out: &Path,
    opts: impl Into<Options>,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Report> {
    let plan = Plan::read(hf_dir, opts.into())?;
    let tmp = temp_path(out);
    let result = plan.write(&tmp, progress);
    match result {
        Ok(report) => {
            fs::rename(&tmp, out).map_err(|e| {
                let _ = fs::remove_file(&tmp);
                io_err(out, e)
            })?;
            Ok(report)
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// The temporary name a conversion writes `out` under (`OUT.tmp-PID`), renamed over
/// `out` when complete; the CLI writes its other outputs the same way.
pub fn temp_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    out.with_file_name(name)
}

fn io_err(path: &Path, e: std::io::Error) -> Error {
    Error::new(ErrorKind::Io, format!("{}: {e}", path.display()))
}

fn read_json(path: &Path) -> Result<Json> {
    let text = fs::read_to_string(path).map_err(|e| io_err(path, e))?;
    serde_json::from_str(&text)
        .map_err(|e| Error::new(ErrorKind::Config, format!("{}: {e}", path.display())))
}

/// A key of a JSON config, with an error naming the file and key.
fn cfg<'a>(json: &'a Json, path: &Path, key: &str) -> Result<&'a Json> {
    json.get(key).filter(|v| !v.is_null()).ok_or_else(|| {
        Error::new(
            ErrorKind::Config,
            format!("{}: missing key {key:?}", path.display()),
        )
    })
}

fn cfg_u64(json: &Json, path: &Path, key: &str) -> Result<u64> {
    cfg(json, path, key)?.as_u64().ok_or_else(|| {
        Error::new(
            ErrorKind::Config,
            format!("{}: {key:?} is not a non-negative integer", path.display()),
        )
    })
}

fn cfg_f64(json: &Json, path: &Path, key: &str) -> Result<f64> {
    cfg(json, path, key)?.as_f64().ok_or_else(|| {
        Error::new(
            ErrorKind::Config,
            format!("{}: {key:?} is not a number", path.display()),
        )
    })
}

/// A safetensors file: its validated header and the open file to read data from.
struct SafetensorsFile {
    path: PathBuf,
    file: File,
    data_start: u64,
    meta: Metadata,
}

/// The largest safetensors header accepted (the format's own cap).
const MAX_HEADER: u64 = 100_000_000;

impl SafetensorsFile {
    fn open(path: &Path) -> Result<Self> {
        let st_err =
            |m: String| Error::new(ErrorKind::Safetensors, format!("{}: {m}", path.display()));
        let mut file = File::open(path).map_err(|e| io_err(path, e))?;
        let file_len = file.metadata().map_err(|e| io_err(path, e))?.len();
        let mut n = [0u8; 8];
        file.read_exact(&mut n)
            .map_err(|_| st_err("too short for a safetensors header".into()))?;
        let n = u64::from_le_bytes(n);
        if n > MAX_HEADER || 8 + n > file_len {
            return Err(st_err(format!(
                "header of {n} bytes does not fit the {file_len}-byte file"
            )));
        }
        let mut header = vec![0u8; n as usize];
        file.read_exact(&mut header).map_err(|e| io_err(path, e))?;
        let meta: Metadata =
            serde_json::from_slice(&header).map_err(|e| st_err(format!("invalid header: {e}")))?;
        let need = 8 + n + meta.data_len() as u64;
        if file_len != need {
            return Err(st_err(format!(
                "file is {file_len} bytes but its header describes {need} (truncated or padded)"
            )));
        }
        Ok(SafetensorsFile {
            path: path.to_path_buf(),
            file,
            data_start: 8 + n,
            meta,
        })
    }

    fn names(&self) -> Vec<String> {
        let mut v = self.meta.offset_keys();
        v.sort();
        v
    }

    /// Reads `n_values` values starting at value `first` of `name`, as f32.
    fn read_f32(
        &mut self,
        name: &str,
        first: usize,
        n_values: usize,
        out: &mut Vec<f32>,
    ) -> Result<()> {
        let info = self.meta.info(name).ok_or_else(|| {
            Error::new(
                ErrorKind::Tensor,
                format!("{}: no tensor {name}", self.path.display()),
            )
        })?;
        let width = match info.dtype {
            Dtype::F32 => 4,
            Dtype::F16 | Dtype::BF16 => 2,
            other => {
                return Err(Error::new(
                    ErrorKind::Tensor,
                    format!(
                        "{}: tensor {name} has unsupported dtype {other:?}",
                        self.path.display()
                    ),
                ));
            }
        };
        let dtype = info.dtype;
        let at = self.data_start + (info.data_offsets.0 + first * width) as u64;
        let mut raw = vec![0u8; n_values * width];
        self.file
            .seek(SeekFrom::Start(at))
            .and_then(|_| self.file.read_exact(&mut raw))
            .map_err(|e| io_err(&self.path, e))?;
        out.clear();
        match dtype {
            Dtype::F32 => out.extend(
                raw.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            ),
            Dtype::F16 => {
                out.extend(raw.chunks_exact(2).map(|c| {
                    gemma_encoder::ggml_quant::f16_to_f32(u16::from_le_bytes([c[0], c[1]]))
                }))
            }
            _ => {
                out.extend(raw.chunks_exact(2).map(|c| {
                    gemma_encoder::ggml_quant::bf16_to_f32(u16::from_le_bytes([c[0], c[1]]))
                }))
            }
        }
        Ok(())
    }
}

/// One tensor to write: where it comes from and how it is transformed.
struct Item {
    gguf_name: String,
    file: usize,
    src_name: String,
    /// Shape in Hugging Face order (rows first).
    shape: Vec<usize>,
    quant: QuantType,
    /// Gemma3RMSNorm computes `x * (1 + w)`: llama.cpp stores `1 + w`.
    add_one: bool,
}

impl Item {
    fn row_len(&self) -> usize {
        self.shape.last().copied().unwrap_or(1)
    }
    fn n_values(&self) -> usize {
        self.shape.iter().product()
    }
    fn ggml_type(&self) -> GgmlType {
        match self.quant {
            QuantType::F32 => GgmlType::F32,
            QuantType::F16 => GgmlType::F16,
            QuantType::BF16 => GgmlType::BF16,
            QuantType::Q8_0 => GgmlType::Q8_0,
            QuantType::Q4_0 => GgmlType::Q4_0,
            QuantType::Q4_1 => GgmlType::Q4_1,
            QuantType::Q5_0 => GgmlType::Q5_0,
            QuantType::Q5_1 => GgmlType::Q5_1,
            QuantType::Q4_K => GgmlType::Q4_K,
            QuantType::Q5_K => GgmlType::Q5_K,
            QuantType::Q6_K => GgmlType::Q6_K,
            QuantType::Q8_K => GgmlType::Q8_K,
        }
    }
    fn spec(&self) -> TensorSpec {
        let dims: Vec<u64> = self.shape.iter().rev().map(|&d| d as u64).collect();
        TensorSpec::new(&self.gguf_name, self.ggml_type(), &dims)
    }
}

/// Everything read from the release: metadata to write and tensors to stream.
struct Plan {
    metadata: Vec<(String, MetadataValue)>,
    files: Vec<SafetensorsFile>,
    items: Vec<Item>,
}

/// The hyperparameters the converter checks shapes against.
struct Hparams {
    hidden: usize,
    layers: usize,
    ffn: usize,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    vocab: usize,
}

impl Plan {
    fn read(dir: &Path, opts: Options) -> Result<Plan> {
        let out_type = opts.out_type;
        let config_path = dir.join("config.json");
        let config = read_json(&config_path)?;
        let arch_ok = config["architectures"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == "Gemma3TextModel"));
        if !arch_ok {
            return Err(Error::new(
                ErrorKind::Architecture,
                format!(
                    "{}: architectures {} is not [\"Gemma3TextModel\"]: not an EmbeddingGemma release",
                    config_path.display(),
                    config["architectures"]
                ),
            ));
        }
        let c = |k| cfg_u64(&config, &config_path, k).map(|v| v as usize);
        let hp = Hparams {
            hidden: c("hidden_size")?,
            layers: c("num_hidden_layers")?,
            ffn: c("intermediate_size")?,
            heads: c("num_attention_heads")?,
            kv_heads: c("num_key_value_heads")?,
            head_dim: c("head_dim")?,
            vocab: c("vocab_size")?,
        };
        let context = cfg_u64(&config, &config_path, "max_position_embeddings")?;
        let sliding_window = cfg_u64(&config, &config_path, "sliding_window")?;
        let eps = cfg_f64(&config, &config_path, "rms_norm_eps")? as f32;
        let rope_global = cfg_f64(&config, &config_path, "rope_theta")? as f32;
        let rope_local = cfg_f64(&config, &config_path, "rope_local_base_freq")? as f32;

        // The sentence-transformers modules: mean pooling, then the Dense layers.
        let modules_path = dir.join("modules.json");
        let modules = read_json(&modules_path)?;
        let mut dense_dirs = Vec::new();
        let mut pooling_dir = None;
        for m in modules.as_array().into_iter().flatten() {
            let ty = m["type"].as_str().unwrap_or_default();
            let rel = m["path"].as_str().unwrap_or_default();
            if ty.ends_with(".Dense") {
                dense_dirs.push(dir.join(rel));
            } else if ty.ends_with(".Pooling") {
                pooling_dir = Some(dir.join(rel));
            }
        }
        let pooling_dir = pooling_dir.ok_or_else(|| {
            Error::new(
                ErrorKind::Config,
                format!("{}: no Pooling module", modules_path.display()),
            )
        })?;
        let pooling_path = pooling_dir.join("config.json");
        let pooling = read_json(&pooling_path)?;
        if pooling["pooling_mode_mean_tokens"] != true {
            return Err(Error::new(
                ErrorKind::Config,
                format!("{}: only mean pooling is supported", pooling_path.display()),
            ));
        }
        if dense_dirs.len() != 2 {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "{}: expected 2 Dense modules (2_Dense, 3_Dense), found {}",
                    modules_path.display(),
                    dense_dirs.len()
                ),
            ));
        }
        let mut dense_feats = Vec::new();
        for d in &dense_dirs {
            let p = d.join("config.json");
            let j = read_json(&p)?;
            if j["bias"] == true {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!("{}: Dense with bias is not supported", p.display()),
                ));
            }
            let act = j["activation_function"]
                .as_str()
                .unwrap_or("torch.nn.modules.linear.Identity");
            if !act.ends_with("Identity") {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!(
                        "{}: Dense activation {act} is not supported (only Identity)",
                        p.display()
                    ),
                ));
            }
            dense_feats.push((
                cfg_u64(&j, &p, "in_features")? as usize,
                cfg_u64(&j, &p, "out_features")? as usize,
            ));
        }
        if dense_feats[0].0 != hp.hidden || dense_feats[1].0 != dense_feats[0].1 {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "Dense layers {dense_feats:?} do not chain from hidden size {}",
                    hp.hidden
                ),
            ));
        }

        // Tensors: the Dense layers first, then the model's in name order, as llama.cpp.
        let mut files = Vec::new();
        let mut items = Vec::new();
        for (i, d) in dense_dirs.iter().enumerate() {
            let f = SafetensorsFile::open(&d.join("model.safetensors"))?;
            let (fin, fout) = dense_feats[i];
            items.push(item(
                &f,
                files.len(),
                "linear.weight",
                format!("dense_{}.weight", i + 2),
                &[fout, fin],
                out_type,
            )?);
            files.push(f);
        }
        let model = SafetensorsFile::open(&dir.join("model.safetensors"))?;
        let model_idx = files.len();
        let mut seen = 0;
        for name in model.names() {
            let (gguf, shape) = map_name(&name, &hp).ok_or_else(|| {
                Error::new(
                    ErrorKind::Tensor,
                    format!("{}: unexpected tensor {name}", model.path.display()),
                )
            })?;
            items.push(item(&model, model_idx, &name, gguf, &shape, out_type)?);
            seen += 1;
        }
        let expected = 2 + 13 * hp.layers;
        if seen != expected {
            return Err(Error::new(
                ErrorKind::Tensor,
                format!(
                    "{}: {seen} tensors, expected {expected} for {} layers",
                    model.path.display(),
                    hp.layers
                ),
            ));
        }
        files.push(model);
        if out_type.by_llama_quantize() {
            llama_quantize_order(&mut items);
            choose_llama_quantize_types(&mut items, opts, hp.layers);
        }

        let mut md: Vec<(String, MetadataValue)> = Vec::new();
        let mut put = |k: &str, v: MetadataValue| md.push((k.to_string(), v));
        put("general.architecture", "gemma-embedding".into());
        put("general.type", "model".into());
        let gen_path = dir.join("generation_config.json");
        if gen_path.is_file() {
            let g = read_json(&gen_path)?;
            if let Some(k) = g["top_k"].as_i64() {
                put("general.sampling.top_k", MetadataValue::I32(k as i32));
            }
            if let Some(p) = g["top_p"].as_f64() {
                put("general.sampling.top_p", MetadataValue::F32(p as f32));
            }
        }
        let naming = Naming::from_dir(dir);
        put("general.name", naming.name.into());
        if let Some(b) = naming.basename {
            put("general.basename", b.into());
        }
        if let Some(s) = naming.size_label {
            put("general.size_label", s.into());
        }
        let card = ModelCard::read(&dir.join("README.md"));
        if let Some(l) = card.license {
            put("general.license", l.into());
        }
        if !card.tags.is_empty() {
            put("general.tags", card.tags.into());
        }
        let a = "gemma-embedding";
        put(&format!("{a}.block_count"), (hp.layers as u32).into());
        put(&format!("{a}.context_length"), (context as u32).into());
        put(&format!("{a}.embedding_length"), (hp.hidden as u32).into());
        put(&format!("{a}.feed_forward_length"), (hp.ffn as u32).into());
        put(
            &format!("{a}.attention.head_count"),
            (hp.heads as u32).into(),
        );
        put(
            &format!("{a}.attention.head_count_kv"),
            (hp.kv_heads as u32).into(),
        );
        put(&format!("{a}.rope.freq_base"), rope_global.into());
        put(&format!("{a}.rope.freq_base_swa"), rope_local.into());
        put(&format!("{a}.attention.layer_norm_rms_epsilon"), eps.into());
        put(
            &format!("{a}.attention.key_length"),
            (hp.head_dim as u32).into(),
        );
        put(
            &format!("{a}.attention.value_length"),
            (hp.head_dim as u32).into(),
        );
        put("general.file_type", out_type.file_type().into());
        put(
            &format!("{a}.attention.sliding_window"),
            (sliding_window as u32).into(),
        );
        for (i, (fin, fout)) in dense_feats.iter().enumerate() {
            put(
                &format!("{a}.dense_{}_feat_in", i + 2),
                (*fin as u32).into(),
            );
            put(
                &format!("{a}.dense_{}_feat_out", i + 2),
                (*fout as u32).into(),
            );
        }
        put(&format!("{a}.pooling_type"), 1u32.into());
        put("general.quantization_version", 2u32.into());
        for (k, v) in tokenizer_metadata(dir, hp.vocab)? {
            put(&k, v);
        }
        if out_type.by_llama_quantize() {
            // llama-quantize sets these two keys again, which moves them to the end.
            for key in ["general.quantization_version", "general.file_type"] {
                if let Some(i) = md.iter().position(|(k, _)| k == key) {
                    let kv = md.remove(i);
                    md.push(kv);
                }
            }
        }
        Ok(Plan {
            metadata: md,
            files,
            items,
        })
    }

    fn write(mut self, tmp: &Path, progress: &mut dyn FnMut(Progress<'_>)) -> Result<Report> {
        let specs: Vec<TensorSpec> = self.items.iter().map(Item::spec).collect();
        let file = File::create(tmp).map_err(|e| io_err(tmp, e))?;
        let write_err = |e: gemma_encoder::gguf_format::Error| {
            Error::new(ErrorKind::Write, format!("{}: {e}", tmp.display()))
        };
        let mut w = GgufWriter::new(
            BufWriter::with_capacity(1 << 22, file),
            &self.metadata,
            &specs,
        )
        .map_err(write_err)?;
        let total: u64 = self.items.iter().map(|i| i.n_values() as u64 * 4).sum();
        let mut done = 0u64;
        let mut src = Vec::new();
        let mut out = Vec::new();
        // About 16 MiB of f32 per batch: bounded memory, enough work to share out.
        const BATCH_VALUES: usize = 4 << 20;
        for it in &self.items {
            let row = it.row_len();
            let n = it.n_values();
            let rows_per_batch = (BATCH_VALUES / row).max(1);
            let mut first = 0;
            while first < n {
                let count = (rows_per_batch * row).min(n - first);
                self.files[it.file].read_f32(&it.src_name, first, count, &mut src)?;
                if it.add_one {
                    src.iter_mut().for_each(|v| *v += 1.0);
                }
                let parts: Vec<Vec<u8>> = src
                    .par_chunks(row * 64)
                    .map(|rows| {
                        let mut buf = Vec::new();
                        for r in rows.chunks(row) {
                            // The row length was checked against the block size when the
                            // type was chosen, so this cannot fail.
                            let _ = quantize_row_into(it.quant, r, &mut buf);
                        }
                        buf
                    })
                    .collect();
                out.clear();
                parts.iter().for_each(|p| out.extend_from_slice(p));
                w.write_data(&out).map_err(write_err)?;
                first += count;
                done += count as u64 * 4;
                progress(Progress {
                    tensor: &it.gguf_name,
                    done,
                    total,
                });
            }
        }
        let mut buf = w.finish().map_err(write_err)?;
        buf.flush().map_err(|e| io_err(tmp, e))?;
        let file = buf.into_inner().map_err(|e| io_err(tmp, e.into_error()))?;
        file.sync_all().map_err(|e| io_err(tmp, e))?;
        let file_bytes = fs::metadata(tmp).map_err(|e| io_err(tmp, e))?.len();
        Ok(Report {
            n_tensors: self.items.len(),
            n_keys: self.metadata.len(),
            file_bytes,
        })
    }
}

/// An [`Item`] for `src_name`, checked against the expected shape.
fn item(
    f: &SafetensorsFile,
    file: usize,
    src_name: &str,
    gguf_name: String,
    expect: &[usize],
    out_type: OutType,
) -> Result<Item> {
    let info = f.meta.info(src_name).ok_or_else(|| {
        Error::new(
            ErrorKind::Tensor,
            format!("{}: missing tensor {src_name}", f.path.display()),
        )
    })?;
    if info.shape != expect {
        return Err(Error::new(
            ErrorKind::Tensor,
            format!(
                "{}: tensor {src_name} has shape {:?}, the config implies {expect:?}",
                f.path.display(),
                info.shape
            ),
        ));
    }
    let is_norm = gguf_name.ends_with("_norm.weight");
    let row = expect.last().copied().unwrap_or(1);
    // llama.cpp keeps 1-D tensors and norms in F32, and falls back to F16 for a matrix
    // whose rows are not whole blocks.
    let quant = if expect.len() < 2 || is_norm {
        QuantType::F32
    } else if row % out_type.quant().block_size() != 0 {
        QuantType::F16
    } else {
        out_type.quant()
    };
    Ok(Item {
        gguf_name,
        file,
        src_name: src_name.to_string(),
        shape: expect.to_vec(),
        quant,
        add_one: src_name.ends_with("norm.weight"),
    })
}

/// The GGUF name and expected shape (Hugging Face order) of a model tensor.
fn map_name(name: &str, hp: &Hparams) -> Option<(String, Vec<usize>)> {
    let (h, f, hd) = (hp.hidden, hp.ffn, hp.head_dim);
    match name {
        "embed_tokens.weight" => return Some(("token_embd.weight".into(), vec![hp.vocab, h])),
        "norm.weight" => return Some(("output_norm.weight".into(), vec![h])),
        _ => {}
    }
    let rest = name.strip_prefix("layers.")?;
    let (idx, field) = rest.split_once('.')?;
    let layer: usize = idx.parse().ok()?;
    if layer >= hp.layers || idx != layer.to_string() {
        return None;
    }
    let (gguf, shape) = match field {
        "input_layernorm.weight" => ("attn_norm", vec![h]),
        "self_attn.q_proj.weight" => ("attn_q", vec![hp.heads * hd, h]),
        "self_attn.k_proj.weight" => ("attn_k", vec![hp.kv_heads * hd, h]),
        "self_attn.v_proj.weight" => ("attn_v", vec![hp.kv_heads * hd, h]),
        "self_attn.o_proj.weight" => ("attn_output", vec![h, hp.heads * hd]),
        "self_attn.q_norm.weight" => ("attn_q_norm", vec![hd]),
        "self_attn.k_norm.weight" => ("attn_k_norm", vec![hd]),
        "post_attention_layernorm.weight" => ("post_attention_norm", vec![h]),
        "pre_feedforward_layernorm.weight" => ("ffn_norm", vec![h]),
        "post_feedforward_layernorm.weight" => ("post_ffw_norm", vec![h]),
        "mlp.gate_proj.weight" => ("ffn_gate", vec![f, h]),
        "mlp.up_proj.weight" => ("ffn_up", vec![f, h]),
        "mlp.down_proj.weight" => ("ffn_down", vec![h, f]),
        _ => return None,
    };
    Some((format!("blk.{layer}.{gguf}.weight"), shape))
}

/// `general.name`, `basename` and `size_label` from the release's folder name, as
/// llama.cpp's metadata heuristics give them for `embeddinggemma-300m`.
struct Naming {
    name: String,
    basename: Option<String>,
    size_label: Option<String>,
}

impl Naming {
    fn from_dir(dir: &Path) -> Naming {
        let stem = dir
            .canonicalize()
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "model".into());
        let words: Vec<&str> = stem.split(['-', '_']).filter(|w| !w.is_empty()).collect();
        let is_size = |w: &str| {
            let (num, unit) = w.split_at(w.len().saturating_sub(1));
            !num.is_empty()
                && num.chars().all(|c| c.is_ascii_digit() || c == '.')
                && matches!(unit, "k" | "K" | "m" | "M" | "b" | "B" | "t" | "T")
        };
        let size_pos = words.iter().position(|w| is_size(w));
        let name = words
            .iter()
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map_or(String::new(), |f| f.to_uppercase().chain(c).collect())
            })
            .collect::<Vec<_>>()
            .join(" ");
        Naming {
            name,
            basename: size_pos
                .filter(|&p| p > 0)
                .map(|p| words[..p].join("-").to_lowercase()),
            size_label: size_pos.map(|p| words[p].to_uppercase()),
        }
    }
}

/// The model card's YAML front matter: license and tags (plus the pipeline tag, which
/// llama.cpp appends to the tags).
#[derive(Default)]
struct ModelCard {
    license: Option<String>,
    tags: Vec<String>,
}

impl ModelCard {
    fn read(path: &Path) -> ModelCard {
        let Ok(text) = fs::read_to_string(path) else {
            return ModelCard::default();
        };
        let mut card = ModelCard::default();
        let mut lines = text.lines();
        if lines.next().map(str::trim) != Some("---") {
            return card;
        }
        let mut in_tags = false;
        let mut pipeline = None;
        for line in lines {
            if line.trim() == "---" {
                break;
            }
            if in_tags {
                if let Some(item) = line.trim_start().strip_prefix("- ") {
                    card.tags.push(unquote(item));
                    continue;
                }
                in_tags = false;
            }
            if let Some((k, v)) = line.split_once(':') {
                match (k, v.trim()) {
                    ("license", v) => card.license = Some(unquote(v)),
                    ("pipeline_tag", v) => pipeline = Some(unquote(v)),
                    ("tags", "") => in_tags = true,
                    _ => {}
                }
            }
        }
        card.tags.extend(pipeline);
        card
    }
}

fn unquote(s: &str) -> String {
    s.trim().trim_matches(['"', '\'']).to_string()
}

/// The tokenizer keys, as `_set_vocab_sentencepiece` and `SpecialVocab` write them.
fn tokenizer_metadata(dir: &Path, vocab: usize) -> Result<Vec<(String, MetadataValue)>> {
    let sp_path = dir.join("tokenizer.model");
    let bytes = fs::read(&sp_path).map_err(|e| io_err(&sp_path, e))?;
    let sp = SentencePieceModel::parse(&bytes)
        .map_err(|e| Error::new(ErrorKind::Tokenizer, format!("{}: {e}", sp_path.display())))?;

    let mut tokens: Vec<String> = (0..vocab).map(|i| format!("[PAD{i}]")).collect();
    let mut scores = vec![-10000.0f32; vocab];
    let mut types = vec![PieceType::Unused as i32; vocab];
    for (i, p) in sp.pieces.iter().enumerate().take(vocab) {
        tokens[i] = p.text.clone();
        scores[i] = p.score;
        // The first pass never asks for USER_DEFINED: such pieces come out NORMAL.
        types[i] = match p.kind {
            PieceType::UserDefined => PieceType::Normal,
            k => k,
        } as i32;
    }
    let added_path = dir.join("added_tokens.json");
    if added_path.is_file() {
        let added = read_json(&added_path)?;
        for (text, id) in added.as_object().into_iter().flatten() {
            let Some(id) = id.as_u64().map(|i| i as usize).filter(|&i| i < vocab) else {
                continue; // out of range: llama.cpp ignores it too
            };
            tokens[id] = text.clone();
            scores[id] = -1000.0;
            types[id] = PieceType::UserDefined as i32;
        }
    }
    let tc_path = dir.join("tokenizer_config.json");
    let tc = if tc_path.is_file() {
        read_json(&tc_path)?
    } else {
        Json::Null
    };
    if let Some(decoder) = tc["added_tokens_decoder"].as_object() {
        for (id, data) in decoder {
            let bad = || {
                Error::new(
                    ErrorKind::Tokenizer,
                    format!(
                        "{}: bad added_tokens_decoder entry {id:?}",
                        tc_path.display()
                    ),
                )
            };
            let id: usize = id.parse().map_err(|_| bad())?;
            let text = data["content"].as_str().ok_or_else(bad)?;
            if id >= vocab {
                continue;
            }
            if data["special"] == true || looks_special(text) {
                types[id] = PieceType::Control as i32;
                tokens[id] = text.to_string();
            } else {
                types[id] = PieceType::UserDefined as i32;
                tokens[id] = text.replace('\u{2581}', " ");
            }
            scores[id] = -1000.0;
        }
    }
    let special = |key: &str, fallback: &str| -> Option<u32> {
        let text = match &tc[key] {
            Json::String(s) => s.as_str(),
            Json::Object(o) => o.get("content").and_then(Json::as_str).unwrap_or(fallback),
            _ => fallback,
        };
        tokens.iter().position(|t| t == text).map(|i| i as u32)
    };
    let mut md = vec![
        (
            "tokenizer.ggml.model".to_string(),
            MetadataValue::from("llama"),
        ),
        ("tokenizer.ggml.pre".into(), "default".into()),
    ];
    let mut ids = Vec::new();
    for (key, name, fallback) in [
        ("bos_token", "bos_token_id", "<bos>"),
        ("eos_token", "eos_token_id", "<eos>"),
        ("unk_token", "unknown_token_id", "<unk>"),
        ("pad_token", "padding_token_id", "<pad>"),
    ] {
        if let Some(id) = special(key, fallback) {
            ids.push((format!("tokenizer.ggml.{name}"), MetadataValue::U32(id)));
        }
    }
    md.push((
        "tokenizer.ggml.tokens".into(),
        MetadataArray::String(tokens).into(),
    ));
    md.push((
        "tokenizer.ggml.scores".into(),
        MetadataArray::F32(scores).into(),
    ));
    md.push((
        "tokenizer.ggml.token_type".into(),
        MetadataArray::I32(types).into(),
    ));
    md.extend(ids);
    let flag = |k: &str, default: bool| tc[k].as_bool().unwrap_or(default);
    md.push((
        "tokenizer.ggml.add_bos_token".into(),
        flag("add_bos_token", true).into(),
    ));
    md.push((
        "tokenizer.ggml.add_eos_token".into(),
        flag("add_eos_token", true).into(),
    ));
    md.push(("tokenizer.ggml.add_sep_token".into(), false.into()));
    md.push(("tokenizer.ggml.add_space_prefix".into(), false.into()));
    Ok(md)
}

/// llama.cpp's `does_token_look_special`.
fn looks_special(t: &str) -> bool {
    matches!(t, "<pad>" | "<mask>" | "<2mass>" | "[@BOS@]")
        || (t.starts_with("<|") && t.ends_with("|>"))
        || (t.starts_with("<｜") && t.ends_with("｜>"))
        || (t.starts_with("<unused") && t.ends_with('>'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp() -> Hparams {
        Hparams {
            hidden: 768,
            layers: 24,
            ffn: 1152,
            heads: 3,
            kv_heads: 1,
            head_dim: 256,
            vocab: 262144,
        }
    }

    #[test]
    fn names_map_as_llama_cpp() {
        let hp = hp();
        assert_eq!(
            map_name("layers.10.mlp.down_proj.weight", &hp),
            Some(("blk.10.ffn_down.weight".into(), vec![768, 1152]))
        );
        assert_eq!(
            map_name("layers.0.self_attn.k_norm.weight", &hp),
            Some(("blk.0.attn_k_norm.weight".into(), vec![256]))
        );
        assert_eq!(
            map_name("embed_tokens.weight", &hp),
            Some(("token_embd.weight".into(), vec![262144, 768]))
        );
        assert_eq!(map_name("layers.24.mlp.up_proj.weight", &hp), None);
        assert_eq!(map_name("layers.01.mlp.up_proj.weight", &hp), None);
        assert_eq!(map_name("lm_head.weight", &hp), None);
    }

    #[test]
    fn naming_follows_the_folder() {
        let d =
            std::env::temp_dir().join(format!("embeddinggemma-300m-naming-{}", std::process::id()));
        let dir = d.join("embeddinggemma-300m");
        fs::create_dir_all(&dir).unwrap();
        let n = Naming::from_dir(&dir);
        assert_eq!(n.name, "Embeddinggemma 300m");
        assert_eq!(n.basename.as_deref(), Some("embeddinggemma"));
        assert_eq!(n.size_label.as_deref(), Some("300M"));
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn special_looking_tokens() {
        assert!(looks_special("<unused12>"));
        assert!(looks_special("<|im_start|>"));
        assert!(looks_special("<mask>"));
        assert!(!looks_special("[multimodal]"));
        assert!(!looks_special("<start_of_image>"));
    }
}
