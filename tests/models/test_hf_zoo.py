"""The transformers zoo (scripts/hf_zoo.py) on a fixed spread of model types, one or more
per modality, each through the sweep's own code path (``hf_zoo.run_type``): layers
shrunk, ``profiler.profile("hf:TYPE", config=shrunk)`` on meta, and FlopCounterMode on
the same meta model with the profiler's own inputs.  A type that runs must count every
op and give FlopCounterMode's MACs (MoE experts by ``torch._grouped_mm`` aside: marked
``grouped_mm``).  A type that does not run yet is ``xfail(strict=True)`` with today's
reason, so the test fails, and is to be moved to ``RUNS``, when it starts to run.

On meta the time does not depend on the widths, only on the layers and the modules
imported: the types keep their default sizes, as in the sweep (the whole sample takes
well under a minute on a quiet 2-core machine, most of it transformers' imports).
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"       # never fetch a config or weights

import pytest
import torch
from torch import nn

import profiler

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "hf_zoo.py"


def _load():
    spec = importlib.util.spec_from_file_location("hf_zoo", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


zoo = _load()

# modality -> types that run today, with our MACs equal to FlopCounterMode's
RUNS = {
    "text decoder": ["llama", "gpt2"],
    "text encoder": ["bert"],
    "sequence to sequence": ["t5"],
    "vision": ["vit"],
    "vision-language": ["clip"],
    "speech": ["whisper"],
    # FlopCounterMode on a real build: their meta forward reads values that only our capture carries
    "raw audio": ["wav2vec2"],
    "detection": ["detr"],
    "video": ["videomae"],
    "time series": ["patchtst"],
    "layout": ["layoutlmv3"],
    # a part alone, fed the hidden states of the model around it (profiler.models.hf.rules.hidden)
    "part alone": ["sam3_detr_decoder", "blt_global_transformer"],
    "segmentation at its encoder's image size": ["sam2"],
    "streaming speech LM": ["voxtral_realtime"],
}
# model type -> the start of today's reason (the first line of the error of the profile, or
# of FlopCounterMode's for a type that runs for us but not for it)
FAILS: dict[str, str] = {
    # ours runs (576 image tokens in input_ids, their values carried by our capture); FlopCounterMode
    # cannot on meta (the forward counts the image tokens with .item()), and the real build takes
    # more than the sweep builds
    "llava": "FlopCounterMode: RuntimeError: Tensor.item() cannot be called on meta tensors",
}
# runs, but FlopCounterMode cannot count the MoE experts (torch._grouped_mm)
GROUPED_MM = ["mixtral"]

CASES = [pytest.param(t, id=t) for types in RUNS.values() for t in types]
CASES += [pytest.param(t, id=t, marks=pytest.mark.xfail(strict=True, reason=why)) for t, why in FAILS.items()]


@pytest.mark.parametrize("model_type", CASES)
def test_type_runs_and_counts_what_flop_counter_mode_counts(model_type):
    row = zoo.run_type(model_type)
    assert row["status"] == "ran", f"{row.get('stage')}: {row.get('reason')}"
    assert row["mode"] == "meta"
    assert row["uncounted"] == "", row["uncounted"]
    assert row["agree"] == "yes", (row.get("macs"), row.get("fcm_macs"), row.get("fcm_error"))
    assert row["params"] > 0 and row["macs"] > 0
    assert "2" in row["shrunk"], row


@pytest.mark.parametrize("model_type", FAILS)
def test_the_reason_of_a_type_that_does_not_run_is_today_s(model_type):
    """Each xfail above fails for the reason it gives, not another one."""
    row = zoo.run_type(model_type)
    reason = f"FlopCounterMode: {row['fcm_error']}" if row["status"] == "ran" else row["reason"]
    assert FAILS[model_type] in reason, reason


@pytest.mark.parametrize("model_type", GROUPED_MM)
def test_moe_experts_by_grouped_mm_are_marked_not_a_mismatch(model_type):
    row = zoo.run_type(model_type)
    assert row["status"] == "ran" and row["uncounted"] == ""
    assert row["agree"] == "grouped_mm"


def test_layer_counts_are_shrunk_where_the_config_names_them():
    plans, notes = zoo.shrink_plan("llama")
    assert plans == [{"num_hidden_layers": 2}, {}] and notes == []
    plans, _ = zoo.shrink_plan("clip")                   # sub-configs, by dotted names
    assert plans[0] == {"text_config.num_hidden_layers": 2, "vision_config.num_hidden_layers": 2}
    plans, _ = zoo.shrink_plan("t5")
    assert plans[0] == {"num_layers": 2, "num_decoder_layers": 2}
    plans, _ = zoo.shrink_plan("swin")                   # per-stage depths; num_layers = len(depths) stays
    assert plans[0] == {"depths": [2, 2, 2, 2]}
    plans, _ = zoo.shrink_plan("gpt_neo")                # a per-layer list cut to the new count, as a fallback
    assert plans[0] == {"num_layers": 2} and plans[1] == {"num_layers": 2, "attention_layers": ["global", "local"]}
    assert plans[-1] == {}


def test_a_per_layer_list_the_config_will_not_derive_is_cut_to_match():
    row = zoo.run_type("gpt_neo")
    assert row["status"] == "ran" and row["agree"] == "yes"
    assert row["shrunk"] == 'num_layers=2, attention_layers=["global", "local"]'
    assert "with the counts alone (num_layers=2) the config or build failed" in row["note"]


def test_report_summary_and_failure_classes(tmp_path):
    rows = {
        "a": {"type": "a", "status": "ran", "agree": "yes", "uncounted": "", "macs": 10, "fcm_macs": 10,
              "params": 5, "ours_s": 0.1, "fcm_s": 0.2, "shrunk": "num_hidden_layers=2"},
        "b": {"type": "b", "status": "ran", "agree": "grouped_mm", "uncounted": "X (foo×1)", "macs": 10,
              "params": 5},
        "c": {"type": "c", "status": "failed", "stage": "profile",
              "reason": "ProfilerError: C: the forward puts image features in place of image tokens in input_ids"},
        "d": {"type": "d", "status": "memory", "stage": "profile", "reason": "killed: the worker's RSS went above"},
        "f": {"type": "f", "status": "ran", "agree": "fcm_misses:mkldnn_rnn_layer", "uncounted": "", "macs": 12,
              "fcm_macs": 10, "params": 5},
    }
    md, csv_path = tmp_path / "z.md", tmp_path / "z.csv"
    zoo.write_report(rows, ["a", "b", "c", "d", "e", "f"], md, csv_path)
    text = md.read_text()
    assert f"with transformers {transformers.__version__} and torch" in text
    assert "| ran (profiled) | 3 | 50.0 % |" in text
    assert "| ran with nothing uncounted | 2 | 33.3 % |" in text
    assert "| our MACs = FlopCounterMode's | 1 | 16.7 % |" in text
    assert "| differ by exactly our count of ops FlopCounterMode has no formula for (`fcm_misses`) | 1 | 16.7 % |" in text
    assert "| differ otherwise | 0 | 0.0 % |" in text
    assert "| inputs: image tokens in input_ids refused (VLMs) | 1 | c |" in text
    assert "| killed: memory | 1 | d |" in text
    assert "| e | not swept |" in text
    lines = csv_path.read_text().splitlines()
    assert lines[0].split(",")[:3] == ["type", "status", "model_class"] and len(lines) == 6


class _Tower(nn.Module):
    """A linear layer, an LSTM (on the CPU, torch runs it as aten.mkldnn_rnn_layer where oneDNN
    is built in) and a matrix-vector product in the root's own forward."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 16)
        self.rnn = nn.LSTM(16, 16, batch_first=True)
        self.w = nn.Parameter(torch.randn(16))

    def forward(self, x):
        h, _ = self.rnn(self.proj(x))
        return torch.mv(h[0], self.w)


