# SPDX-License-Identifier: Apache-2.0
"""Context and Matrix on the device sparq chooses (PoCL's CPU device in CI): m(x) against
numpy's x @ W^T for every structure and encodings, bias and activations, the dense and
W8A8 paths, explain / plan / prepare, lifetimes and errors."""
import gc
import threading

import numpy as np
import pytest

import sparq
from conftest import weights

FORMATS = ["dense", "dense+f16", "dense+i8-row", "dense+i4-g32", "csr0.9", "csr0.5+i8-row",
           "csr0.8+f16", "csr0.7+i4-g64-asym", "bsr4x4.5", "bsr16x16.75+i8-row", "2:4",
           "2:4+i4-g128", "1:4+i8-tensor"]


def _ref(x, w, bias=None, activation=None):
    y = x.astype(np.float64) @ w.astype(np.float64).T
    if bias is not None:
        y = y + bias
    if activation == "relu":
        y = np.maximum(y, 0)
    elif activation == "gelu":
        y = 0.5 * y * (1 + np.tanh(np.sqrt(2 / np.pi) * (y + 0.044715 * y ** 3)))
    return y


def _close(y, ref, tol=1e-4):
    scale = max(np.abs(ref).max(), 1.0)
    np.testing.assert_allclose(y, ref, rtol=0, atol=tol * scale)


@pytest.mark.parametrize("fmt", FORMATS)
def test_matrix_matches_numpy(ctx, rng, fmt):
    w = weights(rng, 96, 160)
    p = sparq.pack(w, fmt)
    wq = p.unpack()
    with ctx.matrix(p) as m:
        assert (m.rows, m.cols, m.shape) == (96, 160, (96, 160)) and m.format == p.format
        assert m.device_bytes > 0
        for batch in (1, 3, 17):
            x = weights(rng, batch, 160)
            y = m(x)
            assert y.dtype == np.float32 and y.shape == (batch, 96)
            _close(y, _ref(x, wq))


def test_bias_activation_and_vectors(ctx, rng):
    w = weights(rng, 64, 80)
    p = sparq.pack(w, "csr0.5+f32")
    m = ctx.matrix(p)
    b = weights(rng, 1, 64)[0]
    x = weights(rng, 5, 80)
    for act in (None, "relu", "gelu"):
        _close(m(x, bias=b, activation=act), _ref(x, p.unpack(), b, act))
        _close(m(x, activation=act), _ref(x, p.unpack(), None, act))
    v = m(x[2])
    assert v.shape == (64,)
    _close(v, _ref(x[2:3], p.unpack())[0])
    _close(m(np.asfortranarray(x)), _ref(x, p.unpack()))  # non-contiguous input
    out = np.full((5, 64), np.nan, np.float32)
    assert m(x, bias=b, out=out) is out
    _close(out, _ref(x, p.unpack(), b))
    for bad in (np.empty((5, 63), np.float32), np.empty((5, 64), np.float64),
                np.empty((64, 5), np.float32).T):
        with pytest.raises(ValueError):
            m(x, out=bad)
    big = weights(rng, 40, 80)  # the kept buffers grow
    _close(m(big), _ref(big, p.unpack()))
    _close(m(x[:1]), _ref(x[:1], p.unpack()))
    m.close()


def test_paths_and_w8a8(ctx, rng):
    w = weights(rng, 48, 64)
    p = sparq.pack(w, "csr0.5+f32")
    x = weights(rng, 4, 64)
    with ctx.matrix(p, path="dense") as m:
        assert m.plan(4)["path"] == "dense" and "dense" in m.explain(4)
        _close(m(x), _ref(x, p.unpack()))
    with ctx.matrix(p, path="sparse") as m:
        assert m.plan(1)["path"] == "sparse"
        _close(m(x), _ref(x, p.unpack()))
    q = sparq.pack(w, "dense+i8-row")
    with ctx.matrix(q, w8a8=True) as m:
        y = m(x)
        ref = _ref(x, q.unpack())
        assert np.linalg.norm(y - ref) / np.linalg.norm(ref) < 0.02
    with pytest.raises(sparq.Error) as e:
        ctx.matrix(sparq.pack(w, "dense+f16"), w8a8=True)
    assert e.value.status in ("SPARQ_ERROR_INVALID_ARGUMENT", "SPARQ_ERROR_UNSUPPORTED")
    with pytest.raises(ValueError):
        ctx.matrix(p, path="fast")
    with pytest.raises(ValueError):
        ctx.matrix(p, w8a8="int4")
    with pytest.raises(ValueError):
        ctx.matrix(w)


