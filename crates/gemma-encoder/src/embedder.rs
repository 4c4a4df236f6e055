//! [`Embedder`]: an opened model and the steps around the forward pass: prompts,
//! tokenization, packing texts into passes, pooling, the Dense layers, Matryoshka
//! truncation and normalization.

use std::path::Path;

use ggml_quant::Activations;
use spm_tokenizer::Tokenizer;

use crate::error::{Error, ErrorKind};
use crate::forward::{self, RopeTables};
use crate::model::{Hparams, Model};
use crate::options::{EmbedOptions, MATRYOSHKA_DIMS, Pooling, Precision};

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

/// Tokens per forward pass when packing many texts: bounds memory, keeps the matrix
/// products large.
const TOKENS_PER_PASS: usize = 4096;

/// An opened model, ready to embed. `Sync`: share one between threads.
pub struct Embedder {
    model: Model,
    ropes: RopeTables,
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
        let ropes = RopeTables::new(&model.hp);
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

    /// The text the model sees for `text` under `opts`' prompt and title.
    pub fn prompted(&self, text: &str, opts: &EmbedOptions) -> String {
        opts.prefix() + text
    }

    /// Embeds `texts`, in order. Texts are packed into large batches; each text's
    /// vector is the same as if it were embedded alone.
    pub fn embed<S: AsRef<str>>(
        &self,
        texts: &[S],
        opts: &EmbedOptions,
    ) -> Result<Vec<Embedding>, Error> {
        let n_ctx = self.check_options(opts)?;
        let prefix = opts.prefix();
        let mut encoded = Vec::with_capacity(texts.len());
        for (i, text) in texts.iter().enumerate() {
            let text = prefix.clone() + text.as_ref();
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

    /// Embeds token ids directly (each sequence as the model should see it, BOS and EOS
    /// included); sequences longer than the context are an error.
    pub fn embed_tokens(
        &self,
        sequences: &[Vec<u32>],
        opts: &EmbedOptions,
    ) -> Result<Vec<Vec<f32>>, Error> {
        self.check_options(opts)?;
        if sequences.is_empty() {
            return Ok(Vec::new());
        }
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

    /// The context length `opts` allows, or the error in `opts`.
    fn check_options(&self, opts: &EmbedOptions) -> Result<usize, Error> {
        let hp = &self.model.hp;
        let n_ctx = match opts.max_tokens {
            Some(m) if !(2..=hp.n_ctx).contains(&m) => {
                return Err(Error::new(
                    ErrorKind::Input,
                    format!("max_tokens {m} is outside 2..={}", hp.n_ctx),
                ));
            }
            Some(m) => m,
            None => hp.n_ctx,
        };
        if opts.pooling == Pooling::Mean && !MATRYOSHKA_DIMS.contains(&opts.dim) {
            return Err(Error::new(
                ErrorKind::Input,
                format!("dimension {} is not one of {MATRYOSHKA_DIMS:?}", opts.dim),
            ));
        }
        if opts.pooling == Pooling::None && opts.dim != hp.n_embd {
            return Err(Error::new(
                ErrorKind::Input,
                "a Matryoshka dimension applies to pooled vectors only",
            ));
        }
        Ok(n_ctx)
    }

    /// One forward pass over `batch`, then each text's output under `opts`: its token
    /// rows ([`Pooling::None`]) or its pooled, projected, truncated vector. Run on rayon's
    /// pool: each of a pass's few hundred parallel steps (the products, GELU, RoPE) then
    /// starts on the pool's threads, not by a hand-over from the caller's thread that
    /// sleeps until it is done.
    fn embed_batch(&self, batch: &[Vec<u32>], opts: &EmbedOptions) -> Result<Vec<Vec<f32>>, Error> {
        ggml_quant::on_pool(|| self.embed_batch_here(batch, opts))
    }

    /// [`Embedder::embed_batch`] on the calling thread.
    fn embed_batch_here(
        &self,
        batch: &[Vec<u32>],
        opts: &EmbedOptions,
    ) -> Result<Vec<Vec<f32>>, Error> {
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

fn activations(p: Precision) -> Activations {
    match p {
        Precision::Int16Activations => Activations::Int16,
        Precision::F32Activations => Activations::F32,
        Precision::Int8Activations => Activations::Native,
    }
}
