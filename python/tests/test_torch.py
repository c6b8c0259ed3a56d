# SPDX-License-Identifier: Apache-2.0
"""sparq.torch: the served Linear against nn.Linear on the unpacked weights, QATLinear's
fake quantization bit for bit against sparq_quantize + sparq_dequantize for every encoding
and granularity, the straight-through estimator's mask, the Pruner's schedule, monotone
masks and structures, calibrate's statistics file, convert's report and export's round
trip. Under CI a missing torch fails (conftest.need); elsewhere these tests are skipped."""
import copy
import gc
import pickle

import numpy as np
import pytest

from conftest import need, read_safetensors

torch = need("torch")
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import sparq  # noqa: E402
import sparq.torch as st  # noqa: E402

torch.set_num_threads(1)

QUANTS = ["f32", "f16"] + [f"{e}-{g}{a}" for e in ("i8", "i4")
                           for g in ("tensor", "row", "g32", "g64", "g128", "g256")
                           for a in ("", "-asym")]


def bits(a):
    return np.ascontiguousarray(a, np.float32).view(np.uint32)


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(7)


def linear(gen, cols, rows, bias=True):
    lin = nn.Linear(cols, rows, bias=bias)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(rows, cols, generator=gen) * 0.2)
        if bias:
            lin.bias.copy_(torch.randn(rows, generator=gen) * 0.1)
    return lin


# ---- the served layer -----------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["csr0.9+i8-row", "dense+f16", "2:4+i4-g32",
                                 "bsr4x40.5+i8-g32-asym", "csr0.5+f32"])
def test_linear_matches_nn_linear_on_unpacked_weights(ctx, gen, fmt):
    lin = linear(gen, 96, 40)
    served = st.Linear.from_linear(lin, fmt, context=ctx)
    w = served.unpacked_weight()
    assert served.format == sparq.pack(st._np_weight(lin.weight), fmt).format
    assert served.bits_per_weight > 0
    x = torch.randn(2, 3, 96, generator=gen)
    y = served(x)
    assert y.shape == (2, 3, 40) and y.dtype == torch.float32 and not y.requires_grad
    ref = F.linear(x.double(), w.double(), lin.bias.detach().double())
    assert torch.allclose(y.double(), ref, rtol=1e-5, atol=1e-5)
    # one row, no leading dims; an activation fused into the epilogue
    relu = st.Linear.from_linear(lin, fmt, context=ctx, activation="relu")
    assert torch.allclose(relu(x[0, 0]).double(), torch.relu(ref[0, 0]), rtol=1e-5, atol=1e-5)
    assert "batch" in served.explain(6) or served.explain(6)
    # the packed weights are what sparq.pack makes of the layer's weights
    assert np.array_equal(bits(w.numpy()),
                          bits(sparq.pack(st._np_weight(lin.weight), fmt).unpack()))


def test_served_model_deepcopies_without_duplicating_handles(ctx, gen):
    model = nn.Sequential(linear(gen, 32, 8), nn.ReLU())
    st.convert(model, "csr0.5+i8-row", context=ctx)
    twin = copy.deepcopy(model)
    assert twin[0].matrix is model[0].matrix and twin[0].packed is model[0].packed
    assert twin[0].bias is not model[0].bias
    x = torch.randn(3, 32, generator=gen)
    assert torch.equal(twin(x), model(x))
    del model
    gc.collect()
    assert twin(x).shape == (3, 8)
    with pytest.raises(TypeError):
        pickle.dumps(twin)


def test_linear_without_bias_and_bad_inputs(ctx, gen):
    lin = linear(gen, 32, 8, bias=False)
    served = st.Linear.from_linear(lin, "dense+f32", context=ctx)
    x = torch.randn(5, 32, generator=gen)
    assert torch.allclose(served(x), lin(x).detach(), rtol=1e-5, atol=1e-5)
    assert served(torch.zeros(0, 32)).shape == (0, 8)
    with pytest.raises(ValueError):
        served(torch.zeros(4, 31))
    with pytest.raises(ValueError):
        st.Linear.from_linear(lin, None, context=ctx)


