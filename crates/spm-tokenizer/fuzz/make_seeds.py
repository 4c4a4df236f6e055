#!/usr/bin/env python3
"""Writes the spm_model_proto seeds from a real `tokenizer.model`: its first pieces (cut
at a record boundary) followed by its trainer and normalizer specs, so a seed has the
real file's structure in a few kilobytes.

    python3 make_seeds.py ~/.cache/embeddinggemma-rs/embeddinggemma-300m/tokenizer.model seeds/spm_model_proto
"""
import os
import sys


def varint(b, p):
    v, shift = 0, 0
    while True:
        x = b[p]
        p += 1
        v |= (x & 0x7F) << shift
        shift += 7
        if x < 0x80:
            return v, p


def records(b):
    """The top-level (field, bytes of the whole record) of a protobuf message."""
    p = 0
    while p < len(b):
        start = p
        key, p = varint(b, p)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, p = varint(b, p)
        elif wire == 1:
            p += 8
        elif wire == 2:
            n, p = varint(b, p)
            p += n
        elif wire == 5:
            p += 4
        else:
            raise ValueError(f"wire type {wire} at {start}")
        yield field, b[start:p]


def main(path, out):
    b = open(path, "rb").read()
    recs = list(records(b))
    pieces = [r for f, r in recs if f == 1]
    specs = b"".join(r for f, r in recs if f != 1)
    os.makedirs(out, exist_ok=True)
    for n in (8, 300):
        with open(os.path.join(out, f"real-first-{n}-pieces.model"), "wb") as f:
            f.write(b"".join(pieces[:n]) + specs)
    # Pieces from the byte-fallback and special ranges, where the types vary.
    with open(os.path.join(out, "real-special-pieces.model"), "wb") as f:
        f.write(b"".join(pieces[:4] + pieces[100:140] + pieces[230:300]) + specs)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
