"""Backward-pass counts: the arithmetic of loss.backward(), layer by layer, from shapes.

Conventions (with those of the forward formulas: a subtraction is an addition;
comparisons, divisions and transcendental functions are ``other``; MACs are the
multiply-accumulates of dot products and a subset of mults):

* the loss depends on every output; each layer receives its output gradient g and
  computes the gradient of every input that requires grad, and of its weights
  and bias when they require grad.  An input that needs no gradient, as the raw
  image fed to the first layer, gets none: its layer skips that product;
* gradients of a tensor read by several ops (residual branches, a shared input)
  are summed by autograd; those accumulation additions are not counted;
* a gradient reduced over broadcast dimensions (a bias, an expand) costs the
  additions of that sum; routing a gradient back through a view, copy, cat,
  index or mask costs nothing;
* piecewise functions (ReLU, hardswish, ...) are counted on their costlier branch
  for every element, so counts do not depend on the data;
* saved forward values are reused as autograd saves them (σ(x) is recomputed
  where autograd saves only x, as for SiLU).

Each function below takes shapes and which gradients are wanted, and returns a Cost.
"""
from __future__ import annotations

from math import prod

from torch import nn

from profiler.formulas.cost import ZERO, Cost, Shape, dot_products, numel, per_element
from profiler.formulas.forward.conv import conv_transpose_cost

# --- dense layers --------------------------------------------------------------


def linear_backward_cost(x: Shape, out: Shape, in_features: int, out_features: int,
                         need_x: bool, need_w: bool, need_b: bool) -> Cost:
    """y = x·Wᵀ + b over R = numel(out)/out rows:
    grad x = g·W: numel(x) dot products of out terms;
    grad W = gᵀ·x: out·in dot products of R terms;
    grad b = Σ_rows g: (R−1)·out additions."""
    rows = numel(out) // out_features if out_features else 0
    cost = dot_products(numel(x), out_features) if need_x else ZERO
    if need_w:
        cost += dot_products(out_features * in_features, rows)
    if need_b:
        cost += Cost(adds=numel(out) - out_features)
    return cost


def need(needs, i: int) -> bool:
    """Whether input i of a call requires grad (``needs``: one flag per input)."""
    return len(needs) > i and bool(needs[i])


def per_dim(v, d: int) -> tuple[int, ...]:
    """An int, or a 1-element list as aten passes it, repeated for d dimensions."""
    v = tuple(v) if isinstance(v, (tuple, list)) else (v,)
    return v * d if len(v) == 1 else v


def _same_padding(kernel, dilation) -> tuple[int, ...]:
    return tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation))


