//! What every route shares: the server's phase (loading, ready, draining), the model once
//! it is loaded, the queue, and the one embedding path all families go through
//! ([`App::embed`]: check, tokenize, admit, wait, cut and normalize).

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant, SystemTime};

use gemma_encoder::{EmbedOptions, Embedder, MATRYOSHKA_DIMS, Prompt};
use spm_tokenizer::{EncodeOptions, Tokenizer};
use tokio::sync::watch;

use crate::config::ServerConfig;
use crate::engine::finish_vector;
use crate::error::{Error, ErrorKind};
use crate::metrics;
use crate::queue::Queue;

/// Where the server is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Loading = 0,
    Ready = 1,
    Draining = 2,
    Failed = 3,
}

/// The model as the handlers see it.
#[derive(Clone)]
pub(crate) enum ModelSlot {
    Loading,
    Ready(Arc<Embedder>),
    Failed(String),
}

/// Facts about the model file for `/api/tags` and `/info`.
#[derive(Clone, Debug, Default)]
pub(crate) struct ModelFile {
    pub size: u64,
    pub modified: Option<SystemTime>,
}

/// The shared state of one server.
pub(crate) struct App {
    pub config: ServerConfig,
    pub queue: Arc<Queue>,
    pub model_file: ModelFile,
    phase: AtomicU8,
    model: watch::Receiver<ModelSlot>,
}

/// What one request's inputs are.
#[derive(Debug)]
pub(crate) enum Inputs {
    Texts(Vec<String>),
    /// Token ids as the model should see them (BOS and EOS included if wanted).
    Tokens(Vec<Vec<u32>>),
}

impl Inputs {
    fn len(&self) -> usize {
        match self {
            Inputs::Texts(t) => t.len(),
            Inputs::Tokens(t) => t.len(),
        }
    }
}

/// One embedding request, whatever family it came in.
#[derive(Debug)]
pub(crate) struct EmbedCall {
    pub inputs: Inputs,
    /// A sentence-transformers prompt name.
    pub prompt: Option<String>,
    /// Cut inputs over the per-input limit (else they are an error).
    pub truncate: bool,
    /// Cut from the start instead of the end (TEI's `truncation_direction: left`).
    pub truncate_left: bool,
    pub dim: usize,
    pub normalize: bool,
}

impl EmbedCall {
    /// A call with the library's defaults: no prompt, truncation on, 768, normalized.
    pub fn new(inputs: Inputs) -> Self {
        EmbedCall {
            inputs,
            prompt: None,
            truncate: true,
            truncate_left: false,
            dim: 768,
            normalize: true,
        }
    }
}

/// Where a request's time went and what it computed, for headers, logs and metrics.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RequestStats {
    pub tokens: usize,
    pub inputs: usize,
    pub load_wait: Duration,
    pub queue: Duration,
    pub inference: Duration,
    pub total: Duration,
}

/// The vectors of one request, in input order.
#[derive(Debug)]
pub(crate) struct Embedded {
    pub vectors: Vec<Vec<f32>>,
    pub stats: RequestStats,
}

