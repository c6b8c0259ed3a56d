#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# read_safetensors.py - an independent reader of safetensors files (json + numpy only),
# used by tests/test_safetensors.c to prove that other readers accept sparq's output.
# Usage: read_safetensors.py FILE   -> prints a canonical dump, exits non-zero if invalid.
import json
import struct
import sys

import numpy as np

DTYPES = {
    "F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2"),
    "I8": np.dtype("i1"), "U8": np.dtype("u1"), "U16": np.dtype("<u2"),
    "I32": np.dtype("<i4"), "U32": np.dtype("<u4"), "I64": np.dtype("<i8"),
    "U64": np.dtype("<u8"),
}


def fail(msg):
    print("invalid: " + msg)
    sys.exit(1)


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        fail("duplicate key in header")
    return dict(pairs)


def load(path):
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        fail("shorter than 8 bytes")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > len(blob) - 8:
        fail("header length past the end")
    if (8 + n) % 8 != 0:
        fail("data section not 8-aligned (header not padded)")
    text = blob[8:8 + n].decode("utf-8")
    if not text.startswith("{"):
        fail("header does not start with '{'")
    header = json.loads(text, object_pairs_hook=no_duplicates)
    data = blob[8 + n:]
    meta = header.pop("__metadata__", {})
    for k, v in meta.items():
        if not isinstance(v, str):
            fail("metadata value not a string")
    # the reference implementation's rule: the data is fully indexed, without holes
    spans = sorted((tuple(e["data_offsets"]), name) for name, e in header.items())
    pos = 0
    for (begin, end), name in spans:
        if begin != pos:
            fail("tensor %s starts at %d, expected %d" % (name, begin, pos))
        pos = end
    if pos != len(data):
        fail("data section has %d bytes, tensors cover %d" % (len(data), pos))
    tensors = {}
    for name, e in header.items():
        dt = DTYPES[e["dtype"]]
        shape = tuple(e["shape"])
        begin, end = e["data_offsets"]
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if end - begin != count * dt.itemsize:
            fail("tensor %s: %d bytes for %d elements" % (name, end - begin, count))
        if begin % dt.itemsize != 0:
            fail("tensor %s not aligned to its element size" % name)
        arr = np.frombuffer(data, dtype=dt, count=count, offset=begin).reshape(shape)
        if e["dtype"] == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        tensors[name] = (e["dtype"], shape, arr)
    return meta, tensors


def fmt(dtype, x):
    if dtype in ("F32", "F16", "BF16"):
        return repr(float(x))
    return str(int(x))


def main():
    if len(sys.argv) != 2:
        print("usage: read_safetensors.py FILE")
        return 2
    meta, tensors = load(sys.argv[1])
    for k in sorted(meta):
        print("meta %s=%s" % (k, meta[k]))
    for name in sorted(tensors):
        dtype, shape, arr = tensors[name]
        dims = "x".join(str(d) for d in shape) if shape else "scalar"
        values = ",".join(fmt(dtype, x) for x in arr.reshape(-1))
        print("tensor %s %s %s %s" % (name, dtype, dims, values))
    try:  # cross-check with the reference implementation when it is installed
        from safetensors import safe_open
    except ImportError:
        return 0
    with safe_open(sys.argv[1], framework="numpy") as ref:
        if sorted(ref.keys()) != sorted(tensors):
            fail("safetensors package lists other tensors")
        for name, (dtype, shape, arr) in tensors.items():
            if dtype == "BF16":  # numpy has no bfloat16: the reference can't return it
                continue
            if not np.array_equal(ref.get_tensor(name), arr, equal_nan=True):
                fail("safetensors package reads %s differently" % name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
