#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# onnx_to_c.py - turns ONNX backend conformance vectors (Debian's libonnx-testdata:
# MatMulInteger, QLinearMatMul, DynamicQuantizeLinear) into the C header
# tests/data/onnx_vectors.h. TensorProto files are parsed by hand (a minimal
# protobuf reader): python3-onnx is not needed.
#
# usage: python3 tests/data/onnx_to_c.py [DATA_DIR] > tests/data/onnx_vectors.h
#   DATA_DIR defaults to /usr/share/libonnx-testdata/data/node
import os
import struct
import sys

DEFAULT_DIR = "/usr/share/libonnx-testdata/data/node"

# TensorProto.DataType values used here, with the C type and struct format of each
DTYPES = {1: ("float", "f"), 2: ("uint8_t", "B"), 3: ("int8_t", "b"),
          6: ("int32_t", "i"), 7: ("int64_t", "q")}

CASES = [
    ("matmulinteger", "test_matmulinteger"),
    ("qlinearmatmul_2d", "test_qlinearmatmul_2D"),
    ("qlinearmatmul_3d", "test_qlinearmatmul_3D"),
    ("dynamicquantizelinear", "test_dynamicquantizelinear"),
    ("dynamicquantizelinear_max_adjusted", "test_dynamicquantizelinear_max_adjusted"),
    ("dynamicquantizelinear_min_adjusted", "test_dynamicquantizelinear_min_adjusted"),
]


def read_varint(buf, pos):
    value, shift = 0, 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def fields(buf):
    """Yields (field number, wire type, value) of one protobuf message."""
    pos = 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = read_varint(buf, pos)
            value, pos = buf[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError("unsupported wire type %d" % wire)
        if pos > len(buf):
            raise ValueError("truncated field %d" % number)
        yield number, wire, value


def signed(value, bits):
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


def packed_varints(value):
    pos, out = 0, []
    while pos < len(value):
        v, pos = read_varint(value, pos)
        out.append(v)
    return out


def parse_tensor(buf):
    """A TensorProto: (name, data type, dims, list of values)."""
    dims, dtype, name, raw = [], None, "", None
    floats, int32s, int64s = [], [], []
    for number, wire, value in fields(buf):
        if number == 1:  # dims, repeated int64 (packed or not)
            dims += [signed(v, 64) for v in (packed_varints(value) if wire == 2 else [value])]
        elif number == 2:
            dtype = value
        elif number == 4:  # float_data
            floats += (list(struct.unpack("<%df" % (len(value) // 4), value)) if wire == 2
                       else [struct.unpack("<f", value)[0]])
        elif number == 5:  # int32_data (also carries uint8/int8)
            int32s += [signed(v, 64) for v in (packed_varints(value) if wire == 2 else [value])]
        elif number == 7:
            int64s += [signed(v, 64) for v in (packed_varints(value) if wire == 2 else [value])]
        elif number == 8:
            name = value.decode("utf-8")
        elif number == 9:
            raw = bytes(value)
    if dtype not in DTYPES:
        raise ValueError("tensor %s: unsupported data type %s" % (name, dtype))
    count = 1
    for d in dims:
        count *= d
    fmt = DTYPES[dtype][1]
    if raw is not None:
        values = list(struct.unpack("<%d%s" % (count, fmt), raw))
    elif dtype == 1:
        values = floats
    elif dtype == 7:
        values = int64s
    else:
        values = int32s
    if len(values) != count:
        raise ValueError("tensor %s: %d values for shape %s" % (name, len(values), dims))
    return name, dtype, dims, values


def c_value(dtype, v):
    if dtype == 1:
        # exact: a float32 printed with 9 significant digits round-trips
        text = "%.9g" % v
        if not any(ch in text for ch in ".en"):
            text += ".0"
        return text + "f"
    return "%d" % v


def emit_tensor(out, prefix, tensor):
    name, dtype, dims, values = tensor
    ctype = DTYPES[dtype][0]
    shape = ", ".join(str(d) for d in dims) or "scalar"
    out.append("/* %s: %s [%s] */" % (name or prefix, ctype, shape))
    count = max(len(values), 1)
    body = ", ".join(c_value(dtype, v) for v in values) or "0"
    out.append("static const %s %s[%d] = {%s};" % (ctype, prefix, count, body))
    # shapes as macros (no unused arrays): PREFIX_NDIM, PREFIX_DIM0, PREFIX_DIM1, ...
    out.append("#define %s_NDIM %d" % (prefix.upper(), len(dims)))
    for i, d in enumerate(dims):
        out.append("#define %s_DIM%d %d" % (prefix.upper(), i, d))
    out.append("#define %s_COUNT %d" % (prefix.upper(), len(values)))


def main():
    data_dir = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_DIR
    out = [
        "/* onnx_vectors.h - GENERATED by tests/data/onnx_to_c.py from the ONNX backend test",
        " * data (Debian libonnx-testdata); do not edit by hand. Regenerate with:",
        " *   python3 tests/data/onnx_to_c.py /usr/share/libonnx-testdata/data/node \\",
        " *       > tests/data/onnx_vectors.h */",
        "#ifndef SPARQ_ONNX_VECTORS_H",
        "#define SPARQ_ONNX_VECTORS_H",
        "#include <stddef.h>",
        "#include <stdint.h>",
        "",
    ]
    for prefix, folder in CASES:
        case_dir = os.path.join(data_dir, folder, "test_data_set_0")
        out.append("/* ---- %s (%s) ---- */" % (folder, "test_data_set_0"))
        for kind in ("input", "output"):
            i = 0
            while os.path.exists(os.path.join(case_dir, "%s_%d.pb" % (kind, i))):
                with open(os.path.join(case_dir, "%s_%d.pb" % (kind, i)), "rb") as f:
                    tensor = parse_tensor(f.read())
                emit_tensor(out, "onnx_%s_%s%d" % (prefix, kind[:-3] if kind == "input" else
                                                   "out", i), tensor)
                i += 1
        out.append("")
    out.append("#endif")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
