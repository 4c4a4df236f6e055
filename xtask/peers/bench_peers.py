"""The Python peers of `cargo xtask bench --peers`, timed in-process on one corpus.

- sentence-transformers on torch, f32, `encode`;
- ONNX Runtime on the whole sentence-transformers pipeline (transformer, mean pooling,
  both dense layers, normalization) exported with `torch.onnx.export(..., dynamo=True)`,
  in f32 and after `quantize_dynamic` to int8.

Every peer gets the same length-sorted batches, as TEI forms them: at most 32 texts and
16384 padded tokens a batch (TEI's `max_batch_tokens`; without such a cap a batch of 32
texts near 2048 tokens took the Python process past 20 GB).

The model is loaded and the ONNX files made before the clock starts; each peer embeds
the corpus once per run, the peers taking turns. Every vector is compared with
sentence-transformers' own (cosine per text), and so are ours when `--ours` names the
`.npy` that `embed encode --format npy` wrote. Prints one JSON object on stdout.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

MAX_TOKENS = 2048


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--release", required=True, help="the sentence-transformers folder")
    p.add_argument("--corpus", required=True, help="one text per line")
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--cache", required=True, help="where the ONNX files are kept")
    p.add_argument("--ours", help="our vectors for the corpus (.npy)")
    p.add_argument("--batch", type=int, default=32, help="texts per batch at most")
    p.add_argument(
        "--batch-tokens", type=int, default=16384, help="padded tokens per batch at most"
    )
    return p.parse_args()


def load_st(release, threads):
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    model = SentenceTransformer(release, device="cpu")
    model.eval()
    return model


class Pipeline:
    """The sentence-transformers modules as one graph: ids and mask in, vectors out."""

    def __new__(cls, model):
        import torch

        class _Pipeline(torch.nn.Module):
            def __init__(self, st):
                super().__init__()
                self.st = st

            def forward(self, input_ids, attention_mask):
                out = self.st({"input_ids": input_ids, "attention_mask": attention_mask})
                return out["sentence_embedding"]

        return _Pipeline(model)


def export_onnx(model, cache):
    """`model-f32.onnx` and `model-int8.onnx` in `cache`, made once per torch version."""
    import onnxruntime
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tag = f"torch{torch.__version__}-ort{onnxruntime.__version__}".replace("+", "_")
    cache = Path(cache) / tag
    f32, int8 = cache / "model-f32.onnx", cache / "model-int8.onnx"
    if f32.exists() and int8.exists():
        return f32, int8
    cache.mkdir(parents=True, exist_ok=True)
    pipe = Pipeline(model).eval()
    enc = model.tokenizer(
        ["a short example", "a somewhat longer example text for export"],
        padding=True,
        return_tensors="pt",
    )
    batch = torch.export.Dim("batch", min=1, max=1024)
    seq = torch.export.Dim("seq", min=2, max=2048)
    shapes = {"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}}
    tmp = cache / "model-f32.tmp.onnx"
    with torch.no_grad():
        torch.onnx.export(
            pipe,
            (enc["input_ids"], enc["attention_mask"]),
            str(tmp),
            dynamo=True,
            input_names=["input_ids", "attention_mask"],
            output_names=["sentence_embedding"],
            dynamic_shapes=shapes,
            external_data=True,
        )
    # The weights sit beside the graph in `<name>.data`; keep them under the final name.
    import onnx

    graph = onnx.load(str(tmp))
    onnx.save(graph, str(f32), save_as_external_data=True, location="model-f32.onnx.data")
    # The exporter's recorded intermediate shapes trip the quantizer's shape inference
    # (a transposed dense weight); it infers them anew without them.
    del graph.graph.value_info[:]
    bare = cache / "model-bare.tmp.onnx"
    onnx.save(graph, str(bare), save_as_external_data=True, location="model-bare.tmp.onnx.data")
    quantize_dynamic(str(bare), str(int8), weight_type=QuantType.QInt8)
    for p in cache.glob("*.tmp.onnx*"):
        p.unlink()
    return f32, int8


def ort_session(path, threads):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def batches(tokenizer, texts, max_texts, max_tokens):
    """Length-sorted batches as TEI forms them: at most `max_texts` texts and, padded to
    the batch's longest, at most `max_tokens` tokens (a single longer text goes alone)."""
    ids = tokenizer(texts, truncation=True, max_length=MAX_TOKENS)["input_ids"]
    order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
    out, cur = [], []
    for i in order:
        if cur and (len(cur) == max_texts or (len(cur) + 1) * len(ids[i]) > max_tokens):
            out.append(cur)
            cur = []
        cur.append(i)
    if cur:
        out.append(cur)
    return out


