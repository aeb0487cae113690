"""Backward formulas of functional aten ops, by op name (in-place variants share
them); tensors arrive as shapes (conventions in ``profiler.formulas.backward.costs``)."""
from __future__ import annotations

from math import prod
from typing import Callable

from profiler.formulas.backward import costs as B
from profiler.capture.record import OpRecord
from profiler.formulas.cost import ZERO, Cost, dot_products, numel, per_element
from profiler.formulas.forward.aten_ops import ZERO_COST_OPS
from profiler.formulas.forward.pool import adaptive_window_total

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
        return B.pointwise_backward_cost(name, numel(_first(out))) if B.need(needs, 0) else ZERO
    return count


for _op, _name in _UNARY.items():
    backward_op(_op)(_unary(_name))


@backward_op("gelu")
def _gelu_op(needs, out, x, approximate="none") -> Cost:
    return B.pointwise_backward_cost("gelu_tanh" if approximate == "tanh" else "gelu", numel(out)) \
        if B.need(needs, 0) else ZERO


@backward_op("pow")
def _pow_op(needs, out, base, exponent) -> Cost:
    """Base: g·p·x^(p−1) (2 mults, 1 pow); a tensor exponent: g·y·log(x) (2 mults, 1 log)."""
    n = numel(out)
    cost = per_element(n, 2, 0, 1) + B.sum_to_cost(n, base) if B.need(needs, 0) and _is_shape(base) else ZERO
    if B.need(needs, 1) and _is_shape(exponent):
        cost += per_element(n, 2, 0, 1) + B.sum_to_cost(n, exponent)
    return cost


def _binary(per_operand: tuple[tuple[int, int, int], tuple[int, int, int]]) -> AtenBackward:
    def count(needs, out, a, b, *args, alpha=1, **kwargs) -> Cost:
        n, cost = numel(out), ZERO
        for i, x in enumerate((a, b)):
            if B.need(needs, i) and _is_shape(x):
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
    return sum((B.sum_to_cost(n, x) for i, x in ((1, a), (2, b)) if B.need(needs, i) and _is_shape(x)), ZERO)


def _addc(b_cost: tuple[int, int, int], c_cost: tuple[int, int, int]) -> AtenBackward:
    def count(needs, out, a, b, c, value=1) -> Cost:
        n = numel(out)
        cost = B.sum_to_cost(n, a) if B.need(needs, 0) and _is_shape(a) else ZERO
        for i, x, unit in ((1, b, b_cost), (2, c, c_cost)):
            if B.need(needs, i) and _is_shape(x):
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
        if B.need(needs, i) and _is_shape(x):
            cost += per_element(n, *unit) + B.sum_to_cost(n, x)
    return cost


@backward_op("mm", "bmm")
def _mm(needs, out, a, b) -> Cost:
    return B.matmul_backward_cost(a, b, B.need(needs, 0), B.need(needs, 1))


@backward_op("addmm", "baddbmm", "addbmm")
def _addmm(needs, out, bias, a, b, beta=1, alpha=1) -> Cost:
    cost = B.matmul_backward_cost(a, b, B.need(needs, 1), B.need(needs, 2))
    if alpha != 1 and (B.need(needs, 1) or B.need(needs, 2)):
        cost += Cost(mults=numel(out))
    if B.need(needs, 0) and _is_shape(bias):
        cost += B.sum_to_cost(numel(out), bias) + Cost(mults=numel(bias) * (beta != 1))
    return cost


def _grouped_dots(outputs: int, products: int) -> Cost:
    """``outputs`` dot products of ``products`` terms in all, each non-empty."""
    return Cost(mults=products, adds=products - outputs, macs=products) if outputs and products else ZERO


