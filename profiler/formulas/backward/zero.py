"""Backward of the layers and aten ops that move data (conventions in
``profiler.formulas.backward``): routing a gradient back through a reshape, copy,
cat, index or mask costs nothing; dropout in training scales it; reflection,
replication and circular padding, expand, repeat and where sum it back onto their
input's shape.  ``no_gradient`` is the backward of ops whose gradient is zero or
a pure routing (comparisons, sorts, counts), registered by their groups' files."""
from __future__ import annotations

import torch
from torch import nn

from profiler.formulas.cost import ZERO, Cost, numel, sum_to_cost
from profiler.formulas.forward.zero import ZERO_COST_MODULES
from profiler.formulas.registry import CallShapes, module_backward, op_backward
from profiler.formulas.shapes import first_output, is_shape, need

aten = torch.ops.aten


def no_gradient(needs, out, *args, **kwargs) -> Cost:
    """Piecewise constant (no gradient), or a selection whose gradient is a
    scatter of g: 0."""
    return ZERO


@module_backward(*ZERO_COST_MODULES, inputs=(0,))
def zero_module_backward(m, call: CallShapes, needs) -> Cost:
    """Reshapes, copies and constant padding route the gradient back: 0.  Dropout
    in training scales the kept gradients by 1/(1−p): 1 mult per element (the
    mask is a selection); reflection, replication and circular padding sum the
    border's gradients back in: numel(out) − numel(x) additions."""
    if isinstance(m, nn.modules.dropout._DropoutNd):
        return Cost(mults=numel(call.out)) if m.training and m.p > 0 else ZERO
    if isinstance(m, (nn.modules.padding._ReflectionPadNd, nn.modules.padding._ReplicationPadNd,
                      nn.modules.padding._CircularPadNd)):
        return Cost(adds=numel(call.out) - numel(call.x))
    return ZERO


@op_backward(aten.expand, aten.repeat, inputs=(0,))
def expand_backward(needs, out, x, *args, **kwargs) -> Cost:
    """The gradient is summed over the expanded or repeated copies."""
    return sum_to_cost(numel(out), x)


@op_backward(aten.where)
def where_backward(needs, out, cond, a, b) -> Cost:
    """g masked to each tensor operand (a selection), reduced to its shape."""
    n = numel(out)
    return sum((sum_to_cost(n, x) for i, x in ((1, a), (2, b)) if need(needs, i) and is_shape(x)), ZERO)


@op_backward(aten.native_dropout, inputs=(0,))
def dropout_backward(needs, out, x, p, train=None) -> Cost:
    """Kept gradients scaled by 1/(1−p): 1 mult per element (the mask selects)."""
    return Cost(mults=numel(first_output(out))) if train and p > 0 else ZERO


@op_backward(aten.reflection_pad1d, aten.reflection_pad2d, aten.reflection_pad3d,
             aten.replication_pad1d, aten.replication_pad2d, aten.replication_pad3d, inputs=(0,))
def pad_backward(needs, out, x, *args) -> Cost:
    """The border's gradients summed back in: numel(out) − numel(x) additions."""
    return Cost(adds=numel(out) - numel(x))