def test_a_gap_of_exactly_the_ops_flop_counter_mode_cannot_count_is_labelled():
    """FlopCounterMode has no formula for aten.mv (counted per call by our mv formula) nor for
    aten.mkldnn_rnn_layer (counted by our nn.LSTM formula, in the module where it ran, which
    FlopCounterMode counted nothing in); the gap is exactly those, and 1 more is a mismatch."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model, x = _Tower().eval(), torch.randn(1, 5, 8)
    report = profiler.profile(model, inputs=(x,))
    fcm_macs, misses = zoo.count_with_flop_counter(model, (x,), {})
    gap = int(report.totals["macs"]) - fcm_macs
    lstm = int(report.layers.loc[report.layers["name"] == "rnn", "macs"].sum())
    assert misses[1]["mv"] == 5 * 16                     # 5 rows of 16: one dot product each
    rnn_missed = "mkldnn_rnn_layer" in misses[0].get("_Tower.rnn", set())
    assert gap == 5 * 16 + (lstm if rnn_missed else 0)
    assert zoo.fcm_misses(report, misses, gap) == ("fcm_misses:mkldnn_rnn_layer,mv" if rnn_missed else "fcm_misses:mv")
    assert zoo.fcm_misses(report, misses, gap + 1) is None


@pytest.mark.slow
def test_the_sweep_kills_a_type_past_its_memory_or_time_and_goes_on(tmp_path):
    """A worker past its RSS limit or its time per type writes that type's row and ends;
    a fresh worker takes the rest of the chunk; a rerun skips the types in the cache."""
    cache = tmp_path / "cache.jsonl"

    def sweep(*extra):
        subprocess.run([sys.executable, str(SCRIPT), "--types", "bert,gpt2", "--cache", str(cache), "--chunk", "2",
                        "--no-report", *extra], check=True, capture_output=True, text=True, timeout=600)
        return [json.loads(line) for line in cache.read_text().splitlines()]

    rows = sweep("--max-rss", "0.25")      # the worker holds more than that with torch imported
    assert [r["status"] for r in rows] == ["memory", "memory"]
    assert "RSS went above 0.25 GiB" in rows[0]["reason"] and rows[0]["peak_rss_mb"] > 256
    rows = sweep("--fresh", "--timeout", "0.01")
    assert [r["status"] for r in rows] == ["timeout", "timeout"]
    rows = sweep("--fresh")
    assert [(r["type"], r["status"], r["agree"]) for r in rows] == [("bert", "ran", "yes"), ("gpt2", "ran", "yes")]
    assert sweep() == rows                 # nothing left to run