impl App {
    pub fn new(config: ServerConfig, model_file: ModelFile) -> (App, watch::Sender<ModelSlot>) {
        let (tx, rx) = watch::channel(ModelSlot::Loading);
        let l = &config.limits;
        let queue = Arc::new(Queue::new(
            l.queue_tokens,
            config.batch_tokens,
            l.queue_deadline,
        ));
        let app = App {
            config,
            queue,
            model_file,
            phase: AtomicU8::new(Phase::Loading as u8),
            model: rx,
        };
        (app, tx)
    }

    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Loading,
            1 => Phase::Ready,
            2 => Phase::Draining,
            _ => Phase::Failed,
        }
    }

    pub fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Release);
        metrics::ready(phase == Phase::Ready);
    }

    /// The model now, if it is loaded.
    pub fn loaded(&self) -> Option<Arc<Embedder>> {
        match &*self.model.borrow() {
            ModelSlot::Ready(m) => Some(m.clone()),
            _ => None,
        }
    }

    /// The model, waiting for it while it loads (up to the queue deadline).
    pub async fn model(&self) -> Result<Arc<Embedder>, Error> {
        let mut rx = self.model.clone();
        let wait = rx.wait_for(|s| !matches!(s, ModelSlot::Loading));
        match tokio::time::timeout(self.config.limits.queue_deadline, wait).await {
            Ok(Ok(slot)) => match &*slot {
                ModelSlot::Ready(m) => Ok(m.clone()),
                ModelSlot::Failed(why) => Err(Error::new(
                    ErrorKind::Unavailable,
                    format!("the model failed to load: {why}"),
                )),
                ModelSlot::Loading => unreachable!("waited for a loaded or failed model"),
            },
            Ok(Err(_)) => Err(Error::new(ErrorKind::Unavailable, "the server is stopping")),
            Err(_) => Err(Error::new(
                ErrorKind::Unavailable,
                "the model is still loading",
            )),
        }
    }

    /// The per-input token limit, BOS and EOS included.
    pub fn max_input_tokens(&self, model: &Embedder) -> usize {
        let n_ctx = model.hparams().n_ctx;
        self.config
            .limits
            .max_input_tokens
            .map_or(n_ctx, |n| n.min(n_ctx))
    }

    /// Checks, tokenizes, queues and waits for one request's vectors.
    pub async fn embed(&self, call: EmbedCall, arrived: Instant) -> Result<Embedded, Error> {
        let limits = &self.config.limits;
        if call.inputs.len() == 0 {
            return Err(Error::new(
                ErrorKind::EmptyInput,
                "the input is empty: send at least one text",
            ));
        }
        if call.inputs.len() > limits.max_inputs {
            return Err(Error::new(
                ErrorKind::TooManyInputs,
                format!(
                    "{} inputs in one request, more than the {} allowed",
                    call.inputs.len(),
                    limits.max_inputs
                ),
            ));
        }
        if !MATRYOSHKA_DIMS.contains(&call.dim) {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                format!("dimensions {} is not one of {MATRYOSHKA_DIMS:?}", call.dim),
            ));
        }
        let model = self.model().await?;
        let load_wait = arrived.elapsed();
        let n_ctx = self.max_input_tokens(&model);
        let (dim, normalize, n_inputs) = (call.dim, call.normalize, call.inputs.len());
        // Large requests tokenize off the async threads: it can take milliseconds.
        let (sequences, truncated) = if input_bytes(&call.inputs) > 16 << 10 {
            let model = model.clone();
            tokio::task::spawn_blocking(move || tokenize(&model, &call, n_ctx))
                .await
                .map_err(|e| {
                    Error::new(ErrorKind::Internal, "tokenization failed").with_source(e)
                })??
        } else {
            tokenize(&model, &call, n_ctx)?
        };
        let tokens: usize = sequences.iter().map(Vec::len).sum();
        if tokens > limits.max_request_tokens {
            metrics::rejected("too_large");
            return Err(Error::new(
                ErrorKind::PayloadTooLarge,
                format!(
                    "the request has {tokens} tokens, more than the {} allowed per request",
                    limits.max_request_tokens
                ),
            ));
        }
        let ticket = self.queue.submit(sequences)?;
        metrics::admitted(n_inputs, tokens, truncated);
        let out = ticket
            .await
            .map_err(|_| Error::new(ErrorKind::Unavailable, "the engine stopped"))??;
        metrics::computed(out.queue_time, out.inference_time);
        let vectors = out
            .vectors
            .iter()
            .map(|v| finish_vector(v, dim, normalize))
            .collect();
        Ok(Embedded {
            vectors,
            stats: RequestStats {
                tokens,
                inputs: n_inputs,
                load_wait,
                queue: out.queue_time,
                inference: out.inference_time,
                total: arrived.elapsed(),
            },
        })
    }
}

fn input_bytes(inputs: &Inputs) -> usize {
    match inputs {
        Inputs::Texts(t) => t.iter().map(String::len).sum(),
        Inputs::Tokens(t) => t.iter().map(Vec::len).sum::<usize>() * 4,
    }
}

/// The library's options for a prompt name (`query`, `document`, `STS`, ...); an
/// unknown name is a bad request that lists the known ones.
pub(crate) fn prompt_options(prompt: Option<&str>) -> Result<EmbedOptions, Error> {
    let opts = EmbedOptions::new();
    match prompt {
        None => Ok(opts),
        Some(name) => name
            .parse::<Prompt>()
            .map(|p| opts.prompt(p))
            .map_err(|e| Error::new(ErrorKind::InvalidRequest, "bad prompt_name").with_source(e)),
    }
}

