"""``embeddinggemma_rs.Embedder``: the arrays it returns, bit-identity with ``embed encode``,
prompts, titles and Matryoshka dimensions, threads, pickling, fork, and its errors."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from cli_reference import cli_vectors, public_corpus
from embeddinggemma_rs import Embedder

TEXTS = ["Which planet is known as the Red Planet?", "Mars is often called the Red Planet.", ""]


def short_corpus(max_tokens: int = 400) -> list[str]:
    return [e["text"] for e in public_corpus() if e["n_tokens"] < max_tokens]


def test_array_is_float32_c_contiguous_and_not_copied(q8_model: Embedder) -> None:
    out = q8_model.embed(TEXTS)
    assert out.shape == (3, 768)
    assert out.dtype == np.float32
    assert out.flags.c_contiguous
    # The Rust buffer moved into numpy: the array views memory that a base object owns.
    assert not out.flags.owndata
    assert out.base is not None
    assert out.flags.writeable
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)


def test_no_texts_give_an_empty_matrix(q8_model: Embedder) -> None:
    assert q8_model.embed([]).shape == (0, 768)
    assert q8_model.embed([], dim=128).shape == (0, 128)


def test_any_iterable_of_str_is_texts(q8_model: Embedder) -> None:
    want = q8_model.embed(TEXTS)
    for texts in (tuple(TEXTS), np.array(TEXTS, dtype=object), np.array(TEXTS), iter(TEXTS)):
        assert q8_model.embed(texts).tobytes() == want.tobytes()


def test_public_corpus_equals_the_cli_bit_for_bit(
    q8_model: Embedder, q8_model_path: Path, embed_cli: Path
) -> None:
    texts = [e["text"] for e in public_corpus()]
    ours = q8_model.embed(texts)
    want = cli_vectors(embed_cli, q8_model_path, texts)
    assert ours.shape == want.shape == (len(texts), 768)
    differ = [i for i in range(len(texts)) if ours[i].tobytes() != want[i].tobytes()]
    assert not differ, f"texts differing from embed encode: {differ}"


@pytest.mark.parametrize(
    ("kwargs", "flags"),
    [
        ({"prompt_name": "query"}, ["--prompt", "query"]),
        ({"prompt_name": "STS", "dim": 256}, ["--prompt", "STS", "--dim", "256"]),
        ({"dim": 128, "normalize": False}, ["--dim", "128", "--no-normalize"]),
        ({"max_tokens": 16}, ["--max-tokens", "16"]),
    ],
)
def test_options_equal_the_cli_bit_for_bit(
    q8_model: Embedder, q8_model_path: Path, embed_cli: Path, kwargs: dict, flags: list[str]
) -> None:
    texts = short_corpus(100)
    ours = q8_model.embed(texts, **kwargs)
    assert ours.tobytes() == cli_vectors(embed_cli, q8_model_path, texts, *flags).tobytes()


def test_titles_equal_the_cli_bit_for_bit(
    q8_model: Embedder, q8_model_path: Path, embed_cli: Path
) -> None:
    texts = ["Paris is the capital of France.", "Berlin is in Germany.", "No title here.", "x"]
    titles = ["Paris", "Paris", None, "Letters"]
    ours = q8_model.embed(texts, titles=titles)
    want = cli_vectors(embed_cli, q8_model_path, texts, titles=titles)
    assert ours.tobytes() == want.tobytes()
    # A title means the document prompt with that title; no title, no prompt.
    by_hand = q8_model.embed(["title: Paris | text: Berlin is in Germany.", "No title here."])
    assert ours[1:3].tobytes() == by_hand.tobytes()


def test_f32_model_is_sentence_transformers_within_the_rust_bound(f32_model: Embedder) -> None:
    corpus = [e for e in public_corpus() if e["n_tokens"] < 400]
    ours = f32_model.embed([e["text"] for e in corpus])
    for e, v in zip(corpus, ours, strict=True):
        st = np.asarray(e["st"], dtype=np.float64)
        cos = float(v @ st / (np.linalg.norm(v) * np.linalg.norm(st)))
        assert cos >= 0.99999, f"{e['id']}: cosine with sentence-transformers {cos:.7f}"


def test_prompts_are_the_release_strings(q8_model: Embedder) -> None:
    prompts = q8_model.prompts
    assert list(prompts)[:2] == ["query", "document"]
    assert len(prompts) == 14
    assert prompts["query"] == "task: search result | query: "
    assert prompts["document"] == "title: none | text: "
    assert prompts["STS"] == "task: sentence similarity | query: "
    text = ["What is the capital of France?"]
    by_name = q8_model.embed(text, prompt_name="query")
    assert q8_model.embed(text, prompt=prompts["query"]).tobytes() == by_name.tobytes()
    assert q8_model.embed([prompts["query"] + text[0]]).tobytes() == by_name.tobytes()


@pytest.mark.parametrize("dim", [512, 256, 128])
def test_matryoshka_cuts_then_renormalizes(q8_model: Embedder, dim: int) -> None:
    full = q8_model.embed(TEXTS[:2], normalize=False)
    cut = q8_model.embed(TEXTS[:2], dim=dim)
    assert cut.shape == (2, dim)
    np.testing.assert_allclose(np.linalg.norm(cut, axis=1), 1.0, atol=1e-6)
    by_hand = full[:, :dim] / np.linalg.norm(full[:, :dim], axis=1, keepdims=True)
    np.testing.assert_allclose(cut, by_hand, atol=1e-6)


def test_info_and_token_counts(q8_model: Embedder) -> None:
    long = max(public_corpus(), key=lambda e: e["n_tokens"])
    texts = ["hello world", long["text"]]
    info = q8_model.embed_with_info(texts)
    assert info.vectors.shape == (2, 768)
    assert info.vectors[:1].tobytes() == q8_model.embed(texts[:1]).tobytes()
    assert info.n_tokens == [4, 2048]
    assert info.truncated == [0, long["n_tokens"] - 2048]
    assert q8_model.count_tokens(texts) == [4, long["n_tokens"]]
    assert q8_model.count_tokens(["hi"], prompt_name="query") == q8_model.count_tokens(
        ["task: search result | query: hi"]
    )
    assert q8_model.dim == 768
    assert q8_model.max_tokens == 2048
    assert q8_model.has_dense
    assert q8_model.warnings == []


def test_two_threads_at_once_get_the_bytes_of_one(q8_model: Embedder) -> None:
    texts = short_corpus(100)
    want = q8_model.embed(texts).tobytes()
    start = threading.Barrier(2)
    got: list[bytes] = []

    def work() -> None:
        start.wait()
        got.append(q8_model.embed(texts).tobytes())

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [want, want]


def test_the_gil_is_released_while_embedding(q8_model: Embedder) -> None:
    text = next(e["text"] for e in public_corpus() if e["id"] == "lgpl_250")
    worker = threading.Thread(target=q8_model.embed, args=([text],))
    ticks = 0
    worker.start()
    # With the GIL held for the whole call this loop could not run until the call ended.
    while worker.is_alive():
        ticks += 1
        worker.join(timeout=0.001)
    assert ticks > 20, f"the main thread ran {ticks} times during a 323-token embedding"


def test_thread_count_and_its_sources(q8_model_path: Path) -> None:
    one = Embedder(q8_model_path, num_threads=1)
    assert one.num_threads == 1
    assert one.embed(TEXTS).tobytes() == Embedder(q8_model_path).embed(TEXTS).tobytes()

    def threads_under(env: dict[str, str]) -> int:
        code = (
            "import sys; from embeddinggemma_rs import Embedder; "
            "print(Embedder(sys.argv[1]).num_threads)"
        )
        base = {
            k: v for k, v in os.environ.items() if k not in ("RAYON_NUM_THREADS", "OMP_NUM_THREADS")
        }
        out = subprocess.run(
            [sys.executable, "-c", code, str(q8_model_path)],
            env=base | env,
            capture_output=True,
            text=True,
            check=True,
        )
        return int(out.stdout)

    assert threads_under({"RAYON_NUM_THREADS": "3", "OMP_NUM_THREADS": "5"}) == 3
    assert threads_under({"OMP_NUM_THREADS": "5,2"}) == 5
    # Otherwise the CPUs the process may use (affinity, and a cgroup quota when set).
    default = threads_under({})
    assert 1 <= default <= len(os.sched_getaffinity(0))
    assert threads_under({"OMP_NUM_THREADS": "junk"}) == default


def test_no_thread_starts_before_the_first_embedding(q8_model_path: Path) -> None:
    code = """
