"""profiler.formulas.backward.scatter: the backward of the scattering and
accumulating aten ops.  index_add's source gradient scaled by alpha and
scatter_reduce('mean') against naive gradients written with self-counting scalars
(autograd's formulas step by step), their values checked against autograd's;
scatter and scatter_add move g (0), 'prod' has no formula (None), histc and
bincount have no gradient."""
from __future__ import annotations

import numpy as np
import torch

import bruteforce as bf
from formula_access import find_op_backward
from elementwise_scalars import equal

aten = torch.ops.aten


def _counts(cost):
    return cost.mults, cost.adds, cost.other


def test_index_add_scales_the_source_gradient_by_alpha():
    """x (3, 4).index_add(0, [0, 2], source (2, 4), alpha=2): grad source = g at the
    index rows times 2, 8 mults; alpha = 1 moves g, 0."""
    rng = np.random.default_rng(0)
    x, src, g = rng.normal(size=(3, 4)), rng.normal(size=(2, 4)), rng.normal(size=(3, 4))
    index = [0, 2]
    t = bf.Tally()
    gs = np.array([[(t.num(g[index[r], c]) * 2.0).v for c in range(4)] for r in range(2)])
    st = torch.tensor(src, requires_grad=True)
    (torch.tensor(x).index_add(0, torch.tensor(index), st, alpha=2.0) * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(gs, st.grad.numpy())
    fn = find_op_backward(aten.index_add)
    assert _counts(fn((True, False, False, True), (3, 4), (3, 4), 0, (2,), (2, 4), 2.0)) == t.as_tuple() == (8, 0, 0)
    assert _counts(fn((True, False, False, True), (3, 4), (3, 4), 0, (2,), (2, 4))) == (0, 0, 0)


def test_scatter_reduce_mean_counts_divides_by_the_counts_on_both_sides():
    """out (3,) = x (3,) scatter_reduce 'mean' of src (4,) at [0, 0, 2, 2] (include_self):
    autograd counts the values per target (1 + Σ ones: 4 adds), replaces empty counts
    (3 comparisons), grad x = g/count (3 divisions), grad src = gathered g /
    gathered count (4 divisions)."""
    rng = np.random.default_rng(1)
    x, src, g = rng.normal(size=3), rng.normal(size=4), rng.normal(size=3)
    index = [0, 0, 2, 2]
    t = bf.Tally()
    count = [t.num(1.0) for _ in range(3)]
    for i in index:
        count[i] = count[i] + 1.0
    count = [c if not equal(c, 0.0) else t.num(1.0) for c in count]
    gx = [(t.num(g[j]) / count[j]).v for j in range(3)]
    gs = [(t.num(g[i]) / count[i]).v for i in index]
    xt, st = torch.tensor(x, requires_grad=True), torch.tensor(src, requires_grad=True)
    (xt.scatter_reduce(0, torch.tensor(index), st, "mean") * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(gs, st.grad.numpy(), rtol=1e-12)
    cost = find_op_backward(aten.scatter_reduce)((True, False, False, True), (3,), (3,), 0, (4,), (4,), "mean")
    assert _counts(cost) == t.as_tuple() == (0, 4, 3 + 3 + 4)


def test_scatters_move_the_gradient_and_prod_is_left_uncounted():
    needs = (True, False, False, True)
    for op, extra in ((aten.scatter, ()), (aten.scatter_add, ()), (aten.scatter_reduce, ("sum",))):
        assert _counts(find_op_backward(op)(needs, (3, 4), (3, 4), 0, (2, 4), (2, 4), *extra)) == (0, 0, 0)
    assert find_op_backward(aten.scatter_reduce)(needs, (3, 4), (3, 4), 0, (2, 4), (2, 4), "prod") is None


def test_histc_and_bincount_have_no_gradient():
    assert _counts(find_op_backward(aten.histc)((True,), (4,), (10,), 4, 0.0, 1.0)) == (0, 0, 0)
    assert _counts(find_op_backward(aten.bincount)((False,), (4,), (5,))) == (0, 0, 0)
