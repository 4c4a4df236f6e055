"""EmbeddingGemma-300M from GGUF, computed in Rust: text in, numpy vectors out.

``Embedder`` is the model (a memory-mapped GGUF) with its own threads; ``embed`` gives a
``float32 (n, dim)`` array. The GIL is released while it works; it pickles by path.
"""

from embeddinggemma_rs._core import EmbedResult, Embedder, __version__

__all__ = ["EmbedResult", "Embedder", "__version__"]
