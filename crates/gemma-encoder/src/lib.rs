//! EmbeddingGemma-300M from GGUF: text in, the vector sentence-transformers gives out.
//!
//! This crate's one job is the model: it opens a `gemma-embedding` GGUF (memory-mapped
//! through `gguf-format`, weights left in their GGUF type), tokenizes with
//! `spm-tokenizer`, runs the transformer with `ggml-quant`'s kernels, mean-pools,
//! applies the Dense layers and normalizes.
//!
//! - [`Embedder`]: [`Embedder::open`] a model, [`Embedder::embed`] texts. It is `Sync`:
//!   share one between threads.
//! - [`EmbedOptions`]: prompt, Matryoshka dimension, normalization, pooling, truncation.
//! - [`Embedding`]: the vector(s) of one text, its token count and how many tokens were cut.
//! - [`Error`]: the crate's one error type.
//!
//! # Example
//!
//! ```no_run
//! use gemma_encoder::{EmbedOptions, Embedder};
//!
//! let model = Embedder::open("embeddinggemma-300m-q8_0.gguf")?;
//! let opts = EmbedOptions { prompt: Some("query".into()), ..EmbedOptions::default() };
//! let out = model.embed(&["Which planet is known as the Red Planet?"], &opts)?;
//! assert_eq!(out[0].vector.len(), 768);
//! # Ok::<(), gemma_encoder::Error>(())
//! ```
#![forbid(unsafe_code)]

mod error;
mod forward;
pub mod keys;
mod model;
pub mod prompts;

use std::path::Path;

pub use error::{Error, ErrorKind};
pub use ggml_quant;
pub use gguf_format;
pub use model::{ARCHITECTURE, Hparams};
pub use spm_tokenizer;

use model::Model;
use spm_tokenizer::Tokenizer;

/// How sentence vectors are formed from token vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Pooling {
    /// The mean over every token, BOS and EOS included, then the Dense layers (the model's
    /// own pooling).
    #[default]
    Mean,
    /// No pooling: one vector per token (the transformer's output, before the Dense
    /// layers).
    None,
}

/// The arithmetic of the matrix products on quantized weights (Q8_0 ... Q6_K). F32, F16
/// and BF16 weights always meet f32 activations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Precision {
    /// int16 activations (per block of 32, exact integer block sums): within 2^-16 of
    /// f32 activations, at about twice their speed. The default.
    #[default]
    Int16Activations,
    /// f32 activations against the weights widened block by block: the slowest, and the
    /// reference the int16 scheme is measured against (see `docs/parity.md`).
    F32Activations,
    /// ggml's scheme: activations quantized to the weight type's dot type (Q8_0, Q8_1
    /// or Q8_K), integer dot products. Faster on
    /// int8 hardware, and noisier: the rounding of activations makes the result depend
    /// on the last bit of every earlier operation.
    Int8Activations,
}

/// Options for [`Embedder::embed`].
#[derive(Clone, Debug, PartialEq)]
pub struct EmbedOptions {
    /// A sentence-transformers prompt by name (`query`, `document`, `STS`, ...; see
    /// [`prompts::PROMPTS`]), prepended to every text.
    pub prompt: Option<String>,
    /// With the `document` prompt (or alone), the title of the document prompt
    /// `title: {title} | text: `.
    pub title: Option<String>,
    /// Matryoshka dimension: 768, 512, 256 or 128 (truncate, then re-normalize).
    pub dim: usize,
    /// L2-normalize the output vectors.
    pub normalize: bool,
    /// Mean pooling (default) or per-token vectors.
    pub pooling: Pooling,
    /// Cut inputs longer than the model's context as sentence-transformers does
    /// (BOS + first n-2 + EOS); when false such an input is an error.
    pub truncate: bool,
    /// Arithmetic on quantized weights.
    pub precision: Precision,
    /// A token limit below the model's context (BOS and EOS included); `None` for the
    /// model's own (2048).
    pub max_tokens: Option<usize>,
}

impl Default for EmbedOptions {
    fn default() -> Self {
        EmbedOptions {
            prompt: None,
            title: None,
            dim: 768,
            normalize: true,
            pooling: Pooling::Mean,
            truncate: true,
            precision: Precision::Int16Activations,
            max_tokens: None,
        }
    }
}

/// The embedding of one text.
#[derive(Clone, Debug, PartialEq)]
pub struct Embedding {
    /// The sentence vector (mean pooling), or every token's vectors one after another
    /// (`n_tokens` rows of 768) with [`Pooling::None`].
    pub vector: Vec<f32>,
    /// Tokens the model saw, BOS and EOS included.
    pub n_tokens: usize,
    /// Tokens cut from the end of the text to fit the context (0 when it fit).
    pub truncated: usize,
}

