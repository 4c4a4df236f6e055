#!/usr/bin/env python3
"""Writes the gguf_parse seeds from a real GGUF: every metadata key and tensor entry of
the file, with arrays cut to their first 64 elements and each tensor shrunk to one block
of its type, so the seed has the real file's structure in a few kilobytes.

    python3 make_seeds.py ~/.cache/embeddinggemma-rs/embeddinggemma-300m-q8_0.gguf seeds/gguf_parse
"""
import os
import struct
import sys

FIXED = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
# ggml type id -> (elements per block, bytes per block), for the types the model uses.
BLOCKS = {0: (1, 4), 1: (1, 2), 8: (32, 34), 30: (1, 2)}
KEEP = 64


class Reader:
    def __init__(self, b):
        self.b, self.p = b, 0

    def take(self, n):
        v = self.b[self.p:self.p + n]
        self.p += n
        return v

    def u32(self):
        return struct.unpack("<I", self.take(4))[0]

    def u64(self):
        return struct.unpack("<Q", self.take(8))[0]

    def string(self):
        return self.take(self.u64())


def s(b):
    return struct.pack("<Q", len(b)) + b


def value(r, ty):
    """The value of type `ty` at the reader, re-encoded with arrays cut to KEEP."""
    if ty in FIXED:
        return r.take(FIXED[ty])
    if ty == 8:
        return s(r.string())
    if ty == 9:
        elem, n = r.u32(), r.u64()
        items = [value(r, elem) for _ in range(n)]
        return struct.pack("<IQ", elem, min(n, KEEP)) + b"".join(items[:KEEP])
    raise ValueError(f"value type {ty}")


def main(path, out):
    with open(path, "rb") as f:
        head = f.read(64 << 20)
    r = Reader(head)
    assert r.take(4) == b"GGUF"
    version, n_tensors, n_kv = r.u32(), r.u64(), r.u64()
    kvs = []
    for _ in range(n_kv):
        key = r.string()
        ty = r.u32()
        kvs.append(s(key) + struct.pack("<I", ty) + value(r, ty))
    infos, offset = [], 0
    for _ in range(n_tensors):
        name = r.string()
        n_dims = r.u32()
        [r.u64() for _ in range(n_dims)]
        ty = r.u32()
        r.u64()
        per_block, nbytes = BLOCKS[ty]
        dims = [per_block] + [1] * (n_dims - 1)
        infos.append(s(name) + struct.pack("<I", n_dims) +
                     b"".join(struct.pack("<Q", d) for d in dims) +
                     struct.pack("<IQ", ty, offset))
        offset += (nbytes + 31) // 32 * 32
    body = struct.pack("<4sIQQ", b"GGUF", version, n_tensors, n_kv) + b"".join(kvs) + b"".join(infos)
    body += b"\0" * (-len(body) % 32)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "real-model-compact.gguf"), "wb") as f:
        f.write(body + bytes(offset))
    # The header and metadata alone (no tensors), and the first tensor only.
    no_tensors = struct.pack("<4sIQQ", b"GGUF", version, 0, n_kv) + b"".join(kvs)
    with open(os.path.join(out, "real-model-metadata.gguf"), "wb") as f:
        f.write(no_tensors)
    one = struct.pack("<4sIQQ", b"GGUF", version, 1, 1) + kvs[0] + infos[0]
    one += b"\0" * (-len(one) % 32)
    with open(os.path.join(out, "real-model-one-tensor.gguf"), "wb") as f:
        f.write(one + bytes(64))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
