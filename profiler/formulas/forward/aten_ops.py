"""Formulas for aten ops, used for functional code outside formula modules:
residual additions, squeeze-excite products, attention matmuls, F.interpolate,
softmax.  Tensors arrive as shapes.  Ops that only move data are listed in
``ZERO_COST_OPS``; any other op without a formula is reported as uncounted."""
from __future__ import annotations

from math import ceil, log2, prod

import torch

from profiler.formulas.cost import ZERO, Cost, dot_products, numel, per_element
from profiler.formulas.forward.activation import log_softmax_cost, pointwise_cost, softmax_cost
from profiler.formulas.forward.conv import conv_cost, conv_transpose_cost
from profiler.formulas.forward.norm import folded_affine_cost, normalize_cost, rms_normalize_cost
from profiler.formulas.forward.pool import adaptive_window_total, avg_pool_cost, max_pool_cost
from profiler.formulas.registry import aten_formula
from profiler.formulas.forward.resample import interpolate_cost

aten = torch.ops.aten


def _first(out):
    return out[0] if out and isinstance(out[0], tuple) else out


# --- matmul family -------------------------------------------------------------

@aten_formula(aten.mm, kind="matmul")
def mm(out, a, b) -> Cost:
    """(M×K)·(K×N): M·N dot products of length K."""
    return dot_products(numel(out), a[-1])


@aten_formula(aten.addmm, kind="matmul")
def addmm(out, bias, a, b, beta=1, alpha=1) -> Cost:
    """bias + a·b: as mm plus 1 add per output; beta, alpha ≠ 1 add 1 mult each."""
    n = numel(out)
    return dot_products(n, a[-1], bias=True) + Cost(mults=n * ((beta != 1) + (alpha != 1)))


@aten_formula(aten.bmm, aten.matmul, kind="matmul")
def bmm(out, a, b) -> Cost:
    """Batched (B×M×K)·(B×K×N): B·M·N dot products of length K."""
    return dot_products(numel(out), a[-1])


@aten_formula(aten.baddbmm, aten.addbmm, kind="matmul")
def baddbmm(out, bias, a, b, beta=1, alpha=1) -> Cost:
    """bias + a·b batched: bmm plus 1 add per output (addbmm also sums the batch:
    (B−1) adds per output); beta, alpha ≠ 1 add 1 mult each."""
    n = numel(out)
    products = numel(a[:-1]) * b[-1]  # every (batch, row, column) dot product
    # (products − n) adds sum addbmm's batch, n add the bias: products in all
    return dot_products(products, a[-1]) + Cost(adds=products, mults=n * ((beta != 1) + (alpha != 1)))


def grouped_dot_products(outputs: int, products: int) -> Cost:
    """``outputs`` dot products sharing ``products`` terms in all, each of at least
    one term: products mults and products − outputs adds."""
    if outputs == 0 or products == 0:
        return ZERO
    return Cost(mults=products, adds=products - outputs, macs=products)


@aten_formula(aten._grouped_mm, kind="matmul")
def grouped_mm(out, a, b, offs=None, bias=None, out_dtype=None) -> Cost:
    """torch._grouped_mm (F.grouped_mm): one matmul per group, the groups given by
    the 1D ``offs`` (cumulative ends) along the jagged dimension of a 2D operand.
    Counted from shapes, with the offsets taken to cover the whole jagged
    dimension (offs[-1] = its length; rows or columns past offs[-1] are skipped
    by the kernel and would cost nothing) and every group non-empty (an empty
    group of a 2D×2D call costs no additions rather than −M·N).  So the count
    does not depend on the offsets' values: for a mixture of experts, on the
    routing.
    * 2D (S, K) × 3D (G, K, N) (the MoE forward: the S = tokens·top_k rows sorted
      by expert, G experts' K×N weights): every row meets exactly one expert, so
      S·N dot products of length K: S·K·N MACs, whatever the routing;
    * 3D (G, M, K) × 3D (G, K, N), no offs: a bmm, G·M·N dot products of K;
    * 3D (G, M, K) × 2D (K, N), offs grouping the N columns: column block g of
      the (M, N) output is a[g]·b[:, block], M·N dot products of K;
    * 2D (M, K) × 2D (K, N), offs grouping K (the MoE weight gradient): output
      (G, M, N), group g the M·N dot products over its K_g slice: M·N·K MACs in
      all, M·N·K − G·M·N additions.
    bias and out_dtype are refused by the kernel (bias) or change no arithmetic."""
    if len(a) == 2 and len(b) == 2:
        return grouped_dot_products(numel(out), numel(out[1:]) * a[-1])
    return dot_products(numel(out), a[-1])


