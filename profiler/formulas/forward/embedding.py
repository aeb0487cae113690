"""Table lookups: Embedding, EmbeddingBag (module and ``F.embedding_bag``).
Backward: ``backward/embedding.py``."""
from __future__ import annotations

import torch
from torch import nn

from profiler.formulas.cost import ZERO, Cost, numel
from profiler.formulas.registry import CallShapes, aten_formula, module_formula

aten = torch.ops.aten


@module_formula(nn.Embedding, kind="embedding")
def embedding_module(m: nn.Embedding, call: CallShapes) -> Cost:
    """Embedding: a table lookup, no arithmetic (max_norm renormalisation is not counted)."""
    return ZERO


@module_formula(nn.EmbeddingBag, kind="embedding")
def embedding_bag_module(m: nn.EmbeddingBag, call: CallShapes) -> Cost:
    """EmbeddingBag over B bags holding n looked-up rows of width D in all:
    sum: (n−B)·D additions; mean: the same plus B·D multiplications by 1/size;
    max: (n−B)·D comparisons; per_sample_weights add n·D multiplications."""
    n = numel(call.x)
    bags, width = call.out[0] if len(call.out) == 2 else 1, call.out[-1]
    reduce = (n - bags) * width
    cost = Cost(other=reduce) if m.mode == "max" else Cost(adds=reduce)
    if m.mode == "mean":
        cost += Cost(mults=bags * width)
    if embedding_bag_weighted(call):
        cost += Cost(mults=n * width)
    return cost


@aten_formula(aten._embedding_bag, aten._embedding_bag_forward_only, kind="embedding")
def embedding_bag(out, weight, indices, offsets, scale_grad_by_freq=False, mode=0, sparse=False,
                  per_sample_weights=None, include_last_offset=False, padding_idx=-1) -> Cost:
    """``F.embedding_bag`` called as a function (Kimi-K2.5's interpolated position
    table), the EmbeddingBag module's convention: B bags of width D (the first
    output) holding the n indices: sum (mode 0): (n−B)·D additions; mean (1): the
    same plus B·D multiplications by 1/size; max (2): (n−B)·D comparisons;
    per_sample_weights add n·D multiplications.  Every index is counted (rows equal
    to ``padding_idx`` are skipped by the kernel, a data-dependent saving not assumed)."""
    n = numel(indices)
    bags, width = out[0][0], out[0][-1]
    reduce = max(n - bags, 0) * width
    cost = Cost(other=reduce) if mode == 2 else Cost(adds=reduce)
    if mode == 1:
        cost += Cost(mults=bags * width)
    if per_sample_weights is not None:
        cost += Cost(mults=n * width)
    return cost


def embedding_bag_weighted(call: CallShapes) -> bool:
    """Whether an EmbeddingBag call has per_sample_weights.  Its input tensors are
    the indices, then the offsets (1-D indices only; 2-D indices are one bag a row
    and take none), then the weights: a third tensor beside 1-D indices, a second
    beside 2-D ones.  The backward (``backward/embedding.py``) reads the same."""
    return len(call.inputs) >= 3 or (len(call.inputs) == 2 and len(call.x) == 2)
