"""profiler.report (the Report): its derived tables (totals, by_kind with shares and
arithmetic intensity, passes, uncounted) are computed once and follow what they are
made of; the finding; the terminal, Markdown and CSV outputs."""
from __future__ import annotations

import copy

import pandas as pd
import pytest
import torch
from markdown_it import MarkdownIt
from torch import nn

import profiler
from profiler.columns import COUNT_COLUMNS
from profiler.report import Report


@pytest.fixture(scope="module")
def _alexnet_homework_report():
    return profiler.profile("alexnet_homework")


@pytest.fixture
def paper(_alexnet_homework_report):
    """A copy of alexnet_homework's report for each test: some tests replace its layers."""
    return copy.deepcopy(_alexnet_homework_report)


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


# --- derived tables: computed once, dropped when what they are made of changes ---------------

def test_by_kind_is_computed_once_and_handed_out_as_copies(paper):
    assert paper._by_kind() is paper._by_kind()
    handed = paper.by_kind
    handed.loc[:, "params"] = -1                      # the caller's copy, not the report's
    assert (paper.by_kind["params"] > 0).any()
    assert paper.total["params"] == sum(p.numel() for p in _alexnet_homework().parameters())


def _alexnet_homework() -> nn.Module:
    from profiler.models.resolve import resolve
    return resolve("alexnet_homework").build(meta=True)


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
    report = profiler.profile("alexnet_homework")
    without_frame = report.totals                     # from the rows: no frame built yet
    assert report._layers is None
    assert without_frame == {c: int(report.layers[c].sum()) for c in without_frame}


def test_the_report_keeps_the_input_size_as_a_tuple():
    assert profiler.profile("alexnet_homework").input_size == (3, 227, 227)
    assert profiler.profile("alexnet_homework", input_size=(3, 255, 255)).input_size == (3, 255, 255)
    assert profiler.profile(nn.Linear(3, 2), inputs=((1, 3),)).input_size is None


# --- by kind: shares and arithmetic intensity ------------------------------------------

def test_every_count_column_has_kind_shares_summing_to_100(paper):
    kinds = paper.by_kind
    for column in COUNT_COLUMNS:
        assert f"{column}_%" in kinds
        if paper.total[column]:
            assert kinds[f"{column}_%"].sum() == pytest.approx(100.0)


def test_in_bytes_are_the_input_activations_at_the_dtype(paper):
    conv1 = paper.layers.set_index("name").loc["features.conv1"]
    assert conv1["in_bytes"] == 3 * 227 * 227 * 4
    assert conv1["act_bytes"] == 64 * 55 * 55 * 4


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_intensity_of_one_linear_is_flops_over_params_inputs_and_outputs(dtype):
    batch, n_in, n_out = 4, 64, 32
    report = profiler.profile(nn.Linear(n_in, n_out).to(dtype), inputs=(batch, n_in), dtype=dtype)
    size = torch.empty((), dtype=dtype).element_size()
    flops = batch * n_out * (n_in + (n_in - 1) + 1)        # n mults, n-1 adds, 1 bias add per output
    moved = size * ((n_in * n_out + n_out) + batch * n_in + batch * n_out)
    assert report.intensity == pytest.approx(flops / moved)
    assert report.by_kind.set_index("kind").loc["linear", "intensity"] == pytest.approx(flops / moved)


def test_conv_intensity_of_alexnet_homework_from_layer_shapes(paper):
    """Independently of the in_bytes column: every conv's parameter, input and output
    sizes from the architecture, 4 bytes each."""
    convs = [(3, 64, 11, 227, 55), (64, 192, 5, 27, 27), (192, 384, 3, 13, 13), (384, 256, 3, 13, 13),
             (256, 256, 3, 13, 13)]
    flops = moved = 0
    for c_in, c_out, k, size_in, size_out in convs:
        outputs = c_out * size_out ** 2
        flops += 2 * outputs * c_in * k * k                 # with bias: n mults + n adds per output
        moved += 4 * ((c_in * k * k + 1) * c_out + c_in * size_in ** 2 + outputs)
    assert paper.by_kind.set_index("kind").loc["conv", "intensity"] == pytest.approx(flops / moved)


def test_finding_names_the_shares_and_the_intensity(paper):
    finding = paper.finding()
    assert "linear layers: 96.0% of parameters, 8.2% of multiplications" in finding
    assert "conv layers: 4.0% of parameters, 91.8% of multiplications" in finding
    assert f"arithmetic intensity {paper.intensity:.1f} FLOPs per byte" in finding
    assert "linear layers 0.5" in finding       # batch 1: each fc weight is read for one MAC


# --- Markdown and CSV -------------------------------------------------------------------------

def test_markdown_tables_parse_with_the_expected_shape(paper):
    tables = _tables(paper.markdown())
    n_kinds = len(paper.by_kind)
    assert [(len(t), len(t[0])) for t in tables] == [
        (2, len(COUNT_COLUMNS) + 1),            # total + intensity
        (1 + n_kinds, 2 + len(COUNT_COLUMNS)),  # kind, rows, counts
        (1 + n_kinds, 9),                       # kind, 7 shares, intensity
        (1 + len(paper.layers), 11),            # per layer
    ]
    assert all(len(row) == len(t[0]) for t in tables for row in t)
    assert tables[3][1][0] == "features.conv1" and tables[3][1][6] == "70,276,800"