/// Matryoshka dimensions EmbeddingGemma was trained for.
pub const MATRYOSHKA_DIMS: [usize; 4] = [768, 512, 256, 128];

/// Tokens per forward pass when packing many texts: bounds memory, keeps the matrix
/// products large.
const TOKENS_PER_PASS: usize = 4096;

/// An opened model, ready to embed. Thread-safe.
pub struct Embedder {
    model: Model,
    ropes: [Vec<(f32, f32)>; 2],
    warnings: Vec<String>,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("path", &self.model.map.path())
            .field("hparams", &self.model.hp)
            .finish_non_exhaustive()
    }
}

impl Embedder {
    /// Opens the GGUF at `path`: maps it, checks its keys and tensors, builds the
    /// tokenizer. Weights are not read until used.
    pub fn open(path: impl AsRef<Path>) -> Result<Embedder, Error> {
        let model = Model::open(path.as_ref())?;
        let hp = &model.hp;
        let ropes = [
            forward::rope_table(hp.rope_base, hp.head_dim, hp.n_ctx),
            forward::rope_table(hp.rope_base_swa, hp.head_dim, hp.n_ctx),
        ];
        let mut warnings = Vec::new();
        if model.dense.is_none() {
            warnings.push(format!(
                "{} has no dense_2/dense_3 tensors: its vectors will not match sentence-transformers' \
                 (convert the release with `embed convert` to get a complete GGUF)",
                path.as_ref().display()
            ));
        }
        Ok(Embedder {
            model,
            ropes,
            warnings,
        })
    }

    /// The hyperparameters.
    pub fn hparams(&self) -> &Hparams {
        &self.model.hp
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.model.tokenizer
    }

    /// Whether the GGUF has the Dense layers (without them vectors differ from
    /// sentence-transformers').
    pub fn has_dense(&self) -> bool {
        self.model.dense.is_some()
    }

    /// Problems found when opening, for the user to see.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// `general.file_type` of the GGUF, if it says.
    pub fn file_type(&self) -> Option<u32> {
        self.model.file_type
    }

    /// The text the model sees for `text` under `opts`' prompt.
    pub fn prompted(&self, text: &str, opts: &EmbedOptions) -> Result<String, Error> {
        let prefix = match (opts.prompt.as_deref(), opts.title.as_deref()) {
            (None, None) => String::new(),
            (Some("document" | "Retrieval-document"), title) | (None, title @ Some(_)) => {
                prompts::document_prompt(title)
            }
            (Some(name), _) => prompts::prompt(name)
                .ok_or_else(|| {
                    let names: Vec<&str> = prompts::PROMPTS.iter().map(|p| p.0).collect();
                    Error::new(
                        ErrorKind::Input,
                        format!(
                            "unknown prompt {name:?}; known prompts: {}",
                            names.join(", ")
                        ),
                    )
                })?
                .to_string(),
        };
        Ok(prefix + text)
    }

    /// Embeds `texts`, in order. Texts are packed into large batches; each text's
    /// vector is the same as if it were embedded alone.
    pub fn embed<S: AsRef<str>>(
        &self,
        texts: &[S],
        opts: &EmbedOptions,
    ) -> Result<Vec<Embedding>, Error> {
        let n_ctx = match opts.max_tokens {
            Some(m) if !(2..=self.model.hp.n_ctx).contains(&m) => {
                return Err(Error::new(
                    ErrorKind::Input,
                    format!("max_tokens {m} is outside 2..={}", self.model.hp.n_ctx),
                ));
            }
            Some(m) => m,
            None => self.model.hp.n_ctx,
        };
        if opts.pooling == Pooling::Mean && !MATRYOSHKA_DIMS.contains(&opts.dim) {
            return Err(Error::new(
                ErrorKind::Input,
                format!("dimension {} is not one of {MATRYOSHKA_DIMS:?}", opts.dim),
            ));
        }
        if opts.pooling == Pooling::None && opts.dim != self.model.hp.n_embd {
            return Err(Error::new(
                ErrorKind::Input,
                "a Matryoshka dimension applies to pooled vectors only",
            ));
        }
        let mut encoded = Vec::with_capacity(texts.len());
        for (i, text) in texts.iter().enumerate() {
            let text = self.prompted(text.as_ref(), opts)?;
            let enc = self.model.tokenizer.encode_truncated(&text, true, n_ctx);
            if enc.truncated > 0 && !opts.truncate {
                return Err(Error::new(
                    ErrorKind::Input,
                    format!(
                        "text {i} is {} tokens, more than the {n_ctx} allowed (truncation is off)",
                        enc.ids.len() + enc.truncated
                    ),
                ));
            }
            encoded.push(enc);
        }
        let mut out = Vec::with_capacity(texts.len());
        let mut start = 0;
        while start < encoded.len() {
            let mut end = start;
            let mut budget = 0;
            while end < encoded.len()
                && (end == start || budget + encoded[end].ids.len() <= TOKENS_PER_PASS)
            {
                budget += encoded[end].ids.len();
                end += 1;
            }
            let batch: Vec<Vec<u32>> = encoded[start..end].iter().map(|e| e.ids.clone()).collect();
            out.extend(
                self.embed_batch(&batch, opts)?
                    .into_iter()
                    .zip(&encoded[start..end])
                    .map(|(vector, enc)| Embedding {
                        vector,
                        n_tokens: enc.ids.len(),
                        truncated: enc.truncated,
                    }),
            );
            start = end;
        }
        Ok(out)
    }

