"""Per-element costs of pointwise functions, shared by module formulas and aten ops.

Each entry is (mults, adds, other) for ONE output element.  Conventions:
comparisons, divisions, exp, log, sqrt/rsqrt, erf, tanh, pow and abs are ``other``;
a subtraction is an addition; a negation or a multiplication by -1 is free; constants
such as 1/6 or 1/sqrt(2) are precomputed, so scaling by one is a multiplication.
"""
from __future__ import annotations

# name: (mults, adds, other)            how the element is computed
POINTWISE: dict[str, tuple[int, int, int]] = {
    "relu": (0, 0, 1),                  # max(x, 0): one comparison
    "threshold": (0, 0, 1),             # x > t ? x : v
    "relu6": (0, 0, 2),                 # min(max(x, 0), 6)
    "hardtanh": (0, 0, 2),              # clamp to [lo, hi]
    "clamp": (0, 0, 2),                 # min and max (one bound is counted as two too)
    "leaky_relu": (1, 0, 1),            # x < 0 ? a*x : x
    "prelu": (1, 0, 1),                 # same with a learned slope
    "rrelu": (1, 0, 1),                 # same, slope fixed in eval
    "elu": (1, 1, 2),                   # x > 0 ? x : a*(exp(x) - 1)
    "celu": (1, 1, 3),                  # x > 0 ? x : a*(exp(x/a) - 1); the x/a is a division
    "selu": (2, 1, 2),                  # scale * elu(x)
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
    "abs": (0, 0, 1),
    "sin": (0, 0, 1),
    "cos": (0, 0, 1),
    "pow": (0, 0, 1),
    "reciprocal": (0, 0, 1),
    "div": (0, 0, 1),
    "floor": (0, 0, 1),
    "ceil": (0, 0, 1),
    "round": (0, 0, 1),
    "sign": (0, 0, 1),
    "compare": (0, 0, 1),               # eq, ne, lt, gt, maximum, minimum, where
    "add": (0, 1, 0),
    "mul": (1, 0, 0),
    "square": (1, 0, 0),
    "addcmul": (2, 1, 0),               # a + v * b * c
    "addcdiv": (1, 1, 1),               # a + v * b / c
    "lerp": (1, 2, 0),                  # a + w * (b - a)
    "neg": (0, 0, 0),                   # a sign flip is free
}
