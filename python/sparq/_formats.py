# SPDX-License-Identifier: Apache-2.0
"""_formats.py - the host side of sparq on numpy arrays (no device): pruning, the
schedule, quantization and fake quantization, packing with a format string, packed
matrices and their files, calibration statistics. Each function checks its arrays
(dtype, shape) and raises ValueError before calling C; what C refuses raises sparq.Error.

Weights are rows x cols float32, one output feature per row (as torch.nn.Linear.weight).
"""
import ctypes
import os
import re

import numpy as np

from . import _lib
from ._lib import lib, check

byref = ctypes.byref


# ---- argument checks -----------------------------------------------------------------

def _f32_2d(w, name="w"):
    if not isinstance(w, np.ndarray):
        raise ValueError(f"{name} must be a numpy float32 array, not {type(w).__name__}")
    if w.dtype != np.float32:
        raise ValueError(f"{name} must be float32, not {w.dtype}")
    if w.ndim != 2:
        raise ValueError(f"{name} must be 2-D (rows x cols), not {w.ndim}-D {w.shape}")
    if w.shape[0] == 0 or w.shape[1] == 0:
        raise ValueError(f"{name} is empty ({w.shape[0]} x {w.shape[1]})")
    return np.ascontiguousarray(w)


def _mask_arg(mask, shape, name="previous_mask"):
    if mask is None:
        return None
    if not isinstance(mask, np.ndarray):
        raise ValueError(f"{name} must be a numpy uint8 (or bool) array")
    if mask.dtype == np.bool_:
        mask = mask.view(np.uint8)
    if mask.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8 or bool, not {mask.dtype}")
    if mask.shape != tuple(shape):
        raise ValueError(f"{name} has shape {mask.shape}, the weights {tuple(shape)}")
    return np.ascontiguousarray(mask)


def _ptr(a):
    return None if a is None else a.ctypes.data


def _weights_for_prune(w, zero_pruned):
    """The array C prunes: w itself (it must then be contiguous float32 and writable),
    or, without zero_pruned, w as given (C writes only the mask)."""
    if zero_pruned:
        if (not isinstance(w, np.ndarray) or w.dtype != np.float32 or w.ndim != 2
                or not w.flags.c_contiguous or not w.flags.writeable):
            raise ValueError("zero_pruned=True zeroes w in place: w must be a writable, "
                             "C-contiguous 2-D float32 array")
        if w.size == 0:
            raise ValueError("w is empty")
        return w
    return _f32_2d(w)


# ---- formats and encodings ----------------------------------------------------------

def _calibration(quant, calibration, percentile):
    if calibration not in _lib.CALIBRATIONS:
        raise ValueError(f"calibration {calibration!r} is not minmax, percentile or mse")
    quant.calibration = _lib.CALIBRATIONS[calibration]
    if percentile is not None:
        if calibration != "percentile":
            raise ValueError("percentile is for calibration='percentile'")
        quant.percentile = float(percentile)


def parse_quant(quant, calibration="minmax", percentile=None):
    """QuantOptions of an encoding spelling ("i8-row", "i4-g128-asym", "f16", ...)."""
    if not isinstance(quant, str):
        raise ValueError(f"quant must be an encoding spelling such as 'i8-row', not {quant!r}")
    if "+" in quant:
        raise ValueError(f"quant {quant!r} is an encoding alone (no structure, no '+')")
    fmt = _lib.PackOptions()
    check(lib.sparq_format_parse(("dense+" + quant).encode(), byref(fmt)))
    q = _lib.QuantOptions()
    ctypes.pointer(q)[0] = fmt.quant
    _calibration(q, calibration, percentile)
    return q


_SPARSITY = r"(?P<s>(?:0|1)(?:\.\d*)?|\.\d+)"
_CSR_RE = re.compile(r"^csr" + _SPARSITY + r"$")
_BSR_RE = re.compile(r"^(?P<b>bsr\d+x(?:32|16|8|4|2|1))" + _SPARSITY + r"$")


