"""profiler.formulas.forward.pool: max, average, adaptive, LP, fractional max
pooling and max unpooling, as modules and as aten ops, windows counted whole.
Literal arithmetic for one small call of each (naive loops that tally their own
arithmetic check the modules'), and naive pools over many configurations
(padding, dilation, ceil mode, uneven adaptive windows)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import bruteforce as bf
from formula_cases import (M, Case, Op, assert_module_literal_cost, assert_module_literal_equals_tally,
                           assert_op_literal_cost, case_ids, checked, close, np_, op_params, pos, t)
from layer_cases import ADAPTIVE, AVG_POOLS, MAX_POOLS
from elementwise_scalars import power


# --- literal cases: independent tallies ---------------------------------------------

def max_pool_check(m, args, out):
    values, tally = bf.max_pool(np_(args[0]), m.kernel_size, m.stride, m.padding, m.dilation,
                                m.ceil_mode)
    close(values, out)
    return tally


def avg_pool_check(m, args, out):
    values, tally = bf.avg_pool(np_(args[0]), m.kernel_size, m.stride, m.padding, m.ceil_mode,
                                m.count_include_pad, getattr(m, "divisor_override", None))
    close(values, out)
    return tally


def adaptive_check(mode: str, d: int):
    def check(m, args, out):
        size = m.output_size if isinstance(m.output_size, tuple) else (m.output_size,) * d
        values, tally = bf.adaptive_pool(np_(args[0]), size, mode)
        close(values, out)
        return tally
    return check


def lp_pool_check(m, args, out):
    """(Σ_window x^p)^(1/p) over non-overlapping windows (stride = kernel):
    w pows, w − 1 adds, 1 root per output."""
    x, p = np_(args[0]), m.norm_type
    d = x.ndim - 2
    k = (m.kernel_size,) * d if isinstance(m.kernel_size, int) else tuple(m.kernel_size)
    tally = bf.Tally()
    values = np.empty(out.shape)
    for n, c, *o in np.ndindex(*out.shape):
        cells = [power(tally.num(x[(n, c, *(o[i] * k[i] + tap[i] for i in range(d)))]), p)
                 for tap in np.ndindex(*k)]
        values[(n, c, *o)] = power(bf.total(cells), 1.0 / p).v
    close(values, out)
    return tally


# expected = (mults, adds, other, macs); a dot product of K terms is K mults and
# K − 1 adds (+1 add for a bias), its K mults are also its MACs.

CASES: list[Case] = [
    # --- pooling: windows counted whole
    Case("MaxPool1d", lambda: nn.MaxPool1d(3, stride=2), lambda: (t(1, 2, 7),),
         (0, 0, 6 * (3 - 1), 0), max_pool_check),   # out (1,2,3): 6 × (3 − 1) comparisons
    Case("MaxPool2d", lambda: nn.MaxPool2d(2), lambda: (t(1, 1, 4, 4),),
         (0, 0, 4 * (4 - 1), 0), max_pool_check),   # 4 outputs × (2·2 − 1)
    Case("MaxPool3d", lambda: nn.MaxPool3d(2), lambda: (t(1, 1, 2, 2, 4),),
         (0, 0, 2 * (8 - 1), 0), max_pool_check),   # 2 outputs × (8 − 1)
    Case("AvgPool1d", lambda: nn.AvgPool1d(3), lambda: (t(1, 2, 6),),
         (4, 4 * (3 - 1), 0, 0), avg_pool_check),   # 4 outputs: 2 adds + 1 mult each
    Case("AvgPool2d-pad", lambda: nn.AvgPool2d(2, padding=1), lambda: (t(1, 1, 3, 3),),
         (4, 4 * 3, 0, 0), avg_pool_check),         # out 2×2, padded windows of 4 counted whole
    Case("AvgPool3d", lambda: nn.AvgPool3d(2), lambda: (t(1, 1, 2, 2, 2),),
         (1, 7, 0, 0), avg_pool_check),
    Case("LPPool1d", lambda: nn.LPPool1d(2, 3), lambda: (pos(1, 2, 6),),
         (0, 4 * 2, 4 * (3 + 1), 0), lp_pool_check),   # 4 outputs: 3 pows, 2 adds, 1 root
    Case("LPPool2d", lambda: nn.LPPool2d(3, 2), lambda: (pos(1, 1, 4, 4),),
         (0, 4 * 3, 4 * (4 + 1), 0), lp_pool_check),   # 4 outputs of windows of 4
    Case("LPPool3d", lambda: nn.LPPool3d(2, 2), lambda: (pos(1, 1, 2, 2, 2),),
         (0, 7, 8 + 1, 0), lp_pool_check),             # 1 output, a window of 8
    Case("FractionalMaxPool2d", lambda: nn.FractionalMaxPool2d(2, output_size=(2, 2)),
         lambda: (t(1, 1, 5, 5),), (0, 0, 4 * 3, 0)),     # 4 outputs × (2·2 − 1)
    Case("FractionalMaxPool3d", lambda: nn.FractionalMaxPool3d(2, output_size=(2, 2, 2)),
         lambda: (t(1, 1, 4, 4, 4),), (0, 0, 8 * 7, 0)),  # 8 outputs × (8 − 1)
    # adaptive windows [⌊i·in/out⌋, ⌈(i+1)·in/out⌉): 5 → 3 gives sizes 2, 3, 2 (Σ 7)
    Case("AdaptiveAvgPool1d", lambda: nn.AdaptiveAvgPool1d(3), lambda: (t(1, 2, 5),),
         (6, 2 * 7 - 6, 0, 0), adaptive_check("avg", 1)),   # 6 outputs, Σ windows 2·7
    # 3 → 2 gives sizes 2, 2 (Σ 4); 5 → 3 Σ 7: Σ windows 4·7 = 28 over 6 outputs
    Case("AdaptiveAvgPool2d", lambda: nn.AdaptiveAvgPool2d((2, 3)), lambda: (t(1, 1, 3, 5),),
         (6, 28 - 6, 0, 0), adaptive_check("avg", 2)),
    Case("AdaptiveAvgPool3d", lambda: nn.AdaptiveAvgPool3d(1), lambda: (t(1, 2, 2, 2, 2),),
         (2, 2 * 8 - 2, 0, 0), adaptive_check("avg", 3)),
    Case("AdaptiveMaxPool1d", lambda: nn.AdaptiveMaxPool1d(3), lambda: (t(1, 2, 5),),
         (0, 0, 2 * 7 - 6, 0), adaptive_check("max", 1)),
    Case("AdaptiveMaxPool2d", lambda: nn.AdaptiveMaxPool2d((2, 3)), lambda: (t(1, 1, 3, 5),),
         (0, 0, 28 - 6, 0), adaptive_check("max", 2)),
    Case("AdaptiveMaxPool3d", lambda: nn.AdaptiveMaxPool3d(1), lambda: (t(1, 2, 2, 2, 2),),
         (0, 0, 2 * 8 - 2, 0), adaptive_check("max", 3)),
    Case("MaxUnpool2d", lambda: nn.MaxUnpool2d(2),
         lambda: nn.functional.max_pool2d(t(1, 1, 4, 4), 2, return_indices=True),
         (0, 0, 0, 0)),   # scatters values back
]


OPS: list[Op] = [
    # --- pooling, windows counted whole
    Op(["max_pool1d"], lambda: (M(1, 2, 7), [3], [2]), (0, 0, 6 * 2, 0)),   # 6 outputs × (3 − 1)
    Op(["max_pool2d", "max_pool2d_with_indices"], lambda: (M(1, 1, 4, 4), [2, 2]), (0, 0, 4 * 3, 0)),
    Op(["max_pool2d"], lambda: (M(1, 1, 4, 4), [2]), (0, 0, 4 * 3, 0), id="one-size"),  # [2] is 2×2
    Op(["max_pool3d", "max_pool3d_with_indices"], lambda: (M(1, 1, 2, 2, 4), [2, 2, 2]), (0, 0, 2 * 7, 0)),
    Op(["avg_pool1d"], lambda: (M(1, 2, 6), [3]), (4, 4 * 2, 0, 0)),          # 4 × (2 adds, 1 mult)
    Op(["avg_pool2d"], lambda: (M(1, 1, 3, 3), [2, 2], [2, 2], [1, 1]), (4, 4 * 3, 0, 0)),
    Op(["avg_pool3d"], lambda: (M(1, 1, 2, 2, 2), [2, 2, 2]), (1, 7, 0, 0)),
    # adaptive windows: 3 → 2 sizes 2, 2; 5 → 3 sizes 2, 3, 2: Σ 4·7 = 28 over 6 outputs
    Op(["_adaptive_avg_pool2d"], lambda: (M(1, 1, 3, 5), [2, 3]), (6, 28 - 6, 0, 0)),
    Op(["_adaptive_avg_pool3d"], lambda: (M(1, 2, 2, 2, 2), [1, 1, 1]), (2, 16 - 2, 0, 0)),
    Op(["adaptive_avg_pool1d"], lambda: (M(1, 2, 5), [3]), (6, 2 * 7 - 6, 0, 0)),
    Op(["adaptive_max_pool2d"], lambda: (M(1, 1, 3, 5), [2, 3]), (0, 0, 28 - 6, 0)),
    Op(["adaptive_max_pool3d"], lambda: (M(1, 2, 2, 2, 2), [1, 1, 1]), (0, 0, 16 - 2, 0)),
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


# --- naive pools over many configurations ------------------------------------------------

@pytest.mark.parametrize("cls,shape,kwargs", MAX_POOLS)
def test_max_pool_counts_window_minus_one_comparisons_over_whole_windows(layer_cost, cls, shape, kwargs):
    pool = cls(**kwargs)
    x = torch.randn(shape, dtype=torch.float64)
    batched = x if x.dim() == int(cls.__name__[-2]) + 2 else x[None]  # the loop wants a batch dim
    out, tally = bf.max_pool(bf.numpy_of(batched), pool.kernel_size, pool.stride, pool.padding, pool.dilation,
                             pool.ceil_mode)
    bf.assert_same(out, pool(batched))
    bf.assert_counts(layer_cost(pool, x), tally)


@pytest.mark.parametrize("cls,shape,kwargs", AVG_POOLS)
def test_avg_pool_counts_window_minus_one_adds_and_one_mult_per_output(layer_cost, cls, shape, kwargs):
    pool = cls(**kwargs)
    x = torch.randn(shape, dtype=torch.float64)
    out, tally = bf.avg_pool(bf.numpy_of(x), pool.kernel_size, pool.stride, pool.padding, pool.ceil_mode,
                             pool.count_include_pad, getattr(pool, "divisor_override", None))
    bf.assert_same(out, pool(x))
    bf.assert_counts(layer_cost(pool, x), tally)


@pytest.mark.parametrize("cls,shape,size", ADAPTIVE)
def test_adaptive_pool_counts_pytorchs_exact_uneven_windows(layer_cost, cls, shape, size):
    pool = cls(size)
    x = torch.randn(shape, dtype=torch.float64)
    expected = pool(x)
    d = int(cls.__name__[-2])
    out_size = tuple(expected.shape[-d:])
    out, tally = bf.adaptive_pool(bf.numpy_of(x), out_size, "max" if "Max" in cls.__name__ else "avg")
    bf.assert_same(out, expected[0] if isinstance(expected, tuple) else expected)
    bf.assert_counts(layer_cost(pool, x), tally)