import os, sys
import numpy  # its BLAS may start threads of its own: count from here
tasks = lambda: len(os.listdir("/proc/self/task"))
base = tasks()
from embeddinggemma_rs import Embedder
m = Embedder(sys.argv[1], num_threads=2)
opened = tasks()
m.embed(["x"])
print(opened - base, tasks() - base)
"""
    out = subprocess.run(
        [sys.executable, "-c", code, str(q8_model_path)], capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["0", "2"]


def test_pickles_by_path(q8_model: Embedder, q8_model_path: Path) -> None:
    data = pickle.dumps(q8_model)
    assert len(data) < 1024, "the pickle should name the file, not carry the model"
    copy = pickle.loads(data)
    assert isinstance(copy, Embedder)
    assert Path(copy.path) == q8_model_path
    assert copy.embed(TEXTS).tobytes() == q8_model.embed(TEXTS).tobytes()
    sized = pickle.loads(pickle.dumps(Embedder(q8_model_path, num_threads=1)))
    assert sized.num_threads == 1


def _embed_in_child(model: Embedder) -> bytes:
    """What ``model.embed(TEXTS)`` gives in a forked child."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: embed, send the bytes, leave without Python's cleanup
        os.close(read)
        try:
            data = model.embed(TEXTS).tobytes()
            with os.fdopen(write, "wb") as f:
                f.write(data)
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return data