def parse_format(fmt, calibration="minmax", percentile=None):
    """(PackOptions, sparsity or None) of a format spelling with an optional sparsity
    after the structure word: "csr0.9+i8-row", "bsr16x160.5+f16", "2:4+i4-g128"."""
    if not isinstance(fmt, str):
        raise ValueError(f"format must be a spelling such as 'csr0.9+i8-row', not {fmt!r}")
    structure, plus, encoding = fmt.partition("+")
    sparsity = None
    m = _CSR_RE.match(structure)
    if m:
        structure, sparsity = "csr", m.group("s")
    else:
        m = _BSR_RE.match(structure)
        if m:
            structure, sparsity = m.group("b"), m.group("s")
    if sparsity is not None:
        sparsity = float(sparsity)
        if not 0.0 <= sparsity <= 1.0:
            raise ValueError(f"sparsity {sparsity} in {fmt!r} is not in [0, 1]")
    opts = _lib.PackOptions()
    check(lib.sparq_format_parse((structure + plus + encoding).encode(), byref(opts)))
    _calibration(opts.quant, calibration, percentile)
    return opts, sparsity


def format_name(opts):
    buf = ctypes.create_string_buffer(128)
    check(lib.sparq_format_name(byref(opts), buf, len(buf)))
    return buf.value.decode()


# ---- pruning --------------------------------------------------------------------------

def prune_magnitude(w, sparsity, scope="global", previous_mask=None, zero_pruned=False):
    """Unstructured magnitude pruning (sparq_prune_magnitude): the mask of w at
    sparsity (a fraction in [0, 1]), np.uint8 of w's shape, 1 = kept, 0 = pruned.
    scope "global" draws one threshold over the whole matrix (exactly round(s*rows*cols)
    pruned), "row" prunes round(s*cols) in every row. previous_mask (an earlier round's
    mask) keeps every weight pruned there pruned (monotone, for gradual pruning).
    w is not modified unless zero_pruned=True, which also sets the pruned weights of w to
    0.0 in place (w must then be a writable C-contiguous float32 array)."""
    if scope not in _lib.PRUNE_SCOPES:
        raise ValueError(f"scope {scope!r} is not 'global' or 'row'")
    w = _weights_for_prune(w, zero_pruned)
    prev = _mask_arg(previous_mask, w.shape)
    mask = np.empty(w.shape, np.uint8)
    check(lib.sparq_prune_magnitude(w.ctypes.data, w.shape[0], w.shape[1], float(sparsity),
                                    _lib.PRUNE_SCOPES[scope], _ptr(prev), mask.ctypes.data,
                                    int(bool(zero_pruned))))
    return mask


def prune_blocks(w, block_rows, block_cols, sparsity, norm="l2", previous_mask=None,
                 zero_pruned=False):
    """Block magnitude pruning (sparq_prune_blocks): blocks of block_rows x block_cols
    (each 1, 2, 4, 8, 16 or 32) scored by their "l2" (or "l1") norm, exactly
    round(sparsity * blocks) pruned. Mask and zero_pruned as prune_magnitude."""
    if norm not in _lib.BLOCK_NORMS:
        raise ValueError(f"norm {norm!r} is not 'l1' or 'l2'")
    w = _weights_for_prune(w, zero_pruned)
    prev = _mask_arg(previous_mask, w.shape)
    mask = np.empty(w.shape, np.uint8)
    check(lib.sparq_prune_blocks(w.ctypes.data, w.shape[0], w.shape[1], int(block_rows),
                                 int(block_cols), _lib.BLOCK_NORMS[norm], float(sparsity),
                                 _ptr(prev), mask.ctypes.data, int(bool(zero_pruned))))
    return mask


def prune_nm(w, n, m, previous_mask=None, zero_pruned=False):
    """N:M pruning (sparq_prune_nm): each group of m consecutive columns keeps its n
    largest |w| (1 <= n < m <= 16). Mask and zero_pruned as prune_magnitude."""
    w = _weights_for_prune(w, zero_pruned)
    prev = _mask_arg(previous_mask, w.shape)
    mask = np.empty(w.shape, np.uint8)
    check(lib.sparq_prune_nm(w.ctypes.data, w.shape[0], w.shape[1], int(n), int(m),
                             _ptr(prev), mask.ctypes.data, int(bool(zero_pruned))))
    return mask


def prune_schedule_sparsity(step, *, final_sparsity, num_steps, initial_sparsity=0.0,
                            start_step=0, step_interval=1):
    """The target sparsity at training step `step` of the gradual schedule of Zhu &
    Gupta (sparq_prune_schedule_sparsity; the fields of sparq_prune_schedule):
    s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (n * dt))^3 for t0 <= t <= t0 + n*dt,
    s_i before t0 and s_f after."""
    sched = _lib.PruneSchedule(float(initial_sparsity), float(final_sparsity),
                               int(start_step), int(num_steps), int(step_interval))
    out = ctypes.c_double()
    check(lib.sparq_prune_schedule_sparsity(byref(sched), int(step), byref(out)))
    return out.value


