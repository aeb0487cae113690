"""The searches, membership tests and sampling ops have no backward
(profiler.formulas.backward.search): their results are integers or booleans,
which autograd gives no gradient, and the formula charges nothing."""
from __future__ import annotations

import pytest
import torch

from formula_access import find_op_backward

aten = torch.ops.aten


@pytest.mark.parametrize("op, call", [
    (aten.bucketize, lambda x: torch.bucketize(x, torch.tensor([0.0, 1.0]))),
    (aten.searchsorted, lambda x: torch.searchsorted(torch.tensor([0.0, 1.0]), x)),
    (aten.isin, lambda x: torch.isin(x, torch.tensor([0.5]))),
    (aten.multinomial, lambda x: torch.multinomial(x.abs() + 0.1, 1)),
])
def test_no_gradient_and_no_cost(op, call):
    x = torch.rand(4, requires_grad=True)
    out = call(x)
    assert not out.requires_grad and out.grad_fn is None          # autograd has nothing to differentiate
    cost = find_op_backward(op)((True,), tuple(out.shape), (4,))
    assert (cost.mults, cost.adds, cost.other) == (0, 0, 0)