@aten_formula(aten.mv, aten.dot, aten.vdot, kind="matmul")
def mv(out, a, b) -> Cost:
    return dot_products(numel(out), a[-1])


@aten_formula(aten.addmv, kind="matmul")
def addmv(out, bias, a, b, beta=1, alpha=1) -> Cost:
    return dot_products(numel(out), a[-1], bias=True)


def _attention(q, k, v, masked: bool) -> Cost:
    """Fused attention softmax(Q·Kᵀ·scale + mask)·V over L queries and S keys:
    Q·Kᵀ is (…·L·S) dot products of length E; scaling 1 mult per score; the mask
    1 add per score; softmax over S; ·V is (…·L·Ev) dot products of length S."""
    scores = numel(q[:-1]) * k[-2]
    return (dot_products(scores, q[-1]) + Cost(mults=scores, adds=scores * masked)
            + softmax_cost(scores, k[-2]) + dot_products(numel(q[:-1]) * v[-1], k[-2]))


@aten_formula(aten._scaled_dot_product_flash_attention_for_cpu, aten._scaled_dot_product_flash_attention,
              aten._scaled_dot_product_efficient_attention, aten._scaled_dot_product_cudnn_attention,
              aten.scaled_dot_product_attention, kind="matmul")
def sdpa(out, q, k, v, *args, attn_mask=None, **kwargs) -> Cost:
    mask = attn_mask if attn_mask is not None else next(
        (a for a in args if isinstance(a, tuple)), None)
    return _attention(q, k, v, mask is not None)


# --- convolution ---------------------------------------------------------------

@aten_formula(aten.convolution, aten._convolution, kind="conv")
def convolution(out, x, w, bias, stride, padding, dilation, transposed, output_padding, groups,
                *rest) -> Cost:
    """F.conv*/F.conv_transpose* called functionally: the module formulas' counts."""
    kernel = tuple(w[2:])
    if transposed:
        return conv_transpose_cost(x, out, w[0], w[1] * groups, groups, kernel, stride, padding,
                                   dilation, bias is not None)
    return conv_cost(out, x[1], groups, kernel, bias is not None)


# --- pointwise -----------------------------------------------------------------

_POINTWISE_OPS = {
    "add": "add", "sub": "add", "rsub": "add", "mul": "mul", "div": "div", "true_divide": "div",
    "neg": "neg", "exp": "exp", "log": "log", "log2": "log", "log10": "log", "log1p": "log", "expm1": "exp", "sqrt": "sqrt",
    "rsqrt": "rsqrt", "erf": "erf", "abs": "abs", "sin": "sin", "cos": "cos", "pow": "pow",
    "reciprocal": "reciprocal", "floor": "floor", "ceil": "ceil", "round": "round", "sign": "sign",
    "floor_divide": "div", "remainder": "div", "fmod": "div",
    "sigmoid": "sigmoid", "tanh": "tanh", "relu": "relu", "relu6": "relu6", "hardtanh": "hardtanh",
    "clamp": "clamp", "clamp_min": "compare", "clamp_max": "compare", "clip": "clamp",
    "leaky_relu": "leaky_relu", "celu": "celu", "selu": "selu", "silu": "silu",
    "mish": "mish", "softplus": "softplus", "hardswish": "hardswish", "hardsigmoid": "hardsigmoid",
    "hardshrink": "hardshrink", "softshrink": "softshrink", "log_sigmoid_forward": "logsigmoid",
    "threshold": "threshold", "_prelu_kernel": "prelu", "rrelu_with_noise": "rrelu",
    "eq": "compare", "ne": "compare", "lt": "compare", "le": "compare", "gt": "compare",
    "ge": "compare", "maximum": "compare", "minimum": "compare", "logical_and": "compare",
    "logical_or": "compare", "logical_not": "compare", "bitwise_and": "compare",
    "bitwise_or": "compare", "bitwise_not": "compare", "isnan": "compare", "isinf": "compare",
    "addcmul": "addcmul", "addcdiv": "addcdiv", "lerp": "lerp", "square": "square",
}


