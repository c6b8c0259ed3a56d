# SPDX-License-Identifier: Apache-2.0
"""_convert.py - sparq.convert_file: `sparq convert IN OUT` from Python, built on the same
C calls as tools/cli_convert.c (sparq_safetensors_open, sparq_calib_load,
sparq_layer_convert with its quality gate and rollback ladder, sparq_packed_save,
sparq_safetensors_writer_*), so that it needs no `sparq` program next to the package and
gives the per-layer results back as Python data. The output and its report are the CLI's:
the converted layers as packed matrices, every other tensor and the metadata copied
through, OUT.report.json beside it, both written atomically.
"""
import ctypes
import json
import math
import os
import re
import stat
import tempfile
import time

import numpy as np

from . import _lib
from ._formats import _open, format_name, parse_format
from ._lib import check, lib

byref = ctypes.byref

DEFAULT_EXCLUDE = "embed|norm|ln_|layernorm|bias"  # as tools/cli_convert.c
DEFAULT_MAX_NMSE = 0.05
_FLOAT_DTYPES = {6: "F32", 5: "F16", 7: "BF16"}


def _check_output(path, force):
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(st.st_mode):
        kind = ("a symbolic link" if stat.S_ISLNK(st.st_mode) else
                "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file")
        raise FileExistsError(f"{path} is {kind}: refusing to replace it")
    if not force:
        raise FileExistsError(f"{path} exists; pass force=True to replace it")


def _num(v):
    return v if math.isfinite(v) else None


def _format_json(f):
    return {
        "name": format_name(f), "structure": lib.sparq_structure_name(f.structure).decode(),
        "encoding": lib.sparq_encoding_name(f.quant.encoding).decode(),
        "scale_granularity": lib.sparq_scale_granularity_name(f.quant.granularity).decode(),
        "group_size": f.quant.group_size, "asymmetric": bool(f.quant.asymmetric),
        "block_rows": f.block_rows, "block_cols": f.block_cols, "nm_n": f.nm_n, "nm_m": f.nm_m,
    }


