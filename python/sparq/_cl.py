# SPDX-License-Identifier: Apache-2.0
"""_cl.py - the few OpenCL calls the numpy path of Matrix.__call__ needs (buffers,
writes, reads, clFinish), through ctypes on the ICD loader that libsparq already links.
Callers who bring their own queue and buffers use pyopencl and Matrix.enqueue instead."""
import ctypes
import ctypes.util

from . import _lib

_vp = ctypes.c_void_p
_size = ctypes.c_size_t
_u32 = ctypes.c_uint32


def _load():
    for name in ("libOpenCL.so.1", ctypes.util.find_library("OpenCL"), "libOpenCL.so"):
        if not name:
            continue
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    raise ImportError("sparq: the OpenCL ICD loader (libOpenCL.so.1) was not found")


cl = _load()
cl.clCreateBuffer.restype = _vp
cl.clCreateBuffer.argtypes = [_vp, ctypes.c_uint64, _size, _vp, ctypes.POINTER(ctypes.c_int32)]
for _f in (cl.clEnqueueWriteBuffer, cl.clEnqueueReadBuffer):
    _f.restype = ctypes.c_int32
    _f.argtypes = [_vp, _vp, _u32, _size, _size, _vp, _u32, _vp, _vp]
cl.clFinish.restype = ctypes.c_int32
cl.clFinish.argtypes = [_vp]
cl.clReleaseMemObject.restype = ctypes.c_int32
cl.clReleaseMemObject.argtypes = [_vp]
cl.clReleaseEvent.restype = ctypes.c_int32
cl.clReleaseEvent.argtypes = [_vp]

MEM_READ_WRITE = 1
MEM_WRITE_ONLY = 2
MEM_READ_ONLY = 4

write_buffer = cl.clEnqueueWriteBuffer
read_buffer = cl.clEnqueueReadBuffer
finish = cl.clFinish
release_mem = cl.clReleaseMemObject


def check(code, what):
    if code != 0:
        raise _lib.Error(_lib.status_name(code), code, what + " failed")


def create_buffer(cl_context, flags, nbytes):
    err = ctypes.c_int32(0)
    mem = cl.clCreateBuffer(cl_context, flags, nbytes, None, ctypes.byref(err))
    if err.value != 0 or not mem:
        check(err.value or -4, f"clCreateBuffer({nbytes} bytes)")
    return mem
