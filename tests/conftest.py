"""Shared fixtures: profile one module and read its single row."""
from __future__ import annotations

import pytest
import torch

import profiler


def _layer_cost(module: torch.nn.Module, *inputs, **kwargs) -> dict:
    """Profile ``module`` alone on ``inputs`` (tensors or shapes); the row of the
    module itself, which must be the only row."""
    report = profiler.profile(module, inputs=tuple(inputs), kwargs=kwargs or None)
    layers = report.layers
    assert len(layers) == 1, layers[["name", "type", "status"]]
    row = layers.iloc[0]
    assert row["status"] == "formula", row["ops"]
    return {k: int(row[k]) for k in ("mults", "adds", "other", "macs", "params")}


@pytest.fixture(scope="session")
def layer_cost():
    return _layer_cost
