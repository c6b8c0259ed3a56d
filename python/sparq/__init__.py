# SPDX-License-Identifier: Apache-2.0
"""sparq - sparse and quantized OpenCL kernels for pruned and quantized weights.

A thin ctypes binding over libsparq (include/sparq.h is the reference; each function here
names the C call it makes). Weights are numpy float32 rows x cols, one output feature per
row (torch.nn.Linear.weight). Wrong dtypes and shapes raise ValueError before any C
call; a C call that fails raises sparq.Error with .status (the status name) and .message
(sparq_last_error()).

    import numpy as np, sparq
    w = np.random.randn(768, 3072).astype(np.float32)
    packed = sparq.pack(w, "csr0.9+i8-row")           # prune 90 % per row, int8 per row
    with sparq.Context() as ctx, ctx.matrix(packed) as m:
        y = m(np.random.randn(4, 3072).astype(np.float32))   # (4, 768) = x @ W^T
        print(m.explain(4))

sparq.torch (PyTorch modules) is imported on its own: `import sparq.torch`.
"""
from ._lib import Error, library_path, lib as _clib
from ._formats import (Calib, Packed, Quantized, fake_quantize, list_packed, load_calib,
                       load_packed, pack, prune_blocks, prune_magnitude, prune_nm,
                       prune_schedule_sparsity, quantize, save_calib, save_packed)
from ._device import Context, Matrix, devices
from ._convert import convert_file

__all__ = [
    "Error", "version", "library_path", "fake_quantize", "quantize", "Quantized",
    "prune_magnitude", "prune_blocks", "prune_nm", "prune_schedule_sparsity", "pack", "Packed",
    "save_packed", "load_packed", "list_packed", "Calib", "save_calib", "load_calib",
    "convert_file", "Context", "Matrix", "devices", "set_log_level",
]


def version():
    """The version of the libsparq loaded ("0.1.0", sparq_version_string)."""
    return _clib.sparq_version_string().decode()


def set_log_level(level):
    """Library logging to stderr: "off", "info" or "debug" (sparq_log_set_level; the
    environment variable SPARQ_LOG does the same)."""
    levels = {"off": 0, "info": 1, "debug": 2}
    if level not in levels:
        raise ValueError(f"level {level!r} is not 'off', 'info' or 'debug'")
    _clib.sparq_log_set_level(levels[level])
