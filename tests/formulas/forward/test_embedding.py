"""profiler.formulas.forward.embedding: Embedding, EmbeddingBag and F.embedding_bag's
ops.  Literal arithmetic for one small call of each, checked by naive loops that tally
their own arithmetic (tests/bruteforce.py, values checked against torch)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import bruteforce as bf
from formula_cases import (LM, M, Case, Op, assert_module_literal_cost, assert_module_literal_equals_tally,
                           assert_op_literal_cost, case_ids, checked, close, np_, op_params)


# --- literal cases: independent tallies ---------------------------------------------

def embedding_bag_check(m, args, out):
    """Each bag: its rows (scaled by their weights, if given) summed, maxed or
    averaged by a multiplication with 1/size.  1-D indices are cut into bags at
    the offsets; 2-D indices are one bag a row (offsets None)."""
    tally = bf.Tally()
    if args[0].dim() == 2:
        rows, width = args[0].shape
        idx, offsets = args[0].flatten().tolist(), list(range(0, rows * width + 1, width))
    else:
        idx, offsets = args[0].tolist(), args[1].tolist() + [len(args[0])]
    weights = args[2].flatten().tolist() if len(args) > 2 and args[2] is not None else None
    table = np_(m.weight)
    values = np.empty(out.shape)
    for bag in range(len(offsets) - 1):
        members = range(offsets[bag], offsets[bag + 1])
        for d in range(table.shape[1]):
            rows = [tally.num(table[idx[i], d]) for i in members]
            if weights is not None:
                rows = [r * weights[i] for r, i in zip(rows, members)]
            if m.mode == "max":
                acc = rows[0]
                for r in rows[1:]:
                    acc = acc.max(r)
            else:
                acc = bf.total(rows)
                if m.mode == "mean":
                    acc = acc * (1.0 / len(rows))
            values[bag, d] = acc.v
    close(values, out)
    return tally


# expected = (mults, adds, other, macs)

CASES: list[Case] = [
    Case("Embedding", lambda: nn.Embedding(10, 3), lambda: (torch.tensor([[1, 2], [3, 4]]),),
         (0, 0, 0, 0)),  # a lookup
    Case("EmbeddingBag-sum", lambda: nn.EmbeddingBag(10, 3, mode="sum"),
         lambda: (torch.tensor([1, 2, 4, 5, 4, 3]), torch.tensor([0, 2])),
         # 2 bags of 2 and 4 rows, width 3: (6 − 2)·3 adds
         (0, (6 - 2) * 3, 0, 0), embedding_bag_check),
    Case("EmbeddingBag-mean", lambda: nn.EmbeddingBag(10, 3, mode="mean"),
         lambda: (torch.tensor([1, 2, 4, 5, 4, 3]), torch.tensor([0, 2])),
         # the sum's (6 − 2)·3 adds and 2·3 mults by 1/size
         (2 * 3, (6 - 2) * 3, 0, 0), embedding_bag_check),
    Case("EmbeddingBag-max", lambda: nn.EmbeddingBag(10, 3, mode="max"),
         lambda: (torch.tensor([1, 2, 4, 5, 4, 3]), torch.tensor([0, 2])),
         (0, 0, (6 - 2) * 3, 0), embedding_bag_check),   # (6 − 2)·3 comparisons
    Case("EmbeddingBag-weights", lambda: nn.EmbeddingBag(10, 3, mode="sum"),
         lambda: (torch.tensor([1, 2, 4, 5, 4, 3]), torch.tensor([0, 2]),
                  torch.rand(6, dtype=torch.float64)),
         # 6·3 weight mults, then the sum's (6 − 2)·3 adds
         (6 * 3, (6 - 2) * 3, 0, 0), embedding_bag_check),
    # 2-D indices take no offsets: the call's tensors are just (indices, weights)
    Case("EmbeddingBag-2d-weights", lambda: nn.EmbeddingBag(10, 3, mode="sum"),
         lambda: (torch.tensor([[1, 2, 4], [5, 4, 3]]), None, torch.rand(2, 3, dtype=torch.float64)),
         # 2 bags of 3 rows, width 3: 6·3 weight mults, (6 − 2)·3 adds
         (6 * 3, (6 - 2) * 3, 0, 0), embedding_bag_check),
    Case("EmbeddingBag-2d", lambda: nn.EmbeddingBag(10, 3, mode="mean"),
         lambda: (torch.tensor([[1, 2, 4], [5, 4, 3]]),),
         (2 * 3, (6 - 2) * 3, 0, 0), embedding_bag_check),   # the sum's adds, 2·3 mults by 1/3
]

# F.embedding_bag as an op: 6 indices in 2 bags, width 3, as the module cases above;
# the arguments (weight, indices, offsets, scale_grad_by_freq, mode, sparse, per_sample_weights)
BAG_OPS = ["_embedding_bag", "_embedding_bag_forward_only"]


def bag(mode, *weights):
    return lambda: (M(10, 3), LM(6), LM(2), False, mode, False, *weights)


OPS: list[Op] = [
    Op(BAG_OPS, bag(0), (0, (6 - 2) * 3, 0, 0), id="sum"),
    Op(BAG_OPS, bag(1), (2 * 3, (6 - 2) * 3, 0, 0), id="mean"),        # and 2·3 mults by 1/size
    Op(BAG_OPS, bag(2), (0, 0, (6 - 2) * 3, 0), id="max"),              # (6 − 2)·3 comparisons
    Op(BAG_OPS, bag(0, M(6)), (6 * 3, (6 - 2) * 3, 0, 0), id="weights"),  # and 6·3 weight mults
]


# --- the cases' tests ------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_module_literal_cost(case: Case):
    assert_module_literal_cost(case)


@pytest.mark.parametrize("case", checked(CASES), ids=case_ids(checked(CASES)))
def test_module_literal_cost_equals_an_independent_tally(case: Case):
    """The naive loop computes the module's output (values checked inside the
    check) and tallies the same mults, adds and other as the literal."""
    assert_module_literal_equals_tally(case)


@pytest.mark.parametrize("op,name", list(op_params(OPS)))
def test_op_literal_cost(op: Op, name: str):
    assert_op_literal_cost(op, name)
