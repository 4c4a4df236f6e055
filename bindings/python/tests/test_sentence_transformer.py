"""``embeddinggemma_rs.SentenceTransformer`` against sentence-transformers itself.

testdata/st-python-parity.json holds what sentence-transformers 6.2.0 returned for each
call (made by make_st_reference.py from the Hugging Face release, float32). The same call
here must give the same shape and dtype, vectors within the Rust tests' fidelity bounds
(cosine >= 0.99999 on the F32 GGUF, >= 0.999 on Q8_0), and the same norms: cosine alone
would not see a vector normalized where sentence-transformers leaves it cut.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from embeddinggemma_rs import Embedder, SentenceTransformer

REFERENCE = Path(__file__).resolve().parents[3] / "testdata" / "st-python-parity.json"
# (minimum cosine, maximum norm difference) per model file, as the Rust tests bound them.
BOUNDS = {"f32": (0.99999, 1e-4), "q8_0": (0.999, 1e-3)}
# The calls also checked on F32, the strict bound (every call runs on Q8_0, the faster).
F32_CASES = {"default", "prompt_text", "truncate_256", "one_string_query_512"}


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads(REFERENCE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def st_f32(f32_model_path: Path) -> SentenceTransformer:
    return SentenceTransformer(f32_model_path)


@pytest.fixture(scope="module")
def st_q8(q8_model_path: Path) -> SentenceTransformer:
    return SentenceTransformer(q8_model_path)


def texts_of(ref: dict) -> list[str]:
    return [t["text"] for t in ref["texts"]]


def vectors_of(ref: dict, case: dict) -> list:
    """A case's vectors, or those of the case it is the same as."""
    if "vectors" in case:
        return case["vectors"]
    return next(c["vectors"] for c in ref["cases"] if c["name"] == case["same_as"])


def assert_close(ours: np.ndarray, want: dict, file_type: str, what: str) -> None:
    theirs = np.asarray(want["vectors"], dtype=np.float64)
    assert list(ours.shape) == want["shape"], what
    assert str(ours.dtype) == want["dtype"], what
    min_cos, max_norm_diff = BOUNDS[file_type]
    a, b = np.atleast_2d(ours).astype(np.float64), np.atleast_2d(theirs)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    cos = (a * b).sum(axis=1) / (na * nb)
    assert cos.min() >= min_cos, f"{what}: cosines {np.round(cos, 7).tolist()}"
    assert np.abs(na - nb).max() <= max_norm_diff, f"{what}: norms {na} vs {nb}"


def run(model: SentenceTransformer, case: dict, texts: list[str]) -> np.ndarray:
    inputs = texts if case["input"] == "many" else texts[0]
    return getattr(model, case["method"])(inputs, **case["kwargs"])


def test_every_call_matches_on_q8_0(ref: dict, st_q8: SentenceTransformer) -> None:
    for case in ref["cases"]:
        want = case | {"vectors": vectors_of(ref, case)}
        assert_close(run(st_q8, case, texts_of(ref)), want, "q8_0", case["name"])


def test_calls_match_on_f32(ref: dict, st_f32: SentenceTransformer) -> None:
    cases = [c for c in ref["cases"] if c["name"] in F32_CASES]
    assert len(cases) == len(F32_CASES)
    for case in cases:
        want = case | {"vectors": vectors_of(ref, case)}
        assert_close(run(st_f32, case, texts_of(ref)), want, "f32", case["name"])


def test_sentence_transformers_semantics_in_the_reference(ref: dict) -> None:
    """What the class relies on, as sentence-transformers itself showed it."""
    cases = {c["name"]: c for c in ref["cases"]}
    norms = {n: np.linalg.norm(np.atleast_2d(vectors_of(ref, c)), axis=1) for n, c in cases.items()}
    # The Normalize module: unit vectors without normalize_embeddings.
    np.testing.assert_allclose(norms["default"], 1.0, atol=1e-6)
    # truncate_dim cuts after it and normalizes again only when asked.
    assert norms["truncate_256"].max() < 0.99
    np.testing.assert_allclose(norms["truncate_256_normalize"], 1.0, atol=1e-6)
    # encode_query and encode_document are encode with the query and document prompts.
    assert cases["encode_query"].get("same_as") == "prompt_name_query"
    assert cases["encode_document"].get("same_as") == "prompt_name_document"
    # A single string gives one vector, not a batch of one.
    assert cases["one_string"]["shape"] == [768]


def test_max_seq_length_cuts_like_sentence_transformers(
    ref: dict, st_f32: SentenceTransformer
) -> None:
    assert st_f32.max_seq_length == ref["max_seq_length"]
    st_f32.max_seq_length = 64
    try:
        got = st_f32.encode(texts_of(ref))
    finally:
        st_f32.max_seq_length = ref["max_seq_length"]
    assert_close(got, ref["max_seq_length_64"], "f32", "max_seq_length 64")


