"""profiler.formulas.backward.reduce: the backward of the reductions called as aten
ops.  mean, cumsum, logsumexp and the 2-norm against naive gradients written with
self-counting scalars (tests/bruteforce.py), their values checked against
autograd's; sum and the selections (argmax, sort, max with indices) route the
gradient for free."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import bruteforce as bf
from formula_access import find_op_backward
from elementwise_scalars import absolute, equal, power

aten = torch.ops.aten
X = (2, 3, 4)


def _counts(op, out, x, *args, **kwargs):
    cost = find_op_backward(op)((True,), out, x, *args, **kwargs)
    return cost.mults, cost.adds, cost.other


def _autograd(fn, x, g):
    xt = torch.tensor(x, requires_grad=True)
    (fn(xt) * torch.tensor(g)).sum().backward()
    return xt.grad.numpy()


def test_mean_backward_is_one_mult_by_one_over_the_count_per_output():
    rng = np.random.default_rng(0)
    x, g = rng.normal(size=X), rng.normal(size=X[:2])
    t = bf.Tally()
    share = np.array([[(t.num(g[i, j]) * (1 / 4)).v for j in range(3)] for i in range(2)])
    np.testing.assert_allclose(np.broadcast_to(share[..., None], X), _autograd(lambda a: a.mean(-1), x, g))
    assert _counts(aten.mean, X[:2], X, [2]) == t.as_tuple() == (6, 0, 0)


def test_cumsum_backward_is_a_reversed_cumulative_sum():
    """Along dim 1 (lines of 3): each line's reversed running sum, 2 adds a line, 8 lines."""
    rng = np.random.default_rng(1)
    x, g = rng.normal(size=X), rng.normal(size=X)
    t = bf.Tally()
    gx = np.empty(X)
    for i, k in np.ndindex(2, 4):
        acc = t.num(g[i, 2, k])
        gx[i, 2, k] = acc.v
        for j in (1, 0):
            acc = acc + g[i, j, k]
            gx[i, j, k] = acc.v
    np.testing.assert_allclose(gx, _autograd(lambda a: a.cumsum(1), x, g))
    assert _counts(aten.cumsum, X, X, 1) == t.as_tuple() == (0, 16, 0)


def test_logsumexp_backward_is_g_times_exp_of_x_minus_y():
    rng = np.random.default_rng(2)
    x, g = rng.normal(size=X), rng.normal(size=X[:2])
    y = torch.logsumexp(torch.tensor(x), -1).numpy()
    t = bf.Tally()
    gx = np.array([[[((t.num(x[i, j, k]) - y[i, j]).exp() * g[i, j]).v for k in range(4)]
                    for j in range(3)] for i in range(2)])
    np.testing.assert_allclose(gx, _autograd(lambda a: torch.logsumexp(a, -1), x, g), rtol=1e-12)
    assert _counts(aten.logsumexp, X[:2], X, [2]) == t.as_tuple() == (24, 24, 24)


def test_two_norm_backward_divides_once_per_output_and_scales_each_element():
    """g·x/‖x‖: g/‖x‖ once per output (1 division), times x per element (1 mult)."""
    rng = np.random.default_rng(3)
    x, g = rng.normal(size=X), rng.normal(size=X[:2])
    norms = np.linalg.norm(x, axis=-1)
    t = bf.Tally()
    gx = np.empty(X)
    for i, j in np.ndindex(2, 3):
        share = t.num(g[i, j]) / norms[i, j]
        gx[i, j] = [(share * x[i, j, k]).v for k in range(4)]
    np.testing.assert_allclose(gx, _autograd(lambda a: torch.linalg.vector_norm(a, 2, -1), x, g), rtol=1e-12)
    assert _counts(aten.linalg_vector_norm, X[:2], X, 2, [2]) == t.as_tuple() == (24, 0, 6)


def _sign(x):
    """sign(x): one op, other (as the formula counts it)."""
    x.t.other += 1
    return bf.Num(float(np.sign(x.v)), x.t)


def test_one_norm_backward_is_g_times_the_sign_of_each_element():
    rng = np.random.default_rng(4)
    x, g = rng.normal(size=X), rng.normal(size=X[:2])
    t = bf.Tally()
    gx = np.array([[[(t.num(g[i, j]) * _sign(t.num(x[i, j, k]))).v for k in range(4)]
                    for j in range(3)] for i in range(2)])
    np.testing.assert_allclose(gx, _autograd(lambda a: torch.linalg.vector_norm(a, 1, -1), x, g), rtol=1e-12)
    assert _counts(aten.linalg_vector_norm, X[:2], X, 1, [2]) == t.as_tuple() == (24, 0, 24)


def test_max_norm_backward_shares_the_gradient_among_the_elements_at_the_extremum():
    """|x| and a comparison with the norm per element, the ties counted (n − m adds),
    g/count per output, then sign · share · mask per element."""
    rng = np.random.default_rng(5)
    x, g = rng.normal(size=X), rng.normal(size=X[:2])
    norms = np.abs(x).max(-1)
    t = bf.Tally()
    gx = np.empty(X)
    for i, j in np.ndindex(2, 3):
        mask = [float(equal(absolute(t.num(x[i, j, k])), norms[i, j])) for k in range(4)]
        share = t.num(g[i, j]) / bf.total([t.num(m) for m in mask])
        gx[i, j] = [(_sign(t.num(x[i, j, k])) * share * mask[k]).v for k in range(4)]
    np.testing.assert_allclose(gx, _autograd(lambda a: torch.linalg.vector_norm(a, float("inf"), -1), x, g),
                               rtol=1e-12)
    assert _counts(aten.linalg_vector_norm, X[:2], X, float("inf"), [2]) == t.as_tuple() == (48, 18, 78)


def test_p_norm_backward_scales_each_element_by_its_power_over_the_norms_power():
    """p = 3: g·x·|x|^(p−2) / ‖x‖^(p−1): per output a power and a division, per
    element an abs, a power and two mults; no gradient at all for p = 0."""
    rng = np.random.default_rng(6)
    x, g = rng.normal(size=X), rng.normal(size=X[:2])
    norms = (np.abs(x) ** 3).sum(-1) ** (1 / 3)
    t = bf.Tally()
    gx = np.empty(X)
    for i, j in np.ndindex(2, 3):
        share = t.num(g[i, j]) / power(t.num(norms[i, j]), 2)
        gx[i, j] = [(share * x[i, j, k] * power(absolute(t.num(x[i, j, k])), 1)).v for k in range(4)]
    np.testing.assert_allclose(gx, _autograd(lambda a: torch.linalg.vector_norm(a, 3, -1), x, g), rtol=1e-12)
    assert _counts(aten.linalg_vector_norm, X[:2], X, 3, [2]) == t.as_tuple() == (48, 0, 60)
    assert _counts(aten.linalg_vector_norm, X[:2], X, 0, [2]) == (0, 0, 0)


@pytest.mark.parametrize("op,args", [
    (aten.sum, ([2],)), (aten.argmax, (2,)), (aten.sort, (2,)), (aten.topk, (2, 2)), (aten.median, ()),
])
def test_sums_and_selections_route_the_gradient_for_free(op, args):
    assert _counts(op, X[:2], X, *args) == (0, 0, 0)


def test_max_with_indices_scatters_but_amax_compares_every_element():
    """max.dim returns (values, indices): the gradient goes to the indices, 0; amax has
    no indices: the mask x == y costs n comparisons."""
    assert _counts(aten.max, (X[:2], X[:2]), X, 2) == (0, 0, 0)
    assert _counts(aten.amax, X[:2], X, [2]) == (0, 0, 24)
