"""profiler.formulas.forward.scatter: histc, bincount and the scattering,
accumulating aten ops (index_add with alpha, scatter_add, scatter with and without
a reduce, scatter_reduce by its reduction), as literal arithmetic for one small
call of each."""
from __future__ import annotations

import pytest
import torch

from formula_cases import B, L, LM, M, Op, assert_op_literal_cost, op_params


OPS: list[Op] = [
    # --- counting and scattering
    # histc, 10 inputs each: range test (2), (x − lo)·bins/(hi − lo) (1 sub, 1 mult, 1 div,
    # 1 floor), the x = hi test (1), the count (1 add); a data range adds 2·(10 − 1)
    Op(["histc"], lambda: (torch.rand(10), 4, 0.0, 1.0), (10, 10 * 2, 10 * 5, 0)),
    Op(["histc"], lambda: (torch.rand(10), 4), (10, 10 * 2, 10 * 5 + 2 * 9, 0), id="data-range"),
    Op(["bincount"], lambda: (L(0, 1, 1, 3, 2),), (0, 5, 2 * (5 - 1), 0)),   # min & max, 1 add each
    Op(["index_add", "index_add_"], lambda: (M(3, 4), 0, L(0, 2).to("meta"), M(2, 4)), (0, 8, 0, 0)),
    Op(["index_add"], lambda: (M(3, 4), 0, L(0, 2).to("meta"), M(2, 4)), (8, 8, 0, 0),
       kwargs={"alpha": 2.0}, id="alpha"),
    Op(["scatter_add", "scatter_add_"], lambda: (M(3, 4), 0, LM(2, 4), M(2, 4)), (0, 8, 0, 0)),
    Op(["scatter", "scatter_"], lambda: (M(3, 4), 0, LM(2, 4), M(2, 4)), (0, 0, 0, 0)),
    Op(["scatter", "scatter_"], lambda: (M(3, 4), 0, LM(2, 4), M(2, 4)), (0, 8, 0, 0),
       kwargs={"reduce": "add"}, id="add"),
    Op(["scatter"], lambda: (M(3, 4), 0, LM(2, 4), M(2, 4)), (8, 0, 0, 0),
       kwargs={"reduce": "multiply"}, id="multiply"),
    Op(["scatter_reduce", "scatter_reduce_"], lambda: (M(3, 4), 0, LM(2, 4), M(2, 4), "sum"), (0, 8, 0, 0)),
    Op(["scatter_reduce"], lambda: (M(3, 4), 0, LM(2, 4), M(2, 4), "prod"), (8, 0, 0, 0), id="prod"),
    Op(["scatter_reduce"], lambda: (M(3, 4), 0, LM(2, 4), M(2, 4), "amax"), (0, 0, 8, 0), id="amax"),
    # masked_scatter copies source into the masked positions: no arithmetic
    Op(["masked_scatter", "masked_scatter_"], lambda: (M(3, 4), B(3, 4), M(12)), (0, 0, 0, 0)),
    # mean: 2 adds per scattered value, then 1 empty-count test and 1 division per output (12)
    Op(["scatter_reduce"], lambda: (M(3, 4), 0, LM(2, 4), M(2, 4), "mean"), (0, 16, 2 * 12, 0), id="mean"),
]


# --- the op cases' tests ------------------------------------------------------------

@pytest.mark.parametrize("op,name", list(op_params(OPS)))
def test_op_literal_cost(op: Op, name: str):
    assert_op_literal_cost(op, name)
