"""profiler.formulas.backward.linear: the backward of Linear and Bilinear
(EmbeddingBag: test_embedding.py) against naive gradients written
with self-counting scalars (their values checked against autograd's, so the loops
are the layers' gradients), directly and through the training profile's row."""
from __future__ import annotations

from itertools import product

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import bruteforce as bf
from profiler.formulas.backward import linear as BL
from profiler.formulas.backward.linear import linear_backward_cost
from backward_cases import counts as _counts, grads as _grads, training_row as _row, tally_sum as _sum


# --- Linear ---------------------------------------------------------------------------------

def test_linear_backward_counts_equal_a_naive_gradient():
    rng = np.random.default_rng(1)
    x, w, b = rng.normal(size=(3, 2, 5)), rng.normal(size=(4, 5)), rng.normal(size=4)
    g = rng.normal(size=(3, 2, 4))
    rows_x, rows_g = x.reshape(-1, 5), g.reshape(-1, 4)
    gx, tx = bf.linear(rows_g, w.T, None)                 # g·W: a dot product per input element
    gw, tw = bf.linear(rows_g.T, rows_x.T, None)          # gᵀ·x: a dot product per weight
    tb = bf.Tally()
    gb = [bf.total([tb.num(v) for v in rows_g[:, o]]).v for o in range(4)]
    want = _grads(lambda x_, w_, b_: F.linear(x_, w_, b_), [x, w, b], g)
    for got, ref in zip((gx.reshape(x.shape), gw, gb), want):
        np.testing.assert_allclose(got, ref, rtol=1e-9)
    for need, tally in zip([(True, False, False), (False, True, False), (False, False, True)], (tx, tw, tb)):
        cost = linear_backward_cost(x.shape, g.shape, 5, 4, *need)
        assert (cost.mults, cost.adds, cost.other) == tally.as_tuple()


# --- Bilinear ---------------------------------------------------------------------------

def _naive_bilinear_backward(x1, x2, a, g):
    """grad x1 = Σ_j (Σ_k g_k·A_kij)·x2_j; grad x2 = Σ_k (Σ_i x1_i·A_kij)·g_k; grad A =
    Σ_rows (x1_i·g_k)·x2_j, each outer product x1_i·g_k made once; grad b = Σ_rows g.
    Returns the gradients and a tally for each."""
    rows, (o, i1, i2) = x1.shape[0], a.shape
    tx1, tx2, tw, tb = bf.Tally(), bf.Tally(), bf.Tally(), bf.Tally()
    gx1 = [[bf.total([bf.total([tx1.num(g[r, k]) * a[k, i, j] for k in range(o)]) * x2[r, j]
                      for j in range(i2)]).v for i in range(i1)] for r in range(rows)]
    gx2 = [[bf.total([bf.total([tx2.num(x1[r, i]) * a[k, i, j] for i in range(i1)]) * g[r, k]
                      for k in range(o)]).v for j in range(i2)] for r in range(rows)]
    outer = {(r, k, i): tw.num(x1[r, i]) * g[r, k] for r, k, i in product(range(rows), range(o), range(i1))}
    gw = np.array([[[bf.total([outer[r, k, i] * x2[r, j] for r in range(rows)]).v for j in range(i2)]
                    for i in range(i1)] for k in range(o)])
    gb = [bf.total([tb.num(g[r, k]) for r in range(rows)]).v for k in range(o)]
    return (gx1, gx2, gw, gb), (tx1, tx2, tw, tb)


def test_bilinear_backward_counts_equal_a_naive_gradient():
    rng = np.random.default_rng(0)
    rows, i1, i2, o = 3, 4, 2, 5
    x1, x2 = rng.normal(size=(rows, i1)), rng.normal(size=(rows, i2))
    a, b, g = rng.normal(size=(o, i1, i2)), rng.normal(size=o), rng.normal(size=(rows, o))
    grads, tallies = _naive_bilinear_backward(x1, x2, a, g)
    want = _grads(lambda p, q, w, c: F.bilinear(p, q, w, c), [x1, x2, a, b], g)
    for got, ref in zip(grads, want):
        np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)
    for need, tally in zip(np.eye(4, dtype=bool), tallies):
        assert _counts(BL.bilinear_backward_cost(rows, i1, i2, o, *need)) == tally.as_tuple()


# --- through the training profile ----------------------------------------------------------

def test_training_profile_counts_bilinear_as_a_naive_gradient():
    torch.manual_seed(7)
    m = nn.Bilinear(3, 4, 5)
    x1, x2 = torch.randn(2, 3, 3), torch.randn(2, 3, 4, requires_grad=True)   # x1 wants no gradient
    counts, macs = _row(m, x1, x2)
    rng = np.random.default_rng(10)
    _, (tx1, tx2, tw, tb) = _naive_bilinear_backward(x1.reshape(6, 3).numpy(), x2.detach().reshape(6, 4).numpy(),
                                                     m.weight.detach().numpy(), rng.normal(size=(6, 5)))
    assert counts == _sum(tx2, tw, tb)
    assert macs == tx2.mults + tw.mults - 6 * 5 * 3   # the outer products x1·g are not dot products
