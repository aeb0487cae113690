"""profiler.report.roofline_plot: the roofline figure of a measured or predicted report.
Predicted points sit on the roof, min(peak FLOP/s, bandwidth x intensity); the bars are
each kind's share of the FLOPs and of the time; ``profile --measure --plot`` writes it."""
from __future__ import annotations

import numpy as np
import pytest

import profiler
from profiler.cli import main
from profiler.measure.timing import measure
from profiler.report.roofline_plot import roofline_figure


@pytest.fixture(scope="module")
def predicted():
    """alexnet_homework under given roofs: 1 TFLOP/s and 100 GB/s, ridge at 10 FLOPs per byte."""
    return measure(profiler.profile("alexnet_homework"), peak_flops=1e12, peak_bandwidth=1e11, measure=False)


def test_an_unmeasured_report_has_no_roofline():
    with pytest.raises(ValueError, match="needs a measured report"):
        roofline_figure(profiler.profile("alexnet_homework"))


def test_predicted_points_sit_on_the_roof(predicted):
    ax = roofline_figure(predicted).axes[0]
    points = np.concatenate([col.get_offsets() for col in ax.collections])
    layers = predicted.layers
    working = (layers["flops"] > 0) & (predicted.moved_bytes() > 0)
    assert len(points) == int(working.sum())
    intensity, rate = points[:, 0], points[:, 1]
    assert np.allclose(rate, np.minimum(1e12, 1e11 * intensity), rtol=1e-9)
    assert sorted(intensity) == pytest.approx(sorted(layers.loc[working, "flops"]
                                                     / predicted.moved_bytes()[working]))
    roof = [line for line in ax.get_lines() if line.get_label().startswith("roof")]
    assert [line.get_label() for line in roof] == ["roof: 1 TFLOP/s, 100 GB/s"]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"


def test_share_bars_add_up_to_100_each(predicted):
    fig = roofline_figure(predicted)
    bars = fig.axes[1]
    kinds = len(predicted.by_kind)
    widths = [p.get_width() for p in bars.patches]
    assert len(widths) == 2 * kinds
    assert sum(widths[:kinds]) == pytest.approx(100.0)      # the share of FLOPs
    assert sum(widths[kinds:]) == pytest.approx(100.0)      # the share of the roofline bound
    title = fig._suptitle.get_text()
    assert title.startswith("alexnet_homework · input 3x227x227 · batch 1") and "roofline bounds on given" in title


def test_cli_profile_measure_plot(tmp_path, capsys):
    plot, md = tmp_path / "out" / "alexnet_roofline.png", tmp_path / "alexnet_roofline.md"
    assert main(["profile", "alexnet", "--measure", "--plot", str(plot), "--md", str(md)]) == 0
    out = capsys.readouterr().out
    assert "finding in time:" in out and f"wrote {plot}" in out
    assert plot.read_bytes().startswith(b"\x89PNG") and "alexnet_roofline.png" in md.read_text()