# ---- quantization-aware training --------------------------------------------------------

@pytest.mark.parametrize("quant", QUANTS)
def test_qat_fake_quant_equals_sparq_quantize_dequantize(gen, quant):
    """What QATLinear trains with is what sparq stores: bit for bit, masked or not, for
    every encoding and granularity (300 columns: ragged last groups)."""
    q = st.QATLinear(300, 12, quant=quant)
    with torch.no_grad():
        q.weight.copy_(torch.randn(12, 300, generator=gen) * torch.linspace(0.01, 3, 12)[:, None])
        q.weight[3] = 0.0                      # an all-zero row: scale 0
        q.weight[5, ::7] *= 40.0               # outliers
    w = st._np_weight(q.weight)
    assert np.array_equal(bits(q.quantized_weight().numpy()),
                          bits(sparq.quantize(w, quant).dequantize()))
    # with a mask: the zeros take no part in the scales, as when packed
    mask = (torch.rand(12, 300, generator=gen) > 0.6).to(torch.uint8)
    q.weight_mask.copy_(mask)
    q.structure = "csr"
    wm = np.where(mask.numpy() != 0, w, np.float32(0))
    fq = q.quantized_weight().numpy()
    assert np.array_equal(bits(fq), bits(sparq.quantize(wm, quant).dequantize()))
    assert np.array_equal(bits(fq), bits(sparq.pack(wm, q.format).unpack()))
    assert q.format == "csr+" + sparq.quantize(wm, quant).quant
    # the forward multiplies by exactly those weights
    x = torch.randn(4, 300, generator=gen)
    assert torch.equal(q(x), F.linear(x, torch.from_numpy(fq), q.bias))


def test_qat_served_equals_trained(ctx, gen):
    q = st.QATLinear.from_linear(linear(gen, 64, 24), quant="i4-g32-asym")
    with torch.no_grad():
        q.weight_mask.copy_(torch.from_numpy(
            sparq.prune_magnitude(st._np_weight(q.weight), 0.75, scope="row")))
    served = st.Linear.from_linear(q, context=ctx)
    assert served.format == "csr+i4-g32-asym"
    assert np.array_equal(bits(served.unpacked_weight().numpy()),
                          bits(q.quantized_weight().numpy()))
    x = torch.randn(7, 64, generator=gen)
    assert torch.allclose(served(x), q(x).detach(), rtol=1e-5, atol=1e-5)


def test_ste_gradient_masked_outside_clip_range(gen):
    # i8 asym per row: row 0 spans [-1.5, 253.5], so scale = 255 / 255 = 1 and
    # z = round_half_even(-128 + 1.5) = -126; 253.5 / 1 - 126 = 127.5 rounds to 128 and
    # is clamped to 127: that weight lies outside the range its codes represent.
    w = torch.zeros(2, 8)
    w[0, :4] = torch.tensor([-1.5, 253.5, 100.0, 3.25])
    w[1] = torch.randn(8, generator=gen)
    w.requires_grad_(True)
    g = torch.randn(2, 8, generator=gen)
    st.fake_quantize(w, "i8-row-asym").backward(g)
    _, ste = sparq.fake_quantize(st._np_weight(w), "i8-row-asym", return_mask=True)
    assert ste[0, 1] == 0 and ste.sum() == ste.size - 1
    assert torch.equal(w.grad, g * torch.from_numpy(ste).float())

    # percentile calibration clips many: the gradient is 0 exactly where the code was
    # clamped, worked out here from sparq.quantize's scales (x / scale beyond the codes)
    q = st.QATLinear(64, 16, quant="i4-row", calibration="percentile", percentile=90)
    with torch.no_grad():
        q.weight.copy_(torch.randn(16, 64, generator=gen))
        q.weight_mask[:, ::5] = 0              # pruned weights get no gradient either
    x = torch.randn(5, 64, generator=gen)
    q(x).pow(2).sum().backward()
    wm = st._np_weight(q.masked_weight())
    qz = sparq.quantize(wm, "i4-row", calibration="percentile", percentile=90)
    r = np.rint(wm.astype(np.float64) / qz.scales.astype(np.float64)[:, None])
    clamped = (r < -7) | (r > 7)
    assert clamped.sum() > 16                  # the test means something
    dense_grad = (2 * F.linear(x, q.quantized_weight(), q.bias)).t() @ x
    expect = dense_grad * torch.from_numpy((~clamped).astype(np.float32)) * q.weight_mask
    assert torch.allclose(q.weight.grad, expect, rtol=1e-5, atol=1e-5)
    assert torch.all(q.weight.grad[torch.from_numpy(clamped)] == 0)
    assert torch.all(q.weight.grad[:, ::5] == 0)


