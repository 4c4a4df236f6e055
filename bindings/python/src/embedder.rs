//! The Python `Embedder`: an opened model, its compute pool and the calls that turn
//! Python texts into numpy arrays.
//!
//! Every call converts its arguments while holding the GIL, then releases it for the
//! tokenizing and the forward passes, which run in the embedder's own pool.

use std::ffi::CString;
use std::path::PathBuf;
use std::sync::Arc;

use gemma_encoder::{EmbedOptions, Embedding, Prompt};
use numpy::ndarray::Array2;
use numpy::{PyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyUserWarning, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::errors::to_py;
use crate::pool::ComputePool;

/// An EmbeddingGemma GGUF, memory-mapped, with its own compute threads.
#[pyclass(frozen, module = "embeddinggemma_rs._core", name = "Embedder")]
pub(crate) struct Embedder {
    model: Arc<gemma_encoder::Embedder>,
    pool: ComputePool,
    path: PathBuf,
    /// The `num_threads` given: a pickled copy sizes its pool where it is unpickled.
    num_threads: Option<usize>,
}

/// Vectors with each text's token count and the tokens cut from it.
#[pyclass(frozen, module = "embeddinggemma_rs._core", name = "EmbedResult")]
pub(crate) struct EmbedResult {
    /// `float32 (n, dim)`.
    #[pyo3(get)]
    vectors: Py<PyArray2<f32>>,
    /// Tokens the model saw per text, BOS and EOS included.
    #[pyo3(get)]
    n_tokens: Vec<usize>,
    /// Tokens cut from the end of each text to fit (0 when it fit).
    #[pyo3(get)]
    truncated: Vec<usize>,
}

#[pymethods]
impl EmbedResult {
    fn __repr__(&self, py: Python<'_>) -> String {
        let shape = self.vectors.bind(py).shape().to_vec();
        format!(
            "EmbedResult(vectors=<float32 {shape:?}>, n_tokens={:?}, truncated={:?})",
            self.n_tokens, self.truncated
        )
    }
}

/// What one call embeds: the texts, each one's title (when given), and the options.
struct Request {
    texts: Vec<String>,
    titles: Option<Vec<Option<String>>>,
    opts: EmbedOptions,
}

#[pymethods]
impl Embedder {
    #[new]
    #[pyo3(signature = (path, *, num_threads=None))]
    fn new(py: Python<'_>, path: PathBuf, num_threads: Option<i64>) -> PyResult<Embedder> {
        let num_threads = match num_threads {
            None => None,
            Some(n) if n >= 1 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            Some(n) => {
                return Err(PyValueError::new_err(format!(
                    "num_threads must be at least 1, not {n}"
                )));
            }
        };
        let model = py
            .detach(|| gemma_encoder::Embedder::open(&path))
            .map_err(|e| to_py(&e))?;
        let user_warning = py.get_type::<PyUserWarning>();
        for w in model.warnings() {
            let message = CString::new(w.replace('\0', " ")).unwrap_or_default();
            PyErr::warn(py, &user_warning, &message, 1)?;
        }
        Ok(Embedder {
            model: Arc::new(model),
            pool: ComputePool::new(num_threads),
            path,
            num_threads,
        })
    }

    /// Embeds `texts` (a sequence of str): a C-contiguous `float32 (len(texts), dim)`
    /// array.
    #[pyo3(signature = (texts, *, prompt_name=None, prompt=None, titles=None, dim=768,
                        normalize=true, truncate=true, max_tokens=None))]
    #[allow(clippy::too_many_arguments)]
    fn embed<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'py, PyAny>,
        prompt_name: Option<&str>,
        prompt: Option<String>,
        titles: Option<&Bound<'py, PyAny>>,
        dim: usize,
        normalize: bool,
        truncate: bool,
        max_tokens: Option<usize>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let opts = options(prompt_name, prompt, dim, normalize, truncate, max_tokens)?;
        let request = Request::new(texts, titles, opts)?;
        let out = self.run(py, &request)?;
        Ok(to_array(py, &out, request.opts.dim))
    }

    /// Like `embed`, with each text's token count and the tokens cut from it.
    #[pyo3(signature = (texts, *, prompt_name=None, prompt=None, titles=None, dim=768,
                        normalize=true, truncate=true, max_tokens=None))]
    #[allow(clippy::too_many_arguments)]
    fn embed_with_info<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'py, PyAny>,
        prompt_name: Option<&str>,
        prompt: Option<String>,
        titles: Option<&Bound<'py, PyAny>>,
        dim: usize,
        normalize: bool,
        truncate: bool,
        max_tokens: Option<usize>,
    ) -> PyResult<EmbedResult> {
        let opts = options(prompt_name, prompt, dim, normalize, truncate, max_tokens)?;
        let request = Request::new(texts, titles, opts)?;
        let out = self.run(py, &request)?;
        Ok(EmbedResult {
            n_tokens: out.iter().map(|e| e.n_tokens).collect(),
            truncated: out.iter().map(|e| e.truncated).collect(),
            vectors: to_array(py, &out, request.opts.dim).unbind(),
        })
    }

    /// Each text's tokens under the prompt and title, BOS and EOS included, before any
    /// truncation.
    #[pyo3(signature = (texts, *, prompt_name=None, prompt=None, titles=None))]
    fn count_tokens<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'py, PyAny>,
        prompt_name: Option<&str>,
        prompt: Option<String>,
        titles: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Vec<usize>> {
        let opts = options(prompt_name, prompt, 768, true, true, None)?;
        let request = Request::new(texts, titles, opts)?;
        let model = &self.model;
        Ok(py.detach(|| {
            (0..request.texts.len())
                .map(|i| {
                    let text = model.prompted(&request.texts[i], &request.options_for(i));
                    let enc = model.tokenizer().encode_truncated(&text, true, usize::MAX);
                    enc.ids.len() + enc.truncated
                })
                .collect()
        }))
    }

    /// The model's prompts, name to text, in the release's order.
    #[getter]
    fn prompts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for p in Prompt::KNOWN {
            d.set_item(p.name(), p.text())?;
        }
        Ok(d)
    }

    /// The GGUF this embedder mapped.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// Threads the pool has (or will have on first use).
    #[getter]
    fn num_threads(&self) -> usize {
        self.pool.threads()
    }

    /// The full vector dimension (768).
    #[getter]
    fn dim(&self) -> usize {
        self.model.hparams().n_out
    }

    /// The context: tokens per text, BOS and EOS included (2048).
    #[getter]
    fn max_tokens(&self) -> usize {
        self.model.hparams().n_ctx
    }

    /// Whether the GGUF has the Dense layers (without them the vectors are not
    /// sentence-transformers').
    #[getter]
    fn has_dense(&self) -> bool {
        self.model.has_dense()
    }

    /// Problems found when opening (also issued as `UserWarning`s).
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.model.warnings().to_vec()
    }

    /// Pickles by path: the copy maps the file where it is unpickled.
    fn __getnewargs_ex__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<((PathBuf,), Bound<'py, PyDict>)> {
        let kwargs = PyDict::new(py);
        kwargs.set_item("num_threads", self.num_threads)?;
        Ok(((self.path.clone(),), kwargs))
    }

    fn __repr__(&self) -> String {
        let threads = self
            .num_threads
            .map_or_else(|| "None".to_string(), |n| n.to_string());
        format!(
            "Embedder({:?}, num_threads={threads})",
            self.path.display().to_string()
        )
    }
}

