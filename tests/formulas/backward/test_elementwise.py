"""profiler.formulas.backward.elementwise: the per-element gradients of pointwise
functions (sigmoid, tanh, silu, exp) against naive gradients written with
self-counting scalars, their values checked against autograd's."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import bruteforce as bf
from pointwise_scalars import greater
from profiler.formulas.backward.elementwise import pointwise_backward_cost


def _grad(fn, inputs, g):
    """Autograd's gradients of Σ fn(inputs)·g with respect to each input (float64)."""
    ts = [torch.tensor(a, requires_grad=True) for a in inputs]
    (fn(*ts) * torch.tensor(g)).sum().backward()
    return [t.grad.numpy() for t in ts]


@pytest.mark.parametrize("name,fn,naive", [
    ("sigmoid", torch.sigmoid, lambda t, x, y, g: t.num(g) * y * (1 - t.num(y))),
    ("tanh", torch.tanh, lambda t, x, y, g: t.num(g) * (1 - t.num(y) * y)),
    ("silu", F.silu, lambda t, x, y, g: (lambda s: t.num(g) * (s * (1 + t.num(x) * (1 - s))))(
        1 / (1 + (-t.num(x)).exp()))),
    ("exp", torch.exp, lambda t, x, y, g: t.num(g) * y),
])
def test_pointwise_backward_counts_equal_naive_gradients(name, fn, naive):
    rng = np.random.default_rng(6)
    x, g = rng.normal(size=7), rng.normal(size=7)
    y = fn(torch.tensor(x)).numpy()
    t = bf.Tally()
    got = [naive(t, x[i], y[i], g[i]).v for i in range(7)]
    np.testing.assert_allclose(got, _grad(fn, [x], g)[0], rtol=1e-9)
    cost = pointwise_backward_cost(name, 7)
    assert (cost.mults, cost.adds, cost.other) == t.as_tuple()


def test_celu_backward_multiplies_by_the_precomputed_reciprocal_of_alpha():
    """x ≤ 0, the costlier branch: g·(y·(1/α) + 1), 1/α precomputed (as the forward
    counts x·(1/α)); one comparison picks the branch."""
    alpha = 1.3
    x, g = -np.linspace(0.2, 1.4, 7), np.random.default_rng(7).normal(size=7)
    y = F.celu(torch.tensor(x), alpha).numpy()
    t = bf.Tally()
    got = []
    for i in range(7):
        assert not greater(t.num(x[i]), 0.0)
        got.append((t.num(g[i]) * (t.num(y[i]) * (1 / alpha) + 1)).v)
    # autograd computes g·exp(x/α) from x, not from y: the same value to ~1e-8
    np.testing.assert_allclose(got, _grad(lambda a: F.celu(a, alpha), [x], g)[0], rtol=1e-6)
    cost = pointwise_backward_cost("celu", 7)
    assert (cost.mults, cost.adds, cost.other) == t.as_tuple() == (14, 7, 7)
