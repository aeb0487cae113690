"""Backward of elementwise functions: the per-element gradient table, shared by the
activation modules and the aten ops, and the backward formulas of the elementwise
aten ops (unary functions, add/mul/div and other binary ops with broadcasting,
addcmul, addcdiv, lerp; comparisons and rounding, which have no gradient).
Conventions in ``profiler.formulas.backward``."""
from __future__ import annotations

import torch

from profiler.formulas.backward.zero import no_gradient
from profiler.formulas.cost import ZERO, Cost, numel, per_element, sum_to_cost
from profiler.formulas.registry import OpBackward, op_backward
from profiler.formulas.shapes import first_output, is_shape, need

aten = torch.ops.aten

# name: (mults, adds, other) per element for grad x = g·f'(x), f' from saved x or y
ELEMENTWISE_BACKWARD: dict[str, tuple[int, int, int]] = {
    "relu": (0, 0, 1),          # g where y > 0: one comparison
    "threshold": (0, 0, 1),
    "relu6": (0, 0, 2),         # g where 0 < x < 6
    "hardtanh": (0, 0, 2),
    "clamp": (0, 0, 2),
    "leaky_relu": (1, 0, 1),    # x > 0 ? g : a·g
    "prelu": (1, 0, 1),
    "rrelu": (1, 0, 1),
    "elu": (1, 1, 1),           # x > 0 ? g : g·(y + a)
    "celu": (2, 1, 1),          # x > 0 ? g : g·(y·(1/a) + 1), 1/a precomputed
    "selu": (1, 1, 1),          # x > 0 ? s·g : g·(y + s·a)
    "sigmoid": (2, 1, 0),       # g·y·(1 − y)
    "logsigmoid": (0, 1, 2),    # g / (1 + exp(x))
    "tanh": (2, 1, 0),          # g·(1 − y²)
    "silu": (3, 3, 2),          # s = σ(x) again (exp, add, div); g·s·(1 + x·(1 − s))
    "mish": (4, 3, 4),          # e = exp(x), sp = log(1+e), t = tanh(sp), σ = e/(1+e); g·(t + x·(1−t²)·σ)
    "softplus": (2, 1, 3),      # g·σ(b·x), with the threshold comparison
    "gelu": (7, 2, 2),          # g·(Φ(x) + x·φ(x)): Φ = 0.5·(1+erf(x/√2)), φ = c·exp(−x²/2)
    "gelu_tanh": (12, 5, 1),    # u = c·(x + a·x³), t = tanh(u): g·(0.5·(1+t) + 0.5·x·(1−t²)·c·(1+3a·x²))
    "hardswish": (3, 1, 2),     # −3 < x < 3 ? g·(2x + 3)/6 : (x ≥ 3 ? g : 0)
    "hardsigmoid": (1, 0, 2),   # −3 < x < 3 ? g/6 : 0
    "hardshrink": (0, 0, 2),
    "softshrink": (0, 0, 2),
    "tanhshrink": (2, 0, 1),    # g·tanh(x)²
    "softsign": (1, 1, 2),      # g / (1 + |x|)²
    "exp": (1, 0, 0),           # g·y
    "expm1": (1, 1, 0),         # g·(y + 1)
    "log": (0, 0, 1),           # g / x
    "log2": (1, 0, 1),          # g / (x·ln 2)
    "log1p": (0, 1, 1),         # g / (1 + x)
    "sqrt": (1, 0, 1),          # g / (2y)
    "rsqrt": (4, 0, 0),         # −0.5·g·y³
    "erf": (3, 0, 1),           # g·(2/√π)·exp(−x²)
    "erfinv": (3, 0, 2),        # g·(√π/2)·exp(y²), y = erfinv(x) recomputed: autograd saves x
    "abs": (0, 0, 2),           # g·sign(x): three outcomes (sign(0) = 0), two comparisons
    "sin": (1, 0, 1),           # g·cos(x)
    "cos": (1, 0, 1),
    "tan": (2, 1, 0),           # g·(1 + y²)
    "asin": (2, 1, 1),          # g·rsqrt(1 − x²)
    "acos": (2, 1, 1),          # −g·rsqrt(1 − x²)
    "atan": (1, 1, 1),          # g / (1 + x²)
    "sinh": (1, 0, 1),          # g·cosh(x)
    "cosh": (1, 0, 1),          # g·sinh(x)
    "asinh": (2, 1, 1),         # g·rsqrt(x² + 1)
    "acosh": (2, 1, 1),         # g·rsqrt(x² − 1)
    "atanh": (1, 1, 1),         # g / (1 − x²)
    "nan_to_num": (1, 0, 1),    # g·isfinite(x): one test, one mult
    "reciprocal": (2, 0, 0),    # −g·y²
    "square": (2, 0, 0),        # 2x·g
    "pow": (2, 0, 1),           # g·p·x^(p−1), scalar exponent p
    "neg": (0, 0, 0),
}


