"""profiler.formulas.backward.elementwise: the per-element gradients of elementwise
functions (sigmoid, tanh, silu, exp) against naive gradients written with
self-counting scalars, their values checked against autograd's.

Every row of the per-element gradient table ``ELEMENTWISE_BACKWARD`` against an
independent count, as tests/formulas/forward/test_elementwise.py checks the forward
table: each row's gradient is written out below with tests/bruteforce.py's
self-counting scalars (+ and − are adds, × a mult; ÷, comparisons and
transcendentals other), as the row's comment describes it and under the table's
conventions: a negation is free, constants (1/α, 2/√π, ln 2, s·α, p − 1) are
precomputed, so scaling by one is a multiplication; the gradient reads the forward
value autograd saves (x, or the result y).  The scalar gradient is run on sample
points chosen to take every branch (the kinks included, where autograd picks a side);
its value must equal autograd's gradient there (so the scalar code is that gradient),
the forward value it reads must be the one autograd saves, and the costliest
branch's tally must equal the row, with no branch costing more in any class."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import bruteforce as bf
from elementwise_scalars import absolute, cos, erf, greater, less, power, sin, value
from profiler.formulas.backward.elementwise import ELEMENTWISE_BACKWARD, elementwise_backward_cost


def _grad(fn, inputs, g):
    """Autograd's gradients of Σ fn(inputs)·g with respect to each input (float64)."""
    ts = [torch.tensor(a, requires_grad=True) for a in inputs]
    (fn(*ts) * torch.tensor(g)).sum().backward()
    return [t.grad.numpy() for t in ts]


@pytest.mark.parametrize("name,fn,naive", [
    ("sigmoid", torch.sigmoid, lambda t, x, y, g: t.num(g) * y * (1 - t.num(y))),
    ("tanh", torch.tanh, lambda t, x, y, g: t.num(g) * (1 - t.num(y) * y)),
    ("silu", F.silu, lambda t, x, y, g: (lambda s: t.num(g) * (s * (1 + t.num(x) * (1 - s))))(
        1 / (1 + (-t.num(x)).exp()))),
    ("exp", torch.exp, lambda t, x, y, g: t.num(g) * y),
])
def test_elementwise_backward_counts_equal_naive_gradients(name, fn, naive):
    rng = np.random.default_rng(6)
    x, g = rng.normal(size=7), rng.normal(size=7)
    y = fn(torch.tensor(x)).numpy()
    t = bf.Tally()
    got = [naive(t, x[i], y[i], g[i]).v for i in range(7)]
    np.testing.assert_allclose(got, _grad(fn, [x], g)[0], rtol=1e-9)
    cost = elementwise_backward_cost(name, 7)
    assert (cost.mults, cost.adds, cost.other) == t.as_tuple()


def test_celu_backward_multiplies_by_the_precomputed_reciprocal_of_alpha():
    """x ≤ 0, the costlier branch: g·(y·(1/α) + 1), 1/α precomputed (as the forward
    counts x·(1/α)); one comparison picks the branch."""
    alpha = 1.3
    x, g = -np.linspace(0.2, 1.4, 7), np.random.default_rng(7).normal(size=7)
    y = F.celu(torch.tensor(x), alpha).numpy()
    t = bf.Tally()
    got = []
    for i in range(7):
        assert not greater(t.num(x[i]), 0.0)
        got.append((t.num(g[i]) * (t.num(y[i]) * (1 / alpha) + 1)).v)
    # autograd computes g·exp(x/α) from x, not from y: the same value to ~1e-8
    np.testing.assert_allclose(got, _grad(lambda a: F.celu(a, alpha), [x], g)[0], rtol=1e-6)
    cost = elementwise_backward_cost("celu", 7)
    assert (cost.mults, cost.adds, cost.other) == t.as_tuple() == (14, 7, 7)


# --- every row of ELEMENTWISE_BACKWARD against an independent count ---------------------

@dataclass
class Row:
    row: str                        # the ELEMENTWISE_BACKWARD key
    grad: Callable                  # (g, saved, *other operands) on Num scalars -> grad x
    torch_fn: Callable              # torch's function on float64 tensors; grad of its 1st operand
    points: list[tuple[float, ...]]  # operand values, one tuple per sample; every branch taken
    saved: str = "x"                # the forward value ``grad`` reads: "x" (the input) or "y"
    id: str = ""                    # tells apart several cases of one row
    xfail: str = ""                 # why an honest count disagrees with the row
    rel: float = 1e-9               # value tolerance against autograd's


