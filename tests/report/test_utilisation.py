"""profiler.report.utilisation: MFU and HFU of a timed step, from the formula
MFU = FLOPs / (step time × peak), with the FLOPs counted independently (by hand from
the dot products of bias-free Linears, and by FlopCounterMode for 2 FLOPs per MAC);
the recompute pass; throughput in tokens per second; bad arguments; the sections in
text, Markdown and JSON."""
from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import profiler
from profiler.errors import ProfilerError
from profiler.measure.roofline import DATASHEET, table_peaks
from profiler.report.json_report import to_dict
from profiler.report.utilisation import Utilisation, pass_totals, step_counts

BATCH, IN, HIDDEN, OUT = 8, 64, 128, 32
STEP, PEAK = 2.5e-6, 1.0e12          # a made-up step time and peak: the arithmetic is what is tested


def _dots(n: int, k: int) -> tuple[int, int]:
    """n dot products of k terms: k multiplications and k − 1 additions each."""
    return n * k, n * (k - 1)


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(IN, HIDDEN, bias=False), nn.Linear(HIDDEN, OUT, bias=False))


def _forward_by_hand() -> tuple[int, int]:
    """(FLOPs, MACs) of the MLP's forward: each output a dot product over the inputs."""
    parts = [_dots(BATCH * HIDDEN, IN), _dots(BATCH * OUT, HIDDEN)]
    return sum(m + a for m, a in parts), sum(m for m, _ in parts)


def _training_by_hand() -> tuple[int, int]:
    """(FLOPs, MACs) of forward + backward; the input does not require grad, so its
    gradient is not computed: grad W2 = gᵀ·h (OUT·HIDDEN dot products of BATCH terms),
    grad h = g·W2 (BATCH·HIDDEN of OUT), grad W1 = g_hᵀ·x (HIDDEN·IN of BATCH)."""
    flops, macs = _forward_by_hand()
    for m, a in (_dots(OUT * HIDDEN, BATCH), _dots(BATCH * HIDDEN, OUT), _dots(HIDDEN * IN, BATCH)):
        flops, macs = flops + m + a, macs + m
    return flops, macs


def _flop_counter_training(model: nn.Module, x: torch.Tensor) -> int:
    """FlopCounterMode's FLOPs (2 per MAC) of the forward and the backward of out.sum()."""
    with FlopCounterMode(display=False) as counter:
        model(x).sum().backward()
    return counter.get_total_flops()


def test_mfu_and_hfu_of_a_training_step_equal_the_hand_arithmetic():
    model, x = _mlp(), torch.randn(BATCH, IN)
    report = profiler.profile(model, inputs=(x,), training=True)
    u = report.utilisation(step_time=STEP, peak=PEAK)
    flops, macs = _training_by_hand()
    assert isinstance(u, Utilisation) and u.training
    assert (u.model_flops, u.model_macs) == (flops, macs)
    assert u.mfu == pytest.approx(flops / (STEP * PEAK), rel=1e-12)
    # nothing checkpointed: the hardware does what the model needs
    assert u.recompute_flops == 0 and u.hardware_flops == flops and u.hfu == u.mfu
    # 2 FLOPs per MAC: the PaLM / nanoGPT count, FlopCounterMode's on the real step
    counted = _flop_counter_training(_mlp(), x)
    assert counted == 2 * macs
    assert u.mfu_2macs == pytest.approx(counted / (STEP * PEAK), rel=1e-12) == u.hfu_2macs
    assert (u.peak_flops, u.peak_dtype, u.peak_source, u.tokens_per_step) == (PEAK, "float32", "given", None)


def test_an_inference_profile_uses_the_forward():
    model, x = _mlp(), torch.randn(BATCH, IN)
    u = profiler.profile(model, inputs=(x,)).utilisation(step_time=STEP, peak=PEAK)
    flops, macs = _forward_by_hand()
    with FlopCounterMode(display=False) as counter:
        model(x)
    assert not u.training and (u.model_flops, u.hardware_flops) == (flops, flops)
    assert counter.get_total_flops() == 2 * macs
    assert u.mfu == pytest.approx(flops / (STEP * PEAK), rel=1e-12)
    assert u.mfu_2macs == pytest.approx(counter.get_total_flops() / (STEP * PEAK), rel=1e-12)


