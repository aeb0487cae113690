"""Counting, scattering and accumulating aten ops: histc, bincount, index_add,
scatter_add, scatter, scatter_reduce and masked_scatter.  Their kind is "elementwise".  Backward:
``backward/scatter.py`` (histc and bincount have no gradient)."""
from __future__ import annotations

import torch

from profiler.formulas.cost import ZERO, Cost, numel, per_element
from profiler.formulas.registry import aten_formula

aten = torch.ops.aten


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


@aten_formula(aten.masked_scatter, aten.masked_scatter_, kind="elementwise")
def masked_scatter(out, x, mask, source) -> Cost:
    """x with source's leading elements copied, in order, to where mask is True:
    writes, no arithmetic (the mask is read, not computed): 0, as a plain scatter."""
    return ZERO
