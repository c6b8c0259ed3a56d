# SPDX-License-Identifier: Apache-2.0
"""pack with format strings, unpack round trips for every structure, bits per weight,
files: save / load / list."""
import json
import struct

import numpy as np
import pytest

import sparq
from conftest import read_safetensors, weights

ENCODINGS = ["f32", "f16", "i8-row", "i8-tensor", "i8-g32-asym", "i4-g128", "i4-row-asym"]


def _pruned(w, structure, sparsity):
    w = w.copy()
    if structure.startswith("csr") and sparsity is not None:
        sparq.prune_magnitude(w, sparsity, scope="row", zero_pruned=True)
    elif structure.startswith("bsr") and sparsity is not None:
        r, c = map(int, structure[3:].split("x"))
        sparq.prune_blocks(w, r, c, sparsity, zero_pruned=True)
    elif ":" in structure:
        n, m = map(int, structure.split(":"))
        sparq.prune_nm(w, n, m, zero_pruned=True)
    return w


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("structure,sparsity", [
    ("dense", None), ("csr", 0.9), ("csr", 0.5), ("csr", None), ("bsr4x8", 0.5),
    ("bsr16x16", 0.75), ("2:4", None), ("1:8", None)])
def test_round_trip(rng, structure, sparsity, encoding):
    w = weights(rng, 40, 136)
    w[0, :30] = 0.0
    spelled = structure + ("" if sparsity is None else str(sparsity)) + "+" + encoding
    before = w.copy()
    p = sparq.pack(w, spelled)
    assert np.array_equal(w, before)  # pack never modifies w
    assert p.rows == 40 and p.cols == 136 and p.shape == (40, 136)
    assert p.format == f"{structure}+{encoding}"
    assert p.bits_per_weight == pytest.approx(p.nbytes * 8 / (40 * 136))
    pruned = _pruned(w, structure, sparsity)
    ref = sparq.fake_quantize(pruned, encoding)
    got = p.unpack()
    assert got.dtype == np.float32 and got.shape == (40, 136)
    # every structure quantizes with the dense rules and scale indices: bit for bit
    assert np.array_equal(got.view(np.uint32), ref.view(np.uint32))
    assert np.all(got[pruned == 0] == 0)
    if structure == "csr":
        assert p.stored_values == np.count_nonzero(pruned)
    if structure == "dense":
        assert p.stored_values == 40 * 136


def test_csr_sparsity_is_per_row_and_global_on_request(rng):
    w = weights(rng, 20, 100)
    p = sparq.pack(w, "csr0.9")
    assert np.all((p.unpack() != 0).sum(axis=1) == 10)
    g = sparq.pack(w, "csr0.9", prune_scope="global")
    assert (g.unpack() != 0).sum() == 200
    assert sparq.pack(w, "csr.5+f16").stored_values == 1000
    assert sparq.pack(w, "csr1").stored_values == 0


def test_format_spelling_errors(rng):
    w = weights(rng, 8, 8)
    for bad in ("csr2.0+f32", "dense0.5+f32", "csr+i3-row", "bsr3x3+f32", "2:4x", "coo"):
        with pytest.raises((sparq.Error, ValueError)) as e:
            sparq.pack(w, bad)
        if isinstance(e.value, sparq.Error):
            assert e.value.status == "SPARQ_ERROR_INVALID_ARGUMENT"
    with pytest.raises(ValueError):
        sparq.pack(w, 3)
    with pytest.raises(ValueError):
        sparq.pack(w.astype(np.float64), "csr")
    with pytest.raises(ValueError):
        sparq.pack(np.zeros((0, 4), np.float32), "csr")


def test_f16_overflow_is_invalid_data(rng):
    w = weights(rng, 4, 4)
    w[1, 1] = 1e6
    with pytest.raises(sparq.Error) as e:
        sparq.pack(w, "dense+f16")
    assert e.value.status == "SPARQ_ERROR_INVALID_DATA"


def test_arrays(rng):
    w = weights(rng, 6, 20)
    p = sparq.pack(w, "csr0.5+i8-row")
    a = p.arrays()
    assert list(a) == ["row_ptr", "col_idx", "values", "scales"]
    assert a["row_ptr"].dtype == np.uint32 and a["row_ptr"][-1] == 60
    assert a["col_idx"].dtype == np.uint16 and a["values"].dtype == np.int8
    assert sum(v.nbytes for v in a.values()) == p.nbytes


def test_save_load_list(rng, tmp_path):
    path = tmp_path / "m.safetensors"
    mats = {"a.weight": sparq.pack(weights(rng, 12, 64), "csr0.8+i8-row"),
            "b.weight": sparq.pack(weights(rng, 8, 64), "2:4+i4-g32"),
            "c": sparq.pack(weights(rng, 16, 32), "bsr4x4.5+f16")}
    sparq.save_packed(path, mats, metadata={"note": "test"})
    assert sparq.list_packed(path) == [("a.weight", "csr+i8-row", 12, 64),
                                       ("b.weight", "2:4+i4-g32", 8, 64),
                                       ("c", "bsr4x4+f16", 16, 32)]
    for name, p in mats.items():
        q = sparq.load_packed(path, name)
        assert q.format == p.format and np.array_equal(q.unpack(), p.unpack())
    one = tmp_path / "one.safetensors"
    mats["c"].save(one, "layer")
    assert sparq.list_packed(one) == [("layer", "bsr4x4+f16", 16, 32)]
    with pytest.raises(sparq.Error) as e:
        sparq.load_packed(path, "missing")
    assert e.value.status == "SPARQ_ERROR_INVALID_FORMAT"
    empty = tmp_path / "plain.safetensors"
    sparq.save_packed(empty, {}, tensors={"t": np.zeros(3, np.float32)})
    assert sparq.list_packed(empty) == []
    # malformed metadata of one matrix: the listing says which (sparq_packed_list)
    blob = path.read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    header["__metadata__"]["b.weight.rows"] = "eight"
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(struct.pack("<Q", len(text)) + text + blob[8 + n:])
    with pytest.raises(sparq.Error) as e:
        sparq.list_packed(bad)
    assert e.value.status == "SPARQ_ERROR_INVALID_FORMAT" and "'b.weight'" in str(e.value)
    with pytest.raises(sparq.Error) as e:
        sparq.list_packed(tmp_path / "absent.safetensors")
    assert e.value.status == "SPARQ_ERROR_IO"


