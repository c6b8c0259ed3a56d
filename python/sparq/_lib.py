# SPDX-License-Identifier: Apache-2.0
"""_lib.py - finds and loads libsparq, mirrors the C structs of include/sparq.h with
ctypes, declares every C function the package calls, and turns a failing status into
sparq.Error. Nothing here is public API; sparq/__init__.py re-exports what is.

Library lookup, first found wins:
  1. the copy inside the package (sparq/libsparq.so, put there by `pip install ./python`);
  2. the file named by the environment variable SPARQ_LIBRARY;
  3. the repository's build/libsparq.so (running from the source tree: python/sparq is
     two folders below the repository root).
"""
import ctypes
import os

c_int = ctypes.c_int
c_uint = ctypes.c_uint
c_size = ctypes.c_size_t
c_double = ctypes.c_double
c_float = ctypes.c_float
c_char_p = ctypes.c_char_p
c_void_p = ctypes.c_void_p
c_u8 = ctypes.c_uint8
c_i8 = ctypes.c_int8
c_u16 = ctypes.c_uint16
c_u32 = ctypes.c_uint32
c_u64 = ctypes.c_uint64
c_i64 = ctypes.c_int64
P = ctypes.POINTER

_HERE = os.path.dirname(os.path.abspath(__file__))


class Handle:
    """What every object holding a C handle shares: close() frees it once (self._h,
    freed by self._free; _close_extras() first lets a subclass drop what it holds
    beside it), `with` closes it, and the garbage collector closes what was not."""

    _h = None

    def _close_extras(self):
        pass

    def close(self):
        h, self._h = self._h, None
        self._close_extras()
        if h:
            self._free(h)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class Error(Exception):
    """A failing sparq call. .status is the status name (sparq_status_string, e.g.
    "SPARQ_ERROR_INVALID_ARGUMENT" or "CL_OUT_OF_RESOURCES"), .code its number, and
    .message the sentence sparq_last_error() gave (what was wrong)."""

    def __init__(self, status, code, message):
        self.status = status
        self.code = code
        self.message = message
        super().__init__(f"{status}: {message}" if message else status)


def _candidates():
    for name in ("libsparq.so", "libsparq.so.0", "libsparq.dylib"):
        path = os.path.join(_HERE, name)
        if os.path.exists(path):
            yield path, "the package"
    env = os.environ.get("SPARQ_LIBRARY")
    if env:
        yield env, "SPARQ_LIBRARY"
    root = os.path.dirname(os.path.dirname(_HERE))
    yield os.path.join(root, "build", "libsparq.so"), "the repository's build/"


def _load():
    tried = []
    for path, where in _candidates():
        if not os.path.exists(path):
            tried.append(f"{path} ({where}: absent)")
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append(f"{path} ({where}: {e})")
    raise ImportError("sparq: libsparq not found; tried " + "; ".join(tried) +
                      ". Install the package (pip install ./python), set SPARQ_LIBRARY to "
                      "a built libsparq.so, or build the repository into build/")


lib, library_path = _load()


# ---- struct mirrors (tests/test_structs.py compares every one with the C layout) ----

# SPARQ_RESERVED_WORDS: the zeroed tail of the structs that grow (sparq.h's top comment).
RESERVED_WORDS = 8

class QuantOptions(ctypes.Structure):
    _c_name = "sparq_quant_options"
    _fields_ = [("encoding", c_int), ("granularity", c_int), ("group_size", c_size),
                ("asymmetric", c_int), ("calibration", c_int), ("percentile", c_double)]


class PackOptions(ctypes.Structure):
    _c_name = "sparq_pack_options"
    _fields_ = [("structure", c_int), ("quant", QuantOptions), ("block_rows", c_uint),
                ("block_cols", c_uint), ("nm_n", c_uint), ("nm_m", c_uint)]


class ContextOptions(ctypes.Structure):
    _c_name = "sparq_context_options"
    _fields_ = [("device", c_char_p), ("cache_dir", c_char_p), ("disable_disk_cache", c_int),
                ("reserved", c_u64 * RESERVED_WORDS)]


class Epilogue(ctypes.Structure):
    _c_name = "sparq_epilogue"
    _fields_ = [("bias", c_void_p), ("bias_offset", c_size), ("activation", c_int)]


class MatrixOptions(ctypes.Structure):
    _c_name = "sparq_matrix_options"
    _fields_ = [("path", c_int), ("dense_fallback_density", c_double),
                ("quantize_activations", c_int), ("allow_dense_copy", c_int),
                ("reserved", c_u64 * RESERVED_WORDS)]


