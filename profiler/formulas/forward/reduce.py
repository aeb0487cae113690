"""Reductions called as aten ops: sums, products, means, running sums, products,
maxima and minima, logical all / any, minima and maxima, variances, norms, logsumexp, sorts and selections (topk,
median), and the mean squared error (mse_loss).  Their kind is "elementwise".  Backward: ``backward/reduce.py``."""
from __future__ import annotations

from math import ceil, inf, log2

import torch

from profiler.formulas.cost import Cost, numel
from profiler.formulas.registry import aten_formula
from profiler.formulas.shapes import dim_size, first_output

aten = torch.ops.aten


def reduced_sizes(out, x) -> tuple[int, int]:
    """(n, m): the elements reduced and the outputs they reduce to."""
    return numel(x), numel(first_output(out))


@aten_formula(aten.sum, aten.nansum, kind="elementwise")
def sum_(out, x, *args, **kwargs) -> Cost:
    """Summing n inputs into m outputs: n − m additions (none for a sum over
    dimensions of size 1, or of nothing)."""
    n, m = reduced_sizes(out, x)
    return Cost(adds=max(n - m, 0))


def _scan(x, dim) -> int:
    n = dim_size(x, dim)
    return numel(x) - numel(x) // n if n else 0


@aten_formula(aten.cumsum, kind="elementwise")
def cumsum(out, x, dim, *args, **kwargs) -> Cost:
    """Running sum along ``dim`` of length n: n − 1 additions a line."""
    return Cost(adds=_scan(x, dim))


@aten_formula(aten.cumprod, kind="elementwise")
def cumprod(out, x, dim, *args, **kwargs) -> Cost:
    """Running product along ``dim`` of length n: n − 1 multiplications a line."""
    return Cost(mults=_scan(x, dim))


@aten_formula(aten.prod, kind="elementwise")
def prod(out, x, *args, **kwargs) -> Cost:
    """Multiplying n inputs into m outputs: n − m multiplications (as sum's
    additions)."""
    n, m = reduced_sizes(out, x)
    return Cost(mults=max(n - m, 0))


@aten_formula(aten.cummax, aten.cummin, kind="elementwise")
def cummax(out, x, dim, *args, **kwargs) -> Cost:
    """Running maximum (minimum) along ``dim`` of length n: n − 1 comparisons a
    line (each element against the extremum so far; the index is kept, not
    computed)."""
    return Cost(other=_scan(x, dim))


@aten_formula(aten.all, aten.any, aten._is_all_true, aten._is_any_true, kind="elementwise")
def all_(out, x, *args, **kwargs) -> Cost:
    """Logical and (all, _is_all_true) or or (any, _is_any_true) of n inputs into m
    outputs: n − m logical ops, ``other`` (as logical_and is one per element); a
    non-bool input's truth value (x ≠ 0) is part of its logical op, not counted
    apart.  The kernels' early exit is not assumed: the count does not depend on
    the data."""
    n, m = reduced_sizes(out, x)
    return Cost(other=max(n - m, 0))


@aten_formula(aten.mean, kind="elementwise")
def mean(out, x, *args, **kwargs) -> Cost:
    """Mean: the sum's n − m additions and 1 multiplication by 1/count per output."""
    n, m = reduced_sizes(out, x)
    return Cost(adds=n - m, mults=m)


@aten_formula(aten.amax, aten.amin, aten.max, aten.min, aten.argmax, aten.argmin, kind="elementwise")
def extremum(out, x, *args, **kwargs) -> Cost:
    """n − m comparisons (a binary max/min of two tensors is 1 per element)."""
    if args and isinstance(args[0], tuple):
        return Cost(other=numel(first_output(out)))
    n, m = reduced_sizes(out, x)
    return Cost(other=n - m)


@aten_formula(aten.aminmax, kind="elementwise")
def aminmax(out, x, *args, **kwargs) -> Cost:
    """The minimum and the maximum of n inputs into m of each: n − m comparisons
    for each."""
    n, m = reduced_sizes(out, x)
    return Cost(other=2 * max(n - m, 0))


def _variance(std: bool):
    def count(out, x, *args, **kwargs) -> Cost:
        """Mean (n−m adds, m divisions), centre (n adds), square (n mults), sum (n−m
        adds), divide (m); std adds m square roots.  var_mean / std_mean return the
        mean they computed on the way: nothing more."""
        n, m = reduced_sizes(out, x)
        return Cost(mults=n, adds=3 * n - 2 * m, other=2 * m + m * std)
    return count


aten_formula(aten.var, aten.var_mean, kind="elementwise")(_variance(False))
aten_formula(aten.std, aten.std_mean, kind="elementwise")(_variance(True))


def norm_order(args, kwargs) -> float:
    """The order of linalg_vector_norm (``ord``, default 2) or norm (``p``, default
    2; None, which the dim overloads accept, is 2 too)."""
    p = args[0] if args else kwargs.get("ord", kwargs.get("p", 2))
    return 2.0 if p is None else float(p)


@aten_formula(aten.linalg_vector_norm, aten.norm, kind="elementwise")
def vector_norm(out, x, *args, **kwargs) -> Cost:
    """Vector p-norm of n inputs into m outputs, by the order, as torch's reduction
    kernels compute it (|x| and powers are ``other``):
    * p = 2: n squares, n − m additions, m square roots (no |x|: x·x is its square);
    * p = 1: n |x|, n − m additions;
    * p = ∞ / −∞: n |x|, n − m comparisons (the largest / smallest);
    * p = 0, the count of nonzeros: n comparisons x ≠ 0, n − m additions;
    * any other p: n |x|, n powers |x|^p, n − m additions, m powers s^(1/p)."""
    n, m = reduced_sizes(out, x)
    p = norm_order(args, kwargs)
    if p == 2:
        return Cost(mults=n, adds=n - m, other=m)
    if p == 1:
        return Cost(adds=n - m, other=n)
    if p in (inf, -inf):
        return Cost(other=n + n - m)
    if p == 0:
        return Cost(adds=n - m, other=n)
    return Cost(adds=n - m, other=2 * n + m)


@aten_formula(aten.logsumexp, kind="elementwise")
def logsumexp(out, x, *args, **kwargs) -> Cost:
    """n exps, n − m additions, m logs."""
    n, m = reduced_sizes(out, x)
    return Cost(adds=n - m, other=n + m)


@aten_formula(aten.mse_loss, kind="elementwise")
def mse_loss(out, x, target, reduction=1) -> Cost:
    """mse_loss(x, target) over the n elements of their broadcast shape, as torch's
    kernel computes it: per element the difference (1 add) and its square (1 mult);
    then reduction 'mean' (1, the default) as ``mean`` (n − 1 adds, 1 mult by 1/n),
    'sum' (2) n − 1 adds, 'none' (0) nothing more."""
    n = numel(torch.broadcast_shapes(x, target))
    cost = Cost(mults=n, adds=n)
    if reduction == 0 or n == 0:
        return cost
    return cost + Cost(adds=n - 1, mults=int(reduction == 1))


def _sort_cost(x, dim, k=None) -> Cost:
    """Comparisons of a sort of the lines of n along ``dim``: n·⌈log₂ n⌉ a line;
    keeping the k smallest or largest (topk, kthvalue) through a heap of k:
    n·⌈log₂ k⌉ a line (k < 2 counted as 2: at least one comparison per element)."""
    n = dim_size(x, dim)
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
