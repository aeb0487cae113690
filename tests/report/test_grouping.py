"""profiler.report.grouping: views of the per-layer table (--depth, --sort, --top).
Grouping keeps every total and the shapes behind the text; sorting and cutting pick
the largest rows; the CLI applies the view to every output and rejects bad options."""
from __future__ import annotations

import json

import pytest
import torch
from markdown_it import MarkdownIt
from torch import nn

import profiler
from profiler.cli import main
from profiler.columns import COUNT_COLUMNS, ShapeText
from profiler.errors import ProfilerError
from profiler.report.grouping import group_by_depth, sort_layers, view


@pytest.fixture(scope="module")
def paper():
    return profiler.profile("alexnet_homework")


def _tables(markdown: str) -> list[list[list[str]]]:
    """Each table as rows of cell texts (header row first), via markdown-it-py's table extension."""
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    tables, rows = [], None
    for tok in tokens:
        if tok.type == "table_open":
            rows = []
        elif tok.type == "tr_open":
            rows.append([])
        elif tok.type == "inline" and rows is not None and rows:
            rows[-1].append(tok.content)
        elif tok.type == "table_close":
            tables.append(rows)
            rows = None
    return tables


@pytest.mark.parametrize("depth", [0, 1, 2, 3])
def test_grouping_by_depth_keeps_every_total(depth):
    report = profiler.profile("resnet18")
    grouped = group_by_depth(report.layers, depth)
    assert (grouped[COUNT_COLUMNS].sum() == report.total).all()
    assert grouped["depth"].max() <= depth


def test_grouping_alexnet_homework_to_depth_1(paper):
    grouped = group_by_depth(paper.layers, 1).set_index("name")
    assert list(grouped.index) == ["features", "flatten", "classifier"]
    assert grouped.loc["classifier", "params"] == 58_631_144
    assert grouped.loc["features", "kind"] == "conv" and grouped.loc["classifier", "kind"] == "linear"
    assert grouped.loc["features", "input_shapes"] == "1x3x227x227"
    assert grouped.loc["features", "output_shape"] == "1x256x6x6"
    assert len(group_by_depth(paper.layers, 0)) == 1


def test_sort_and_top_pick_the_largest_rows(paper):
    layers, note = view(paper.layers, sort="params", top=2)
    assert list(layers["name"]) == ["classifier.fc1", "classifier.fc2"]
    assert note == "Sorted by params; top 2 of 21 rows."
    layers, _ = view(paper.layers, top=1)                  # --top alone sorts by mults
    assert list(layers["name"]) == ["features.conv2"]
    layers, _ = view(paper.layers, sort="memory")
    assert list(layers["act_bytes"]) == sorted(paper.layers["act_bytes"], reverse=True)


def test_grouped_views_keep_the_shapes_behind_their_text(paper):
    grouped, _ = view(paper.layers, depth=1)
    for column in ("input_shapes", "output_shape"):
        assert grouped[column].dtype == object
        assert all(isinstance(v, ShapeText) for v in grouped[column])
    features = grouped.set_index("name").loc["features"]
    assert features["input_shapes"].shapes == ((1, 3, 227, 227),)
    assert features["output_shape"].shapes == ((1, 256, 6, 6),)


def test_profile_cli_applies_the_view_to_every_output(tmp_path, capsys):
    out = {ext: tmp_path / f"r.{ext}" for ext in ("csv", "md", "json")}
    code = main(["profile", "alexnet_homework", "--depth", "1", "--sort", "params", "--top", "2",
                 *(a for ext, path in out.items() for a in (f"--{ext}", str(path)))])
    assert code == 0
    screen = capsys.readouterr().out
    assert "Rows grouped to depth 1; sorted by params; top 2 of 3 rows." in screen
    assert out["csv"].read_text().splitlines()[1].startswith("classifier,")
    assert len(out["csv"].read_text().splitlines()) == 3
    assert [len(t) for t in _tables(out["md"].read_text())][3] == 3
    doc = json.loads(out["json"].read_text())
    assert [l["name"] for l in doc["layers"]] == ["classifier", "features"]
    assert doc["total"]["params"] == 61_100_840          # totals stay whole-model