def elementwise_backward_cost(name: str, n: int) -> Cost:
    """``n`` elements of the gradient of the elementwise function ``name`` (table
    ``ELEMENTWISE_BACKWARD``)."""
    mults, adds, other = ELEMENTWISE_BACKWARD[name]
    return per_element(n, mults, adds, other)


# aten op name: its ELEMENTWISE_BACKWARD entry.  gelu and pow have their own
# formulas (their arguments choose the entry), in ``activation`` and below.
UNARY_OPS = {name: name for name in ELEMENTWISE_BACKWARD if name not in ("gelu", "gelu_tanh", "pow")}
UNARY_OPS.update({"log10": "log2", "log_sigmoid_forward": "logsigmoid", "rrelu_with_noise": "rrelu",
                  "clip": "clamp", "clamp_min": "relu", "clamp_max": "relu", "_prelu_kernel": "prelu"})


def _unary(name: str) -> OpBackward:
    def count(needs, out, x, *args, **kwargs) -> Cost:
        return elementwise_backward_cost(name, numel(first_output(out)))
    count.__doc__ = f"Per output element, as '{name}' in ELEMENTWISE_BACKWARD."
    return count


for _op, _name in UNARY_OPS.items():
    if hasattr(aten, _op):
        op_backward(getattr(aten, _op), inputs=(0,))(_unary(_name))


@op_backward(aten.pow)
def pow_backward(needs, out, base, exponent) -> Cost:
    """Base: g·p·x^(p−1) (2 mults, 1 pow); a tensor exponent: g·y·log(x) (2 mults, 1 log)."""
    n = numel(out)
    cost = per_element(n, 2, 0, 1) + sum_to_cost(n, base) if need(needs, 0) and is_shape(base) else ZERO
    if need(needs, 1) and is_shape(exponent):
        cost += per_element(n, 2, 0, 1) + sum_to_cost(n, exponent)
    return cost


def _binary(per_operand: tuple[tuple[int, int, int], tuple[int, int, int]]) -> OpBackward:
    def count(needs, out, a, b, *args, alpha=1, **kwargs) -> Cost:
        n, cost = numel(out), ZERO
        for i, x in enumerate((a, b)):
            if need(needs, i) and is_shape(x):
                cost += per_element(n, *per_operand[i]) + sum_to_cost(n, x)
                if i == 1 and alpha != 1:
                    cost += Cost(mults=n)
        return cost
    count.__doc__ = (f"Per output element, for each tensor operand that needs a gradient: "
                     f"{per_operand[0]} and {per_operand[1]} (mults, adds, other), plus the sum "
                     f"reducing it to the operand's shape; alpha ≠ 1 scales b's: 1 mult.")
    return count


