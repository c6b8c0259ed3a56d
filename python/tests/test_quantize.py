# SPDX-License-Identifier: Apache-2.0
"""fake_quantize, quantize and Quantized.dequantize against each other (bit for bit) and
against a numpy model of sparq.h's quantizer rules."""
import numpy as np
import pytest

import sparq
from conftest import weights

ENCODINGS = ["f32", "f16"] + [
    f"{e}-{g}{a}" for e in ("i8", "i4")
    for g in ("tensor", "row", "g32", "g64", "g128", "g256") for a in ("", "-asym")]


@pytest.mark.parametrize("quant", ENCODINGS)
@pytest.mark.parametrize("calibration", ["minmax", "percentile", "mse"])
def test_fake_quantize_equals_quantize_dequantize(rng, quant, calibration):
    w = weights(rng, 19, 300)  # ragged groups: 300 % 32, 64, 128, 256 != 0; odd rows
    w[3, :40] = 0.0             # pruned zeros stay exact
    w[5] = 0.0                  # an all-zero row: scale 0
    fq = sparq.fake_quantize(w, quant, calibration=calibration)
    q = sparq.quantize(w, quant, calibration=calibration)
    dq = q.dequantize()
    assert fq.dtype == np.float32 and fq.shape == w.shape
    assert np.array_equal(fq.view(np.uint32), dq.view(np.uint32)), quant
    assert np.all(fq[3, :40] == 0) and np.all(fq[5] == 0)
    assert q.quant == quant


def test_fake_quantize_f32_is_identity_and_f16_rounds(rng):
    w = weights(rng, 8, 40)
    assert np.array_equal(sparq.fake_quantize(w, "f32"), w)
    assert np.array_equal(sparq.fake_quantize(w, "f16"), w.astype(np.float16).astype(np.float32))


def _round_half_even(x):
    return np.round(x)  # numpy rounds half to even


@pytest.mark.parametrize("bits", [8, 4])
def test_symmetric_row_matches_the_rules(rng, bits):
    w = weights(rng, 7, 50)
    qmax = 127 if bits == 8 else 7
    scale = (np.abs(w).max(axis=1) / qmax).astype(np.float32)
    codes = np.clip(_round_half_even(w.astype(np.float64) / scale[:, None].astype(np.float64)),
                    -qmax, qmax)
    ref = (codes * scale[:, None]).astype(np.float32)
    got = sparq.fake_quantize(w, f"i{bits}-row")
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6)
    q = sparq.quantize(w, f"i{bits}-row")
    np.testing.assert_allclose(q.scales, scale, rtol=1e-7)
    assert q.zero_points is None


def test_shapes_of_codes_scales_and_zero_points(rng):
    w = weights(rng, 6, 70)
    q = sparq.quantize(w, "i4-g32-asym")
    assert q.codes.dtype == np.uint8 and q.codes.shape == (6, 35)
    assert q.scales.shape == (6, 3) and q.zero_points.shape == (6, 3)
    assert q.zero_points.dtype == np.int8
    q = sparq.quantize(w, "i8-tensor")
    assert q.codes.dtype == np.int8 and q.codes.shape == (6, 70) and q.scales.shape == (1,)
    assert np.abs(q.codes).max() == 127
    q = sparq.quantize(w, "f16")
    assert q.codes.dtype == np.uint16 and q.scales.size == 0
    assert np.array_equal(q.codes, w.astype(np.float16).view(np.uint16))


def test_straight_through_mask(rng):
    w = weights(rng, 4, 64)
    out, mask = sparq.fake_quantize(w, "i8-row", return_mask=True)
    assert mask.dtype == np.uint8 and np.all(mask == 1)  # min-max never clamps
    w[0, 0] = 100.0  # an outlier clipped by a percentile range
    out, mask = sparq.fake_quantize(w, "i8-row", calibration="percentile", percentile=90,
                                    return_mask=True, )
    assert mask[0, 0] == 0 and mask.sum() < mask.size
    assert np.array_equal(out, sparq.fake_quantize(w, "i8-row", calibration="percentile",
                                                   percentile=90))


def test_quantize_errors(rng):
    w = weights(rng, 4, 8)
    with pytest.raises(sparq.Error) as e:
        sparq.fake_quantize(w, "i8-g48")
    assert e.value.status == "SPARQ_ERROR_INVALID_ARGUMENT" and "g48" in e.value.message
    w[1, 2] = np.nan
    with pytest.raises(sparq.Error) as e:
        sparq.quantize(w, "i8-row")
    assert e.value.status == "SPARQ_ERROR_INVALID_DATA" and "[1, 2]" in e.value.message
    with pytest.raises(ValueError):
        sparq.fake_quantize(w.astype(np.float64), "i8-row")
    with pytest.raises(ValueError):
        sparq.fake_quantize(w[0], "i8-row")
    with pytest.raises(ValueError):
        sparq.fake_quantize(w, "csr+i8-row")
    with pytest.raises(ValueError):
        sparq.fake_quantize(w, "i8-row", calibration="best")