class PruneSchedule(ctypes.Structure):
    _c_name = "sparq_prune_schedule"
    _fields_ = [("initial_sparsity", c_double), ("final_sparsity", c_double),
                ("start_step", c_i64), ("num_steps", c_i64), ("step_interval", c_i64)]


class PackedArray(ctypes.Structure):
    _c_name = "sparq_packed_array"
    _fields_ = [("name", c_char_p), ("dtype", c_int), ("count", c_size), ("data", c_void_p)]


class PackedEntry(ctypes.Structure):
    _c_name = "sparq_packed_entry"
    _fields_ = [("name", c_char_p), ("format", PackOptions), ("rows", c_size), ("cols", c_size),
                ("bytes", ctypes.c_uint64)]


class TensorInfo(ctypes.Structure):
    _c_name = "sparq_safetensors_tensor_info"
    _fields_ = [("name", c_char_p), ("dtype", c_int), ("ndim", c_size), ("shape", P(c_size)),
                ("count", c_size), ("data", c_void_p), ("bytes", c_size)]


class ErrorMetrics(ctypes.Structure):
    _c_name = "sparq_error_metrics"
    _fields_ = [("count", c_size), ("mse", c_double), ("nmse", c_double),
                ("sqnr_db", c_double), ("max_abs_error", c_double), ("cosine", c_double)]


class ConvertOptions(ctypes.Structure):
    _c_name = "sparq_convert_options"
    _fields_ = [("sparsity", c_double), ("format", PackOptions), ("max_nmse", c_double),
                ("min_sqnr_db", c_double), ("no_rollback", c_int), ("method", c_int),
                ("calib", c_void_p), ("gate_metric", c_int), ("damp", c_double),
                ("block_size", c_size), ("act_order", c_int)]


class ConvertResult(ctypes.Structure):
    _c_name = "sparq_convert_result"
    _fields_ = [("format", PackOptions), ("sparsity", c_double), ("bits_per_weight", c_double),
                ("error", ErrorMetrics), ("output_nmse", c_double), ("bytes_before", c_u64),
                ("bytes_after", c_u64), ("rollbacks", c_uint), ("last_rung", c_int),
                ("seconds", c_double), ("trail", ctypes.c_char * 512)]


class DeviceCaps(ctypes.Structure):
    _c_name = "sparq_device_caps"
    _fields_ = [("name", ctypes.c_char * 256), ("vendor", ctypes.c_char * 256),
                ("platform_name", ctypes.c_char * 256), ("driver_version", ctypes.c_char * 128),
                ("device_version", ctypes.c_char * 128),
                ("opencl_c_version", ctypes.c_char * 128), ("opencl_c_major", c_int),
                ("opencl_c_minor", c_int), ("type", c_int), ("compute_units", c_u32),
                ("max_clock_mhz", c_u32), ("global_mem_bytes", c_u64),
                ("max_alloc_bytes", c_u64), ("local_mem_bytes", c_u64),
                ("local_mem_is_dedicated", c_int), ("max_work_group_size", c_size),
                ("base_addr_align_bytes", c_u32), ("has_fp16", c_int), ("has_fp64", c_int),
                ("has_subgroups", c_int), ("has_int_dot_product", c_int),
                ("has_correct_division", c_int), ("vector_width_char", c_u32),
                ("vector_width_short", c_u32), ("vector_width_int", c_u32),
                ("vector_width_float", c_u32), ("vector_width_half", c_u32),
                ("reserved", c_u64 * RESERVED_WORDS)]


class DeviceEntry(ctypes.Structure):
    _c_name = "sparq_device_entry"
    _fields_ = [("platform_index", c_uint), ("device_index", c_uint), ("platform", c_void_p),
                ("device", c_void_p), ("caps", DeviceCaps)]


class PlanInfo(ctypes.Structure):
    _c_name = "sparq_plan_info"
    _fields_ = [("path", c_int), ("kernel", c_char_p), ("tuned_path", c_int),
                ("dense_declined", c_int), ("param_count", c_uint),
                ("param_names", c_char_p * 4), ("param_values", c_uint * 4),
                ("param_source", c_int), ("packed_bytes_held", c_u64),
                ("dense_bytes_held", c_u64)]


class ContextStats(ctypes.Structure):
    _c_name = "sparq_context_stats"
    _fields_ = [("kernel_launches", c_u64), ("peer_calls", c_u64), ("programs_built", c_u64),
                ("program_memory_hits", c_u64), ("program_disk_hits", c_u64),
                ("program_disk_rejects", c_u64)]