# ---- gradual pruning ---------------------------------------------------------------------

def _train_steps(model, pruner, steps, gen, cols):
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
    seen = []
    for _ in range(steps):
        x = torch.randn(8, cols, generator=gen)
        model(x).pow(2).mean().backward()
        opt.step()
        opt.zero_grad()
        before = {n: m.weight_mask.clone() for n, m in pruner.layers}
        s = pruner.step()
        for n, m in pruner.layers:
            assert torch.all(m.weight_mask <= before[n]), "a pruned weight came back"
            assert torch.all(m.weight[m.weight_mask == 0] == 0)
        seen.append((pruner.step_count, s, {n: m.weight_mask.clone() for n, m in pruner.layers}))
    return seen


@pytest.mark.parametrize("scope", ["row", "global"])
def test_pruner_unstructured_follows_schedule(gen, scope):
    torch.manual_seed(0)
    model = nn.Sequential(st.QATLinear(64, 32, quant="i8-row"), nn.ReLU(), nn.Linear(32, 16))
    p = st.Pruner(model, "unstructured", 0.8, begin_step=2, end_step=10, frequency=2,
                  scope=scope)
    seen = _train_steps(model, p, 12, gen, 64)
    rounds = [t for t, s, _ in seen if s is not None]
    assert rounds == [2, 4, 6, 8, 10]
    for t, s, masks in seen:
        if s is None:
            continue
        expect = sparq.prune_schedule_sparsity(t, final_sparsity=0.8, start_step=2,
                                               num_steps=4, step_interval=2)
        assert s == expect
        for (name, module), m in zip(p.layers, masks.values()):
            rows, cols = m.shape
            pruned = (m == 0).sum(1) if scope == "row" else (m == 0).sum()
            want = int(np.floor(s * (cols if scope == "row" else rows * cols) + 0.5))
            assert torch.all(pruned == want), (t, name)
    assert p.sparsity == 0.8
    assert model[0].format == "csr+i8-row"
    assert all(abs(v - 0.8) < 0.02 for v in p.sparsities().values())
    assert "0.weight_mask" in model.state_dict() and "2.weight_mask" in model.state_dict()