    /// Applies the Dense layers to vectors pooled by the caller (`n` vectors of
    /// `n_embd`, one after another), without normalizing; with no Dense layers in the
    /// GGUF, returns them unchanged. For custom pooling over [`Pooling::None`] output.
    pub fn project(&self, pooled: &[f32], precision: Precision) -> Result<Vec<f32>, Error> {
        if pooled.is_empty() || !pooled.len().is_multiple_of(self.model.hp.n_embd) {
            return Err(Error::new(
                ErrorKind::Input,
                format!(
                    "{} values are not whole vectors of {}",
                    pooled.len(),
                    self.model.hp.n_embd
                ),
            ));
        }
        forward::dense(&self.model, pooled, activations(precision))
    }

    /// Embeds token ids directly (each sequence as the model should see it, BOS and EOS
    /// included); sequences longer than the context are an error.
    pub fn embed_tokens(
        &self,
        sequences: &[Vec<u32>],
        opts: &EmbedOptions,
    ) -> Result<Vec<Vec<f32>>, Error> {
        for (i, s) in sequences.iter().enumerate() {
            if s.is_empty() || s.len() > self.model.hp.n_ctx {
                return Err(Error::new(
                    ErrorKind::Input,
                    format!(
                        "sequence {i} has {} tokens (1 to {} allowed)",
                        s.len(),
                        self.model.hp.n_ctx
                    ),
                ));
            }
        }
        self.embed_batch(sequences, opts)
    }

    fn embed_batch(&self, batch: &[Vec<u32>], opts: &EmbedOptions) -> Result<Vec<Vec<f32>>, Error> {
        let e = self.model.hp.n_embd;
        let act = activations(opts.precision);
        let hidden = forward::encode(&self.model, batch, &self.ropes, act)?;
        let mut rows = hidden.chunks(e);
        let mut per_text: Vec<Vec<f32>> = batch
            .iter()
            .map(|t| rows.by_ref().take(t.len()).flatten().copied().collect())
            .collect();
        match opts.pooling {
            Pooling::None => {
                if opts.normalize {
                    for v in &mut per_text {
                        v.chunks_mut(e).for_each(forward::l2_normalize);
                    }
                }
                Ok(per_text)
            }
            Pooling::Mean => {
                let pooled: Vec<f32> = per_text
                    .iter()
                    .flat_map(|rows| forward::mean_pool(rows, e))
                    .collect();
                let dense = forward::dense(&self.model, &pooled, act)?;
                let n_out = dense.len() / batch.len();
                Ok(dense
                    .chunks(n_out)
                    .map(|v| {
                        let mut v = v[..opts.dim.min(n_out)].to_vec();
                        if opts.normalize {
                            forward::l2_normalize(&mut v);
                        }
                        v
                    })
                    .collect())
            }
        }
    }
}

fn activations(p: Precision) -> ggml_quant::Activations {
    match p {
        Precision::Int16Activations => ggml_quant::Activations::Int16,
        Precision::F32Activations => ggml_quant::Activations::F32,
        Precision::Int8Activations => ggml_quant::Activations::Native,
    }
}

/// Cosine similarity of two vectors (f64 sums).
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x) * f64::from(*x)).sum();
    let nb: f64 = b.iter().map(|x| f64::from(*x) * f64::from(*x)).sum();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    }
}