# torch's celu and hardsigmoid kernels round their constant (1/α, 1/6) to float32:
# autograd's float64 gradient is off by ~5e-8 relative
F32_CONSTANT = 1e-7


def one(*xs):
    """Sample points of a one-operand function."""
    return [(x,) for x in xs]


def in_place(fn):
    """fn run in place on a copy: autograd then saves the result y, not x."""
    return lambda x: fn(x.clone(), inplace=True)


G = -1.7                                   # the output gradient at every sample point
ALPHA = 1.3
SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
RRELU_SLOPE = (1 / 8 + 1 / 3) / 2          # eval-mode slope, fixed from the bounds
C_PDF = 1 / math.sqrt(2 * math.pi)         # φ(x) = C_PDF·exp(−x²/2)
C_TANH = math.sqrt(2 / math.pi)            # gelu_tanh's c
A_TANH = 0.044715                          # gelu_tanh's a
C_ERF = 2 / math.sqrt(math.pi)
C_ERFINV = math.sqrt(math.pi) / 2

# hardswish: −3 < x < 3 ? g·(2x + 3)/6 : (x ≥ 3 ? g : 0), the comment's branches
# (autograd's too: 0 at x = −3, g at x = 3)
def hardswish_grad(g, x):
    if greater(x, -3.0):
        return g * ((2.0 * x + 3.0) * (1 / 6)) if less(x, 3.0) else g
    return 0.0



def erfinv_grad(g, x):
    """Autograd's 0.5·√π·exp(erfinv(x)²)·g, the constant folded: erfinv recomputed
    from the saved x (1 other), squared (1 mult), exp (1 other), 2 mults."""
    y = x._other(torch.erfinv(torch.tensor(x.v, dtype=torch.float64)).item())
    return C_ERFINV * (y * y).exp() * g


def mish_grad(g, x):
    """e = exp(x), sp = log(1 + e), t = tanh(sp), σ = e/(1 + e), 1 + e computed once:
    g·(t + x·(1 − t²)·σ)."""
    e = x.exp()
    one_e = 1.0 + e
    t = one_e.log().tanh()
    return g * (t + x * (1.0 - t * t) * (e / one_e))


def gelu_tanh_grad(g, x):
    """u = c·(x + a·x³), t = tanh(u), x² computed once:
    g·(0.5·(1 + t) + 0.5·x·(1 − t²)·c·(1 + 3a·x²)), 3a precomputed."""
    x2 = x * x
    t = (C_TANH * (x + A_TANH * (x2 * x))).tanh()
    return g * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * C_TANH * (1.0 + (3 * A_TANH) * x2))


