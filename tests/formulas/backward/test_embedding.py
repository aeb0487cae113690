"""profiler.formulas.backward.embedding: the backward of EmbeddingBag (sum, mean, max;
per-sample weights) against naive gradients written with self-counting scalars (their
values checked against autograd's, so the loops are the layer's gradients), directly
and through the training profile's row."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import bruteforce as bf
from profiler.formulas.backward import embedding as BE
from backward_cases import counts as _counts, grads as _grads, training_row as _row, tally_sum as _sum


def _naive_embedding_bag_backward(table, bags, mode, g, weights=None):
    """The table's gradient: each bag's gradient (times 1/size once per bag for
    mean, times the row's weight when weighted) lands on its rows, at the argmax
    for max; sums of rows looked up twice are plain floats (not counted, the
    convention).  The weights' gradient: a dot product of g with the row."""
    tw, tp = bf.Tally(), bf.Tally()
    gt, gp = np.zeros(table.shape), []
    for b, rows in enumerate(bags):
        share = [tw.num(v) * (1 / len(rows)) for v in g[b]] if mode == "mean" else list(g[b])
        for pos, r in enumerate(rows):
            for d in range(table.shape[1]):
                if mode == "max" and table[r, d] < max(table[q, d] for q in rows):
                    continue  # only the argmax receives the gradient (ties: none in random data)
                v = tw.num(share[d]) * weights[b][pos] if weights is not None else share[d]
                gt[r, d] += bf._v(v)
            if weights is not None:
                gp.append(bf.total([tp.num(g[b, d]) * table[r, d] for d in range(table.shape[1])]).v)
    return gt, gp, tw, tp


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_backward_counts_equal_a_naive_gradient(mode):
    rng = np.random.default_rng(1)
    table = rng.normal(size=(7, 3))
    flat, offsets = [1, 4, 3, 0, 6, 2, 4, 5], [0, 3, 4]          # bags of 3, 1 and 4 rows, index 4 in two
    bags = [flat[0:3], flat[3:4], flat[4:]]
    g = rng.normal(size=(3, 3))
    gt, _, tw, _ = _naive_embedding_bag_backward(table, bags, mode, g)
    want = _grads(lambda w: F.embedding_bag(torch.tensor(flat), w, torch.tensor(offsets), mode=mode),
                  [table], g)[0]
    np.testing.assert_allclose(gt, want, rtol=1e-12)
    cost = BE.embedding_bag_backward_cost(len(flat), 3, 3, mode, False, True, False)
    assert _counts(cost) == tw.as_tuple()


def test_weighted_embedding_bag_backward_counts_equal_a_naive_gradient():
    rng = np.random.default_rng(2)
    table, weights = rng.normal(size=(6, 4)), rng.normal(size=(2, 3))
    idx = np.array([[0, 5, 5], [2, 3, 1]])
    g = rng.normal(size=(2, 4))
    gt, gp, tw, tp = _naive_embedding_bag_backward(table, idx.tolist(), "sum", g, weights)
    want = _grads(lambda w, p: F.embedding_bag(torch.tensor(idx), w, per_sample_weights=p, mode="sum"),
                  [table, weights], g)
    np.testing.assert_allclose(gt, want[0], rtol=1e-12)
    np.testing.assert_allclose(np.reshape(gp, (2, 3)), want[1], rtol=1e-12)
    assert _counts(BE.embedding_bag_backward_cost(6, 2, 4, "sum", True, True, False)) == tw.as_tuple()
    assert _counts(BE.embedding_bag_backward_cost(6, 2, 4, "sum", True, False, True)) == tp.as_tuple()


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_training_profile_counts_embedding_bag_as_a_naive_gradient(mode):
    torch.manual_seed(8)
    m = nn.EmbeddingBag(7, 3, mode=mode)
    flat, offsets = [1, 4, 3, 0, 6, 2, 4, 5], [0, 3, 4]
    counts, _ = _row(m, torch.tensor(flat), torch.tensor(offsets))
    table = m.weight.detach().double().numpy()
    bags = [flat[0:3], flat[3:4], flat[4:]]
    *_, tw, _ = _naive_embedding_bag_backward(table, bags, mode, np.random.default_rng(11).normal(size=(3, 3)))
    assert counts == tw.as_tuple()


def test_training_profile_counts_weighted_embedding_bag_as_a_naive_gradient():
    torch.manual_seed(9)
    m = nn.EmbeddingBag(6, 4, mode="sum")
    idx, weights = torch.tensor([[0, 5, 5], [2, 3, 1]]), torch.rand(2, 3, requires_grad=True)
    counts, macs = _row(m, idx, None, weights)
    *_, tw, tp = _naive_embedding_bag_backward(m.weight.detach().double().numpy(), idx.tolist(), "sum",
                                               np.random.default_rng(12).normal(size=(2, 4)),
                                               weights.detach().double().numpy())
    assert counts == _sum(tw, tp) and macs == tp.mults