def _exit_code(argv: list[str]) -> int:
    """main()'s return value, or argparse's exit code for a usage error."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


@pytest.mark.parametrize("args", [["--depth", "-1"], ["--top", "0"], ["--sort", "flops"]])
def test_bad_view_options_exit_2_with_one_line(args, capsys):
    assert _exit_code(["profile", "alexnet_homework", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("profiler: error:") and err.count("\n") == 1



# --- a small model worked by hand ----------------------------------------------------------------

class Block(nn.Module):
    """A Linear and a ReLU, and an add of its own (a row for the block itself)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 8)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.fc(x)) + 1


@pytest.fixture(scope="module")
def small():
    model = nn.Sequential(Block(), nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 2)))
    return profiler.profile(model, inputs=((3, 4),)).layers


def test_groups_at_depth_1_by_hand(small):
    grouped = group_by_depth(small, 1).set_index("name")
    assert list(grouped.index) == ["0", "1"]
    block, tail = grouped.loc["0"], grouped.loc["1"]
    assert block["type"] == "Block" and tail["type"] == "2 layers"     # "1" has no row of its own
    assert block["params"] == 4 * 8 + 8 and tail["params"] == (8 * 8 + 8) + (8 * 2 + 2)
    assert block["mults"] == 3 * 4 * 8 and tail["mults"] == 3 * 8 * 8 + 3 * 8 * 2
    assert block["kind"] == tail["kind"] == "linear"                   # the members with the most FLOPs
    assert (block["input_shapes"], block["output_shape"]) == ("3x4", "3x8")
    assert (tail["input_shapes"], tail["output_shape"]) == ("3x8", "3x2")
    assert tail["output_shape"].shapes == ((3, 2),)
    assert set(grouped["status"]) == {"grouped"} and list(grouped["depth"]) == [1, 1]


def test_depth_0_is_one_row_and_a_deep_depth_changes_nothing(small):
    whole = group_by_depth(small, 0)
    assert list(whole["name"]) == ["(model)"] and whole["type"].iloc[0] == f"{len(small)} layers"
    assert whole["params"].iloc[0] == 40 + 90
    deep = group_by_depth(small, 5)
    assert list(deep["name"]) == list(small["name"])
    assert (deep[COUNT_COLUMNS].to_numpy() == small[COUNT_COLUMNS].to_numpy()).all()


def test_an_uncounted_member_makes_its_group_uncounted():
    class Bessel(nn.Module):
        def forward(self, x):
            return torch.special.bessel_j0(x)

    with pytest.warns(UserWarning):
        layers = profiler.profile(nn.Sequential(nn.Sequential(nn.Linear(4, 4), Bessel())), inputs=((3, 4),)).layers
    group = group_by_depth(layers, 1).iloc[0]
    assert group["status"] == "uncounted" and "special_bessel_j0" in group["ops"]


def test_view_notes_and_sort_order(small):
    same, note = view(small)
    assert note == "" and list(same["name"]) == list(small["name"])
    layers, note = view(small, depth=1, sort="params")
    assert list(layers["name"]) == ["1", "0"] and note == "Rows grouped to depth 1; sorted by params."
    ordered = sort_layers(small, "mults")
    assert list(ordered["mults"]) == sorted(small["mults"], reverse=True)
    zero = ordered[ordered["mults"] == 0]
    assert list(zero.index) == sorted(zero.index)                      # ties keep table order


def test_bad_views_are_profiler_errors(small):
    with pytest.raises(ProfilerError, match="depth=-1"):
        group_by_depth(small, -1)
    with pytest.raises(ProfilerError, match="sort='flops': choose one of mults, params, memory"):
        sort_layers(small, "flops")
    with pytest.raises(ProfilerError, match="top=0"):
        view(small, top=0)