@backward_op("_grouped_mm")
def _grouped_mm_op(needs, out, a, b, offs=None, *args, **kwargs) -> Cost:
    """torch._grouped_mm, with the forward's conventions (the offsets cover the
    jagged dimension, every group non-empty: the count does not depend on them):
    * 2D a (S, K) × 3D b (G, K, N): grad a = g·b[e]ᵀ per row, S·K dot products
      of N; grad b[e] = a_eᵀ·g_e over its S_e rows, G·K·N dot products of
      S·K·N terms in all (the weight gradient is a 2D×2D grouped mm);
    * 3D × 3D: as bmm;
    * 3D a (G, M, K) × 2D b (K, N) grouping N: grad a[e] = g_e·b_eᵀ, G·M·K dot
      products of M·K·N terms in all; grad b = a[e]ᵀ·g_e, K·N dot products of M;
    * 2D a (M, K) × 2D b (K, N) grouping K, out (G, M, N): grad a[:, k_e] =
      g[e]·b[k_e]ᵀ, M·K dot products of N; grad b[k_e] = a[:, k_e]ᵀ·g[e], K·N dot
      products of M."""
    need_a, need_b = B.need(needs, 0), B.need(needs, 1)
    cost = ZERO
    if len(a) == 2 and len(b) == 3:
        if need_a:
            cost += dot_products(numel(a), b[-1])
        if need_b:
            cost += _grouped_dots(numel(b), a[0] * numel(b[1:]))
    elif len(a) == 3 and len(b) == 2:
        if need_a:
            cost += _grouped_dots(numel(a), numel(a[1:]) * b[-1])
        if need_b:
            cost += dot_products(numel(b), a[1])
    elif len(a) == 2 and len(b) == 2:
        if need_a:
            cost += dot_products(numel(a), b[-1])
        if need_b:
            cost += dot_products(numel(b), a[0])
    else:
        cost = B.matmul_backward_cost(a, b, need_a, need_b)
    return cost


@backward_op("mv", "addmv")
def _mv(needs, out, *args, beta=1, alpha=1) -> Cost:
    """y = A·v: grad A = g⊗v (1 mult each), grad v = Aᵀ·g."""
    offset = len(args) - 2
    a, v = args[offset], args[offset + 1]
    cost = dot_products(numel(a), 1) if B.need(needs, offset) else ZERO
    if B.need(needs, offset + 1):
        cost += dot_products(v[0], a[0])
    if offset and B.need(needs, 0):
        cost += B.sum_to_cost(numel(out), args[0])
    return cost


@backward_op("dot", "vdot")
def _dot(needs, out, a, b) -> Cost:
    return sum((dot_products(numel(a), 1) for i in (0, 1) if B.need(needs, i)), ZERO)


@backward_op("convolution", "_convolution")
def _convolution(needs, out, x, w, bias, stride, padding, dilation, transposed, output_padding,
                 groups, *rest) -> Cost:
    return B.conv_backward_cost(x, out, w, groups, tuple(w[2:]), stride, padding, dilation, transposed,
                                B.need(needs, 0), B.need(needs, 1), B.need(needs, 2))


@backward_op("_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_flash_attention",
             "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention",
             "scaled_dot_product_attention")
def _sdpa(needs, out, q, k, v, *args, **kwargs) -> Cost:
    return B.attention_backward_cost(q, k, v, B.need(needs, 0), B.need(needs, 1), B.need(needs, 2))


@backward_op("_softmax", "_safe_softmax", "softmax")
def _softmax_op(needs, out, x, dim, *args, **kwargs) -> Cost:
    return B.softmax_backward_cost(numel(x), x[dim] if x else 1) if B.need(needs, 0) else ZERO


@backward_op("_log_softmax", "log_softmax")
def _log_softmax_op(needs, out, x, dim, *args, **kwargs) -> Cost:
    return B.log_softmax_backward_cost(numel(x), x[dim] if x else 1) if B.need(needs, 0) else ZERO


@backward_op("native_layer_norm")
def _layer_norm_op(needs, out, x, normalized_shape, weight, bias, eps) -> Cost:
    group = prod(normalized_shape)
    return B.normalize_backward_cost(numel(x), group, group if weight is not None else 0,
                                     B.need(needs, 0), B.need(needs, 2), B.need(needs, 3))


@backward_op("native_group_norm")
def _group_norm_op(needs, out, x, weight, bias, n, c, hw, groups, eps) -> Cost:
    return B.normalize_backward_cost(numel(x), numel(x) // (n * groups), c if weight is not None else 0,
                                     B.need(needs, 0), B.need(needs, 1), B.need(needs, 2))


@backward_op("native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_no_training",
             "batch_norm")
def _batch_norm_op(needs, out, x, weight, bias, *args) -> Cost:
    training = next((a for a in args if isinstance(a, bool)), False)
    channels = x[1] if len(x) > 1 else x[0]
    params = channels if weight is not None else 0
    if training:
        return B.normalize_backward_cost(numel(x), numel(x) // channels, params, B.need(needs, 0),
                                         B.need(needs, 1), B.need(needs, 2))
    return B.stored_norm_backward_cost(numel(x), params, B.need(needs, 0), B.need(needs, 1), B.need(needs, 2))


