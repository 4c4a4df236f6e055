"""``embeddinggemma_rs.spark`` in a real ``local[2]`` Spark session.

The same corpus as the Ray test, read from Parquet into four partitions, embedded by
``embed_dataframe`` (``mapInArrow``) and written back to Parquet: the vectors must equal
``embed encode``'s bit for bit, two Python workers must have done the work, and a second
run must give the same bytes. The ``pandas_udf`` form is checked on a slice of it.

Spark needs a Java runtime: without ``java`` the session cannot start, and under CI that
is a failure that says so, not a skip.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import scale_data

# Under CI the packages must be there: a missing one fails the import, never skips.
if os.environ.get("CI") not in ("true", "1"):
    pytest.importorskip("pyspark")

from embeddinggemma_rs.spark import embed_dataframe, embedding_udf, task_threads
from pyspark.sql import SparkSession


def _java_or_fail() -> None:
    if shutil.which("java") or os.environ.get("JAVA_HOME"):
        return
    message = "Spark needs a Java runtime (17 or newer): no `java` on PATH and no JAVA_HOME"
    if os.environ.get("CI") in ("true", "1"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    _java_or_fail()
    # The Python workers run this interpreter (the venv with the package), not `python3`.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2]")
        .appName("embeddinggemma-rs-test")
        .config("spark.task.cpus", "1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> scale_data.Corpus:
    return scale_data.Corpus.write(tmp_path_factory.mktemp("spark-in"))


def run_job(spark: SparkSession, source: Path, model: Path, dest: Path, batch_size: int) -> Path:
    df = spark.read.parquet(str(source)).repartition(scale_data.SHARDS)
    out = embed_dataframe(
        df, model, title_column="title", batch_size=batch_size, worker_column="worker"
    )
    out.write.parquet(str(dest))
    return dest


def test_two_workers_embed_the_cli_vectors_and_repeat_them(
    spark: SparkSession,
    corpus: scale_data.Corpus,
    q8_model_path: Path,
    embed_cli: Path,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    data, n = corpus.data, len(corpus.data)
    out = run_job(spark, corpus.full, q8_model_path, tmp_path / "out-1", scale_data.BATCH_SIZE)
    first = pq.read_table(out)

    assert set(first.column_names) == {"id", "text", "title", "embedding", "worker"}
    assert str(first.schema.field("embedding").type) == "list<element: float not null>"
    rows = {r["id"]: r for r in first.select(["id", "text", "title"]).to_pylist()}
    assert rows == {r["id"]: r for r in data}, "the other columns changed"

    got = scale_data.vectors_by_id(first, list(range(n)))
    want = scale_data.cli_vectors(embed_cli, q8_model_path, data, tmp_path_factory)
    scale_data.assert_same_bits(got, want, "Spark, first run")

    workers = set(first.column("worker").to_pylist())
    assert len(workers) >= 2, f"one Python worker did all the work: {workers}"

    # Again, on a quarter of the rows cut into other batches: the same bytes.
    dest = tmp_path / "out-2"
    run_job(spark, corpus.repeat, q8_model_path, dest, scale_data.REPEAT_BATCH_SIZE)
    again = scale_data.vectors_by_id(pq.read_table(dest), corpus.repeat_ids)
    assert again.tobytes() == got[corpus.repeat_ids].tobytes(), "a second run gave other bytes"


def test_pandas_udf_gives_the_same_vectors(
    spark: SparkSession,
    corpus: scale_data.Corpus,
    q8_model_path: Path,
    embed_cli: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    data = corpus.data
    # Titled, duplicate and empty rows; the long text is left out (it costs the most).
    ids = [0, 1, 4, 13, *range(258, len(data))]
    df = spark.read.parquet(str(corpus.full)).where(f"id IN ({', '.join(map(str, ids))})")
    plain = embedding_udf(q8_model_path)
    titled = embedding_udf(q8_model_path, with_titles=True)
    out = df.select("id", titled("text", "title").alias("embedding"), plain("text").alias("p"))
    dest = tmp_path_factory.mktemp("udf") / "out"
    out.write.parquet(str(dest))
    t = pq.read_table(dest)

    want = scale_data.cli_vectors(embed_cli, q8_model_path, data, tmp_path_factory)
    got = scale_data.vectors_by_id(t, ids)
    scale_data.assert_same_bits(got, want[ids], "pandas_udf with titles")
    # Without titles, the untitled rows are the same vectors.
    untitled = [k for k, i in enumerate(ids) if data[i]["title"] is None]
    no_titles = scale_data.vectors_by_id(t, ids, column="p")
    scale_data.assert_same_bits(no_titles[untitled], want[ids][untitled], "pandas_udf")


def test_threads_come_from_spark_task_cpus(spark: SparkSession) -> None:
    threads = spark.sparkContext.parallelize([0], 1).map(lambda _: task_threads()).collect()
    assert threads == [1]