def test_a_recompute_pass_counts_in_the_hardware_flops_only():
    """Checkpointing the first Linear (reentrant: the region reruns whole) recomputes
    its forward in the backward: a "recompute" pass of that forward's FLOPs, which
    goes into HFU, not MFU."""
    from torch.utils.checkpoint import checkpoint

    class FirstCheckpointed(nn.Module):
        def __init__(self):
            super().__init__()
            self.mlp = _mlp()

        def forward(self, x):
            return self.mlp[1](checkpoint(self.mlp[0], x, use_reentrant=True))
    # the input requires grad: without one, the reentrant kind's region gets no gradient at all
    x = torch.randn(BATCH, IN, requires_grad=True)
    report = profiler.profile(FirstCheckpointed(), inputs=(x,), training=True)
    mults, adds = _dots(BATCH * HIDDEN, IN)
    flops, macs = _training_by_hand()
    grad_x = _dots(BATCH * IN, HIDDEN)      # grad x = g_h·W1: BATCH·IN dot products of HIDDEN terms
    flops, macs = flops + sum(grad_x), macs + grad_x[0]
    assert step_counts(report.passes) == (flops, macs, mults + adds, mults)
    assert step_counts(profiler.profile(_mlp(), inputs=(x,), training=True).passes) == (flops, macs, 0, 0)
    u = report.utilisation(step_time=STEP, peak=PEAK)
    assert u.hfu == pytest.approx((flops + mults + adds) / (STEP * PEAK), rel=1e-12)
    assert u.mfu == pytest.approx(flops / (STEP * PEAK), rel=1e-12) and u.hfu > u.mfu
    assert u.hfu_2macs == pytest.approx(2 * (macs + mults) / (STEP * PEAK), rel=1e-12)


def test_above_the_peak_is_flagged():
    report = profiler.profile(_mlp(), inputs=(torch.randn(BATCH, IN),), training=True)
    flops, _ = _training_by_hand()
    assert "above 100% of the peak" not in report.utilisation(step_time=flops / PEAK * 2, peak=PEAK).lines()[-1][1]
    too_fast = report.utilisation(step_time=flops / PEAK / 2, peak=PEAK)
    assert too_fast.mfu == pytest.approx(2.0) and "above 100% of the peak" in too_fast.lines()[-1][1]


def _tiny_llama(batch: int, tokens: int, training: bool = False):
    return profiler.profile("hf:llama", tokens=tokens, batch=batch, training=training,
                            config=dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128,
                                        num_attention_heads=4, num_key_value_heads=2, vocab_size=128))


def test_tokens_per_second_gives_the_step_time_from_the_tokens_per_step():
    report = _tiny_llama(batch=2, tokens=16)
    by_rate = report.utilisation(tokens_per_second=64_000, peak=PEAK)
    assert by_rate.tokens_per_step == 2 * 16 and by_rate.step_time == pytest.approx(32 / 64_000)
    by_time = report.utilisation(step_time=32 / 64_000, peak=PEAK)
    assert by_rate.mfu == pytest.approx(by_time.mfu) == pytest.approx(by_rate.model_flops / (32 / 64_000 * PEAK))
    assert by_time.tokens_per_second == pytest.approx(64_000)


def test_a_data_sheet_peak_states_its_dtype_and_source():
    report = profiler.profile(_mlp(), inputs=(torch.randn(BATCH, IN),), dtype=torch.bfloat16, training=True)
    u = report.utilisation(step_time=STEP, peak=table_peaks("H100", report.dtype))
    assert u.peak_flops == DATASHEET["H100"]["bf16"] == 989.5e12      # dense: half the "with sparsity" 1,979 TF
    assert u.peak_dtype == "bfloat16" and "data sheet" in u.peak_source and "dense" in u.peak_detail
    assert u.mfu == pytest.approx(_training_by_hand()[0] / (STEP * 989.5e12), rel=1e-12)


def test_the_peak_defaults_to_the_measurements():
    report = profiler.profile(_mlp(), inputs=(torch.randn(BATCH, IN),), device="H100")
    u = report.utilisation(step_time=STEP)
    assert u.peak_flops == report.measurement.peaks.flops and "H100" in u.peak_device


