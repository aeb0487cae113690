"""profiler.formulas.forward.matmul: the matrix-product aten ops (mm, addmm with
beta/alpha, bmm, matmul, baddbmm, addbmm, the MoE grouped mm, mv, dot, vdot,
addmv, cdist's _euclidean_dist): M·N dot products of K, as literal arithmetic for one small call of each,
the plain mm/addmm/bmm/baddbmm MACs also against FlopCounterMode."""
from __future__ import annotations

import pytest
import torch

from formula_cases import (M, Op, assert_op_literal_cost, assert_op_macs_equal_flop_counter_half, flop_counted_params,
                           op_params)


OPS: list[Op] = [
    # --- matmul family: M·N dot products of K = M·N·K mults, M·N·(K−1) adds
    Op(["mm"], lambda: (M(2, 3), M(3, 4)), (8 * 3, 8 * 2, 0, 8 * 3)),
    Op(["addmm"], lambda: (M(4), M(2, 3), M(3, 4)), (8 * 3, 8 * 2 + 8, 0, 8 * 3)),   # +1 bias add each
    Op(["addmm"], lambda: (M(4), M(2, 3), M(3, 4)), (8 * 3 + 8 * 2, 8 * 2 + 8, 0, 8 * 3),
       kwargs={"beta": 0.5, "alpha": 2.0}, id="scaled"),   # beta, alpha ≠ 1: 1 mult each
    Op(["bmm"], lambda: (M(2, 2, 3), M(2, 3, 4)), (16 * 3, 16 * 2, 0, 16 * 3)),
    Op(["matmul"], lambda: (M(2, 3), M(3, 4)), (8 * 3, 8 * 2, 0, 8 * 3)),
    Op(["matmul"], lambda: (M(3), M(3, 4)), (4 * 3, 4 * 2, 0, 4 * 3), id="vector"),
    Op(["baddbmm"], lambda: (M(2, 2, 4), M(2, 2, 3), M(2, 3, 4)), (16 * 3, 16 * 2 + 16, 0, 16 * 3)),
    # addbmm: 16 dot products of 3, summed over the batch of 2 into 8 outputs (16 − 8
    # adds), + 8 bias adds
    Op(["addbmm"], lambda: (M(2, 4), M(2, 2, 3), M(2, 3, 4)), (48, 16 * 2 + (16 - 8) + 8, 0, 48)),
    # MoE forward: 4 routed rows × 2 experts' 8×8 weights (the kernel wants 16-byte
    # strides): each row meets one expert, 4·8 dot products of 8
    Op(["_grouped_mm"], lambda: (M(4, 8, dtype=torch.bfloat16), M(2, 8, 8, dtype=torch.bfloat16),
                                 torch.tensor([2, 4], dtype=torch.int32, device="meta")),
       (32 * 8, 32 * 7, 0, 32 * 8)),
    # MoE weight gradient: K = 16 split in 2 groups, output (2, 2, 8): M·N·K = 2·8·16
    # products, less the 2·2·8 outputs in adds
    Op(["_grouped_mm"], lambda: (M(2, 16, dtype=torch.bfloat16), M(16, 8, dtype=torch.bfloat16),
                                 torch.tensor([8, 16], dtype=torch.int32, device="meta")),
       (2 * 8 * 16, 2 * 8 * 16 - 2 * 2 * 8, 0, 2 * 8 * 16), id="2d-2d"),
    # a 3×3 triangular system with 2 right-hand sides: per side 0 + 1 + 2 products and
    # subtractions, 3 divisions; unitriangular: no divisions; left=False solves 2 rows
    Op(["linalg_solve_triangular"], lambda: (M(3, 3), M(3, 2)), (2 * 3, 2 * 3, 2 * 3, 0),
       kwargs={"upper": True}),
    Op(["linalg_solve_triangular"], lambda: (M(3, 3), M(3, 2)), (2 * 3, 2 * 3, 0, 0),
       kwargs={"upper": False, "unitriangular": True}, id="unit"),
    Op(["linalg_solve_triangular"], lambda: (M(3, 3), M(2, 3)), (2 * 3, 2 * 3, 2 * 3, 0),
       kwargs={"upper": True, "left": False}, id="right"),
    Op(["mv"], lambda: (M(2, 3), M(3)), (2 * 3, 2 * 2, 0, 2 * 3)),
    Op(["dot"], lambda: (M(3), M(3)), (3, 2, 0, 3)),
    # x1 (2, 3, 4), x2 (2, 5, 4): 30 dot products of 4 + 2 terms; 24 + 40 pows, the 16
    # rows' norms 3 adds each, x1·(−2) 24 mults; clamp_min and sqrt of the 30 outputs
    Op(["_euclidean_dist"], lambda: (M(2, 3, 4), M(2, 5, 4)),
       (30 * 6 + 24, 30 * 5 + 16 * 3, 24 + 40 + 2 * 30, 30 * 6)),
    Op(["vdot"], lambda: (M(3), M(3)), (3, 2, 0, 3)),
    Op(["addmv"], lambda: (M(2), M(2, 3), M(3)), (2 * 3, 2 * 2 + 2, 0, 2 * 3)),
]


# --- the op cases' tests ------------------------------------------------------------

@pytest.mark.parametrize("op,name", list(op_params(OPS)))
def test_op_literal_cost(op: Op, name: str):
    assert_op_literal_cost(op, name)


FLOP_COUNTED = ["mm", "addmm", "bmm", "baddbmm"]


@pytest.mark.parametrize("op,name", flop_counted_params(OPS, FLOP_COUNTED), ids=lambda v: getattr(v, "id", v))
def test_op_macs_equal_flop_counter_half(op: Op, name: str):
    """torch's FlopCounterMode on the same call: 2 flops per MAC."""
    assert_op_macs_equal_flop_counter_half(op, name)