@backward_op("_fused_rms_norm", "rms_norm")
def _rms_norm_op(needs, out, x, normalized_shape, weight=None, eps=None) -> Cost:
    group = prod(normalized_shape)
    return B.rms_norm_backward_cost(numel(x), group, group if weight is not None else 0,
                                    B.need(needs, 0), B.need(needs, 2))


@backward_op("max_pool1d", "max_pool2d", "max_pool3d", "max_pool2d_with_indices",
             "max_pool3d_with_indices")
def _max_pool_op(needs, out, x, kernel, stride=(), padding=0, dilation=1, *args) -> Cost:
    o = _first(out)
    d = len(kernel) if len(kernel) > 1 else len(o) - 2
    kernel, dilation = B.per_dim(kernel, d), B.per_dim(dilation, d)
    stride = B.per_dim(stride, d) if stride else kernel
    overlapping = any(s < dl * (k - 1) + 1 for k, s, dl in zip(kernel, stride, dilation))
    return B.max_pool_backward_cost(numel(o), overlapping) if B.need(needs, 0) else ZERO


@backward_op("avg_pool1d", "avg_pool2d", "avg_pool3d")
def _avg_pool_op(needs, out, x, kernel, stride=(), padding=0, *args) -> Cost:
    if not B.need(needs, 0):
        return ZERO
    d = len(out) - 2
    kernel = B.per_dim(kernel, d)
    return B.avg_pool_backward_cost(x, out, kernel, B.per_dim(stride, d) if stride else kernel,
                                    B.per_dim(padding, d))


@backward_op("_adaptive_avg_pool2d", "_adaptive_avg_pool3d", "adaptive_avg_pool1d")
def _adaptive_avg_pool_op(needs, out, x, output_size) -> Cost:
    if not B.need(needs, 0):
        return ZERO
    d = len(output_size)
    return B.adaptive_avg_pool_backward_cost(x, out, numel(out[:-d]) * adaptive_window_total(x[-d:], out[-d:]))


@backward_op("adaptive_max_pool2d", "adaptive_max_pool3d")
def _adaptive_max_pool_op(needs, out, x, output_size) -> Cost:
    o = _first(out)
    overlapping = any(a % b for a, b in zip(x[-len(output_size):], o[-len(output_size):]))
    return B.max_pool_backward_cost(numel(o), overlapping) if B.need(needs, 0) else ZERO


for _op in ("upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d", "_upsample_nearest_exact1d",
            "_upsample_nearest_exact2d", "_upsample_nearest_exact3d", "upsample_linear1d",
            "upsample_bilinear2d", "_upsample_bilinear2d_aa", "upsample_trilinear3d",
            "upsample_bicubic2d", "_upsample_bicubic2d_aa"):
    def _count(needs, out, x, *args, _taps=1 if "nearest" in _op else 4 if "bicubic" in _op else 2,
               **kwargs) -> Cost:
        if not B.need(needs, 0):
            return ZERO
        return B.interpolate_backward_cost(x, out, _taps ** (len(out) - 2))
    backward_op(_op)(_count)


@backward_op("sum", "nansum")
def _sum_op(needs, out, x, *args, **kwargs) -> Cost:
    return ZERO  # the gradient is broadcast back


@backward_op("mean")
def _mean_op(needs, out, x, *args, **kwargs) -> Cost:
    return Cost(mults=numel(out)) if B.need(needs, 0) else ZERO  # g/count, then broadcast


