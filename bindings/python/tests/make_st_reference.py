"""Makes testdata/st-python-parity.json: sentence-transformers' own output for the calls the
parity tests make through embeddinggemma_rs.SentenceTransformer.

Runs the real library (torch, sentence-transformers) once on the Hugging Face release of
EmbeddingGemma-300M; the tests read the JSON, so CI needs no torch. Run it again only when
the calls or the texts change:

    python bindings/python/tests/make_st_reference.py \
        --release ~/.cache/embeddinggemma-rs/embeddinggemma-300m

Each case records the method, its arguments, the input (all texts or the first one), the
output's shape and dtype, and the vectors (float32 values, 9 significant digits: exact), or
``same_as``: the earlier case whose output it is, bit for bit.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import sentence_transformers
import torch
from sentence_transformers import SentenceTransformer

ROOT = Path(__file__).resolve().parents[3]

# Public-corpus entries (by id) covering short, empty, prompted, non-Latin, code and a few
# hundred tokens (longer than the max_seq_length case's 64).
TEXT_IDS = [
    "greeting",
    "one_word",
    "empty",
    "query",
    "document",
    "french",
    "chinese",
    "greek",
    "json",
    "cpp",
    "gpl2_100",
    "lgpl_250",
]

# (name, method, keyword arguments, input): "many" is every text, "one" the first alone.
CASES = [
    ("default", "encode", {}, "many"),
    ("normalize", "encode", {"normalize_embeddings": True}, "many"),
    ("prompt_name_query", "encode", {"prompt_name": "query"}, "many"),
    ("prompt_name_sts", "encode", {"prompt_name": "STS"}, "many"),
    ("prompt_name_document", "encode", {"prompt_name": "document"}, "many"),
    ("prompt_text", "encode", {"prompt": "Represent this sentence: "}, "many"),
    ("encode_query", "encode_query", {}, "many"),
    ("encode_document", "encode_document", {}, "many"),
    ("truncate_256", "encode", {"truncate_dim": 256}, "many"),
    (
        "truncate_256_normalize",
        "encode",
        {"truncate_dim": 256, "normalize_embeddings": True},
        "many",
    ),
    ("truncate_128_document", "encode_document", {"truncate_dim": 128}, "many"),
    ("one_string", "encode", {}, "one"),
    ("one_string_query_512", "encode_query", {"truncate_dim": 512}, "one"),
    (
        "one_string_normalize_128",
        "encode",
        {"truncate_dim": 128, "normalize_embeddings": True},
        "one",
    ),
]


def corpus_texts(corpus: Path) -> list[dict]:
    entries = {e["id"]: e for e in json.loads(corpus.read_text())}
    return [{"id": i, "text": entries[i]["text"]} for i in TEXT_IDS]


def as_json(a: np.ndarray) -> list:
    """float32 values with 9 significant digits, which give back the same float32."""
    return np.vectorize(lambda v: float(f"{v:.9g}"), otypes=[object])(a).tolist()


def run_case(model: SentenceTransformer, method: str, kwargs: dict, inputs) -> dict:
    out = getattr(model, method)(inputs, **kwargs)
    assert isinstance(out, np.ndarray), type(out)
    return {"shape": list(out.shape), "dtype": str(out.dtype), "vectors": as_json(out)}


def share_equal_outputs(cases: list[dict]) -> None:
    """A case whose output is bit for bit an earlier case's names it (``same_as``) instead
    of repeating the vectors: sentence-transformers' own statement that, say,
    ``encode_query`` is ``encode`` with ``prompt_name="query"``."""
    for i, case in enumerate(cases):
        for earlier in cases[:i]:
            if "vectors" in earlier and earlier["vectors"] == case["vectors"]:
                case["same_as"] = earlier["name"]
                del case["vectors"]
                break


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--release", type=Path, required=True, help="the release folder")
    ap.add_argument("--corpus", type=Path, default=ROOT / "testdata/public-corpus.json")
    ap.add_argument("--out", type=Path, default=ROOT / "testdata/st-python-parity.json")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    model = SentenceTransformer(str(args.release.expanduser()), device="cpu")
    texts = corpus_texts(args.corpus)
    many = [t["text"] for t in texts]

    cases = []
    for name, method, kwargs, which in CASES:
        inputs = many if which == "many" else many[0]
        cases.append(
            {"name": name, "method": method, "kwargs": kwargs, "input": which}
            | run_case(model, method, kwargs, inputs)
        )
        print(name, cases[-1]["shape"], flush=True)

    share_equal_outputs(cases)
    default = np.asarray(cases[0]["vectors"], dtype=np.float32)
    similarity = model.similarity(default, default).numpy()
    empty = model.encode([])

    # The constructor's truncate_dim and a shorter max_seq_length (truncation).
    model.max_seq_length = 64
    short = run_case(model, "encode", {}, many)
    model.max_seq_length = 2048
    cut = SentenceTransformer(str(args.release.expanduser()), device="cpu", truncate_dim=256)
    ctor = run_case(cut, "encode", {}, many)

    ref = {
        "generator": "bindings/python/tests/make_st_reference.py",
        "sentence_transformers": sentence_transformers.__version__,
        "torch": torch.__version__,
        "model": "google/embeddinggemma-300m (the Hugging Face release, float32)",
        "texts": texts,
        "prompts": model.prompts,
        "default_prompt_name": model.default_prompt_name,
        "max_seq_length": 2048,
        "embedding_dimension": model.get_embedding_dimension(),
        "similarity_fn_name": model.similarity_fn_name,
        "similarity_default": as_json(similarity),
        "empty": {"shape": list(empty.shape), "dtype": str(empty.dtype)},
        "cases": cases,
        "max_seq_length_64": short,
        "constructor_truncate_dim_256": ctor
        | {"embedding_dimension": cut.get_embedding_dimension()},
    }
    args.out.write_text(json.dumps(ref, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