@pytest.mark.parametrize("kwargs, says", [
    (dict(step_time=-1.0, peak=PEAK), "step_time=-1.0: expected a positive number of seconds"),
    (dict(step_time=0, peak=PEAK), "step_time=0"),
    (dict(step_time=float("nan"), peak=PEAK), "step_time=nan"),
    (dict(step_time=True, peak=PEAK), "step_time=True"),
    (dict(step_time="1", peak=PEAK), "step_time='1'"),
    (dict(peak=PEAK), "step_time= (seconds per step) or tokens_per_second=, and got neither"),
    (dict(step_time=1.0, tokens_per_second=5.0, peak=PEAK), "not both"),
    (dict(step_time=1.0), "peak= is missing"),
    (dict(step_time=1.0, peak=-5.0), "peak=-5.0: expected a positive number of FLOP/s"),
    (dict(step_time=1.0, peak="H100"), "table_peaks('H100', 'float32')"),
    (dict(tokens_per_second=100.0, peak=PEAK), "not one: give step_time= instead"),
    (dict(tokens_per_second=-3, peak=PEAK), "tokens_per_second=-3"),
])
def test_bad_arguments_name_the_argument_and_the_fix(kwargs, says):
    report = profiler.profile(_mlp(), inputs=(torch.randn(BATCH, IN),), training=True)
    with pytest.raises(ProfilerError) as err:
        report.utilisation(**kwargs)
    assert says in str(err.value)
    assert report.shown_utilisation() is None          # a refused call shows nothing


def test_the_reports_show_the_last_utilisation():
    report = profiler.profile(_mlp(), inputs=(torch.randn(BATCH, IN),), training=True)
    assert "utilisation" not in to_dict(report) and "utilisation:" not in report.to_string()
    report.utilisation(step_time=1.0, peak=PEAK)
    u = report.utilisation(step_time=STEP, peak=PEAK)
    text, markdown = report.to_string(), report.markdown()
    assert f"MFU {u.mfu:.2%}" in text and "utilisation:" in text and "at 2 FLOPs per MAC" in text
    assert "## Utilisation" in markdown and f"HFU {u.hfu:.2%}" in markdown
    document = json.loads(json.dumps(to_dict(report)))
    assert document["utilisation"]["mfu"] == u.mfu and document["utilisation"]["model_flops"] == u.model_flops
    assert document["utilisation"]["step_time"] == STEP and document["utilisation"]["peak_dtype"] == "float32"


def test_2macs_line_only_where_it_differs():
    """A step whose FLOPs are 2 × its MACs shows one pair of figures."""
    u = Utilisation(False, model_flops=10, model_macs=5, recompute_flops=0, recompute_macs=0, step_time=1.0,
                    tokens_per_step=None, peak_flops=100.0, peak_dtype="float32", peak_device="given",
                    peak_source="given")
    assert [k for k, _ in u.lines()] == ["step time", "peak", "model FLOPs", "hardware FLOPs"]
    assert u.mfu == 10 / 100.0 == u.mfu_2macs


def test_a_language_model_under_math_attention_matches_flop_counter_at_2_flops_per_mac():
    """The tiny LLaMA's training step: 2 × our MACs is FlopCounterMode's count of the
    same step (math SDPA), so MFU at 2 FLOPs per MAC is the published MFU."""
    from transformers import LlamaConfig, LlamaForCausalLM
    config = LlamaConfig(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=128)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    ids = torch.randint(0, 128, (2, 16))
    report = profiler.profile(model, inputs=(ids,), training=True)
    u = report.utilisation(step_time=STEP, peak=PEAK)
    model.train()
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(ids).logits.sum().backward()
    assert u.mfu_2macs == pytest.approx(counter.get_total_flops() / (STEP * PEAK), rel=1e-12)


def test_pass_totals_sums_forward_backward_and_both():
    layers = pd.DataFrame(dict(mults=[1, 10], adds=[2, 20], other=[3, 30], macs=[1, 10],
                               bwd_mults=[4, 40], bwd_adds=[5, 50], bwd_other=[6, 60], bwd_macs=[4, 40]))
    table = pass_totals(layers).set_index("pass")
    assert list(table.index) == ["forward", "backward", "forward+backward"]
    assert table.loc["forward"].tolist() == [11, 22, 33, 11, 66]
    assert table.loc["backward"].tolist() == [44, 55, 66, 44, 165]
    assert table.loc["forward+backward"].tolist() == [55, 77, 99, 55, 231]
