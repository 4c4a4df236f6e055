"""The corpus the Ray and Spark tests embed, and the CLI's vectors for it.

The rows: the 256 paragraphs of ``testdata/bench-prose.txt``, some with titles, plus an
empty text, one text far over the model's 2048 tokens (every paragraph joined) and
duplicates (of a plain row, of a titled one, and the same text with and without a
title). Each row has an ``id``; the engines do not keep order, the checks go by id.

``cli_vectors`` embeds the same rows with ``embed encode --format f32`` from a JSONL
file (its ``title`` field means what ``Embedder.embed(titles=...)`` does), once per
test session: both test modules compare against the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[3]
CORPUS = REPO / "testdata" / "bench-prose.txt"
DIM = 768
#: Rows per ``embed`` call in the tests: does not divide the row count.
BATCH_SIZE = 30
#: Input files: engines read one block or partition per file at least.
SHARDS = 4


def rows() -> list[dict[str, object]]:
    """The test corpus as dicts with ``id``, ``text`` and ``title`` (str or None)."""
    docs = CORPUS.read_text(encoding="utf-8").splitlines()
    assert len(docs) == 256, f"{CORPUS} should have 256 paragraphs, not {len(docs)}"
    texts: list[tuple[str, str | None]] = []
    for i, doc in enumerate(docs):
        # Titles on every ninth paragraph, three distinct ones, so that a batch mixes
        # titled and untitled rows and runs of one title.
        title = f"Chapter {i % 3}" if i % 9 == 4 else None
        texts.append((doc, title))
    texts += [
        ("", None),
        (" ".join(docs), None),
        (docs[0], None),
        (docs[0], None),
        (docs[4], "Chapter 1"),
        (docs[10], "A title only the duplicate has"),
        ("", "An empty text with a title"),
    ]
    return [{"id": i, "text": t, "title": title} for i, (t, title) in enumerate(texts)]


def table(data: list[dict[str, object]]) -> pa.Table:
    schema = pa.schema([("id", pa.int64()), ("text", pa.string()), ("title", pa.string())])
    return pa.Table.from_pylist(data, schema=schema)


def write_shards(data: list[dict[str, object]], directory: Path) -> Path:
    """The rows as ``SHARDS`` Parquet files in ``directory`` (the long text in one)."""
    directory.mkdir(parents=True, exist_ok=True)
    t = table(data)
    per = -(-t.num_rows // SHARDS)
    for k in range(SHARDS):
        pq.write_table(t.slice(k * per, per), directory / f"part-{k}.parquet")
    return directory


@dataclass(frozen=True)
class Corpus:
    """The rows, as Parquet shards in ``full``, and the second run's rows in ``repeat``."""

    data: list[dict[str, object]]
    full: Path
    repeat_ids: list[int]
    repeat: Path

    @staticmethod
    def write(directory: Path) -> Corpus:
        data = rows()
        ids = repeat_ids(data)
        full = write_shards(data, directory / "full")
        repeat = write_shards([data[i] for i in ids], directory / "repeat")
        return Corpus(data=data, full=full, repeat_ids=ids, repeat=repeat)


def cli_vectors(
    embed_cli: Path, model: Path, data: list[dict[str, object]], tmp: pytest.TempPathFactory
) -> np.ndarray:
    """``embed encode``'s float32 vectors for ``data``, row ``i`` for id ``i``.

    Kept in the session's temporary directory under a hash of the input, so the second
    test module reads them instead of embedding again.
    """
    cache = tmp.getbasetemp() / "scale-cli-vectors"
    lines = "".join(
        json.dumps({"id": r["id"], "text": r["text"], **_title(r)}) + "\n" for r in data
    )
    key = hashlib.sha256(f"{model}\n{lines}".encode()).hexdigest()[:16]
    out = cache / f"cli-{key}.f32"
    if not out.exists():
        cache.mkdir(parents=True, exist_ok=True)
        src = cache / f"cli-{key}.jsonl"
        src.write_text(lines, encoding="utf-8")
        tmp = out.with_suffix(".tmp")
        cmd = [str(embed_cli), "encode", "--model", str(model), "--input", str(src)]
        cmd += ["--format", "f32", "--output", str(tmp), "--threads", str(_cpus())]
        subprocess.run(cmd, check=True, capture_output=True)
        os.replace(tmp, out)
    vectors = np.fromfile(out, dtype="<f4")
    return vectors.reshape(len(data), DIM)


def _title(row: dict[str, object]) -> dict[str, object]:
    return {} if row["title"] is None else {"title": row["title"]}


def _cpus() -> int:
    return len(os.sched_getaffinity(0))


def repeat_ids(data: list[dict[str, object]]) -> list[int]:
    """The rows a second run embeds: every fourth paragraph and every special row.

    A quarter of the work (the CI budget), with every kind of row in it, cut into other
    batches than the first run's (``REPEAT_BATCH_SIZE``).
    """
    return [int(r["id"]) for r in data if int(r["id"]) % 4 == 0 or int(r["id"]) >= 256]


#: Rows per ``embed`` call in the second run: other batch boundaries than the first's.
REPEAT_BATCH_SIZE = 7


def vectors_by_id(t: pa.Table, ids: list[int], column: str = "embedding") -> np.ndarray:
    """The ``column`` of an engine's output as float32 ``(len(ids), DIM)`` in ``ids``' order.

    Fails unless the output has exactly the rows of ``ids``, each once.
    """
    got = t.column("id").to_pylist()
    assert sorted(got) == sorted(ids), "ids missing or repeated in the output"
    cells = t.column(column).combine_chunks()
    assert cells.null_count == 0, f"null vectors in {column!r}"
    lengths = pc.list_value_length(cells).to_numpy(zero_copy_only=False)
    assert (lengths == DIM).all(), f"vectors in {column!r} are not all {DIM} long"
    flat = cells.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    position = {i: k for k, i in enumerate(ids)}
    out = np.empty((len(ids), DIM), dtype=np.float32)
    out[[position[i] for i in got]] = flat.reshape(-1, DIM)
    return out


def assert_same_bits(got: np.ndarray, want: np.ndarray, what: str) -> None:
    """Every vector of ``got`` equals ``want``'s bit for bit; the message names the ids."""
    assert got.shape == want.shape, f"{what}: shape {got.shape}, want {want.shape}"
    differ = np.flatnonzero((got.view(np.uint32) != want.view(np.uint32)).any(axis=1))
    if differ.size:
        worst = float(np.abs(got[differ] - want[differ]).max())
        raise AssertionError(
            f"{what}: {differ.size} vectors differ from the CLI's "
            f"(ids {differ[:10].tolist()}..., max |diff| {worst:.3g})"
        )
