"""Backward of pooling: the modules and the aten pooling ops (conventions in
``profiler.formulas.backward``).  The windows' geometry (dimensions, sizes,
overlap) is the forward's, from ``forward/pool.py``."""
from __future__ import annotations

import torch
from torch import nn

from profiler.formulas.cost import ZERO, Cost, Shape, numel
from profiler.formulas.forward.conv import conv_transpose_cost
from profiler.formulas.forward.pool import (adaptive_totals, adaptive_windows_overlap, kernel_and_stride, pool_dims,
                                            windows_overlap)
from profiler.formulas.registry import CallShapes, module_backward, op_backward
from profiler.formulas.shapes import first_output, per_dim

aten = torch.ops.aten


def max_pool_backward_cost(n_out: int, overlapping: bool) -> Cost:
    """Each output gradient goes to its saved argmax.  Windows that do not
    overlap never share an input: 0.  Overlapping windows may pick the same
    input, whose gradients are then summed; how often depends on the data, and
    the upper bound, 1 addition per output, is counted."""
    return Cost(adds=n_out) if overlapping else ZERO


def avg_pool_backward_cost(x: Shape, out: Shape, kernel, stride, padding) -> Cost:
    """Each output gradient times 1/divisor (1 mult), spread over its window: an
    input reached by m windows needs m−1 additions (counted as a transposed conv
    with a kernel of ones, per channel)."""
    d = len(kernel)
    ch = len(x) - d - 1
    c = x[ch] if ch >= 0 else 1
    spread = conv_transpose_cost(out, x, c, c, c, tuple(kernel), tuple(stride), tuple(padding),
                                 (1,) * d, False)
    return Cost(mults=numel(out), adds=spread.adds)


def adaptive_avg_pool_backward_cost(x: Shape, out: Shape, window_total: int) -> Cost:
    """Adaptive average: 1 mult per output, and the Σ window sizes − numel(x)
    additions of inputs shared by several windows (the windows cover every input)."""
    return Cost(mults=numel(out), adds=max(window_total - numel(x), 0))


@module_backward(nn.modules.pooling._MaxPoolNd, inputs=(0,))
def max_pool_module_backward(m, call: CallShapes, needs) -> Cost:
    kernel, stride = kernel_and_stride(m)
    overlapping = windows_overlap(kernel, stride, per_dim(m.dilation, pool_dims(m)))
    return max_pool_backward_cost(numel(call.out), overlapping)


@module_backward(nn.modules.pooling._AvgPoolNd, inputs=(0,))
def avg_pool_module_backward(m, call: CallShapes, needs) -> Cost:
    kernel, stride = kernel_and_stride(m)
    return avg_pool_backward_cost(call.x, call.out, kernel, stride, per_dim(m.padding, pool_dims(m)))


@module_backward(nn.modules.pooling._AdaptiveAvgPoolNd, inputs=(0,))
def adaptive_avg_pool_module_backward(m, call: CallShapes, needs) -> Cost:
    total, _ = adaptive_totals(call.x, call.out, pool_dims(m))
    return adaptive_avg_pool_backward_cost(call.x, call.out, total)


@module_backward(nn.modules.pooling._AdaptiveMaxPoolNd, inputs=(0,))
def adaptive_max_pool_module_backward(m, call: CallShapes, needs) -> Cost:
    d = pool_dims(m)
    overlapping = adaptive_windows_overlap(call.x[-d:], call.out[-d:])
    return max_pool_backward_cost(numel(call.out), overlapping)


@module_backward(nn.modules.pooling._MaxUnpoolNd)
def max_unpool_module_backward(m, call: CallShapes, needs) -> Cost:
    return ZERO  # the gradient is gathered back at the saved indices


@op_backward(aten.max_pool1d, aten.max_pool2d, aten.max_pool3d, aten.max_pool2d_with_indices,
             aten.max_pool3d_with_indices, inputs=(0,))
