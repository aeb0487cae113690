"""Backward counts per captured call: module formulas by class, functional ops by
aten name, and the forward / backward / total table.  The formulas themselves and
their conventions are in ``profiler.backward``."""
from __future__ import annotations

from collections import Counter
from math import prod
from typing import Any, Callable

import pandas as pd
import torch
from torch import nn

from . import backward as B
from .capture import ModuleCall, OpRecord
from .cost import ZERO, Cost, dot_products, numel, per_element
from .formulas.activation import _ACTIVATIONS, _softmax_row  # the forward's class → function table
from .formulas.aten_ops import ZERO_COST_OPS
from .formulas.pool import adaptive_window_total
from .formulas.registry import Call
from .formulas.zero import ZERO_COST_MODULES

from .rows import BWD_COLUMNS

ModuleBackward = Callable[[nn.Module, Call, tuple], Cost]
_MODULES: dict[type, ModuleBackward] = {}


def backward_module(*types: type):
    """Register ``fn(module, call, needs) -> Cost``; ``needs[i]``: whether the i-th
    input tensor of the call requires grad."""
    def register(fn: ModuleBackward) -> ModuleBackward:
        for t in types:
            _MODULES[t] = fn
        return fn
    return register


def find_module_backward(module: nn.Module) -> ModuleBackward | None:
    return next((_MODULES[c] for c in type(module).__mro__ if c in _MODULES), None)


def _need(needs, i: int) -> bool:
    return len(needs) > i and bool(needs[i])


def _dims(m: nn.Module) -> int:
    """Spatial dimensions of a pooling/resampling module, from its class name (…1d/2d/3d)."""
    return next(int(c.__name__[-2]) for c in type(m).__mro__ if c.__name__[-2:] in ("1d", "2d", "3d"))


def _tuple(v, d: int) -> tuple[int, ...]:
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * d


# --- modules -------------------------------------------------------------------

@backward_module(nn.modules.conv._ConvNd)
def _conv(m, call: Call, needs) -> Cost:
    need_w, need_b = B.module_params_need(m, "weight", "bias")
    return B.conv_backward_cost(call.x, call.out, tuple(m.weight.shape), m.groups, m.kernel_size,
                                m.stride, m.padding, m.dilation, m.transposed, _need(needs, 0),
                                need_w, need_b)


@backward_module(nn.Linear)
def _linear(m, call: Call, needs) -> Cost:
    return B.linear_backward_cost(call.x, call.out, m.in_features, m.out_features, _need(needs, 0),
                                  *B.module_params_need(m, "weight", "bias"))


@backward_module(*_ACTIVATIONS)
def _activation(m, call: Call, needs) -> Cost:
    name = next(_ACTIVATIONS[c] for c in type(m).__mro__ if c in _ACTIVATIONS)
    cost = B.pointwise_backward_cost(name, numel(call.out)) if _need(needs, 0) else ZERO
    if isinstance(m, nn.PReLU) and m.weight.requires_grad:  # Σ g·x over the negative inputs
        cost += Cost(mults=numel(call.out), adds=numel(call.out) - m.weight.numel())
    return cost


@backward_module(nn.GELU)
def _gelu(m, call: Call, needs) -> Cost:
    name = "gelu_tanh" if m.approximate == "tanh" else "gelu"
    return B.pointwise_backward_cost(name, numel(call.out)) if _need(needs, 0) else ZERO


@backward_module(nn.Softmax, nn.Softmin, nn.Softmax2d)
def _softmax(m, call: Call, needs) -> Cost:
    if not _need(needs, 0):
        return ZERO
    return B.softmax_backward_cost(numel(call.out), _softmax_row(m, call.out))


@backward_module(nn.LogSoftmax)
def _log_softmax(m, call: Call, needs) -> Cost:
    if not _need(needs, 0):
        return ZERO
    return B.log_softmax_backward_cost(numel(call.out), _softmax_row(m, call.out))