STRUCTS = [QuantOptions, PackOptions, ContextOptions, Epilogue, MatrixOptions, PruneSchedule,
           PackedArray, PackedEntry, TensorInfo, ErrorMetrics, ConvertOptions, ConvertResult,
           DeviceCaps, DeviceEntry, PlanInfo, ContextStats]

# ---- enums (values as in sparq.h) ----
STRUCTURE_DENSE, STRUCTURE_CSR, STRUCTURE_BSR, STRUCTURE_NM = 0, 1, 2, 3
ENCODING_F32, ENCODING_F16, ENCODING_I8, ENCODING_I4 = 0, 1, 2, 3
SCALE_TENSOR, SCALE_ROW, SCALE_GROUP = 0, 1, 2
CALIBRATIONS = {"minmax": 0, "percentile": 1, "mse": 2}
PRUNE_SCOPES = {"global": 0, "row": 1}
BLOCK_NORMS = {"l1": 0, "l2": 1}
ACTIVATIONS = {None: 0, "none": 0, "relu": 1, "gelu": 2}
PATHS = {"auto": 0, "sparse": 1, "dense": 2}
METHODS = {"rtn": 0, "wanda": 1, "gptq": 2, "sparsegpt": 3}
GATES = {"auto": 0, "weights": 1, "outputs": 2}
DTYPES = {0: "u1", 1: "i1", 2: "<u2", 3: "<u4", 4: "<u8", 5: "<u2", 6: "<f4", 7: "<u2",
          8: "<i4", 9: "<i8", 10: "<f8", 11: "|b1", 12: "<i2", 13: "u1", 14: "u1"}
# sparq_dtype -> numpy (F16/BF16/F8 as bit patterns)
DTYPE_F32, DTYPE_F64 = 6, 10