BACKWARD_ROWS: list[Row] = [
    # relu's gradient reads y (autograd saves the result); the kink x = 0 gives 0
    Row("relu", lambda g, y: g if greater(y, 0.0) else 0.0, torch.relu, one(-1.5, 0.0, 0.7), "y"),
    Row("threshold", lambda g, x: g if greater(x, 0.5) else 0.0,
        lambda x: F.threshold(x, 0.5, -2.0), one(0.1, 0.5, 0.9)),
    # 0 < x < 6: the kinks 0 and 6 give 0, as autograd's
    Row("relu6", lambda g, x: g if greater(x, 0.0) and less(x, 6.0) else 0.0, F.relu6,
        one(-1.0, 0.0, 3.0, 6.0, 7.0)),
    Row("hardtanh", lambda g, x: g if greater(x, -0.5) and less(x, 0.8) else 0.0,
        lambda x: F.hardtanh(x, -0.5, 0.8), one(-1.0, -0.5, 0.3, 0.8, 2.0)),
    Row("clamp", lambda g, x: g if greater(x, -0.5) and less(x, 0.8) else 0.0,
        lambda x: torch.clamp(x, -0.5, 0.8), one(-1.0, -0.5, 0.3, 0.8, 2.0)),
    # clamp_min and clamp_max are counted with relu's row: g where x > min (x < max)
    Row("relu", lambda g, x: g if greater(x, 0.5) else 0.0, lambda x: torch.clamp_min(x, 0.5),
        one(0.1, 0.5, 0.9), id="clamp_min"),
    Row("relu", lambda g, x: g if less(x, 0.5) else 0.0, lambda x: torch.clamp_max(x, 0.5),
        one(0.1, 0.5, 0.9), id="clamp_max"),
    Row("leaky_relu", lambda g, x: g if greater(x, 0.0) else 0.1 * g,
        lambda x: F.leaky_relu(x, 0.1), one(-1.2, 0.0, 0.5)),
    # grad of x; the learned slope is a second operand (its own gradient is not this row)
    Row("prelu", lambda g, x, a: g if greater(x, 0.0) else a * g,
        lambda x, a: F.prelu(x, a), [(-1.2, 0.25), (0.0, 0.25), (0.5, 0.25)]),
    Row("rrelu", lambda g, x: g if greater(x, 0.0) else RRELU_SLOPE * g,
        lambda x: F.rrelu(x, 1 / 8, 1 / 3, training=False), one(-1.2, 0.0, 0.5)),
    # elu, celu, selu as the rows count them, from y: what autograd saves when they run
    # in place (x > 0 and y > 0 are one test); out of place autograd saves x: the
    # "from_x" cases below
    Row("elu", lambda g, y: g if greater(y, 0.0) else g * (y + ALPHA),
        in_place(lambda x, inplace: F.elu(x, ALPHA, inplace)), one(-0.8, 0.0, 0.6), "y"),
    Row("celu", lambda g, y: g if greater(y, 0.0) else g * (y * (1 / ALPHA) + 1.0),
        in_place(lambda x, inplace: F.celu(x, ALPHA, inplace)), one(-0.8, 0.6), "y", rel=F32_CONSTANT),
    Row("selu", lambda g, y: SELU_SCALE * g if greater(y, 0.0) else g * (y + SELU_SCALE * SELU_ALPHA),
        in_place(F.selu), one(-0.8, 0.0, 0.6), "y"),
    Row("elu", lambda g, x: g if greater(x, 0.0) else g * (ALPHA * x.exp()),
        lambda x: F.elu(x, ALPHA), one(-0.8, 0.0, 0.6), id="from_x",
        xfail="F.elu / nn.ELU out of place: autograd saves x, not y, and g·(α·exp(x)) "
              "costs (2, 0, 2), not the row's (1, 1, 1) from y"),
    Row("celu", lambda g, x: g if greater(x, 0.0) else g * (x * (1 / ALPHA)).exp(),
        lambda x: F.celu(x, ALPHA), one(-0.8, 0.6), id="from_x", rel=F32_CONSTANT,
        xfail="F.celu / nn.CELU out of place: autograd saves x, not y, and g·exp(x·(1/α)) "
              "costs (2, 0, 2), not the row's (2, 1, 1) from y"),
    Row("selu", lambda g, x: SELU_SCALE * g if greater(x, 0.0)
        else g * ((SELU_SCALE * SELU_ALPHA) * x.exp()), F.selu, one(-0.8, 0.0, 0.6), id="from_x",
        xfail="F.selu / nn.SELU out of place: autograd saves x, not y, and g·(s·α·exp(x)) "
              "costs (2, 0, 2), not the row's (1, 1, 1) from y"),
    Row("sigmoid", lambda g, y: g * y * (1.0 - y), torch.sigmoid, one(-0.9, 0.3), "y"),
    # d/dx −log(1 + exp(−x)) = 1/(1 + exp(x)); no threshold needed: exp(x) = inf gives 0
    Row("logsigmoid", lambda g, x: g / (1.0 + x.exp()), F.logsigmoid, one(0.8, -1.5, -30.0, 30.0)),
    Row("tanh", lambda g, y: g * (1.0 - y * y), torch.tanh, one(0.4), "y"),
    Row("silu", lambda g, x: (lambda s: g * (s * (1.0 + x * (1.0 - s))))(1.0 / (1.0 + (-x).exp())),
        F.silu, one(-0.6, 0.4)),
    Row("mish", mish_grad, F.mish, one(-0.6, 0.4)),
    # g·σ(βx) below the threshold on βx, g past it (β = 2, threshold 3)
    Row("softplus", lambda g, x: (lambda bx: g if greater(bx, 3.0) else g * (1.0 / (1.0 + (-bx).exp())))(
        2.0 * x), lambda x: F.softplus(x, beta=2.0, threshold=3.0), one(0.4, 2.0)),
    # Φ = 0.5·(1 + erf(x·(1/√2))), φ = c·exp(x·x·(−0.5)), the negation folded in the constant
    Row("gelu", lambda g, x: g * (0.5 * (1.0 + erf(x * (1 / math.sqrt(2))))
                                  + x * (C_PDF * (x * x * -0.5).exp())), F.gelu, one(0.4, -1.1)),
    Row("gelu_tanh", gelu_tanh_grad, lambda x: F.gelu(x, approximate="tanh"), one(0.4, -1.1)),
    Row("hardswish", hardswish_grad, F.hardswish, one(-4.0, -3.0, 1.0, 3.0, 4.0)),
    Row("hardsigmoid", lambda g, x: g * (1 / 6) if greater(x, -3.0) and less(x, 3.0) else 0.0,
        F.hardsigmoid, one(-4.0, -3.0, 1.0, 3.0, 4.0), rel=F32_CONSTANT),
    Row("hardshrink", lambda g, x: g if greater(absolute(x), 0.5) else 0.0,
        lambda x: F.hardshrink(x, 0.5), one(-0.8, -0.5, 0.2, 0.5, 0.9)),
    Row("softshrink", lambda g, x: g if greater(x, 0.5) or less(x, -0.5) else 0.0,
        lambda x: F.softshrink(x, 0.5), one(0.9, -0.9, -0.5, 0.1, 0.5)),
    # x − tanh(x): the derivative 1 − (1 − tanh²x) is tanh²x
    Row("tanhshrink", lambda g, x: (lambda t: g * (t * t))(x.tanh()), F.tanhshrink, one(-0.7, 0.7)),
    Row("softsign", lambda g, x: (lambda d: g / (d * d))(1.0 + absolute(x)), F.softsign, one(-0.7, 0.7)),
    Row("exp", lambda g, y: g * y, torch.exp, one(0.7), "y"),
    Row("expm1", lambda g, y: g * (y + 1.0), torch.expm1, one(0.7), "y"),
    Row("log", lambda g, x: g / x, torch.log, one(0.7)),
    Row("log2", lambda g, x: g / (x * math.log(2)), torch.log2, one(0.7)),
    # log10 is counted with log2's row: g / (x·ln 10)
    Row("log2", lambda g, x: g / (x * math.log(10)), torch.log10, one(0.7), id="log10"),
    Row("log1p", lambda g, x: g / (1.0 + x), torch.log1p, one(0.7)),
    Row("sqrt", lambda g, y: g / (2.0 * y), torch.sqrt, one(0.7), "y"),
    Row("rsqrt", lambda g, y: -0.5 * g * (y * y * y), torch.rsqrt, one(0.7), "y"),
    Row("erf", lambda g, x: g * (C_ERF * (-(x * x)).exp()), torch.erf, one(0.7)),
    # autograd's 0.5·√π·exp(erfinv(x)²)·g: erfinv recomputed from the saved x
    Row("erfinv", lambda g, x: erfinv_grad(g, x), torch.erfinv, one(0.7)),
    # g·sign(x) with sign(0) = 0, as autograd's (abs's kink gives 0): three outcomes
    Row("abs", lambda g, x: g if greater(x, 0.0) else (-g if less(x, 0.0) else 0.0),
        torch.abs, one(-0.7, 0.0, 0.7)),
    Row("sin", lambda g, x: g * cos(x), torch.sin, one(0.7)),
    Row("cos", lambda g, x: -(g * sin(x)), torch.cos, one(0.7)),
    Row("reciprocal", lambda g, y: -(g * (y * y)), torch.reciprocal, one(0.7), "y"),
    Row("tan", lambda g, y: g * (1.0 + y * y), torch.tan, one(0.7), "y"),
    Row("asin", lambda g, x: g * (1.0 - x * x).rsqrt(), torch.asin, one(0.7)),
    Row("acos", lambda g, x: -(g * (1.0 - x * x).rsqrt()), torch.acos, one(0.7)),
    Row("atan", lambda g, x: g / (1.0 + x * x), torch.atan, one(0.7)),
    Row("sinh", lambda g, x: g * x._other(math.cosh(x.v)), torch.sinh, one(0.7)),
    Row("cosh", lambda g, x: g * x._other(math.sinh(x.v)), torch.cosh, one(0.7)),
    Row("asinh", lambda g, x: g * (x * x + 1.0).rsqrt(), torch.asinh, one(0.7)),
    Row("acosh", lambda g, x: g * (x * x - 1.0).rsqrt(), torch.acosh, one(1.7)),
    Row("atanh", lambda g, x: g / (1.0 - x * x), torch.atanh, one(0.7)),
    # g·isfinite(x): one test (as isnan, one op), one mult; 0 at ±inf and NaN
    Row("nan_to_num", lambda g, x: g * (1.0 if x._other(float(math.isfinite(x.v))).v else 0.0),
        torch.nan_to_num, one(0.7, math.inf)),
    Row("square", lambda g, x: 2.0 * x * g, torch.square, one(0.7)),
    # scalar exponent p = 2.5: p − 1 precomputed
    Row("pow", lambda g, x: g * (2.5 * power(x, 2.5 - 1)), lambda x: torch.pow(x, 2.5), one(0.7)),
    Row("neg", lambda g, x: -g, torch.neg, one(0.7)),
]


