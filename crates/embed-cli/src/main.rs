//! The `embed` command: EmbeddingGemma text embeddings from GGUF files, in pure Rust.
//!
//! [`Cli`] and [`Command`] are the command line (clap); each command's arguments and
//! work are its module under `cmd/` (encode, similarity, rank, tokenize, inspect,
//! convert, serve). Around them: `args` holds the options several commands share (the model,
//! threads, timings; the embedding options), `model` opens the model and embeds with a
//! progress bar and timings, `input` reads texts from a file or standard input, and
//! `output` writes to standard output or to a file through a temporary name that an
//! interrupt removes.
#![forbid(unsafe_code)]

#[macro_use]
mod output;
mod args;
mod cmd;
mod input;
mod model;

use std::io;

use clap::{Parser, Subcommand};

/// EmbeddingGemma text embeddings from GGUF files, in pure Rust.
#[derive(Parser)]
#[command(version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Embed texts.
    ///
    /// Texts come from the arguments, else from --input (one text per line, or JSONL
    /// objects with "text" and optional "id" and "title" when the file ends in .jsonl),
    /// else from standard input, one per line. All texts are embedded in large batches.
    ///
    /// Examples:
    ///   embed encode "A cat sat on the mat." "Dogs bark."
    ///   embed encode --input docs.jsonl --prompt document --output vectors.jsonl
    ///   cat queries.txt | embed encode --prompt query --dim 256 --format npy -o q.npy
    Encode(cmd::encode::EncodeArgs),
    /// Embed texts and print their cosine similarity matrix.
    ///
    /// Example: embed similarity "The cat sat." "A kitten rested." "Markets fell."
    Similarity(cmd::similarity::SimilarityArgs),
    /// Rank the documents of a file against a query (query and document prompts).
    ///
    /// Example: embed rank "how do I reset my password" --input faq.txt --top 3
    Rank(cmd::rank::RankArgs),
    /// Print the token ids of a text (BOS and EOS added, special tokens parsed) as JSON.
    ///
    /// Example: embed tokenize --pieces "Hello world"
    Tokenize(cmd::tokenize::TokenizeArgs),
    /// Describe a GGUF file: architecture, hyperparameters, tensors, tokenizer, warnings.
    ///
    /// Example: embed inspect embeddinggemma-300m-q8_0.gguf --json
    Inspect(cmd::inspect::InspectArgs),
    /// Convert a Hugging Face sentence-transformers release to GGUF.
    ///
    /// Reads config.json, modules.json, 1_Pooling/, 2_Dense/, 3_Dense/,
    /// model.safetensors, tokenizer.model and the tokenizer configs; writes a
    /// `gemma-embedding` GGUF with the Dense layers, as llama.cpp's converter with
    /// --sentence-transformers-dense-modules does.
    ///
    /// Example: embed convert ./embeddinggemma-300m -o embeddinggemma-300m-q8_0.gguf --type q8_0
    Convert(cmd::convert::ConvertArgs),
    /// Serve embeddings over HTTP: OpenAI, Hugging Face TEI, Ollama and llama.cpp routes.
    ///
    /// Binds the port first (/livez answers, /readyz says 503 while the model loads),
    /// then loads and serves; SIGTERM or Ctrl-C drains in-flight requests and exits.
    ///
    /// Examples:
    ///   embed serve
    ///   embed serve --port 11434            # where Ollama clients look
    ///   curl -d '{"input": "A cat sat."}' http://127.0.0.1:8080/v1/embeddings
    Serve(cmd::serve::ServeArgs),
}

fn main() {
    let cli = Cli::parse();
    // The server drains on Ctrl-C itself; the other commands remove a half-written
    // output file and exit.
    if !matches!(cli.command, Command::Serve(_)) {
        output::remove_pending_on_interrupt();
    }
    if let Err(e) = run(cli) {
        // A reader that closed the pipe (`embed ... | head`) is not an error.
        let broken_pipe = e.chain().any(|c| {
            c.downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
        });
        if broken_pipe {
            std::process::exit(0);
        }
        eprintln!("embed: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Encode(a) => cmd::encode::run(a),
        Command::Similarity(a) => cmd::similarity::run(&a),
        Command::Rank(a) => cmd::rank::run(&a),
        Command::Tokenize(a) => cmd::tokenize::run(a),
        Command::Inspect(a) => cmd::inspect::run(&a),
        Command::Convert(a) => cmd::convert::run(&a),
        Command::Serve(a) => cmd::serve::run(a),
    }
}
