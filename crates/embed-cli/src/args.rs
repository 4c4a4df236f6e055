//! The arguments several commands share: which model and how to run it ([`ModelArg`]),
//! and how to embed ([`EmbedArgs`], turned into the encoder's options).

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};
use gemma_encoder::{EmbedOptions, Pooling, Precision, Prompt};

/// The model and how to run it.
#[derive(Args, Clone)]
pub struct ModelArg {
    /// The GGUF model. Default: $EMBED_MODEL, else the Q8_0 model `cargo xtask
    /// fetch-model` cached.
    #[arg(short, long, global = true)]
    pub model: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long, global = true)]
    pub threads: Option<usize>,
    /// Print to stderr how long opening the model and embedding took, and the peak
    /// resident memory (Linux).
    #[arg(long, global = true)]
    pub timings: bool,
}

/// How to embed.
#[derive(Args, Clone)]
pub struct EmbedArgs {
    /// A sentence-transformers prompt by name: query, document, STS, Clustering,
    /// Classification, Retrieval, ... (the model's exact strings).
    #[arg(long)]
    prompt: Option<String>,
    /// Document title for the document prompt (`title: {title} | text: `).
    #[arg(long)]
    title: Option<String>,
    /// Matryoshka dimension: 768, 512, 256 or 128.
    #[arg(long, default_value_t = 768)]
    dim: usize,
    /// Cut texts to this many tokens (BOS and EOS included; default: the model's 2048).
    #[arg(long)]
    max_tokens: Option<usize>,
    /// Texts longer than the limit are an error instead of being cut.
    #[arg(long)]
    no_truncate: bool,
    /// Do not L2-normalize the vectors.
    #[arg(long)]
    no_normalize: bool,
    /// Mean pooling (the model's) or none (one vector per token).
    #[arg(long, value_enum, default_value_t = PoolingArg::Mean)]
    pooling: PoolingArg,
    /// Arithmetic on quantized weights: int16 activations (the default: as close to
    /// sentence-transformers as f32 activations, about twice as fast), f32 activations,
    /// or int8 activations (ggml's scheme).
    #[arg(long, value_enum, default_value_t = PrecisionArg::Int16)]
    precision: PrecisionArg,
}

#[derive(Clone, Copy, ValueEnum)]
enum PoolingArg {
    Mean,
    None,
}

/// `--precision`: the arithmetic on quantized weights.
#[derive(Clone, Copy, ValueEnum)]
pub enum PrecisionArg {
    /// int16 activations (the library's default).
    Int16,
    /// f32 activations.
    F32,
    /// int8 activations (ggml's scheme).
    Int8,
}

impl From<PrecisionArg> for Precision {
    fn from(p: PrecisionArg) -> Precision {
        match p {
            PrecisionArg::Int16 => Precision::Int16Activations,
            PrecisionArg::F32 => Precision::F32Activations,
            PrecisionArg::Int8 => Precision::Int8Activations,
        }
    }
}

impl EmbedArgs {
    /// The encoder's options for these arguments; an unknown prompt name is an error.
    pub fn options(&self) -> Result<EmbedOptions> {
        let mut opts = EmbedOptions::new()
            .dim(self.dim)
            .normalize(!self.no_normalize)
            .pooling(match self.pooling {
                PoolingArg::Mean => Pooling::Mean,
                PoolingArg::None => Pooling::None,
            })
            .truncate(!self.no_truncate)
            .precision(self.precision.into());
        if let Some(name) = &self.prompt {
            opts = opts.prompt(name.parse::<Prompt>()?);
        }
        if let Some(title) = &self.title {
            opts = opts.title(title);
        }
        if let Some(n) = self.max_tokens {
            opts = opts.max_tokens(n);
        }
        Ok(opts)
    }
}
