"""Convolutions, direct and transposed, in 1, 2 and 3 dimensions: the modules and
aten.convolution (F.conv*, F.conv_transpose*).  Backward: ``backward/conv.py``,
whose input gradient is ``conv_transpose_cost`` (pooling's backward uses it too)."""
from __future__ import annotations

from math import prod

import torch
from torch import nn

from profiler.formulas.cost import Cost, dot_products, numel
from profiler.formulas.registry import CallShapes, aten_formula, module_formula


def conv_cost(out_shape, in_channels: int, groups: int, kernel: tuple[int, ...], bias: bool) -> Cost:
    """Direct convolution.

    Each output element is a dot product of K = (C_in/groups)·k₁·…·k_d terms:
    K multiplications and K−1 additions, plus 1 addition for the bias.  Products
    with padded zeros are counted, so stride, padding, dilation and padding mode
    change the count only through the output size N_out.
        mults = MACs = K·N_out,   adds = (K−1)·N_out + N_out·[bias]
    """
    k = in_channels // groups * prod(kernel)
    return dot_products(numel(out_shape), k, bias)


def _hits(n_in: int, n_out: int, k: int, stride: int, pad: int, dil: int) -> tuple[int, int]:
    """Along one dimension of a transposed conv: (products landing inside the
    output, distinct output positions they reach)."""
    positions = [i * stride + j * dil - pad for i in range(n_in) for j in range(k)]
    inside = [p for p in positions if 0 <= p < n_out]
    return len(inside), len(set(inside))


def conv_transpose_cost(in_shape, out_shape, in_channels: int, out_channels: int, groups: int,
                        kernel, stride, padding, dilation, bias: bool) -> Cost:
    """Transposed convolution (the gradient of a conv with respect to its input).

    Every input element is multiplied by (C_out/groups)·∏k weights and scattered:
        mults = MACs = N_in·(C_out/groups)·∏k
    (products cropped away by ``padding`` are computed and counted, as in conv).
    An output element reached by m products needs m−1 additions; output_padding
    and large strides can leave elements that no product reaches (0 additions).
        adds = landed − reached + N_out·[bias]
    where, along each dimension, landed and reached count the (input, tap) pairs
    falling inside the output and the distinct positions they hit.
    """
    d = len(kernel)
    spatial_in, spatial_out = in_shape[-d:], out_shape[-d:]
    batch = numel(in_shape[:-d - 1])
    landed = reached = batch * out_channels
    landed *= in_channels // groups
    for n_in, n_out, k, s, p, dl in zip(spatial_in, spatial_out, kernel, stride, padding, dilation):
        hit, distinct = _hits(n_in, n_out, k, s, p, dl)
        landed *= hit
        reached *= distinct
    products = numel(in_shape) * (out_channels // groups) * prod(kernel)
    return Cost(mults=products, adds=landed - reached + numel(out_shape) * int(bias), macs=products)


@module_formula(nn.modules.conv._ConvNd, kind="conv")
def conv_module(m: nn.modules.conv._ConvNd, call: CallShapes) -> Cost:
    return conv_cost(call.out, m.in_channels, m.groups, m.kernel_size, m.bias is not None)


@module_formula(nn.modules.conv._ConvTransposeNd, kind="conv")
def conv_transpose_module(m: nn.modules.conv._ConvTransposeNd, call: CallShapes) -> Cost:
    return conv_transpose_cost(call.x, call.out, m.in_channels, m.out_channels, m.groups,
                               m.kernel_size, m.stride, m.padding, m.dilation, m.bias is not None)


@aten_formula(torch.ops.aten.convolution, torch.ops.aten._convolution, kind="conv")
def convolution(out, x, w, bias, stride, padding, dilation, transposed, output_padding, groups,
                *rest) -> Cost:
    """F.conv*/F.conv_transpose* called functionally: the module formulas' counts."""
    kernel = tuple(w[2:])
    if transposed:
        return conv_transpose_cost(x, out, w[0], w[1] * groups, groups, kernel, stride, padding,
                                   dilation, bias is not None)
    return conv_cost(out, x[1], groups, kernel, bias is not None)
