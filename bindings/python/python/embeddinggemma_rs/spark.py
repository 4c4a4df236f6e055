"""Embed a Spark DataFrame's text column in Spark's Python workers.

Two entry points, both opening the model once per Python worker process (a module-level
cache keyed by path and thread count; a worker re-used for the next task keeps it):

- ``embed_dataframe(df, model_path, ...)``: ``df`` with an ``embedding`` column added,
  through ``mapInArrow`` (Arrow batches in and out, no pandas on the way).
- ``embedding_udf(model_path, ...)``: an iterator ``pandas_udf`` for use in column
  expressions, ``df.select("id", udf("text").alias("embedding"))``.

Both give ``ArrayType(FloatType(), containsNull=False)``, ``dim`` floats per row. Each
worker embeds with ``spark.task.cpus`` threads (the task's CPU share), else one.

The model is a path, never bytes: every executor must read the GGUF at that path (a
local disk path baked into the image, a cluster volume such as ``/dbfs/...`` or
``/Volumes/...``, or a file put there by an init script). Each worker memory-maps it, so
the workers of one executor share one copy of the weights in the page cache.

Example::

    from pyspark.sql import SparkSession
    from embeddinggemma_rs.spark import embed_dataframe

    spark = SparkSession.builder.getOrCreate()
    df = spark.read.parquet("s3://bucket/corpus/")  # columns: id, text
    out = embed_dataframe(df, "/models/embeddinggemma-300m-q8_0.gguf", prompt_name="document")
    out.write.parquet("s3://bucket/vectors/")

PySpark is imported only when a UDF or DataFrame is built: ``import embeddinggemma_rs``
never needs it.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame
    from pyspark.sql.column import Column

    from embeddinggemma_rs import Embedder

__all__ = ["DEFAULT_BATCH_SIZE", "embed_dataframe", "embedding_udf", "task_threads"]

#: Rows per ``embed`` call: Spark's Arrow batches (up to
#: ``spark.sql.execution.arrow.maxRecordsPerBatch`` rows) are cut to this.
DEFAULT_BATCH_SIZE = 128

# One model per (path, threads) per Python worker process.
_MODELS: dict[tuple[str, int], Embedder] = {}


def task_threads() -> int:
    """Threads for the running task: its CPUs (``spark.task.cpus``), else 1."""
    from pyspark import TaskContext

    ctx = TaskContext.get()
    if ctx is None:
        return 1
    try:
        return max(1, int(ctx.cpus()))
    except (AttributeError, TypeError, ValueError):
        return 1


def _model(path: str) -> Embedder:
    """This worker's model for ``path``, opened on first use."""
    from embeddinggemma_rs import Embedder

    key = (path, task_threads())
    model = _MODELS.get(key)
    if model is None:
        model = Embedder(path, num_threads=key[1])
        _MODELS[key] = model
    return model


def _worker_id() -> str:
    return f"{socket.gethostname()}/{os.getpid()}"


def embed_dataframe(
    df: DataFrame,
    model_path: str | os.PathLike[str],
    *,
    text_column: str = "text",
    title_column: str | None = None,
    prompt_name: str | None = None,
    dim: int = 768,
    output_column: str = "embedding",
    batch_size: int = DEFAULT_BATCH_SIZE,
    worker_column: str | None = None,
) -> DataFrame:
    """``df`` with a column of embeddings, every other column kept.

    Args:
        df: the DataFrame; ``text_column`` must hold non-null strings.
        model_path: a GGUF readable at this path on every executor.
        text_column: the texts.
        title_column: optional titles (string or null per row): a row with a title is
            embedded with the document prompt (unless ``prompt_name`` names another)
            and that title, as ``Embedder.embed(titles=...)``.
        prompt_name: a sentence-transformers prompt (``"document"``, ``"query"``, ...).
        dim: Matryoshka dimension: 768, 512, 256 or 128.
        output_column: the new column, ``array<float>`` of ``dim`` values.
        batch_size: rows per ``embed`` call.
        worker_column: when given, a string column ``"<host>/<pid>"`` naming the Python
            worker that embedded each row.

    Spark runs one task per partition: repartition a DataFrame read from few files
    (``df.repartition(n)``) so that every executor core gets work.
    """
    from pyspark.sql.types import ArrayType, FloatType, StringType, StructField, StructType

    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    for name in (text_column, title_column):
        if name is not None and name not in df.columns:
            raise ValueError(f"no column {name!r} in the DataFrame (it has {df.columns})")
    for name in (output_column, worker_column):
        if name is not None and name in df.columns:
            raise ValueError(f"the DataFrame already has a column {name!r}")
    fields = [*df.schema.fields, StructField(output_column, ArrayType(FloatType(), False), False)]
    if worker_column is not None:
        fields.append(StructField(worker_column, StringType(), False))
    path = os.fspath(model_path)

    def embed_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        model = _model(path)
        worker = _worker_id()
        for batch in batches:
            for start in range(0, batch.num_rows, batch_size):
                part = batch.slice(start, batch_size)
                texts = _strings(part.column(text_column).to_pylist(), text_column)
                titles = None
                if title_column is not None:
                    titles = part.column(title_column).to_pylist()
                vectors = model.embed(texts, prompt_name=prompt_name, titles=titles, dim=dim)
                columns = [*part.columns, _list_array(vectors)]
                names = [*part.schema.names, output_column]
                if worker_column is not None:
                    columns.append(_repeat(worker, part.num_rows))
                    names.append(worker_column)
                yield _record_batch(columns, names)

    return df.mapInArrow(embed_batches, StructType(fields))


