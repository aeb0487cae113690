"""Backward of activations and softmax: the modules and the aten ops with their
own arguments (gelu, softmax, log_softmax; plain elementwise ones are in
``backward/elementwise.py``, whose table gives the per-element costs).
Conventions in ``profiler.formulas.backward``."""
from __future__ import annotations

import torch
from torch import nn

from profiler.formulas.backward.elementwise import elementwise_backward_cost
from profiler.formulas.cost import ZERO, Cost, numel, per_element
from profiler.formulas.forward.activation import (ACTIVATIONS, activation_name, gelu_name,
                                                  module_softmax_row, softmax_row)
from profiler.formulas.registry import CallShapes, module_backward, op_backward
from profiler.formulas.shapes import need

aten = torch.ops.aten


def softmax_backward_cost(n_total: int, row: int) -> Cost:
    """Softmax y over rows of n: grad x = y·(g − Σ y·g): per row n mults (y·g),
    n−1 additions (the sum), n subtractions, n mults (y·(…)):
        mults = 2n, adds = 2n − 1 per row."""
    rows = n_total // row if row else 0
    return Cost(mults=2 * n_total, adds=2 * n_total - rows)


def log_softmax_backward_cost(n_total: int, row: int) -> Cost:
    """Log-softmax y over rows of n: grad x = g − exp(y)·Σ g: per row n−1
    additions (Σ g), n exps, n mults, n subtractions:
        mults = n, adds = 2n − 1, other = n per row."""
    rows = n_total // row if row else 0
    return Cost(mults=n_total, adds=2 * n_total - rows, other=n_total)


@module_backward(*ACTIVATIONS)
def activation_module_backward(m, call: CallShapes, needs) -> Cost:
    """g·f'(x) per element, from the table in ``backward/elementwise.py``; PReLU's
    weight gradient sums g·x over the positions sharing each slope."""
    cost = elementwise_backward_cost(activation_name(m), numel(call.out)) if need(needs, 0) else ZERO
    if isinstance(m, nn.PReLU) and m.weight.requires_grad:  # Σ g·x over the negative inputs
        cost += Cost(mults=numel(call.out), adds=numel(call.out) - m.weight.numel())
    return cost


@module_backward(nn.GELU, inputs=(0,))
def gelu_module_backward(m, call: CallShapes, needs) -> Cost:
    return elementwise_backward_cost(gelu_name(m.approximate), numel(call.out))


@module_backward(nn.Softmax, nn.Softmin, nn.Softmax2d, inputs=(0,))
def softmax_module_backward(m, call: CallShapes, needs) -> Cost:
    return softmax_backward_cost(numel(call.out), module_softmax_row(m, call.out))


@module_backward(nn.LogSoftmax, inputs=(0,))
def log_softmax_module_backward(m, call: CallShapes, needs) -> Cost:
    return log_softmax_backward_cost(numel(call.out), module_softmax_row(m, call.out))


@module_backward(nn.GLU, inputs=(0,))
def glu_module_backward(m, call: CallShapes, needs) -> Cost:
    """out = a·σ(b): grad a = g·σ(b) (σ again: 1 add, exp, div; 1 mult); grad b =
    g·a·σ·(1−σ) (1 add, 3 mults) per output element."""
    return per_element(numel(call.out), mults=4, adds=2, other=2)


@op_backward(aten.glu, inputs=(0,))
def glu_backward(needs, out, x, dim=-1) -> Cost:
    """As the GLU module's backward, per output element."""
    return per_element(numel(out), mults=4, adds=2, other=2)


@op_backward(aten.gelu, inputs=(0,))
def gelu_backward(needs, out, x, approximate="none") -> Cost:
    return elementwise_backward_cost(gelu_name(approximate), numel(out))


@op_backward(aten._softmax, aten._safe_softmax, aten.softmax, inputs=(0,))
def softmax_backward(needs, out, x, dim, *args, **kwargs) -> Cost:
    return softmax_backward_cost(numel(x), softmax_row(x, dim))


@op_backward(aten._log_softmax, aten.log_softmax, inputs=(0,))
def log_softmax_backward(needs, out, x, dim, *args, **kwargs) -> Cost:
    return log_softmax_backward_cost(numel(x), softmax_row(x, dim))
