"""Embed a Ray Data dataset's text column on a pool of Ray actors.

``embed_dataset`` adds one column of vectors, ``fixed_size_list<float32>[dim]``, to a
``ray.data.Dataset`` and keeps every other column. It runs ``map_batches`` with
``EmbedBatches``, a callable class: Ray starts a pool of actors, each reserves
``cpus_per_actor`` CPUs, opens the model once and embeds with that many threads.

The model is a path, never bytes: every node must be able to read the GGUF at that path
(shared storage, or baked into the node image). Each actor memory-maps it, so actors on
one node share one copy of the weights in the page cache.

Ray Data does not keep row order across actors: carry an id column.

Example::

    import ray
    from embeddinggemma_rs.ray import embed_dataset

    ds = ray.data.read_parquet("s3://bucket/corpus/")  # columns: id, text
    out = embed_dataset(ds, "/models/embeddinggemma-300m-q8_0.gguf", prompt_name="document")
    out.write_parquet("s3://bucket/vectors/")

Ray is imported only when a dataset is embedded: ``import embeddinggemma_rs`` never
needs it.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa
    import ray.data

__all__ = ["DEFAULT_BATCH_SIZE", "EmbedBatches", "embed_dataset"]

#: Rows per ``embed`` call. Large enough that the encoder fills its passes (about 85
#: tokens per typical paragraph, 4096 tokens per pass), small enough that a batch's
#: vectors (3 KiB a row at 768 dimensions) stay well under Ray's block sizes.
DEFAULT_BATCH_SIZE = 128


class EmbedBatches:
    """The callable class ``map_batches`` runs: one model per actor, a batch per call.

    ``__call__`` takes a ``pyarrow.Table`` and returns it with ``output_column``
    appended (and ``worker_column``, when given: ``"<node id>/<pid>"`` of the actor that
    embedded the row, to see how work spread over the cluster).
    """

    def __init__(
        self,
        model_path: str,
        *,
        text_column: str,
        title_column: str | None,
        output_column: str,
        prompt_name: str | None,
        dim: int,
        num_threads: int,
        worker_column: str | None = None,
    ) -> None:
        from embeddinggemma_rs import Embedder

        self._model = Embedder(model_path, num_threads=num_threads)
        self._text_column = text_column
        self._title_column = title_column
        self._output_column = output_column
        self._prompt_name = prompt_name
        self._dim = dim
        self._worker_column = worker_column
        self._worker = ""
        if worker_column is not None:
            import ray

            self._worker = f"{ray.get_runtime_context().get_node_id()}/{os.getpid()}"

    def __call__(self, batch: pa.Table) -> pa.Table:
        import pyarrow as pa

        texts = _strings(batch, self._text_column, nullable=False)
        titles = None
        if self._title_column is not None:
            titles = _strings(batch, self._title_column, nullable=True)
        for name in (self._output_column, self._worker_column):
            if name is not None and name in batch.column_names:
                raise ValueError(f"the dataset already has a column {name!r}")
        vectors = self._model.embed(
            texts, prompt_name=self._prompt_name, titles=titles, dim=self._dim
        )
        # A C-contiguous float32 array becomes an Arrow buffer without a copy.
        flat = pa.array(vectors.reshape(-1), type=pa.float32())
        out = batch.append_column(
            self._output_column, pa.FixedSizeListArray.from_arrays(flat, self._dim)
        )
        if self._worker_column is not None:
            out = out.append_column(
                self._worker_column, pa.array([self._worker] * len(texts), pa.string())
            )
        return out


def _strings(batch: pa.Table, column: str, *, nullable: bool) -> list[str | None]:
    """The values of a string column; a null where a text is needed is an error."""
    if column not in batch.column_names:
        raise ValueError(f"no column {column!r} in the dataset (it has {batch.column_names})")
    values = batch.column(column).to_pylist()
    if not nullable and any(v is None for v in values):
        raise ValueError(f"column {column!r} has a null text: drop or fill nulls first")
    return values


def embed_dataset(
    ds: ray.data.Dataset,
    model_path: str | os.PathLike[str],
    *,
    text_column: str = "text",
    title_column: str | None = None,
    prompt_name: str | None = None,
    dim: int = 768,
    output_column: str = "embedding",
    batch_size: int = DEFAULT_BATCH_SIZE,
    cpus_per_actor: float = 1,
    min_actors: int = 1,
    max_actors: int | None = None,
    worker_column: str | None = None,
    **ray_remote_args: Any,
) -> ray.data.Dataset:
    """``ds`` with a column of embeddings, computed lazily by a pool of actors.

    Args:
        ds: the dataset; ``text_column`` must hold non-null strings.
        model_path: a GGUF readable at this path on every node that runs an actor.
        text_column: the texts.
        title_column: optional titles (str or null per row): a row with a title is
            embedded with the document prompt (unless ``prompt_name`` names another)
            and that title, as ``Embedder.embed(titles=...)``.
        prompt_name: a sentence-transformers prompt (``"document"``, ``"query"``, ...).
        dim: Matryoshka dimension: 768, 512, 256 or 128.
        output_column: the new column, ``fixed_size_list<float32>[dim]``.
        batch_size: rows per ``embed`` call.
        cpus_per_actor: CPUs each actor reserves; it embeds with that many threads
            (at least one).
        min_actors, max_actors: the pool's size; Ray scales it between them. With
            ``max_actors`` unset the pool grows while the cluster has free CPUs. Equal
            values give a fixed pool.
        worker_column: when given, a string column ``"<node id>/<pid>"`` naming the
            actor that embedded each row.
        ray_remote_args: passed to ``map_batches`` (``resources``, ``memory``,
            ``label_selector``, ``runtime_env``...), e.g. to keep actors on the nodes
            that hold the model file.

    Returns:
        A lazy ``ray.data.Dataset``: nothing runs until it is consumed or written.
    """
    import ray.data

    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    if cpus_per_actor <= 0:
        raise ValueError(f"cpus_per_actor must be positive, not {cpus_per_actor}")
    if max_actors is not None and max_actors < max(min_actors, 1):
        raise ValueError(f"max_actors ({max_actors}) is below min_actors ({min_actors})")
    if max_actors is not None and max_actors == min_actors:
        compute = ray.data.ActorPoolStrategy(size=max_actors)
    else:
        compute = ray.data.ActorPoolStrategy(min_size=max(min_actors, 1), max_size=max_actors)
    return ds.map_batches(
        EmbedBatches,
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=compute,
        num_cpus=cpus_per_actor,
        fn_constructor_kwargs={
            "model_path": os.fspath(model_path),
            "text_column": text_column,
            "title_column": title_column,
            "output_column": output_column,
            "prompt_name": prompt_name,
            "dim": dim,
            "num_threads": max(1, math.floor(cpus_per_actor)),
            "worker_column": worker_column,
        },
        **ray_remote_args,
    )
