//! The engines: one thread per [`Lane`] that takes the lane's next pass from the queue,
//! runs it through the encoder on the one pool of compute threads, and hands the vectors
//! back. No added wait: a pass starts as soon as the previous one ends and anything is
//! queued.
//!
//! Both lanes submit their passes to the same rayon pool, and that is what puts a query
//! ahead of a bulk pass already running: a compute thread that runs out of bulk tasks
//! (at the end of every parallel step of the pass, a matrix product or an attention
//! sweep: milliseconds) takes the injected interactive pass and runs it to the end
//! before it returns to the bulk one, and the other threads help with its parallel
//! steps as they free up. The bulk pass waits meanwhile; nothing is lowered in priority
//! against other processes, and with one lane busy nothing changes.
//!
//! Passes run the encoder with pooling, Dense layers, no cut and no normalization; each
//! request cuts and normalizes its own vectors ([`finish_vector`]), so requests with
//! different dimensions or normalization share a pass. The encoder is batch-invariant:
//! a text's vector is the same bits alone or packed with any others.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use gemma_encoder::{EmbedOptions, Embedder, Precision};
use rayon::ThreadPool;

use crate::error::{Error, ErrorKind};
use crate::metrics;
use crate::queue::{Lane, Queue};

/// Starts both engines on `pool`; the handle returns when both have stopped (the queue
/// closed and empty, or aborted).
pub(crate) fn spawn(
    queue: Arc<Queue>,
    model: Arc<Embedder>,
    pool: ThreadPool,
    batch_tokens: usize,
    precision: Precision,
) -> Result<JoinHandle<()>, Error> {
    let pool = Arc::new(pool);
    let mut engines = Vec::with_capacity(2);
    for lane in [Lane::Interactive, Lane::Bulk] {
        let (queue, model, pool) = (queue.clone(), model.clone(), pool.clone());
        let engine = std::thread::Builder::new()
            .name(format!("embed-engine-{}", lane.name()))
            .spawn(move || serve_lane(lane, &queue, &model, &pool, batch_tokens, precision))
            .map_err(|e| {
                Error::new(ErrorKind::Runtime, "could not start an engine thread").with_source(e)
            })?;
        engines.push(engine);
    }
    std::thread::Builder::new()
        .name("embed-engines".into())
        .spawn(move || engines.into_iter().for_each(|e| _ = e.join()))
        .map_err(|e| {
            Error::new(ErrorKind::Runtime, "could not start the engine thread").with_source(e)
        })
}

/// One lane's engine loop.
fn serve_lane(
    lane: Lane,
    queue: &Queue,
    model: &Embedder,
    pool: &ThreadPool,
    batch_tokens: usize,
    precision: Precision,
) {
    let opts = raw_options(precision);
    while let Some(batch) = queue.next_batch(lane) {
        let start = Instant::now();
        let result = pool.install(|| run_pass(model, &batch.sequences, &opts));
        let took = start.elapsed();
        metrics::pass(lane.name(), batch.tokens, batch_tokens, took);
        queue.complete(batch, result, took);
    }
}

/// The options of every pass: the full 768 dimensions, unnormalized.
pub(crate) fn raw_options(precision: Precision) -> EmbedOptions {
    EmbedOptions::new().normalize(false).precision(precision)
}

/// The engines' compute threads.
pub(crate) fn compute_pool(threads: usize) -> Result<ThreadPool, Error> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("embed-compute-{i}"))
        .build()
        .map_err(|e| {
            Error::new(ErrorKind::Runtime, "could not start the compute threads").with_source(e)
        })
}

/// One pass; a panic in the encoder fails the pass's requests, not the server.
fn run_pass(
    model: &Embedder,
    sequences: &[Vec<u32>],
    opts: &EmbedOptions,
) -> Result<Vec<Vec<f32>>, Error> {
    match catch_unwind(AssertUnwindSafe(|| model.embed_tokens(sequences, opts))) {
        Ok(Ok(vectors)) => Ok(vectors),
        Ok(Err(e)) => {
            Err(Error::new(ErrorKind::Internal, "the forward pass failed").with_source(e))
        }
        Err(_) => Err(Error::new(ErrorKind::Internal, "the forward pass panicked")),
    }
}

/// A request's vector from a pass's raw one: the first `dim` values, then L2-normalized
/// when asked, with the same arithmetic as the library (f64 sum of f32 squares, one f32
/// scale), so the bits equal `Embedder::embed`'s.
pub(crate) fn finish_vector(raw: &[f32], dim: usize, normalize: bool) -> Vec<f32> {
    let mut v = raw[..dim.min(raw.len())].to_vec();
    if normalize {
        let sum: f64 = v.iter().map(|x| f64::from(x * x)).sum();
        let norm = if sum > 0.0 {
            (1.0 / sum.sqrt()) as f32
        } else {
            0.0
        };
        v.iter_mut().for_each(|x| *x *= norm);
    }
    v
}

/// Runs one short text through the model so the first request does not pay for page
/// faults and lazy setup.
pub(crate) fn warm_up(
    pool: &ThreadPool,
    model: &Embedder,
    precision: Precision,
) -> Result<(), Error> {
    pool.install(|| model.embed(&["warm up"], &raw_options(precision)))
        .map_err(|e| Error::new(ErrorKind::Model, "the model failed to warm up").with_source(e))?;
    Ok(())
}
