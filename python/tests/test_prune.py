# SPDX-License-Identifier: Apache-2.0
"""Pruning masks against numpy references; w untouched unless zero_pruned; monotone
masks; the polynomial schedule."""
import numpy as np
import pytest

import sparq
from conftest import weights


def _ref_global(w, s):
    n = w.size
    k = int(np.floor(s * n + 0.5))
    # increasing |w|, ties: higher index first
    order = np.lexsort((-np.arange(n), np.abs(w).ravel()))
    mask = np.ones(n, np.uint8)
    mask[order[:k]] = 0
    return mask.reshape(w.shape)


def test_magnitude_global_matches_reference(rng):
    w = weights(rng, 23, 41)
    w[2, :5] = 0.5          # ties
    w[4, 3] = -0.5
    before = w.copy()
    for s in (0.0, 0.3, 0.5, 0.9, 1.0):
        mask = sparq.prune_magnitude(w, s)
        assert mask.dtype == np.uint8 and mask.shape == w.shape
        assert np.array_equal(mask, _ref_global(w, s)), s
    assert np.array_equal(w, before)  # not modified without zero_pruned


def test_magnitude_row_prunes_the_same_count_per_row(rng):
    w = weights(rng, 10, 37)
    mask = sparq.prune_magnitude(w, 0.7, scope="row")
    k = int(np.floor(0.7 * 37 + 0.5))
    assert np.all((mask == 0).sum(axis=1) == k)
    for r in range(10):
        assert np.array_equal(mask[r], _ref_global(w[r:r + 1], 0.7)[0])


def test_zero_pruned_modifies_in_place(rng):
    w = weights(rng, 8, 16)
    orig = w.copy()
    mask = sparq.prune_magnitude(w, 0.5, zero_pruned=True)
    assert np.all(w[mask == 0] == 0) and np.array_equal(w[mask == 1], orig[mask == 1])
    with pytest.raises(ValueError):
        sparq.prune_magnitude(orig[:, ::2], 0.5, zero_pruned=True)  # not contiguous


def test_monotone_masks(rng):
    w = weights(rng, 16, 32)
    m1 = sparq.prune_magnitude(w, 0.5)
    w2 = weights(rng, 16, 32)  # weights changed by training
    m2 = sparq.prune_magnitude(w2, 0.7, previous_mask=m1)
    assert np.all(m2[m1 == 0] == 0)  # nothing revived
    assert (m2 == 0).sum() == int(np.floor(0.7 * w.size + 0.5))
    m3 = sparq.prune_magnitude(w2, 0.7, previous_mask=m1.astype(bool))
    assert np.array_equal(m2, m3)


def test_blocks(rng):
    w = weights(rng, 32, 48)
    mask = sparq.prune_blocks(w, 8, 16, 0.5)
    blocks = mask.reshape(4, 8, 3, 16).transpose(0, 2, 1, 3).reshape(12, -1)
    assert all(b.min() == b.max() for b in blocks)  # whole blocks
    assert (blocks[:, 0] == 0).sum() == 6
    norms = (w.reshape(4, 8, 3, 16).transpose(0, 2, 1, 3).reshape(12, -1) ** 2).sum(axis=1)
    kept = blocks[:, 0] == 1
    assert norms[kept].min() >= norms[~kept].max()
    l1 = sparq.prune_blocks(w, 8, 16, 0.5, norm="l1")
    assert l1.shape == w.shape
    with pytest.raises(sparq.Error) as e:
        sparq.prune_blocks(w, 3, 16, 0.5)
    assert e.value.status == "SPARQ_ERROR_INVALID_ARGUMENT"
    with pytest.raises(ValueError):
        sparq.prune_blocks(w, 8, 16, 0.5, norm="linf")


def test_nm(rng):
    w = weights(rng, 8, 30)  # a tail group of 2
    mask = sparq.prune_nm(w, 2, 4)
    for r in range(8):
        for g in range(0, 28, 4):
            grp = np.abs(w[r, g:g + 4])
            assert mask[r, g:g + 4].sum() == 2
            assert set(np.flatnonzero(mask[r, g:g + 4])) == set(np.argsort(-grp)[:2])
        assert mask[r, 28:].sum() == 2
    prev = np.ones_like(mask)
    prev[0, 0] = 0
    m2 = sparq.prune_nm(w, 2, 4, previous_mask=prev)
    assert m2[0, 0] == 0
    with pytest.raises(sparq.Error):
        sparq.prune_nm(w, 4, 4)


def test_schedule_matches_formula():
    kw = dict(initial_sparsity=0.1, final_sparsity=0.9, start_step=100, num_steps=10,
              step_interval=50)
    for t in (0, 100, 150, 349, 350, 600, 601, 10_000):
        u = min(max((t - 100) / 500.0, 0.0), 1.0)
        ref = 0.9 + (0.1 - 0.9) * (1.0 - u) ** 3
        assert sparq.prune_schedule_sparsity(t, **kw) == pytest.approx(ref, abs=1e-15)
    mid = sparq.prune_schedule_sparsity(350, **kw)
    assert mid == pytest.approx(0.9 + (0.1 - 0.9) / 8)
    assert sparq.prune_schedule_sparsity(5, final_sparsity=0.5, num_steps=10) == \
        pytest.approx(0.5 - 0.5 * 0.5 ** 3)
    with pytest.raises(sparq.Error):
        sparq.prune_schedule_sparsity(0, final_sparsity=1.5, num_steps=10)
    with pytest.raises(sparq.Error):
        sparq.prune_schedule_sparsity(0, final_sparsity=0.5, num_steps=0)


def test_prune_argument_errors(rng):
    w = weights(rng, 4, 8)
    with pytest.raises(ValueError):
        sparq.prune_magnitude(w.astype(np.float16), 0.5)
    with pytest.raises(ValueError):
        sparq.prune_magnitude(w.tolist(), 0.5)
    with pytest.raises(ValueError):
        sparq.prune_magnitude(w, 0.5, scope="column")
    with pytest.raises(ValueError):
        sparq.prune_magnitude(w, 0.5, previous_mask=np.ones((4, 9), np.uint8))
    with pytest.raises(ValueError):
        sparq.prune_magnitude(w, 0.5, previous_mask=np.ones((4, 8), np.int32))
    with pytest.raises(sparq.Error) as e:
        sparq.prune_magnitude(w, 1.5)
    assert e.value.status == "SPARQ_ERROR_INVALID_ARGUMENT"