def test_explain_plan_prepare(ctx, rng):
    p = sparq.pack(weights(rng, 32, 64), "csr0.9+i8-row")
    with ctx.matrix(p) as m:
        text = m.explain(8)
        assert "kernel" in text and "holds" in text
        plan = m.plan(8)
        assert plan["kernel"] and plan["kernel"] in text and plan["packed_bytes_held"] > 0
        m.prepare([1, 8])
        m.prepare(2)
        before = ctx.stats()["programs_built"]
        m(weights(rng, 8, 64), bias=np.zeros(32, np.float32), activation="gelu")
        assert ctx.stats()["programs_built"] == before
        with pytest.raises(ValueError):
            m.explain(0)
        with pytest.raises(ValueError):
            m.prepare([])


def test_argument_errors(ctx, rng):
    p = sparq.pack(weights(rng, 16, 32), "csr0.5")
    m = ctx.matrix(p)
    x = weights(rng, 2, 32)
    for bad in (x.astype(np.float64), x[:, :31], x.reshape(1, 2, 32), x.tolist(),
                np.zeros((0, 32), np.float32)):
        with pytest.raises(ValueError):
            m(bad)
    with pytest.raises(ValueError):
        m(x, bias=np.zeros(15, np.float32))
    with pytest.raises(ValueError):
        m(x, bias=np.zeros(16, np.float64))
    with pytest.raises(ValueError):
        m(x, activation="tanh")
    m.close()
    m.close()
    with pytest.raises(ValueError):
        m(x)
    assert "closed" in repr(m)


def test_nonfinite_input_follows_the_contract(ctx, rng):
    p = sparq.pack(weights(rng, 8, 16), "dense")
    with ctx.matrix(p) as m:
        x = weights(rng, 2, 16)
        x[1, 3] = np.nan
        y = m(x)
        assert np.all(np.isnan(y[1])) and np.all(np.isfinite(y[0]))


def test_lifetimes(rng):
    p = sparq.pack(weights(rng, 16, 32), "csr0.5+f16")
    ctx = sparq.Context()
    m = ctx.matrix(p)
    ctx.close()           # the matrix holds the context
    p.close()             # and needs no packed matrix
    x = weights(rng, 3, 32)
    y = m(x)
    assert y.shape == (3, 16)
    del m
    gc.collect()
    with sparq.Context() as c2:
        m2 = c2.matrix(sparq.pack(weights(rng, 4, 4), "dense"))
    del c2
    gc.collect()
    assert m2(np.ones((1, 4), np.float32)).shape == (1, 4)  # __del__ order is free


def test_threads_share_a_matrix(ctx, rng):
    w = weights(rng, 32, 48)
    p = sparq.pack(w, "csr0.5")
    m = ctx.matrix(p)
    xs = [weights(rng, 2, 48) for _ in range(4)]
    errors = []

    def run(x):
        try:
            for _ in range(20):
                _close(m(x), _ref(x, p.unpack()))
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    threads = [threading.Thread(target=run, args=(x,)) for x in xs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_devices_and_context_choice(rng):
    found = sparq.devices()
    assert found and {"index", "name", "type", "platform_index"} <= set(found[0])
    with sparq.Context(device=0) as c:
        assert c.device_name == found[0]["name"]
        assert c.caps["name"] == found[0]["name"] and c.cl_context and c.cl_queue
    with sparq.Context(device=found[-1]["name"][:6]) as c:
        assert c.choice
    with pytest.raises(ValueError):
        sparq.Context(device=len(found))
    with pytest.raises(ValueError):
        sparq.Context(device=1.5)
    with pytest.raises(sparq.Error) as e:
        sparq.Context(device="no-such-device-anywhere")
    assert e.value.status == "SPARQ_ERROR_NO_DEVICE" and e.value.message
    assert str(e.value).startswith("SPARQ_ERROR_NO_DEVICE: ")
