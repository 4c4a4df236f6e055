"""The vectors ``embed encode`` (the CLI) gives, the reference the package must equal bit
for bit, and the public corpus' texts."""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]


def public_corpus() -> list[dict]:
    """testdata/public-corpus.json: id, text, n_tokens, and sentence-transformers' vector
    (``st``, F32 release, default options)."""
    return json.loads((ROOT / "testdata" / "public-corpus.json").read_text(encoding="utf-8"))


def cli_vectors(
    embed_cli: Path,
    model: Path,
    texts: Sequence[str],
    *flags: str,
    titles: Sequence[str | None] | None = None,
) -> np.ndarray:
    """``embed encode --format f32`` of ``texts`` (JSONL in, so any text and a title per
    text fit), as a ``float32 (len(texts), dim)`` array."""
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in.jsonl", Path(tmp) / "out.f32"
        with src.open("w", encoding="utf-8") as f:
            for i, text in enumerate(texts):
                item: dict = {"text": text}
                if titles is not None and titles[i] is not None:
                    item["title"] = titles[i]
                f.write(json.dumps(item, ensure_ascii=False) + "\n")
        cmd = [str(embed_cli), "encode", "--model", str(model), "--input", str(src)]
        subprocess.run([*cmd, "--format", "f32", "--output", str(out), *flags], check=True)
        flat = np.fromfile(out, dtype="<f4")
    return flat.reshape(len(texts), -1)
