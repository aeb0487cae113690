"""profiler.report.json_report: the report as JSON, schema version 1.  Keys in their
order, counts as integers, shapes as the tuples the capture recorded (never parsed
back from text); the same profile gives the same bytes; a view replaces the layers."""
from __future__ import annotations

import json

import pytest
from torch import nn

import profiler
from profiler.columns import COUNT_COLUMNS
from profiler.report.grouping import view
from profiler.report.json_report import SCHEMA_VERSION, to_dict, to_json, write_json


@pytest.fixture(scope="module")
def paper():
    return profiler.profile("alexnet_homework")


def test_json_follows_schema_version_1(paper):
    doc = json.loads(json.dumps(to_dict(paper)))
    assert doc["schema_version"] == SCHEMA_VERSION == 1
    assert list(doc) == ["schema_version", "model", "input", "batch", "mode", "itemsize", "notes", "total",
                         "by_kind", "layers_view", "layers", "uncounted", "finding"]
    assert {k: doc["total"][k] for k in COUNT_COLUMNS} == {k: int(v) for k, v in paper.total.items()}
    assert doc["total"]["intensity"] == round(paper.intensity, 4)
    conv1 = doc["layers"][0]
    assert conv1["input_shapes"] == [[1, 3, 227, 227]] and conv1["output_shapes"] == [[1, 64, 55, 55]]
    assert list(doc["by_kind"][0]["shares"]) == COUNT_COLUMNS
    assert len(doc["layers"]) == len(paper.layers) and doc["uncounted"] == []


def test_json_is_deterministic(paper, tmp_path):
    a = write_json(paper, tmp_path / "a.json").read_bytes()
    b = write_json(profiler.profile("alexnet_homework"), tmp_path / "b.json").read_bytes()
    assert a == b


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



def test_to_json_is_the_document_indented_and_write_json_writes_it(paper, tmp_path):
    text = to_json(paper)
    assert text.endswith("}\n") and text.startswith('{\n  "schema_version": 1,')
    assert json.loads(text) == json.loads(json.dumps(to_dict(paper)))
    path = write_json(paper, tmp_path / "out" / "report.json")
    assert path.read_text() == text


def test_a_view_replaces_the_layers_and_says_so(paper):
    top = paper.layers.nlargest(2, "params")
    doc = to_dict(paper, top, layers_view="Top 2.")
    assert doc["layers_view"] == "Top 2." and [l["name"] for l in doc["layers"]] == list(top["name"])
    assert doc["total"]["params"] == sum(l["params"] for l in to_dict(paper)["layers"])   # totals stay whole


def test_counts_of_one_linear_by_hand():
    doc = to_dict(profiler.profile(nn.Linear(3, 2), inputs=((5, 3),)))
    layer = doc["layers"][0]
    assert {k: layer[k] for k in ("mults", "adds", "params")} == {"mults": 5 * 2 * 3, "adds": 5 * 2 * 3,
                                                                  "params": 3 * 2 + 2}
    assert all(type(layer[c]) is int for c in COUNT_COLUMNS)
    assert doc["by_kind"][0]["shares"]["params"] == 100.0 and "language" not in doc


def test_a_training_profile_has_its_backward_recompute_and_passes():
    import torch
    from torch.utils.checkpoint import checkpoint

    class Checkpointed(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(8, 8), nn.Linear(8, 8)

        def forward(self, x):
            return checkpoint(lambda x: self.b(self.a(x)), x, use_reentrant=True)
    report = profiler.profile(Checkpointed(), inputs=(torch.randn(2, 8, requires_grad=True),), training=True)
    document = to_dict(report)
    a = document["layers"][0]
    # by hand: 2x8 @ 8x8 is 128 MACs; its backward is grad x and grad W, 128 each; rerun once
    assert (a["macs"], a["bwd_macs"], a["rc_macs"], a["bwd_status"]) == (128, 256, 128, "formula")
    passes = {p["pass"]: p["macs"] for p in document["passes"]}
    assert passes == {"forward": 256, "backward": 512, "forward+backward": 768, "recompute": 256,
                      "forward+backward+recompute": 1024}
    assert "passes" not in to_dict(profiler.profile(nn.Linear(8, 8), input_size=(8,)))
    grouped = view(report.layers, 0, None, None)[0]
    assert int(grouped["rc_macs"].sum()) == 256
