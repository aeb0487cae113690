"""Report outputs: by-kind shares and intensity, Markdown validity, JSON schema,
--depth/--sort/--top views, and files that are written whole or not at all."""
from __future__ import annotations

import json
import os

import pytest
import torch
from markdown_it import MarkdownIt
from torch import nn

import profiler
from profiler.report import atomic
from profiler.cli import main
from profiler.errors import ProfilerError
from profiler.report.grouping import group_by_depth, view
from profiler.report.json_report import SCHEMA_VERSION, to_dict
from profiler.columns import COUNT_COLUMNS


@pytest.fixture(scope="module")
def paper():
    return profiler.profile("alexnet_paper")


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


def test_conv_intensity_of_alexnet_paper_from_layer_shapes(paper):
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


# --- Markdown -----------------------------------------------------------------------------

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


# --- views: --depth, --sort, --top ---------------------------------------------------------

@pytest.mark.parametrize("depth", [0, 1, 2, 3])
def test_grouping_by_depth_keeps_every_total(depth):
    report = profiler.profile("resnet18")
    grouped = group_by_depth(report.layers, depth)
    assert (grouped[COUNT_COLUMNS].sum() == report.total).all()
    assert grouped["depth"].max() <= depth


def test_grouping_alexnet_paper_to_depth_1(paper):
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


def test_profile_cli_applies_the_view_to_every_output(tmp_path, capsys):
    out = {ext: tmp_path / f"r.{ext}" for ext in ("csv", "md", "json")}
    code = main(["profile", "alexnet_paper", "--depth", "1", "--sort", "params", "--top", "2",
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
    assert _exit_code(["profile", "alexnet_paper", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("profiler: error:") and err.count("\n") == 1


# --- JSON ------------------------------------------------------------------------------------

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
    from profiler.report.json_report import write_json
    a = write_json(paper, tmp_path / "a.json").read_bytes()
    b = write_json(profiler.profile("alexnet_paper"), tmp_path / "b.json").read_bytes()
    assert a == b


# --- writing files ----------------------------------------------------------------------------

@pytest.mark.parametrize("flag", ["--csv", "--md", "--json", "--plot"])
def test_unwritable_output_path_is_a_one_line_error(flag, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    code = main(["profile", "alexnet_paper", flag, str(blocker / "out.x")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"profiler: error: cannot write '{blocker / 'out.x'}'") and err.count("\n") == 1


def test_interrupted_write_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "report.csv"
    path.write_text("old contents\n")
    real_fdopen = os.fdopen

    class HalfThenInterrupt:
        """A file that writes half of what it is given, then is interrupted."""

        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()
            return False

        def write(self, data):
            self.f.write(data[: len(data) // 2])
            self.f.flush()
            raise KeyboardInterrupt

    monkeypatch.setattr(os, "fdopen", lambda fd, mode: HalfThenInterrupt(real_fdopen(fd, mode)))
    with pytest.raises(KeyboardInterrupt):
        atomic.write_text(path, "new contents that never fully land\n" * 100)
    assert path.read_text() == "old contents\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.csv"]


def test_interrupt_before_the_rename_leaves_no_file(tmp_path, monkeypatch):
    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic.write_bytes(tmp_path / "plot.png", b"\x89PNG" + b"\0" * 1000)
    assert list(tmp_path.iterdir()) == []


def test_write_into_a_file_as_folder_raises_profiler_error(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(ProfilerError, match="cannot write"):
        atomic.write_text(tmp_path / "f" / "x.md", "x")


def test_written_files_get_the_usual_permissions_not_mkstemps_0600(tmp_path):
    umask = os.umask(0o022)
    try:
        path = atomic.write_text(tmp_path / "report.md", "x")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644