@backward_module(nn.GLU)
def _glu(m, call: Call, needs) -> Cost:
    """out = a·σ(b): grad a = g·σ(b) (σ again: 1 add, exp, div; 1 mult); grad b =
    g·a·σ·(1−σ) (1 add, 3 mults) per output element."""
    return per_element(numel(call.out), mults=4, adds=2, other=2) if _need(needs, 0) else ZERO


@backward_module(nn.modules.batchnorm._NormBase)
def _batchnorm(m, call: Call, needs) -> Cost:
    n, need_x = numel(call.out), _need(needs, 0)
    need_w, need_b = B.module_params_need(m, "weight", "bias")
    channel_dim = 1 if len(call.x) > 1 else 0
    channels = call.x[channel_dim]
    params = channels if m.affine else 0
    if m.track_running_stats and m.running_mean is not None and not m.training:
        return B.stored_norm_backward_cost(n, params, need_x, need_w, need_b)
    group = n // channels
    if isinstance(m, nn.modules.instancenorm._InstanceNorm):
        group = prod(call.x[channel_dim + 1:])
    return B.normalize_backward_cost(n, group, params, need_x, need_w, need_b)


@backward_module(nn.LayerNorm)
def _layernorm(m, call: Call, needs) -> Cost:
    group = prod(m.normalized_shape)
    return B.normalize_backward_cost(numel(call.out), group, group if m.elementwise_affine else 0,
                                     _need(needs, 0), *B.module_params_need(m, "weight", "bias"))


@backward_module(nn.GroupNorm)
def _groupnorm(m, call: Call, needs) -> Cost:
    n = numel(call.out)
    batch = call.x[0] if len(call.x) > 1 else 1
    return B.normalize_backward_cost(n, n // (batch * m.num_groups), m.num_channels if m.affine else 0,
                                     _need(needs, 0), *B.module_params_need(m, "weight", "bias"))


@backward_module(nn.RMSNorm)
def _rmsnorm(m, call: Call, needs) -> Cost:
    group = prod(m.normalized_shape)
    return B.rms_norm_backward_cost(numel(call.out), group, group if m.elementwise_affine else 0,
                                    _need(needs, 0), *B.module_params_need(m, "weight"))


@backward_module(nn.modules.pooling._MaxPoolNd)
def _max_pool(m, call: Call, needs) -> Cost:
    d = _dims(m)
    kernel, stride = _tuple(m.kernel_size, d), _tuple(m.stride or m.kernel_size, d)
    dilation = _tuple(m.dilation, d)
    overlapping = any(s < dl * (k - 1) + 1 for k, s, dl in zip(kernel, stride, dilation))
    return B.max_pool_backward_cost(numel(call.out), overlapping) if _need(needs, 0) else ZERO


@backward_module(nn.modules.pooling._AvgPoolNd)
def _avg_pool(m, call: Call, needs) -> Cost:
    if not _need(needs, 0):
        return ZERO
    d = _dims(m)
    kernel = _tuple(m.kernel_size, d)
    return B.avg_pool_backward_cost(call.x, call.out, kernel, _tuple(m.stride or kernel, d),
                                    _tuple(m.padding, d))


@backward_module(nn.modules.pooling._AdaptiveAvgPoolNd)
def _adaptive_avg_pool(m, call: Call, needs) -> Cost:
    if not _need(needs, 0):
        return ZERO
    d = _dims(m)
    total = numel(call.out[:-d]) * adaptive_window_total(call.x[-d:], call.out[-d:])
    return B.adaptive_avg_pool_backward_cost(call.x, call.out, total)


@backward_module(nn.modules.pooling._AdaptiveMaxPoolNd)
def _adaptive_max_pool(m, call: Call, needs) -> Cost:
    d = _dims(m)
    overlapping = any(a % b for a, b in zip(call.x[-d:], call.out[-d:]))
    return B.max_pool_backward_cost(numel(call.out), overlapping) if _need(needs, 0) else ZERO


