"""The Report's derived tables are computed once and follow what they are made of;
shapes reach JSON as the tuples the capture recorded, never parsed back from text."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from torch import nn

import profiler
from profiler.columns import ShapeText
from profiler.report.grouping import view
from profiler.report.json_report import to_dict


@pytest.fixture
def paper():
    return profiler.profile("alexnet_paper")


def test_by_kind_is_computed_once_and_handed_out_as_copies(paper):
    assert paper._by_kind() is paper._by_kind()
    handed = paper.by_kind
    handed.loc[:, "params"] = -1                      # the caller's copy, not the report's
    assert (paper.by_kind["params"] > 0).any()
    assert paper.total["params"] == sum(p.numel() for p in _alexnet_paper().parameters())


def _alexnet_paper() -> nn.Module:
    from profiler.models.resolve import resolve
    return resolve("alexnet_paper").build(meta=True)


def test_assigning_layers_drops_the_derived_tables(paper):
    before = paper.by_kind.set_index("kind")
    convs = paper.layers[paper.layers["kind"] == "conv"].reset_index(drop=True)
    paper.layers = convs
    after = paper.by_kind
    assert list(after["kind"]) == ["conv"]
    assert int(after["mults"].iloc[0]) == int(before.loc["conv", "mults"]) == paper.totals["mults"]
    assert after["mults_%"].iloc[0] == 100.0
    assert paper.share("linear", "params") == 0.0 and paper.intensity == pytest.approx(
        float(convs["flops"].sum()) / float(paper.moved_bytes(convs).sum()))


def test_setting_measurement_drops_the_derived_tables(paper):
    paper.to_string()
    assert "by_kind" in paper._memo
    paper.measurement = None
    assert paper._memo == {}


def test_totals_before_and_after_the_frame_is_built_agree():
    report = profiler.profile("alexnet_paper")
    without_frame = report.totals                     # from the rows: no frame built yet
    assert report._layers is None
    assert without_frame == {c: int(report.layers[c].sum()) for c in without_frame}


class _TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.mix = nn.Bilinear(4, 6, 5)

    def forward(self, a, b):
        return self.mix(a, b)


def test_json_shapes_are_the_captured_tuples():
    report = profiler.profile(_TwoInputs(), inputs=((2, 4), (2, 6)))
    row = report.layers.iloc[-1]
    assert row["input_shapes"] == "2x4, 2x6" and row["input_shapes"].shapes == ((2, 4), (2, 6))
    layer = json.loads(json.dumps(to_dict(report)))["layers"][-1]
    assert layer["input_shapes"] == [[2, 4], [2, 6]] and layer["output_shapes"] == [[2, 5]]


def test_grouped_views_keep_the_shapes_behind_their_text(paper):
    grouped, _ = view(paper.layers, depth=1)
    for column in ("input_shapes", "output_shape"):
        assert grouped[column].dtype == object
        assert all(isinstance(v, ShapeText) for v in grouped[column])
    features = grouped.set_index("name").loc["features"]
    assert features["input_shapes"].shapes == ((1, 3, 227, 227),)
    assert features["output_shape"].shapes == ((1, 256, 6, 6),)


def test_csv_writes_the_shape_text(paper, tmp_path):
    frame = pd.read_csv(paper.to_csv(tmp_path / "a.csv"))
    assert list(frame["input_shapes"])[:1] == ["1x3x227x227"]


def test_the_report_keeps_the_input_size_as_a_tuple():
    assert profiler.profile("alexnet_paper").input_size == (3, 227, 227)
    assert profiler.profile("alexnet_paper", input_size=(3, 255, 255)).input_size == (3, 255, 255)
    assert profiler.profile(nn.Linear(3, 2), inputs=((1, 3),)).input_size is None