def embedding_udf(
    model_path: str | os.PathLike[str],
    *,
    prompt_name: str | None = None,
    dim: int = 768,
    with_titles: bool = False,
) -> Column:
    """An iterator ``pandas_udf`` giving ``array<float>`` embeddings of a text column.

    Called with one column (texts), or with two (texts, titles) when ``with_titles``.
    Spark hands it Arrow batches of up to
    ``spark.sql.execution.arrow.maxRecordsPerBatch`` rows; each is one ``embed`` call.
    """
    import pandas as pd
    from pyspark.sql.functions import pandas_udf
    from pyspark.sql.types import ArrayType, FloatType

    path = os.fspath(model_path)
    return_type = ArrayType(FloatType(), False)

    def vectors(texts: pd.Series, titles: pd.Series | None) -> pd.Series:
        model = _model(path)
        values = _strings(texts.tolist(), "text")
        title_values = None if titles is None else [_none_if_na(t) for t in titles]
        out = model.embed(values, prompt_name=prompt_name, titles=title_values, dim=dim)
        return pd.Series(list(out), index=texts.index)

    # Annotations are read by pandas_udf to pick the iterator form; they must be real
    # types (pandas is only imported here), so they are set by hand, not as strings.
    if with_titles:

        def embed_titled(batches):  # type: ignore[no-untyped-def]
            for texts, titles in batches:
                yield vectors(texts, titles)

        embed_titled.__annotations__ = {
            "batches": Iterator[tuple[pd.Series, pd.Series]],
            "return": Iterator[pd.Series],
        }
        return pandas_udf(embed_titled, return_type)  # type: ignore[call-overload]

    def embed_texts(batches):  # type: ignore[no-untyped-def]
        for texts in batches:
            yield vectors(texts, None)

    embed_texts.__annotations__ = {
        "batches": Iterator[pd.Series],
        "return": Iterator[pd.Series],
    }
    return pandas_udf(embed_texts, return_type)  # type: ignore[call-overload]


def _strings(values: list[str | None], column: str) -> list[str]:
    if any(v is None for v in values):
        raise ValueError(f"column {column!r} has a null text: drop or fill nulls first")
    return values  # type: ignore[return-value]


def _none_if_na(value: object) -> str | None:
    """A pandas title cell as str or None (pandas gives None or NaN for nulls)."""
    return value if isinstance(value, str) else None


def _list_array(vectors: object) -> pa.Array:
    """``(n, dim)`` float32 as an Arrow ``list<float32 not null>``, the data not copied."""
    import numpy as np
    import pyarrow as pa

    arr = np.asarray(vectors)
    n, dim = arr.shape
    offsets = pa.array(np.arange(0, (n + 1) * dim, dim, dtype=np.int32))
    values = pa.array(arr.reshape(-1), type=pa.float32())
    list_type = pa.list_(pa.field("element", pa.float32(), nullable=False))
    return pa.ListArray.from_arrays(offsets, values, type=list_type)


def _repeat(value: str, n: int) -> pa.Array:
    import pyarrow as pa

    return pa.array([value] * n, pa.string())


def _record_batch(columns: list[pa.Array], names: list[str]) -> pa.RecordBatch:
    import pyarrow as pa

    return pa.RecordBatch.from_arrays(columns, names=names)
