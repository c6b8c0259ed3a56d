#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# compress_ref.py - an independent numpy (float64) reference of what formats/compress.c
# does for one layer and one rung of sparq_layer_convert: the RTN / Wanda masks, the GPTQ
# column sweep (Frantar et al. 2022, "GPTQ", Algorithm 1) and SparseGPT's (Frantar and
# Alistarh 2023, "SparseGPT", Algorithm 1), with sparq's quantizer and pruning rules
# (include/sparq.h, "quantization" and "Formats, part 1"). tests/test_compress.c holds the
# C code to it: equal masks, equal codes, equal scales.
#
# What it computes, in the papers' terms (H is X^T X, U the upper Cholesky factor of
# (H + damp mean(diag H) I)^-1, so (H + ..)^-1 = U^T U):
#   - dead inputs (H_jj = 0) get H_jj = 1 and their weights 0 (as GPTQ's code);
#   - the sweep visits the columns in order (act_order: by decreasing H_jj, a stable
#     sort); column i is rounded (or pruned: 0), its error e = (w - q) / U_ii is fed into
#     every later column j as w_j -= e U_ij: at once inside a panel, and in one product
#     for the columns after it when the panel ends (GPTQ's lazy batch; the C code splits
#     a panel into sub-blocks of 32 columns, which only reorders the same sums);
#   - GPTQ's mask is RTN's, fixed before the sweep; SparseGPT chooses it in each panel
#     (CSR, BSR) or N:M group as the sweep reaches it, from the current weights, by the
#     scores w^2 / U_jj^2;
#   - scale groups are chosen when the sweep reaches them from the current kept weights
#     (GPTQ's group quantizer); with act_order, and for row and tensor scales, all up front
#     from the original weights (masked when the mask is known: GPTQ, not SparseGPT);
#     except on a pruned structure, which then sweeps twice: first unquantized (for the
#     mask, and the weights the pruning's error feedback leads to, which the up-front
#     scales are chosen from), then jointly with that mask;
#     every sweep's scales come from an importance-weighted clipping search (weights
#     H_jj / max H_jj, quantize.c's sparq_qparams_calibrate_weighted), RTN's and
#     Wanda's from the calibration the options name.
#
# Usage: compress_ref.py IN.safetensors OUT.safetensors
#   IN   W      F32 [M, K]   the layer's weights (one output per row)
#        H      F64 [K, K]   X^T X of the calibration inputs (gptq, sparsegpt)
#        sumsq  F64 [K]      sum over the inputs of X_j^2 (wanda)
#        __metadata__ (strings; absent = 0 / the default):
#          method       rtn | wanda | gptq | sparsegpt
#          structure    dense | csr | bsr | nm;  sparsity; block_rows, block_cols; nm_n, nm_m
#          encoding     f32 | f16 | i8 | i4;  granularity tensor | row | group; group_size;
#          asymmetric   0 | 1;  calibration minmax | percentile | mse;  percentile
#          damp, block_size, act_order (as sparq_convert_options)
#   OUT  values       F32 [M, K]  the dequantized result (0 where pruned)
#        mask         U8  [M, K]  1 kept, 0 pruned (the decision, before any rounding)
#        scales       F32 [count] (i8 / i4 only)
#        zero_points  I8  [count] (asymmetric only)
#        tie_margin   F64 [M, K]  how far x / scale was from a rounding boundary (k + 1/2)
#                                 when the element was rounded (+inf where it was not):
#                                 a diagnostic for a code that differs from the C code's
#
# Arithmetic follows the C code where the C code's type matters: weights are updated in
# double, the quantizer takes a float (x / scale in double from float x and float scale,
# the code times the float scale in float), pruning ranks float scores, block scores are
# double sums in row-major order inside the block, sums of squared errors are summed in
# order. Options are taken as documented (percentile 0 means 99.99).
import copy
import json
import math
import struct
import sys

import numpy as np

F32 = np.float32
F64 = np.float64

