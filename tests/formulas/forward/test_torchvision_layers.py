"""profiler.formulas.forward.torchvision_layers: the layers torchvision defines itself
(FrozenBatchNorm2d folded into one mult and one add per element; StochasticDepth
in eval, Permute, SwapAxes, WindowPartition, WindowDepartition: 0) and its ops
roi_align and nms, as literal arithmetic for one small call of each."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.models.maxvit import SwapAxes, WindowDepartition, WindowPartition
from torchvision.ops import FrozenBatchNorm2d, StochasticDepth
from torchvision.ops.misc import Permute

import bruteforce as bf
from formula_cases import (Case, Op, assert_module_literal_cost, assert_module_literal_equals_tally,
                           assert_op_literal_cost, case_ids, checked, close, np_, op_params, t)


# --- literal cases: independent tallies ---------------------------------------------

def folded_check(m, args, out):
    scale = np_(m.weight) / np.sqrt(np_(m.running_var) + m.eps)
    values, tally = bf.folded_affine(np_(args[0]), scale, np_(m.bias) - np_(m.running_mean) * scale)
    close(values, out)
    return tally


# expected = (mults, adds, other, macs); a dot product of K terms is K mults and
# K − 1 adds (+1 add for a bias), its K mults are also its MACs.

CASES: list[Case] = [
    Case("FrozenBatchNorm2d", lambda: FrozenBatchNorm2d(3), lambda: (t(1, 3, 2, 2),),
         (12, 12, 0, 0), folded_check),   # folded, 12 elements
    # --- data movement only: 0
    *[Case(name, make, args, (0, 0, 0, 0)) for name, make, args in [
        ("StochasticDepth", lambda: StochasticDepth(0.5, "row").eval(), lambda: (t(2, 3),)),
        ("Permute", lambda: Permute([0, 2, 1]), lambda: (t(1, 2, 3),)),
        ("SwapAxes", lambda: SwapAxes(1, 2), lambda: (t(1, 2, 3),)),
        ("WindowPartition", WindowPartition, lambda: (t(1, 2, 4, 4), 2)),
        ("WindowDepartition", WindowDepartition, lambda: (t(1, 4, 4, 2), 2, 2, 2)),
    ]],
]


OPS: list[Op] = [
    # --- torchvision: RoIAlign, 3 boxes × 2 channels × 2×2 bins = 24 bins of 2×2 samples:
    # each sample 4 mults, 3 adds; each bin 3 adds + 1 mult to average its 4
    Op(["roi_align"], lambda: (torch.rand(1, 2, 5, 5), torch.tensor([[0, 0, 0, 3, 3.]] * 3), 1.0, 2, 2, 2,
                               False), (24 * (4 * 4 + 1), 24 * (3 * 4 + 3), 0, 0), ns="torchvision"),
    # NMS of 4 boxes, worst case: areas (4 mults, 8 subs), 6 pairs × (1 mult, 4 adds,
    # 8 other), a sort of 4 scores (4·2 comparisons)
    Op(["nms"], lambda: (torch.tensor([[0, 0, 2, 2.], [1, 1, 3, 3], [0, 0, 2, 2.1], [5, 5, 6, 6]]),
                         torch.tensor([0.9, 0.8, 0.7, 0.6]), 0.5),
       (4 + 6, 2 * 4 + 4 * 6, 8 * 6 + 4 * 2, 0), ns="torchvision"),
]


# --- the module cases' tests --------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_module_literal_cost(case: Case):
    assert_module_literal_cost(case)


@pytest.mark.parametrize("case", checked(CASES), ids=case_ids(checked(CASES)))
def test_module_literal_cost_equals_an_independent_tally(case: Case):
    """The naive loop computes the module's output (values checked inside the
    check) and tallies the same mults, adds and other as the literal."""
    assert_module_literal_equals_tally(case)


# --- the op cases' tests ------------------------------------------------------------

@pytest.mark.parametrize("op,name", list(op_params(OPS)))
def test_op_literal_cost(op: Op, name: str):
    assert_op_literal_cost(op, name)
