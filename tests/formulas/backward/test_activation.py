"""profiler.formulas.backward.activation: the softmax and log-softmax backward
against naive gradients written with self-counting scalars, their values checked
against autograd's."""
from __future__ import annotations

import numpy as np
import torch

import bruteforce as bf
from profiler.formulas.backward.activation import log_softmax_backward_cost, softmax_backward_cost


def _grad(fn, inputs, g):
    """Autograd's gradients of Σ fn(inputs)·g with respect to each input (float64)."""
    ts = [torch.tensor(a, requires_grad=True) for a in inputs]
    (fn(*ts) * torch.tensor(g)).sum().backward()
    return [t.grad.numpy() for t in ts]


def test_softmax_and_log_softmax_backward_counts_equal_naive_gradients():
    rng = np.random.default_rng(2)
    x, g = rng.normal(size=(3, 6)), rng.normal(size=(3, 6))
    y, ly = torch.softmax(torch.tensor(x), -1).numpy(), torch.log_softmax(torch.tensor(x), -1).numpy()
    ts, tl = bf.Tally(), bf.Tally()
    gs, gl = np.empty_like(x), np.empty_like(x)
    for r in range(3):
        dot = bf.total([ts.num(y[r, j]) * g[r, j] for j in range(6)])            # Σ y·g
        gs[r] = [(ts.num(y[r, j]) * (g[r, j] - dot)).v for j in range(6)]          # y·(g − Σ)
        total_g = bf.total([tl.num(v) for v in g[r]])                              # Σ g
        gl[r] = [(g[r, j] - tl.num(ly[r, j]).exp() * total_g).v for j in range(6)]  # g − exp(y)·Σ
    np.testing.assert_allclose(gs, _grad(lambda t: torch.softmax(t, -1), [x], g)[0], rtol=1e-9)
    np.testing.assert_allclose(gl, _grad(lambda t: torch.log_softmax(t, -1), [x], g)[0], rtol=1e-9)
    for cost, tally in ((softmax_backward_cost(18, 6), ts), (log_softmax_backward_cost(18, 6), tl)):
        assert (cost.mults, cost.adds, cost.other) == tally.as_tuple()
