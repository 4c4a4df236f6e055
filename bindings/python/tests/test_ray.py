"""``embeddinggemma_rs.ray.embed_dataset`` on a real multi-node Ray cluster.

One cluster for the module (Ray starts slowly): a head with one CPU, which runs the
Parquet read and write tasks, and two worker nodes with one CPU and one ``embedder``
resource each, which run the two embedding actors. Parquet in, Parquet out; the vectors
must equal ``embed encode``'s bit for bit, two actors on two nodes must have done the
work, and a second run must write the same bytes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import scale_data

# Under CI the packages must be there: a missing one fails the import, never skips.
if os.environ.get("CI") not in ("true", "1"):
    pytest.importorskip("ray.data")

import ray
import ray.cluster_utils
import ray.data
from embeddinggemma_rs.ray import embed_dataset

# Small object stores: the data is a few MiB, and three nodes share this machine.
OBJECT_STORE_BYTES = 128 * 1024 * 1024


@pytest.fixture(scope="module")
def cluster() -> Iterator[ray.cluster_utils.Cluster]:
    c = ray.cluster_utils.Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1,
            "object_store_memory": OBJECT_STORE_BYTES,
            "include_dashboard": False,
        },
    )
    for _ in range(2):
        c.add_node(num_cpus=1, resources={"embedder": 1}, object_store_memory=OBJECT_STORE_BYTES)
    c.wait_for_nodes()
    ray.init(address=c.address, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        yield c
    finally:
        ray.shutdown()
        c.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> scale_data.Corpus:
    return scale_data.Corpus.write(tmp_path_factory.mktemp("ray-in"))


def run_pipeline(source: Path, model: Path, dest: Path, batch_size: int) -> Path:
    # Few small files read as one block: split it so that both actors get work.
    ds = ray.data.read_parquet(str(source)).repartition(scale_data.SHARDS)
    out = embed_dataset(
        ds,
        model,
        title_column="title",
        batch_size=batch_size,
        cpus_per_actor=1,
        min_actors=2,
        max_actors=2,
        worker_column="worker",
        resources={"embedder": 1},
    )
    out.write_parquet(str(dest))
    return dest


def test_two_nodes_embed_the_cli_vectors_and_repeat_them(
    cluster: ray.cluster_utils.Cluster,
    corpus: scale_data.Corpus,
    q8_model_path: Path,
    embed_cli: Path,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    data, n = corpus.data, len(corpus.data)
    assert n % scale_data.BATCH_SIZE != 0
    first = pq.read_table(
        run_pipeline(corpus.full, q8_model_path, tmp_path / "out-1", scale_data.BATCH_SIZE)
    )

    # Every other column kept, the vectors as fixed_size_list<float32>[768].
    assert set(first.column_names) == {"id", "text", "title", "embedding", "worker"}
    assert str(first.schema.field("embedding").type) == "fixed_size_list<element: float>[768]"
    rows = {r["id"]: r for r in first.select(["id", "text", "title"]).to_pylist()}
    assert rows == {r["id"]: r for r in data}, "the other columns changed"

    got = scale_data.vectors_by_id(first, list(range(n)))
    want = scale_data.cli_vectors(embed_cli, q8_model_path, data, tmp_path_factory)
    scale_data.assert_same_bits(got, want, "Ray, first run")

    workers = set(first.column("worker").to_pylist())
    nodes = {w.split("/")[0] for w in workers}
    worker_nodes = {n["NodeID"] for n in ray.nodes() if n["Resources"].get("embedder")}
    assert len(workers) >= 2, f"one actor did all the work: {workers}"
    assert nodes == worker_nodes, f"actors ran on {nodes}, not on both worker nodes"

    # Again, on a quarter of the rows cut into other batches: the same bytes.
    second_dir = run_pipeline(
        corpus.repeat, q8_model_path, tmp_path / "out-2", scale_data.REPEAT_BATCH_SIZE
    )
    again = scale_data.vectors_by_id(pq.read_table(second_dir), corpus.repeat_ids)
    assert again.tobytes() == got[corpus.repeat_ids].tobytes(), "a second run gave other bytes"


def test_missing_text_column_is_a_clear_error(
    cluster: ray.cluster_utils.Cluster, q8_model_path: Path
) -> None:
    ds = ray.data.from_items([{"body": "no text column"}])
    out = embed_dataset(ds, q8_model_path, max_actors=1, resources={"embedder": 1})
    with pytest.raises(Exception, match="no column 'text'"):
        out.materialize()


def test_import_does_not_need_ray() -> None:
    code = (
        "import sys, embeddinggemma_rs, embeddinggemma_rs.ray, embeddinggemma_rs.spark; "
        "assert 'ray' not in sys.modules and 'pyspark' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
