"""Backward formulas of layer modules, looked up along the class MRO like the
forward's (conventions in ``profiler.formulas.backward.costs``)."""
from __future__ import annotations

from math import prod
from typing import Callable

from torch import nn

from profiler.formulas.backward import costs as B
from profiler.formulas.cost import ZERO, Cost, numel, per_element
from profiler.formulas.forward.activation import _ACTIVATIONS, _softmax_row  # the forward's class → function table
from profiler.formulas.forward.pool import adaptive_window_total
from profiler.formulas.registry import Call
from profiler.formulas.forward.zero import ZERO_COST_MODULES

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


def _dims(m: nn.Module) -> int:
    """Spatial dimensions of a pooling/resampling module, from its class name (…1d/2d/3d)."""
    return next(int(c.__name__[-2]) for c in type(m).__mro__ if c.__name__[-2:] in ("1d", "2d", "3d"))


@backward_module(nn.modules.conv._ConvNd)
def _conv(m, call: Call, needs) -> Cost:
    need_w, need_b = B.module_params_need(m, "weight", "bias")
    return B.conv_backward_cost(call.x, call.out, tuple(m.weight.shape), m.groups, m.kernel_size,
                                m.stride, m.padding, m.dilation, m.transposed, B.need(needs, 0),
                                need_w, need_b)


@backward_module(nn.Linear)
def _linear(m, call: Call, needs) -> Cost:
    return B.linear_backward_cost(call.x, call.out, m.in_features, m.out_features, B.need(needs, 0),
                                  *B.module_params_need(m, "weight", "bias"))


@backward_module(*_ACTIVATIONS)
def _activation(m, call: Call, needs) -> Cost:
    name = next(_ACTIVATIONS[c] for c in type(m).__mro__ if c in _ACTIVATIONS)
    cost = B.pointwise_backward_cost(name, numel(call.out)) if B.need(needs, 0) else ZERO
    if isinstance(m, nn.PReLU) and m.weight.requires_grad:  # Σ g·x over the negative inputs
        cost += Cost(mults=numel(call.out), adds=numel(call.out) - m.weight.numel())
    return cost


@backward_module(nn.GELU)
def _gelu(m, call: Call, needs) -> Cost:
    name = "gelu_tanh" if m.approximate == "tanh" else "gelu"
    return B.pointwise_backward_cost(name, numel(call.out)) if B.need(needs, 0) else ZERO


@backward_module(nn.Softmax, nn.Softmin, nn.Softmax2d)
def _softmax(m, call: Call, needs) -> Cost:
    if not B.need(needs, 0):
        return ZERO
    return B.softmax_backward_cost(numel(call.out), _softmax_row(m, call.out))


@backward_module(nn.LogSoftmax)
def _log_softmax(m, call: Call, needs) -> Cost:
    if not B.need(needs, 0):
        return ZERO
    return B.log_softmax_backward_cost(numel(call.out), _softmax_row(m, call.out))


@backward_module(nn.GLU)
def _glu(m, call: Call, needs) -> Cost:
    """out = a·σ(b): grad a = g·σ(b) (σ again: 1 add, exp, div; 1 mult); grad b =
    g·a·σ·(1−σ) (1 add, 3 mults) per output element."""
    return per_element(numel(call.out), mults=4, adds=2, other=2) if B.need(needs, 0) else ZERO


@backward_module(nn.modules.batchnorm._NormBase)
def _batchnorm(m, call: Call, needs) -> Cost:
    n, need_x = numel(call.out), B.need(needs, 0)
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
                                     B.need(needs, 0), *B.module_params_need(m, "weight", "bias"))


@backward_module(nn.GroupNorm)
def _groupnorm(m, call: Call, needs) -> Cost:
    n = numel(call.out)
    batch = call.x[0] if len(call.x) > 1 else 1
    return B.normalize_backward_cost(n, n // (batch * m.num_groups), m.num_channels if m.affine else 0,
                                     B.need(needs, 0), *B.module_params_need(m, "weight", "bias"))


@backward_module(nn.RMSNorm)
def _rmsnorm(m, call: Call, needs) -> Cost:
    group = prod(m.normalized_shape)
    return B.rms_norm_backward_cost(numel(call.out), group, group if m.elementwise_affine else 0,
                                    B.need(needs, 0), *B.module_params_need(m, "weight"))


