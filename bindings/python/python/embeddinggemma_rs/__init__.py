"""EmbeddingGemma-300M from GGUF, computed in Rust: text in, numpy vectors out.

- ``Embedder``: the model (a memory-mapped GGUF) with its own threads; ``embed`` gives a
  ``float32 (n, dim)`` array. The GIL is released while it works; it pickles by path.
- ``SentenceTransformer``: sentence-transformers' class as people use it (``encode``,
  ``encode_query``, ``encode_document``, ``similarity``), with its semantics.
- ``embeddinggemma_rs.langchain.EmbeddingGemmaEmbeddings``: LangChain ``Embeddings``
  (``pip install embeddinggemma-rs[langchain]``).
"""

from embeddinggemma_rs._core import Embedder, EmbedResult, __version__
from embeddinggemma_rs.sentence_transformer import SentenceTransformer

__all__ = ["EmbedResult", "Embedder", "SentenceTransformer", "__version__"]
