"""Backward of the scattering and accumulating aten ops (conventions in
``profiler.formulas.backward``); histc and bincount, counts, have no gradient."""
from __future__ import annotations

import torch

from profiler.formulas.backward.zero import no_gradient
from profiler.formulas.cost import ZERO, Cost, numel
from profiler.formulas.registry import op_backward
from profiler.formulas.shapes import need

aten = torch.ops.aten


@op_backward(aten.index_add, inputs=(3,))
def index_add_backward(needs, out, x, dim, index, source, alpha=1) -> Cost:
    """grad x = g; grad source = g selected at index (times alpha ≠ 1: 1 mult each)."""
    return Cost(mults=numel(source) * (alpha != 1))


@op_backward(aten.scatter_add, aten.scatter, aten.masked_scatter)
def scatter_backward(needs, out, *args, **kwargs) -> Cost:
    """grad x = g (masked where a plain scatter or masked_scatter overwrote it);
    grad src = g gathered at index (masked_scatter: g selected by the mask, zeros
    after): moved, not computed."""
    return ZERO


@op_backward(aten.scatter_reduce)
def scatter_reduce_backward(needs, out, x, dim, index, src, reduce, include_self=True) -> Cost | None:
    """Autograd's formulas over n = numel(index) scattered values and the o =
    numel(out) targets: 'sum' moves g (0); 'mean' counts the values per target
    (n adds), tests for empty counts (o comparisons), then grad x = g/count (o
    divisions) and grad src = gathered g / gathered count (n divisions);
    'amax'/'amin' marks the elements equal to the result (o + n comparisons),
    counts them (n adds), shares g among them (o divisions), then grad x = mask·
    share (the mask again: o comparisons, o mults) and grad src likewise (n
    comparisons, n mults).  'prod' has no formula here (None: uncounted)."""
    need_x, need_src = need(needs, 0), need(needs, 3)
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


op_backward(aten.histc, aten.bincount)(no_gradient)
