//! The `embed` command.
#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use embed_cli::convert::{self, OutType};

/// EmbeddingGemma text embeddings from GGUF files.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Convert a Hugging Face sentence-transformers release to GGUF.
    ///
    /// Reads config.json, modules.json, 1_Pooling/, 2_Dense/, 3_Dense/,
    /// model.safetensors, tokenizer.model and the tokenizer configs; writes a
    /// `gemma-embedding` GGUF with the Dense layers, as llama.cpp's converter with
    /// --sentence-transformers-dense-modules does.
    ///
    /// Example: embed convert ./embeddinggemma-300m -o embeddinggemma-300m-q8_0.gguf --type q8_0
    Convert {
        /// The release folder.
        hf_dir: PathBuf,
        /// The GGUF to write (written to a temporary name, renamed when complete).
        #[arg(short, long)]
        output: PathBuf,
        /// Tensor type of the matrices: f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1.
        #[arg(long = "type", default_value = "q8_0", value_parser = parse_type)]
        out_type: OutType,
    },
    /// Embed texts and print their cosine similarity matrix (not built yet).
    Similarity {
        /// The texts.
        texts: Vec<String>,
    },
}

fn parse_type(s: &str) -> Result<OutType, String> {
    OutType::from_name(s).ok_or_else(|| {
        let all: Vec<&str> = OutType::ALL.iter().map(|t| t.name()).collect();
        format!("unknown type {s:?}; one of {}", all.join(", "))
    })
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Convert {
            hf_dir,
            output,
            out_type,
        } => {
            let bar = std::io::stderr().is_terminal().then(|| {
                let bar = indicatif::ProgressBar::new(0);
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{spinner} converting [{bar:30}] {binary_bytes}/{binary_total_bytes} {msg}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                bar
            });
            let report = convert::convert(&hf_dir, &output, out_type, &mut |p| {
                if let Some(bar) = &bar {
                    bar.set_length(p.total);
                    bar.set_position(p.done);
                    bar.set_message(p.tensor.to_string());
                }
            })
            .with_context(|| format!("converting {}", hf_dir.display()))?;
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            eprintln!(
                "wrote {} ({} tensors, {} keys, {} bytes)",
                output.display(),
                report.n_tensors,
                report.n_keys,
                report.file_bytes
            );
            Ok(())
        }
        Command::Similarity { .. } => {
            anyhow::bail!(
                "embed similarity: the encoder is not built yet (see the gemma-encoder issue)"
            )
        }
    }
}
