"""profiler.count.rows: build_rows turns captured module calls into report rows:
one per call that has a formula, is a leaf, owns parameters or ran functional
ops; each parameter counted once, so the params column sums to the model's
sum(p.numel()); parameters the forward never used in "not called" rows; a
container's activations are only what it computed itself; what cannot be
counted is marked uncounted, with a warning, never dropped."""
from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from profiler.capture.record import Capture
from profiler.columns import BWD_COLUMNS, COLUMNS
from profiler.count.rows import build_rows


def _rows(model: nn.Module, *shape, training: bool = False) -> dict[str, dict]:
    with torch.set_grad_enabled(training), Capture(model, record_ops=training) as capture:
        model(torch.empty(*shape, device="meta"))
    rows = build_rows(capture.calls, model, training, capture.modules)
    return {row["name"]: row for row in rows}


def _capture(model, *shape):
    with torch.no_grad(), Capture(model) as capture:
        model(torch.empty(*shape, device="meta"))
    return capture.calls, model


class Residual(nn.Module):
    """A container: two linear children and a residual add of its own."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)

    def forward(self, x):
        return self.b(self.a(x)) + x


def test_one_row_per_call_that_counts_with_the_columns_of_a_report():
    with torch.device("meta"):
        model = nn.Sequential(Residual(), nn.ReLU(), nn.Sequential(nn.Identity()))
    rows = _rows(model, 2, 4)
    # the outer Sequentials compute nothing and own nothing: no row; Identity is a leaf: a row
    assert list(rows) == ["0", "0.a", "0.b", "1", "2.0"]
    assert all(list(row) == COLUMNS for row in rows.values())
    assert rows["0.a"]["status"] == "formula" and rows["0.a"]["kind"] == "linear" and rows["0.a"]["depth"] == 2
    assert rows["0.a"]["macs"] == 2 * 4 * 4 and rows["0.a"]["params"] == 4 * 4 + 4
    block = rows["0"]
    assert block["status"] == "functional" and block["ops"] == "add×1" and block["params"] == 0
    assert (block["mults"], block["adds"], block["other"]) == (0, 2 * 4, 0)
    # the container's activations are its add's output, not its children's
    assert block["act_elems"] == 2 * 4 and block["act_bytes"] == 2 * 4 * 4 and block["in_bytes"] == 2 * 2 * 4 * 4
    assert rows["1"]["act_elems"] == 8 and rows["1"]["input_shapes"] == ((2, 4),)


def test_shared_parameters_count_once_and_unused_ones_get_a_not_called_row():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.unused = nn.Linear(4, 3)

        def forward(self, x):
            return self.fc(self.fc(x))

    with torch.device("meta"):
        model = Shared()
    rows = list(build_rows(*_capture(model, 2, 4), False))
    fc = [row for row in rows if row["name"] == "fc"]
    assert [row["params"] for row in fc] == [4 * 4 + 4, 0]      # the second call owns nothing new
    assert [row["macs"] for row in fc] == [2 * 4 * 4] * 2       # but computes as much
    unused = next(row for row in rows if row["name"] == "unused")
    assert unused["status"] == "not called" and unused["params"] == 4 * 3 + 3 and unused["macs"] == 0
    assert sum(row["params"] for row in rows) == sum(p.numel() for p in model.parameters())


def test_a_model_with_parameters_of_its_own_has_a_model_row():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(4))
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(x) * self.scale

    with torch.device("meta"):
        model = Scaled()
    rows = _rows(model, 3, 4)
    assert rows["(model)"]["params"] == 4 and rows["(model)"]["mults"] == 3 * 4
    assert rows["(model)"]["depth"] == 0


def test_an_op_without_a_formula_is_uncounted_with_a_warning():
    class Bessel(nn.Module):
        def forward(self, x):
            return torch.special.bessel_j0(x) + 1

    with pytest.warns(UserWarning, match=r"\(model\) \(Bessel\) is uncounted"):
        rows = _rows(Bessel(), 5)
    row = rows["(model)"]
    assert row["status"] == "uncounted" and row["adds"] == 5
    assert row["ops"] == "add×1; no formula: special_bessel_j0×1"


def test_a_formula_that_cannot_read_its_call_is_reported_not_hidden():
    class OddLinear(nn.Linear):
        def forward(self, x):                    # a Linear whose forward returns no tensor
            return None

    with torch.device("meta"):
        model = OddLinear(4, 4)
    with pytest.warns(UserWarning, match="uncounted: formula failed"):
        rows = _rows(model, 2, 4)
    assert rows["(model)"]["status"] == "uncounted" and rows["(model)"]["macs"] == 0


def test_training_adds_the_backward_columns_to_every_row():
    class WithUnused(nn.Sequential):
        def forward(self, x):
            return self[2](self[1](self[0](x)))

    with torch.device("meta"):
        model = WithUnused(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 3, bias=False))
        model.add_module("unused", nn.Linear(2, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rows = _rows(model, 2, 4, training=True)
    assert all(list(row) == COLUMNS + BWD_COLUMNS + ["bwd_status"] for row in rows.values())
    assert rows["0"]["bwd_status"] == "formula" and rows["unused"]["bwd_status"] == "not called"
    # the last layer's input needs its gradient: 2 x 3 x 4 products for it, as many for the weight
    assert rows["2"]["bwd_macs"] == 2 * (2 * 3 * 4)