def test_markdown_ends_with_the_finding(paper):
    text = paper.markdown()
    assert text.rstrip().endswith(paper.finding() + ".")
    assert text.rstrip().splitlines()[-3] == "## Finding"


def test_markdown_embeds_the_plot_relative_to_itself(paper, tmp_path):
    md = paper.to_markdown(tmp_path / "md" / "report.md", plot=tmp_path / "img" / "plot.png")
    tokens = MarkdownIt("commonmark").parse(md.read_text())
    images = [c for t in tokens if t.children for c in t.children if c.type == "image"]
    assert [i.attrs["src"] for i in images] == ["../img/plot.png"]


def test_csv_writes_the_shape_text(paper, tmp_path):
    frame = pd.read_csv(paper.to_csv(tmp_path / "a.csv"))
    assert list(frame["input_shapes"])[:1] == ["1x3x227x227"]



# --- the rest of the Report: rows, passes, uncounted rows, bytes moved, text --------------------

def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))


def test_a_report_from_rows_builds_its_frame_on_first_read():
    rows = profiler.profile(_mlp(), inputs=((3, 4),)).layers.to_dict("records")
    report = Report.from_rows("mlp", rows, input_desc="given inputs", batch=3, execution="meta")
    assert report._layers is None
    assert repr(report) == "Report(model='mlp', input='given inputs', execution='meta', rows=3)"
    assert report.header() == "mlp · input given inputs · batch 3 · meta tensors"
    assert report.totals["macs"] == 3 * 4 * 8 + 3 * 8 * 2           # batch x in x out, per Linear
    assert list(report.layers["name"]) == ["0", "1", "2"] and report.layers["macs"].dtype == "int64"
    assert str(report) == report.to_string()


def test_report_mode_is_a_deprecated_alias_of_execution():
    report = profiler.profile(_mlp(), inputs=((3, 4),))
    assert report.execution == "meta"
    with pytest.warns(DeprecationWarning, match="Report.execution"):
        assert report.mode == "meta"


def test_the_header_names_a_dtype_other_than_float32():
    report = profiler.profile(nn.Linear(4, 2), inputs=((1, 4),), dtype=torch.float16)
    assert report.header().endswith(" · float16") and report.itemsize == 2


def test_passes_of_a_training_profile_add_up_by_hand():
    report = profiler.profile(_mlp(), inputs=((3, 4),), training=True)
    passes = report.passes.set_index("pass")
    forward = 3 * 4 * 8 + 3 * 8 * 2
    # the first Linear's input needs no gradient: its weight's only (3x4x8); the second's
    # weight (3x8x2) and its input (3x2x8)
    backward = 3 * 4 * 8 + 3 * 8 * 2 + 3 * 2 * 8
    assert passes.loc["forward", "macs"] == forward and passes.loc["backward", "macs"] == backward
    assert (passes.loc["forward+backward"] == passes.loc["forward"] + passes.loc["backward"]).all()
    assert "forward and backward:" in report.to_string()
    assert profiler.profile(_mlp(), inputs=((3, 4),)).passes is None


def test_moved_bytes_are_params_inputs_and_outputs():
    report = profiler.profile(nn.Linear(4, 2), inputs=((3, 4),))
    assert list(report.moved_bytes()) == [4 * (4 * 2 + 2) + 4 * 3 * 4 + 4 * 3 * 2]
    assert report.share("linear", "params") == 100.0 and report.share("conv", "params") == 0.0


def test_uncounted_rows_are_listed_in_every_output():
    class Bessel(nn.Module):
        def forward(self, x):
            return torch.special.bessel_j0(x)

    with pytest.warns(UserWarning):
        report = profiler.profile(nn.Sequential(nn.Linear(4, 4), Bessel()), inputs=((3, 4),))
    assert list(report.uncounted["name"]) == ["1"]
    assert "uncounted: 1 (Bessel: " in report.to_string()
    assert "- `1` (Bessel): " in report.markdown()
    assert "None: every row is counted." in profiler.profile(nn.Linear(4, 2), inputs=((1, 4),)).markdown()


def test_to_string_takes_a_view_and_prints_notes_in_full_when_verbose():
    report = profiler.profile(_mlp(), inputs=((3, 4),))
    report.notes = ["a note " + "that goes on " * 20]
    short, full = report.to_string(), report.to_string(verbose=True)
    assert "note: " + report.notes[0] in full and report.notes[0] not in short
    view = report.layers.iloc[[2]]
    text = report.to_string(layers=view, layers_note="one row shown.")
    assert "one row shown." in text
    table = text.split("one row shown.")[1].split("by kind:")[0]
    assert "Linear" in table and "ReLU" not in table


def test_csv_of_the_kinds_has_raw_counts(paper, tmp_path):
    frame = pd.read_csv(paper.to_csv(tmp_path / "kinds.csv", table_name="by_kind"))
    assert list(frame["kind"]) == list(paper.by_kind["kind"])
    assert frame["params"].sum() == 61_100_840     # 5 convs 2,469,696 + 3 linears 58,631,144