def _backward_case_id(r: Row) -> str:
    return f"{r.row}[{r.id}]" if r.id else r.row


def _backward_params(with_xfail: bool):
    for r in BACKWARD_ROWS:
        marks = [pytest.mark.xfail(strict=True, reason=r.xfail)] if r.xfail and with_xfail else []
        yield pytest.param(r, id=_backward_case_id(r), marks=marks)


def _autograd(r: Row, point: tuple[float, ...]):
    """torch's forward output y and autograd's gradient of its first operand, at G."""
    ts = [torch.tensor([v], dtype=torch.float64, requires_grad=True) for v in point]
    y = r.torch_fn(*ts)
    (y * G).sum().backward()
    return y, float(ts[0].grad.item())


def _run_grad(r: Row, point: tuple[float, ...]) -> tuple[float, tuple[int, int, int]]:
    y, _ = _autograd(r, point)
    saved = float(y.item()) if r.saved == "y" else point[0]
    t = bf.Tally()
    result = r.grad(t.num(G), t.num(saved), *(t.num(v) for v in point[1:]))
    return value(result), t.as_tuple()


@pytest.mark.parametrize("r", list(_backward_params(with_xfail=False)))
def test_scalar_gradient_is_autograds(r: Row):
    """The scalar code is the row's gradient: autograd's value on every sample point
    (so a tally of it is a tally of that gradient)."""
    for point in r.points:
        got, _ = _run_grad(r, point)
        assert got == pytest.approx(_autograd(r, point)[1], rel=r.rel, abs=1e-12), point


