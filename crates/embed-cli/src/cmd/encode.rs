//! `embed encode`: texts in, one vector per text out, as JSON lines, a JSON array, a
//! NumPy `.npy` file or raw float32.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use gemma_encoder::{Embedding, Pooling};

use crate::args::{EmbedArgs, ModelArg};
use crate::input::{Item, read_items};
use crate::model::{embed_items, open};
use crate::output::write_output;

/// The arguments of `embed encode`.
#[derive(Args)]
pub struct EncodeArgs {
    /// Texts to embed.
    texts: Vec<String>,
    /// Read texts from this file.
    #[arg(short, long)]
    input: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    format: Format,
    /// Write here (via a temporary file renamed when complete) instead of stdout.
    #[arg(short, long)]
    output: Option<PathBuf>,
    #[command(flatten)]
    embed: EmbedArgs,
    #[command(flatten)]
    model: ModelArg,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    /// One JSON object per line: embedding, n_tokens, truncated (and id when given).
    Jsonl,
    /// One JSON array of those objects.
    Json,
    /// A NumPy .npy file of float32, shape [texts, dim].
    Npy,
    /// Raw little-endian float32, texts one after another.
    F32,
}

pub fn run(a: EncodeArgs) -> Result<()> {
    let items = if !a.texts.is_empty() {
        if a.input.is_some() {
            bail!("give texts as arguments or with --input, not both");
        }
        a.texts.into_iter().map(Item::text).collect()
    } else {
        read_items(a.input.as_deref())?
    };
    let opts = a.embed.options()?;
    if a.format == Format::Npy && opts.pooling == Pooling::None {
        bail!(
            "--format npy needs pooled vectors (one row per text); use jsonl or f32 with --pooling none"
        );
    }
    let m = open(&a.model)?;
    let out = embed_items(&m, &items, &opts, a.model.timings)?;
    write_output(a.output.as_deref(), |w| match a.format {
        Format::Jsonl => write_json(w, &items, &out, false),
        Format::Json => write_json(w, &items, &out, true),
        Format::Npy => write_npy(w, &out),
        Format::F32 => write_f32(w, &out),
    })
}

/// One object per item (`embedding`, `n_tokens`, `truncated`, and `id` when the input
/// gave one): a line each, or with `array` one JSON array on one line.
fn write_json(w: &mut dyn Write, items: &[Item], out: &[Embedding], array: bool) -> Result<()> {
    if array {
        w.write_all(b"[")?;
    }
    for (i, (item, e)) in items.iter().zip(out).enumerate() {
        // Through serde_json::Value, whose numbers are f64: each f32 is written with
        // the digits of its f64 value, as the format has always been.
        let mut obj = serde_json::json!({
            "embedding": e.vector,
            "n_tokens": e.n_tokens,
            "truncated": e.truncated,
        });
        if let Some(id) = &item.id {
            obj["id"] = id.clone();
        }
        if array && i > 0 {
            w.write_all(b",")?;
        }
        serde_json::to_writer(&mut *w, &obj)?;
        if !array {
            w.write_all(b"\n")?;
        }
    }
    if array {
        w.write_all(b"]\n")?;
    }
    Ok(())
}

/// A NumPy `.npy` (format 1.0) of float32, shape `[texts, dim]`: the magic, the header
/// length, a Python-dict header padded with spaces to a multiple of 64 bytes, the data.
fn write_npy(w: &mut dyn Write, out: &[Embedding]) -> Result<()> {
    let dim = out.first().map_or(0, |e| e.vector.len());
    let header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {dim}), }}",
        out.len()
    );
    let mut h = header.into_bytes();
    let pad = 64 - (10 + h.len() + 1) % 64;
    h.extend(std::iter::repeat_n(b' ', pad % 64));
    h.push(b'\n');
    w.write_all(b"\x93NUMPY\x01\x00")?;
    w.write_all(&(h.len() as u16).to_le_bytes())?;
    w.write_all(&h)?;
    write_f32(w, out)
}

/// Every vector's values as little-endian float32, one vector after another.
fn write_f32(w: &mut dyn Write, out: &[Embedding]) -> Result<()> {
    for e in out {
        for v in &e.vector {
            w.write_all(&v.to_le_bytes())?;
        }
    }
    Ok(())
}
