"""`huggingface_hub`'s InferenceClient.feature_extraction against the server's TEI routes."""

import numpy as np
import pytest
from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError


def client(base: str, key: str | None = None) -> InferenceClient:
    # A generous timeout: the server may share a busy machine with the test runner.
    return InferenceClient(base_url=base, api_key=key, timeout=600)


from conftest import same_bits


def test_feature_extraction_gives_the_library_vectors(url, expected):
    out = client(url).feature_extraction(expected.texts[0])
    assert out.dtype == np.float32
    assert same_bits(out[0], expected.vectors("none-768")[0])


def test_feature_extraction_with_a_prompt_and_dimensions(url, expected):
    hf = client(url)
    out = hf.feature_extraction(expected.texts[1], prompt_name="query")
    assert same_bits(out[0], expected.vectors("query-768")[1])
    out = hf.feature_extraction(expected.texts[1], dimensions=256)
    assert same_bits(out[0], expected.vectors("none-256")[1])


def test_an_unknown_prompt_raises_hf_hub_http_error(url):
    with pytest.raises(HfHubHTTPError) as e:
        client(url).feature_extraction("a", prompt_name="nope")
    assert e.value.response.status_code == 422


def test_a_wrong_key_raises_hf_hub_http_error(auth_url, api_key, expected):
    with pytest.raises(HfHubHTTPError) as e:
        client(auth_url, "wrong").feature_extraction("a")
    assert e.value.response.status_code == 401
    out = client(auth_url, api_key).feature_extraction(expected.texts[0])
    assert same_bits(out[0], expected.vectors("none-768")[0])