def test_pruner_blocks_and_nm_keep_their_structure(gen):
    model = nn.Sequential(st.QATLinear(64, 32, quant="i4-g32"), nn.ReLU(), nn.Linear(32, 16))
    p = st.Pruner(model, "bsr4x4", 0.75, begin_step=0, end_step=6, frequency=2)
    _train_steps(model, p, 8, gen, 64)
    for _, m in p.layers:
        blocks = m.weight_mask.reshape(m.weight_mask.shape[0] // 4, 4, -1, 4)
        per_block = blocks.sum((1, 3))
        assert torch.all((per_block == 0) | (per_block == 16))
        assert (per_block == 0).float().mean() == 0.75
    assert model[0].format == "bsr4x4+i4-g32"

    model = nn.Sequential(st.QATLinear(64, 32), nn.ReLU(), nn.Linear(32, 16))
    p = st.Pruner(model, "2:4", None, begin_step=0, end_step=12, frequency=4)
    seen = _train_steps(model, p, 13, gen, 64)
    kept = {t: [int(m.reshape(m.shape[0], -1, 4).sum(-1).max()) for m in masks.values()]
            for t, s, masks in seen if s is not None}
    assert kept == {4: [3, 3], 8: [2, 2], 12: [2, 2]}      # dense -> 3:4 -> 2:4
    for _, m in p.layers:
        assert torch.all(m.weight_mask.reshape(m.weight_mask.shape[0], -1, 4).sum(-1) == 2)
    assert model[0].format == "2:4+i8-row"
    packed = sparq.pack(st._np_weight(model[0].masked_weight()), model[0].format)
    assert packed.format == "2:4+i8-row"


def test_pruner_rejects_bad_schedules():
    model = nn.Sequential(nn.Linear(8, 8))
    with pytest.raises(ValueError):
        st.Pruner(model, "unstructured", 0.5, begin_step=0, end_step=10, frequency=3)
    with pytest.raises(ValueError):
        st.Pruner(model, "2:4", 0.9, begin_step=0, end_step=4, frequency=2)
    with pytest.raises(ValueError):
        st.Pruner(model, "dense", 0.5)


# ---- calibration, convert, export ---------------------------------------------------------

def test_calibrate_writes_what_sparq_reads(tmp_path, gen):
    model = nn.Sequential(linear(gen, 16, 8), nn.ReLU(), linear(gen, 8, 4))
    xs = [torch.randn(5, 16, generator=gen), torch.randn(3, 2, 16, generator=gen)]
    path = tmp_path / "stats.safetensors"
    out = st.calibrate(model, xs, path)
    assert set(out) == {"0.weight", "2.weight"}
    x0 = torch.cat([xs[0], xs[1].reshape(-1, 16)]).double().numpy()
    x2 = torch.relu(model[0](torch.from_numpy(x0).float())).detach().double().numpy()
    for name, x in (("0.weight", x0), ("2.weight", x2)):
        c = sparq.load_calib(str(path), name)
        assert c.rows == 11 and c.cols == x.shape[1]
        assert np.allclose(c.gram, x.T @ x, rtol=1e-6, atol=1e-9)
        assert np.allclose(c.sumsq, (x * x).sum(0), rtol=1e-6, atol=1e-9)
    # `sparq convert --stats` semantics: the names match the model file's weights
    model_path, out_path = tmp_path / "model.safetensors", tmp_path / "out.safetensors"
    st.export(model, model_path)
    rep = sparq.convert_file(model_path, out_path, structure="dense", quant="i8-row",
                             method="gptq", stats=path, include=r"weight$", max_nmse=1.0)
    assert {layer["name"] for layer in rep["layers"]} == {"0.weight", "2.weight"}
    assert {n for n, *_ in sparq.list_packed(out_path)} == {"0.weight", "2.weight"}


def test_convert_replaces_selected_layers_and_reports(ctx, gen):
    model = nn.Sequential(linear(gen, 32, 24), nn.ReLU(), linear(gen, 24, 16), nn.ReLU(),
                          linear(gen, 16, 4))
    x = torch.randn(6, 32, generator=gen)
    rep = st.convert(model, [(r"^0$", "csr0.5+i8-row"), (r"^2$", None), (r".", "dense+f16")],
                     context=ctx)
    assert [r["name"] for r in rep] == ["0", "4"]
    assert [r["format"] for r in rep] == ["csr+i8-row", "dense+f16"]
    assert isinstance(model[0], st.Linear) and isinstance(model[2], nn.Linear)
    assert isinstance(model[1], nn.Identity) and rep[0]["activation"] == "relu"
    assert 0 < rep[0]["nmse"] < 1 and 0 <= rep[1]["nmse"] < 1e-5
    assert 5 < rep[0]["bits_per_weight"] < 32
    h = torch.relu(F.linear(x, model[0].unpacked_weight(), model[0].bias))
    h = torch.relu(model[2](h))
    ref = F.linear(h, model[4].unpacked_weight(), model[4].bias)
    assert torch.allclose(model(x), ref, rtol=1e-4, atol=1e-5)


def test_convert_qat_model_serves_what_was_trained(ctx, gen):
    model = nn.Sequential(st.QATLinear.from_linear(linear(gen, 32, 24), quant="i8-row"),
                          nn.ReLU(), st.QATLinear.from_linear(linear(gen, 24, 10), quant="i4-g32"))
    st.Pruner(model, "unstructured", 0.6, begin_step=0, end_step=1, frequency=1,
              initial_sparsity=0.6)
    x = torch.randn(9, 32, generator=gen)
    with torch.no_grad():
        trained = model(x)
    rep = st.convert(model, context=ctx)
    assert [r["format"] for r in rep] == ["csr+i8-row", "csr+i4-g32"]
    assert all(r["exact"] for r in rep)
    assert torch.allclose(model(x), trained, rtol=1e-5, atol=1e-5)


def test_export_round_trip(tmp_path, ctx, gen):
    model = nn.Sequential(st.QATLinear.from_linear(linear(gen, 40, 24), quant="i4-g32-asym"),
                          nn.ReLU(), linear(gen, 24, 8), nn.LayerNorm(8))
    st.Pruner(model, "unstructured", 0.7, begin_step=0, end_step=1, frequency=1,
              initial_sparsity=0.7, include=r"^0$")
    path = tmp_path / "m.safetensors"
    rep = st.export(model, path, recipe=[(r"^0$", model[0].format), (r"^2$", "2:4+f16")],
                    prefix="net.")
    assert [r["format"] for r in rep] == ["csr+i4-g32-asym", "2:4+f16"]
    listed = sparq.list_packed(path)
    assert [(n, f, r, c) for n, f, r, c in listed] == [
        ("net.0.weight", "csr+i4-g32-asym", 24, 40), ("net.2.weight", "2:4+f16", 8, 24)]
    back = sparq.load_packed(path, "net.0.weight").unpack()
    assert np.array_equal(bits(back), bits(model[0].quantized_weight().numpy()))
    tensors, meta, _ = read_safetensors(path)
    for key in ("net.0.bias", "net.2.bias", "net.3.weight", "net.3.bias"):
        ref = model.state_dict()[key[len("net."):]].numpy()
        assert np.array_equal(tensors[key], ref), key
    assert not any(k.endswith("weight_mask") for k in tensors)
    assert "net.0.weight" not in tensors and "net.0.weight.values" in tensors
    # served layers export their packed matrices as they are
    st.convert(model, context=ctx)
    path2 = tmp_path / "served.safetensors"
    st.export(model, path2)
    assert [f for _, f, _, _ in sparq.list_packed(path2)] == ["csr+i4-g32-asym"]
    assert np.array_equal(bits(sparq.load_packed(path2, "0.weight").unpack()), bits(back))


def test_convolution_by_im2col(ctx, gen):
    """A convolution weight packed in its GEMM form (out x in*kh*kw, C order, as sparq
    convert writes it) run through sparq_linear on im2col rows (torch's unfold: the same
    (channel, i, j) order) equals the convolution (docs/converted_models.md)."""
    w = torch.randn(8, 3, 3, 3, generator=gen)
    image = torch.randn(1, 3, 7, 6, generator=gen)
    packed = sparq.pack(w.reshape(8, -1).numpy(), "csr0.5+i8-row")
    w_served = torch.from_numpy(packed.unpack()).reshape(w.shape)
    cols = F.unfold(image, kernel_size=3)[0].T.contiguous()      # (5*4 positions, 27)
    with ctx.matrix(packed) as m:
        y = torch.from_numpy(m(cols.numpy()))                     # (20, 8)
    ref = F.conv2d(image, w_served)[0]                            # (8, 5, 4)
    assert torch.allclose(y.T.reshape(ref.shape), ref, rtol=1e-5, atol=1e-5)