def convert_file(src, dst, *, structure="csr", quant="i8-row", sparsity=None,
                 asymmetric=False, calibration="minmax", percentile=None, include=None,
                 exclude=None, max_nmse=None, min_sqnr_db=None, no_rollback=False,
                 method="rtn", stats=None, gate="auto", damp=None, block_size=None,
                 act_order=False, force=False):
    """Prunes and quantizes the selected 2-D weights of the safetensors file src into dst,
    as `sparq convert` does (same options, defaults, ladder and report), and returns the
    report (the dict written to dst + ".report.json").

    structure: "dense", "csr", "bsrRxC", "N:M" (a sparsity may follow csr/bsr: "csr0.9");
    quant: "f32", "f16", "i8-row", "i4-g128", ... ; sparsity (csr/bsr, default 0.5);
    include / exclude: Python regular expressions searched in tensor names (include
    replaces the default selection: 2-D F32/F16/BF16 tensors, both sizes >= 2, whose name
    does not match DEFAULT_EXCLUDE ignoring case); max_nmse / min_sqnr_db: the gate
    (neither given: max_nmse 0.05); method: "rtn", "wanda", "gptq", "sparsegpt" (all but
    rtn need stats, a calibration statistics file: save_calib or tools/eval/calibrate.py);
    gate: "auto", "weights", "outputs"; force: replace existing regular files at dst and
    its report (anything else there is refused). Failures raise sparq.Error (a C call),
    ValueError (options) or OSError (files); nothing is left at dst then."""
    src, dst = os.fspath(src), os.fspath(dst)
    stats = os.fspath(stats) if stats is not None else None
    text = f"{structure}+{quant}"
    opts, s = parse_format(text, calibration, percentile)
    if s is not None and sparsity is not None:
        raise ValueError(f"sparsity given twice: in structure {structure!r} and sparsity=")
    sparsity = 0.5 if s is None and sparsity is None else (s if s is not None else sparsity)
    if not 0.0 <= float(sparsity) <= 1.0:
        raise ValueError(f"sparsity {sparsity} is not in [0, 1]")
    if asymmetric:
        opts.quant.asymmetric = 1
    if method not in _lib.METHODS:
        raise ValueError(f"method {method!r} is not rtn, wanda, gptq or sparsegpt")
    if gate not in _lib.GATES:
        raise ValueError(f"gate {gate!r} is not auto, weights or outputs")
    if method != "rtn" and stats is None:
        raise ValueError(f"method {method} needs stats (calibration statistics)")
    if act_order and method != "gptq":
        raise ValueError(f"act_order is for method gptq, not {method}")
    if gate == "outputs" and stats is None:
        raise ValueError("gate 'outputs' needs stats")
    co = _lib.ConvertOptions()
    co.sparsity = float(sparsity)
    co.format = opts
    if max_nmse is None and min_sqnr_db is None:
        max_nmse = DEFAULT_MAX_NMSE
    co.max_nmse = float(max_nmse or 0.0)
    co.min_sqnr_db = float(min_sqnr_db or 0.0)
    co.no_rollback = int(bool(no_rollback))
    co.method = _lib.METHODS[method]
    co.gate_metric = _lib.GATES[gate]
    co.damp = float(damp or 0.0)
    co.block_size = int(block_size or 0)
    co.act_order = int(bool(act_order))
    inc = re.compile(include) if include is not None else None
    exc = re.compile(exclude) if exclude is not None else None
    default = re.compile(DEFAULT_EXCLUDE, re.IGNORECASE)
    report_path = dst + ".report.json"
    for p in (dst, report_path):
        _check_output(p, force)
    folder = os.path.dirname(dst) or "."
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write {dst}: folder {folder} is not writable")

    def selected(info, name):
        if info.dtype not in _FLOAT_DTYPES or info.ndim != 2 or info.count == 0:
            return False
        if exc is not None and exc.search(name):
            return False
        if inc is not None:
            return bool(inc.search(name))
        return info.shape[0] >= 2 and info.shape[1] >= 2 and not default.search(name)

    started = time.monotonic()
    fin = _open(src)
    fstats = _open(stats) if stats is not None else None
    writer = ctypes.c_void_p()
    layers, copied = [], []
    tot = {"bytes_before": 0, "bytes_after": 0}
    try:
        check(lib.sparq_safetensors_writer_create(byref(writer)))
        k, v = ctypes.c_char_p(), ctypes.c_char_p()
        for i in range(lib.sparq_safetensors_metadata_count(fin)):
            check(lib.sparq_safetensors_metadata_entry(fin, i, byref(k), byref(v)))
            check(lib.sparq_safetensors_writer_set_metadata(writer, k.value, v.value))
        info = _lib.TensorInfo()
        for i in range(lib.sparq_safetensors_count(fin)):
            check(lib.sparq_safetensors_tensor(fin, i, byref(info)))
            name = info.name.decode()
            tot["bytes_before"] += info.bytes
            shape = [info.shape[d] for d in range(info.ndim)]
            if not selected(info, name):
                check(lib.sparq_safetensors_writer_add(writer, info.name, info.dtype,
                                                       info.ndim, info.shape, info.data,
                                                       info.bytes))
                copied.append({"name": name, "dtype": lib_dtype_name(info.dtype),
                               "shape": shape, "bytes": info.bytes})
                tot["bytes_after"] += info.bytes
                continue
            rows, cols = shape
            w = np.empty((rows, cols), np.float32)
            check(lib.sparq_safetensors_to_f32(byref(info), w.ctypes.data, info.count))
            calib = ctypes.c_void_p()
            if fstats is not None:
                st = lib.sparq_calib_load(fstats, info.name, byref(calib))
                if st == 1000 and method == "rtn" and gate != "outputs":
                    calib = ctypes.c_void_p()  # no entry: gated on the layer's weights
                else:
                    check(st)
            lo = _lib.ConvertOptions()
            ctypes.pointer(lo)[0] = co
            lo.calib = calib.value
            res = _lib.ConvertResult()
            packed = ctypes.c_void_p()
            try:
                check(lib.sparq_layer_convert(w.ctypes.data, rows, cols, byref(lo),
                                              byref(packed), byref(res)))
                check(lib.sparq_packed_save(writer, info.name, packed))
            finally:
                lib.sparq_packed_free(packed)
                lib.sparq_calib_free(calib)
            tot["bytes_after"] += res.bytes_after
            layers.append({
                "name": name, "shape": shape, "dtype": lib_dtype_name(info.dtype),
                "format": _format_json(res.format), "sparsity": _num(res.sparsity),
                "bits_per_weight": _num(res.bits_per_weight), "nmse": _num(res.error.nmse),
                "output_nmse": _num(res.output_nmse), "seconds": _num(res.seconds),
                "last_rung": bool(res.last_rung), "sqnr_db": _num(res.error.sqnr_db),
                "max_abs_error": _num(res.error.max_abs_error),
                "cosine": _num(res.error.cosine), "bytes_before": info.bytes,
                "bytes_after": res.bytes_after, "rolled_back": res.rollbacks > 0,
                "rollbacks": res.rollbacks, "trail": res.trail.decode("utf-8", "replace"),
            })
        seconds = time.monotonic() - started
        report = {
            "sparq_version": lib.sparq_version_string().decode(), "input": src, "output": dst,
            "options": {
                "sparsity": float(sparsity), "structure": structure, "quant": quant,
                "asymmetric": bool(opts.quant.asymmetric), "calib": calibration,
                "include": include, "exclude": exclude, "max_nmse": co.max_nmse,
                "min_sqnr_db": co.min_sqnr_db, "no_rollback": bool(no_rollback),
                "method": method, "stats": stats, "gate": gate, "damp": co.damp or 0.01,
                "block_size": co.block_size or 128, "act_order": bool(act_order),
            },
            "layers": layers, "copied": copied,
            "totals": {
                "bytes_before": tot["bytes_before"], "bytes_after": tot["bytes_after"],
                "compression_ratio": (tot["bytes_before"] / tot["bytes_after"]
                                      if tot["bytes_after"] else 0.0),
                "layers_converted": len(layers),
                "layers_rolled_back": sum(1 for r in layers if r["rolled_back"]),
                "layers_at_last_rung": sum(1 for r in layers if r["last_rung"]),
                "tensors_copied": len(copied), "seconds": seconds,
            },
        }
        # Both files or neither: the report to a temporary file, the model atomically,
        # then the report renamed into place (the model removed if that fails).
        for p in (dst, report_path):
            _check_output(p, force)
        fd, tmp = tempfile.mkstemp(prefix=os.path.basename(report_path) + ".",
                                   dir=folder)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(report, f, indent=2)
                f.flush()
                os.fsync(f.fileno())
            mask = os.umask(0)
            os.umask(mask)
            os.chmod(tmp, 0o666 & ~mask)
            check(lib.sparq_safetensors_writer_write(writer, os.fsencode(dst)))
            try:
                os.replace(tmp, report_path)
            except OSError:
                os.unlink(dst)
                raise
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return report
    finally:
        lib.sparq_safetensors_writer_free(writer)
        lib.sparq_safetensors_close(fstats)
        lib.sparq_safetensors_close(fin)


_DTYPE_NAMES = {0: "U8", 1: "I8", 2: "U16", 3: "U32", 4: "U64", 5: "F16", 6: "F32", 7: "BF16",
                8: "I32", 9: "I64", 10: "F64"}


def lib_dtype_name(d):
    return _DTYPE_NAMES.get(d, "?")
