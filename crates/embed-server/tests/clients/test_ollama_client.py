"""The `ollama` package against /api: embed, the legacy embeddings, and ResponseError."""

import ollama
import pytest

from conftest import same_bits


def client(host: str, **kwargs) -> ollama.Client:
    # A generous timeout: the server may share a busy machine with the test runner.
    return ollama.Client(host=host, timeout=600, **kwargs)


def test_embed_gives_the_library_vectors(url, expected):
    out = client(url).embed(model="embeddinggemma", input=expected.texts)
    for got, want in zip(out.embeddings, expected.vectors("none-768")):
        assert same_bits(got, want)
    assert out.prompt_eval_count == expected.tokens("none-768")
    assert out.total_duration > 0


def test_embed_with_a_prompt_in_the_model_name_and_dimensions(url, expected):
    out = client(url).embed(model="embeddinggemma:query", input=expected.texts, dimensions=256)
    assert len(out.embeddings[0]) == 256
    # The query prompt at 768, cut to 256 and renormalized, is a different case: check
    # the full width against the library instead.
    full = client(url).embed(model="embeddinggemma:query", input=expected.texts)
    for got, want in zip(full.embeddings, expected.vectors("query-768")):
        assert same_bits(got, want)


def test_legacy_embeddings(url, expected):
    out = client(url).embeddings(model="embeddinggemma", prompt=expected.texts[0])
    assert same_bits(out.embedding, expected.vectors("none-768")[0])


def test_list_shows_the_model(url):
    names = [m.model for m in client(url).list().models]
    assert "embeddinggemma:latest" in names


def test_bad_input_raises_response_error(url):
    with pytest.raises(ollama.ResponseError) as e:
        client(url).embed(model="embeddinggemma", input=[])
    assert e.value.status_code == 400
    with pytest.raises(ollama.ResponseError) as e:
        client(url).embed(model="embeddinggemma", input="a", dimensions=100)
    assert e.value.status_code == 400
    assert "100" in e.value.error


def test_a_wrong_key_raises_response_error_401(auth_url, api_key, expected):
    with pytest.raises(ollama.ResponseError) as e:
        client(auth_url).embed(model="m", input="a")
    assert e.value.status_code == 401
    good = client(auth_url, headers={"Authorization": f"Bearer {api_key}"})
    out = good.embed(model="m", input=expected.texts[0])
    assert same_bits(out.embeddings[0], expected.vectors("none-768")[0])
