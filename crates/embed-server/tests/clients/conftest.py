"""Shared by the client tests: the servers' addresses and the expected vectors.

The Rust test `tests/clients.rs` starts the servers in-process and passes:
EMBED_URL (defaults), EMBED_AUTH_URL and EMBED_API_KEY (a server with an API key),
EMBED_TINY_URL (a server with a 1000-token queue) and EMBED_EXPECTED (a JSON file of
the library's vectors, as base64 of little-endian f32).
"""

import base64
import json
import os

import numpy as np
import pytest


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run these tests through `cargo test -p embed-server`")
    return value


@pytest.fixture(scope="session")
def url() -> str:
    return _env("EMBED_URL")


@pytest.fixture(scope="session")
def auth_url() -> str:
    return _env("EMBED_AUTH_URL")


@pytest.fixture(scope="session")
def api_key() -> str:
    return _env("EMBED_API_KEY")


@pytest.fixture(scope="session")
def tiny_url() -> str:
    return _env("EMBED_TINY_URL")


class Expected:
    """The library's vectors for each case (`prompt` and `dim`) of the same texts."""

    def __init__(self, path: str) -> None:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        self.texts: list[str] = data["texts"]
        self.cases: dict = data["cases"]

    def vectors(self, case: str) -> list[np.ndarray]:
        return [
            np.frombuffer(base64.b64decode(v), dtype="<f4") for v in self.cases[case]["vectors"]
        ]

    def tokens(self, case: str) -> int:
        return self.cases[case]["tokens"]


@pytest.fixture(scope="session")
def expected() -> Expected:
    return Expected(_env("EMBED_EXPECTED"))


def same_bits(got, want: np.ndarray) -> bool:
    """Whether `got` (floats, as a client returns them) is `want` bit for bit."""
    got = np.asarray(got, dtype=np.float32)
    return got.shape == want.shape and bool(
        np.array_equal(got.view(np.uint32), want.view(np.uint32))
    )
