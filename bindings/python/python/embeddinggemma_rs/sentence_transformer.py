"""``SentenceTransformer``: the part of sentence-transformers' class that people use, with
its names and its semantics, computed by ``Embedder``.

What sentence-transformers does with EmbeddingGemma, and so what this class does: the
pipeline ends in a ``Normalize`` module, so ``encode`` gives unit vectors whatever
``normalize_embeddings`` says; ``truncate_dim`` cuts those unit vectors afterwards and does
not normalize them again unless ``normalize_embeddings=True``; ``encode_query`` uses the
``query`` prompt and ``encode_document`` the ``document`` prompt; ``prompt=`` is text put
before each input, and wins over ``prompt_name``. A single string gives a 1-D array, a list
a 2-D one, an empty list ``np.array([])``.

The differences: the model is a GGUF file (or ``"google/embeddinggemma-300m"`` for the
cached Q8_0 one); everything runs on the CPU, so ``device`` can only be ``"cpu"``;
``similarity`` returns a numpy array where sentence-transformers returns a torch tensor;
arguments that cannot be honoured (another device, quantized ``precision``, token
embeddings, multi-process pools) raise ``ValueError`` rather than being ignored.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from embeddinggemma_rs._core import Embedder

logger = logging.getLogger(__name__)

__all__ = ["SentenceTransformer"]

#: The Hugging Face name this class accepts for the cached Q8_0 GGUF.
HUB_NAME = "google/embeddinggemma-300m"
#: The Matryoshka dimensions the library cuts to itself (others are cut here).
MATRYOSHKA_DIMS = (768, 512, 256, 128)
SIMILARITY_FN_NAMES = ("cosine", "dot", "euclidean", "manhattan")
# Constructor arguments about fetching or loading torch modules: meaningless for a local
# GGUF, accepted only at their defaults.
_LOADING_DEFAULTS: dict[str, Any] = {
    "cache_folder": None,
    "trust_remote_code": False,
    "revision": None,
    "local_files_only": False,
    "token": None,
    "use_auth_token": None,
    "modules": None,
    "model_kwargs": None,
    "tokenizer_kwargs": None,
    "processor_kwargs": None,
    "config_kwargs": None,
    "model_card_data": None,
    "backend": "torch",
}


def _cache_dir() -> Path:
    """The model cache (the ``embeddinggemma-cache`` crate's rule)."""
    if os.environ.get("EMBEDDINGGEMMA_CACHE"):
        return Path(os.environ["EMBEDDINGGEMMA_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "embeddinggemma-rs"


def _model_file(name_or_path: str | os.PathLike[str]) -> Path:
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    if str(name_or_path) == HUB_NAME:
        cached = _cache_dir() / "embeddinggemma-300m-q8_0.gguf"
        if cached.is_file():
            return cached
        raise OSError(
            f"{HUB_NAME}: no cached GGUF at {cached}; make one with `embed convert` from the "
            "release (or `cargo xtask fetch-model`), or pass the path of a GGUF file"
        )
    if path.is_dir():
        raise OSError(
            f"{path} is a folder: give the GGUF file (`embed convert` makes one from the "
            "Hugging Face release)"
        )
    return path  # Embedder reports the missing file


def _check_cpu(device: object) -> None:
    if device is not None and device != "cpu":
        raise ValueError(
            f"device={device!r} is not supported: embeddinggemma_rs runs on the CPU only "
            "(use device=None or 'cpu')"
        )


class SentenceTransformer:
    """EmbeddingGemma-300M as sentence-transformers' ``SentenceTransformer``.

    ``model_name_or_path`` is a GGUF file (``HUB_NAME`` means the cached Q8_0 one);
    ``num_threads`` sizes the compute pool (default: ``RAYON_NUM_THREADS``, else
    ``OMP_NUM_THREADS``, else the CPUs the process may use).
    """

    def __init__(
        self,
        model_name_or_path: str | os.PathLike[str] = HUB_NAME,
        *,
        device: str | None = None,
        prompts: dict[str, str] | None = None,
        default_prompt_name: str | None = None,
        similarity_fn_name: str | None = None,
        truncate_dim: int | None = None,
        num_threads: int | None = None,
        **kwargs: Any,
    ) -> None:
        _check_cpu(device)
        for key, value in kwargs.items():
            if key not in _LOADING_DEFAULTS:
                raise TypeError(f"SentenceTransformer() got an unexpected keyword argument {key!r}")
            if value != _LOADING_DEFAULTS[key]:
                raise ValueError(
                    f"{key}={value!r} is not supported: the model is a local GGUF file, "
                    "computed by embeddinggemma_rs"
                )
        self.embedder = Embedder(_model_file(model_name_or_path), num_threads=num_threads)
        # sentence-transformers' order: query and document, then the caller's prompts,
        # then the model's for names not given; a prompt of None becomes "".
        merged: dict[str, str | None] = {"query": None, "document": None}
        merged.update(prompts or {})
        for name, text in self.embedder.prompts.items():
            if merged.get(name) is None:
                merged[name] = text
        self.prompts: dict[str, str] = {k: v or "" for k, v in merged.items()}
        if default_prompt_name is not None and default_prompt_name not in self.prompts:
            raise ValueError(
                f"Default prompt name '{default_prompt_name}' not found in the configured "
                f"prompts dictionary with keys {list(self.prompts.keys())!r}."
            )
        self.default_prompt_name = default_prompt_name
        # The release's config_sentence_transformers.json says "cosine".
        self.similarity_fn_name = similarity_fn_name or "cosine"
        self.truncate_dim = truncate_dim
        self._max_seq_length = self.embedder.max_tokens

    def __repr__(self) -> str:
        return f"SentenceTransformer({str(self.embedder.path)!r})"

    # -- properties -------------------------------------------------------------------

    @property
    def device(self) -> str:
        """Always ``"cpu"``."""
        return "cpu"

    @property
    def max_seq_length(self) -> int:
        """Tokens per input, BOS and EOS included; longer inputs are cut (default 2048)."""
        return self._max_seq_length

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        limit = self.embedder.max_tokens
        if not 2 <= int(value) <= limit:
            raise ValueError(f"max_seq_length must be between 2 and the model's {limit}")
        self._max_seq_length = int(value)

    @property
    def similarity_fn_name(self) -> str:
        """``"cosine"``, ``"dot"``, ``"euclidean"`` or ``"manhattan"``."""
        return self._similarity_fn_name

    @similarity_fn_name.setter
    def similarity_fn_name(self, value: object) -> None:
        value = getattr(value, "value", value)  # a SimilarityFunction member
        if value is None:  # sentence-transformers' default
            value = "cosine"
        if value not in SIMILARITY_FN_NAMES:
            raise ValueError(
                f"SentenceTransformer only supports similarity_fn_name in "
                f"{SIMILARITY_FN_NAMES}, got {value!r}."
            )
        self._similarity_fn_name = str(value)

    def get_embedding_dimension(self) -> int:
        """The dimension ``encode`` gives: 768, or ``truncate_dim`` when smaller."""
        dim = self.embedder.dim
        return dim if self.truncate_dim is None else min(dim, self.truncate_dim)

    def get_sentence_embedding_dimension(self) -> int:
        """The former name of ``get_embedding_dimension`` (a ``FutureWarning``, as
        sentence-transformers gives)."""
        warnings.warn(
            "The `get_sentence_embedding_dimension` method has been renamed to "
            "`get_embedding_dimension`.",
            FutureWarning,
            stacklevel=2,
        )
        return self.get_embedding_dimension()

    def get_max_seq_length(self) -> int:
        return self.max_seq_length

    @contextmanager
    def truncate_embeddings(self, truncate_dim: int | None) -> Iterator[None]:
        """Within the block, ``encode`` cuts its vectors to ``truncate_dim``."""
        saved = self.truncate_dim
        try:
            self.truncate_dim = truncate_dim
            yield
        finally:
            self.truncate_dim = saved

    # -- encoding ---------------------------------------------------------------------

    def encode(
        self,
        inputs: str | Sequence[str] | None = None,
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        output_value: str | None = "sentence_embedding",
        precision: str = "float32",
        convert_to_numpy: bool = True,
        convert_to_tensor: bool = False,
        device: str | None = None,
        normalize_embeddings: bool = False,
        truncate_dim: int | None = None,
        pool: object = None,
        chunk_size: int | None = None,
        **kwargs: Any,
    ) -> Any:
        """Embeds ``inputs`` (a str: a 1-D array; a sequence of str: a 2-D one), as
        sentence-transformers' ``encode`` does. ``sentences=`` is accepted for ``inputs``
        (the name before sentence-transformers 6). ``batch_size`` and
        ``show_progress_bar`` do not change the result and are otherwise ignored: the
        library packs inputs into passes itself."""
        if "sentences" in kwargs:
            if inputs is not None:
                raise TypeError("encode() got both inputs and sentences")
            inputs = kwargs.pop("sentences")
        if inputs is None:
            raise TypeError("encode() missing the inputs to embed")
        self._check_encode_args(batch_size, output_value, precision, device, pool, kwargs)
        singular = not _is_batch(inputs)
        texts = _texts([inputs] if singular else inputs)
        text_prompt = self._resolve_prompt(prompt, prompt_name)
        dim = truncate_dim if truncate_dim is not None else self.truncate_dim
        out = self._embed(texts, text_prompt, dim, normalize_embeddings) if texts else np.array([])
        if convert_to_tensor or not convert_to_numpy:
            out = _to_torch(out, as_list=not convert_to_tensor)
        return out[0] if singular else out

    def encode_query(
        self,
        inputs: str | Sequence[str] | None = None,
        prompt_name: str | None = None,
        prompt: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """``encode`` with the ``query`` prompt unless another is given."""
        if prompt_name is None and prompt is None and "query" in self.prompts:
            prompt_name = "query"
        kwargs.pop("task", None)
        return self.encode(inputs, prompt_name=prompt_name, prompt=prompt, **kwargs)

    def encode_document(
        self,
        inputs: str | Sequence[str] | None = None,
        prompt_name: str | None = None,
        prompt: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """``encode`` with the first of the ``document``, ``passage`` and ``corpus``
        prompts there is, unless another is given."""
        if prompt_name is None and prompt is None:
            prompt_name = next(
                (p for p in ("document", "passage", "corpus") if p in self.prompts), None
            )
        kwargs.pop("task", None)
        return self.encode(inputs, prompt_name=prompt_name, prompt=prompt, **kwargs)

    def _check_encode_args(
        self,
        batch_size: int,
        output_value: str | None,
        precision: str,
        device: object,
        pool: object,
        kwargs: dict[str, Any],
    ) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}.")
        if output_value != "sentence_embedding":
            raise ValueError(
                f"output_value={output_value!r} is not supported: embeddinggemma_rs gives "
                "sentence embeddings only"
            )
        if precision != "float32":
            raise ValueError(
                f"precision={precision!r} is not supported: embeddinggemma_rs gives float32; "
                "quantize its output with sentence_transformers.quantization if needed"
            )
        _check_cpu(device)
        if pool is not None:
            raise ValueError(
                "multi-process pools are not supported: one Embedder uses every CPU it is "
                "given (num_threads)"
            )
        kwargs.pop("task", None)  # routes inputs in models with a Router; this one has none
        if kwargs:
            raise ValueError(
                f"SentenceTransformer.encode() has been called with additional keyword "
                f"arguments that this model does not use: {list(kwargs)}."
            )

    def _resolve_prompt(self, prompt: str | None, prompt_name: str | None) -> str | None:
        """sentence-transformers' rule: ``prompt`` wins, then ``prompt_name``, then the
        default prompt name."""
        if prompt is None:
            if prompt_name is not None:
                if prompt_name not in self.prompts:
                    raise ValueError(
                        f"Prompt name '{prompt_name}' not found in the configured prompts "
                        f"dictionary with keys {list(self.prompts.keys())!r}."
                    )
                prompt = self.prompts[prompt_name]
            elif self.default_prompt_name is not None:
                prompt = self.prompts.get(self.default_prompt_name)
        elif prompt_name is not None:
            logger.warning(
                "Provide either a `prompt`, a `prompt_name`, or neither, but not both. "
                "Ignoring the `prompt_name` in favor of `prompt`."
            )
        return prompt

    def _embed(
        self, texts: list[str], prompt: str | None, dim: int | None, normalize: bool
    ) -> np.ndarray:
        """The vectors under sentence-transformers' order of operations: unit vectors
        (the Normalize module), cut to ``dim``, normalized again only when asked."""
        full = self.embedder.dim
        dim = full if dim is None else min(int(dim), full)
        if dim <= 0:
            raise ValueError(f"truncate_dim must be positive, got {dim}")
        max_tokens = (
            self._max_seq_length if self._max_seq_length < self.embedder.max_tokens else None
        )
        args = {"prompt": prompt or None, "max_tokens": max_tokens}
        if dim == full:
            return self.embedder.embed(texts, **args)
        if normalize and dim in MATRYOSHKA_DIMS:
            return self.embedder.embed(texts, dim=dim, **args)
        cut = np.ascontiguousarray(self.embedder.embed(texts, **args)[:, :dim])
        if normalize:
            cut /= np.maximum(np.linalg.norm(cut, axis=1, keepdims=True), 1e-12)
        return cut

    # -- similarity -------------------------------------------------------------------

    def similarity(self, embeddings1: Any, embeddings2: Any) -> np.ndarray:
        """The ``similarity_fn_name`` score of every pair: ``[len(a), len(b)]``."""
        a, b = _batch(embeddings1), _batch(embeddings2)
        name = self.similarity_fn_name
        if name == "cosine":
            return _unit(a) @ _unit(b).T
        if name == "dot":
            return a @ b.T
        diff = a[:, None, :] - b[None, :, :]
        if name == "euclidean":
            return -np.sqrt((diff * diff).sum(axis=-1))
        return -np.abs(diff).sum(axis=-1)

    def similarity_pairwise(self, embeddings1: Any, embeddings2: Any) -> np.ndarray:
        """The ``similarity_fn_name`` score of ``a[i]`` and ``b[i]`` for each ``i``."""
        a, b = _batch(embeddings1), _batch(embeddings2)
        name = self.similarity_fn_name
        if name == "cosine":
            return (_unit(a) * _unit(b)).sum(axis=-1)
        if name == "dot":
            return (a * b).sum(axis=-1)
        if name == "euclidean":
            return -np.sqrt(((a - b) ** 2).sum(axis=-1))
        return -np.abs(a - b).sum(axis=-1)


def _is_batch(inputs: object) -> bool:
    """sentence-transformers' rule: a list, a tuple or a numpy array of str is a batch."""
    if isinstance(inputs, (list, tuple)):
        return True
    return isinstance(inputs, np.ndarray) and inputs.ndim >= 1 and inputs.dtype.kind in "UO"


def _texts(batch: Any) -> list[str]:
    texts = batch.tolist() if isinstance(batch, np.ndarray) else list(batch)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(
                f"inputs[{i}] is {type(t).__name__}: embeddinggemma_rs embeds text only"
            )
    return texts


def _to_torch(out: np.ndarray, as_list: bool) -> Any:
    """What sentence-transformers returns without ``convert_to_numpy``: torch tensors."""
    try:
        import torch
    except ImportError:
        raise ValueError(
            "convert_to_tensor=True and convert_to_numpy=False give torch tensors, and torch "
            "is not installed: use the default numpy output"
        ) from None
    t = torch.from_numpy(out)
    return list(t) if as_list else t


def _batch(x: Any) -> np.ndarray:
    a = np.asarray(x.numpy() if hasattr(x, "numpy") else x, dtype=np.float32)
    return a[None, :] if a.ndim == 1 else a


def _unit(a: np.ndarray) -> np.ndarray:
    return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
