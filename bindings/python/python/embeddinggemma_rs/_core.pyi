"""Type stubs of the native module ``embeddinggemma_rs._core`` (written by hand: keep them
in step with bindings/python/src/embedder.rs)."""

import os
import pathlib
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

__version__: str

class EmbedResult:
    """Vectors with each text's token count and the tokens cut from it."""

    @property
    def vectors(self) -> npt.NDArray[np.float32]:
        """``float32 (n, dim)``, C-contiguous."""
    @property
    def n_tokens(self) -> list[int]:
        """Tokens the model saw per text, BOS and EOS included."""
    @property
    def truncated(self) -> list[int]:
        """Tokens cut from the end of each text to fit (0 when it fit)."""

class Embedder:
    """An EmbeddingGemma GGUF, memory-mapped, with its own compute threads.

    ``num_threads`` sizes the pool; without it ``RAYON_NUM_THREADS``, else
    ``OMP_NUM_THREADS``, else the CPUs the process may use. No thread starts before the
    first embedding, and a forked child builds its own pool. Pickles by path. A file that
    cannot be read or is not the model raises ``OSError``; bad options ``ValueError``.
    """

    def __init__(self, path: str | os.PathLike[str], *, num_threads: int | None = None) -> None: ...
    def embed(
        self,
        texts: Iterable[str],
        *,
        prompt_name: str | None = None,
        prompt: str | None = None,
        titles: Iterable[str | None] | None = None,
        dim: int = 768,
        normalize: bool = True,
        truncate: bool = True,
        max_tokens: int | None = None,
    ) -> npt.NDArray[np.float32]:
        """Embeds ``texts``: a C-contiguous ``float32 (len(texts), dim)`` array that owns
        the library's buffer (no copy). ``prompt_name`` is one of ``prompts``; ``prompt``
        is free text put before each text (not both). A text with a title gets the
        document prompt with it (``title: {title} | text: ``). ``dim`` is a Matryoshka
        dimension (768, 512, 256, 128), cut then normalized. Texts longer than
        ``max_tokens`` (default 2048, BOS and EOS included) are cut, or with
        ``truncate=False`` raise ``ValueError``. The GIL is released meanwhile."""
    def embed_with_info(
        self,
        texts: Iterable[str],
        *,
        prompt_name: str | None = None,
        prompt: str | None = None,
        titles: Iterable[str | None] | None = None,
        dim: int = 768,
        normalize: bool = True,
        truncate: bool = True,
        max_tokens: int | None = None,
    ) -> EmbedResult:
        """``embed``, with each text's token count and the tokens cut from it."""
    def count_tokens(
        self,
        texts: Iterable[str],
        *,
        prompt_name: str | None = None,
        prompt: str | None = None,
        titles: Iterable[str | None] | None = None,
    ) -> list[int]:
        """Each text's tokens with its prompt, BOS and EOS included, before truncation."""
    @property
    def prompts(self) -> dict[str, str]:
        """The model's prompts, name to text, in the release's order."""
    @property
    def path(self) -> pathlib.Path:
        """The GGUF this embedder mapped."""
    @property
    def num_threads(self) -> int:
        """Threads the pool has, or will have on first use."""
    @property
    def dim(self) -> int:
        """The full vector dimension (768)."""
    @property
    def max_tokens(self) -> int:
        """The context: tokens per text, BOS and EOS included (2048)."""
    @property
    def has_dense(self) -> bool:
        """Whether the GGUF has the Dense layers (without them vectors differ from
        sentence-transformers')."""
    @property
    def warnings(self) -> list[str]:
        """Problems found when opening (also issued as ``UserWarning``)."""