def _pointwise(name: str):
    def count(out, *args, alpha=1, **kwargs) -> Cost:
        cost = pointwise_cost(name, numel(_first(out)))
        return cost + per_element(numel(_first(out)), mults=1) if alpha != 1 else cost
    count.__doc__ = f"Per output element, as '{name}' in elementwise.POINTWISE."
    return count


for _op, _name in _POINTWISE_OPS.items():
    for _variant in (_op, _op + "_"):
        if hasattr(aten, _variant):
            aten_formula(getattr(aten, _variant), kind="elementwise")(_pointwise(_name))


@aten_formula(aten.elu, aten.elu_, kind="activation")
def elu(out, x, alpha=1, scale=1, input_scale=1) -> Cost:
    """ELU, and SELU and CELU, which torch runs as ELU with scale (a multiplication,
    as SELU's) and input_scale (x/α, a division, as CELU's)."""
    n = numel(out)
    return pointwise_cost("elu", n) + Cost(mults=n * (scale != 1), other=n * (input_scale != 1))


@aten_formula(aten.gelu, aten.gelu_, kind="activation")
def gelu(out, x, approximate="none") -> Cost:
    return pointwise_cost("gelu_tanh" if approximate == "tanh" else "gelu", numel(out))


# --- reductions ----------------------------------------------------------------

def _reduced(out, x) -> tuple[int, int]:
    return numel(x), numel(_first(out))


@aten_formula(aten.sum, aten.nansum, kind="elementwise")
def sum_(out, x, *args, **kwargs) -> Cost:
    """Summing n inputs into m outputs: n − m additions (none for a sum over
    dimensions of size 1, or of nothing)."""
    n, m = _reduced(out, x)
    return Cost(adds=max(n - m, 0))


def _scan(x, dim) -> int:
    n = _dim_size(x, dim)
    return numel(x) - numel(x) // n if n else 0


@aten_formula(aten.cumsum, kind="elementwise")
def cumsum(out, x, dim, *args, **kwargs) -> Cost:
    """Running sum along ``dim`` of length n: n − 1 additions a line."""
    return Cost(adds=_scan(x, dim))


@aten_formula(aten.cumprod, kind="elementwise")
def cumprod(out, x, dim, *args, **kwargs) -> Cost:
    """Running product along ``dim`` of length n: n − 1 multiplications a line."""
    return Cost(mults=_scan(x, dim))


@aten_formula(aten.mean, kind="elementwise")
def mean(out, x, *args, **kwargs) -> Cost:
    """Mean: the sum's n − m additions and 1 multiplication by 1/count per output."""
    n, m = _reduced(out, x)
    return Cost(adds=n - m, mults=m)


@aten_formula(aten.amax, aten.amin, aten.max, aten.min, aten.argmax, aten.argmin, kind="elementwise")
def extremum(out, x, *args, **kwargs) -> Cost:
    """n − m comparisons (a binary max/min of two tensors is 1 per element)."""
    if args and isinstance(args[0], tuple):
        return Cost(other=numel(_first(out)))
    n, m = _reduced(out, x)
    return Cost(other=n - m)


@aten_formula(aten.aminmax, kind="elementwise")
def aminmax(out, x, *args, **kwargs) -> Cost:
    """The minimum and the maximum of n inputs into m of each: n − m comparisons
    for each."""
    n, m = _reduced(out, x)
    return Cost(other=2 * max(n - m, 0))


# --- counting, scattering and accumulating ----------------------------------------