def conv_backward_cost(x: Shape, out: Shape, weight: Shape, groups: int, kernel, stride, padding,
                       dilation, transposed: bool, need_x: bool, need_w: bool, need_b: bool) -> Cost:
    """Convolution (any dimension, groups).  Direct conv, K = (C_in/groups)·∏k:
    grad x = the transposed convolution of g with W (same stride, padding,
    dilation): N_out·K products; an input element reached by m products needs m−1
    additions (see formulas.conv.conv_transpose_cost);
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
        padding = _same_padding(kernel, dilation) if padding == "same" else (0,) * d
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


def matmul_backward_cost(a: Shape, b: Shape, need_a: bool, need_b: bool) -> Cost:
    """C = A·B, batched over leading dimensions, A (…, M, K), B (…, K, N):
    grad A = g·Bᵀ: numel(A) dot products of N terms;
    grad B = Aᵀ·g: numel(B) dot products of M terms (summed over a broadcast
    batch as part of the same dot products)."""
    cost = dot_products(numel(a), b[-1]) if need_a else ZERO
    if need_b:
        cost += dot_products(numel(b), a[-2])
    return cost


def attention_backward_cost(q: Shape, k: Shape, v: Shape, need_q: bool, need_k: bool,
                            need_v: bool, scaled_scores: bool = True) -> Cost:
    """softmax(Q·Kᵀ·scale)·V over L queries, S keys, B = ∏ leading dims of Q:
    grad P = g·Vᵀ: B·L·S dot products of E_v terms (if Q or K need grads);
    grad V = Pᵀ·g: numel(V) dot products of r·L terms;
    softmax backward over B·L rows of S (see ``softmax_backward_cost``), then the
    scale, 1 mult per score (``scaled_scores``; nn.MultiheadAttention scales the
    queries instead); grad Q = dS·K: numel(Q) dot products of S terms;
    grad K = dSᵀ·Q: numel(K) dot products of r·L terms.

    r = B / ∏ leading dims of K: the query heads that share one key/value head
    (grouped-query attention, ``enable_gqa``: 32 query heads on 8 kv heads give
    r = 4) or a batch K and V broadcast over; 1 otherwise.  Each shared K/V
    element's gradient sums the products of all r query heads: r·L terms, the
    same MACs and additions as the math path's repeat of K and V, its per-head
    products and the sum of the repeats' gradients."""
    L, S = q[-2], k[-2]
    scores = numel(q[:-2]) * L * S
    shared = max(numel(q[:-2]) // max(numel(k[:-2]), 1), 1)
    cost = dot_products(numel(v), shared * L) if need_v else ZERO
    if need_q or need_k:
        cost += dot_products(scores, v[-1]) + softmax_backward_cost(scores, S)
        cost += Cost(mults=scores * scaled_scores)
    if need_q:
        cost += dot_products(numel(q), S)
    if need_k:
        cost += dot_products(numel(k), shared * L)
    return cost


# --- activations and softmax ---------------------------------------------------

# name: (mults, adds, other) per element for grad x = g·f'(x), f' from saved x or y
POINTWISE_BACKWARD: dict[str, tuple[int, int, int]] = {
    "relu": (0, 0, 1),          # g where y > 0: one comparison
    "threshold": (0, 0, 1),
    "relu6": (0, 0, 2),         # g where 0 < x < 6
    "hardtanh": (0, 0, 2),
    "clamp": (0, 0, 2),
    "leaky_relu": (1, 0, 1),    # x > 0 ? g : a·g
    "prelu": (1, 0, 1),
    "rrelu": (1, 0, 1),
    "elu": (1, 1, 1),           # x > 0 ? g : g·(y + a)
    "celu": (1, 1, 2),          # x > 0 ? g : g·(y/a + 1)
    "selu": (1, 1, 1),          # x > 0 ? s·g : g·(y + s·a)
    "sigmoid": (2, 1, 0),       # g·y·(1 − y)
    "logsigmoid": (0, 1, 2),    # g / (1 + exp(x))
    "tanh": (2, 1, 0),          # g·(1 − y²)
    "silu": (3, 3, 2),          # s = σ(x) again (exp, add, div); g·s·(1 + x·(1 − s))
    "mish": (4, 3, 4),          # e = exp(x), sp = log(1+e), t = tanh(sp), σ = e/(1+e); g·(t + x·(1−t²)·σ)
    "softplus": (2, 1, 3),      # g·σ(b·x), with the threshold comparison
    "gelu": (7, 2, 2),          # g·(Φ(x) + x·φ(x)): Φ = 0.5·(1+erf(x/√2)), φ = c·exp(−x²/2)
    "gelu_tanh": (12, 5, 1),    # u = c·(x + a·x³), t = tanh(u): g·(0.5·(1+t) + 0.5·x·(1−t²)·c·(1+3a·x²))
    "hardswish": (3, 1, 2),     # −3 < x < 3 ? g·(2x + 3)/6 : (x ≥ 3 ? g : 0)
    "hardsigmoid": (1, 0, 2),   # −3 < x < 3 ? g/6 : 0
    "hardshrink": (0, 0, 2),
    "softshrink": (0, 0, 2),
    "tanhshrink": (2, 0, 1),    # g·tanh(x)²
    "softsign": (1, 1, 2),      # g / (1 + |x|)²
    "exp": (1, 0, 0),           # g·y
    "expm1": (1, 1, 0),         # g·(y + 1)
    "log": (0, 0, 1),           # g / x
    "log2": (1, 0, 1),          # g / (x·ln 2)
    "log1p": (0, 1, 1),         # g / (1 + x)
    "sqrt": (1, 0, 1),          # g / (2y)
    "rsqrt": (4, 0, 0),         # −0.5·g·y³
    "erf": (3, 0, 1),           # g·(2/√π)·exp(−x²)
    "abs": (0, 0, 1),           # g·sign(x)
    "sin": (1, 0, 1),           # g·cos(x)
    "cos": (1, 0, 1),
    "reciprocal": (2, 0, 0),    # −g·y²
    "square": (2, 0, 0),        # 2x·g
    "pow": (2, 0, 1),           # g·p·x^(p−1), scalar exponent p
    "neg": (0, 0, 0),
}


def pointwise_backward_cost(name: str, n: int) -> Cost:
    """``n`` elements of the pointwise function ``name`` (table POINTWISE_BACKWARD)."""
    mults, adds, other = POINTWISE_BACKWARD[name]
    return per_element(n, mults, adds, other)


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


# --- normalisation -------------------------------------------------------------


def normalize_backward_cost(n: int, group: int, params: int, need_x: bool, need_w: bool,
                            need_b: bool) -> Cost:
    """Statistics from the input (LayerNorm, GroupNorm, InstanceNorm, training
    BatchNorm) over G = n/group groups, affine parameters of ``params`` elements
    (gradients summed over n/params positions each), mean μ and rstd saved:
    x̂ = (x − μ)·rstd: n adds, n mults (when any gradient is wanted);
    grad x: ĝ = g·γ (n mults, with a weight), then
        rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)): the two sums (2(n−G) adds), ĝ·x̂ (n
        mults), the two means (2G mults), x̂·(…) (n mults), two subtractions (2n
        adds), ·rstd (n mults);
    grad γ = Σ g·x̂: n mults, n − params adds; grad β = Σ g: n − params adds."""
    groups = n // group if group else 0
    cost = Cost(mults=n, adds=n) if (need_x or need_w) else ZERO
    if need_x:
        cost += Cost(mults=3 * n + 2 * groups + n * (params > 0), adds=4 * n - 2 * groups)
    if need_w:
        cost += Cost(mults=n, adds=n - params)
    if need_b:
        cost += Cost(adds=n - params)
    return cost


def stored_norm_backward_cost(n: int, params: int, need_x: bool, need_w: bool,
                              need_b: bool) -> Cost:
    """Stored statistics (eval BatchNorm, FrozenBatchNorm2d): y = x·s + t per
    channel.  grad x = g·s: n mults; grad γ = Σ g·x̂ with x̂ = (x − mean)·rstd
    recomputed: 2n mults, 2n − params adds; grad β = Σ g: n − params adds."""
    cost = Cost(mults=n) if need_x else ZERO
    if need_w:
        cost += Cost(mults=2 * n, adds=2 * n - params)
    if need_b:
        cost += Cost(adds=n - params)
    return cost


def rms_norm_backward_cost(n: int, group: int, params: int, need_x: bool, need_w: bool) -> Cost:
    """RMSNorm y = x·r·w, r = 1/√(mean(x²)+ε) saved, G = n/group groups:
    grad x = r·(ĝ − x·r²·mean(ĝ·x)) with ĝ = g·w (n mults with a weight):
    ĝ·x (n mults), the sum (n − G adds), r²/M·sum (3G mults), x·(…) (n mults),
    the subtraction (n adds), ·r (n mults);
    grad w = Σ g·x·r: 2n mults, n − params adds."""
    groups = n // group if group else 0
    cost = Cost(mults=3 * n + 3 * groups + n * (params > 0), adds=2 * n - groups) if need_x else ZERO
    if need_w:
        cost += Cost(mults=2 * n, adds=n - params)
    return cost


# --- pooling, resampling, data movement ------------------------------------------


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


def interpolate_backward_cost(x: Shape, out: Shape, taps: int) -> Cost:
    """Linear modes, ``taps`` = t^d weights per output: every output gradient is
    multiplied by its taps weights and added into the inputs: taps·N_out mults,
    taps·N_out − numel(x) additions (every input assumed reached).  Nearest
    (taps = 1, no weights): numel(out) − numel(x) additions."""
    products = taps * numel(out)
    return Cost(mults=products if taps > 1 else 0, adds=max(products - numel(x), 0))


def sum_to_cost(n_grad: int, shape: Shape) -> Cost:
    """Reducing a gradient of n_grad elements to a broadcast operand of ``shape``."""
    return Cost(adds=n_grad - numel(shape)) if n_grad > numel(shape) else ZERO


def module_params_need(m: nn.Module, *names: str) -> tuple[bool, ...]:
    """For each parameter name: whether ``m`` has it and it requires grad."""
    return tuple(getattr(m, name, None) is not None and getattr(m, name).requires_grad
                 for name in names)