@backward_module(nn.modules.pooling._MaxUnpoolNd)
def _max_unpool(m, call: Call, needs) -> Cost:
    return ZERO  # the gradient is gathered back at the saved indices


_TAPS = {"nearest": 1, "nearest-exact": 1, "linear": 2, "bilinear": 2, "trilinear": 2, "bicubic": 4}


@backward_module(nn.Upsample)
def _upsample(m, call: Call, needs) -> Cost:
    if not _need(needs, 0):
        return ZERO
    return B.interpolate_backward_cost(call.x, call.out, _TAPS[m.mode] ** (len(call.out) - 2))


@backward_module(*ZERO_COST_MODULES)
def _zero(m, call: Call, needs) -> Cost:
    """Reshapes, copies and constant padding route the gradient back: 0.  Dropout
    in training scales the kept gradients by 1/(1−p): 1 mult per element (the
    mask is a selection); reflection, replication and circular padding sum the
    border's gradients back in: numel(out) − numel(x) additions."""
    if not _need(needs, 0):
        return ZERO
    if isinstance(m, nn.modules.dropout._DropoutNd):
        return Cost(mults=numel(call.out)) if m.training and m.p > 0 else ZERO
    if isinstance(m, (nn.modules.padding._ReflectionPadNd, nn.modules.padding._ReplicationPadNd,
                      nn.modules.padding._CircularPadNd)):
        return Cost(adds=numel(call.out) - numel(call.x))
    return ZERO


@backward_module(nn.Embedding)
def _embedding(m, call: Call, needs) -> Cost:
    return ZERO  # rows of the gradient go back to their indices; repeated indices' sums are data-dependent


