"""profiler.report.memory: the memory section (text, Markdown, JSON, HTML), the
finding, the step that must fit, and the plot, rendered from a Memory with
hand-chosen numbers (a real profiler.count.memory.Memory instance), so that every
figure shown can be checked by hand."""
from __future__ import annotations

import json

import pytest

from profiler.count.memory import Memory
from profiler.report import Report
from profiler.report.memory import (Fit, MemoryPlan, finding, memory_figure, phase_peaks, plot_path,
                                    save_memory_plot, step_peak, step_peaks, to_dict)

GB = 10 ** 9

# a step whose peak (21.3 GB) is in the backward of layers.31.mlp: parameters 4 GB,
# gradients 1.3 GB, saved activations 13.632 GB (64%), other activations 2.368 GB
AT_PEAK = {"parameters": 4 * GB, "buffers": 0, "gradients": 1_300_000_000, "optimizer": 0, "inputs": 0,
           "saved": 13_632_000_000, "activations": 2_368_000_000, "temporaries": 0, "kv_cache": 0}
TOTALS = {"parameters": 4 * GB, "buffers": 0, "gradients": 4 * GB, "optimizer": 8 * GB, "inputs": 0,
          "saved": 14 * GB, "activations": 3 * GB, "temporaries": 1 * GB, "kv_cache": 0}
TIMELINE = (("forward", "layers.0", 6 * GB), ("forward", "layers.31", 20 * GB),
            ("backward", "layers.31.mlp", 21_300_000_000), ("backward", "layers.0", 9 * GB),
            ("optimizer", "optimizer", 16 * GB))


def _memory(**changes) -> Memory:
    fields = dict(peak_bytes=21_300_000_000, peak_phase="backward", peak_at="layers.31.mlp", at_peak=AT_PEAK,
                  totals=TOTALS, timeline=TIMELINE, optimizer="adamw")
    return Memory(**{**fields, **changes})


def _report(memory=None, plan=None) -> Report:
    row = dict(name="fc", type="Linear", kind="linear", depth=1, input_shapes=((1, 4),), output_shape=((1, 2),),
               params=10, mults=8, adds=8, other=0, macs=8, flops=16, act_elems=2, act_bytes=8, in_bytes=16,
               status="formula", ops="")
    report = Report.from_rows("toy", [row], input_desc="4", batch=1, execution="meta")
    report.memory, report.memory_plan = memory, plan
    return report


def test_the_finding_names_the_peak_where_it_is_and_the_largest_shares():
    # 13.632 / 21.3 = 64%, 4 / 21.3 = 19%, 2.368 / 21.3 = 11% (the three largest; gradients 6% left out)
    assert finding(_memory()) == ("peak 21.3 GB at the backward of layers.31.mlp; activations saved 64%, "
                                  "parameters 19%, other activations 11%")


def test_the_step_that_must_fit_holds_the_states_through_the_forward_and_backward():
    memory = _memory()
    assert phase_peaks(memory) == {"forward": 20 * GB, "backward": 21_300_000_000, "optimizer": 16 * GB}
    # second step on: the backward's 21.3 GB plus the 8 GB of states; the optimizer's 16 GB is less
    assert step_peak(memory) == 29_300_000_000
    # an fp32 master copy (4 GB) held throughout; states grown 8 GB (fp32 instead of 16-bit), from
    # the second step on held through the forward and backward too: 21.3 + 8 + 8 + 4
    assert step_peak(memory, held=4 * GB, grown=8 * GB) == 41_300_000_000
    assert step_peaks(memory, held=4 * GB, grown=8 * GB) == {"forward/backward": 41_300_000_000,
                                                             "optimizer": 28 * GB}
    assert step_peak(_memory(optimizer=None)) == 21_300_000_000


def test_fit_sentences():
    fit = Fit(capacity=24 * GB, capacity_label="24 GB", batch=1, peak=21 * GB, largest_batch=3,
              tried=((1, 21 * GB), (2, 22 * GB), (4, 25 * GB), (3, 23 * GB)))
    assert fit.fits and fit.sentence() == "fits on 24 GB at batch ≤ 3"
    assert Fit(24 * GB, "24 GB", 1, 30 * GB, largest_batch=0).sentence() == "does not fit on 24 GB even at batch 1"
    assert not Fit(24 * GB, "24 GB", 2, 30 * GB).fits
    assert Fit(24 * GB, "24 GB", 1, GB, largest_batch=4096, ceiling=4096).sentence().startswith("fits on 24 GB at "
                                                                                                "batch ≥ 4096")
    assert json.loads(json.dumps(fit.to_dict()))["tried"][2] == [4, 25 * GB]


