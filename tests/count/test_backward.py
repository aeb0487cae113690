"""profiler.count.backward: the backward of each captured call (status "formula"
for a module with a backward formula, "functional" for its ops, "zero" for ops
that only move data, "uncounted" for an op without one), the bwd_* columns, and
the forward / backward / total table of a training profile (Report.passes)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import profiler
from profiler.capture.record import Capture
from profiler.columns import BWD_COLUMNS, COLUMNS
from profiler.count.backward import backward_columns, call_backward, op_backward
from profiler.formulas.cost import ZERO, Cost


# --- the training profile's columns and totals (moved from tests/test_backward.py) ------------

def test_training_profile_adds_backward_columns_and_pass_totals():
    report = profiler.profile("resnet18", input_size=(3, 64, 64), batch=2, training=True)
    assert list(report.layers.columns) == COLUMNS + BWD_COLUMNS + ["bwd_status"]
    assert not (report.layers["bwd_status"] == "uncounted").any()
    passes = report.passes.set_index("pass")
    for col, bwd in zip(("mults", "adds", "other", "macs"), BWD_COLUMNS):
        assert passes.loc["forward", col] == report.total[col]
        assert passes.loc["backward", col] == report.layers[bwd].sum()
        assert passes.loc["forward+backward", col] == report.total[col] + report.layers[bwd].sum()
    assert passes.loc["forward", "flops"] == report.total["flops"]
    assert "forward and backward:" in report.to_string()
    assert "## Forward and backward" in report.markdown()


def test_inference_profile_is_unchanged_by_the_training_option():
    report = profiler.profile("resnet18", input_size=(3, 64, 64))
    assert list(report.layers.columns) == COLUMNS
    assert report.passes is None
    assert "forward and backward" not in report.to_string()


class ExpTimesTwo(nn.Module):
    """A linear layer, then functional exp, view and a product by a scalar."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return torch.exp(self.fc(x)).view(-1) * 2


class Flattens(nn.Module):
    def forward(self, x):
        return x.view(-1)


class Cumulates(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return torch.cumprod(self.fc(x), 0)


def _calls(model, *shape):
    with torch.device("meta"):
        built = model()
    with torch.enable_grad(), Capture(built, record_ops=True) as capture:
        built(torch.empty(*shape, device="meta"))
    return {call.name: call for call in capture.calls}


def test_call_backward_statuses_and_hand_counted_costs():
    calls = _calls(lambda: nn.Sequential(ExpTimesTwo(), Flattens()), 2, 4)
    # nn.Linear(4, 4) on a batch of 2 whose input needs no gradient: the weight gradient is
    # 2 outer products of 4 x 4 (32 mults, 16 adds to sum them), the bias gradient sums 2 rows (4 adds)
    assert call_backward(calls["0.fc"]) == (Cost(mults=32, adds=20, other=0, macs=32), "formula", "")
    # exp' = exp: one product per element (8); the view is free; x * 2: one product per element (8)
    assert call_backward(calls["0"]) == (Cost(mults=16, adds=0, other=0, macs=0), "functional", "")
    assert call_backward(calls["1"]) == (ZERO, "zero", "")      # a view only
    assert call_backward(calls[""]) == (ZERO, "zero", "")       # no ops of its own


def test_an_op_without_a_backward_formula_is_uncounted_and_named():
    calls = _calls(Cumulates, 3, 4)
    cost, status, missing = call_backward(calls[""])
    assert status == "uncounted" and missing == "no backward formula: cumprod×1" and cost == ZERO


def test_op_backward_of_records():
    records = {r.func.overloadpacket.__name__: r for r in _calls(ExpTimesTwo, 2, 4)[""].op_records}
    assert op_backward(records["exp"]) == Cost(mults=8)
    assert op_backward(records["view"]) == ZERO
    no_grad = records["exp"]
    no_grad.needs = (False,)
    assert op_backward(no_grad) == ZERO                          # nothing needs its gradient
    cumprod = _calls(Cumulates, 3, 4)[""].op_records
    assert op_backward(next(r for r in cumprod if r.func.overloadpacket.__name__ == "cumprod")) is None


def test_backward_columns_name_the_cost():
    cost = Cost(mults=3, adds=5, other=7, macs=2)
    assert backward_columns(cost) == dict(bwd_mults=3, bwd_adds=5, bwd_other=7, bwd_macs=2)
    assert list(backward_columns(cost)) == BWD_COLUMNS


@pytest.mark.parametrize("batch", [1, 3])
def test_a_training_profile_of_a_linear_layer_by_hand(batch):
    report = profiler.profile(nn.Linear(8, 4), input_size=(8,), batch=batch, training=True)
    row = report.layers.iloc[0]
    assert row["bwd_status"] == "formula"
    # the dummy input needs no gradient: weight gradient (batch outer products of 4 x 8) and bias gradient
    assert row["bwd_mults"] == row["bwd_macs"] == batch * 4 * 8
    assert row["bwd_adds"] == (batch - 1) * 4 * 8 + (batch - 1) * 4