impl Embedder {
    /// Embeds `request` in this process's pool with the GIL released.
    fn run(&self, py: Python<'_>, request: &Request) -> PyResult<Vec<Embedding>> {
        let pool = self.pool.get().map_err(|e| {
            PyRuntimeError::new_err(format!("cannot start the compute threads: {e}"))
        })?;
        let model = &self.model;
        py.detach(|| pool.install(|| request.embed(model)))
            .map_err(|e| to_py(&e))
    }
}

impl Request {
    /// The texts and titles from Python: any iterable of str (a list, a tuple, a numpy
    /// or pandas column); titles as many str-or-None as texts.
    fn new(
        texts: &Bound<'_, PyAny>,
        titles: Option<&Bound<'_, PyAny>>,
        opts: EmbedOptions,
    ) -> PyResult<Request> {
        if texts.is_instance_of::<PyString>() {
            return Err(PyTypeError::new_err(
                "texts must be a sequence of str, not a str (wrap one text in a list)",
            ));
        }
        let texts: Vec<String> = strings(texts, "texts")?
            .into_iter()
            .enumerate()
            .map(|(i, t)| t.ok_or_else(|| PyTypeError::new_err(format!("texts[{i}] is None"))))
            .collect::<PyResult<_>>()?;
        let titles = match titles {
            None => None,
            Some(t) if t.is_none() => None,
            Some(t) if t.is_instance_of::<PyString>() => {
                return Err(PyTypeError::new_err(
                    "titles must be a sequence of str or None, one per text, not a str",
                ));
            }
            Some(t) => {
                let titles = strings(t, "titles")?;
                if titles.len() != texts.len() {
                    return Err(PyValueError::new_err(format!(
                        "{} titles for {} texts: give one per text (None for no title)",
                        titles.len(),
                        texts.len()
                    )));
                }
                Some(titles)
            }
        };
        Ok(Request {
            texts,
            titles,
            opts,
        })
    }

