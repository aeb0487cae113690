"""profiler.columns: the report's vocabulary (row columns, layer kinds, what the
rendered report shows), fmt_shapes, and ShapeText, the shapes' text that carries
the shapes themselves."""
from __future__ import annotations

import pickle
import subprocess
import sys

import profiler
from profiler.columns import (BWD_COLUMNS, COLUMNS, COUNT_COLUMNS, KIND_LABELS, KINDS, LAYER_VIEW, SHAPE_COLUMNS,
                              SHOWN_SHARES, ShapeText, fmt_shapes)


def test_shape_text_carries_the_shapes_it_shows():
    text = ShapeText(((1, 3, 227, 227), (1, 10)))
    assert text == "1x3x227x227, 1x10" == fmt_shapes(text.shapes)
    assert text.shapes == ((1, 3, 227, 227), (1, 10))
    assert pickle.loads(pickle.dumps(text)).shapes == text.shapes
    assert ShapeText() == "" and ShapeText().shapes == ()


def test_fmt_shapes_joins_dimensions_with_x_and_shapes_with_commas():
    assert fmt_shapes([]) == ""
    assert fmt_shapes([()]) == ""                       # a scalar's shape has no dimensions
    assert fmt_shapes([(7,)]) == "7"
    assert fmt_shapes([[2, 3], (4, 5, 6)]) == "2x3, 4x5x6"


def test_shape_text_is_a_str_and_keeps_tuples_made_from_lists():
    text = ShapeText([[2, 4], [2, 6]])
    assert isinstance(text, str) and text.upper() == "2X4, 2X6"
    assert text.shapes == ((2, 4), (2, 6)) and all(type(s) is tuple for s in text.shapes)
    assert {text: 1}["2x4, 2x6"] == 1                  # hashes as its text
    again = pickle.loads(pickle.dumps(text))
    assert type(again) is ShapeText and again == text


def test_the_column_lists_are_consistent():
    assert len(set(COLUMNS)) == len(COLUMNS)
    assert set(COUNT_COLUMNS) <= set(COLUMNS)
    assert set(SHAPE_COLUMNS) <= set(COLUMNS)
    assert set(SHOWN_SHARES) <= set(COUNT_COLUMNS)
    assert set(LAYER_VIEW) <= set(COLUMNS)
    assert not set(BWD_COLUMNS) & set(COLUMNS)
    assert set(KIND_LABELS) <= set(KINDS) and "other" in KINDS


def test_a_profile_has_exactly_these_columns_and_kinds():
    import torch
    from torch import nn
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 2))
    report = profiler.profile(model, inputs=torch.Size((1, 3, 6, 6)))
    assert list(report.layers.columns) == COLUMNS
    assert set(report.layers["kind"]) <= set(KINDS)
    training = profiler.profile(model, input_size=(3, 6, 6), training=True)
    assert list(training.layers.columns) == COLUMNS + BWD_COLUMNS + ["bwd_status"]


def test_the_columns_module_imports_no_torch():
    code = "import sys, profiler.columns; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