def test_a_forked_child_embeds(q8_model_path: Path) -> None:
    fresh = Embedder(q8_model_path)
    # Forked before any pool exists, then after the parent's pool has threads.
    from_fresh = _embed_in_child(fresh)
    want = fresh.embed(TEXTS).tobytes()
    assert from_fresh == want
    assert _embed_in_child(fresh) == want


def test_bad_input_is_value_error(q8_model: Embedder) -> None:
    long = max(public_corpus(), key=lambda e: e["n_tokens"])["text"]
    cases = [
        (lambda: q8_model.embed(["x"], dim=100), "dimension 100"),
        (lambda: q8_model.embed(["x"], prompt_name="Qeury"), 'unknown prompt "Qeury"'),
        (lambda: q8_model.embed(["x"], prompt_name="query", prompt="q: "), "not both"),
        (lambda: q8_model.embed(["x", "y"], titles=["t"]), "1 titles for 2 texts"),
        (lambda: q8_model.embed([long], truncate=False), "truncation is off"),
        (lambda: q8_model.embed(["x"], max_tokens=1), "max_tokens 1"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()
    with pytest.raises(ValueError, match="num_threads"):
        Embedder("unused.gguf", num_threads=0)


def test_wrong_types_are_type_error(q8_model: Embedder) -> None:
    with pytest.raises(TypeError, match="not a str"):
        q8_model.embed("one text")
    with pytest.raises(TypeError, match=r"texts\[1\] is int"):
        q8_model.embed(["a", 1])
    with pytest.raises(TypeError, match=r"texts\[0\] is None"):
        q8_model.embed([None])


def test_bad_files_are_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="cannot open"):
        Embedder(tmp_path / "missing.gguf")
    not_gguf = tmp_path / "notes.gguf"
    not_gguf.write_text("hello")
    with pytest.raises(OSError, match="not a readable GGUF"):
        Embedder(not_gguf)
