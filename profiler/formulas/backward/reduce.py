"""Backward of the reductions called as aten ops (conventions in
``profiler.formulas.backward``): sums, means, extrema, variances, norms,
logsumexp, mse_loss; sorts and selections route the gradient (no arithmetic)."""
from __future__ import annotations

import torch

from profiler.formulas.backward.elementwise import maximum_backward
from profiler.formulas.backward.zero import no_gradient
from profiler.formulas.cost import ZERO, Cost, numel, per_element
from profiler.formulas.forward.reduce import norm_order, reduced_sizes
from profiler.formulas.registry import OpBackward, op_backward
from profiler.formulas.shapes import is_shape, need

aten = torch.ops.aten


@op_backward(aten.sum, aten.nansum)
def sum_backward(needs, out, x, *args, **kwargs) -> Cost:
    return ZERO  # the gradient is broadcast back


@op_backward(aten.mean, inputs=(0,))
def mean_backward(needs, out, x, *args, **kwargs) -> Cost:
    return Cost(mults=numel(out))  # g/count, then broadcast


@op_backward(aten.mse_loss)
def mse_loss_backward(needs, out, x, target, reduction=1) -> Cost:
    """Autograd calls mse_loss_backward once per operand that needs a gradient
    (for the target with the operands swapped): norm·(a − b)·g per element of the
    broadcast shape, norm = 2/n for 'mean', 2 otherwise: 1 add, 2 mults each."""
    n = numel(torch.broadcast_shapes(x, target))
    return per_element(n, mults=2, adds=1).times(need(needs, 0) + need(needs, 1))


@op_backward(aten.cumsum, inputs=(0,))
def cumsum_backward(needs, out, x, dim, *args, **kwargs) -> Cost:
    """A reversed cumulative sum: numel − rows additions."""
    return Cost(adds=numel(x) - numel(x) // x[dim]) if x else ZERO


@op_backward(aten.prod, inputs=(0,))
def prod_backward(needs, out, x, *args, **kwargs) -> Cost:
    """Autograd's formula on an input with no zeros (its zero-safe path runs only
    where one is, so counts do not depend on the data): the zero test x = 0, n
    comparisons (prod(): their nonzero() moves data; prod(dim): the zeros counted
    per slice and in all, n − m and m − 1 additions), then g·(y/x) per element: n
    divisions, n mults (g and y broadcast back).  A 0-d input takes g as it is."""
    if not x:
        return ZERO
    n, m = reduced_sizes(out, x)
    counts = n - 1 if args and isinstance(args[0], int) else 0
    return Cost(mults=n, adds=counts, other=2 * n)


@op_backward(aten.cummax, aten.cummin, inputs=(0,))
def cummax_backward(needs, out, x, dim, *args, **kwargs) -> Cost:
    """g scatter-added into zeros at the running extremum's indices: one addition
    per element (scatter_add's convention, numel(index) additions)."""
    return Cost(adds=numel(x))


@op_backward(aten.amax, aten.amin, aten.max, aten.min)
def extremum_backward(needs, out, x, *args, **kwargs) -> Cost:
    """Gradient to the selected elements: with indices (max.dim) a scatter, 0; a
    reduction without them (amax) compares every element with the result, n
    comparisons; binary max/min as maximum/minimum."""
    if args and is_shape(args[0]):
        return maximum_backward(needs, out, x, args[0])
    if isinstance(out, tuple) and out and isinstance(out[0], tuple):
        return ZERO
    return Cost(other=numel(x)) if need(needs, 0) else ZERO


@op_backward(aten.aminmax, inputs=(0,))
def aminmax_backward(needs, out, x, *args, **kwargs) -> Cost:
    """Autograd's formula, for the minimum and for the maximum: the mask x = y
    (n comparisons), its count of ties (n − m additions), g/count (m divisions)
    and the masked gradient (n mults); the two gradients summed (n additions)."""
    n, m = reduced_sizes(out, x)
    return Cost(mults=2 * n, adds=2 * (n - m) + n, other=2 * (n + m))


def _variance(std: bool, with_mean: bool) -> OpBackward:
    def count(needs, out, x, *args, **kwargs) -> Cost:
        """var: 2/(n'−1)·g·(x − mean): the mean again (n − m adds, m mults),
        centring (n adds), the per-output scale (m mults), the product (n mults);
        std first divides g by 2σ (m mults, m divisions); *_mean adds the mean's
        gradient, g/count (m mults)."""
        n, m = reduced_sizes(out, x)
        return Cost(mults=n + 2 * m + m * std + m * with_mean, adds=2 * n - m, other=m * std)
    return count


op_backward(aten.var, inputs=(0,))(_variance(False, False))
op_backward(aten.var_mean, inputs=(0,))(_variance(False, True))
op_backward(aten.std, inputs=(0,))(_variance(True, False))
op_backward(aten.std_mean, inputs=(0,))(_variance(True, True))


@op_backward(aten.linalg_vector_norm, aten.norm, inputs=(0,))
def vector_norm_backward(needs, out, x, *args, **kwargs) -> Cost:
    """By the order p (``norm_order``, as the forward reads it), as autograd
    computes it, for n inputs reduced to m outputs:

    * p = 2: g·x/‖x‖: m divisions (g/‖x‖), n mults;
    * p = 1: g·sign(x): n signs (other), n mults;
    * p = 0 (a count of nonzeros): no gradient;
    * p = ±∞: the gradient is shared by the elements at the extremum: n abs and n
      comparisons to find them, n − m adds to count them, m divisions, n signs and
      2n mults (sign · share · mask);
    * any other p: g·x·|x|^(p−2) / ‖x‖^(p−1): per output a power and a division,
      per element an abs, a power and 2 mults."""
    n, m = reduced_sizes(out, x)
    p = norm_order(args, kwargs)
    if p == 2:
        return Cost(mults=n, other=m)
    if p == 1:
        return Cost(mults=n, other=n)
    if p == 0:
        return ZERO
    if p in (float("inf"), float("-inf")):
        return Cost(mults=2 * n, adds=n - m, other=3 * n + m)
    return Cost(mults=2 * n, other=2 * n + 2 * m)


@op_backward(aten.logsumexp, inputs=(0,))
def logsumexp_backward(needs, out, x, *args, **kwargs) -> Cost:
    """g·exp(x − y): n subtractions, n exps, n mults."""
    return per_element(numel(x), 1, 1, 1)


# selections: the gradient is scattered back to the chosen elements
op_backward(aten.argmax, aten.argmin, aten.sort, aten.argsort, aten.topk, aten.kthvalue,
            aten.median)(no_gradient)
# logical reductions: a boolean result, no gradient
op_backward(aten.all, aten.any, aten._is_all_true, aten._is_any_true)(no_gradient)