def max_pool_backward(needs, out, x, kernel, stride=(), padding=0, dilation=1, *args) -> Cost:
    o = first_output(out)
    d = len(kernel) if len(kernel) > 1 else len(o) - 2
    kernel, dilation = per_dim(kernel, d), per_dim(dilation, d)
    stride = per_dim(stride, d) if stride else kernel
    overlapping = windows_overlap(kernel, stride, dilation)
    return max_pool_backward_cost(numel(o), overlapping)


@op_backward(aten.avg_pool1d, aten.avg_pool2d, aten.avg_pool3d, inputs=(0,))
def avg_pool_backward(needs, out, x, kernel, stride=(), padding=0, *args) -> Cost:
    d = len(out) - 2
    kernel = per_dim(kernel, d)
    return avg_pool_backward_cost(x, out, kernel, per_dim(stride, d) if stride else kernel,
                                  per_dim(padding, d))


@op_backward(aten._adaptive_avg_pool2d, aten._adaptive_avg_pool3d, aten.adaptive_avg_pool1d, inputs=(0,))
def adaptive_avg_pool_backward(needs, out, x, output_size) -> Cost:
    total, _ = adaptive_totals(x, out, len(output_size))
    return adaptive_avg_pool_backward_cost(x, out, total)


@op_backward(aten.adaptive_max_pool2d, aten.adaptive_max_pool3d, inputs=(0,))
def adaptive_max_pool_backward(needs, out, x, output_size) -> Cost:
    o = first_output(out)
    overlapping = adaptive_windows_overlap(x[-len(output_size):], o[-len(output_size):])
    return max_pool_backward_cost(numel(o), overlapping)


def lp_pool_backward_cost(x: Shape, out: Shape, kernel, stride) -> Cost:
    """Power-average y = S^(1/p), S = Σ_window x^p, with S and y saved:
    ∂y/∂x_i = y·x_i^(p−1)/S (the constants p and 1/p cancel).  Per output:
    t = g·y/S (1 mult, 1 division); per window element: x_i^(p−1) (1 pow,
    ``other``; autograd saves x, not x^(p−1)) and t·x_i^(p−1) (1 mult), whole
    windows as in the forward; then spread back as avg-pool's gradient is: an input
    reached by m windows needs m−1 additions."""
    window, n_out = numel(kernel), numel(out)
    spread = avg_pool_backward_cost(x, out, kernel, stride, (0,) * len(kernel))
    return Cost(mults=n_out * (window + 1), adds=spread.adds, other=n_out * (window + 1))


def fractional_windows_overlap(n_in, n_out, kernel) -> bool:
    """Whether FractionalMaxPool's windows may share inputs.  Along a dimension
    the windows start at ⌊(i+u)·a⌋ − ⌊u·a⌋ with a = (in − k)/(out − 1) and u a
    random sample, the last at in − k; consecutive starts differ by ⌊a⌋ or ⌈a⌉,
    and ⌊a⌋ occurs for some u whenever a is not an integer.  So windows may
    overlap iff out > 1 and ⌊a⌋ < k along some dimension."""
    return any(o > 1 and (i - k) // (o - 1) < k for i, o, k in zip(n_in, n_out, kernel))


def fractional_max_pool_backward_cost(x: Shape, out: Shape, kernel) -> Cost:
    """As max pooling: each output gradient goes to its saved argmax, no
    arithmetic; where windows may overlap (``fractional_windows_overlap``), the
    data-dependent sums at shared argmaxes are counted at their upper bound, 1
    addition per output."""
    d = len(kernel)
    return max_pool_backward_cost(numel(out), fractional_windows_overlap(x[-d:], out[-d:], kernel))


@module_backward(nn.modules.pooling._LPPoolNd, inputs=(0,))
def lp_pool_module_backward(m, call: CallShapes, needs) -> Cost:
    return lp_pool_backward_cost(call.x, call.out, *kernel_and_stride(m))


@module_backward(nn.FractionalMaxPool2d, nn.FractionalMaxPool3d, inputs=(0,))
def fractional_max_pool_module_backward(m, call: CallShapes, needs) -> Cost:
    return fractional_max_pool_backward_cost(call.x, call.out, per_dim(m.kernel_size, pool_dims(m)))