# ---- safetensors: just what this script needs ---------------------------------------

DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "U8": np.dtype("u1"),
          "I8": np.dtype("i1")}


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, e in header.items():
        dt = DTYPES[e["dtype"]]
        begin, end = e["data_offsets"]
        shape = tuple(e["shape"])
        tensors[name] = np.frombuffer(data[begin:end], dtype=dt).reshape(shape).copy()
    return meta, tensors


def write_safetensors(path, tensors, meta):
    names = {v: k for k, v in DTYPES.items()}
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors, key=lambda k: (-tensors[k].dtype.itemsize, k)):
        a = np.ascontiguousarray(tensors[name])
        raw = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": names[a.dtype.newbyteorder("<")], "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    header["__metadata__"] = meta
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in chunks:
            f.write(raw)


# ---- options --------------------------------------------------------------------------

class Options:
    """sparq_convert_options of one rung, with the library's defaults filled in."""

    def __init__(self, meta):
        get = meta.get
        self.method = get("method", "rtn")
        self.structure = get("structure", "dense")
        self.sparsity = float(get("sparsity", "0"))
        self.block_rows = int(get("block_rows", "0"))
        self.block_cols = int(get("block_cols", "0"))
        self.nm_n = int(get("nm_n", "0"))
        self.nm_m = int(get("nm_m", "0"))
        self.encoding = get("encoding", "f32")
        self.granularity = get("granularity", "tensor")
        self.group_size = int(get("group_size", "0"))
        self.asymmetric = int(get("asymmetric", "0")) != 0
        self.calibration = get("calibration", "minmax")
        self.percentile = float(get("percentile", "0")) or 99.99
        self.damp = float(get("damp", "0")) or 0.01          # DEFAULT_DAMP
        self.block_size = int(get("block_size", "0")) or 128  # DEFAULT_BLOCK
        self.act_order = int(get("act_order", "0")) != 0
        if self.encoding in ("f32", "f16"):  # no scales: the quantizer options do not apply
            self.granularity, self.group_size, self.asymmetric = "tensor", 0, False
        if self.granularity != "group":
            self.group_size = 0


# ---- the quantizer (sparq.h, "quantization") -----------------------------------------

def round_half_even(v):
    """Ties to even, as quantize.c's round_half_even (np.rint rounds so for doubles)."""
    return np.rint(v)


