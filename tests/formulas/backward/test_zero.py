"""profiler.formulas.backward.zero: the backward of layers and ops that move data.
Reflection padding sums the border's gradients back, expand and where reduce g to
a broadcast operand's shape: against naive scatters and sums written with
self-counting scalars, their values checked against autograd's.  Dropout in
training scales the kept gradients (1 mult per element, none in eval); reshapes,
copies and constant padding route g for free; ``no_gradient`` is 0."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import bruteforce as bf
from formula_access import CallShapes, find_module_backward, find_op_backward
from profiler.formulas.backward.zero import no_gradient

aten = torch.ops.aten


def _module_counts(m, x_shape, out_shape, needs=(True,)):
    cost = find_module_backward(m)(m, CallShapes(inputs=(x_shape,), outputs=(out_shape,)), needs)
    return cost.mults, cost.adds, cost.other


def _op_counts(op, needs, out, *args):
    cost = find_op_backward(op)(needs, out, *args)
    return cost.mults, cost.adds, cost.other


def test_reflection_padding_sums_the_reflected_gradients_back():
    """(1, 2, 5) padded by 2 on each side: 9 outputs a channel, each gradient lands
    on its source input, the first free: 18 − 10 additions."""
    rng = np.random.default_rng(0)
    x, g = rng.normal(size=(1, 2, 5)), rng.normal(size=(1, 2, 9))
    source = [2, 1, 0, 1, 2, 3, 4, 3, 2]         # reflect: index −2 → 2, −1 → 1, 5 → 3, 6 → 2
    t = bf.Tally()
    gx = np.full(x.shape, None, dtype=object)
    for c, o in np.ndindex(2, 9):
        v = t.num(g[0, c, o])
        gx[0, c, source[o]] = v if gx[0, c, source[o]] is None else gx[0, c, source[o]] + v
    xt = torch.tensor(x, requires_grad=True)
    (nn.ReflectionPad1d(2)(xt) * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(bf.values(gx), xt.grad.numpy(), rtol=1e-12)
    assert _module_counts(nn.ReflectionPad1d(2), x.shape, g.shape) == t.as_tuple() == (0, 8, 0)
    assert _op_counts(aten.reflection_pad1d, (True,), g.shape, x.shape, [2, 2]) == (0, 8, 0)


def test_expand_and_where_reduce_the_gradient_to_the_broadcast_operand():
    """(3, 1) expanded to (3, 4): each input sums its 4 copies, 3 adds a row, 9 in
    all; where(c, a (2, 3), b (3,)): b's masked gradient summed over 2 rows, 3 adds."""
    rng = np.random.default_rng(1)
    g = rng.normal(size=(3, 4))
    t = bf.Tally()
    sums = [bf.total([t.num(v) for v in row]).v for row in g]
    xt = torch.randn(3, 1, dtype=torch.float64, requires_grad=True)
    (xt.expand(3, 4) * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(sums, xt.grad.numpy().ravel(), rtol=1e-12)
    assert _op_counts(aten.expand, (True,), (3, 4), (3, 1), [3, 4]) == t.as_tuple() == (0, 9, 0)
    assert _op_counts(aten.where, (False, False, True), (2, 3), (2, 3), (2, 3), (3,)) == (0, 3, 0)
    assert _op_counts(aten.where, (False, True, False), (2, 3), (2, 3), (2, 3), (3,)) == (0, 0, 0)


def test_dropout_scales_the_kept_gradients_in_training_only():
    """grad = g·mask·1/(1 − p), mask·1/(1 − p) saved as one tensor: 1 mult per element."""
    torch.manual_seed(2)
    m = nn.Dropout(0.5).train()
    xt = torch.rand(2, 3, dtype=torch.float64).add(0.5).requires_grad_()
    out = m(xt)
    g = torch.randn(2, 3, dtype=torch.float64)
    (out * g).sum().backward()
    scale = (out / xt).detach()
    t = bf.Tally()
    gx = [(t.num(a) * b).v for a, b in zip(g.flatten().tolist(), scale.flatten().tolist())]
    np.testing.assert_allclose(gx, xt.grad.flatten().numpy(), rtol=1e-12)
    assert _module_counts(m, (2, 3), (2, 3)) == t.as_tuple() == (6, 0, 0)
    assert _module_counts(m.eval(), (2, 3), (2, 3)) == (0, 0, 0)
    assert _op_counts(aten.native_dropout, (True,), ((2, 3), (2, 3)), (2, 3), 0.5, True) == (6, 0, 0)


@pytest.mark.parametrize("m,x,out", [
    (nn.Identity(), (2, 3), (2, 3)), (nn.Flatten(), (2, 3, 2), (2, 6)), (nn.PixelShuffle(2), (1, 4, 2, 2), (1, 1, 4, 4)),
    (nn.ConstantPad1d(1, 0.5), (1, 2, 3), (1, 2, 5)), (nn.ReplicationPad1d(1), (1, 2, 3), (1, 2, 5)),
])
def test_routing_layers_cost_nothing_and_padding_that_copies_sums(m, x, out):
    """Reshapes and constant padding route g; replication padding copies the edge
    twice per channel, 2 adds each: 4 in all."""
    expected = (0, 4, 0) if isinstance(m, nn.ReplicationPad1d) else (0, 0, 0)
    assert _module_counts(m, x, out) == expected
    assert _module_counts(m, x, out, (False,)) == (0, 0, 0)


def test_no_gradient_is_zero():
    assert no_gradient((True,), (2, 3), (2, 3)).flops == 0
