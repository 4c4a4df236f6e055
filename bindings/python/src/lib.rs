//! The Python package `embeddinggemma_rs`'s native module, `embeddinggemma_rs._core`:
//! EmbeddingGemma-300M from GGUF (the `gemma-encoder` crate) for Python, vectors as numpy
//! arrays.
//!
//! - `embedder`: the Python `Embedder`, an opened model with its own rayon pool. `embed`
//!   gives a C-contiguous `float32 (n, dim)` array that owns the Rust buffer (moved, not
//!   copied); `embed_with_info` adds token counts; `count_tokens`; `prompts`. The GIL is
//!   released while it works, and it pickles by path.
//! - `pool`: the compute threads, sized from `num_threads`, `RAYON_NUM_THREADS`,
//!   `OMP_NUM_THREADS` or the CPUs the process may use; built on first use and again in
//!   a forked child.
//! - `errors`: the library's errors as `ValueError` (input) or `OSError` (the file).
//!
//! The Python side (`python/embeddinggemma_rs/`) adds the sentence-transformers-shaped
//! `SentenceTransformer` and the LangChain adapter on top of `Embedder`.
//!
//! # Example
//!
//! ```python
//! from embeddinggemma_rs import Embedder
//!
//! model = Embedder("embeddinggemma-300m-q8_0.gguf")
//! vectors = model.embed(["Mars is often called the Red Planet."], prompt_name="document")
//! assert vectors.shape == (1, 768) and vectors.dtype == "float32"
//! ```
#![forbid(unsafe_code)]

mod embedder;
mod errors;
mod pool;

use pyo3::prelude::*;

/// The native module: `Embedder` and `EmbedResult`.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<embedder::Embedder>()?;
    m.add_class::<embedder::EmbedResult>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
