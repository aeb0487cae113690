"""Plots: the figures hold the right bars and points, and are written as valid PNGs."""
from __future__ import annotations

import subprocess
import sys

import pytest

import profiler
from profiler.cli import main
from profiler.compare import compare
from profiler.plots import KIND_COLORS, SHARE_METRICS, compare_figure, report_figure, save

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _assert_png(path, min_size=(100, 100)):
    import matplotlib.image
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[0] >= min_size[0] and pixels.shape[1] >= min_size[1]


@pytest.fixture(scope="module")
def paper():
    return profiler.profile("alexnet_paper")


def _axes(fig):
    return {ax.get_title(): ax for ax in fig.axes}


def test_report_figure_has_one_bar_per_conv_and_linear_layer(paper):
    axes = _axes(report_figure(paper))
    names = ["features.conv1", "features.conv2", "features.conv3", "features.conv4", "features.conv5",
             "classifier.fc1", "classifier.fc2", "classifier.fc3"]
    layers = paper.layers.set_index("name").loc[names]
    for title, column in (("multiplications per layer", "mults"), ("parameters per layer", "params")):
        bars = axes[title].patches
        assert [b.get_width() for b in bars] == [float(v) for v in layers[column]]
        assert [b.get_facecolor()[:3] for b in bars] == [_rgb(KIND_COLORS[k]) for k in layers["kind"]]
    labels = [t.get_text() for t in axes["multiplications per layer"].get_yticklabels()]
    assert labels == names


def test_report_figure_stacks_each_kinds_share_to_100(paper):
    bars = _axes(report_figure(paper))["share by kind"].patches
    kinds = paper.by_kind
    assert len(bars) == len(kinds) * len(SHARE_METRICS)
    for i, metric in enumerate(SHARE_METRICS):
        widths = [b.get_width() for b in bars[i::len(SHARE_METRICS)]]
        assert widths == pytest.approx(list(kinds[f"{metric}_%"]))
        assert sum(widths) == pytest.approx(100.0)


def test_compare_figure_has_one_labelled_point_per_model():
    frame = compare(["alexnet_paper", "resnet18", "vit_b_16"])
    fig = compare_figure(frame)
    ax = fig.axes[0]
    points = [tuple(p) for c in ax.collections for p in c.get_offsets()]
    assert sorted(points) == sorted(zip(frame["params"].astype(float), frame["macs"].astype(float)))
    assert sorted(t.get_text() for t in ax.texts) == ["alexnet_paper", "resnet18", "vit_b_16"]
    assert ax.get_xscale() == ax.get_yscale() == "log"


def test_compare_figure_labels_input_and_batch_when_they_vary():
    frame = compare(["resnet18"], input_sizes=[(3, 64, 64)], batches=[1, 2])
    texts = sorted(t.get_text() for t in compare_figure(frame).axes[0].texts)
    assert texts == ["resnet18 · batch 1", "resnet18 · batch 2"]


def test_saved_figures_are_valid_pngs(paper, tmp_path):
    path = save(report_figure(paper), tmp_path / "deep" / "paper.png")
    _assert_png(path, (400, 1000))
    assert sorted(p.name for p in path.parent.iterdir()) == ["paper.png"]   # no temp file left


def test_profile_plot_flag_writes_a_png_the_markdown_links(tmp_path, capsys):
    png, md = tmp_path / "img" / "a.png", tmp_path / "a.md"
    assert main(["profile", "alexnet_paper", "--plot", str(png), "--md", str(md)]) == 0
    _assert_png(png)
    assert "](img/a.png)" in md.read_text()


def test_plotting_needs_no_pyplot_and_matplotlib_loads_only_when_drawing():
    code = ("import sys, profiler, profiler.plots\n"
            "assert 'matplotlib' not in sys.modules\n"
            "profiler.plots.report_figure(profiler.profile('alexnet_paper'))\n"
            "assert 'matplotlib' in sys.modules and 'matplotlib.pyplot' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def _rgb(hex_color: str) -> tuple[float, float, float]:
    from matplotlib.colors import to_rgb
    return to_rgb(hex_color)