# ---- quantization ---------------------------------------------------------------------

_CODE_DTYPES = {_lib.ENCODING_F32: np.float32, _lib.ENCODING_F16: np.uint16,
                _lib.ENCODING_I8: np.int8, _lib.ENCODING_I4: np.uint8}


def fake_quantize(w, quant, calibration="minmax", percentile=None, return_mask=False):
    """sparq_dequantize(sparq_quantize(w)) in one call (sparq_fake_quantize), bit for bit:
    a float32 array of w's shape. quant is an encoding spelling: "f32", "f16",
    "i8-tensor", "i8-row", "i8-g32" (g64, g128, g256), the same for i4, "-asym" for zero
    points. With return_mask=True also returns the straight-through-estimator mask
    (np.uint8, 1 where the code was not clamped: the gradient passes)."""
    w = _f32_2d(w)
    q = parse_quant(quant, calibration, percentile)
    out = np.empty_like(w)
    mask = np.empty(w.shape, np.uint8) if return_mask else None
    check(lib.sparq_fake_quantize(byref(q), w.shape[0], w.shape[1], w.ctypes.data,
                                  out.ctypes.data, _ptr(mask)))
    return (out, mask) if return_mask else out


def _scale_shape(q, rows, cols, count):
    if q.granularity == _lib.SCALE_ROW:
        return (rows,)
    if q.granularity == _lib.SCALE_GROUP:
        return (rows, count // rows)
    return (count,)


class Quantized:
    """A dense quantized matrix (sparq_quantize): .codes (f32: float32, f16: uint16 bit
    patterns, i8: int8, each rows x cols; i4: uint8 rows x ceil(cols/2), two codes a byte,
    low nibble first), .scales (float32: (1,) per tensor, (rows,) per row, (rows,
    groups per row) per group; empty for f32/f16), .zero_points (int8, same shape, or
    None when symmetric), .quant (the encoding spelling), .rows, .cols."""

    def __init__(self, options, rows, cols, codes, scales, zero_points):
        self._q = options
        self.rows, self.cols = rows, cols
        self.codes, self.scales, self.zero_points = codes, scales, zero_points
        self.quant = format_name(_lib.PackOptions(0, options))[len("dense+"):]

    def dequantize(self):
        """The float32 rows x cols matrix (sparq_dequantize)."""
        codes = np.ascontiguousarray(self.codes)
        scales = None if self.scales is None else np.ascontiguousarray(self.scales, np.float32)
        zps = None if self.zero_points is None else np.ascontiguousarray(self.zero_points,
                                                                         np.int8)
        out = np.empty((self.rows, self.cols), np.float32)
        check(lib.sparq_dequantize(byref(self._q), self.rows, self.cols, codes.ctypes.data,
                                   _ptr(scales) if scales is not None and scales.size else None,
                                   _ptr(zps) if zps is not None and zps.size else None,
                                   out.ctypes.data))
        return out

    def __repr__(self):
        return f"<sparq.Quantized {self.rows}x{self.cols} {self.quant}>"


def quantize(w, quant, calibration="minmax", percentile=None):
    """Quantizes w (float32 rows x cols) as the encoding spelling quant says
    (sparq_quantize): a Quantized with codes, scales and zero points."""
    w = _f32_2d(w)
    q = parse_quant(quant, calibration, percentile)
    rows, cols = w.shape
    nv, ns, nz = ctypes.c_size_t(), ctypes.c_size_t(), ctypes.c_size_t()
    check(lib.sparq_quant_sizes(byref(q), rows, cols, byref(nv), byref(ns), byref(nz)))
    dt = _CODE_DTYPES[q.encoding]
    codes = np.empty(nv.value // np.dtype(dt).itemsize, dt).reshape(rows, -1)
    scales = np.empty(ns.value, np.float32)
    zps = np.empty(nz.value, np.int8) if nz.value else None
    check(lib.sparq_quantize(byref(q), rows, cols, w.ctypes.data, codes.ctypes.data,
                             scales.ctypes.data if ns.value else None, _ptr(zps)))
    if ns.value:
        scales = scales.reshape(_scale_shape(q, rows, cols, ns.value))
    if zps is not None:
        zps = zps.reshape(_scale_shape(q, rows, cols, nz.value))
    return Quantized(q, rows, cols, codes, scales, zps)


# ---- packed matrices ------------------------------------------------------------------

class Packed(_lib.Handle):
    """One weight matrix in one structure x encoding (a sparq_packed), on the host."""

    def __init__(self, handle):
        self._h = handle
        self._free = lib.sparq_packed_free

    @property
    def handle(self):
        if not self._h:
            raise ValueError("this packed matrix was closed")
        return self._h

    @property
    def rows(self):
        return lib.sparq_packed_rows(self.handle)

    @property
    def cols(self):
        return lib.sparq_packed_cols(self.handle)

    @property
    def shape(self):
        return (self.rows, self.cols)

    @property
    def format(self):
        """The canonical spelling (sparq_format_name): "csr+i8-row", "2:4+i4-g128"."""
        return format_name(lib.sparq_packed_format(self.handle)[0])

    @property
    def nbytes(self):
        """Total bytes of all arrays (indices, metadata, scales included)."""
        return lib.sparq_packed_bytes(self.handle)

    @property
    def bits_per_weight(self):
        return lib.sparq_packed_bits_per_weight(self.handle)

    @property
    def stored_values(self):
        return lib.sparq_packed_stored_values(self.handle)

    def arrays(self):
        """{array name: numpy copy} in the packed layout of sparq.h (row_ptr, col_idx,
        values, nm_meta, scales, zero_points, those the format has)."""
        out = {}
        a = _lib.PackedArray()
        for i in range(lib.sparq_packed_array_count(self.handle)):
            check(lib.sparq_packed_get_array(self.handle, i, byref(a)))
            dt = np.dtype(_lib.DTYPES[a.dtype])
            buf = (ctypes.c_char * (a.count * dt.itemsize)).from_address(a.data) \
                if a.count else b""
            out[a.name.decode()] = np.frombuffer(bytes(buf), dt).copy()
        return out

    def unpack(self):
        """The dequantized dense float32 matrix (pruned positions 0.0)."""
        out = np.empty((self.rows, self.cols), np.float32)
        check(lib.sparq_packed_unpack(self.handle, out.ctypes.data))
        return out

    def save(self, path, name):
        """Writes a safetensors file at path holding this matrix under name (atomically;
        an existing file is replaced). save_packed writes several."""
        save_packed(path, {name: self})

    def __repr__(self):
        if not self._h:
            return "<sparq.Packed (closed)>"
        return (f"<sparq.Packed {self.rows}x{self.cols} {self.format} "
                f"{self.bits_per_weight:.2f} bits/weight>")


def pack(w, fmt, calibration="minmax", percentile=None, prune_scope="row"):
    """Packs w (float32 rows x cols) into fmt, the CLI's spelling with an optional
    sparsity after the structure word: "csr0.9+i8-row" prunes 90 % by magnitude per row
    (prune_scope="global": over the whole matrix) then packs; "bsr16x160.5+f16" prunes
    half the 16x16 blocks (L2 norm); "2:4+i4-g128" prunes 2 of every 4 (N:M always
    prunes to fit); "dense+i8-row", "csr+f16" pack the zeros w already has. w itself is
    never modified. Returns a Packed."""
    w = _f32_2d(w)
    opts, sparsity = parse_format(fmt, calibration, percentile)
    rows, cols = w.shape
    if opts.structure == _lib.STRUCTURE_NM or sparsity is not None:
        w = w.copy()
        if opts.structure == _lib.STRUCTURE_NM:
            check(lib.sparq_prune_nm(w.ctypes.data, rows, cols, opts.nm_n, opts.nm_m, None,
                                     None, 1))
        elif opts.structure == _lib.STRUCTURE_CSR:
            if prune_scope not in _lib.PRUNE_SCOPES:
                raise ValueError(f"prune_scope {prune_scope!r} is not 'global' or 'row'")
            check(lib.sparq_prune_magnitude(w.ctypes.data, rows, cols, sparsity,
                                            _lib.PRUNE_SCOPES[prune_scope], None, None, 1))
        elif opts.structure == _lib.STRUCTURE_BSR:
            check(lib.sparq_prune_blocks(w.ctypes.data, rows, cols, opts.block_rows,
                                         opts.block_cols, _lib.BLOCK_NORMS["l2"], sparsity,
                                         None, None, 1))
    h = ctypes.c_void_p()
    check(lib.sparq_packed_create(byref(opts), rows, cols, w.ctypes.data, byref(h)))
    return Packed(h.value)


def _open(path):
    h = ctypes.c_void_p()
    check(lib.sparq_safetensors_open(os.fsencode(path), byref(h)))
    return h.value


# numpy dtypes a plain tensor may have in save_packed, and their sparq_dtype codes
_TENSOR_CODES = {np.dtype(np.uint8): 0, np.dtype(np.int8): 1, np.dtype(np.uint16): 2,
                 np.dtype(np.uint32): 3, np.dtype(np.uint64): 4, np.dtype(np.float16): 5,
                 np.dtype(np.float32): 6, np.dtype(np.int32): 8, np.dtype(np.int64): 9,
                 np.dtype(np.float64): 10, np.dtype(np.bool_): 11, np.dtype(np.int16): 12}


def _tensor_code(name, value):
    """(sparq_dtype code, C-contiguous little-endian array) of one plain tensor:
    a numpy array, or ("BF16", uint16 array of the bits)."""
    if isinstance(value, tuple):
        if (len(value) != 2 or value[0] != "BF16" or not isinstance(value[1], np.ndarray)
                or value[1].dtype != np.uint16):
            raise ValueError(f"tensor {name!r}: a tuple must be ('BF16', uint16 array)")
        return 7, np.require(value[1], "<u2", "C")   # (keeps 0-d arrays 0-d)
    if not isinstance(value, np.ndarray):
        raise ValueError(f"tensor {name!r} is not a numpy array")
    a = value
    code = _TENSOR_CODES.get(a.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"tensor {name!r}: dtype {value.dtype} cannot be written "
                         f"(one of {', '.join(str(d) for d in _TENSOR_CODES)}, or "
                         "('BF16', uint16 bits))")
    return code, np.require(a, a.dtype.newbyteorder("<"), "C")


def save_packed(path, matrices, metadata=None, tensors=None):
    """Writes {name: Packed}, optional plain tensors {name: numpy array} beside them (a
    model's biases, norms, embeddings: uint8, int8, int16, uint16, uint32, uint64,
    float16, float32, int32, int64, float64, bool, or ("BF16", uint16 array) for
    bfloat16 bits) and optional {key: value} metadata to one safetensors file at path.
    Every check runs before anything is written; the file appears whole or not at all
    (sparq_packed_save, sparq_safetensors_writer_add, sparq_safetensors_writer_write).
    Names must be unique across matrices and tensors (a packed matrix NAME also takes
    the tensor names NAME.<array>)."""
    for name, p in matrices.items():
        if not isinstance(p, Packed):
            raise ValueError(f"{name!r} is not a sparq.Packed")
    plain = {str(name): _tensor_code(name, v) for name, v in (tensors or {}).items()}
    w = ctypes.c_void_p()
    check(lib.sparq_safetensors_writer_create(byref(w)))
    try:
        for key, value in (metadata or {}).items():
            check(lib.sparq_safetensors_writer_set_metadata(w, str(key).encode(),
                                                            str(value).encode()))
        for name, p in matrices.items():
            check(lib.sparq_packed_save(w, str(name).encode(), p.handle))
        for name, (code, a) in plain.items():
            shape = (ctypes.c_size_t * max(a.ndim, 1))(*a.shape)
            check(lib.sparq_safetensors_writer_add(w, name.encode(), code, a.ndim, shape,
                                                   a.ctypes.data if a.nbytes else None,
                                                   a.nbytes))
        check(lib.sparq_safetensors_writer_write(w, os.fsencode(path)))
    finally:
        lib.sparq_safetensors_writer_free(w)


def _model(path):
    """An open sparq_model: a safetensors file, or a model folder (model.safetensors, or
    the sharded layout read through its index; sparq_model_open checks it)."""
    h = ctypes.c_void_p()
    check(lib.sparq_model_open(os.fsencode(path), byref(h)))
    return h.value


def load_packed(path, name):
    """The packed matrix called name in the model at path: a safetensors file, or a model
    folder such as `sparq convert --keep-split` writes (the shard that holds it is found
    through the index). sparq_packed_load validates metadata, CRCs and arrays."""
    m = _model(path)
    try:
        shard, info = ctypes.c_size_t(), _lib.TensorInfo()
        # every packed matrix has a values array; its shard holds the matrix
        st = lib.sparq_model_find(m, (str(name) + ".values").encode(), byref(shard),
                                  byref(info))
        f = lib.sparq_model_shard(m, shard.value if st == 0 else 0)
        h = ctypes.c_void_p()
        check(lib.sparq_packed_load(f, str(name).encode(), byref(h)))
        return Packed(h.value)
    finally:
        lib.sparq_model_close(m)


def list_packed(path):
    """[(name, format, rows, cols)] of every packed matrix in the model at path (a
    safetensors file or a model folder, every shard), sorted by name (sparq_packed_list:
    from the metadata sparq_packed_save writes, without loading the arrays; load_packed
    validates them). Malformed metadata of any matrix raises sparq.Error naming it."""
    m = _model(path)
    out = []
    try:
        for s in range(lib.sparq_model_shard_count(m)):
            entries, count = ctypes.POINTER(_lib.PackedEntry)(), ctypes.c_size_t()
            check(lib.sparq_packed_list(lib.sparq_model_shard(m, s), byref(entries),
                                        byref(count)))
            try:
                out += [(e.name.decode(), format_name(e.format), e.rows, e.cols)
                        for e in entries[:count.value]]
            finally:
                lib.sparq_packed_list_free(entries)
    finally:
        lib.sparq_model_close(m)
    return sorted(out)


# ---- calibration statistics -----------------------------------------------------------

class Calib(_lib.Handle):
    """Statistics of one layer's inputs (sparq_calib): H = X^T X (with_gram) and the
    per-column sums of squares, accumulated in double over every row passed to
    accumulate(x), x a float32 (n, cols) array (or (cols,))."""

    def __init__(self, cols, with_gram=True):
        cols = int(cols)
        if cols <= 0:
            raise ValueError(f"cols must be >= 1, not {cols}")
        h = ctypes.c_void_p()
        check(lib.sparq_calib_create(cols, int(bool(with_gram)), byref(h)))
        self._h = h.value
        self._free = lib.sparq_calib_free

    @property
    def handle(self):
        if not self._h:
            raise ValueError("these statistics were closed")
        return self._h

    @property
    def cols(self):
        return lib.sparq_calib_cols(self.handle)

    @property
    def rows(self):
        """How many input rows were accumulated."""
        return lib.sparq_calib_rows(self.handle)

    def accumulate(self, x):
        if not isinstance(x, np.ndarray) or x.dtype != np.float32:
            raise ValueError("x must be a numpy float32 array")
        if x.ndim == 1:
            x = x.reshape(1, -1)
        if x.ndim != 2 or x.shape[1] != self.cols:
            raise ValueError(f"x has shape {x.shape}; expected (n, {self.cols})")
        if x.shape[0] == 0:
            return
        x = np.ascontiguousarray(x)
        check(lib.sparq_calib_accumulate(self.handle, x.ctypes.data, x.shape[0]))

    def merge(self, other):
        """self += other (rows, sums of squares and H)."""
        check(lib.sparq_calib_merge(self.handle, other.handle))

    @property
    def sumsq(self):
        n = self.cols
        return np.ctypeslib.as_array(lib.sparq_calib_sumsq(self.handle), (n,)).copy()

    @property
    def gram(self):
        """H (cols x cols float64), or None without it."""
        p = lib.sparq_calib_gram(self.handle)
        if not p:
            return None
        n = self.cols
        return np.ctypeslib.as_array(p, (n, n)).copy()



def save_calib(path, layers):
    """Writes {layer weight name: Calib} to the statistics file at path (safetensors,
    the layout of sparq.h "Calibration statistics"), which `sparq convert --stats`,
    convert_file(stats=...) and tools/eval read."""
    w = ctypes.c_void_p()
    check(lib.sparq_safetensors_writer_create(byref(w)))
    try:
        for name, c in layers.items():
            if not isinstance(c, Calib):
                raise ValueError(f"{name!r} is not a sparq.Calib")
            check(lib.sparq_calib_save(w, str(name).encode(), c.handle))
        check(lib.sparq_safetensors_writer_write(w, os.fsencode(path)))
    finally:
        lib.sparq_safetensors_writer_free(w)


def load_calib(path, name):
    """The statistics of layer name from the file at path (sparq_calib_load, validated)."""
    f = _open(path)
    try:
        h = ctypes.c_void_p()
        check(lib.sparq_calib_load(f, str(name).encode(), byref(h)))
    finally:
        lib.sparq_safetensors_close(f)
    c = Calib.__new__(Calib)
    c._h, c._free = h.value, lib.sparq_calib_free
    return c