add_backward = op_backward(aten.add, aten.sub, aten.rsub)(_binary(((0, 0, 0), (0, 0, 0))))  # g, reduced
mul_backward = op_backward(aten.mul)(_binary(((1, 0, 0), (1, 0, 0))))                      # g·b, g·a
div_backward = op_backward(aten.div, aten.true_divide)(_binary(((0, 0, 1), (1, 0, 1))))    # g/b; −g·y/b
maximum_backward = op_backward(aten.maximum, aten.minimum, aten.fmax, aten.fmin)(
    _binary(((0, 0, 1), (0, 0, 1))))  # a mask each (where the operand was the larger / smaller)


@op_backward(aten.atan2)
def atan2_backward(needs, out, a, b) -> Cost:
    """atan2(a, b): d = a² + b² once (2 mults, 1 add, its reciprocal 1 division),
    then grad a = g·b·(1/d), grad b = −g·a·(1/d): 2 mults each, reduced to the
    operand's shape."""
    n = numel(out)
    wanted = [x for i, x in ((0, a), (1, b)) if need(needs, i) and is_shape(x)]
    if not wanted:
        return ZERO
    return per_element(n, 2, 1, 1) + sum((per_element(n, 2) + sum_to_cost(n, x) for x in wanted), ZERO)


@op_backward(aten.polar)
def polar_backward(needs, out, abs, angle) -> Cost:
    """z = r·e^{iθ}: grad r = Re(conj(g)·e^{iθ}) = g_re·cos θ + g_im·sin θ (cos and
    sin recomputed: 2 other, 2 mults, 1 add); grad θ = Re(conj(g)·i·z) =
    g_im·z_re − g_re·z_im from the saved result (2 mults, 1 add); per element,
    each reduced to its operand's shape."""
    n, cost = numel(out), ZERO
    if need(needs, 0) and is_shape(abs):
        cost += per_element(n, 2, 1, 2) + sum_to_cost(n, abs)
    if need(needs, 1) and is_shape(angle):
        cost += per_element(n, 2, 1) + sum_to_cost(n, angle)
    return cost


def _addc(b_cost: tuple[int, int, int], c_cost: tuple[int, int, int]) -> OpBackward:
    def count(needs, out, a, b, c, value=1) -> Cost:
        n = numel(out)
        cost = sum_to_cost(n, a) if need(needs, 0) and is_shape(a) else ZERO
        for i, x, unit in ((1, b, b_cost), (2, c, c_cost)):
            if need(needs, i) and is_shape(x):
                cost += per_element(n, *unit) + Cost(mults=n * (value != 1)) + sum_to_cost(n, x)
        return cost
    count.__doc__ = (f"a + v·(b∘c): grad a = g reduced to a's shape; grad b, grad c per output "
                     f"element {b_cost} and {c_cost} (mults, adds, other), v ≠ 1 1 mult more, "
                     f"then reduced to the operand's shape.")
    return count


op_backward(aten.addcmul)(_addc((1, 0, 0), (1, 0, 0)))  # a + v·b·c: g·c, g·b (·v)
op_backward(aten.addcdiv)(_addc((0, 0, 1), (2, 0, 1)))  # a + v·b/c: g/c; −g·b/c² (c², g·b, a division)


@op_backward(aten.lerp)
def lerp_backward(needs, out, a, b, w) -> Cost:
    """a + w·(b − a): grad a = g·(1−w), grad b = g·w, grad w = g·(b − a)."""
    n, cost = numel(out), ZERO
    for i, x, unit in ((0, a, (1, 1, 0)), (1, b, (1, 0, 0)), (2, w, (1, 1, 0))):
        if need(needs, i) and is_shape(x):
            cost += per_element(n, *unit) + sum_to_cost(n, x)
    return cost


# piecewise constant: comparisons, logic, rounding
NO_GRADIENT_OPS = ("eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_not",
                   "logical_xor", "bitwise_and", "bitwise_or", "bitwise_not", "bitwise_xor", "isnan",
                   "isinf", "floor", "ceil", "round", "trunc", "sign", "floor_divide", "remainder", "fmod")
op_backward(*(getattr(aten, op) for op in NO_GRADIENT_OPS))(no_gradient)