@backward_module(nn.modules.pooling._MaxPoolNd)
def _max_pool(m, call: Call, needs) -> Cost:
    d = _dims(m)
    kernel, stride = B.per_dim(m.kernel_size, d), B.per_dim(m.stride or m.kernel_size, d)
    dilation = B.per_dim(m.dilation, d)
    overlapping = any(s < dl * (k - 1) + 1 for k, s, dl in zip(kernel, stride, dilation))
    return B.max_pool_backward_cost(numel(call.out), overlapping) if B.need(needs, 0) else ZERO


@backward_module(nn.modules.pooling._AvgPoolNd)
def _avg_pool(m, call: Call, needs) -> Cost:
    if not B.need(needs, 0):
        return ZERO
    d = _dims(m)
    kernel = B.per_dim(m.kernel_size, d)
    return B.avg_pool_backward_cost(call.x, call.out, kernel, B.per_dim(m.stride or kernel, d),
                                    B.per_dim(m.padding, d))


@backward_module(nn.modules.pooling._AdaptiveAvgPoolNd)
def _adaptive_avg_pool(m, call: Call, needs) -> Cost:
    if not B.need(needs, 0):
        return ZERO
    d = _dims(m)
    total = numel(call.out[:-d]) * adaptive_window_total(call.x[-d:], call.out[-d:])
    return B.adaptive_avg_pool_backward_cost(call.x, call.out, total)


@backward_module(nn.modules.pooling._AdaptiveMaxPoolNd)
def _adaptive_max_pool(m, call: Call, needs) -> Cost:
    d = _dims(m)
    overlapping = any(a % b for a, b in zip(call.x[-d:], call.out[-d:]))
    return B.max_pool_backward_cost(numel(call.out), overlapping) if B.need(needs, 0) else ZERO


@backward_module(nn.modules.pooling._MaxUnpoolNd)
def _max_unpool(m, call: Call, needs) -> Cost:
    return ZERO  # the gradient is gathered back at the saved indices


_TAPS = {"nearest": 1, "nearest-exact": 1, "linear": 2, "bilinear": 2, "trilinear": 2, "bicubic": 4}


@backward_module(nn.Upsample)
def _upsample(m, call: Call, needs) -> Cost:
    if not B.need(needs, 0):
        return ZERO
    return B.interpolate_backward_cost(call.x, call.out, _TAPS[m.mode] ** (len(call.out) - 2))


@backward_module(*ZERO_COST_MODULES)
def _zero(m, call: Call, needs) -> Cost:
    """Reshapes, copies and constant padding route the gradient back: 0.  Dropout
    in training scales the kept gradients by 1/(1−p): 1 mult per element (the
    mask is a selection); reflection, replication and circular padding sum the
    border's gradients back in: numel(out) − numel(x) additions."""
    if not B.need(needs, 0):
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
    q, k = call.inputs[0], call.inputs[1]
    batched = len(q) == 3
    axis = 1 if (batched and m.batch_first) else 0
    n = q[0 if axis else 1] if batched else 1
    tgt, src = q[axis], k[axis] + int(m.bias_k is not None) + int(m.add_zero_attn)
    e, h = m.embed_dim, m.num_heads
    head = (n * h, tgt, e // h), (n * h, src, e // h)
    need_w = B.module_params_need(m.out_proj, "weight", "bias")
    cost = B.linear_backward_cost((n * tgt, e), (n * tgt, e), e, e, True, *need_w)
    cost += B.attention_backward_cost(*head, head[1], True, True, True, scaled_scores=False)
    cost += Cost(mults=n * tgt * e)  # the queries' scaling by 1/√d
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
        cost += B.linear_backward_cost((rows, width), (rows, e), width, e, B.need(needs, i), need_w, need_b)
    return cost


def _torchvision_modules() -> None:
    from torchvision.ops import FrozenBatchNorm2d, StochasticDepth
    from torchvision.ops.misc import Permute
    from torchvision.models.maxvit import SwapAxes, WindowDepartition, WindowPartition

    @backward_module(FrozenBatchNorm2d)
    def _frozen_bn(m, call: Call, needs) -> Cost:
        return B.stored_norm_backward_cost(numel(call.out), 0, B.need(needs, 0), False, False)

    @backward_module(StochasticDepth)
    def _stochastic_depth(m, call: Call, needs) -> Cost:
        """Training: g times the saved, pre-scaled per-sample noise: 1 mult per element."""
        active = m.training and m.p > 0 and B.need(needs, 0)
        return Cost(mults=numel(call.out)) if active else ZERO

    backward_module(Permute, SwapAxes, WindowPartition, WindowDepartition)(_zero)


_torchvision_modules()
