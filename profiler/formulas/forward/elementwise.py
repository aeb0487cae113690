"""Elementwise functions: the per-element cost table, shared by module formulas and
aten ops, and the formulas of the elementwise aten ops (add, mul, exp, comparisons,
...; activations called functionally included).  Backward: ``backward/elementwise.py``.

Each table entry is (mults, adds, other) for ONE output element.  Conventions:
comparisons, divisions, exp, log, sqrt/rsqrt, erf, tanh, pow and abs are ``other``;
a subtraction is an addition; a negation or a multiplication by -1 is free; constants
such as 1/6 or 1/sqrt(2) are precomputed, so scaling by one is a multiplication.
"""
from __future__ import annotations

import torch

from profiler.formulas.cost import Cost, numel, per_element
from profiler.formulas.registry import aten_formula
from profiler.formulas.shapes import first_output

aten = torch.ops.aten

# name: (mults, adds, other)            how the element is computed
ELEMENTWISE: dict[str, tuple[int, int, int]] = {
    "relu": (0, 0, 1),                  # max(x, 0): one comparison
    "threshold": (0, 0, 1),             # x > t ? x : v
    "relu6": (0, 0, 2),                 # min(max(x, 0), 6)
    "hardtanh": (0, 0, 2),              # clamp to [lo, hi]
    "clamp": (0, 0, 2),                 # min and max (one bound is counted as two too)
    "leaky_relu": (1, 0, 1),            # x < 0 ? a*x : x
    "prelu": (1, 0, 1),                 # same with a learned slope
    "rrelu": (1, 0, 1),                 # same, slope fixed in eval
    "elu": (1, 1, 2),                   # x > 0 ? x : a*(exp(x) - 1)
    "celu": (2, 1, 2),                  # x > 0 ? x : a*(exp(x * 1/a) - 1), torch's elu with input_scale 1/a
    "selu": (1, 1, 2),                  # x > 0 ? s*x : (s*a)*(exp(x) - 1); s*a one constant (torch folds it)
    "sigmoid": (0, 1, 2),               # 1 / (1 + exp(-x)): exp, add, division
    "logsigmoid": (0, 1, 3),            # -log(1 + exp(-x)): exp, add, log, +1 comparison for stability
    "tanh": (0, 0, 1),                  # one transcendental
    "silu": (1, 1, 2),                  # x * sigmoid(x)
    "mish": (1, 1, 3),                  # x * tanh(log(1 + exp(x)))
    "softplus": (2, 1, 3),              # log(1 + exp(b*x)) / b, with a threshold comparison
    "gelu": (3, 1, 1),                  # 0.5 * x * (1 + erf(x * 1/sqrt(2)))
    "gelu_tanh": (6, 2, 1),             # 0.5*x*(1 + tanh(c*(x + 0.044715*x^3))): x^3 is 2 mults
    "hardswish": (2, 1, 2),             # x * clamp(x + 3, 0, 6) * 1/6
    "hardsigmoid": (1, 1, 2),           # clamp(x + 3, 0, 6) * 1/6
    "hardshrink": (0, 0, 2),            # |x| > l ? x : 0, two comparisons
    "softshrink": (0, 1, 2),            # x - l or x + l or 0
    "tanhshrink": (0, 1, 1),            # x - tanh(x)
    "softsign": (0, 1, 2),              # x / (1 + |x|): abs and division
    "exp": (0, 0, 1),
    "log": (0, 0, 1),
    "sqrt": (0, 0, 1),
    "rsqrt": (0, 0, 1),
    "erf": (0, 0, 1),
    "erfinv": (0, 0, 1),                # the inverse error function: one transcendental
    "abs": (0, 0, 1),
    "sin": (0, 0, 1),
    "cos": (0, 0, 1),
    "tan": (0, 0, 1),
    "asin": (0, 0, 1),                  # inverse and hyperbolic trigonometry: one transcendental
    "acos": (0, 0, 1),
    "atan": (0, 0, 1),
    "atan2": (0, 0, 1),                 # atan(a / b) with its quadrant: one transcendental
    "sinh": (0, 0, 1),
    "cosh": (0, 0, 1),
    "asinh": (0, 0, 1),
    "acosh": (0, 0, 1),
    "atanh": (0, 0, 1),
    "nan_to_num": (0, 0, 3),            # x ≠ x ? nan : (x = +inf ? posinf : (x = −inf ? neginf : x))
    "pow": (0, 0, 1),
    "reciprocal": (0, 0, 1),
    "div": (0, 0, 1),
    "floor": (0, 0, 1),
    "ceil": (0, 0, 1),
    "round": (0, 0, 1),
    "sign": (0, 0, 2),                  # three outcomes, two comparisons: (0 < x) - (x < 0)
    "compare": (0, 0, 1),               # eq, ne, lt, gt, maximum, minimum, where
    "add": (0, 1, 0),
    "mul": (1, 0, 0),
    "square": (1, 0, 0),
    "addcmul": (2, 1, 0),               # a + v * b * c
    "addcdiv": (1, 1, 1),               # a + v * b / c
    "lerp": (1, 2, 0),                  # a + w * (b - a)
    "neg": (0, 0, 0),                   # a sign flip is free
}


