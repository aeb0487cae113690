"""Searches, membership tests and sampling called as aten ops: bucketize and
searchsorted (binary searches of a sorted sequence), isin (membership),
unique_consecutive (runs of equal values) and multinomial (sampling from rows of
weights).  Their kind is "elementwise".  None
has a gradient: ``backward/search.py``.  Comparisons (and divisions, logs) are
``other``; a search counts its deepest path for every value, so counts do not
depend on the data."""
from __future__ import annotations

from math import ceil, log2

import torch

from profiler.formulas.cost import Cost, numel
from profiler.formulas.forward.reduce import _sort_cost
from profiler.formulas.registry import aten_formula
from profiler.formulas.shapes import first_output, is_shape

aten = torch.ops.aten


def search_depth(b: int) -> int:
    """Comparisons of a binary search (lower or upper bound) of one value among b
    sorted boundaries, on its deepest path: ⌈log₂(b + 1)⌉ (0 for b = 0)."""
    return ceil(log2(b + 1)) if b > 0 else 0


@aten_formula(aten.bucketize, kind="elementwise")
def bucketize(out, x, boundaries, *args, **kwargs) -> Cost:
    """bucketize(x, boundaries): a binary search of the 1-D boundaries (length b)
    for each of the numel(x) values (a Python number: one value):
    numel(x)·⌈log₂(b + 1)⌉ comparisons.  right= picks the bound, not the count."""
    n = numel(x) if is_shape(x) else 1
    return Cost(other=n * search_depth(boundaries[-1] if boundaries else 1))


@aten_formula(aten.searchsorted, kind="elementwise")
def searchsorted(out, sorted_sequence, values, *args, **kwargs) -> Cost:
    """searchsorted(sorted_sequence, values): as bucketize, each value searched in
    its row of the sequence (length b, the last dimension)."""
    n = numel(values) if is_shape(values) else 1
    b = sorted_sequence[-1] if sorted_sequence else 1
    return Cost(other=n * search_depth(b))


def _sort_and_neighbours(k: int) -> int:
    """A sort of k values (the sort convention, ``reduce._sort_cost``) and the k − 1
    comparisons of its neighbours."""
    return _sort_cost((k,), 0).other + max(k - 1, 0) if k else 0


def isin_uses_sort(n: int, t: int) -> bool:
    """torch's choice for isin of n elements against t test elements: the sort
    path when t ≥ 10·n^0.145, else every element compared with every test element."""
    return t >= int(10.0 * n ** 0.145)


@aten_formula(aten.isin, kind="elementwise")
def isin(out, elements, test_elements, *args, assume_unique=False, invert=False) -> Cost:
    """isin(elements, test_elements), n elements and t test elements (a Python
    number counts one), by the path torch's kernel takes (``isin_uses_sort``):
    * few test elements: each element compared with each test element until a
      match, every one on the deepest path: n·t comparisons;
    * otherwise: unique() of each side (a sort and its neighbour comparisons,
      every value taken as distinct; skipped when assume_unique), the n + t
      values sorted together and neighbours compared: each sort k·⌈log₂ k⌉ and
      k − 1 comparisons.
    invert only flips the result."""
    n = numel(elements) if is_shape(elements) else 1
    t = numel(test_elements) if is_shape(test_elements) else 1
    if not isin_uses_sort(n, t):
        return Cost(other=n * t)
    unique = 0 if assume_unique else _sort_and_neighbours(n) + _sort_and_neighbours(t)
    return Cost(other=unique + _sort_and_neighbours(n + t))


@aten_formula(aten.unique_consecutive, kind="elementwise")
def unique_consecutive(out, x, return_inverse=False, return_counts=False, dim=None) -> Cost:
    """unique_consecutive(x) as torch's CPU kernel runs it, n = numel(x):
    * dim None (or 0 of a 1-D x): each value after the first compared with the
      last one kept, n − 1 comparisons; return_counts: each of the k runs' length
      as a difference of positions, k subtractions (adds);
    * dim d: the r slices along d (s = n / r elements each) each compared with the
      last slice kept by at::equal, on its deepest path every element: (r − 1)·s
      comparisons; the k run lengths are always computed (k subtractions).
    k is read from the output (the values' length, along d).  The inverse indices
    are positions, written, not computed."""
    values = first_output(out)
    if dim is None or (dim == 0 and len(x) == 1):
        n = numel(x)
        k = numel(values) if return_counts else 0
        return Cost(adds=k, other=max(n - 1, 0))
    r = x[dim] if x else 1
    s = numel(x) // r if r else 0
    k = values[dim] if values else 1
    return Cost(adds=k if r else 0, other=max(r - 1, 0) * s)


@aten_formula(aten.multinomial, kind="elementwise")
def multinomial(out, probs, num_samples, replacement=False, *args, **kwargs) -> Cost:
    """multinomial(probs, k) over rows of C weights, r rows, as torch's CPU kernel
    draws (the uniform draws themselves, and the argument checks, are not counted):
    * without replacement, or k = 1: each weight divided by an Exp(1) draw −log u
      (1 log, 1 division per weight: 2·r·C), then per row the largest (k = 1:
      C − 1 comparisons, as argmax) or the k largest (topk's convention,
      C·⌈log₂ max(k, 2)⌉);
    * with replacement, k > 1: per row the cumulative distribution (C − 1 adds
      for the total, C divisions by it, C − 1 adds for the running sum), then a
      binary search of it per sample (bucketize's ⌈log₂(C + 1)⌉ comparisons)."""
    c = probs[-1] if probs else 1
    rows = numel(probs) // c if c else 0
    if not replacement or num_samples == 1:
        select = rows * (c - 1) if num_samples == 1 else _sort_cost(probs, -1, num_samples).other
        return Cost(other=2 * rows * c + select)
    draws = numel(first_output(out))
    return Cost(adds=rows * 2 * (c - 1), other=rows * c + draws * search_depth(c))
