"""``embeddinggemma_rs.langchain.EmbeddingGemmaEmbeddings``: LangChain's ``Embeddings``
with the model's document and query prompts (the ``langchain`` extra)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Under CI the extra is installed: a missing langchain-core fails, never skips.
if os.environ.get("CI") != "true":
    pytest.importorskip("langchain_core")

from embeddinggemma_rs import Embedder
from embeddinggemma_rs.langchain import EmbeddingGemmaEmbeddings
from langchain_core.embeddings import Embeddings

DOCS = ["Mars is often called the Red Planet.", "Venus is the hottest planet."]


def test_documents_and_queries_get_their_prompts(q8_model_path: Path, q8_model: Embedder) -> None:
    embeddings = EmbeddingGemmaEmbeddings(q8_model_path)
    assert isinstance(embeddings, Embeddings)
    docs = embeddings.embed_documents(DOCS)
    assert docs == q8_model.embed(DOCS, prompt_name="document").tolist()
    query = embeddings.embed_query("Which planet is red?")
    assert query == q8_model.embed(["Which planet is red?"], prompt_name="query")[0].tolist()
    assert all(isinstance(x, float) for x in query)


def test_matryoshka_dim_and_bad_prompts(q8_model_path: Path) -> None:
    embeddings = EmbeddingGemmaEmbeddings(q8_model_path, dim=128)
    assert len(embeddings.embed_query("x")) == 128
    with pytest.raises(ValueError, match="unknown prompt"):
        EmbeddingGemmaEmbeddings(q8_model_path, query_prompt_name="nope")
