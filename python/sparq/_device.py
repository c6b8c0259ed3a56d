# SPDX-License-Identifier: Apache-2.0
"""_device.py - contexts and device matrices: sparq.Context (sparq_context_create /
sparq_context_wrap), Context.matrix (sparq_matrix_create) and Matrix, which runs
sparq_linear on numpy arrays (through buffers it keeps, on the context's own in-order
queue) or, with pyopencl, on the caller's queue, buffers and events (no copies)."""
import ctypes
import os
import threading

import numpy as np

from . import _cl, _lib
from ._formats import Packed
from ._lib import check, lib

byref = ctypes.byref
_write = _cl.write_buffer
_read = _cl.read_buffer
_ndarray = np.ndarray
_F32 = np.dtype(np.float32)
_empty = np.empty


def _address(a):
    """The data pointer of a numpy array (cheaper than a.ctypes.data)."""
    return a.__array_interface__["data"][0]


def devices():
    """Every OpenCL device sparq sees, in sparq_device_list order: a list of dicts with
    index (what Context(device=index) takes), platform_index, device_index, name,
    vendor, platform, type ("gpu", "accelerator", "cpu", "other"), compute_units,
    global_mem_bytes."""
    entries = ctypes.POINTER(_lib.DeviceEntry)()
    count = ctypes.c_size_t()
    check(lib.sparq_device_list(byref(entries), byref(count)))
    try:
        out = []
        for i in range(count.value):
            e = entries[i]
            out.append({
                "index": i, "platform_index": e.platform_index,
                "device_index": e.device_index, "name": e.caps.name.decode(),
                "vendor": e.caps.vendor.decode(), "platform": e.caps.platform_name.decode(),
                "type": ("gpu", "accelerator", "cpu", "other")[min(e.caps.type, 3)],
                "compute_units": e.caps.compute_units,
                "global_mem_bytes": e.caps.global_mem_bytes,
            })
        return out
    finally:
        lib.sparq_device_list_free(entries)


def _int_ptr(obj, what):
    if obj is None:
        return None
    if hasattr(obj, "int_ptr"):
        return obj.int_ptr
    if isinstance(obj, int):
        return obj
    raise ValueError(f"{what} must be a pyopencl object or an integer handle, "
                     f"not {type(obj).__name__}")


def _context_options(cache_dir, disable_disk_cache, device=None):
    o = _lib.ContextOptions()
    o.device = device.encode() if device is not None else None
    o.cache_dir = os.fsencode(cache_dir) if cache_dir is not None else None
    o.disable_disk_cache = int(bool(disable_disk_cache))
    return o