@aten_formula(aten.histc, kind="elementwise")
def histc(out, x, bins=100, min=0, max=0) -> Cost:
    """torch.histc as its CPU kernel computes it, per input element: the range
    test lo ≤ x ≤ hi (2 comparisons), the bin (x − lo)·bins/(hi − lo) (1
    subtraction, 1 multiplication, 1 division, truncated to an integer: 1, as
    floor), the test for x = hi, which goes in the last bin (1 comparison), and
    the count (1 addition): 1 mult, 2 adds, 5 other.  Every element is counted
    as in range (the costlier branch; an out-of-range or NaN one stops after the
    range test), so the count does not depend on the data.  min = max (the
    default 0, 0) takes the range from the data: aminmax, 2(n − 1) comparisons.
    The kernel's final sum of its per-thread histograms depends on the thread
    count and is not counted."""
    n = numel(x)
    cost = per_element(n, mults=1, adds=2, other=5)
    return cost + Cost(other=2 * (n - 1)) if min == max and n else cost


@aten_formula(aten.bincount, kind="elementwise")
def bincount(out, x, weights=None, minlength=0) -> Cost:
    """torch.bincount on CPU: the minimum (checked ≥ 0) and the maximum (the
    number of bins) of the n inputs, 2(n − 1) comparisons, then one addition per
    input (+1, or + its weight)."""
    n = numel(x)
    return Cost(adds=n, other=2 * (n - 1)) if n else ZERO


@aten_formula(aten.index_add, aten.index_add_, kind="elementwise")
def index_add(out, x, dim, index, source, alpha=1) -> Cost:
    """x[…, index[i], …] += alpha·source[…, i, …]: one addition per element of
    source, and one multiplication when alpha ≠ 1."""
    n = numel(source)
    return Cost(adds=n, mults=n * (alpha != 1))


@aten_formula(aten.scatter_add, aten.scatter_add_, kind="elementwise")
def scatter_add(out, x, dim, index, src) -> Cost:
    """x[…, index[j], …] += src[j] for each position j of index: numel(index)
    additions."""
    return Cost(adds=numel(index))


@aten_formula(aten.scatter, aten.scatter_, kind="elementwise")
def scatter(out, x, dim, index, src, *args, reduce=None) -> Cost:
    """A plain scatter writes and costs nothing; the reduce= overloads combine
    each of the numel(index) scattered values with its target: reduce='add' one
    addition, reduce='multiply' one multiplication."""
    n = numel(index)
    return Cost(adds=n * (reduce == "add"), mults=n * (reduce == "multiply"))


@aten_formula(aten.scatter_reduce, aten.scatter_reduce_, kind="elementwise")
def scatter_reduce(out, x, dim, index, src, reduce, include_self=True) -> Cost:
    """Each of the n = numel(index) scattered values combined with its target:
    'sum' an addition, 'prod' a multiplication, 'amax'/'amin' a comparison;
    'mean' adds the value and counts it (2 additions), then per output element
    tests for an empty count (1 comparison) and divides (1 division), as the CPU
    kernel does.  include_self=False costs the same: the kernel starts the
    targets from the reduction's identity."""
    n = numel(index)
    if reduce == "sum":
        return Cost(adds=n)
    if reduce == "prod":
        return Cost(mults=n)
    if reduce == "mean":
        return Cost(adds=2 * n, other=2 * numel(out))
    return Cost(other=n)


@aten_formula(aten.var, aten.std, aten.var_mean, aten.std_mean, kind="elementwise")
def variance(out, x, *args, **kwargs) -> Cost:
    """Mean (n−m adds, m divisions), centre (n adds), square (n mults), sum (n−m
    adds), divide (m); std adds m square roots."""
    n, m = _reduced(out, x)
    return Cost(mults=n, adds=3 * n - 2 * m, other=2 * m)


@aten_formula(aten.linalg_vector_norm, aten.norm, kind="elementwise")
def vector_norm(out, x, *args, **kwargs) -> Cost:
    """2-norm: n squares, n − m additions, m square roots."""
    n, m = _reduced(out, x)
    return Cost(mults=n, adds=n - m, other=m)


@aten_formula(aten.logsumexp, kind="elementwise")
def logsumexp(out, x, *args, **kwargs) -> Cost:
    """n exps, n − m additions, m logs."""
    n, m = _reduced(out, x)
    return Cost(adds=n - m, other=n + m)


