# SPDX-License-Identifier: Apache-2.0
"""The ctypes mirrors of sparq.h's structs (sparq/_lib.py) against the C compiler: a tiny
C program, compiled with the system cc in a temporary folder, prints sizeof and offsetof
of every mirrored struct and field; each must equal ctypes.sizeof and the field offset."""
import ctypes
import os
import shutil
import subprocess

import pytest

import sparq._lib as L
from conftest import REPO


def _fields(struct):
    return [name for name, _ in struct._fields_]


def test_struct_layouts_match_c(tmp_path):
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.fail("no C compiler (cc) to check the struct layouts with")
    lines = ['#include <stdio.h>', '#include <stddef.h>', '#include <sparq.h>',
             'int main(void) {']
    for s in L.STRUCTS:
        c = s._c_name
        lines.append(f'    printf("{c} sizeof %zu\\n", sizeof({c}));')
        for f in _fields(s):
            lines.append(f'    printf("{c} {f} %zu\\n", offsetof({c}, {f}));')
    lines += ['    return 0;', '}']
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines) + "\n")
    exe = tmp_path / "layout"
    subprocess.run([cc, "-std=gnu11", "-I", os.path.join(REPO, "include"), str(src), "-o",
                    str(exe)], check=True, capture_output=True, text=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    c_says = {}
    for line in out.splitlines():
        struct, field, value = line.split()
        c_says[(struct, field)] = int(value)
    checked = 0
    for s in L.STRUCTS:
        c = s._c_name
        assert ctypes.sizeof(s) == c_says[(c, "sizeof")], f"sizeof({c})"
        for f in _fields(s):
            assert getattr(s, f).offset == c_says[(c, f)], f"offsetof({c}, {f})"
            checked += 1
    assert checked > 100


def test_every_bound_function_exists():
    for name in L._PROTOS:
        assert getattr(L.lib, name) is not None