class Context(_lib.Handle):
    """A sparq context: one OpenCL context and device, its program cache and a default
    in-order queue. device: None (SPARQ_DEVICE if set, else automatic: a GPU, then an
    accelerator, then a CPU), an int (the index of sparq.devices()), or a string as
    SPARQ_DEVICE takes ("P:D", or a case-insensitive substring of the device or platform
    name, "pthread"). Free it with close() or a with block (or let it be collected);
    matrices hold their context, so the two may go in any order."""

    def __init__(self, device=None, *, cache_dir=None, disable_disk_cache=False):
        if device is not None and not isinstance(device, (int, str)):
            raise ValueError(f"device must be None, an int or a str, not {type(device).__name__}")
        if isinstance(device, bool):
            raise ValueError("device must be None, an int or a str, not bool")
        if isinstance(device, int):
            found = devices()
            if not 0 <= device < len(found):
                raise ValueError(f"device {device}: sparq sees {len(found)} device(s) "
                                 "(sparq.devices())")
            device = f"{found[device]['platform_index']}:{found[device]['device_index']}"
        opts = _context_options(cache_dir, disable_disk_cache, device)
        h = ctypes.c_void_p()
        check(lib.sparq_context_create(byref(opts), byref(h)))
        self._h = h.value
        self._free = lib.sparq_context_free

    @classmethod
    def wrap(cls, cl_context, cl_device, *, cache_dir=None, disable_disk_cache=False):
        """A sparq context on the caller's OpenCL context and device (sparq_context_wrap):
        pyopencl.Context and pyopencl.Device objects, or raw handles as ints. Both are
        retained by sparq until the context is freed."""
        c, d = _int_ptr(cl_context, "cl_context"), _int_ptr(cl_device, "cl_device")
        if not c or not d:
            raise ValueError("wrap needs a cl_context and a cl_device")
        opts = _context_options(cache_dir, disable_disk_cache)
        h = ctypes.c_void_p()
        check(lib.sparq_context_wrap(c, d, byref(opts), byref(h)))
        self = cls.__new__(cls)
        self._h = h.value
        self._free = lib.sparq_context_free
        return self

    @property
    def handle(self):
        if not self._h:
            raise ValueError("this context was closed")
        return self._h

    @property
    def device_name(self):
        return lib.sparq_context_caps(self.handle)[0].name.decode()

    @property
    def caps(self):
        """The device's probed capabilities (sparq_device_caps) as a dict."""
        c = lib.sparq_context_caps(self.handle)[0]
        return {k: (getattr(c, k).decode() if isinstance(getattr(c, k), bytes)
                    else getattr(c, k)) for k, _ in c._fields_}

    @property
    def choice(self):
        """Why this device was chosen (sparq_context_choice)."""
        return lib.sparq_context_choice(self.handle).decode()

    @property
    def cl_context(self):
        """The raw cl_context handle (an int; pyopencl.Context.from_int_ptr takes it)."""
        return lib.sparq_context_cl_context(self.handle)

    @property
    def cl_device(self):
        return lib.sparq_context_cl_device(self.handle)

    @property
    def cl_queue(self):
        """The context's own in-order queue (profiling on), as a raw handle."""
        q = lib.sparq_context_queue(self.handle)
        if not q:
            raise _lib.error(1011, "sparq_context_queue returned no queue")
        return q

    def stats(self):
        s = _lib.ContextStats()
        check(lib.sparq_context_get_stats(self.handle, byref(s)))
        return {k: getattr(s, k) for k, _ in s._fields_}

    def matrix(self, packed, path="auto", allow_dense_copy=False, w8a8=False,
               dense_fallback_density=0.0):
        """Uploads packed (a sparq.Packed, which may be closed afterwards) into a device
        matrix (sparq_matrix_create). path: "auto" (the tuned break-even), "sparse" (always
        the packed format's kernels), "dense" (dense f32 weights). allow_dense_copy: AUTO
        may also hold a dense f32 copy. w8a8: False, True / "symmetric" (int8 activations
        quantized per row on the device; needs i8 weights) or "asymmetric" (uint8 with a
        zero point)."""
        if not isinstance(packed, Packed):
            raise ValueError(f"packed must be a sparq.Packed, not {type(packed).__name__}")
        if path not in _lib.PATHS:
            raise ValueError(f"path {path!r} is not 'auto', 'sparse' or 'dense'")
        qa = {False: 0, True: 1, "symmetric": 1, "asymmetric": 2}.get(w8a8)
        if qa is None:
            raise ValueError(f"w8a8 {w8a8!r} is not False, True, 'symmetric' or 'asymmetric'")
        o = _lib.MatrixOptions(_lib.PATHS[path], float(dense_fallback_density), qa,
                               int(bool(allow_dense_copy)))
        h = ctypes.c_void_p()
        check(lib.sparq_matrix_create(self.handle, packed.handle, byref(o), byref(h)))
        try:
            queue, clctx = self.cl_queue, self.cl_context
        except BaseException:
            lib.sparq_matrix_free(h)
            raise
        return Matrix(h.value, queue, clctx, packed.format)

    def __repr__(self):
        return f"<sparq.Context {self.device_name!r}>" if self._h else "<sparq.Context (closed)>"


def _activation(activation):
    try:
        return _lib.ACTIVATIONS[activation]
    except (KeyError, TypeError):
        raise ValueError(f"activation {activation!r} is not None, 'relu' or 'gelu'") from None


