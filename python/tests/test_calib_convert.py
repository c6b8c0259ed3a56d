# SPDX-License-Identifier: Apache-2.0
"""Calibration statistics (Calib, save_calib, load_calib) and convert_file (the CLI's
ladder from Python), the latter against the `sparq` program when ctest names it
(SPARQ_CLI): the same output file, byte for byte."""
import json
import os
import struct
import subprocess

import numpy as np
import pytest

import sparq
from conftest import weights


def _write_safetensors(path, tensors, metadata=None):
    """A plain safetensors writer (numpy float32/uint8 only), independent of sparq."""
    header, blobs, offset = {}, [], 0
    names = {np.dtype(np.float32): "F32", np.dtype(np.uint8): "U8"}
    for name, a in tensors.items():
        b = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": names[a.dtype], "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def test_calib_accumulates_gram_and_sums(rng, tmp_path):
    c = sparq.Calib(24)
    x1, x2 = weights(rng, 50, 24), weights(rng, 7, 24)
    c.accumulate(x1)
    c.accumulate(x2)
    c.accumulate(x2[0])  # one row as (cols,)
    x = np.concatenate([x1, x2, x2[:1]]).astype(np.float64)
    assert c.rows == 58 and c.cols == 24
    np.testing.assert_allclose(c.gram, x.T @ x, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(c.sumsq, (x * x).sum(axis=0), rtol=1e-12)
    d = sparq.Calib(24)
    d.accumulate(x1)
    d.merge(c)
    assert d.rows == 108
    nog = sparq.Calib(24, with_gram=False)
    nog.accumulate(x1)
    assert nog.gram is None
    path = tmp_path / "stats.safetensors"
    sparq.save_calib(path, {"fc.weight": c, "other.weight": nog})
    back = sparq.load_calib(path, "fc.weight")
    assert back.rows == 58 and np.array_equal(back.gram, c.gram)
    with pytest.raises(sparq.Error) as e:
        sparq.load_calib(path, "absent.weight")
    assert e.value.status == "SPARQ_ERROR_INVALID_ARGUMENT"


def test_calib_errors(rng):
    c = sparq.Calib(8)
    with pytest.raises(ValueError):
        c.accumulate(weights(rng, 3, 9))
    with pytest.raises(ValueError):
        c.accumulate(weights(rng, 3, 8).astype(np.float64))
    x = weights(rng, 3, 8)
    x[2, 5] = np.inf
    with pytest.raises(sparq.Error) as e:
        c.accumulate(x)
    assert e.value.status == "SPARQ_ERROR_INVALID_DATA"
    with pytest.raises(ValueError):
        sparq.Calib(0)
    with pytest.raises(ValueError):
        sparq.save_calib("/tmp/x.safetensors", {"a": 3})


def _model(rng, path):
    t = {"fc1.weight": weights(rng, 64, 96), "fc1.bias": weights(rng, 1, 64)[0],
         "fc2.weight": weights(rng, 32, 64), "embed.weight": weights(rng, 10, 96),
         "ids": np.arange(5, dtype=np.uint8)}
    _write_safetensors(path, t, {"format": "pt"})
    return t


def test_convert_file(rng, tmp_path):
    src, dst = tmp_path / "model.safetensors", tmp_path / "out.safetensors"
    _model(rng, src)
    r = sparq.convert_file(src, dst, structure="csr", quant="i8-row", sparsity=0.9,
                           max_nmse=0.9)
    assert [l["name"] for l in r["layers"]] == ["fc1.weight", "fc2.weight"]
    assert {c["name"] for c in r["copied"]} == {"fc1.bias", "embed.weight", "ids"}
    assert json.loads((tmp_path / "out.safetensors.report.json").read_text()) == r
    listed = dict((n, f) for n, f, _, _ in sparq.list_packed(dst))
    assert listed == {"fc1.weight": "csr+i8-row", "fc2.weight": "csr+i8-row"}
    p = sparq.load_packed(dst, "fc1.weight")
    assert np.count_nonzero(p.unpack()) == int(0.1 * 64 * 96 + 0.5)  # global, as the CLI
    with pytest.raises(FileExistsError):
        sparq.convert_file(src, dst)
    # a gate that nothing sparse passes rolls back, here to dense i8
    r = sparq.convert_file(src, dst, structure="csr0.9", quant="i8-row", max_nmse=1e-3,
                           force=True)
    assert all(l["rolled_back"] for l in r["layers"])
    assert r["layers"][0]["format"]["name"] == "dense+i8-row"
    with pytest.raises(sparq.Error) as e:
        sparq.convert_file(src, dst, no_rollback=True, max_nmse=1e-6, force=True)
    assert e.value.status == "SPARQ_ERROR_INVALID_DATA" and "gate failed" in e.value.message
    with pytest.raises(ValueError):
        sparq.convert_file(src, dst, method="gptq", force=True)


def test_convert_file_with_statistics(rng, tmp_path):
    src, dst = tmp_path / "model.safetensors", tmp_path / "out.safetensors"
    t = _model(rng, src)
    c1, c2 = sparq.Calib(96), sparq.Calib(64)
    x = weights(rng, 200, 96)
    c1.accumulate(x)
    c2.accumulate(np.maximum(x @ t["fc1.weight"].T, 0).astype(np.float32))
    stats = tmp_path / "stats.safetensors"
    sparq.save_calib(stats, {"fc1.weight": c1, "fc2.weight": c2})
    r = sparq.convert_file(src, dst, structure="2:4", quant="i4-g32", method="gptq",
                           stats=stats, max_nmse=0.9)
    assert all(l["output_nmse"] is not None for l in r["layers"])
    assert r["options"]["method"] == "gptq"


@pytest.mark.skipif(not os.environ.get("SPARQ_CLI"), reason="SPARQ_CLI (the sparq program) "
                    "not given")
def test_convert_file_equals_the_cli(rng, tmp_path):
    src = tmp_path / "model.safetensors"
    _model(rng, src)
    args = ["--structure", "bsr4x4", "--quant", "i4-g32-asym", "--sparsity", "0.5",
            "--max-nmse", "0.3"]
    subprocess.run([os.environ["SPARQ_CLI"], "convert", *args, str(src),
                    str(tmp_path / "cli.safetensors")], check=True, capture_output=True)
    r = sparq.convert_file(src, tmp_path / "py.safetensors", structure="bsr4x4",
                           quant="i4-g32-asym", sparsity=0.5, max_nmse=0.3)
    assert (tmp_path / "cli.safetensors").read_bytes() == \
        (tmp_path / "py.safetensors").read_bytes()
    cli = json.loads((tmp_path / "cli.safetensors.report.json").read_text())
    for a, b in zip(cli["layers"], r["layers"]):
        assert a["format"] == b["format"] and a["trail"] == b["trail"]
    assert cli["options"]["damp"] == r["options"]["damp"]
