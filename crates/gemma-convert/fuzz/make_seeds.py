#!/usr/bin/env python3
"""Writes the convert_release seeds: a tiny made-up EmbeddingGemma release (hidden size
32, one layer, eight tokens) as the fuzz target reads it, its files joined by the
separator in the target's order, one seed per output type family; the JSON files are
the real release's where it has them (from RELEASE_DIR), with the sizes changed.

    python3 make_seeds.py ~/.cache/embeddinggemma-rs/embeddinggemma-300m seeds/convert_release
"""
import json
import os
import struct
import sys

SEP = b"@@FILE@@"
HIDDEN, FFN, HEAD_DIM, HEADS, LAYERS, VOCAB = 32, 64, 16, 2, 1, 8
PIECES = ["<pad>", "<eos>", "<bos>", "<unk>", "\u2581a", "b"]


def safetensors(tensors, bf16=()):
    header, data = {}, bytearray()
    for ti, (name, shape) in enumerate(tensors):
        n = 1
        for d in shape:
            n *= d
        start = len(data)
        for i in range(n):
            v = ((ti * 7 + i) % 33) / 16.0 - 1.0
            raw = struct.pack("<f", v)
            data += raw[2:] if name in bf16 else raw
        header[name] = {"dtype": "BF16" if name in bf16 else "F32", "shape": shape,
                        "data_offsets": [start, len(data)]}
    h = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(h)) + h + bytes(data)


def tokenizer_model():
    out = bytearray()
    for i, text in enumerate(PIECES):
        kind = 3 if i <= 2 else 2 if i == 3 else 1
        t = text.encode()
        piece = bytes([0x0A, len(t)]) + t + b"\x15" + struct.pack("<f", -float(i)) + bytes([0x18, kind])
        out += bytes([0x0A, len(piece)]) + piece
    return bytes(out)


def model_tensors():
    v = [("embed_tokens.weight", [VOCAB, HIDDEN]), ("norm.weight", [HIDDEN])]
    q = HEADS * HEAD_DIM
    for il in range(LAYERS):
        for name, shape in [
            ("input_layernorm", [HIDDEN]), ("self_attn.q_proj", [q, HIDDEN]),
            ("self_attn.k_proj", [HEAD_DIM, HIDDEN]), ("self_attn.v_proj", [HEAD_DIM, HIDDEN]),
            ("self_attn.o_proj", [HIDDEN, q]), ("self_attn.q_norm", [HEAD_DIM]),
            ("self_attn.k_norm", [HEAD_DIM]), ("post_attention_layernorm", [HIDDEN]),
            ("pre_feedforward_layernorm", [HIDDEN]), ("post_feedforward_layernorm", [HIDDEN]),
            ("mlp.gate_proj", [FFN, HIDDEN]), ("mlp.up_proj", [FFN, HIDDEN]),
            ("mlp.down_proj", [HIDDEN, FFN]),
        ]:
            v.append((f"layers.{il}.{name}.weight", shape))
    return v


def real_json(release, name, default):
    try:
        with open(os.path.join(release, name)) as f:
            return json.load(f)
    except OSError:
        return default


def main(release, out):
    config = real_json(release, "config.json", {"architectures": ["Gemma3TextModel"]})
    config.update({"hidden_size": HIDDEN, "num_hidden_layers": LAYERS, "intermediate_size": FFN,
                   "num_attention_heads": HEADS, "num_key_value_heads": 1, "head_dim": HEAD_DIM,
                   "vocab_size": VOCAB, "max_position_embeddings": 64, "sliding_window": 16})
    config.pop("layer_types", None)
    dense = []
    for name, fin, fout in [("2_Dense", HIDDEN, 2 * HIDDEN), ("3_Dense", 2 * HIDDEN, HIDDEN)]:
        c = real_json(release, f"{name}/config.json", {"bias": False})
        c.update({"in_features": fin, "out_features": fout})
        dense.append((json.dumps(c).encode(), safetensors([("linear.weight", [fout, fin])])))
    tc = {"added_tokens_decoder": {"5": {"content": "b", "special": False}},
          "bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>"}
    files = [
        json.dumps(config).encode(),
        json.dumps(real_json(release, "modules.json", [])).encode(),
        json.dumps(real_json(release, "1_Pooling/config.json", {"pooling_mode_mean_tokens": True})).encode(),
        dense[0][0], dense[0][1], dense[1][0], dense[1][1],
        safetensors(model_tensors(), bf16={"layers.0.mlp.up_proj.weight"}),
        tokenizer_model(),
        json.dumps(tc).encode(),
        json.dumps({"b": 5}).encode(),
        json.dumps(real_json(release, "generation_config.json", {})).encode(),
    ]
    body = SEP.join(files)
    os.makedirs(out, exist_ok=True)
    # The first byte picks the output type (index into OutType::ALL).
    for pick, name in [(0, "f32"), (3, "q8_0"), (9, "q4_k_m")]:
        with open(os.path.join(out, f"tiny-release-{name}"), "wb") as f:
            f.write(bytes([pick]) + body)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