def _sort_cost(x, dim, k=None) -> Cost:
    """Comparisons of a sort of the lines of n along ``dim``: n·⌈log₂ n⌉ a line;
    keeping the k smallest or largest (topk, kthvalue) through a heap of k:
    n·⌈log₂ k⌉ a line (k < 2 counted as 2: at least one comparison per element)."""
    n = _dim_size(x, dim)
    lines = numel(x) // n if n else 0
    k = n if k is None else k
    return Cost(other=lines * n * ceil(log2(max(min(k, n), 2))))


@aten_formula(aten.sort, aten.argsort, kind="elementwise")
def sort(out, x, dim=-1, *args, **kwargs) -> Cost:
    """sort / argsort along ``dim`` (the .stable overloads pass it by keyword)."""
    return _sort_cost(x, dim)


@aten_formula(aten.topk, aten.kthvalue, kind="elementwise")
def topk(out, x, k, dim=-1, *args, **kwargs) -> Cost:
    """topk(k, dim) and kthvalue(k, dim): a heap of k over each line."""
    return _sort_cost(x, dim, k)


@aten_formula(aten.median, aten.nanmedian, kind="elementwise")
def median(out, x, dim=None, *args, **kwargs) -> Cost:
    """median() over all elements, median(dim) over the lines: as a sort."""
    if dim is None:
        return _sort_cost((numel(x),), 0)
    return _sort_cost(x, dim)


# --- softmax, norms, pools, resampling -------------------------------------------

def _dim_size(x, dim) -> int:
    return x[dim] if x else 1


@aten_formula(aten._softmax, aten._safe_softmax, aten.softmax, kind="activation")
def softmax(out, x, dim, *args, **kwargs) -> Cost:
    return softmax_cost(numel(x), _dim_size(x, dim))


@aten_formula(aten._log_softmax, aten.log_softmax, kind="activation")
def log_softmax(out, x, dim, *args, **kwargs) -> Cost:
    return log_softmax_cost(numel(x), _dim_size(x, dim))


@aten_formula(aten.native_layer_norm, kind="norm")
def layer_norm(out, x, normalized_shape, weight, bias, eps) -> Cost:
    return normalize_cost(numel(x), prod(normalized_shape), weight is not None, bias is not None)


