//! `embed convert`: a Hugging Face release to GGUF, with a progress bar on a terminal.

use std::io::{self, IsTerminal};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use gemma_convert::{Options, OutType, temp_path};

use crate::output::set_pending;

/// The arguments of `embed convert`.
#[derive(Args)]
pub struct ConvertArgs {
    /// The release folder.
    hf_dir: PathBuf,
    /// The GGUF to write (written to a temporary name, renamed when complete).
    #[arg(short, long)]
    output: PathBuf,
    /// Tensor type: f32, f16, bf16, q8_0 (every matrix in that type, as llama.cpp's
    /// converter), or a llama-quantize recipe: q4_0, q4_1, q5_0, q5_1, q4_k_s,
    /// q4_k_m (alias q4_k), q5_k_s, q5_k_m (alias q5_k), q6_k.
    #[arg(long = "type", default_value = "q8_0", value_parser = parse_type)]
    out_type: OutType,
    /// Every matrix in the recipe's base type, token_embd included (llama-quantize --pure).
    #[arg(long)]
    pure: bool,
}

fn parse_type(s: &str) -> Result<OutType, String> {
    OutType::from_name(s).ok_or_else(|| {
        let all: Vec<&str> = OutType::ALL.iter().map(|t| t.name()).collect();
        format!("unknown type {s:?}; one of {}", all.join(", "))
    })
}

pub fn run(a: &ConvertArgs) -> Result<()> {
    let bar = io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} converting [{bar:30}] {binary_bytes}/{binary_total_bytes} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    // The converter removes its temporary file on error; an interrupt removes it here.
    set_pending(Some(temp_path(&a.output)));
    let opts = Options::new(a.out_type).pure(a.pure);
    let report = gemma_convert::convert(&a.hf_dir, &a.output, opts, &mut |p| {
        if let Some(bar) = &bar {
            bar.set_length(p.total);
            bar.set_position(p.done);
            bar.set_message(p.tensor.to_string());
        }
    })
    .with_context(|| format!("converting {}", a.hf_dir.display()));
    set_pending(None);
    let report = report?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    eprintln!(
        "wrote {} ({} tensors, {} keys, {} bytes)",
        a.output.display(),
        report.n_tensors,
        report.n_keys,
        report.file_bytes
    );
    Ok(())
}
