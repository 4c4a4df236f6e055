"""The `openai` package against /v1: vectors, usage, and its own exception types."""

from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from conftest import same_bits


def client(base: str, key: str = "unused") -> openai.OpenAI:
    # No retries: a refusal must surface as the client's exception at once.
    return openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0, timeout=600)


def test_default_encoding_is_base64_and_decodes_to_the_library_vectors(url, expected):
    out = client(url).embeddings.create(model="embeddinggemma", input=expected.texts)
    want = expected.vectors("none-768")
    assert [d.index for d in out.data] == [0, 1]
    for d, w in zip(out.data, want):
        assert same_bits(d.embedding, w)
    assert out.usage.prompt_tokens == expected.tokens("none-768")
    assert out.usage.total_tokens == expected.tokens("none-768")


def test_float_encoding_and_dimensions(url, expected):
    out = client(url).embeddings.create(
        model="embeddinggemma",
        input=expected.texts,
        encoding_format="float",
        dimensions=256,
    )
    for d, w in zip(out.data, expected.vectors("none-256")):
        assert same_bits(d.embedding, w)


def test_extra_body_selects_a_prompt(url, expected):
    out = client(url).embeddings.create(
        model="embeddinggemma",
        input=expected.texts,
        extra_body={"prompt_name": "query"},
    )
    for d, w in zip(out.data, expected.vectors("query-768")):
        assert same_bits(d.embedding, w)
    assert out.usage.prompt_tokens == expected.tokens("query-768")


def test_model_name_selects_a_prompt(url, expected):
    out = client(url).embeddings.create(
        model="embeddinggemma:document", input=expected.texts, dimensions=512
    )
    for d, w in zip(out.data, expected.vectors("document-512")):
        assert same_bits(d.embedding, w)
    assert out.model == "embeddinggemma:document"


def test_a_single_string(url, expected):
    out = client(url).embeddings.create(model="m", input=expected.texts[0])
    assert len(out.data) == 1
    assert same_bits(out.data[0].embedding, expected.vectors("none-768")[0])


def test_models_list(url):
    ids = [m.id for m in client(url).models.list()]
    assert "embeddinggemma" in ids


def test_token_ids_raise_bad_request_saying_what_to_do(url):
    with pytest.raises(openai.BadRequestError) as e:
        client(url).embeddings.create(model="embeddinggemma", input=[[1, 2, 3]])
    assert "check_embedding_ctx_length=False" in str(e.value)


def test_a_bad_dimension_raises_bad_request(url):
    with pytest.raises(openai.BadRequestError):
        client(url).embeddings.create(model="embeddinggemma", input="a", dimensions=100)


def test_an_unknown_prompt_raises_bad_request(url):
    with pytest.raises(openai.BadRequestError):
        client(url).embeddings.create(
            model="embeddinggemma", input="a", extra_body={"prompt_name": "nope"}
        )


def test_a_wrong_key_raises_authentication_error(auth_url, api_key, expected):
    with pytest.raises(openai.AuthenticationError):
        client(auth_url, "wrong").embeddings.create(model="m", input="a")
    out = client(auth_url, api_key).embeddings.create(model="m", input=expected.texts)
    assert same_bits(out.data[1].embedding, expected.vectors("none-768")[1])


def test_a_full_queue_raises_rate_limit_error(tiny_url):
    # Eight requests of about 400 tokens at once into a 1000-token queue.
    words = ["the", "cat", "sat", "on", "mat", "and", "dog", "ran"]

    def call(k: int):
        texts = [" ".join(words[(k + i + j) % 8] for j in range(48)) for i in range(8)]
        try:
            client(tiny_url).embeddings.create(model="m", input=texts)
            return "ok"
        except openai.RateLimitError:
            return "rate limited"

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(call, range(8)))
    assert "rate limited" in results
