"""A LangChain ``Embeddings`` over ``Embedder``: ``pip install embeddinggemma-rs[langchain]``.

Documents get the model's ``document`` prompt and queries its ``query`` prompt, as the
model card asks for retrieval; vectors are unit length, 768 values or a Matryoshka ``dim``.

    from embeddinggemma_rs.langchain import EmbeddingGemmaEmbeddings

    embeddings = EmbeddingGemmaEmbeddings("embeddinggemma-300m-q8_0.gguf")
    vectors = embeddings.embed_documents(["Mars is often called the Red Planet."])
"""

from __future__ import annotations

import os

try:
    from langchain_core.embeddings import Embeddings
except ImportError as e:  # the extra is not installed
    raise ImportError(
        "embeddinggemma_rs.langchain needs langchain-core: "
        "pip install 'embeddinggemma-rs[langchain]'"
    ) from e

from embeddinggemma_rs._core import Embedder

__all__ = ["EmbeddingGemmaEmbeddings"]


class EmbeddingGemmaEmbeddings(Embeddings):
    """EmbeddingGemma-300M from a GGUF file as LangChain ``Embeddings``."""

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        *,
        dim: int = 768,
        query_prompt_name: str = "query",
        document_prompt_name: str = "document",
        num_threads: int | None = None,
    ) -> None:
        self.embedder = Embedder(model_path, num_threads=num_threads)
        if query_prompt_name not in self.embedder.prompts:
            raise ValueError(f"unknown prompt {query_prompt_name!r}")
        if document_prompt_name not in self.embedder.prompts:
            raise ValueError(f"unknown prompt {document_prompt_name!r}")
        self.dim = dim
        self.query_prompt_name = query_prompt_name
        self.document_prompt_name = document_prompt_name

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, with the document prompt."""
        vectors = self.embedder.embed(texts, prompt_name=self.document_prompt_name, dim=self.dim)
        return vectors.tolist()

    def embed_query(self, text: str) -> list[float]:
        """The vector of one query, with the query prompt."""
        vectors = self.embedder.embed([text], prompt_name=self.query_prompt_name, dim=self.dim)
        return vectors[0].tolist()