class Quantizer:
    """sparq_qparams: the code range and the scale grid of a rows x cols matrix."""

    def __init__(self, o, rows, cols):
        self.o, self.rows, self.cols = o, rows, cols
        self.encoding = o.encoding
        self.qmin, self.qmax = {"i8": (-127, 127), "i4": (-7, 7)}.get(o.encoding, (0, 0))
        if o.asymmetric and o.encoding in ("i8", "i4"):
            self.qmin -= 1
        self.groups_per_row = 1
        if o.encoding not in ("i8", "i4"):
            self.count = 0
        elif o.granularity == "tensor":
            self.count = 1
        elif o.granularity == "row":
            self.count = rows
        else:
            self.groups_per_row = -(-cols // o.group_size)
            self.count = rows * self.groups_per_row
        self.scales = np.zeros(self.count, F32)
        self.zero_points = np.zeros(self.count, np.int64)

    def index(self, r, c):
        """Scale index of W[r, c] (r may be an array)."""
        if self.o.granularity == "row":
            return r
        if self.o.granularity == "group":
            return r * self.groups_per_row + c // self.o.group_size
        return r * 0

    # -- calibration of one group --

    def _range_params(self, lo, hi):
        """Scale and zero point for the clip range [lo, hi] (symmetric: max |.|)."""
        if not self.o.asymmetric:
            a = abs(lo) if abs(lo) > abs(hi) else abs(hi)
            return F32(a / self.qmax), 0
        lo, hi = min(lo, 0.0), max(hi, 0.0)
        s = F32((hi - lo) / float(self.qmax - self.qmin))
        if s == 0.0:
            return F32(0.0), 0
        z = float(round_half_even(float(self.qmin) - lo / float(s)))
        return s, int(min(max(z, self.qmin), self.qmax))

    @staticmethod
    def _percentile(v, p):
        """Linear interpolation between order statistics at p/100 * (n - 1)."""
        v = np.sort(v)
        n = len(v)
        pos = p / 100.0 * float(n - 1)
        k = int(math.floor(pos))
        if k >= n - 1:
            return float(v[n - 1])
        frac = pos - k
        a = float(v[k])
        if frac == 0.0:
            return a
        return a + frac * (float(v[k + 1]) - a)

    def _sse(self, v, scale, z):
        q = self.codes(v, np.full(len(v), scale, F32), np.full(len(v), z))
        d = v.astype(F64) - self.dequant(q, np.full(len(v), scale, F32), np.full(len(v), z))
        return float(np.cumsum(d * d)[-1])  # summed in order, as the C loop does

    def calibrate_group(self, v):
        """Scale and zero point of one group from its nonzero values v (float32, in
        row-major order): min-max, percentile or MSE (the 100 clip ratios)."""
        if len(v) == 0:
            return F32(0.0), 0
        o = self.o
        if o.calibration == "percentile":
            if o.asymmetric:
                hi = self._percentile(v, o.percentile)
                lo = self._percentile(v, 100.0 - o.percentile)
            else:
                hi = self._percentile(np.abs(v), o.percentile)
                lo = -hi
            return self._range_params(lo, hi)
        lo, hi = float(v.min()), float(v.max())
        if not o.asymmetric:
            hi = abs(lo) if abs(lo) > abs(hi) else abs(hi)
            lo = -hi
        scale, z = self._range_params(lo, hi)
        if o.calibration != "mse":
            return scale, z
        best = self._sse(v, scale, z)
        for i in range(98, -1, -1):  # ratio 1.0 was tried first: ties keep the larger
            t = 0.5 + (i + 1) / 200.0
            s, zz = self._range_params(lo * t, hi * t)
            e = self._sse(v, s, zz)
            if e < best:
                best, scale, z = e, s, zz
        return scale, z

    # -- importance-weighted clipping (the sweeps' groups, as llama.cpp's imatrix) --

    @staticmethod
    def _range_without_largest(v, drop):
        """The range [lo, hi] (lo <= 0 <= hi) of v without its `drop` largest distinct
        |v| (every value at or above the cut is left out, ties included)."""
        a = np.abs(v)
        cut = np.inf
        for _ in range(drop):
            below = a[a < cut]
            cut = float(below.max()) if below.size else -1.0
        kept = v[a < cut] if drop > 0 else v
        lo = min(0.0, float(kept.min())) if kept.size else 0.0
        hi = max(0.0, float(kept.max())) if kept.size else 0.0
        return lo, hi

    def _weighted_sse(self, v, h, scale, z):
        """sum h_i (v_i - v'_i)^2, summed in order."""
        n = len(v)
        q = self.codes(v, np.full(n, scale, F32), np.full(n, z))
        d = v.astype(F64) - self.dequant(q, np.full(n, scale, F32), np.full(n, z))
        return float(np.cumsum(h.astype(F64) * d * d)[-1])

    def calibrate_weighted(self, v, h):
        """The clip range of one group of nonzero values v (float32) weighted by h
        (float32, the H_jj / max H_jj of each value's input) with the least
        sum h (v - v')^2 among min-max and the ranges without the 1, 2, 3, 5, 7 largest
        |v| (fewer than n), each times 1.0, 0.9, 0.8; ties keep the earlier. Percentile
        calibration stays as asked (unweighted); MSE and min-max both search so."""
        if self.o.calibration == "percentile" or len(v) == 0:
            return self.calibrate_group(v)
        best, scale, z = np.inf, F32(0.0), 0
        for drop in (0, 1, 2, 3, 5, 7):
            if drop >= len(v):
                break
            lo, hi = self._range_without_largest(v, drop)
            if not self.o.asymmetric:
                hi = abs(lo) if abs(lo) > abs(hi) else abs(hi)
                lo = -hi
            for ratio in (1.0, 0.9, 0.8):
                s, zz = self._range_params(lo * ratio, hi * ratio)
                e = self._weighted_sse(v, h, s, zz)
                if e < best:
                    best, scale, z = e, s, zz
        return scale, z

    def set_group(self, k, v, h=None):
        if h is None:
            self.scales[k], self.zero_points[k] = self.calibrate_group(v)
        else:
            self.scales[k], self.zero_points[k] = self.calibrate_weighted(v, h)

    def calibrate(self, w, importance=None):
        """Every scale from the nonzero values of w (sparq_qparams_calibrate), each value
        of column c weighted by importance[c] when given
        (sparq_qparams_calibrate_importance)."""
        g = self.o.group_size
        cols = np.broadcast_to(np.arange(self.cols), w.shape)
        for k in range(self.count):
            if self.o.granularity == "tensor":
                rs, cs = slice(None), slice(None)
            elif self.o.granularity == "row":
                rs, cs = slice(k, k + 1), slice(None)
            else:
                r, c0 = k // self.groups_per_row, (k % self.groups_per_row) * g
                rs, cs = slice(r, r + 1), slice(c0, min(c0 + g, self.cols))
            flat, col = w[rs, cs].reshape(-1), cols[rs, cs].reshape(-1)
            nz = flat != 0.0
            self.set_group(k, flat[nz], None if importance is None else importance[col[nz]])

    # -- codes --

    def codes(self, x, scale, z):
        """q = clamp(round_half_even(x / scale) + z, qmin, qmax); scale 0 gives z."""
        with np.errstate(divide="ignore", invalid="ignore"):
            v = x.astype(F64) / scale.astype(F64)
        v = np.clip(np.where(scale == 0.0, 0.0, v), -4096.0, 4096.0)
        q = np.clip(round_half_even(v) + z, self.qmin, self.qmax)
        return np.where(scale == 0.0, z, q).astype(np.int64)

    @staticmethod
    def dequant(q, scale, z):
        return (q - z).astype(F32) * scale  # float times float, in float

    def fake(self, x, rows, col):
        """sparq_value_fake of W[rows, col] for float32 x: the value its code stands for,
        and the distance of x / scale from a rounding boundary."""
        x = x.astype(F32)
        inf = np.full(len(x), np.inf)
        if self.encoding == "f16":
            return x.astype(np.float16).astype(F32), inf
        if self.encoding == "f32":
            return x, inf
        k = self.index(rows, col)
        scale, z = self.scales[k], self.zero_points[k]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = x.astype(F64) / scale.astype(F64)
        margin = np.where(scale == 0.0, np.inf, np.abs(ratio - np.floor(ratio) - 0.5))
        return self.dequant(self.codes(x, scale, z), scale, z), margin


# ---- pruning (sparq.h: exact counts, ties prune the higher index first) ---------------

def prune_count(s, n):
    return min(int(math.floor(s * n + 0.5)), n)


def keep_all_but_smallest(keys, k):
    """Mask (1 kept) of keys (1-d) with the k smallest pruned; among equal keys the
    higher index is pruned first."""
    order = np.lexsort((-np.arange(len(keys)), keys))
    mask = np.ones(len(keys), np.uint8)
    mask[order[:k]] = 0
    return mask


def prune_magnitude(scores, s, per_row):
    """sparq_prune_magnitude: by |score|, over the whole matrix or in every row."""
    keys = np.abs(scores.astype(F32))
    if per_row:
        k = prune_count(s, keys.shape[1])
        return np.stack([keep_all_but_smallest(row, k) for row in keys])
    return keep_all_but_smallest(keys.reshape(-1), prune_count(s, keys.size)).reshape(keys.shape)


def prune_blocks(scores, br, bc, norm, s):
    """sparq_prune_blocks: br x bc blocks (ragged at the edges) ranked by the double sum,
    row-major inside the block, of |x| (L1) or x^2 (L2) over their in-range elements."""
    rows, cols = scores.shape
    gr, gc = -(-rows // br), -(-cols // bc)
    x = np.zeros((gr * br, gc * bc), F64)  # padding adds exact zeros
    x[:rows, :cols] = scores.astype(F32).astype(F64)
    x = np.abs(x) if norm == "l1" else x * x
    x = x.reshape(gr, br, gc, bc)
    total = np.zeros((gr, gc), F64)
    for dr in range(br):
        for dc in range(bc):
            total = total + x[:, dr, :, dc]
    keep = keep_all_but_smallest(total.reshape(-1), prune_count(s, gr * gc)).reshape(gr, gc)
    return np.repeat(np.repeat(keep, br, axis=0), bc, axis=1)[:rows, :cols].copy()


def prune_nm(scores, n, m):
    """sparq_prune_nm: the n largest |score| of every m columns (ties keep the lower
    column); a tail group of t < m columns keeps min(n, t)."""
    keys = np.abs(scores.astype(F32))
    rows, cols = keys.shape
    mask = np.zeros((rows, cols), np.uint8)
    for c0 in range(0, cols, m):
        group = keys[:, c0:c0 + m]
        best = np.argsort(-group, axis=1, kind="stable")[:, :min(n, group.shape[1])]
        np.put_along_axis(mask[:, c0:c0 + m], best, 1, axis=1)
    return mask


def mask_from_scores(o, scores, per_row, norm):
    if o.structure == "csr":
        return prune_magnitude(scores, o.sparsity, per_row)
    if o.structure == "bsr":
        return prune_blocks(scores, o.block_rows, o.block_cols, norm, o.sparsity)
    if o.structure == "nm":
        return prune_nm(scores, o.nm_n, o.nm_m)
    return np.ones(scores.shape, np.uint8)


def whole_mask(o, W, sumsq):
    """RTN: |W| (CSR global, BSR by L2, N:M); Wanda: |W_ij| sqrt(sumsq_j) (CSR per row,
    BSR by the sum of squared scores, N:M)."""
    if o.method == "wanda":
        scores = (np.abs(W.astype(F64)) * np.sqrt(sumsq)[None, :]).astype(F32)
        return mask_from_scores(o, scores, True, "l2")
    if o.method == "gptq":  # inputs never seen are zeroed by the sweep: no kept places
        W = np.where((sumsq == 0.0)[None, :], F32(0.0), W).astype(F32)
    return mask_from_scores(o, W, False, "l2")


# ---- the inverse Hessian ----------------------------------------------------------------

def inverse_hessian_factor(H, dead, perm, damp):
    """U, upper triangular with U^T U = (H + damp mean(diag H) I)^-1, in sweep order; dead
    columns get H_jj = 1; the damping doubles (at most 6 times) until Cholesky works."""
    n = H.shape[0]
    mean = 0.0
    for j in range(n):  # summed in order, as the C loop does
        mean += H[j, j]
    mean /= n
    if not mean > 0.0:
        raise ValueError("the statistics' H is zero (no input seen)")
    for _ in range(7):
        A = H[np.ix_(perm, perm)].copy()
        d = np.arange(n)
        A[d[dead[perm]], d[dead[perm]]] = 1.0
        A[d, d] += damp * mean
        try:
            L = np.linalg.cholesky(A)
            Linv = np.linalg.inv(L)
            Hinv = Linv.T @ Linv
            return np.triu(np.linalg.cholesky(Hinv).T)
        except np.linalg.LinAlgError:
            damp *= 2.0
    raise ValueError("H + damp I is not positive definite")


# ---- the GPTQ / SparseGPT sweep ---------------------------------------------------------

class Sweep:
    """One GPTQ / SparseGPT sweep over W: mask fixed (GPTQ, or a second pass) or None
    (SparseGPT chooses it as it goes); up-front scales from scale_source when given."""

    def __init__(self, o, W, H, mask, scale_source=None):
        rows, n = W.shape
        self.o, self.rows, self.n = o, rows, n
        diag = np.diag(H)
        self.dead = diag == 0.0
        # act_order: decreasing H_jj, ties by the lower column (a stable sort)
        self.perm = (np.argsort(-diag, kind="stable") if o.act_order else np.arange(n))
        # importance of each input for the clipping search: H_jj / max H_jj (as float)
        top = max(0.0, float(diag.max()))
        self.importance = ((diag / top).astype(F32) if top > 0.0 else np.ones(n, F32))
        self.U = inverse_hessian_factor(H, self.dead, self.perm, o.damp)
        self.choose = mask is None and o.structure != "dense"
        self.nm = self.choose and o.structure == "nm"
        self.mask = np.ones((rows, n), np.uint8) if mask is None else mask.copy()
        self.q = Quantizer(o, rows, n)
        self.lazy_groups = o.granularity == "group" and self.q.count > 0 and not o.act_order
        # weights in sweep order, dead columns zeroed
        Wz = W.astype(F64)
        Wz[:, self.dead] = 0.0
        self.w = Wz[:, self.perm].copy()
        self.margin = np.full((rows, n), np.inf)  # natural order
        self.nm_done = 0
        if self.q.count > 0 and not self.lazy_groups:
            # up front, from the original weights (or scale_source: a first pass's result)
            # where the mask (when known) keeps them
            source = Wz if scale_source is None else scale_source.astype(F64)
            source = np.where(self.dead[None, :], 0.0, source)
            self.q.calibrate(np.where(self.mask != 0, source, 0.0).astype(F32),
                             self.importance)

    def panel_width(self):
        """block_size rounded up to a multiple of every unit that must not straddle
        panels: lazy scale groups, N:M groups, BSR block columns."""
        o = self.o
        unit = o.group_size if self.lazy_groups else 1
        other = o.nm_m if o.structure == "nm" else o.block_cols if o.structure == "bsr" else 1
        unit = unit // math.gcd(unit, other) * other
        return -(-o.block_size // unit) * unit

    def choose_mask(self, c0, c1):
        """SparseGPT: the mask of columns [c0, c1) from the current weights, by
        w^2 / U_jj^2 (CSR: round(s n) of the n weights; BSR: blocks by L1; N:M)."""
        d = np.diag(self.U)[c0:c1]
        v = self.w[:, c0:c1]
        score = (v * v) / (d * d)[None, :]
        score = np.where(score < 3e38, score, 3e38).astype(F32)
        self.mask[:, c0:c1] = mask_from_scores(self.o, score, False, "l1")

    def decide_nm_until(self, end):
        """SparseGPT N:M: decides every N:M group that starts before column end."""
        while self.nm_done < end and self.nm_done < self.n:
            c1 = min(self.nm_done + self.o.nm_m, self.n)
            self.choose_mask(self.nm_done, c1)
            self.nm_done = c1

    def calibrate_group_at(self, c0):
        """Lazy groups: the scales of the group at c0 from the kept nonzero current
        weights (as floats) of every row, weighted by their inputs' importance."""
        c1 = min(c0 + self.o.group_size, self.n)
        h = self.importance[c0:c1]
        for r in range(self.rows):
            v = self.w[r, c0:c1].astype(F32)
            use = (self.mask[r, c0:c1] != 0) & (v != 0.0)
            self.q.set_group(self.q.index(r, c0), v[use], h[use])

    def column(self, i, i1, i2, err):
        """Rounds (or prunes) sweep column i and feeds the error into [i+1, i2)."""
        col = self.perm[i]
        rows = np.arange(self.rows)
        v = self.w[:, i].copy()
        fake, margin = self.q.fake(v.astype(F32), rows, col)
        kept = self.mask[:, col] != 0
        q = np.where(kept, fake.astype(F64), 0.0)
        self.margin[:, col] = np.where(kept, margin, np.inf)
        e = (v - q) / self.U[i, i]
        self.w[:, i] = q
        err[:, i - i1] = e
        self.w[:, i + 1:i2] -= np.outer(e, self.U[i, i + 1:i2])

    def run(self):
        """The sweep, panel by panel; returns the values left (column order, float32)."""
        o, n = self.o, self.n
        width = self.panel_width()
        for i1 in range(0, n, width):
            i2 = min(i1 + width, n)
            err = np.zeros((self.rows, i2 - i1))
            if self.choose and not self.nm:
                self.choose_mask(i1, i2)
            for i in range(i1, i2):
                col = self.perm[i]
                group_start = self.lazy_groups and col % o.group_size == 0
                if self.nm:
                    end = col + o.group_size if group_start else col + 1
                    self.decide_nm_until(min(end, i2))
                if group_start:
                    self.calibrate_group_at(col)
                self.column(i, i1, i2, err)
            # the lazy update of the columns after the panel
            self.w[:, i2:] -= err @ self.U[i1:i2, i2:]
        out = np.zeros((self.rows, n), F32)
        out[:, self.perm] = self.w.astype(F32)
        return out


# ---- one rung -----------------------------------------------------------------------------

def compress(o, W, H, sumsq):
    """sparq_compressor_run: returns values, mask, quantizer, tie margins."""
    prunes = o.structure != "dense"
    rounds = o.encoding in ("i8", "i4")
    sweeps = o.method in ("gptq", "sparsegpt") and (prunes or rounds)
    mask = None
    if prunes and not (sweeps and o.method == "sparsegpt"):
        mask = whole_mask(o, W, sumsq)
    if sweeps:
        if prunes and rounds and (o.granularity != "group" or o.act_order):
            # Scales fixed up front on a pruning sweep: a first pass without quantization
            # gives the mask (SparseGPT's choice, or GPTQ's fixed one) and the weights the
            # pruning's error feedback leads to; the scales are chosen from those, and the
            # second pass quantizes jointly with that mask.
            unquantized = copy.copy(o)
            unquantized.encoding, unquantized.granularity = "f32", "tensor"
            unquantized.group_size, unquantized.asymmetric = 0, False
            first = Sweep(unquantized, W, H, mask)
            first_values = first.run()
            s = Sweep(o, W, H, first.mask, scale_source=first_values)
        else:
            s = Sweep(o, W, H, mask)
        values = s.run()
        return values, s.mask, s.q, s.margin
    # RTN / Wanda (and GPTQ with nothing to round): mask, then round to nearest
    rows, cols = W.shape
    if mask is None:
        mask = np.ones((rows, cols), np.uint8)
    work = np.where(mask != 0, W, F32(0.0)).astype(F32)
    q = Quantizer(o, rows, cols)
    q.calibrate(work)
    values = np.zeros((rows, cols), F32)
    margin = np.full((rows, cols), np.inf)
    for c in range(cols):
        values[:, c], margin[:, c] = q.fake(work[:, c], np.arange(rows), c)
    return values, mask, q, margin


def main():
    if len(sys.argv) != 3:
        print("usage: compress_ref.py IN.safetensors OUT.safetensors", file=sys.stderr)
        return 2
    meta, t = read_safetensors(sys.argv[1])
    o = Options(meta)
    W = t["W"].astype(F32)
    H = t["H"].astype(F64) if "H" in t else None
    sumsq = t["sumsq"].astype(F64) if "sumsq" in t else None
    values, mask, q, margin = compress(o, W, H, sumsq)
    out = {"values": values, "mask": mask.astype(np.uint8), "tie_margin": margin}
    if q.count > 0:
        out["scales"] = q.scales.astype(F32)
        if o.asymmetric:
            out["zero_points"] = q.zero_points.astype(np.int8)
    write_safetensors(sys.argv[2], out, {"reference": "compress_ref.py"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
