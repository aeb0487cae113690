"""profiler.formulas.forward.search: bucketize, searchsorted, isin (both of torch's
paths), unique_consecutive (flat and along a dimension) and multinomial (with and without replacement) as literal arithmetic for one
small call of each.  The independent counts (binary searches and membership loops
written with self-counting scalars): tests/formulas/forward/test_counted_ops.py."""
from __future__ import annotations

import pytest
import torch

from formula_cases import L, M, Op, assert_op_literal_cost, op_params


OPS: list[Op] = [
    # 6 values among 5 boundaries: ⌈log₂ 6⌉ = 3 comparisons each
    Op(["bucketize"], lambda: (M(2, 3), M(5)), (0, 0, 6 * 3, 0)),
    Op(["bucketize"], lambda: (0.5, torch.rand(5)), (0, 0, 3, 0), id="scalar"),
    Op(["searchsorted"], lambda: (M(2, 5), M(2, 3)), (0, 0, 6 * 3, 0)),
    Op(["searchsorted"], lambda: (torch.rand(7), 0.5), (0, 0, 3, 0), id="scalar"),
    # 10 elements, 3 test elements (< 10·10^0.145 ≈ 13.96): every pair compared
    Op(["isin"], lambda: (M(10), M(3)), (0, 0, 10 * 3, 0)),
    Op(["isin"], lambda: (M(10), 2.0), (0, 0, 10, 0), id="scalar"),
    # 4 elements, 20 test elements (≥ 10·4^0.145 ≈ 12.2): the sort path: unique() of each
    # (4·2 + 3 and 20·5 + 19 comparisons), then 24 sorted together (24·5 + 23)
    Op(["isin"], lambda: (M(4), M(20)), (0, 0, 11 + 119 + 143, 0), id="sort"),
    Op(["isin"], lambda: (M(4), M(20)), (0, 0, 143, 0), kwargs={"assume_unique": True}, id="unique"),
    # 8 values in 4 runs: 7 comparisons with the last kept; the 4 run lengths 4 subtractions
    Op(["unique_consecutive"], lambda: (L(1, 1, 2, 2, 2, 3, 1, 1),), (0, 0, 7, 0)),
    Op(["unique_consecutive"], lambda: (L(1, 1, 2, 2, 2, 3, 1, 1), False, True), (0, 4, 7, 0), id="counts"),
    # 4 rows of 3 along dim 0, 3 runs: 3 row comparisons of 3 elements, 3 run lengths
    Op(["unique_consecutive"], lambda: (torch.tensor([[1, 2, 3], [1, 2, 3], [0, 2, 3], [1, 2, 3]]),),
       (0, 3, 3 * 3, 0), kwargs={"dim": 0}, id="dim"),
    # 2 rows of 5 weights: 10 logs and 10 divisions; one sample: argmax, 4 comparisons a row
    Op(["multinomial"], lambda: (torch.rand(2, 5), 1), (0, 0, 20 + 2 * 4, 0)),
    # three samples without replacement: topk's heap of 3, 5·⌈log₂ 3⌉ a row
    Op(["multinomial"], lambda: (torch.rand(2, 5), 3), (0, 0, 20 + 2 * 5 * 2, 0), id="topk"),
    # with replacement: per row 4 + 4 adds, 5 divisions; 6 draws, each ⌈log₂ 6⌉ = 3
    Op(["multinomial"], lambda: (torch.rand(2, 5), 3, True), (0, 2 * 8, 2 * 5 + 6 * 3, 0), id="replacement"),
]


@pytest.mark.parametrize("op,name", list(op_params(OPS)))
def test_op_literal_cost(op: Op, name: str):
    assert_op_literal_cost(op, name)
