"""profiler.formulas.forward.zero: the layers that only move data (identity,
reshapes, shuffles, padding, dropout in eval, quantisation stubs) cost 0, as
literal cases of one small call each; ``ZERO_COST_OPS`` names real aten ops that
have no formula of their own, and on which torch's FlopCounterMode counts nothing."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.ao.quantization import DeQuantStub, QuantStub
from torch.utils.flop_counter import FlopCounterMode

from formula_access import find_aten_formula
from formula_cases import Case, assert_module_literal_cost, case_ids, t
from profiler.formulas.forward.zero import ZERO_COST_OPS


# expected = (mults, adds, other, macs); a dot product of K terms is K mults and
# K − 1 adds (+1 add for a bias), its K mults are also its MACs.

CASES: list[Case] = [
    # --- data movement only: 0
    *[Case(name, make, args, (0, 0, 0, 0)) for name, make, args in [
        ("Identity", nn.Identity, lambda: (t(2, 3),)),
        ("Flatten", nn.Flatten, lambda: (t(2, 3, 2),)),
        ("Unflatten", lambda: nn.Unflatten(1, (2, 2)), lambda: (t(3, 4),)),
        ("Dropout", lambda: nn.Dropout().eval(), lambda: (t(2, 3),)),
        ("PixelShuffle", lambda: nn.PixelShuffle(2), lambda: (t(1, 4, 2, 2),)),
        ("PixelUnshuffle", lambda: nn.PixelUnshuffle(2), lambda: (t(1, 1, 4, 4),)),
        ("ChannelShuffle", lambda: nn.ChannelShuffle(2), lambda: (t(1, 4, 2, 2),)),
        ("Unfold", lambda: nn.Unfold(2), lambda: (t(1, 1, 3, 3),)),
        ("ConstantPad1d", lambda: nn.ConstantPad1d(1, 0.5), lambda: (t(1, 2, 3),)),
        ("ReflectionPad1d", lambda: nn.ReflectionPad1d(1), lambda: (t(1, 2, 3),)),
        ("ReplicationPad1d", lambda: nn.ReplicationPad1d(1), lambda: (t(1, 2, 3),)),
        ("CircularPad1d", lambda: nn.CircularPad1d(1), lambda: (t(1, 2, 3),)),
        ("QuantStub", QuantStub, lambda: (t(2, 3),)),
        ("DeQuantStub", DeQuantStub, lambda: (t(2, 3),)),
    ]],
]


# --- the module cases' tests --------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_module_literal_cost(case: Case):
    assert_module_literal_cost(case)


# --- ZERO_COST_OPS -------------------------------------------------------------------------

def test_zero_cost_ops_are_aten_ops_without_a_formula_of_their_own():
    """Every name is a real aten op packet (a typo would silently count nothing) and
    none has a forward formula, which would contradict the zero."""
    aten = torch.ops.aten
    unknown = sorted(name for name in ZERO_COST_OPS if not hasattr(aten, name))
    assert not unknown, unknown
    formulas = sorted(name for name in ZERO_COST_OPS if find_aten_formula(getattr(aten, name)) is not None)
    assert not formulas, formulas


@pytest.mark.parametrize("name,call", [
    ("cat", lambda x: torch.cat([x, x])),
    ("clone", lambda x: x.clone()),
    ("index_select", lambda x: x.index_select(0, torch.tensor([2, 0]))),
    ("gather", lambda x: x.gather(1, torch.tensor([[0, 1], [1, 0], [2, 2]]))),
    ("index_copy", lambda x: x.index_copy(0, torch.tensor([2, 0]), torch.ones(2, 3))),
    ("where", lambda x: torch.where(x > 0, x, torch.zeros_like(x))),
    ("flip", lambda x: x.flip(0)),
    ("constant_pad_nd", lambda x: nn.functional.pad(x, (1, 1))),
    ("repeat", lambda x: x.repeat(2, 1)),
])
def test_flop_counter_counts_nothing_on_zero_cost_ops(name, call):
    assert name in ZERO_COST_OPS
    with FlopCounterMode(display=False) as counter:
        call(torch.randn(3, 3))
    assert counter.get_total_flops() == 0