# ---- functions ----
vp = c_void_p
VPP = P(c_void_p)
_PROTOS = {
    "sparq_version_string": (c_char_p, []),
    "sparq_status_string": (c_char_p, [c_int]),
    "sparq_last_error": (c_char_p, []),
    "sparq_log_set_level": (None, [c_int]),
    "sparq_structure_name": (c_char_p, [c_int]),
    "sparq_encoding_name": (c_char_p, [c_int]),
    "sparq_scale_granularity_name": (c_char_p, [c_int]),
    # devices and contexts
    "sparq_device_list": (c_int, [P(P(DeviceEntry)), P(c_size)]),
    "sparq_device_list_free": (None, [P(DeviceEntry)]),
    "sparq_context_create": (c_int, [P(ContextOptions), VPP]),
    "sparq_context_wrap": (c_int, [vp, vp, P(ContextOptions), VPP]),
    "sparq_context_free": (None, [vp]),
    "sparq_context_cl_context": (vp, [vp]),
    "sparq_context_cl_device": (vp, [vp]),
    "sparq_context_queue": (vp, [vp]),
    "sparq_context_caps": (P(DeviceCaps), [vp]),
    "sparq_context_choice": (c_char_p, [vp]),
    "sparq_context_get_stats": (c_int, [vp, P(ContextStats)]),
    # matrices
    "sparq_matrix_create": (c_int, [vp, vp, P(MatrixOptions), VPP]),
    "sparq_matrix_free": (None, [vp]),
    "sparq_matrix_rows": (c_size, [vp]),
    "sparq_matrix_cols": (c_size, [vp]),
    "sparq_matrix_device_bytes": (c_u64, [vp]),
    "sparq_linear": (c_int, [vp, vp, vp, c_size, vp, c_size, c_size, P(Epilogue), c_u32,
                             P(c_void_p), P(c_void_p)]),
    "sparq_matrix_prepare": (c_int, [vp, vp, P(c_size), c_size]),
    "sparq_plan_explain": (c_int, [vp, c_size, ctypes.c_char_p, c_size]),
    "sparq_plan_info_get": (c_int, [vp, c_size, P(PlanInfo)]),
    # pruning
    "sparq_prune_magnitude": (c_int, [vp, c_size, c_size, c_double, c_int, vp, vp, c_int]),
    "sparq_prune_blocks": (c_int, [vp, c_size, c_size, c_size, c_size, c_int, c_double, vp,
                                   vp, c_int]),
    "sparq_prune_nm": (c_int, [vp, c_size, c_size, c_uint, c_uint, vp, vp, c_int]),
    "sparq_prune_schedule_sparsity": (c_int, [P(PruneSchedule), c_i64, P(c_double)]),
    # quantization
    "sparq_quant_sizes": (c_int, [P(QuantOptions), c_size, c_size, P(c_size), P(c_size),
                                  P(c_size)]),
    "sparq_quantize": (c_int, [P(QuantOptions), c_size, c_size, vp, vp, vp, vp]),
    "sparq_dequantize": (c_int, [P(QuantOptions), c_size, c_size, vp, vp, vp, vp]),
    "sparq_fake_quantize": (c_int, [P(QuantOptions), c_size, c_size, vp, vp, vp]),
    # packing
    "sparq_format_parse": (c_int, [c_char_p, P(PackOptions)]),
    "sparq_format_name": (c_int, [P(PackOptions), ctypes.c_char_p, c_size]),
    "sparq_packed_create": (c_int, [P(PackOptions), c_size, c_size, vp, VPP]),
    "sparq_packed_free": (None, [vp]),
    "sparq_packed_rows": (c_size, [vp]),
    "sparq_packed_cols": (c_size, [vp]),
    "sparq_packed_format": (P(PackOptions), [vp]),
    "sparq_packed_stored_values": (c_size, [vp]),
    "sparq_packed_bytes": (c_u64, [vp]),
    "sparq_packed_bits_per_weight": (c_double, [vp]),
    "sparq_packed_array_count": (c_size, [vp]),
    "sparq_packed_get_array": (c_int, [vp, c_size, P(PackedArray)]),
    "sparq_packed_unpack": (c_int, [vp, vp]),
    # safetensors
    "sparq_safetensors_open": (c_int, [c_char_p, VPP]),
    "sparq_safetensors_close": (None, [vp]),
    "sparq_model_open": (c_int, [c_char_p, VPP]),
    "sparq_model_close": (None, [vp]),
    "sparq_model_shard_count": (c_size, [vp]),
    "sparq_model_shard": (vp, [vp, c_size]),
    "sparq_model_find": (c_int, [vp, c_char_p, P(c_size), P(TensorInfo)]),
    "sparq_safetensors_count": (c_size, [vp]),
    "sparq_safetensors_tensor": (c_int, [vp, c_size, P(TensorInfo)]),
    "sparq_safetensors_metadata": (c_char_p, [vp, c_char_p]),
    "sparq_safetensors_metadata_count": (c_size, [vp]),
    "sparq_safetensors_metadata_entry": (c_int, [vp, c_size, P(c_char_p), P(c_char_p)]),
    "sparq_safetensors_to_f32": (c_int, [P(TensorInfo), vp, c_size]),
    "sparq_safetensors_writer_create": (c_int, [VPP]),
    "sparq_safetensors_writer_free": (None, [vp]),
    "sparq_safetensors_writer_add": (c_int, [vp, c_char_p, c_int, c_size, P(c_size), vp,
                                             c_size]),
    "sparq_safetensors_writer_set_metadata": (c_int, [vp, c_char_p, c_char_p]),
    "sparq_safetensors_writer_write": (c_int, [vp, c_char_p]),
    "sparq_packed_save": (c_int, [vp, c_char_p, vp]),
    "sparq_packed_load": (c_int, [vp, c_char_p, VPP]),
    "sparq_packed_list": (c_int, [vp, P(P(PackedEntry)), P(c_size)]),
    "sparq_packed_list_free": (None, [P(PackedEntry)]),
    # calibration statistics
    "sparq_calib_create": (c_int, [c_size, c_int, VPP]),
    "sparq_calib_free": (None, [vp]),
    "sparq_calib_accumulate": (c_int, [vp, vp, c_size]),
    "sparq_calib_merge": (c_int, [vp, vp]),
    "sparq_calib_cols": (c_size, [vp]),
    "sparq_calib_rows": (c_u64, [vp]),
    "sparq_calib_gram": (P(c_double), [vp]),
    "sparq_calib_sumsq": (P(c_double), [vp]),
    "sparq_calib_save": (c_int, [vp, c_char_p, vp]),
    "sparq_calib_load": (c_int, [vp, c_char_p, VPP]),
    # conversion
    "sparq_layer_convert": (c_int, [vp, c_size, c_size, P(ConvertOptions), VPP,
                                    P(ConvertResult)]),
}

for _name, (_res, _args) in _PROTOS.items():
    _f = getattr(lib, _name)
    _f.restype = _res
    _f.argtypes = _args


def status_name(code):
    return lib.sparq_status_string(code).decode()


def error(code, what=None):
    """The sparq.Error of a failed call with status code (its last-error sentence)."""
    msg = (lib.sparq_last_error() or b"").decode("utf-8", "replace")
    if what and not msg:
        msg = what
    return Error(status_name(code), code, msg)


def check(code, what=None):
    if code != 0:
        raise error(code, what)


def new_handle():
    return c_void_p()
