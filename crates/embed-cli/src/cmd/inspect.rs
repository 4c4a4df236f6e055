//! `embed inspect`: what a GGUF holds (architecture, metadata, tokenizer, tensors) and
//! what would stop `embed` from running it, as text or JSON.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use gemma_encoder::keys::{self, general, tensor, tokenizer as tok};
use gguf_format::{Gguf, MappedGguf, Value};
use serde::Serialize;

/// The arguments of `embed inspect`.
#[derive(Args)]
pub struct InspectArgs {
    /// The GGUF file.
    file: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// The description of a GGUF, as `--json` prints it.
#[derive(Serialize)]
struct Inspection<'a> {
    file: String,
    gguf_version: u32,
    architecture: &'a str,
    /// The `general.*` and architecture keys, in file order; arrays by length and type.
    metadata: serde_json::Map<String, serde_json::Value>,
    tokenizer: TokenizerSummary<'a>,
    tensors: Vec<TensorRow<'a>>,
    tensor_bytes: u64,
    warnings: Vec<String>,
}

/// The tokenizer keys a reader looks at first.
#[derive(Serialize)]
struct TokenizerSummary<'a> {
    model: &'a str,
    vocab_size: usize,
    bos: Option<u32>,
    eos: Option<u32>,
    add_bos: Option<bool>,
    add_eos: Option<bool>,
}

/// One tensor: GGUF name, type, dimensions (innermost first) and size.
#[derive(Serialize)]
struct TensorRow<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    ggml_type: &'static str,
    shape: &'a [u64],
    bytes: u64,
}

pub fn run(a: &InspectArgs) -> Result<()> {
    let map = MappedGguf::open(&a.file)?;
    let g = map.parse()?;
    let doc = inspect(&a.file, &g);
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    outln!(
        "{}: GGUF v{}, architecture {}",
        a.file.display(),
        doc.gguf_version,
        doc.architecture
    );
    outln!("\nmetadata:");
    for (k, v) in &doc.metadata {
        outln!("  {k} = {v}");
    }
    outln!("\ntokenizer: {}", serde_json::to_string(&doc.tokenizer)?);
    outln!(
        "\n{} tensors, {} bytes:",
        doc.tensors.len(),
        doc.tensor_bytes
    );
    for t in &doc.tensors {
        outln!(
            "  {:<36} {:<6} {:<16} {:>12}",
            t.name,
            t.ggml_type,
            format!("{:?}", t.shape),
            t.bytes
        );
    }
    for w in &doc.warnings {
        outln!("warning: {w}");
    }
    Ok(())
}

/// The description of the parsed GGUF `g`, read from `file`.
fn inspect<'a>(file: &Path, g: &'a Gguf<'a>) -> Inspection<'a> {
    let architecture = g.get_str(general::ARCHITECTURE).unwrap_or("(none)");
    let arch_prefix = format!("{architecture}.");
    let metadata = g
        .metadata()
        .iter()
        .filter(|(k, _)| k.starts_with(&arch_prefix) || k.starts_with("general."))
        .map(|(k, v)| (k.to_string(), json_scalar(v)))
        .collect();
    let tensors: Vec<TensorRow<'a>> = g
        .tensors()
        .iter()
        .map(|t| TensorRow {
            name: t.name(),
            ggml_type: t.ggml_type().name(),
            shape: t.dims(),
            bytes: t.n_bytes(),
        })
        .collect();
    Inspection {
        file: file.display().to_string(),
        gguf_version: g.version(),
        architecture,
        metadata,
        tokenizer: TokenizerSummary {
            model: g.get_str(tok::MODEL).unwrap_or("(none)"),
            vocab_size: g.get_array(tok::TOKENS).map(|a| a.len()).unwrap_or(0),
            bos: g.get_u32(tok::BOS_ID).ok(),
            eos: g.get_u32(tok::EOS_ID).ok(),
            add_bos: g.get_bool(tok::ADD_BOS).ok(),
            add_eos: g.get_bool(tok::ADD_EOS).ok(),
        },
        tensor_bytes: tensors.iter().map(|t| t.bytes).sum(),
        tensors,
        warnings: warnings(g, architecture),
    }
}

/// What would stop `embed` from running the file, or make its vectors differ from
/// sentence-transformers', and keys no namespace accounts for.
fn warnings(g: &Gguf<'_>, architecture: &str) -> Vec<String> {
    let mut warnings = Vec::new();
    if architecture != keys::ARCHITECTURE {
        warnings.push(format!(
            "architecture {architecture:?} is not {:?}: `embed` cannot run it",
            keys::ARCHITECTURE
        ));
    } else if g.tensor(tensor::DENSE_2).is_none() || g.tensor(tensor::DENSE_3).is_none() {
        warnings.push(
            "no dense_2/dense_3 tensors: vectors will not match sentence-transformers'".into(),
        );
    }
    let arch_prefix = format!("{architecture}.");
    for (k, _) in g.metadata() {
        let known =
            k.starts_with("general.") || k.starts_with("tokenizer.") || k.starts_with(&arch_prefix);
        if !known {
            warnings.push(format!("unknown key {k}"));
        }
    }
    warnings
}

/// A metadata value as JSON: strings, bools and numbers as themselves (an f32 as the
/// f64 it widens to), an array as `"[len x type]"`.
fn json_scalar(v: &Value<'_>) -> serde_json::Value {
    match v {
        Value::String(s) => serde_json::json!(s),
        Value::Bool(b) => serde_json::json!(b),
        Value::F32(x) => serde_json::json!(x),
        Value::F64(x) => serde_json::json!(x),
        Value::Array(a) => serde_json::json!(format!("[{} x {}]", a.len(), a.elem_type())),
        v => v
            .as_i64()
            .map_or(serde_json::Value::Null, |i| serde_json::json!(i)),
    }
}