def _plan() -> MemoryPlan:
    fit = Fit(capacity=24 * GB, capacity_label="24 GB", batch=1, peak=21 * GB, largest_batch=3,
              tried=((1, 21 * GB), (2, 22 * GB), (4, 25 * GB), (3, 23 * GB)))
    stages = ({"stage": 0, "name": "data parallel", "devices": 8, "parameters": 4 * GB, "gradients": 4 * GB,
               "optimizer": 8 * GB, "total": 16 * GB, "formula": "4Ψ + 4Ψ + 8Ψ"},
              {"stage": 3, "name": "ZeRO-3", "devices": 8, "parameters": GB // 2, "gradients": GB // 2,
               "optimizer": GB, "total": 2 * GB, "formula": "(4Ψ + 4Ψ + 8Ψ) / N"})
    return MemoryPlan(recipe="AdamW, fp32", step_peak=29_300_000_000, stages=stages, stage=3, devices=8,
                      device_peak=15_300_000_000, fit=fit)


def test_the_text_section_has_the_peak_the_categories_the_stages_and_the_fit():
    text = _report(_memory(), _plan()).to_string()
    section = text[text.index("memory:"):]
    assert "peak 21.3 GB (21,300,000,000 bytes) at the backward of layers.31.mlp" in section
    assert "activations saved for the backward" in section and "13.6 GB" in section and "64.0%" in section
    assert "step peak from the second step on: 29.3 GB" in section
    assert "→ ZeRO-3" in section and "(4Ψ + 4Ψ + 8Ψ) / N" in section
    assert "step peak per device under ZeRO-3 over 8 devices: 15.3 GB" in section
    assert "largest batch that fits: 3 (4 profiles searched: 1: 21 GB, 2: 22 GB, 4: 25 GB, 3: 23 GB)" in section
    assert "assumptions: each storage counted once" in section
    assert text.rstrip().splitlines()[-1].endswith("fits on 24 GB at batch ≤ 3")   # the finding, last


def test_markdown_json_and_html_carry_the_same_figures(tmp_path):
    report = _report(_memory(), _plan())
    md = report.markdown(plot="toy.png")
    assert "## Memory" in md and "![toy: live memory over the step, layer by layer](toy_memory.png)" in md
    assert "| activations saved for the backward |" in md
    from profiler.report.json_report import to_dict as json_dict
    document = json.loads(json.dumps(json_dict(report)))
    assert document["memory"]["peak_bytes"] == 21_300_000_000
    assert document["memory"]["timeline"][2] == ["backward", "layers.31.mlp", 21_300_000_000]
    assert document["memory"]["plan"]["fit"]["largest_batch"] == 3
    assert document["memory"]["plan"]["stages"][1]["formula"] == "(4Ψ + 4Ψ + 8Ψ) / N"
    assert document["memory"]["finding"] == finding(report.memory, report.memory_plan)
    html = report._repr_html_()
    assert "<p class=\"title\">Memory</p>" in html and "21.3 GB" in html and "fits on 24 GB" in html
    assert to_dict(_report()) is None and "memory:" not in _report().to_string()


def test_the_plot_marks_the_peak_and_the_capacity(tmp_path):
    report = _report(_memory(), _plan())
    fig = memory_figure(report)
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["peak 21.3 GB\nthe backward of layers.31.mlp"]
    labels = ax.get_legend_handles_labels()[1]
    assert labels[:3] == ["forward", "backward", "optimizer"] and "capacity 24 GB" in labels
    line = ax.lines[0]
    assert list(line.get_ydata()) == pytest.approx([6, 20, 21.3, 9, 16])
    path = save_memory_plot(report, tmp_path / "m.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_path("a/llama.png") == "a/llama_memory.png"


def test_the_report_module_imports_nothing_from_count():
    """issue 22: the report never imports profiler.count (its Memory is read by its fields)."""
    import ast
    from pathlib import Path

    import profiler.report.memory as module
    tree = ast.parse(Path(module.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    guarded = {n.module for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
               for n in ast.walk(node) if isinstance(n, ast.ImportFrom)}
    assert not any(m.startswith("profiler.count") for m in imported - guarded)
