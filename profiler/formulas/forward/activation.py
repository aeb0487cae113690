"""Activations and softmax: modules, and the aten ops with their own arguments
(elu, gelu, glu, softmax, log_softmax; plain elementwise ones are in ``elementwise``).
Per-element costs come from the table in ``elementwise``.  Backward:
``backward/activation.py``, which reuses ``ACTIVATIONS`` and ``softmax_row``."""
from __future__ import annotations

import torch
from torch import nn

from profiler.formulas.cost import Cost, numel, per_element
from profiler.formulas.forward.elementwise import elementwise_cost
from profiler.formulas.registry import CallShapes, aten_formula, module_formula
from profiler.formulas.shapes import dim_size

aten = torch.ops.aten

# module class: its entry in elementwise.ELEMENTWISE
ACTIVATIONS = {
    nn.ReLU: "relu", nn.ReLU6: "relu6", nn.Hardtanh: "hardtanh", nn.Threshold: "threshold",
    nn.LeakyReLU: "leaky_relu", nn.PReLU: "prelu", nn.RReLU: "rrelu", nn.ELU: "elu",
    nn.CELU: "celu", nn.SELU: "selu", nn.Sigmoid: "sigmoid", nn.LogSigmoid: "logsigmoid",
    nn.Tanh: "tanh", nn.SiLU: "silu", nn.Mish: "mish", nn.Softplus: "softplus",
    nn.Hardswish: "hardswish", nn.Hardsigmoid: "hardsigmoid", nn.Hardshrink: "hardshrink",
    nn.Softshrink: "softshrink", nn.Tanhshrink: "tanhshrink", nn.Softsign: "softsign",
}


def _activation(m: nn.Module, call: CallShapes) -> Cost:
    """Elementwise activation: a fixed cost per output element, from the table in
    ``profiler.formulas.forward.elementwise`` (ReLU is one comparison, SiLU is
    x·1/(1+exp(−x)): 1 mult, 1 add, 1 exp, 1 division, ...)."""
    return elementwise_cost(activation_name(m), numel(call.out))


def activation_name(m: nn.Module) -> str:
    """The ELEMENTWISE entry of an activation module, by the class it is (or subclasses)."""
    return next(ACTIVATIONS[cls] for cls in type(m).__mro__ if cls in ACTIVATIONS)


module_formula(*ACTIVATIONS, kind="activation")(_activation)


@module_formula(nn.GELU, kind="activation")
def gelu_module(m: nn.GELU, call: CallShapes) -> Cost:
    """GELU: erf form 0.5·x·(1+erf(x/√2)) is 3 mults, 1 add, 1 erf per element;
    approximate='tanh' is 6 mults, 2 adds, 1 tanh."""
    return elementwise_cost(gelu_name(m.approximate), numel(call.out))


def gelu_name(approximate: str) -> str:
    """The ELEMENTWISE entry of GELU: the erf form, or approximate='tanh'."""
    return "gelu_tanh" if approximate == "tanh" else "gelu"


@aten_formula(aten.elu, aten.elu_, kind="activation")
def elu(out, x, alpha=1, scale=1, input_scale=1) -> Cost:
    """ELU, and SELU and CELU, which torch runs as ELU with ``scale`` and
    ``input_scale``: x > 0 ? scale·x : (scale·α)·(exp(x·input_scale) − 1).
    scale·α is one precomputed constant, so ``scale`` costs nothing on the
    negative branch, and its positive branch (1 mult, 1 comparison) is no costlier
    in any class: SELU stays at ELU's 1 mult, 1 add, 2 other.  ``input_scale``
    (1/α for CELU, precomputed) is 1 more mult per element: CELU's 2, 1, 2."""
    n = numel(out)
    return elementwise_cost("elu", n) + Cost(mults=n * (input_scale != 1))


@aten_formula(aten.gelu, aten.gelu_, kind="activation")
def gelu(out, x, approximate="none") -> Cost:
    return elementwise_cost(gelu_name(approximate), numel(out))


def softmax_cost(n_total: int, row: int) -> Cost:
    """Softmax over rows of n values: n exps, n−1 additions and n divisions per row
    (the max subtracted first for numerical stability is not counted).  Its
    backward, y·(g − Σ y·g), is 2n mults and 2n−1 additions per row
    (backward/activation.py, softmax_backward_cost)."""
    rows = n_total // row if row else 0
    return Cost(adds=rows * (row - 1), other=2 * n_total)


def log_softmax_cost(n_total: int, row: int) -> Cost:
    """Log-softmax x − log Σ exp(x) over rows of n: n exps, n−1 additions, 1 log,
    n subtractions per row."""
    rows = n_total // row if row else 0
    return Cost(adds=rows * (2 * row - 1), other=n_total + rows)


def softmax_row(shape, dim: int) -> int:
    """The length of the rows a softmax over ``dim`` normalises."""
    return dim_size(shape, dim)


def module_softmax_row(m: nn.Module, shape) -> int:
    """The row length of a Softmax, Softmin, Softmax2d or LogSoftmax module's call:
    Softmax2d normalises over channels (dim −3); dim=None picks torch's legacy
    default (0 for 0-, 1- and 3-d inputs, else 1)."""
    if isinstance(m, nn.Softmax2d):
        return softmax_row(shape, -3)
    dim = m.dim if m.dim is not None else (0 if len(shape) in (0, 1, 3) else 1)
    return softmax_row(shape, dim)


@module_formula(nn.Softmax, nn.Softmin, nn.Softmax2d, kind="activation")
def softmax_module(m: nn.Module, call: CallShapes) -> Cost:
    return softmax_cost(numel(call.out), module_softmax_row(m, call.out))


@module_formula(nn.LogSoftmax, kind="activation")
def log_softmax_module(m: nn.LogSoftmax, call: CallShapes) -> Cost:
    return log_softmax_cost(numel(call.out), module_softmax_row(m, call.out))


@aten_formula(aten._softmax, aten._safe_softmax, aten.softmax, kind="activation")
def softmax(out, x, dim, *args, **kwargs) -> Cost:
    return softmax_cost(numel(x), softmax_row(x, dim))


@aten_formula(aten._log_softmax, aten.log_softmax, kind="activation")
def log_softmax(out, x, dim, *args, **kwargs) -> Cost:
    return log_softmax_cost(numel(x), softmax_row(x, dim))


@module_formula(nn.GLU, kind="activation")
def glu_module(m: nn.GLU, call: CallShapes) -> Cost:
    """GLU a·σ(b): a sigmoid and a multiplication per output element."""
    n = numel(call.out)
    return elementwise_cost("sigmoid", n) + per_element(n, mults=1)


@aten_formula(aten.glu, kind="activation")
def glu(out, x, dim=-1) -> Cost:
    """F.glu: a·σ(b), the halves of ``dim``: as the GLU module, a sigmoid and a
    multiplication per output element."""
    n = numel(out)
    return elementwise_cost("sigmoid", n) + per_element(n, mults=1)