@pytest.mark.parametrize("r", list(_backward_params(with_xfail=False)))
def test_scalar_gradient_reads_what_autograd_saves(r: Row):
    """The forward value the scalar code reads, x or y, is the one autograd keeps for
    the backward (composites, tanhshrink and softsign, keep their parts' values)."""
    ts = [torch.tensor([v], dtype=torch.float64, requires_grad=True) for v in r.points[0]]
    node = r.torch_fn(*ts).grad_fn
    saves = {name for name in ("_saved_self", "_saved_result") if hasattr(node, name)}
    if r.row in ("tanhshrink", "softsign", "neg"):   # composites; neg saves nothing
        assert saves <= {"_saved_self"}, saves
        return
    assert saves == {"_saved_result" if r.saved == "y" else "_saved_self"}, (type(node).__name__, saves)


@pytest.mark.parametrize("r", list(_backward_params(with_xfail=True)))
def test_costliest_branch_gradient_tally_equals_the_row(r: Row):
    tallies = [_run_grad(r, point)[1] for point in r.points]
    costliest = max(tallies, key=sum)
    row = tuple(ELEMENTWISE_BACKWARD[r.row])
    assert costliest == row, f"{r.row}: scalar gradient tallies {tallies}, table says {row}"
    # no branch costs more than the counted one in any class
    assert all(a <= b for tally in tallies for a, b in zip(tally, costliest)), tallies


def test_every_backward_row_has_an_independent_count():
    covered = {r.row for r in BACKWARD_ROWS}
    missing = sorted(set(ELEMENTWISE_BACKWARD) - covered)
    assert not missing, f"ELEMENTWISE_BACKWARD rows without an independent per-element count: {missing}"
    stale = sorted({r.row for r in BACKWARD_ROWS} - set(ELEMENTWISE_BACKWARD))
    assert not stale, f"cases for rows the table no longer has: {stale}"
