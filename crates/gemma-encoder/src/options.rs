//! What [`crate::Embedder::embed`] is asked to do: prompt, Matryoshka dimension,
//! normalization, pooling, truncation and the arithmetic of the products.

use crate::prompts::{Prompt, document_prompt};

/// Matryoshka dimensions EmbeddingGemma was trained for.
pub const MATRYOSHKA_DIMS: [usize; 4] = [768, 512, 256, 128];

/// How sentence vectors are formed from token vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
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
#[non_exhaustive]
pub enum Precision {
    /// int16 activations (per block of 32, exact integer block sums): within 2^-16 of
    /// f32 activations, with integer products. The default.
    #[default]
    Int16Activations,
    /// f32 activations against the weights widened block by block: the slowest, and the
    /// reference for the other two.
    F32Activations,
    /// ggml's scheme: activations quantized to the weight type's dot type (Q8_0, Q8_1
    /// or Q8_K), integer dot products. Faster on int8 hardware, and noisier: rounding
    /// the activations makes the result depend on the last bit of every earlier
    /// operation.
    Int8Activations,
}

/// Options for [`crate::Embedder::embed`]: the defaults are sentence-transformers'
/// (no prompt, 768 dimensions, normalized, mean pooling, truncation at 2048 tokens).
///
/// Build them with [`EmbedOptions::new`] and the setters, or set the fields of a
/// default value; new options come with defaults that keep today's results.
///
/// ```
/// use gemma_encoder::{EmbedOptions, Precision, Prompt};
///
/// let opts = EmbedOptions::new()
///     .prompt(Prompt::Query)
///     .dim(256)
///     .precision(Precision::F32Activations);
/// assert_eq!(opts.dim, 256);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct EmbedOptions {
    /// The prompt put before every text.
    pub prompt: Option<Prompt>,
    /// A document title: with a document prompt (or with no prompt), the text is
    /// prefixed with `title: {title} | text: `. Other prompts ignore it.
    pub title: Option<String>,
    /// Matryoshka dimension, one of [`MATRYOSHKA_DIMS`] (truncate, then re-normalize).
    pub dim: usize,
    /// L2-normalize the output vectors.
    pub normalize: bool,
    /// Mean pooling (default) or per-token vectors.
    pub pooling: Pooling,
    /// Cut inputs longer than the context as sentence-transformers does (BOS, the
    /// first n-2 tokens, EOS); when false such an input is an error.
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

impl EmbedOptions {
    /// The defaults.
    pub fn new() -> Self {
        EmbedOptions::default()
    }

    /// Puts `prompt` before every text.
    pub fn prompt(mut self, prompt: Prompt) -> Self {
        self.prompt = Some(prompt);
        self
    }

    /// The title of the document prompt.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// The Matryoshka dimension.
    pub fn dim(mut self, dim: usize) -> Self {
        self.dim = dim;
        self
    }

    /// Whether to L2-normalize the output.
    pub fn normalize(mut self, normalize: bool) -> Self {
        self.normalize = normalize;
        self
    }

    /// Mean pooling or per-token vectors.
    pub fn pooling(mut self, pooling: Pooling) -> Self {
        self.pooling = pooling;
        self
    }

    /// Whether to truncate long inputs (else they are an error).
    pub fn truncate(mut self, truncate: bool) -> Self {
        self.truncate = truncate;
        self
    }

    /// The arithmetic on quantized weights.
    pub fn precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    /// A token limit below the model's context.
    pub fn max_tokens(mut self, max_tokens: usize) -> Self {
        self.max_tokens = Some(max_tokens);
        self
    }

    /// The text put before every input: the prompt's, with the title in a document
    /// prompt; a title alone means the document prompt.
    pub(crate) fn prefix(&self) -> String {
        match (&self.prompt, self.title.as_deref()) {
            (None, None) => String::new(),
            (None, title @ Some(_)) => document_prompt(title),
            (Some(prompt), title) => prompt.with_title(title),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        let doc = |p: Option<Prompt>, t: Option<&str>| {
            let mut o = EmbedOptions::new();
            o.prompt = p;
            o.title = t.map(String::from);
            o.prefix()
        };
        assert_eq!(doc(None, None), "");
        assert_eq!(doc(None, Some("Paris")), "title: Paris | text: ");
        assert_eq!(doc(Some(Prompt::Document), None), "title: none | text: ");
        assert_eq!(
            doc(Some(Prompt::RetrievalDocument), Some("Paris")),
            "title: Paris | text: "
        );
        assert_eq!(
            doc(Some(Prompt::Sts), Some("Paris")),
            "task: sentence similarity | query: "
        );
    }

    #[test]
    fn setters_set_their_field_only() {
        let o = EmbedOptions::new()
            .prompt(Prompt::Query)
            .title("t")
            .dim(128)
            .normalize(false)
            .pooling(Pooling::None)
            .truncate(false)
            .precision(Precision::Int8Activations)
            .max_tokens(512);
        let want = EmbedOptions {
            prompt: Some(Prompt::Query),
            title: Some("t".into()),
            dim: 128,
            normalize: false,
            pooling: Pooling::None,
            truncate: false,
            precision: Precision::Int8Activations,
            max_tokens: Some(512),
        };
        assert_eq!(o, want);
        assert_eq!(EmbedOptions::new(), EmbedOptions::default());
    }
}
