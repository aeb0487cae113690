"""profiler.formulas.forward.reduce: the reductions (sum, nansum, cumsum, cumprod,
mean, extrema and their indices, aminmax, var/std, vector norms by their order,
logsumexp, mse_loss by its reduction) and the sorts and selections (sort, argsort,
topk, kthvalue, median), as literal arithmetic for one small call of each."""
from __future__ import annotations

from math import ceil, log2

import pytest

from formula_cases import B, M, Op, assert_op_literal_cost, op_params


X = (2, 3, 4)   # the reductions' input: n = 24
# sort of lines of n: n·⌈log₂ n⌉ comparisons a line; a heap of k: n·⌈log₂ max(k, 2)⌉
SORT_LINES_OF_4 = 6 * 4 * ceil(log2(4))


OPS: list[Op] = [
    # --- reductions over X = (2, 3, 4), n = 24 inputs into m outputs
    Op(["sum"], lambda: (M(*X), [2]), (0, 24 - 6, 0, 0)),
    Op(["sum"], lambda: (M(*X),), (0, 24 - 1, 0, 0), id="all"),
    Op(["nansum"], lambda: (M(*X), [1]), (0, 24 - 8, 0, 0)),
    Op(["cumsum"], lambda: (M(*X), 1), (0, 8 * (3 - 1), 0, 0)),     # 8 lines of 3
    Op(["cumprod"], lambda: (M(*X), 2), (6 * (4 - 1), 0, 0, 0)),    # 6 lines of 4
    Op(["prod"], lambda: (M(*X), 1), (24 - 8, 0, 0, 0)),            # n − m mults
    Op(["prod"], lambda: (M(*X),), (24 - 1, 0, 0, 0), id="all"),
    Op(["cummax", "cummin"], lambda: (M(*X), 1), (0, 0, 8 * (3 - 1), 0)),   # 8 lines of 3
    Op(["all", "any"], lambda: (B(*X), 2), (0, 0, 24 - 6, 0)),       # n − m logical ops
    Op(["all", "any", "_is_all_true", "_is_any_true"], lambda: (B(*X),), (0, 0, 24 - 1, 0), id="all"),
    Op(["mean"], lambda: (M(*X), [2]), (6, 24 - 6, 0, 0)),          # + 1 mult by 1/4 each
    Op(["amax", "amin"], lambda: (M(*X), [2]), (0, 0, 24 - 6, 0)),
    Op(["max", "min"], lambda: (M(*X),), (0, 0, 24 - 1, 0)),
    Op(["max", "min"], lambda: (M(*X), 1), (0, 0, 24 - 8, 0), id="dim"),
    Op(["max", "min"], lambda: (M(*X), M(*X)), (0, 0, 24, 0), id="binary"),   # 1 per element
    Op(["argmax", "argmin"], lambda: (M(*X), 2), (0, 0, 24 - 6, 0)),
    Op(["aminmax"], lambda: (M(*X),), (0, 0, 2 * (24 - 1), 0), kwargs={"dim": None}),
    # variance over the last dim, m = 6: mean (18 adds, 6 divisions), centre (24 adds),
    # squares (24 mults), sum (18 adds), divide (6)
    Op(["var", "var_mean"], lambda: (M(*X), [2]), (24, 18 + 24 + 18, 6 + 6, 0)),
    # std: the variance's count and, as the docstring says, 6 square roots
    Op(["std", "std_mean"], lambda: (M(*X), [2]), (24, 18 + 24 + 18, 6 + 6 + 6, 0)),
    # 2-norm over the last dim: 24 squares, 18 adds, 6 square roots
    Op(["linalg_vector_norm", "norm"], lambda: (M(*X), 2, [2]), (24, 18, 6, 0)),
    # 1-norm: |x| (24 other) summed (18 adds), no squares, no roots
    Op(["linalg_vector_norm", "norm"], lambda: (M(*X), 1, [2]), (0, 18, 24, 0), id="ord1"),
    # ∞-norm: |x| (24 other), the largest of each 4 (18 comparisons); −∞ the smallest
    Op(["linalg_vector_norm", "norm"], lambda: (M(*X), float("inf"), [2]), (0, 0, 24 + 18, 0),
       id="ord-inf"),
    Op(["linalg_vector_norm", "norm"], lambda: (M(*X), float("-inf"), [2]), (0, 0, 24 + 18, 0),
       id="ord-neg-inf"),
    # 0-"norm", the count of nonzeros: 24 comparisons x ≠ 0, their 0/1 summed (18 adds)
    Op(["linalg_vector_norm", "norm"], lambda: (M(*X), 0, [2]), (0, 18, 24, 0), id="ord0"),
    # 3-norm: |x| and |x|³ (48 other), summed (18 adds), 6 roots s^(1/3)
    Op(["linalg_vector_norm", "norm"], lambda: (M(*X), 3, [2]), (0, 18, 24 + 24 + 6, 0), id="ord3"),
    # the defaults are the 2-norm: linalg_vector_norm(x) and norm(x) over all 24 into 1
    Op(["linalg_vector_norm", "norm"], lambda: (M(*X),), (24, 23, 1, 0), id="default"),
    # norm's dim overloads take p=None for the 2-norm
    Op(["norm"], lambda: (M(*X), None, [2]), (24, 18, 6, 0), id="p-none"),
    Op(["logsumexp"], lambda: (M(*X), [2]), (0, 24 - 6, 24 + 6, 0)),   # 24 exps, 18 adds, 6 logs
    # 24 differences and squares; the mean's 23 adds and 1 mult by 1/24
    Op(["mse_loss"], lambda: (M(*X), M(*X)), (24 + 1, 24 + 23, 0, 0)),
    Op(["mse_loss"], lambda: (M(*X), M(*X), 2), (24, 24 + 23, 0, 0), id="sum"),
    Op(["mse_loss"], lambda: (M(*X), M(*X), 0), (24, 24, 0, 0), id="none"),
    Op(["sort"], lambda: (M(*X), 2), (0, 0, SORT_LINES_OF_4, 0)),
    Op(["argsort"], lambda: (M(*X), 2), (0, 0, SORT_LINES_OF_4, 0)),
    Op(["argsort"], lambda: (M(*X),), (0, 0, SORT_LINES_OF_4, 0), kwargs={"stable": True, "dim": 2},
       id="stable"),
    Op(["topk"], lambda: (M(*X), 2, 2), (0, 0, 6 * 4 * 1, 0)),          # heap of 2: ⌈log₂ 2⌉ = 1
    Op(["kthvalue"], lambda: (M(*X), 3, 2), (0, 0, 6 * 4 * 2, 0)),      # heap of 3: ⌈log₂ 3⌉ = 2
    Op(["median", "nanmedian"], lambda: (M(*X),), (0, 0, 24 * 5, 0)),   # one line of 24: ⌈log₂ 24⌉ = 5
    Op(["median", "nanmedian"], lambda: (M(*X), 2), (0, 0, SORT_LINES_OF_4, 0), id="dim"),
]


# --- the op cases' tests ------------------------------------------------------------

@pytest.mark.parametrize("op,name", list(op_params(OPS)))
def test_op_literal_cost(op: Op, name: str):
    assert_op_literal_cost(op, name)