@aten_formula(aten.native_group_norm, kind="norm")
def group_norm(out, x, weight, bias, n, c, hw, groups, eps) -> Cost:
    return normalize_cost(numel(x), numel(x) // (n * groups), weight is not None, bias is not None)


@aten_formula(aten._fused_rms_norm, aten.rms_norm, kind="norm")
def rms_norm(out, x, normalized_shape, weight=None, eps=None) -> Cost:
    return rms_normalize_cost(numel(x), prod(normalized_shape), weight is not None)


@aten_formula(aten.native_batch_norm, aten._native_batch_norm_legit,
              aten._native_batch_norm_legit_no_training, aten.batch_norm, kind="norm")
def batch_norm(out, x, weight, bias, running_mean, running_var, *args) -> Cost:
    training = args[0] if args and isinstance(args[0], bool) else running_mean is None
    if training or running_mean is None:
        return normalize_cost(numel(x), numel(x) // x[1], weight is not None, bias is not None)
    return folded_affine_cost(numel(x))


@aten_formula(aten.max_pool1d, aten.max_pool2d, aten.max_pool3d, aten.max_pool2d_with_indices,
              aten.max_pool3d_with_indices, kind="pool")
def max_pool(out, x, kernel_size, *args) -> Cost:
    d = len(_first(out)) - 2 if len(kernel_size) == 1 else len(kernel_size)
    k = kernel_size * d if len(kernel_size) == 1 else kernel_size
    return max_pool_cost(numel(_first(out)), prod(k))


@aten_formula(aten.avg_pool1d, aten.avg_pool2d, aten.avg_pool3d, kind="pool")
def avg_pool(out, x, kernel_size, *args) -> Cost:
    d = len(out) - 2 if len(kernel_size) == 1 else len(kernel_size)
    k = kernel_size * d if len(kernel_size) == 1 else kernel_size
    return avg_pool_cost(numel(out), prod(k))


@aten_formula(aten._adaptive_avg_pool2d, aten._adaptive_avg_pool3d, aten.adaptive_avg_pool1d,
              kind="pool")
def adaptive_avg_pool(out, x, output_size) -> Cost:
    d = len(output_size)
    total = numel(out[:-d]) * adaptive_window_total(x[-d:], out[-d:])
    return Cost(mults=numel(out), adds=total - numel(out))


@aten_formula(aten.adaptive_max_pool2d, aten.adaptive_max_pool3d, kind="pool")
def adaptive_max_pool(out, x, output_size) -> Cost:
    o = _first(out)
    d = len(output_size)
    return Cost(other=numel(o[:-d]) * adaptive_window_total(x[-d:], o[-d:]) - numel(o))


_INTERPOLATION = {"upsample_nearest1d": "nearest", "upsample_nearest2d": "nearest",
                  "upsample_nearest3d": "nearest", "_upsample_nearest_exact1d": "nearest",
                  "_upsample_nearest_exact2d": "nearest", "_upsample_nearest_exact3d": "nearest",
                  "upsample_linear1d": "linear", "upsample_bilinear2d": "bilinear",
                  "_upsample_bilinear2d_aa": "bilinear", "upsample_trilinear3d": "trilinear",
                  "upsample_bicubic2d": "bicubic", "_upsample_bicubic2d_aa": "bicubic"}


def _interpolation(mode: str):
    def count(out, x, *args, **kwargs) -> Cost:
        return interpolate_cost(out, mode, len(out) - 2)
    count.__doc__ = f"F.interpolate(mode='{mode}'): see resample.interpolate_cost."
    return count


for _op, _mode in _INTERPOLATION.items():
    aten_formula(getattr(aten, _op), kind="resample")(_interpolation(_mode))


@aten_formula(aten.grid_sampler_2d, aten.grid_sampler, kind="resample")
def grid_sample(out, x, grid, mode=0, *args) -> Cost:
    """Per output location (N·H·W): unnormalise the (x, y) coordinate (2 mults,
    2 adds), floor (2); bilinear weights (4 mults, 4 adds).  Per output element
    (·C): 4 mults, 3 adds for bilinear, 0 for nearest (mode 1)."""
    locations = numel(grid[:-1])
    cost = Cost(mults=6 * locations, adds=6 * locations, other=2 * locations)
    return cost + (per_element(numel(out), mults=4, adds=3) if mode == 0 else ZERO)


# --- ops that only create, move or select data -----------------------------------

ZERO_COST_OPS = frozenset({
    "cat", "stack", "clone", "copy", "copy_", "_to_copy", "contiguous", "empty", "empty_like",
    "empty_strided", "zeros", "zeros_like", "ones", "ones_like", "full", "full_like", "new_zeros",
    "new_ones", "new_empty", "new_full", "new_empty_strided", "fill", "fill_", "zero_", "arange",
    "linspace", "scalar_tensor", "lift_fresh", "lift_fresh_copy", "index", "index_select",
    "gather", "index_put", "index_put_", "masked_fill", "masked_fill_",
    "where", "constant_pad_nd", "reflection_pad1d", "reflection_pad2d", "reflection_pad3d",
    "replication_pad1d", "replication_pad2d", "replication_pad3d", "roll", "flip", "repeat",
    "tile", "embedding", "_unsafe_index", "pixel_shuffle", "pixel_unshuffle", "channel_shuffle",
    "native_channel_shuffle", "im2col", "bernoulli", "bernoulli_", "rand", "randn", "rand_like",
    "randn_like", "randint", "randperm", "normal_", "uniform_", "native_dropout", "dropout",
    "_local_scalar_dense", "set_", "resize_", "nonzero", "_assert_async", "any", "all",
    "masked_select", "repeat_interleave", "_unique2", "unique_dim", "triu", "tril", "tril_indices",
    "triu_indices", "meshgrid", "one_hot", "sym_size", "sym_stride", "sym_numel", "eye",
    "_assert_tensor_metadata", "block_diag", "diag_embed", "max_unpool2d", "max_unpool3d",
    "detach", "alias", "slice_scatter", "select_scatter", "as_strided_scatter", "_pin_memory",
    "is_nonzero", "equal", "item", "resolve_conj", "resolve_neg", "split_with_sizes_copy",
    "_assert_scalar", "empty_permuted", "_unsafe_view", "device", "view_copy", "_reshape_copy",
})