@backward_op("cumsum")
def _cumsum_op(needs, out, x, dim, *args, **kwargs) -> Cost:
    """A reversed cumulative sum: numel − rows additions."""
    return Cost(adds=numel(x) - numel(x) // x[dim]) if B.need(needs, 0) and x else ZERO


@backward_op("amax", "amin", "max", "min")
def _extremum_op(needs, out, x, *args, **kwargs) -> Cost:
    """Gradient to the selected elements: with indices (max.dim) a scatter, 0; a
    reduction without them (amax) compares every element with the result, n
    comparisons; binary max/min as maximum/minimum."""
    if args and _is_shape(args[0]):
        return _OPS["maximum"](needs, out, x, args[0])
    if isinstance(out, tuple) and out and isinstance(out[0], tuple):
        return ZERO
    return Cost(other=numel(x)) if B.need(needs, 0) else ZERO


@backward_op("aminmax")
def _aminmax_op(needs, out, x, *args, **kwargs) -> Cost:
    """Autograd's formula, for the minimum and for the maximum: the mask x = y
    (n comparisons), its count of ties (n − m additions), g/count (m divisions)
    and the masked gradient (n mults); the two gradients summed (n additions)."""
    if not B.need(needs, 0):
        return ZERO
    n, m = numel(x), numel(_first(out))
    return Cost(mults=2 * n, adds=2 * (n - m) + n, other=2 * (n + m))


@backward_op("index_add")
def _index_add_op(needs, out, x, dim, index, source, alpha=1) -> Cost:
    """grad x = g; grad source = g selected at index (times alpha ≠ 1: 1 mult each)."""
    return Cost(mults=numel(source) * (alpha != 1)) if B.need(needs, 3) else ZERO


@backward_op("scatter_add", "scatter")
def _scatter_op(needs, out, *args, **kwargs) -> Cost:
    """grad x = g (masked where a plain scatter overwrote it); grad src = g
    gathered at index: moved, not computed."""
    return ZERO


@backward_op("scatter_reduce")
def _scatter_reduce_op(needs, out, x, dim, index, src, reduce, include_self=True) -> Cost:
    """Autograd's formulas over n = numel(index) scattered values and the o =
    numel(out) targets: 'sum' moves g (0); 'mean' counts the values per target
    (n adds), tests for empty counts (o comparisons), then grad x = g/count (o
    divisions) and grad src = gathered g / gathered count (n divisions);
    'amax'/'amin' marks the elements equal to the result (o + n comparisons),
    counts them (n adds), shares g among them (o divisions), then grad x = mask·
    share (the mask again: o comparisons, o mults) and grad src likewise (n
    comparisons, n mults).  'prod' has no formula here."""
    need_x, need_src = B.need(needs, 0), B.need(needs, 3)
    if not (need_x or need_src) or reduce == "sum":
        return ZERO
    n, o = numel(index), numel(out)
    if reduce == "mean":
        return Cost(adds=n, other=o + o * need_x + n * need_src)
    if reduce in ("amax", "amin"):
        cost = Cost(adds=n, other=2 * o + n)
        if need_x:
            cost += Cost(mults=o, other=o)
        if need_src:
            cost += Cost(mults=n, other=n)
        return cost
    return None


def _variance(std: bool, with_mean: bool) -> AtenBackward:
    def count(needs, out, x, *args, **kwargs) -> Cost:
        """var: 2/(n'−1)·g·(x − mean): the mean again (n − m adds, m mults),
        centring (n adds), the per-output scale (m mults), the product (n mults);
        std first divides g by 2σ (m mults, m divisions); *_mean adds the mean's
        gradient, g/count (m mults)."""
        if not B.need(needs, 0):
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
    return Cost(mults=numel(x), other=numel(_first(out))) if B.need(needs, 0) else ZERO


@backward_op("logsumexp")
def _logsumexp_op(needs, out, x, *args, **kwargs) -> Cost:
    """g·exp(x − y): n subtractions, n exps, n mults."""
    return per_element(numel(x), 1, 1, 1) if B.need(needs, 0) else ZERO


@backward_op("expand", "repeat")
def _expand_op(needs, out, x, *args, **kwargs) -> Cost:
    """The gradient is summed over the expanded or repeated copies."""
    return B.sum_to_cost(numel(out), x) if B.need(needs, 0) else ZERO


@backward_op("native_dropout")
def _dropout_op(needs, out, x, p, train=None) -> Cost:
    """Kept gradients scaled by 1/(1−p): 1 mult per element (the mask selects)."""
    return Cost(mults=numel(_first(out))) if B.need(needs, 0) and train and p > 0 else ZERO


@backward_op("reflection_pad1d", "reflection_pad2d", "reflection_pad3d", "replication_pad1d",
             "replication_pad2d", "replication_pad3d")
def _pad_op(needs, out, x, *args) -> Cost:
    return Cost(adds=numel(out) - numel(x)) if B.need(needs, 0) else ZERO


_NO_GRADIENT = ("eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_not",
                "logical_xor", "bitwise_and", "bitwise_or", "bitwise_not", "bitwise_xor", "isnan",
                "isinf", "floor", "ceil", "round", "trunc", "sign", "argmax", "argmin", "sort",
                "argsort", "topk", "kthvalue", "median", "floor_divide", "remainder", "fmod", "histc",
                "bincount")
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
