# SPDX-License-Identifier: Apache-2.0
"""Shared by the Python tests. Run from the repository root:

    SPARQ_LIBRARY=build/libsparq.so python3 -m pytest python/tests -q

(ctest's `python` test does exactly that with the build's library and a program cache
under the build tree). The tests import the package from this tree (python/sparq), unless
SPARQ_TEST_INSTALLED=1 asks for the installed one. Optional modules (torch, pyopencl) are
skipped where missing, except under CI (CI set): there a missing one fails.
"""
import importlib
import json
import os
import struct
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)
REPO = os.path.dirname(PYTHON_DIR)
if os.environ.get("SPARQ_TEST_INSTALLED") != "1" and PYTHON_DIR not in sys.path:
    sys.path.insert(0, PYTHON_DIR)


def need(module):
    """Imports an optional module: skipped where it is missing, a failure under CI."""
    if os.environ.get("CI"):
        return importlib.import_module(module)
    return pytest.importorskip(module)


@pytest.fixture(scope="session")
def sparq():
    import sparq as s
    return s


@pytest.fixture(scope="session")
def ctx(sparq):
    with sparq.Context() as c:
        yield c


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def weights(rng, rows, cols, scale=1.0):
    return (rng.standard_normal((rows, cols)) * scale).astype(np.float32)


def read_safetensors(path):
    """({name: numpy array}, metadata, {name: dtype tag}) of a safetensors file, read
    without sparq (json + numpy; BF16 and F16 as their uint16 bits)."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {})
    dt = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "I32": "<i4", "U8": "u1", "I8": "i1",
          "U16": "<u2", "U32": "<u4", "U64": "<u8", "F16": "<u2", "BF16": "<u2",
          "BOOL": "|b1", "I16": "<i2"}
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        out[name] = np.frombuffer(blob[8 + n + b:8 + n + end], dt[e["dtype"]]).reshape(e["shape"])
    return out, meta, {name: e["dtype"] for name, e in header.items()}
