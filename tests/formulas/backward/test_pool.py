"""profiler.formulas.backward.pool: the backward of average pooling (a scatter of
g/window), LPPool and FractionalMaxPool (routing, with the shared-argmax sums
bounded where windows may overlap), against naive gradients written with
self-counting scalars whose values are checked against autograd's, directly and
through the training profile's row."""
from __future__ import annotations

from itertools import product

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import bruteforce as bf
from profiler.formulas.backward import pool as BP
from profiler.formulas.backward.pool import avg_pool_backward_cost
from backward_cases import counts as _counts, grads as _grads, training_row as _row


def _pow(v: bf.Num, e: float) -> bf.Num:
    """v ** e, one ``other`` op (bruteforce.Num has no pow)."""
    v.t.other += 1
    return bf.Num(v.v ** e, v.t)


# --- AvgPool -----------------------------------------------------------------------------------

def test_avg_pool_backward_counts_equal_a_naive_scatter():
    """Each output gradient times 1/9, scattered over its (padded) 3×3 window; the
    first gradient landing on an input is free, each further one an addition."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(1, 2, 6, 5))
    out = F.avg_pool2d(torch.tensor(x), 3, 2, 1)
    g = rng.normal(size=tuple(out.shape))
    t = bf.Tally()
    gx = np.full(x.shape, None, dtype=object)
    for n, c, i, j in np.ndindex(g.shape):
        share = t.num(g[n, c, i, j]) * (1 / 9)
        for a, b in product(range(3), range(3)):
            r, s = 2 * i + a - 1, 2 * j + b - 1
            if 0 <= r < 6 and 0 <= s < 5:
                gx[n, c, r, s] = share if gx[n, c, r, s] is None else gx[n, c, r, s] + share
    np.testing.assert_allclose(bf.values(gx), _grads(lambda t_: F.avg_pool2d(t_, 3, 2, 1), [x], g)[0], rtol=1e-9)
    cost = avg_pool_backward_cost(x.shape, tuple(out.shape), (3, 3), (2, 2), (1, 1))
    assert (cost.mults, cost.adds, cost.other) == t.as_tuple()


# --- LPPool ------------------------------------------------------------------------------

def _naive_lp_pool_backward(x, g, p, kernel, stride):
    """t = g·y/S per output, x^(p−1)·t per window element, scattered back: the
    first gradient landing on an input is free, each further one an addition."""
    y = F.lp_pool2d(torch.tensor(x), p, kernel, stride).numpy()
    t = bf.Tally()
    gx = np.full(x.shape, None, dtype=object)
    for n, c, i, j in np.ndindex(y.shape):
        cells = [(stride[0] * i + a, stride[1] * j + b) for a, b in product(*map(range, kernel))]
        total_p = sum(x[n, c, r, q] ** p for r, q in cells)
        share = t.num(g[n, c, i, j]) * y[n, c, i, j] / total_p
        for r, q in cells:
            v = _pow(t.num(x[n, c, r, q]), p - 1) * share
            gx[n, c, r, q] = v if gx[n, c, r, q] is None else gx[n, c, r, q] + v
    return bf.values(gx), t


@pytest.mark.parametrize("p,kernel,stride", [(2, (2, 2), (2, 2)), (3, (3, 2), (2, 1)), (1.5, (2, 3), (1, 2))])
def test_lp_pool_backward_counts_equal_a_naive_gradient(p, kernel, stride):
    rng = np.random.default_rng(4)
    x = rng.uniform(0.5, 2.0, size=(1, 2, 5, 6))
    y = F.lp_pool2d(torch.tensor(x), p, kernel, stride)
    g = rng.normal(size=tuple(y.shape))
    gx, t = _naive_lp_pool_backward(x, g, p, kernel, stride)
    want = _grads(lambda a: F.lp_pool2d(a, p, kernel, stride), [x], g)[0]
    np.testing.assert_allclose(gx, want, rtol=1e-9, atol=1e-12)
    assert _counts(BP.lp_pool_backward_cost(x.shape, tuple(y.shape), kernel, stride)) == t.as_tuple()


# --- FractionalMaxPool ---------------------------------------------------------------------

def _fractional_starts(n_in, n_out, k, u):
    """The window starts torch's fractional max pool uses along one dimension for
    sample u, read off its argmax on an increasing input (the window's last cell)."""
    x = torch.arange(float(n_in)).reshape(1, 1, 1, n_in)
    _, idx = F.fractional_max_pool2d(x, (1, k), output_size=(1, n_out), return_indices=True,
                                     _random_samples=torch.tensor([[[u, 0.0]]], dtype=torch.float32))
    return [int(i) - (k - 1) for i in idx.flatten()]


@pytest.mark.parametrize("n_in,n_out,k", [(8, 4, 2), (9, 4, 3), (10, 4, 3), (13, 4, 3), (13, 4, 4),
                                          (12, 4, 3), (7, 7, 1), (6, 1, 4), (11, 3, 4), (16, 5, 3)])
def test_fractional_windows_may_overlap_exactly_when_some_sample_gives_overlapping_windows(n_in, n_out, k):
    steps = [b - a for u in np.linspace(0, 0.999, 200)
             for a, b in zip(*(lambda s: (s, s[1:]))(_fractional_starts(n_in, n_out, k, float(u))))]
    seen = bool(steps) and min(steps) < k
    assert BP.fractional_windows_overlap((n_in,), (n_out,), (k,)) == seen


@pytest.mark.parametrize("kernel,out,overlap", [(2, (4, 5), False), (3, (4, 4), True)])
def test_fractional_max_pool_backward_routes_the_gradient_and_bounds_the_shared_argmax_sums(kernel, out, overlap):
    """Routing costs nothing; inputs that are the argmax of several windows sum
    their gradients (first free, then 1 add each), at most 1 per output: counted
    at that bound where windows may overlap, 0 where they cannot."""
    rng = np.random.default_rng(5)
    x = torch.tensor(rng.normal(size=(2, 3, 8, 10)))
    cost = BP.fractional_max_pool_backward_cost(tuple(x.shape), (2, 3, *out), (kernel, kernel))
    assert _counts(cost) == (0, 2 * 3 * out[0] * out[1] if overlap else 0, 0)
    most = 0
    for seed in range(20):
        samples = torch.tensor(np.random.default_rng(seed).uniform(size=(2, 3, 2)))
        xr = x.clone().requires_grad_()
        y, idx = F.fractional_max_pool2d(xr, kernel, output_size=out, return_indices=True, _random_samples=samples)
        g = torch.tensor(rng.normal(size=y.shape))
        t = bf.Tally()
        gx = np.full(x.numel(), None, dtype=object)
        for (n, c, i, j), where in zip(np.ndindex(*y.shape), idx.flatten().tolist()):
            cell = (n * 3 + c) * x.shape[2] * x.shape[3] + where
            v = g[n, c, i, j].item()
            gx[cell] = t.num(v) if gx[cell] is None else gx[cell] + v
        (y * g).sum().backward()
        np.testing.assert_allclose(bf.values(gx), xr.grad.flatten().numpy(), rtol=1e-12)
        assert t.mults == t.other == 0 and t.adds <= cost.adds
        most = max(most, t.adds)
    assert (most > 0) == overlap


# --- through the training profile ----------------------------------------------------------

def test_training_profile_counts_lp_pool_as_a_naive_gradient():
    torch.manual_seed(11)
    x = (torch.rand(2, 3, 7, 8) + 0.5).requires_grad_()
    counts, _ = _row(nn.LPPool2d(3, (3, 2), stride=(2, 1)), x)
    y = F.lp_pool2d(x.detach(), 3, (3, 2), (2, 1))
    g = np.random.default_rng(14).normal(size=tuple(y.shape))
    _, t = _naive_lp_pool_backward(x.detach().double().numpy(), g, 3, (3, 2), (2, 1))
    assert counts == t.as_tuple()


@pytest.mark.parametrize("kernel,out,overlap", [(2, (4, 5), False), (3, (4, 4), True)])
def test_training_profile_counts_fractional_max_pool_as_routing(kernel, out, overlap):
    """Routing is free; shared argmaxes at the bound of 1 addition per output where
    windows may overlap (see the routing test above), none where they cannot."""
    x = torch.randn(2, 3, 8, 10, requires_grad=True)
    counts, _ = _row(nn.FractionalMaxPool2d(kernel, output_size=out), x)
    assert counts == (0, 2 * 3 * out[0] * out[1] if overlap else 0, 0)
