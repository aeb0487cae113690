"""profiler.formulas.forward.elementwise: the per-element table ``ELEMENTWISE`` and the
elementwise aten ops registered from it.

Every row of the table against an independent count: each row's function is
written out below with tests/bruteforce.py's self-counting scalars (+ and − are
adds, × a mult; ÷, comparisons and transcendentals other), as the row's comment
describes it and under the table's own conventions: a negation is free, constants
(1/6, 1/√2, 1/β, a slope from fixed bounds) are precomputed, so scaling by one is
a multiplication.  The scalar function is run on sample points chosen to take
every branch; its value must equal torch's own function there (so the scalar code
is that function), and the costliest branch's tally must equal the row, with no
branch costing more in any class.

Every elementwise op packet, on one small concrete call, against its expected cost:
6 elements × the per-element row (alpha ≠ 1 one more mult)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import pytest
import torch
import torch.nn.functional as F

import bruteforce as bf
from formula_access import elementwise_table
from formula_cases import M, Op, assert_op_literal_cost, binary, boolean, op_params, unary
from elementwise_scalars import (absolute, ceil, cos, equal, erf, floor, greater, less, maximum, minimum,
                               power, round_half_even, sin, sqrt, value)


ELEMENTWISE = elementwise_table()


@dataclass
class Row:
    row: str                        # the ELEMENTWISE key
    scalar: Callable                # the function on Num scalars (one per operand)
    torch_fn: Callable              # torch's function on float64 tensors
    points: list[tuple[float, ...]]  # operand values, one tuple per sample; every branch taken
    id: str = ""                    # tells apart several cases of one row
    xfail: str = ""                 # why an honest count disagrees with the row


def one(*xs):
    """Sample points of a one-operand function."""
    return [(x,) for x in xs]


C_GELU = 1 / math.sqrt(2)                  # precomputed
C_TANH = math.sqrt(2 / math.pi)            # precomputed
SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
RRELU_SLOPE = (1 / 8 + 1 / 3) / 2          # eval-mode slope, fixed from the bounds
MAX64 = torch.finfo(torch.float64).max     # nan_to_num's default replacement of +inf


def softplus_scalar(x, beta, threshold):
    """log(1 + exp(βx))·(1/β), returning x itself past the threshold on βx."""
    bx = beta * x
    if greater(bx, threshold):
        return x
    return (1.0 + bx.exp()).log() * (1 / beta)


ROWS: list[Row] = [
    Row("relu", lambda x: maximum(x, 0.0), torch.relu, one(-1.5, 0.7)),
    Row("threshold", lambda x: x if greater(x, 0.5) else -2.0,
        lambda x: F.threshold(x, 0.5, -2.0), one(0.1, 0.9)),
    Row("relu6", lambda x: minimum(maximum(x, 0.0), 6.0), F.relu6, one(-1.0, 3.0, 7.0)),
    Row("hardtanh", lambda x: minimum(maximum(x, -0.5), 0.8),
        lambda x: F.hardtanh(x, -0.5, 0.8), one(-1.0, 0.3, 2.0)),
    Row("clamp", lambda x: minimum(maximum(x, -0.5), 0.8),
        lambda x: torch.clamp(x, -0.5, 0.8), one(-1.0, 0.3, 2.0)),
    Row("leaky_relu", lambda x: 0.1 * x if less(x, 0.0) else x,
        lambda x: F.leaky_relu(x, 0.1), one(-1.2, 0.5)),
    # the learned slope is a second operand: a scalar of its own
    Row("prelu", lambda x, a: a * x if less(x, 0.0) else x,
        lambda x, a: F.prelu(x, a), [(-1.2, 0.25), (0.5, 0.25)]),
    Row("rrelu", lambda x: RRELU_SLOPE * x if less(x, 0.0) else x,
        lambda x: F.rrelu(x, 1 / 8, 1 / 3, training=False), one(-1.2, 0.5)),
    Row("elu", lambda x: x if greater(x, 0.0) else 1.3 * (x.exp() - 1.0),
        lambda x: F.elu(x, 1.3), one(-0.8, 0.6)),
    # x/α with α a constant is x·(1/α), 1/α precomputed: a multiplication, as the
    # docstring's convention (and torch's kernel, which runs celu as elu with
    # input_scale = 1/α and multiplies) has it
    Row("celu", lambda x: x if greater(x, 0.0) else 1.3 * ((x * (1 / 1.3)).exp() - 1.0),
        lambda x: F.celu(x, 1.3), one(-0.8, 0.6)),
    # scale·elu(x) on the negative branch is (scale·α)·(exp(x) − 1): scale·α is one
    # precomputed constant (torch's elu kernel folds it too: negcoef = α·scale)
    Row("selu", lambda x: SELU_SCALE * x if greater(x, 0.0)
        else (SELU_SCALE * SELU_ALPHA) * (x.exp() - 1.0), F.selu, one(-0.8, 0.6)),
    Row("sigmoid", lambda x: 1.0 / (1.0 + (-x).exp()), torch.sigmoid, one(0.3)),
    # -log(1 + exp(-x)), made stable by one comparison: past the threshold (-x > 20)
    # log(1 + exp(-x)) is -x to float precision, the softplus convention
    Row("logsigmoid", lambda x: x if greater(-x, 20.0) else -(1.0 + (-x).exp()).log(),
        F.logsigmoid, one(0.8, -1.5, -30.0)),
    Row("tanh", lambda x: x.tanh(), torch.tanh, one(0.4)),
    Row("silu", lambda x: x * (1.0 / (1.0 + (-x).exp())), F.silu, one(0.4)),
    Row("mish", lambda x: x * (1.0 + x.exp()).log().tanh(), F.mish, one(0.4)),
    Row("softplus", lambda x: softplus_scalar(x, 2.0, 3.0),
        lambda x: F.softplus(x, beta=2.0, threshold=3.0), one(0.4, 2.0)),
    Row("gelu", lambda x: 0.5 * x * (1.0 + erf(x * C_GELU)), F.gelu, one(0.4, -1.1)),
    Row("gelu_tanh", lambda x: 0.5 * x * (1.0 + (C_TANH * (x + 0.044715 * (x * x * x))).tanh()),
        lambda x: F.gelu(x, approximate="tanh"), one(0.4, -1.1)),
    Row("hardswish", lambda x: x * minimum(maximum(x + 3.0, 0.0), 6.0) * (1 / 6),
        F.hardswish, one(-4.0, 1.0, 4.0)),
    Row("hardsigmoid", lambda x: minimum(maximum(x + 3.0, 0.0), 6.0) * (1 / 6),
        F.hardsigmoid, one(-4.0, 1.0, 4.0)),
    Row("hardshrink", lambda x: x if greater(absolute(x), 0.5) else 0.0,
        lambda x: F.hardshrink(x, 0.5), one(-0.8, 0.2, 0.9)),
    Row("softshrink", lambda x: x - 0.5 if greater(x, 0.5) else (x + 0.5 if less(x, -0.5) else 0.0),
        lambda x: F.softshrink(x, 0.5), one(0.9, -0.9, 0.1)),
    Row("tanhshrink", lambda x: x - x.tanh(), F.tanhshrink, one(0.7)),
    Row("softsign", lambda x: x / (1.0 + absolute(x)), F.softsign, one(-0.7, 0.7)),
    Row("exp", lambda x: x.exp(), torch.exp, one(0.7)),
    Row("log", lambda x: x.log(), torch.log, one(0.7)),
    Row("sqrt", sqrt, torch.sqrt, one(0.7)),
    Row("rsqrt", lambda x: x.rsqrt(), torch.rsqrt, one(0.7)),
    Row("erf", erf, torch.erf, one(0.7)),
    Row("erfinv", lambda x: x._other(torch.erfinv(torch.tensor(x.v, dtype=torch.float64)).item()),
        torch.erfinv, one(0.7)),
    Row("abs", absolute, torch.abs, one(-0.7)),
    Row("sin", sin, torch.sin, one(0.7)),
    Row("cos", cos, torch.cos, one(0.7)),
    Row("tan", lambda x: x._other(math.tan(x.v)), torch.tan, one(0.7)),
    Row("asin", lambda x: x._other(math.asin(x.v)), torch.asin, one(0.7)),
    Row("acos", lambda x: x._other(math.acos(x.v)), torch.acos, one(0.7)),
    Row("atan", lambda x: x._other(math.atan(x.v)), torch.atan, one(0.7)),
    Row("atan2", lambda a, b: a._other(math.atan2(a.v, value(b))), torch.atan2, [(0.7, -1.9)]),
    Row("sinh", lambda x: x._other(math.sinh(x.v)), torch.sinh, one(0.7)),
    Row("cosh", lambda x: x._other(math.cosh(x.v)), torch.cosh, one(0.7)),
    Row("asinh", lambda x: x._other(math.asinh(x.v)), torch.asinh, one(0.7)),
    Row("acosh", lambda x: x._other(math.acosh(x.v)), torch.acosh, one(1.7)),
    Row("atanh", lambda x: x._other(math.atanh(x.v)), torch.atanh, one(0.7)),
    # NaN is the one value unequal to itself; then the two infinities; a finite x is
    # the deepest branch (the replacements: torch's defaults for float64)
    Row("nan_to_num", lambda x: 0.0 if not equal(x, x) else (
        MAX64 if equal(x, math.inf) else (-MAX64 if equal(x, -math.inf) else x)),
        torch.nan_to_num, one(math.nan, math.inf, -math.inf, 0.7)),
    Row("pow", power, torch.pow, [(0.7, 2.5)]),
    Row("reciprocal", lambda x: 1.0 / x, torch.reciprocal, one(0.7)),
    Row("div", lambda a, b: a / b, torch.div, [(0.7, 1.9)]),
    Row("floor", floor, torch.floor, one(-0.7)),
    Row("ceil", ceil, torch.ceil, one(-0.7)),
    Row("round", round_half_even, torch.round, one(2.5, -0.7)),
    # a three-way result: x > 0 settles only the positive case, the others need x < 0
    Row("sign", lambda x: 1.0 if greater(x, 0.0) else (-1.0 if less(x, 0.0) else 0.0),
        torch.sign, one(0.7, -0.7, 0.0)),
    Row("compare", lambda a, b: maximum(a, b), torch.maximum, [(0.7, 1.9)], id="maximum"),
    Row("compare", lambda a, b: minimum(a, b), torch.minimum, [(0.7, 1.9)], id="minimum"),
    Row("compare", less, torch.lt, [(0.7, 1.9)], id="lt"),
    Row("compare", greater, torch.gt, [(0.7, 1.9)], id="gt"),
    Row("add", lambda a, b: a + b, torch.add, [(0.7, 1.9)]),
    Row("mul", lambda a, b: a * b, torch.mul, [(0.7, 1.9)]),
    Row("square", lambda x: x * x, torch.square, one(0.7)),
    Row("addcmul", lambda a, b, c: a + 0.5 * b * c,
        lambda a, b, c: torch.addcmul(a, b, c, value=0.5), [(0.7, 1.9, -0.4)]),
    Row("addcdiv", lambda a, b, c: a + 0.5 * b / c,
        lambda a, b, c: torch.addcdiv(a, b, c, value=0.5), [(0.7, 1.9, -0.4)]),
    Row("lerp", lambda a, b, w: a + w * (b - a), torch.lerp, [(0.7, 1.9, 0.3)]),
    Row("neg", lambda x: -x, torch.neg, one(0.7)),
]


def _case_id(r: Row) -> str:
    return f"{r.row}[{r.id}]" if r.id else r.row


def _params(with_xfail: bool):
    for r in ROWS:
        marks = [pytest.mark.xfail(strict=True, reason=r.xfail)] if r.xfail and with_xfail else []
        yield pytest.param(r, id=_case_id(r), marks=marks)


def _run(r: Row, point: tuple[float, ...]) -> tuple[float, tuple[int, int, int]]:
    t = bf.Tally()
    result = r.scalar(*(t.num(v) for v in point))
    return value(result), t.as_tuple()


@pytest.mark.parametrize("r", list(_params(with_xfail=False)))
def test_scalar_code_computes_torchs_function(r: Row):
    """The scalar function is the row's function: same value as torch's on every
    sample point (so a tally of it is a tally of that function)."""
    for point in r.points:
        got, _ = _run(r, point)
        expected = r.torch_fn(*(torch.tensor([v], dtype=torch.float64) for v in point))
        assert got == pytest.approx(float(expected.double().item()), rel=1e-9, abs=1e-12), point


@pytest.mark.parametrize("r", list(_params(with_xfail=True)))
def test_costliest_branch_tally_equals_the_row(r: Row):
    tallies = [_run(r, point)[1] for point in r.points]
    costliest = max(tallies, key=sum)
    row = tuple(ELEMENTWISE[r.row])
    assert costliest == row, f"{r.row}: scalar code tallies {tallies}, table says {row}"
    # no branch costs more than the counted one in any class
    assert all(a <= b for tally in tallies for a, b in zip(tally, costliest)), tallies


def test_every_row_has_an_independent_count():
    covered = {r.row for r in ROWS}
    missing = sorted(set(ELEMENTWISE) - covered)
    assert not missing, f"ELEMENTWISE rows without an independent per-element count: {missing}"
    stale = sorted(covered - set(ELEMENTWISE))
    assert not stale, f"cases for rows the table no longer has: {stale}"


# --- the elementwise op packets ------------------------------------------------------------

OPS: list[Op] = [
    # --- elementwise, 6 elements × the row
    binary(["add", "add_", "sub", "sub_"], (0, 1, 0)),
    binary(["add", "sub"], (1, 1, 0), kwargs={"alpha": 2}, id="alpha"),   # alpha ≠ 1: + 1 mult
    unary(["rsub"], (0, 1, 0), lambda: (M(2, 3), 1.0)),
    binary(["mul", "mul_"], (1, 0, 0)),
    binary(["div", "div_", "true_divide", "true_divide_", "floor_divide", "floor_divide_",
            "remainder", "remainder_", "fmod", "fmod_"], (0, 0, 1)),       # one division-class op
    unary(["neg", "neg_"], (0, 0, 0)),                                    # free
    unary(["exp", "exp_", "log", "log_", "log2", "log2_", "log10", "log10_", "log1p", "log1p_",
           "expm1", "expm1_", "sqrt", "sqrt_", "rsqrt", "rsqrt_", "erf", "erf_", "erfinv", "erfinv_", "abs", "abs_",
           "sin", "sin_", "cos", "cos_", "reciprocal", "reciprocal_", "floor", "floor_", "ceil",
           "ceil_", "round", "round_", "tanh", "tanh_", "relu", "relu_",
           "isnan", "isinf", "trunc", "trunc_", "tan", "tan_", "asin", "asin_", "acos", "acos_",
           "atan", "atan_", "sinh", "sinh_", "cosh", "cosh_", "asinh", "asinh_", "acosh", "acosh_",
           "atanh", "atanh_"], (0, 0, 1)),
    binary(["atan2", "atan2_"], (0, 0, 1)),
    unary(["nan_to_num", "nan_to_num_"], (0, 0, 3)),                      # x ≠ x, = +inf, = −inf
    binary(["polar"], (2, 0, 2)),                                         # r·cos θ, r·sin θ                                # one op each
    unary(["sign", "sign_"], (0, 0, 2)),                                  # x > 0, x < 0
    unary(["pow", "pow_"], (0, 0, 1), lambda: (M(2, 3), 2.5)),
    unary(["square", "square_"], (1, 0, 0)),
    unary(["sigmoid", "sigmoid_"], (0, 1, 2)),
    unary(["relu6", "relu6_"], (0, 0, 2)),
    unary(["hardtanh", "hardtanh_"], (0, 0, 2), lambda: (M(2, 3), -0.5, 0.5)),
    unary(["clamp", "clamp_", "clip", "clip_"], (0, 0, 2), lambda: (M(2, 3), -0.5, 0.5)),
    unary(["clamp_min", "clamp_min_", "clamp_max", "clamp_max_"], (0, 0, 1), lambda: (M(2, 3), 0.5)),
    binary(["eq", "eq_", "ne", "ne_", "lt", "lt_", "le", "le_", "gt", "gt_", "ge", "ge_",
            "maximum", "minimum"], (0, 0, 1)),
    boolean(["logical_and", "logical_and_", "logical_or", "logical_or_", "bitwise_and",
             "bitwise_and_", "bitwise_or", "bitwise_or_", "logical_xor", "logical_xor_",
             "bitwise_xor", "bitwise_xor_"]),
    boolean(["logical_not", "logical_not_", "bitwise_not", "bitwise_not_"], unary_op=True),
    unary(["leaky_relu", "leaky_relu_"], (1, 0, 1)),
    unary(["celu", "celu_"], (2, 1, 2)),     # x·(1/α) a mult, 1/α precomputed
    unary(["selu", "selu_"], (1, 1, 2)),     # scale·α one precomputed constant
    unary(["silu", "silu_"], (1, 1, 2)),
    unary(["mish", "mish_"], (1, 1, 3)),
    unary(["softplus"], (2, 1, 3)),
    unary(["hardswish", "hardswish_"], (2, 1, 2)),
    unary(["hardsigmoid", "hardsigmoid_"], (1, 1, 2)),
    unary(["hardshrink"], (0, 0, 2)),
    unary(["softshrink"], (0, 1, 2)),
    unary(["log_sigmoid_forward"], (0, 1, 3)),
    unary(["threshold", "threshold_"], (0, 0, 1), lambda: (M(2, 3), 0.1, 0.0)),
    unary(["_prelu_kernel"], (1, 0, 1), lambda: (M(2, 3), M(1))),
    unary(["rrelu_with_noise", "rrelu_with_noise_"], (1, 0, 1),
          lambda: (M(2, 3), M(2, 3), 0.125, 0.25, False)),
    unary(["addcmul", "addcmul_"], (2, 1, 0), lambda: (M(2, 3), M(2, 3), M(2, 3)), {"value": 0.5}),
    unary(["addcdiv", "addcdiv_"], (1, 1, 1), lambda: (M(2, 3), M(2, 3), M(2, 3)), {"value": 0.5}),
    unary(["lerp", "lerp_"], (1, 2, 0), lambda: (M(2, 3), M(2, 3), 0.3)),
]


# --- the op cases' tests ------------------------------------------------------------

@pytest.mark.parametrize("op,name", list(op_params(OPS)))
def test_op_literal_cost(op: Op, name: str):
    assert_op_literal_cost(op, name)