@backward_module(nn.MultiheadAttention)
def _mha(m, call: Call, needs) -> Cost:
    """The forward's steps in reverse: out projection (a Linear), weights·V and
    softmax(Q·Kᵀ) (``attention_backward_cost``, with the query scaling's 1 mult per
    query element), then the q, k and v projections (Linears).  Attention dropout in
    training: 1 mult per attention weight; head-averaged weights returned: 1 mult
    per element of them."""
    q, k, v = call.inputs[0], call.inputs[1], call.inputs[2]
    batched = len(q) == 3
    axis = 1 if (batched and m.batch_first) else 0
    n = q[0 if axis else 1] if batched else 1
    tgt, src = q[axis], k[axis] + int(m.bias_k is not None) + int(m.add_zero_attn)
    e, h = m.embed_dim, m.num_heads
    head = (n * h, tgt, e // h), (n * h, src, e // h)
    need_w = B.module_params_need(m.out_proj, "weight", "bias")
    cost = B.linear_backward_cost((n * tgt, e), (n * tgt, e), e, e, True, *need_w)
    cost += B.attention_backward_cost(*head, head[1], True, True, True) + Cost(mults=n * tgt * e)
    if m.training and m.dropout > 0:
        cost += Cost(mults=n * h * tgt * src)
    weights = call.outputs[1] if len(call.outputs) > 1 else None
    if weights is not None and len(weights) == len(q):
        cost += Cost(mults=n * tgt * src)
    packed = m._qkv_same_embed_dim
    w_names = ("in_proj_weight",) * 3 if packed else ("q_proj_weight", "k_proj_weight", "v_proj_weight")
    need_b = m.in_proj_bias is not None and m.in_proj_bias.requires_grad
    for i, (rows, width) in enumerate(((n * tgt, e), (n * src, m.kdim), (n * src, m.vdim))):
        need_w = getattr(m, w_names[i]).requires_grad
        cost += B.linear_backward_cost((rows, width), (rows, e), width, e, _need(needs, i), need_w, need_b)
    return cost


def _torchvision_modules() -> None:
    from torchvision.ops import FrozenBatchNorm2d, StochasticDepth
    from torchvision.ops.misc import Permute
    from torchvision.models.maxvit import SwapAxes, WindowDepartition, WindowPartition

    @backward_module(FrozenBatchNorm2d)
    def _frozen_bn(m, call: Call, needs) -> Cost:
        return B.stored_norm_backward_cost(numel(call.out), 0, _need(needs, 0), False, False)

    @backward_module(StochasticDepth)
    def _stochastic_depth(m, call: Call, needs) -> Cost:
        """Training: g times the saved, pre-scaled per-sample noise: 1 mult per element."""
        active = m.training and m.p > 0 and _need(needs, 0)
        return Cost(mults=numel(call.out)) if active else ZERO

    backward_module(Permute, SwapAxes, WindowPartition, WindowDepartition)(_zero)


_torchvision_modules()


# --- functional (aten) ops -------------------------------------------------------

AtenBackward = Callable[..., Cost]  # fn(needs, out, *args, **kwargs) with shapes for tensors
_OPS: dict[str, AtenBackward] = {}


def backward_op(*names: str):
    def register(fn: AtenBackward) -> AtenBackward:
        for name in names:
            _OPS[name] = fn
        return fn
    return register


def _is_shape(x) -> bool:
    return isinstance(x, tuple) and all(isinstance(d, int) for d in x)


def _first(out):
    return out[0] if out and isinstance(out[0], tuple) else out


_UNARY = {name: name for name in B.POINTWISE_BACKWARD}
_UNARY.update({"log10": "log2", "log_sigmoid_forward": "logsigmoid", "rrelu_with_noise": "rrelu",
               "clip": "clamp", "clamp_min": "relu", "clamp_max": "relu", "_prelu_kernel": "prelu"})


def _unary(name: str) -> AtenBackward:
    def count(needs, out, x, *args, **kwargs) -> Cost:
        return B.pointwise_backward_cost(name, numel(_first(out))) if _need(needs, 0) else ZERO
    return count


for _op, _name in _UNARY.items():
    backward_op(_op)(_unary(_name))


@backward_op("gelu")
def _gelu_op(needs, out, x, approximate="none") -> Cost:
    return B.pointwise_backward_cost("gelu_tanh" if approximate == "tanh" else "gelu", numel(out)) \
        if _need(needs, 0) else ZERO


@backward_op("pow")
def _pow_op(needs, out, base, exponent) -> Cost:
    """Base: g·p·x^(p−1) (2 mults, 1 pow); a tensor exponent: g·y·log(x) (2 mults, 1 log)."""
    n = numel(out)
    cost = per_element(n, 2, 0, 1) + B.sum_to_cost(n, base) if _need(needs, 0) and _is_shape(base) else ZERO
    if _need(needs, 1) and _is_shape(exponent):
        cost += per_element(n, 2, 0, 1) + B.sum_to_cost(n, exponent)
    return cost


def _binary(per_operand: tuple[tuple[int, int, int], tuple[int, int, int]]) -> AtenBackward:
    def count(needs, out, a, b, *args, alpha=1, **kwargs) -> Cost:
        n, cost = numel(out), ZERO
        for i, x in enumerate((a, b)):
            if _need(needs, i) and _is_shape(x):
                cost += per_element(n, *per_operand[i]) + B.sum_to_cost(n, x)
                if i == 1 and alpha != 1:
                    cost += Cost(mults=n)
        return cost
    return count


backward_op("add", "sub", "rsub")(_binary(((0, 0, 0), (0, 0, 0))))   # g, reduced to the operand
backward_op("mul")(_binary(((1, 0, 0), (1, 0, 0))))                  # g·b, g·a
backward_op("div", "true_divide")(_binary(((0, 0, 1), (1, 0, 1))))   # g/b; −g·y/b
backward_op("maximum", "minimum", "fmax", "fmin")(_binary(((0, 0, 1), (0, 0, 1))))  # a mask each


@backward_op("where")
def _where(needs, out, cond, a, b) -> Cost:
    n = numel(out)
    return sum((B.sum_to_cost(n, x) for i, x in ((1, a), (2, b)) if _need(needs, i) and _is_shape(x)), ZERO)


def _addc(b_cost: tuple[int, int, int], c_cost: tuple[int, int, int]) -> AtenBackward:
    def count(needs, out, a, b, c, value=1) -> Cost:
        n = numel(out)
        cost = B.sum_to_cost(n, a) if _need(needs, 0) and _is_shape(a) else ZERO
        for i, x, unit in ((1, b, b_cost), (2, c, c_cost)):
            if _need(needs, i) and _is_shape(x):
                cost += per_element(n, *unit) + Cost(mults=n * (value != 1)) + B.sum_to_cost(n, x)
        return cost
    return count


backward_op("addcmul")(_addc((1, 0, 0), (1, 0, 0)))  # a + v·b·c: g·c, g·b (·v)
backward_op("addcdiv")(_addc((0, 0, 1), (2, 0, 1)))  # a + v·b/c: g/c; −g·b/c² (c², g·b, a division)


@backward_op("lerp")
def _lerp(needs, out, a, b, w) -> Cost:
    """a + w·(b − a): grad a = g·(1−w), grad b = g·w, grad w = g·(b − a)."""
    n, cost = numel(out), ZERO
    for i, x, unit in ((0, a, (1, 1, 0)), (1, b, (1, 0, 0)), (2, w, (1, 1, 0))):
        if _need(needs, i) and _is_shape(x):
            cost += per_element(n, *unit) + B.sum_to_cost(n, x)
    return cost


@backward_op("mm", "bmm")
def _mm(needs, out, a, b) -> Cost:
    return B.matmul_backward_cost(a, b, _need(needs, 0), _need(needs, 1))


@backward_op("addmm", "baddbmm", "addbmm")
def _addmm(needs, out, bias, a, b, beta=1, alpha=1) -> Cost:
    cost = B.matmul_backward_cost(a, b, _need(needs, 1), _need(needs, 2))
    if alpha != 1 and (_need(needs, 1) or _need(needs, 2)):
        cost += Cost(mults=numel(out))
    if _need(needs, 0) and _is_shape(bias):
        cost += B.sum_to_cost(numel(out), bias) + Cost(mults=numel(bias) * (beta != 1))
    return cost


@backward_op("mv", "addmv")
def _mv(needs, out, *args, beta=1, alpha=1) -> Cost:
    """y = A·v: grad A = g⊗v (1 mult each), grad v = Aᵀ·g."""
    offset = len(args) - 2
    a, v = args[offset], args[offset + 1]
    cost = dot_products(numel(a), 1) if _need(needs, offset) else ZERO
    if _need(needs, offset + 1):
        cost += dot_products(v[0], a[0])
    if offset and _need(needs, 0):
        cost += B.sum_to_cost(numel(out), args[0])
    return cost


@backward_op("dot", "vdot")
def _dot(needs, out, a, b) -> Cost:
    return sum((dot_products(numel(a), 1) for i in (0, 1) if _need(needs, i)), ZERO)


@backward_op("convolution", "_convolution")
def _convolution(needs, out, x, w, bias, stride, padding, dilation, transposed, output_padding,
                 groups, *rest) -> Cost:
    return B.conv_backward_cost(x, out, w, groups, tuple(w[2:]), stride, padding, dilation, transposed,
                                _need(needs, 0), _need(needs, 1), _need(needs, 2))


@backward_op("_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_flash_attention",
             "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention",
             "scaled_dot_product_attention")
def _sdpa(needs, out, q, k, v, *args, **kwargs) -> Cost:
    return B.attention_backward_cost(q, k, v, _need(needs, 0), _need(needs, 1), _need(needs, 2))


@backward_op("_softmax", "_safe_softmax", "softmax")
def _softmax_op(needs, out, x, dim, *args, **kwargs) -> Cost:
    return B.softmax_backward_cost(numel(x), x[dim] if x else 1) if _need(needs, 0) else ZERO


@backward_op("_log_softmax", "log_softmax")
def _log_softmax_op(needs, out, x, dim, *args, **kwargs) -> Cost:
    return B.log_softmax_backward_cost(numel(x), x[dim] if x else 1) if _need(needs, 0) else ZERO


@backward_op("native_layer_norm")
def _layer_norm_op(needs, out, x, normalized_shape, weight, bias, eps) -> Cost:
    group = prod(normalized_shape)
    return B.normalize_backward_cost(numel(x), group, group if weight is not None else 0,
                                     _need(needs, 0), _need(needs, 2), _need(needs, 3))


@backward_op("native_group_norm")
def _group_norm_op(needs, out, x, weight, bias, n, c, hw, groups, eps) -> Cost:
    return B.normalize_backward_cost(numel(x), numel(x) // (n * groups), c if weight is not None else 0,
                                     _need(needs, 0), _need(needs, 1), _need(needs, 2))


@backward_op("native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_no_training",
             "batch_norm")
def _batch_norm_op(needs, out, x, weight, bias, *args) -> Cost:
    training = next((a for a in args if isinstance(a, bool)), False)
    channels = x[1] if len(x) > 1 else x[0]
    params = channels if weight is not None else 0
    if training:
        return B.normalize_backward_cost(numel(x), numel(x) // channels, params, _need(needs, 0),
                                         _need(needs, 1), _need(needs, 2))
    return B.stored_norm_backward_cost(numel(x), params, _need(needs, 0), _need(needs, 1), _need(needs, 2))


@backward_op("_fused_rms_norm", "rms_norm")
def _rms_norm_op(needs, out, x, normalized_shape, weight=None, eps=None) -> Cost:
    group = prod(normalized_shape)
    return B.rms_norm_backward_cost(numel(x), group, group if weight is not None else 0,
                                    _need(needs, 0), _need(needs, 2))


@backward_op("max_pool1d", "max_pool2d", "max_pool3d", "max_pool2d_with_indices",
             "max_pool3d_with_indices")
def _max_pool_op(needs, out, x, kernel, stride=(), padding=0, dilation=1, *args) -> Cost:
    o = _first(out)
    d = len(o) - 2 if len(kernel) == 1 else len(kernel)
    kernel, stride = _tuple(list(kernel) * (d // len(kernel)), d), _tuple(stride or kernel, d)
    stride = stride * (d // len(stride)) if len(stride) == 1 else stride
    dilation = _tuple(dilation, d)
    dilation = dilation * (d // len(dilation)) if len(dilation) == 1 else dilation
    overlapping = any(s < dl * (k - 1) + 1 for k, s, dl in zip(kernel, stride, dilation))
    return B.max_pool_backward_cost(numel(o), overlapping) if _need(needs, 0) else ZERO


@backward_op("avg_pool1d", "avg_pool2d", "avg_pool3d")
def _avg_pool_op(needs, out, x, kernel, stride=(), padding=0, *args) -> Cost:
    if not _need(needs, 0):
        return ZERO
    d = len(out) - 2
    full = lambda v: tuple(v) * (d // len(v)) if isinstance(v, (list, tuple)) and len(v) == 1 \
        else _tuple(v, d)  # noqa: E731
    kernel = full(kernel)
    return B.avg_pool_backward_cost(x, out, kernel, full(stride) if stride else kernel, full(padding))


@backward_op("_adaptive_avg_pool2d", "_adaptive_avg_pool3d", "adaptive_avg_pool1d")
def _adaptive_avg_pool_op(needs, out, x, output_size) -> Cost:
    if not _need(needs, 0):
        return ZERO
    d = len(output_size)
    return B.adaptive_avg_pool_backward_cost(x, out, numel(out[:-d]) * adaptive_window_total(x[-d:], out[-d:]))


@backward_op("adaptive_max_pool2d", "adaptive_max_pool3d")
def _adaptive_max_pool_op(needs, out, x, output_size) -> Cost:
    o = _first(out)
    overlapping = any(a % b for a, b in zip(x[-len(output_size):], o[-len(output_size):]))
    return B.max_pool_backward_cost(numel(o), overlapping) if _need(needs, 0) else ZERO


for _op in ("upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d", "_upsample_nearest_exact1d",
            "_upsample_nearest_exact2d", "_upsample_nearest_exact3d", "upsample_linear1d",
            "upsample_bilinear2d", "_upsample_bilinear2d_aa", "upsample_trilinear3d",
            "upsample_bicubic2d", "_upsample_bicubic2d_aa"):
    def _count(needs, out, x, *args, _taps=1 if "nearest" in _op else 4 if "bicubic" in _op else 2,
               **kwargs) -> Cost:
        if not _need(needs, 0):
            return ZERO
        return B.interpolate_backward_cost(x, out, _taps ** (len(out) - 2))
    backward_op(_op)(_count)


@backward_op("sum", "nansum")
def _sum_op(needs, out, x, *args, **kwargs) -> Cost:
    return ZERO  # the gradient is broadcast back


@backward_op("mean")
def _mean_op(needs, out, x, *args, **kwargs) -> Cost:
    return Cost(mults=numel(out)) if _need(needs, 0) else ZERO  # g/count, then broadcast


@backward_op("cumsum")
def _cumsum_op(needs, out, x, dim, *args, **kwargs) -> Cost:
    """A reversed cumulative sum: numel − rows additions."""
    return Cost(adds=numel(x) - numel(x) // x[dim]) if _need(needs, 0) and x else ZERO


@backward_op("amax", "amin", "max", "min")
def _extremum_op(needs, out, x, *args, **kwargs) -> Cost:
    """Gradient to the selected elements: with indices (max.dim) a scatter, 0; a
    reduction without them (amax) compares every element with the result, n
    comparisons; binary max/min as maximum/minimum."""
    if args and _is_shape(args[0]):
        return _OPS["maximum"](needs, out, x, args[0])
    if isinstance(out, tuple) and out and isinstance(out[0], tuple):
        return ZERO
    return Cost(other=numel(x)) if _need(needs, 0) else ZERO


def _variance(std: bool, with_mean: bool) -> AtenBackward:
    def count(needs, out, x, *args, **kwargs) -> Cost:
        """var: 2/(n'−1)·g·(x − mean): the mean again (n − m adds, m mults),
        centring (n adds), the per-output scale (m mults), the product (n mults);
        std first divides g by 2σ (m mults, m divisions); *_mean adds the mean's
        gradient, g/count (m mults)."""
        if not _need(needs, 0):
            return ZERO
        n, m = numel(x), numel(_first(out))
        return Cost(mults=n + 2 * m + m * std + m * with_mean, adds=2 * n - m, other=m * std)
    return count


backward_op("var")(_variance(False, False))
backward_op("var_mean")(_variance(False, True))
backward_op("std")(_variance(True, False))
backward_op("std_mean")(_variance(True, True))


@backward_op("linalg_vector_norm", "norm")
def _norm_op(needs, out, x, *args, **kwargs) -> Cost:
    """2-norm: g·x/‖x‖: m divisions, n mults."""
    return Cost(mults=numel(x), other=numel(_first(out))) if _need(needs, 0) else ZERO


@backward_op("logsumexp")
def _logsumexp_op(needs, out, x, *args, **kwargs) -> Cost:
    """g·exp(x − y): n subtractions, n exps, n mults."""
    return per_element(numel(x), 1, 1, 1) if _need(needs, 0) else ZERO


@backward_op("expand", "repeat")
def _expand_op(needs, out, x, *args, **kwargs) -> Cost:
    """The gradient is summed over the expanded or repeated copies."""
    return B.sum_to_cost(numel(out), x) if _need(needs, 0) else ZERO


@backward_op("native_dropout")
def _dropout_op(needs, out, x, p, train=None) -> Cost:
    """Kept gradients scaled by 1/(1−p): 1 mult per element (the mask selects)."""
    return Cost(mults=numel(_first(out))) if _need(needs, 0) and train and p > 0 else ZERO


@backward_op("reflection_pad1d", "reflection_pad2d", "reflection_pad3d", "replication_pad1d",
             "replication_pad2d", "replication_pad3d")
def _pad_op(needs, out, x, *args) -> Cost:
    return Cost(adds=numel(out) - numel(x)) if _need(needs, 0) else ZERO


_NO_GRADIENT = ("eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_not",
                "logical_xor", "bitwise_and", "bitwise_or", "bitwise_not", "bitwise_xor", "isnan",
                "isinf", "floor", "ceil", "round", "trunc", "sign", "argmax", "argmin", "sort",
                "argsort", "topk", "kthvalue", "median", "floor_divide", "remainder", "fmod")
for _op in _NO_GRADIENT:  # piecewise constant, or a selection whose gradient is a scatter
    backward_op(_op)(lambda needs, out, *args, **kwargs: ZERO)


def op_backward(record: OpRecord) -> Cost | None:
    """The backward cost of one functional op, or None when it has no formula."""
    if not any(record.needs):
        return ZERO
    name = record.func.overloadpacket.__name__
    fn = _OPS.get(name) or _OPS.get(name.rstrip("_"))
    if fn is None:
        if record.func.is_view or name in ZERO_COST_OPS or name.rstrip("_") in ZERO_COST_OPS:
            return ZERO
        return None
    return fn(record.needs, record.out, *record.args, **record.kwargs)


# --- rows and totals -------------------------------------------------------------

def call_backward(call: ModuleCall) -> tuple[Cost, str, str]:
    """(cost, status, what is missing) of one row's backward.  Status: "formula"
    (a module backward formula), "functional" (its functional ops), "zero" or
    "uncounted" (a module or op with no backward formula)."""
    if call.formula is not None:
        fn = find_module_backward(call.module)
        if fn is None:
            return ZERO, "uncounted", f"no backward formula for {type(call.module).__name__}"
        try:
            return fn(call.module, Call(call.inputs, call.outputs, call.kwargs), call.input_grads), "formula", ""
        except Exception as exc:  # a formula that cannot read this call is reported, not hidden
            return ZERO, "uncounted", f"backward formula failed: {exc}"
    cost, missing = ZERO, Counter()
    for record in call.op_records:
        found = op_backward(record)
        if found is None:
            missing[record.func.overloadpacket.__name__] += 1
        else:
            cost += found
    if missing:
        return cost, "uncounted", "no backward formula: " + ", ".join(f"{op}×{n}" for op, n in missing.items())
    return cost, "functional" if call.ops else "zero", ""


def backward_columns(cost: Cost) -> dict[str, Any]:
    return dict(bwd_mults=cost.mults, bwd_adds=cost.adds, bwd_other=cost.other, bwd_macs=cost.macs)


def pass_totals(layers: pd.DataFrame) -> pd.DataFrame:
    """Totals of the forward, the backward and both: mults, adds, other, macs, flops."""
    fwd = [int(layers[c].sum()) for c in ("mults", "adds", "other", "macs")]
    bwd = [int(layers[c].sum()) for c in BWD_COLUMNS]
    rows = [("forward", *fwd), ("backward", *bwd), ("forward+backward", *[a + b for a, b in zip(fwd, bwd)])]
    frame = pd.DataFrame(rows, columns=["pass", "mults", "adds", "other", "macs"])
    frame["flops"] = frame["mults"] + frame["adds"] + frame["other"]
    return frame