/// The prompt a model name selects: `embeddinggemma:query` selects `query`. A suffix
/// that is no prompt name (`:latest`, `:300m`) selects none.
pub(crate) fn prompt_from_model(model: Option<&str>) -> Option<String> {
    let (_, suffix) = model?.rsplit_once(':')?;
    suffix.parse::<Prompt>().ok().map(|_| suffix.to_string())
}

/// Token sequences for a call, each within `n_ctx`, and how many inputs were cut.
fn tokenize(
    model: &Embedder,
    call: &EmbedCall,
    n_ctx: usize,
) -> Result<(Vec<Vec<u32>>, usize), Error> {
    let tok = model.tokenizer();
    let mut truncated_inputs = 0;
    let mut out = Vec::with_capacity(call.inputs.len());
    match &call.inputs {
        Inputs::Texts(texts) => {
            let opts = prompt_options(call.prompt.as_deref())?;
            for (i, text) in texts.iter().enumerate() {
                let text = model.prompted(text, &opts);
                let (ids, cut) = if call.truncate_left {
                    encode_keep_end(tok, &text, n_ctx)
                } else {
                    let e = tok.encode_truncated(&text, true, n_ctx);
                    (e.ids, e.truncated)
                };
                if cut > 0 {
                    if !call.truncate {
                        return Err(too_long(i, ids.len() + cut, n_ctx));
                    }
                    truncated_inputs += 1;
                }
                out.push(ids);
            }
        }
        Inputs::Tokens(seqs) => {
            if call.prompt.is_some() {
                return Err(Error::new(
                    ErrorKind::InvalidRequest,
                    "a prompt applies to text inputs, not to token ids",
                ));
            }
            let vocab = tok.vocab_size();
            for (i, ids) in seqs.iter().enumerate() {
                if ids.is_empty() {
                    return Err(Error::new(
                        ErrorKind::InvalidRequest,
                        format!("input {i} has no token ids"),
                    ));
                }
                if let Some((j, id)) = ids
                    .iter()
                    .enumerate()
                    .find(|(_, id)| **id as usize >= vocab)
                {
                    return Err(Error::new(
                        ErrorKind::InvalidRequest,
                        format!(
                            "token id {id} (input {i}, position {j}) is outside the {vocab}-token vocabulary"
                        ),
                    ));
                }
                let mut ids = ids.clone();
                if ids.len() > n_ctx {
                    if !call.truncate {
                        return Err(too_long(i, ids.len(), n_ctx));
                    }
                    ids.truncate(n_ctx);
                    truncated_inputs += 1;
                }
                out.push(ids);
            }
        }
    }
    Ok((out, truncated_inputs))
}

fn too_long(i: usize, n: usize, n_ctx: usize) -> Error {
    Error::new(
        ErrorKind::InputTooLong,
        format!("input {i} is {n} tokens, more than the {n_ctx} allowed (truncation is off)"),
    )
}

/// Encodes `text` keeping its last tokens when it is too long: BOS + the last
/// `n_ctx - 2` tokens + EOS.
fn encode_keep_end(tok: &Tokenizer, text: &str, n_ctx: usize) -> (Vec<u32>, usize) {
    let body = tok.encode(text, EncodeOptions::default().with_add_special(false));
    let special = tok.special_tokens();
    let n_special = usize::from(special.add_bos) + usize::from(special.add_eos);
    let keep = n_ctx.saturating_sub(n_special).min(body.len());
    let cut = body.len() - keep;
    let mut ids = Vec::with_capacity(keep + n_special);
    if special.add_bos {
        ids.push(special.bos);
    }
    ids.extend_from_slice(&body[cut..]);
    if special.add_eos {
        ids.push(special.eos);
    }
    (ids, cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_suffix_selects_a_prompt_only_when_it_names_one() {
        assert_eq!(
            prompt_from_model(Some("embeddinggemma:query")).as_deref(),
            Some("query")
        );
        assert_eq!(prompt_from_model(Some("x:STS")).as_deref(), Some("STS"));
        assert_eq!(prompt_from_model(Some("embeddinggemma:latest")), None);
        assert_eq!(prompt_from_model(Some("text-embedding-3-small")), None);
        assert_eq!(prompt_from_model(None), None);
    }
}
