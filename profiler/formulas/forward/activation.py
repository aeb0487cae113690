"""Activations and softmax, from the per-element table in ``elementwise``."""
from __future__ import annotations

from torch import nn

from profiler.formulas.cost import Cost, numel, per_element
from profiler.formulas.forward.elementwise import POINTWISE
from profiler.formulas.registry import Call, module_formula

_ACTIVATIONS = {
    nn.ReLU: "relu", nn.ReLU6: "relu6", nn.Hardtanh: "hardtanh", nn.Threshold: "threshold",
    nn.LeakyReLU: "leaky_relu", nn.PReLU: "prelu", nn.RReLU: "rrelu", nn.ELU: "elu",
    nn.CELU: "celu", nn.SELU: "selu", nn.Sigmoid: "sigmoid", nn.LogSigmoid: "logsigmoid",
    nn.Tanh: "tanh", nn.SiLU: "silu", nn.Mish: "mish", nn.Softplus: "softplus",
    nn.Hardswish: "hardswish", nn.Hardsigmoid: "hardsigmoid", nn.Hardshrink: "hardshrink",
    nn.Softshrink: "softshrink", nn.Tanhshrink: "tanhshrink", nn.Softsign: "softsign",
}


def pointwise_cost(name: str, n: int) -> Cost:
    """``n`` elements of the pointwise function ``name`` (see ``elementwise.POINTWISE``)."""
    mults, adds, other = POINTWISE[name]
    return per_element(n, mults, adds, other)


def _activation(m: nn.Module, call: Call) -> Cost:
    """Pointwise activation: a fixed cost per output element, from the table in
    ``profiler.formulas.forward.elementwise`` (ReLU is one comparison, SiLU is
    x·1/(1+exp(−x)): 1 mult, 1 add, 1 exp, 1 division, ...)."""
    name = next(_ACTIVATIONS[cls] for cls in type(m).__mro__ if cls in _ACTIVATIONS)
    return pointwise_cost(name, numel(call.out))


module_formula(*_ACTIVATIONS, kind="activation")(_activation)


@module_formula(nn.GELU, kind="activation")
def gelu_module(m: nn.GELU, call: Call) -> Cost:
    """GELU: erf form 0.5·x·(1+erf(x/√2)) is 3 mults, 1 add, 1 erf per element;
    approximate='tanh' is 6 mults, 2 adds, 1 tanh."""
    return pointwise_cost("gelu_tanh" if m.approximate == "tanh" else "gelu", numel(call.out))


def softmax_cost(n_total: int, row: int) -> Cost:
    """Softmax over rows of n values: n exps, n−1 additions and n divisions per row
    (the max subtracted first for numerical stability is not counted).  Its
    backward, y·(g − Σ y·g), is 2n mults and 2n−1 additions per row
    (profiler.formulas.backward.costs.softmax_backward_cost)."""
    rows = n_total // row if row else 0
    return Cost(adds=rows * (row - 1), other=2 * n_total)


def log_softmax_cost(n_total: int, row: int) -> Cost:
    """Log-softmax x − log Σ exp(x) over rows of n: n exps, n−1 additions, 1 log,
    n subtractions per row."""
    rows = n_total // row if row else 0
    return Cost(adds=rows * (2 * row - 1), other=n_total + rows)


def _softmax_row(m: nn.Module, shape) -> int:
    if isinstance(m, nn.Softmax2d):
        return shape[-3]
    dim = m.dim if m.dim is not None else (0 if len(shape) in (0, 1, 3) else 1)
    return shape[dim] if shape else 1


@module_formula(nn.Softmax, nn.Softmin, nn.Softmax2d, kind="activation")
def softmax_module(m: nn.Module, call: Call) -> Cost:
    return softmax_cost(numel(call.out), _softmax_row(m, call.out))


@module_formula(nn.LogSoftmax, kind="activation")
def log_softmax_module(m: nn.LogSoftmax, call: Call) -> Cost:
    return log_softmax_cost(numel(call.out), _softmax_row(m, call.out))


@module_formula(nn.GLU, kind="activation")
def glu_module(m: nn.GLU, call: Call) -> Cost:
    """GLU a·σ(b): a sigmoid and a multiplication per output element."""
    n = numel(call.out)
    return pointwise_cost("sigmoid", n) + per_element(n, mults=1)
