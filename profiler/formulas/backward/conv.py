"""Backward of convolutions, direct and transposed: the modules and
aten.convolution (conventions in ``profiler.formulas.backward``)."""
from __future__ import annotations

from math import prod

import torch
from torch import nn

from profiler.formulas.cost import ZERO, Cost, Shape, dot_products, numel
from profiler.formulas.forward.conv import conv_transpose_cost
from profiler.formulas.registry import CallShapes, module_backward, op_backward
from profiler.formulas.shapes import module_params_need, need, per_dim, same_padding


def conv_backward_cost(x: Shape, out: Shape, weight: Shape, groups: int, kernel, stride, padding,
                       dilation, transposed: bool, need_x: bool, need_w: bool, need_b: bool) -> Cost:
    """Convolution (any dimension, groups).  Direct conv, K = (C_in/groups)·∏k:
    grad x = the transposed convolution of g with W (same stride, padding,
    dilation): N_out·K products; an input element reached by m products needs m−1
    additions (see forward.conv.conv_transpose_cost);
    grad W = the correlation of x with g: numel(W) dot products over the
    N·∏out_spatial output positions, N_out·K MACs in all;
    grad b = Σ g per output channel: numel(out) − C_out additions.
    Transposed conv (forward = the grad of a direct conv): grad x is the direct
    conv of g with W, numel(x) dot products of (C_out/groups)·∏k terms; grad W is
    numel(W) dot products over the N·∏in_spatial input positions.  Products with
    padded zeros are counted, as in the forward."""
    d = len(kernel)
    ch = len(x) - d - 1
    c_in, c_out = x[ch], out[ch]
    stride, dilation = per_dim(stride, d), per_dim(dilation, d)
    if isinstance(padding, str):
        padding = same_padding(kernel, dilation) if padding == "same" else (0,) * d
    padding = per_dim(padding, d)
    cost = ZERO
    if transposed:
        if need_x:
            cost += dot_products(numel(x), c_out // groups * prod(kernel))
        if need_w:
            cost += dot_products(prod(weight), numel(x) // c_in)
    else:
        if need_x:
            grad = conv_transpose_cost(out, x, c_out, c_in, groups, tuple(kernel), tuple(stride),
                                       tuple(padding), tuple(dilation), False)
            cost += grad
        if need_w:
            cost += dot_products(prod(weight), numel(out) // c_out)
    if need_b:
        cost += Cost(adds=numel(out) - c_out)
    return cost


@module_backward(nn.modules.conv._ConvNd)
def conv_module_backward(m, call: CallShapes, needs) -> Cost:
    need_w, need_b = module_params_need(m, "weight", "bias")
    return conv_backward_cost(call.x, call.out, tuple(m.weight.shape), m.groups, m.kernel_size,
                              m.stride, m.padding, m.dilation, m.transposed, need(needs, 0),
                              need_w, need_b)


@op_backward(torch.ops.aten.convolution, torch.ops.aten._convolution)
def convolution_backward(needs, out, x, w, bias, stride, padding, dilation, transposed, output_padding,
                         groups, *rest) -> Cost:
    return conv_backward_cost(x, out, w, groups, tuple(w[2:]), stride, padding, dilation, transposed,
                              need(needs, 0), need(needs, 1), need(needs, 2))