    /// The options of text `i`: a text with a title gets the document prompt (unless
    /// another is given) with that title, as `embed encode` does for JSONL titles.
    fn options_for(&self, i: usize) -> EmbedOptions {
        let mut o = self.opts.clone();
        if let Some(Some(title)) = self.titles.as_ref().map(|t| &t[i]) {
            o.title = Some(title.clone());
            o.prompt.get_or_insert(Prompt::Document);
        }
        o
    }

    /// The embeddings, in order; runs of texts with the same title share one call.
    fn embed(
        &self,
        model: &gemma_encoder::Embedder,
    ) -> Result<Vec<Embedding>, gemma_encoder::Error> {
        let Some(titles) = &self.titles else {
            return model.embed(&self.texts, &self.opts);
        };
        let mut out = Vec::with_capacity(self.texts.len());
        let mut i = 0;
        while i < self.texts.len() {
            let j = i + titles[i..].iter().take_while(|t| **t == titles[i]).count();
            out.extend(model.embed(&self.texts[i..j], &self.options_for(i))?);
            i = j;
        }
        Ok(out)
    }
}

/// The items of `seq` as str or None; anything else is a `TypeError` naming its index.
fn strings(seq: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<Option<String>>> {
    let iter = seq.try_iter().map_err(|_| {
        PyTypeError::new_err(format!(
            "{what} must be a sequence of str, not {}",
            type_name(seq)
        ))
    })?;
    let mut out = Vec::with_capacity(seq.len().unwrap_or(0));
    for (i, item) in iter.enumerate() {
        let item = item?;
        if item.is_none() {
            out.push(None);
        } else if let Ok(s) = item.cast::<PyString>() {
            out.push(Some(s.to_str()?.to_owned()));
        } else {
            return Err(PyTypeError::new_err(format!(
                "{what}[{i}] is {}, not str",
                type_name(&item)
            )));
        }
    }
    Ok(out)
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "?".into(), |n| n.to_string())
}

/// The library's options from the keyword arguments; `prompt_name` (a known name) and
/// `prompt` (free text) are exclusive.
fn options(
    prompt_name: Option<&str>,
    prompt: Option<String>,
    dim: usize,
    normalize: bool,
    truncate: bool,
    max_tokens: Option<usize>,
) -> PyResult<EmbedOptions> {
    let mut opts = EmbedOptions::new()
        .dim(dim)
        .normalize(normalize)
        .truncate(truncate);
    opts.max_tokens = max_tokens;
    opts.prompt = match (prompt_name, prompt) {
        (Some(_), Some(_)) => {
            return Err(PyValueError::new_err(
                "give prompt_name (a prompt of the model) or prompt (its text), not both",
            ));
        }
        (Some(name), None) => Some(name.parse::<Prompt>().map_err(|e| to_py(&e))?),
        (None, Some(text)) => Some(Prompt::custom(text)),
        (None, None) => None,
    };
    Ok(opts)
}

/// The vectors as one `(n, dim)` array that owns the buffer: the rows are gathered once
/// into a Rust vector, which numpy then holds without copying.
fn to_array<'py>(py: Python<'py>, out: &[Embedding], dim: usize) -> Bound<'py, PyArray2<f32>> {
    let dim = out.first().map_or(dim, |e| e.vector.len());
    let mut flat = Vec::with_capacity(out.len() * dim);
    for e in out {
        flat.extend_from_slice(&e.vector);
    }
    let rows = Array2::from_shape_vec((out.len(), dim), flat)
        .unwrap_or_else(|_| unreachable!("every pooled vector has {dim} values"));
    PyArray2::from_owned_array(py, rows)
}
