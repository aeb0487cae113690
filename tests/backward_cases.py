"""Helpers the backward formula tests share: autograd's gradients, a Cost's counts, and
the one row of a training profile."""
from __future__ import annotations

import torch

import profiler


def training_row(model, *inputs):
    """The training profile's single row of ``model``."""
    report = profiler.profile(model, inputs=inputs[0] if len(inputs) == 1 else tuple(inputs), training=True)
    assert len(report.layers) == 1 and report.layers.iloc[0]["bwd_status"] == "formula", report.layers
    row = report.layers.iloc[0]
    return tuple(int(row[c]) for c in ("bwd_mults", "bwd_adds", "bwd_other")), int(row["bwd_macs"])


def grads(fn, inputs, g):
    """Autograd's gradients (float64) of Σ fn(inputs)·g w.r.t. each input."""
    ts = [torch.tensor(a, requires_grad=True) for a in inputs]
    (fn(*ts) * torch.tensor(g)).sum().backward()
    return [t.grad.numpy() for t in ts]


def counts(cost) -> tuple[int, int, int]:
    return cost.mults, cost.adds, cost.other


def tally_sum(*tallies) -> tuple[int, int, int]:
    return tuple(sum(t.as_tuple()[i] for t in tallies) for i in range(3))