def test_save_packed_tensors(rng, tmp_path):
    """Plain tensors beside packed matrices, read back by an independent reader."""
    path = tmp_path / "model.safetensors"
    p = sparq.pack(weights(rng, 8, 32), "csr0.5+i8-row")
    plain = {"bias": rng.standard_normal(8).astype(np.float32),
             "stats": rng.standard_normal((2, 3)),                       # float64
             "ids": np.arange(6, dtype=np.int64).reshape(3, 2),
             "half": rng.standard_normal(4).astype(np.float16),
             "flags": np.array([True, False, True]),
             "big": np.arange(5, dtype=">f4"),                            # big-endian
             "scalar": np.array(3, dtype=np.int32),
             "empty": np.zeros((0, 4), np.float32),
             "bf": ("BF16", np.array([0x3f80, 0xc000], np.uint16))}
    sparq.save_packed(path, {"fc.weight": p}, metadata={"k": "v"}, tensors=plain)
    t, meta, dtypes = read_safetensors(path)
    assert meta["k"] == "v"
    assert dtypes["stats"] == "F64" and dtypes["flags"] == "BOOL" and dtypes["bf"] == "BF16"
    assert dtypes["half"] == "F16" and dtypes["big"] == "F32" and dtypes["scalar"] == "I32"
    for name in ("bias", "stats", "ids", "empty"):
        assert t[name].shape == plain[name].shape and np.array_equal(t[name], plain[name])
    assert np.array_equal(t["half"], plain["half"].view(np.uint16))
    assert list(t["flags"]) == [1, 0, 1] and list(t["big"]) == [0, 1, 2, 3, 4]
    assert t["scalar"].shape == () and int(t["scalar"]) == 3
    assert list(t["bf"]) == [0x3f80, 0xc000]
    assert np.array_equal(sparq.load_packed(path, "fc.weight").unpack(), p.unpack())
    # refused before anything is written: no file appears
    bad = tmp_path / "bad.safetensors"
    for tensors in ({"o": np.array(["x"], dtype=object)}, {"c": np.zeros(2, np.complex64)},
                    {"l": [1.0, 2.0]}, {"b": ("F8", np.zeros(2, np.uint16))}):
        with pytest.raises(ValueError):
            sparq.save_packed(bad, {"fc.weight": p}, tensors=tensors)
        assert not bad.exists()
    with pytest.raises(sparq.Error) as e:   # a tensor name a packed array already has
        sparq.save_packed(bad, {"fc": p}, tensors={"fc.values": np.zeros(1, np.float32)})
    assert e.value.status == "SPARQ_ERROR_INVALID_ARGUMENT" and not bad.exists()


def test_sharded_folder(rng, tmp_path):
    """A model folder of shards and their index (as sparq convert --keep-split writes):
    list_packed sees every shard's matrices, load_packed finds the right shard."""
    a = sparq.pack(weights(rng, 8, 32), "csr0.5+i8-row")
    b = sparq.pack(weights(rng, 4, 16), "2:4+f16")
    names = {"model-00001-of-00002.safetensors": ({"a.weight": a},
                                                  {"a.bias": np.zeros(8, np.float32)}),
             "model-00002-of-00002.safetensors": ({"b.weight": b}, {})}
    weight_map = {}
    for shard, (mats, tensors) in names.items():
        sparq.save_packed(tmp_path / shard, mats, tensors=tensors)
        weight_map.update({n: shard for n in read_safetensors(tmp_path / shard)[0]})
    (tmp_path / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": weight_map}))
    assert sparq.list_packed(tmp_path) == [("a.weight", "csr+i8-row", 8, 32),
                                           ("b.weight", "2:4+f16", 4, 16)]
    assert np.array_equal(sparq.load_packed(tmp_path, "b.weight").unpack(), b.unpack())
    assert np.array_equal(sparq.load_packed(tmp_path, "a.weight").unpack(), a.unpack())
    with pytest.raises(sparq.Error) as e:
        sparq.load_packed(tmp_path, "c.weight")
    assert e.value.status == "SPARQ_ERROR_INVALID_FORMAT"
    # an index that names a missing shard is refused (sparq_model_open)
    weight_map["b.weight.values"] = "model-00003-of-00002.safetensors"
    (tmp_path / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": weight_map}))
    with pytest.raises(sparq.Error) as e:
        sparq.list_packed(tmp_path)
    assert e.value.status == "SPARQ_ERROR_IO" and "model-00003-of-00002" in str(e.value)


def test_closed_packed(rng):
    p = sparq.pack(weights(rng, 4, 4), "dense")
    p.close()
    p.close()
    with pytest.raises(ValueError):
        p.unpack()
    assert "closed" in repr(p)