def ort_encode(session, tokenizer, texts, args):
    out = np.zeros((len(texts), 768), dtype=np.float32)
    for idx in batches(tokenizer, texts, args.batch, args.batch_tokens):
        enc = tokenizer(
            [texts[i] for i in idx],
            padding=True,
            truncation=True,
            max_length=MAX_TOKENS,
            return_tensors="np",
        )
        feeds = {
            "input_ids": enc["input_ids"].astype(np.int64),
            "attention_mask": enc["attention_mask"].astype(np.int64),
        }
        out[idx] = session.run(None, feeds)[0]
    return out


def st_encode(model, texts, args):
    """sentence-transformers' `encode` on the same batches as ONNX Runtime's."""
    import torch

    out = np.zeros((len(texts), 768), dtype=np.float32)
    with torch.inference_mode():
        for idx in batches(model.tokenizer, texts, args.batch, args.batch_tokens):
            group = [texts[i] for i in idx]
            out[idx] = model.encode(group, batch_size=len(group), convert_to_numpy=True)
    return out


def cosines(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    c = np.sum(a * b, axis=1)
    return {"mean": float(c.mean()), "min": float(c.min())}


def main():
    args = parse_args()
    # The report is the only thing on stdout; the libraries' progress lines (the ONNX
    # exporter prints its steps) go to stderr.
    report_out, sys.stdout = sys.stdout, sys.stderr
    texts = Path(args.corpus).read_text(encoding="utf-8").splitlines()
    texts = [t for t in texts if t.strip()]
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    model = load_st(args.release, args.threads)
    tok = model.tokenizer
    n_tokens = sum(
        len(ids) for ids in tok(texts, truncation=True, max_length=MAX_TOKENS)["input_ids"]
    )
    f32, int8 = export_onnx(model, args.cache)
    sessions = {
        "onnx-f32": ort_session(f32, args.threads),
        "onnx-int8": ort_session(int8, args.threads),
    }

    import torch

    peers = {"sentence-transformers": lambda: st_encode(model, texts, args)}
    for name, s in sessions.items():
        peers[name] = lambda s=s: ort_encode(s, tok, texts, args)
    # Two texts through each first, so no peer's first call pays for a lazy setup.
    for s in sessions.values():
        ort_encode(s, tok, texts[:2], args)
    with torch.inference_mode():
        model.encode(texts[:2])

    seconds = {name: [] for name in peers}
    vectors = {}
    for _ in range(max(1, args.runs)):
        for name, run in peers.items():
            t = time.perf_counter()
            v = run()
            seconds[name].append(time.perf_counter() - t)
            vectors.setdefault(name, np.asarray(v, dtype=np.float32))
    reference = vectors["sentence-transformers"]
    report = {
        "texts": len(texts),
        "tokens": n_tokens,
        "threads": args.threads,
        "versions": versions(),
        "peers": {
            name: {"seconds": seconds[name], "cos_st": cosines(vectors[name], reference)}
            for name in peers
        },
    }
    if args.ours:
        ours = np.load(args.ours)
        if ours.shape != reference.shape:
            sys.exit(f"--ours has shape {ours.shape}, the corpus gives {reference.shape}")
        report["ours_cos_st"] = cosines(ours, reference)
    json.dump(report, report_out)
    report_out.write("\n")


def versions():
    import onnxruntime
    import sentence_transformers
    import torch

    return {
        "torch": torch.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


if __name__ == "__main__":
    main()
