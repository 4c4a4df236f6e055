"""Fixtures every test of the package shares: the model files and the ``embed`` binary.

A missing model skips the tests that need it, with the reason; under ``CI=true`` it fails
them instead (CI must run the real-model tests). ``cargo xtask python-test`` passes the
paths it uses (``EMBEDDINGGEMMA_Q8_0_MODEL``, ``EMBEDDINGGEMMA_F32_MODEL``,
``EMBEDDINGGEMMA_EMBED_CLI``); without them the model cache's rule applies
(``$EMBEDDINGGEMMA_CACHE``, else ``$XDG_CACHE_HOME/embeddinggemma-rs``, else
``~/.cache/embeddinggemma-rs``) and the binary is built with cargo.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from embeddinggemma_rs import Embedder

ROOT = Path(__file__).resolve().parents[3]


def in_ci() -> bool:
    return os.environ.get("CI") in ("true", "1")


def cache_dir() -> Path:
    """The model cache, by the rule of the ``embeddinggemma-cache`` crate."""
    if os.environ.get("EMBEDDINGGEMMA_CACHE"):
        return Path(os.environ["EMBEDDINGGEMMA_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "embeddinggemma-rs"


def require_file(path: Path, what: str) -> Path:
    """``path`` when it exists; else a skip, or under ``CI=true`` a failure."""
    if path.is_file():
        return path
    message = f"{what}: {path} not found; run `cargo xtask fetch-model` to enable these tests"
    if in_ci():
        pytest.fail(f"{message} (CI=true: the real-model tests must run)", pytrace=False)
    pytest.skip(message)


def _model_path(env: str, file_type: str) -> Path:
    given = os.environ.get(env)
    path = Path(given) if given else cache_dir() / f"embeddinggemma-300m-{file_type}.gguf"
    return require_file(path, f"the {file_type} model")


@pytest.fixture(scope="session")
def q8_model_path() -> Path:
    """The Q8_0 GGUF."""
    return _model_path("EMBEDDINGGEMMA_Q8_0_MODEL", "q8_0")


@pytest.fixture(scope="session")
def f32_model_path() -> Path:
    """The F32 GGUF (the one sentence-transformers' vectors are compared with)."""
    return _model_path("EMBEDDINGGEMMA_F32_MODEL", "f32")


@pytest.fixture(scope="session")
def q8_model(q8_model_path: Path) -> Embedder:
    """One Q8_0 embedder for the session."""
    return Embedder(q8_model_path)


@pytest.fixture(scope="session")
def f32_model(f32_model_path: Path) -> Embedder:
    """One F32 embedder for the session."""
    return Embedder(f32_model_path)


@pytest.fixture(scope="session")
def embed_cli() -> Path:
    """The ``embed`` binary: ``$EMBEDDINGGEMMA_EMBED_CLI``, else built with cargo."""
    given = os.environ.get("EMBEDDINGGEMMA_EMBED_CLI")
    if given:
        return require_file(Path(given), "the embed binary")
    cargo = os.environ.get("CARGO", "cargo")
    subprocess.run(
        [cargo, "build", "--release", "--quiet", "--package", "embed-cli"], cwd=ROOT, check=True
    )
    return ROOT / "target" / "release" / "embed"
