# SPDX-License-Identifier: Apache-2.0
"""The pyopencl path: Matrix.enqueue on the caller's queue, buffers and events (no
copies, an event back), on a context sparq wraps (Context.wrap) and on sparq's own
context seen through pyopencl; both against the numpy path."""
import numpy as np
import pytest

import sparq
from conftest import need, weights

cl = need("pyopencl")


def _ref(x, w):
    return x.astype(np.float64) @ w.astype(np.float64).T


@pytest.fixture(scope="module")
def wrapped():
    base = sparq.Context()
    dev = cl.Device.from_int_ptr(base.cl_device)
    clctx = cl.Context([dev])
    ctx = sparq.Context.wrap(clctx, dev)
    yield clctx, dev, ctx
    ctx.close()
    base.close()


@pytest.mark.parametrize("fmt", ["csr0.9+i8-row", "2:4+f16", "dense"])
def test_enqueue_matches_numpy_path(wrapped, rng, fmt):
    clctx, dev, ctx = wrapped
    assert ctx.choice == "wrapped by the caller"
    assert ctx.cl_context == clctx.int_ptr
    w = weights(rng, 64, 96)
    p = sparq.pack(w, fmt)
    m = ctx.matrix(p)
    mf = cl.mem_flags
    for queue_props in (0, cl.command_queue_properties.OUT_OF_ORDER_EXEC_MODE_ENABLE):
        q = cl.CommandQueue(clctx, dev, properties=queue_props)
        batch = 5
        x = weights(rng, batch + 1, 96)
        b = weights(rng, 1, 64)[0]
        xb = cl.Buffer(clctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=x)
        bb = cl.Buffer(clctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=b)
        yb = cl.Buffer(clctx, mf.READ_WRITE, (batch + 2) * 64 * 4)
        marker = cl.enqueue_marker(q)
        ev = m.enqueue(q, xb, yb, batch, wait_for=[marker], bias=bb, activation="relu",
                       x_offset=96, y_offset=64)
        assert isinstance(ev, cl.Event)
        y = np.zeros((batch + 2, 64), np.float32)
        cl.enqueue_copy(q, y, yb, wait_for=[ev]).wait()
        assert ev.command_execution_status == cl.command_execution_status.COMPLETE
        via_numpy = m(x[1:], bias=b, activation="relu")
        np.testing.assert_allclose(y[1:batch + 1], via_numpy, rtol=1e-5, atol=1e-5)
        ref = np.maximum(_ref(x[1:], p.unpack()) + b, 0)
        np.testing.assert_allclose(y[1:batch + 1], ref, rtol=0,
                                   atol=1e-4 * max(1.0, np.abs(ref).max()))


def test_enqueue_on_sparqs_own_context(rng):
    with sparq.Context() as ctx:
        clctx = cl.Context.from_int_ptr(ctx.cl_context)
        q = cl.CommandQueue.from_int_ptr(ctx.cl_queue)
        p = sparq.pack(weights(rng, 16, 32), "csr0.5")
        m = ctx.matrix(p)
        x = weights(rng, 2, 32)
        mf = cl.mem_flags
        xb = cl.Buffer(clctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=x)
        yb = cl.Buffer(clctx, mf.READ_WRITE, 2 * 16 * 4)
        ev = m.enqueue(q, xb, yb, 2)
        y = np.empty((2, 16), np.float32)
        cl.enqueue_copy(q, y, yb, wait_for=[ev]).wait()
        np.testing.assert_allclose(y, m(x), rtol=1e-6, atol=1e-6)


def test_enqueue_errors(wrapped, rng):
    clctx, dev, ctx = wrapped
    m = ctx.matrix(sparq.pack(weights(rng, 16, 32), "csr0.5"))
    q = cl.CommandQueue(clctx, dev)
    mf = cl.mem_flags
    xb = cl.Buffer(clctx, mf.READ_WRITE, 32 * 4)
    yb = cl.Buffer(clctx, mf.READ_WRITE, 16 * 4)
    with pytest.raises(sparq.Error) as e:
        m.enqueue(q, xb, yb, 2)  # two rows do not fit the buffers
    assert e.value.status == "SPARQ_ERROR_OUT_OF_BOUNDS" and e.value.message
    with pytest.raises(ValueError):
        m.enqueue(q, xb, yb, 0)
    with pytest.raises(ValueError):
        m.enqueue(q, "x", yb, 1)
    with pytest.raises(ValueError):
        sparq.Context.wrap(None, dev)