def test_constructor_truncate_dim(ref: dict, q8_model_path: Path) -> None:
    want = ref["constructor_truncate_dim_256"]
    model = SentenceTransformer(q8_model_path, truncate_dim=256)
    assert model.get_embedding_dimension() == want["embedding_dimension"] == 256
    assert_close(model.encode(texts_of(ref)), want, "q8_0", "truncate_dim=256 at construction")
    with model.truncate_embeddings(None):
        assert model.encode(texts_of(ref)[:1]).shape == (1, 768)
    assert model.encode(texts_of(ref)[:1]).shape == (1, 256)


def test_configuration_is_sentence_transformers(ref: dict, st_q8: SentenceTransformer) -> None:
    assert st_q8.prompts == ref["prompts"]
    assert list(st_q8.prompts) == list(ref["prompts"])
    assert st_q8.default_prompt_name == ref["default_prompt_name"]
    assert st_q8.similarity_fn_name == ref["similarity_fn_name"]
    assert st_q8.get_embedding_dimension() == ref["embedding_dimension"]
    with pytest.warns(FutureWarning):
        assert st_q8.get_sentence_embedding_dimension() == ref["embedding_dimension"]
    empty = st_q8.encode([])
    assert [list(empty.shape), str(empty.dtype)] == [ref["empty"]["shape"], ref["empty"]["dtype"]]


def test_similarity(ref: dict, st_f32: SentenceTransformer) -> None:
    vectors = st_f32.encode(texts_of(ref))
    ours = st_f32.similarity(vectors, vectors)
    theirs = np.asarray(ref["similarity_default"])
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, atol=2e-5)
    np.testing.assert_allclose(np.diag(ours), 1.0, atol=1e-6)
    one = st_f32.similarity(vectors[0], vectors)
    assert one.shape == (1, len(vectors))
    pairwise = st_f32.similarity_pairwise(vectors, vectors)
    np.testing.assert_allclose(pairwise, 1.0, atol=1e-6)
    st_f32.similarity_fn_name = "dot"
    try:
        np.testing.assert_allclose(st_f32.similarity(vectors, vectors), vectors @ vectors.T)
    finally:
        st_f32.similarity_fn_name = "cosine"


def test_same_vectors_as_the_embedder(st_q8: SentenceTransformer, q8_model: Embedder) -> None:
    texts = ["Which planet is known as the Red Planet?", "Mars is often called the Red Planet."]
    assert st_q8.encode(texts).tobytes() == q8_model.embed(texts).tobytes()
    query = q8_model.embed(texts, prompt_name="query")
    assert st_q8.encode_query(texts).tobytes() == query.tobytes()
    document = q8_model.embed(texts, prompt_name="document", dim=256)
    got = st_q8.encode_document(texts, truncate_dim=256, normalize_embeddings=True)
    assert got.tobytes() == document.tobytes()
    as_array = st_q8.encode(np.array(texts))
    assert as_array.tobytes() == q8_model.embed(texts).tobytes()
    assert st_q8.encode(texts[0], prompt="task: search result | query: ").tobytes() == (
        query[0].tobytes()
    )


def test_pickles(st_q8: SentenceTransformer) -> None:
    copy = pickle.loads(pickle.dumps(st_q8))
    assert copy.encode("x").tobytes() == st_q8.encode("x").tobytes()


def test_what_cannot_be_honoured_is_an_error(q8_model_path: Path) -> None:
    model = SentenceTransformer(q8_model_path)
    calls = {
        "device='cuda'": lambda: model.encode("x", device="cuda"),
        "precision='int8'": lambda: model.encode("x", precision="int8"),
        "output_value='token_embeddings'": lambda: model.encode(
            "x", output_value="token_embeddings"
        ),
        "multi-process": lambda: model.encode("x", pool={}),
        "keyword arguments": lambda: model.encode("x", max_length=3),
        "Prompt name 'nope'": lambda: model.encode("x", prompt_name="nope"),
        "batch_size": lambda: model.encode("x", batch_size=0),
    }
    for message, call in calls.items():
        with pytest.raises(ValueError, match=message.replace("(", r"\(")):
            call()
    with pytest.raises(ValueError, match="device='cuda'"):
        SentenceTransformer(q8_model_path, device="cuda")
    with pytest.raises(ValueError, match="revision"):
        SentenceTransformer(q8_model_path, revision="main")
    with pytest.raises(ValueError, match="Default prompt name"):
        SentenceTransformer(q8_model_path, default_prompt_name="nope")
    with pytest.raises(TypeError, match="unexpected keyword"):
        SentenceTransformer(q8_model_path, colour="blue")
    with pytest.raises(OSError, match="folder"):
        SentenceTransformer(q8_model_path.parent)


def test_default_prompt_name_and_own_prompts(q8_model_path: Path, q8_model: Embedder) -> None:
    model = SentenceTransformer(
        q8_model_path, prompts={"mine": "Represent this: "}, default_prompt_name="mine"
    )
    assert model.prompts["mine"] == "Represent this: "
    assert model.prompts["query"] == "task: search result | query: "
    want = q8_model.embed(["x"], prompt="Represent this: ")
    assert model.encode(["x"]).tobytes() == want.tobytes()
    # encode_query's own prompt wins over the default one.
    assert (
        model.encode_query(["x"]).tobytes() == q8_model.embed(["x"], prompt_name="query").tobytes()
    )
