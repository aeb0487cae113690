"""profiler.formulas.forward.resample: Upsample and the interpolation ops behind
F.interpolate (nearest copies; t^d taps blended per output element) and
grid_sample, as literal arithmetic for one small call of each."""
from __future__ import annotations

import pytest
from torch import nn

from formula_cases import M, Case, Op, assert_module_literal_cost, assert_op_literal_cost, case_ids, op_params, t


# expected = (mults, adds, other, macs); a dot product of K terms is K mults and
# K − 1 adds (+1 add for a bias), its K mults are also its MACs.

CASES: list[Case] = [
    # --- resampling: t^d taps blended per output element
    Case("Upsample-nearest", lambda: nn.Upsample(scale_factor=2), lambda: (t(1, 1, 2, 2),), (0, 0, 0, 0)),
    Case("Upsample-linear", lambda: nn.Upsample(scale_factor=2, mode="linear"), lambda: (t(1, 1, 3),),
         (6 * 2, 6 * 1, 0, 0)),      # 6 outputs × 2 taps
    Case("Upsample-bilinear", lambda: nn.Upsample(scale_factor=2, mode="bilinear"),
         lambda: (t(1, 1, 2, 2),), (16 * 4, 16 * 3, 0, 0)),     # 16 outputs × 2² taps
    Case("Upsample-bicubic", lambda: nn.Upsample(scale_factor=2, mode="bicubic"),
         lambda: (t(1, 1, 2, 2),), (16 * 16, 16 * 15, 0, 0)),   # 16 outputs × 4² taps
    Case("Upsample-trilinear", lambda: nn.Upsample(scale_factor=2, mode="trilinear"),
         lambda: (t(1, 1, 1, 2, 2),), (32 * 8, 32 * 7, 0, 0)),  # 32 outputs × 2³ taps
]


OPS: list[Op] = [
    # F.fold of 4 blocks 2×2 into 3×3: the positions are reached 1, 2, 1 times along
    # each side, so [[1, 2, 1], [2, 4, 2], [1, 2, 1]]: 16 block elements less 9 positions
    Op(["col2im"], lambda: (M(1, 4, 4), [3, 3], [2, 2], [1, 1], [0, 0], [1, 1]), (0, 16 - 9, 0, 0)),
    # padding 1, stride 2 into 3×3: 4 blocks per side ((3 + 2 − 2)//2 + 1 = 2 a side); the taps
    # at −1 and 3 fall in the padding: positions 0, 1, 2 reached 1, 1, 1 times: no additions
    Op(["col2im"], lambda: (M(1, 4, 4), [3, 3], [2, 2], [1, 1], [1, 1], [2, 2]), (0, 0, 0, 0), id="padded"),
    # --- interpolation: nearest copies; t^d taps per output, t^d mults and t^d − 1 adds
    Op(["upsample_nearest1d", "_upsample_nearest_exact1d"], lambda: (M(1, 1, 3), [6]), (0, 0, 0, 0)),
    Op(["upsample_nearest2d", "_upsample_nearest_exact2d"], lambda: (M(1, 1, 2, 2), [4, 4]), (0, 0, 0, 0)),
    Op(["upsample_nearest3d", "_upsample_nearest_exact3d"], lambda: (M(1, 1, 1, 2, 2), [2, 4, 4]),
       (0, 0, 0, 0)),
    Op(["upsample_linear1d"], lambda: (M(1, 1, 3), [6], False), (6 * 2, 6 * 1, 0, 0)),
    Op(["upsample_bilinear2d", "_upsample_bilinear2d_aa"], lambda: (M(1, 1, 2, 2), [4, 4], False),
       (16 * 4, 16 * 3, 0, 0)),
    Op(["upsample_trilinear3d"], lambda: (M(1, 1, 1, 2, 2), [2, 4, 4], False), (32 * 8, 32 * 7, 0, 0)),
    Op(["upsample_bicubic2d", "_upsample_bicubic2d_aa"], lambda: (M(1, 1, 2, 2), [4, 4], False),
       (16 * 16, 16 * 15, 0, 0)),
    # grid sample of (1,2,3,3) at 2×2 locations: per location 6 mults, 6 adds, 2 floors;
    # bilinear, per output element (8): 4 mults, 3 adds
    Op(["grid_sampler_2d"], lambda: (M(1, 2, 3, 3), M(1, 2, 2, 2), 0, 0, False),
       (4 * 6 + 8 * 4, 4 * 6 + 8 * 3, 4 * 2, 0)),
    Op(["grid_sampler_2d"], lambda: (M(1, 2, 3, 3), M(1, 2, 2, 2), 1, 0, False),
       (4 * 6, 4 * 6, 4 * 2, 0), id="nearest"),
    Op(["grid_sampler"], lambda: (M(1, 2, 3, 3), M(1, 2, 2, 2), 0, 0, False),
       (4 * 6 + 8 * 4, 4 * 6 + 8 * 3, 4 * 2, 0)),
]


# --- the module cases' tests --------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_module_literal_cost(case: Case):
    assert_module_literal_cost(case)


# --- the op cases' tests ------------------------------------------------------------

@pytest.mark.parametrize("op,name", list(op_params(OPS)))
def test_op_literal_cost(op: Op, name: str):
    assert_op_literal_cost(op, name)
