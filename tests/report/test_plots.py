"""profiler.report.plots: the figures hold the right bars and points, and are written as valid PNGs."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import profiler
from profiler.cli import main
from profiler.compare import compare
from profiler.report.plots import (KIND_COLORS, SHARE_METRICS, _renderer, compare_figure, plotted_layers,
                                   report_figure, save)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _assert_png(path, min_size=(100, 100)):
    import matplotlib.image
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[0] >= min_size[0] and pixels.shape[1] >= min_size[1]


@pytest.fixture(scope="module")
def paper():
    return profiler.profile("alexnet_homework")


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
    frame = compare(["alexnet_homework", "resnet18", "vit_b_16"])
    fig = compare_figure(frame)
    ax = fig.axes[0]
    points = [tuple(p) for c in ax.collections for p in c.get_offsets()]
    assert sorted(points) == sorted(zip(frame["params"].astype(float), frame["macs"].astype(float)))
    assert sorted(t.get_text() for t in ax.texts) == ["alexnet_homework", "resnet18", "vit_b_16"]
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
    assert main(["profile", "alexnet_homework", "--plot", str(png), "--md", str(md)]) == 0
    _assert_png(png)
    assert "](img/a.png)" in md.read_text()


def test_plotting_needs_no_pyplot_and_matplotlib_loads_only_when_drawing():
    code = ("import sys, profiler, profiler.report.plots\n"
            "assert 'matplotlib' not in sys.modules\n"
            "profiler.report.plots.report_figure(profiler.profile('alexnet_homework'))\n"
            "assert 'matplotlib' in sys.modules and 'matplotlib.pyplot' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def _rgb(hex_color: str) -> tuple[float, float, float]:
    from matplotlib.colors import to_rgb
    return to_rgb(hex_color)


# --- labels and legend: no overlap, nothing covered ---------------------------------------

REPORTS = Path(__file__).resolve().parents[2] / "reports"


def _frames():
    """The twelve architectures of reports/compare.csv (swin_t and convnext_tiny nearly
    coincide, resnet50 is next to them), four models with a video one (r3d_18, where a
    legend at the top left used to sit), and the whole zoo, 121 labels."""
    twelve = pd.read_csv(REPORTS / "compare.csv")
    zoo = pd.read_csv(REPORTS / "zoo.csv")
    four = zoo[zoo["model"].isin(["alexnet", "resnet50", "r3d_18", "vit_b_16"])]
    return {"twelve": twelve, "four": four, "zoo": zoo}


def _text_box(annotation, renderer):
    """A label's text box (an Annotation's own extent also holds its line to the point)."""
    from matplotlib.text import Text
    return Text.get_window_extent(annotation, renderer)


@pytest.mark.parametrize("name", ["twelve", "four", "zoo"])
def test_compare_labels_do_not_overlap_and_the_legend_covers_no_point(name):
    frame = _frames()[name]
    fig = compare_figure(frame)
    renderer = _renderer(fig)
    fig.draw_without_rendering()
    ax = fig.axes[0]
    labels = [t for t in ax.texts]
    assert sorted(t.get_text() for t in labels) == sorted(frame["model"])
    boxes = [_text_box(t, renderer) for t in labels]
    for i, a in enumerate(boxes):
        for j in range(i + 1, len(boxes)):
            assert not a.overlaps(boxes[j]), (labels[i].get_text(), labels[j].get_text())
    points = ax.transData.transform(frame[["params", "macs"]].astype(float).to_numpy())
    frame_box = ax.get_window_extent(renderer)
    for box, label in zip(boxes, labels):      # inside the axes, on no marker
        assert frame_box.x0 <= box.x0 and box.x1 <= frame_box.x1, label.get_text()
        assert frame_box.y0 <= box.y0 and box.y1 <= frame_box.y1, label.get_text()
        assert not any(box.contains(x, y) for x, y in points), label.get_text()
    legends = fig.legends + [a.get_legend() for a in fig.axes if a.get_legend() is not None]
    assert legends
    for legend in legends:
        box = legend.get_window_extent(renderer)
        assert not any(box.contains(x, y) for x, y in points)
        assert not box.overlaps(frame_box)      # outside the plot: it covers no point, present or future


def test_a_label_is_at_its_own_point():
    """Each label is next to its point, or joined to it by a line: resnet50's label is
    nearer resnet50 than any other point."""
    frame = _frames()["twelve"]
    fig = compare_figure(frame)
    renderer = _renderer(fig)
    fig.draw_without_rendering()
    ax = fig.axes[0]
    points = dict(zip(frame["model"], ax.transData.transform(frame[["params", "macs"]].astype(float).to_numpy())))
    for text in ax.texts:
        box = _text_box(text, renderer)
        if text.arrow_patch is not None:        # a far label: its line ends at its point
            continue

        def gap(point):
            x, y = point
            return max(box.x0 - x, 0, x - box.x1) ** 2 + max(box.y0 - y, 0, y - box.y1) ** 2
        mine = gap(points[text.get_text()])
        assert mine <= 20 ** 2, text.get_text()
        others = [gap(p) for m, p in points.items() if m != text.get_text()]
        assert all(mine <= other for other in others) or text.get_text() in ("swin_t", "convnext_tiny"), \
            text.get_text()


def test_report_figure_legend_is_outside_every_plot(paper):
    fig = report_figure(paper)
    renderer = _renderer(fig)
    fig.draw_without_rendering()
    [legend] = [a.get_legend() for a in fig.axes if a.get_legend() is not None]
    box = legend.get_window_extent(renderer)
    assert not any(box.overlaps(ax.get_window_extent(renderer)) for ax in fig.axes)


def test_plotted_layers_are_those_with_multiplications_or_parameters(paper):
    rows = plotted_layers(paper.layers)
    assert list(rows["name"]) == [f"features.conv{i}" for i in range(1, 6)] + [f"classifier.fc{i}" for i in range(1, 4)]
    assert list(rows.index) == list(range(8))