def elementwise_cost(name: str, n: int) -> Cost:
    """``n`` elements of the elementwise function ``name`` (table ``ELEMENTWISE``)."""
    mults, adds, other = ELEMENTWISE[name]
    return per_element(n, mults, adds, other)


# aten op name: its ELEMENTWISE entry (the in-place variant op_ is registered too)
ELEMENTWISE_OPS = {
    "add": "add", "sub": "add", "rsub": "add", "mul": "mul", "div": "div", "true_divide": "div",
    "neg": "neg", "exp": "exp", "log": "log", "log2": "log", "log10": "log", "log1p": "log", "expm1": "exp", "sqrt": "sqrt",
    "rsqrt": "rsqrt", "erf": "erf", "erfinv": "erfinv", "abs": "abs", "sin": "sin", "cos": "cos", "pow": "pow",
    "tan": "tan", "asin": "asin", "acos": "acos", "atan": "atan", "atan2": "atan2", "sinh": "sinh",
    "cosh": "cosh", "asinh": "asinh", "acosh": "acosh", "atanh": "atanh", "nan_to_num": "nan_to_num",
    "reciprocal": "reciprocal", "floor": "floor", "ceil": "ceil", "round": "round", "trunc": "floor", "sign": "sign",
    "floor_divide": "div", "remainder": "div", "fmod": "div",
    "sigmoid": "sigmoid", "tanh": "tanh", "relu": "relu", "relu6": "relu6", "hardtanh": "hardtanh",
    "clamp": "clamp", "clamp_min": "compare", "clamp_max": "compare", "clip": "clamp",
    "leaky_relu": "leaky_relu", "celu": "celu", "selu": "selu", "silu": "silu",
    "mish": "mish", "softplus": "softplus", "hardswish": "hardswish", "hardsigmoid": "hardsigmoid",
    "hardshrink": "hardshrink", "softshrink": "softshrink", "log_sigmoid_forward": "logsigmoid",
    "threshold": "threshold", "_prelu_kernel": "prelu", "rrelu_with_noise": "rrelu",
    "eq": "compare", "ne": "compare", "lt": "compare", "le": "compare", "gt": "compare",
    "ge": "compare", "maximum": "compare", "minimum": "compare", "logical_and": "compare",
    "logical_or": "compare", "logical_xor": "compare", "logical_not": "compare", "bitwise_and": "compare",
    "bitwise_or": "compare", "bitwise_xor": "compare", "bitwise_not": "compare", "isnan": "compare", "isinf": "compare",
    "addcmul": "addcmul", "addcdiv": "addcdiv", "lerp": "lerp", "square": "square",
}


def _elementwise(name: str):
    def count(out, *args, alpha=1, **kwargs) -> Cost:
        cost = elementwise_cost(name, numel(first_output(out)))
        return cost + per_element(numel(first_output(out)), mults=1) if alpha != 1 else cost
    count.__doc__ = f"Per output element, as '{name}' in elementwise.ELEMENTWISE."
    return count


for _op, _name in ELEMENTWISE_OPS.items():
    for _variant in (_op, _op + "_"):
        if hasattr(aten, _variant):
            aten_formula(getattr(aten, _variant), kind="elementwise")(_elementwise(_name))


@aten_formula(aten.polar, kind="elementwise")
def polar(out, abs, angle) -> Cost:
    """torch.polar(r, θ) = r·cos θ + i·r·sin θ: per output element a cosine and a
    sine (2 other) and 2 multiplications."""
    return per_element(numel(out), mults=2, other=2)