class Matrix(_lib.Handle):
    """A weight matrix on the device (sparq_matrix): m(x) computes
    act(x @ W^T + bias) with sparq_linear. Free with close() or a with block."""

    def __init__(self, handle, queue, cl_context, fmt):
        self._h = handle
        self._queue = queue
        self._clctx = cl_context
        self.format = fmt
        self.rows = lib.sparq_matrix_rows(handle)
        self.cols = lib.sparq_matrix_cols(handle)
        self._lock = threading.Lock()
        self._cap = 0
        self._xbuf = self._ybuf = self._bbuf = None
        self._linear = lib.sparq_linear
        self._free = lib.sparq_matrix_free
        self._release = _cl.release_mem

    @property
    def handle(self):
        if not self._h:
            raise ValueError("this matrix was closed")
        return self._h

    @property
    def device_bytes(self):
        """Bytes of device memory the matrix holds (sparq_matrix_device_bytes); the
        buffers m(x) keeps for numpy inputs are not counted."""
        return lib.sparq_matrix_device_bytes(self.handle)

    @property
    def shape(self):
        return (self.rows, self.cols)

    def explain(self, batch=1):
        """What sparq_linear runs at this batch, and why (sparq_plan_explain)."""
        batch = int(batch)
        if batch < 1:
            raise ValueError("batch must be >= 1")
        buf = ctypes.create_string_buffer(8192)
        check(lib.sparq_plan_explain(self.handle, batch, buf, len(buf)))
        return buf.value.decode()

    def plan(self, batch=1):
        """The plan as data (sparq_plan_info_get): path, kernel, params, where they came
        from, bytes held."""
        batch = int(batch)
        if batch < 1:
            raise ValueError("batch must be >= 1")
        i = _lib.PlanInfo()
        check(lib.sparq_plan_info_get(self.handle, batch, byref(i)))
        return {
            "path": ("auto", "sparse", "dense")[i.path],
            "kernel": (i.kernel or b"").decode(),
            "tuned_path": bool(i.tuned_path), "dense_declined": bool(i.dense_declined),
            "params": {i.param_names[k].decode(): i.param_values[k]
                       for k in range(i.param_count)},
            "param_source": ("default", "type_default", "shipped", "user")[i.param_source],
            "packed_bytes_held": i.packed_bytes_held, "dense_bytes_held": i.dense_bytes_held,
        }

    def prepare(self, batches=(1,)):
        """Builds every kernel sparq_linear will use at these batches (an int or a list),
        so that later calls compile nothing (sparq_matrix_prepare, on the context's
        queue; blocks until done)."""
        if isinstance(batches, int):
            batches = [batches]
        batches = [int(b) for b in batches]
        if not batches or min(batches) < 1:
            raise ValueError("batches must be one or more ints >= 1")
        arr = (ctypes.c_size_t * len(batches))(*batches)
        check(lib.sparq_matrix_prepare(self.handle, self._queue, arr, len(batches)))

    # -- numpy path --

    def _buffers(self, batch):
        if batch > self._cap:
            cap = max(batch, 2 * self._cap)
            self._drop_buffers()
            self._xbuf = _cl.create_buffer(self._clctx, _cl.MEM_READ_ONLY, cap * self.cols * 4)
            self._ybuf = _cl.create_buffer(self._clctx, _cl.MEM_READ_WRITE, cap * self.rows * 4)
            self._cap = cap

    def _drop_buffers(self):
        for name in ("_xbuf", "_ybuf", "_bbuf"):
            b = getattr(self, name)
            setattr(self, name, None)
            if b:
                self._release(b)
        self._cap = 0

    def __call__(self, x, bias=None, activation=None, out=None):
        """act(x @ W^T + bias) for x float32 (batch, cols) -> (batch, rows), or (cols,)
        -> (rows,). bias: float32 (rows,) or None; activation: None, "relu" or "gelu"
        (tanh approximation); out: a C-contiguous float32 array of the result's shape to
        write into (returned), else a new array. Copies x to the device, runs sparq_linear
        on the context's queue and copies the result back (blocking)."""
        # Kept lean: on a CPU device every step here runs while PoCL's workers go idle.
        if type(x) is not _ndarray or x.dtype != _F32:
            raise ValueError("x must be a numpy float32 array")
        shape = x.shape
        rows, cols = self.rows, self.cols
        if len(shape) == 2:
            batch = shape[0]
            yshape = (batch, rows)
        elif len(shape) == 1:
            batch = 1
            yshape = (rows,)
        else:
            raise ValueError(f"x must be (batch, {cols}) or ({cols},), not {shape}")
        if shape[-1] != cols or batch == 0:
            raise ValueError(f"x has shape {shape}; the matrix takes {cols} columns")
        if bias is None and activation is None:
            ep = None
        else:
            ep = _lib.Epilogue(None, 0, _activation(activation))
            if bias is not None:
                if (type(bias) is not _ndarray or bias.dtype != _F32
                        or bias.shape != (rows,)):
                    raise ValueError(f"bias must be a float32 array of shape ({rows},)")
                bias = np.ascontiguousarray(bias)
        if out is not None:
            if (type(out) is not _ndarray or out.dtype != _F32 or out.shape != yshape
                    or not out.flags.c_contiguous or not out.flags.writeable):
                raise ValueError(f"out must be a writable C-contiguous float32 array of "
                                 f"shape {yshape}")
        if not x.flags.c_contiguous:
            x = np.ascontiguousarray(x)
        h = self._h
        if not h:
            raise ValueError("this matrix was closed")
        q = self._queue
        with self._lock:
            if batch > self._cap:
                self._buffers(batch)
            xbuf, ybuf = self._xbuf, self._ybuf
            if bias is not None:
                if not self._bbuf:
                    self._bbuf = _cl.create_buffer(self._clctx, _cl.MEM_READ_ONLY, rows * 4)
                ep.bias = self._bbuf
                _cl.check(_write(q, self._bbuf, 0, 0, rows * 4, _address(bias), 0, None,
                                 None), "clEnqueueWriteBuffer(bias)")
            st = _write(q, xbuf, 0, 0, batch * cols * 4, _address(x), 0, None, None)
            if st:
                _cl.finish(q)
                _cl.check(st, "clEnqueueWriteBuffer(x)")
            st = self._linear(h, q, xbuf, 0, ybuf, 0, batch, ep, 0, None, None)
            if st:
                err = _lib.error(st)
                _cl.finish(q)
                raise err
            # y is made while the device runs
            y = out if out is not None else _empty(yshape, _F32)
            st = _read(q, ybuf, 1, 0, batch * rows * 4, _address(y), 0, None, None)
            if st:
                _cl.finish(q)
                _cl.check(st, "clEnqueueReadBuffer(y)")
        return y

    # -- pyopencl path --

    def enqueue(self, queue, x_buf, y_buf, batch, wait_for=None, bias=None, activation=None,
                x_offset=0, y_offset=0, bias_offset=0):
        """sparq_linear on the caller's queue and buffers, no copies: y_buf[y_offset:] =
        act(x_buf[x_offset:] @ W^T + bias) for batch rows (offsets in floats). queue,
        buffers and the events of wait_for are pyopencl objects (or raw handles as ints),
        of the cl_context this matrix's sparq context wraps. Returns the pyopencl.Event
        that completes when y is written; nothing waits here (no clFinish)."""
        import pyopencl  # noqa: F401  (the event comes back as a pyopencl.Event)
        batch = int(batch)
        if batch < 1:
            raise ValueError("batch must be >= 1")
        q = _int_ptr(queue, "queue")
        xb, yb = _int_ptr(x_buf, "x_buf"), _int_ptr(y_buf, "y_buf")
        if not q or not xb or not yb:
            raise ValueError("enqueue needs a queue, x_buf and y_buf")
        ep = _lib.Epilogue(_int_ptr(bias, "bias"), int(bias_offset), _activation(activation))
        waits = list(wait_for or [])
        wl = (ctypes.c_void_p * len(waits))(*[_int_ptr(e, "wait_for event") for e in waits]) \
            if waits else None
        ev = ctypes.c_void_p()
        check(lib.sparq_linear(self.handle, q, xb, int(x_offset), yb, int(y_offset), batch,
                               byref(ep), len(waits), wl, byref(ev)))
        return pyopencl.Event.from_int_ptr(ev.value, retain=False)

    def _close_extras(self):
        if getattr(self, "_cap", None) is not None:
            try:
                with self._lock:
                    self._drop_buffers()
            except Exception:
                pass

    def __repr__(self):
        state = "" if self._h else " (closed)"
        return f"<sparq.Matrix {self.rows}x{self.cols} {self.format}{state}>"
