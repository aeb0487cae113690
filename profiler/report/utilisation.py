"""Model and hardware FLOPs utilisation (MFU, HFU) of a step whose time was measured.

A profile counts the FLOPs of one step exactly; a step time measured elsewhere
(a training loop's timer, a trace) and a device's peak FLOP/s turn them into the
fractions of the peak the step used:

    MFU = model FLOPs    / (step time × peak)
    HFU = hardware FLOPs / (step time × peak)

as PaLM (Chowdhery et al. 2022, Appendix B) and Megatron define them:

- model FLOPs: what the step must compute.  A training profile's forward and
  backward (``Report.passes``, row "forward+backward"); an inference profile's
  forward (the report's total).
- hardware FLOPs: what the device computes: the model FLOPs plus the forward that
  activation checkpointing computes again in the backward (the passes row
  "recompute"; none, i.e. 0, where nothing is checkpointed).  HFU >= MFU.

Which FLOPs.  PaLM's Appendix B and nanoGPT's ``estimate_mfu`` count 2 FLOPs per
multiply-accumulate of the matmuls only (6N per token for a training step, plus
the attention matmuls) and leave out norms, softmax, activations and residual
adds.  The report counts every multiplication, addition and other op
(``flops`` = mults + adds + other, so a dot product of K terms is K mults and
K - 1 adds).  The headline MFU and HFU here are from those exact FLOPs; beside
them, ``mfu_2macs`` and ``hfu_2macs`` are from 2 × the report's MACs (the
published convention, comparable with PaLM's and nanoGPT's figures).  The two
differ by the ops that are not multiply-accumulates and by the dot products'
K - 1 additions; the text shows the second pair only where it differs.

The step time is given, or made from a throughput: step time = tokens per step /
tokens per second, with tokens per step = batch × new tokens per sequence, read
from a language model's profile (``Report.language``).

The peak is a number (FLOP/s, taken to be at the profile's dtype), or a
``profiler.report.peaks.Peaks`` (``profiler.measure.roofline.table_peaks("H100",
"bfloat16")``: a data sheet's dense peak; or a microbenchmark's), whose dtype, device and source are
stated beside the result; by default, the peaks of the report's measurement
(``profile(..., device="H100")``).  This module reads them by attribute and
imports nothing from ``profiler.measure`` (a later stage).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from profiler.columns import BWD_COLUMNS, RC_COLUMNS
from profiler.errors import ProfilerError

if TYPE_CHECKING:
    import pandas as pd

    from profiler.report import Report

MODEL_PASS = "forward+backward"   # Report.passes rows (pass_totals)
RECOMPUTE_PASS = "recompute"
PALM = "at 2 FLOPs per MAC (PaLM, nanoGPT)"


def pass_totals(layers: pd.DataFrame) -> pd.DataFrame:
    """Totals of the forward, the backward and both: mults, adds, other, macs, flops.
    "forward+backward" is what Megatron and PaLM call *model FLOPs* (the basis of
    MFU).  Where activation checkpointing reran forward work in the backward (the
    ``rc_*`` columns), two more rows: "recompute", and "forward+backward+recompute",
    the *hardware FLOPs* the device did (the basis of HFU)."""
    import pandas as pd
    fwd = [int(layers[c].sum()) for c in ("mults", "adds", "other", "macs")]
    bwd = [int(layers[c].sum()) for c in BWD_COLUMNS]
    both = [a + b for a, b in zip(fwd, bwd)]
    rows = [("forward", *fwd), ("backward", *bwd), (MODEL_PASS, *both)]
    if "rc_macs" in layers:
        rc = [int(layers[c].sum()) for c in RC_COLUMNS]
        rows += [(RECOMPUTE_PASS, *rc), (f"{MODEL_PASS}+{RECOMPUTE_PASS}", *[a + b for a, b in zip(both, rc)])]
    frame = pd.DataFrame(rows, columns=["pass", "mults", "adds", "other", "macs"])
    frame["flops"] = frame["mults"] + frame["adds"] + frame["other"]
    return frame


@dataclass(frozen=True)
class Utilisation:
    """MFU and HFU of one step (see the module docstring).  FLOPs are per step;
    ``step_time`` in seconds; ``peak_flops`` in FLOP/s at ``peak_dtype``; the
    fractions (``mfu``, ``hfu``, ...) are of 1, not percentages."""

    training: bool                   # model FLOPs: forward+backward (True) or forward (False)
    model_flops: int                 # mults + adds + other of the step, without recompute
    model_macs: int
    recompute_flops: int             # activation checkpointing's recomputed forward (0: none)
    recompute_macs: int
    step_time: float
    tokens_per_step: int | None      # a language model's batch × new tokens; None otherwise
    peak_flops: float
    peak_dtype: str
    peak_device: str                 # "NVIDIA H100 SXM (data sheet)", "given"
    peak_source: str                 # where the figure comes from
    peak_detail: str = ""            # what the figure is ("BF16 tensor cores, dense")

    @property
    def hardware_flops(self) -> int:
        return self.model_flops + self.recompute_flops

    @property
    def hardware_macs(self) -> int:
        return self.model_macs + self.recompute_macs

    @property
    def tokens_per_second(self) -> float | None:
        return None if self.tokens_per_step is None else self.tokens_per_step / self.step_time

    def _of_peak(self, flops: float) -> float:
        return flops / (self.step_time * self.peak_flops)

    @property
    def mfu(self) -> float:
        return self._of_peak(self.model_flops)

    @property
    def hfu(self) -> float:
        return self._of_peak(self.hardware_flops)

    @property
    def mfu_2macs(self) -> float:
        return self._of_peak(2 * self.model_macs)

    @property
    def hfu_2macs(self) -> float:
        return self._of_peak(2 * self.hardware_macs)

    def to_dict(self) -> dict[str, Any]:
        """The fields, then the derived totals and fractions (JSON's "utilisation")."""
        return {**asdict(self), "hardware_flops": self.hardware_flops, "hardware_macs": self.hardware_macs,
                "tokens_per_second": self.tokens_per_second, "mfu": self.mfu, "hfu": self.hfu,
                "mfu_2macs": self.mfu_2macs, "hfu_2macs": self.hfu_2macs}

    def lines(self) -> list[tuple[str, str]]:
        """(label, text) pairs for the text and Markdown reports."""
        step = f"{self.step_time:.6g} s"
        if self.tokens_per_step is not None:
            step += f" ({self.tokens_per_step:,} tokens per step, {self.tokens_per_second:,.0f} tokens/s)"
        peak = f"{_rate(self.peak_flops)} at {self.peak_dtype}" + (f", {self.peak_detail}" if self.peak_detail else "")
        which = "forward+backward" if self.training else "forward"
        out = [("step time", step),
               ("peak", f"{peak}; " + ("given" if self.peak_source == "given"
                                       else f"{self.peak_device}; source: {self.peak_source}")),
               ("model FLOPs", f"{self.model_flops:,} ({which}, mults + adds + other): MFU {self.mfu:.2%}"),
               ("hardware FLOPs", f"{self.hardware_flops:,} (model + {self.recompute_flops:,} recomputed by "
                                  f"activation checkpointing): HFU {self.hfu:.2%}")]
        if (self.model_flops, self.hardware_flops) != (2 * self.model_macs, 2 * self.hardware_macs):
            out.append((PALM, f"model {2 * self.model_macs:,}: MFU {self.mfu_2macs:.2%}; hardware "
                              f"{2 * self.hardware_macs:,}: HFU {self.hfu_2macs:.2%}"))
        if max(self.hfu, self.hfu_2macs) > 1:   # the device cannot have done more than its peak
            out.append(("check", "above 100% of the peak, which no device does: the step time is too short "
                                 "for this step, or the peak is not the one it ran at"))
        return out


def _rate(value: float) -> str:
    for size, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:.4g} {prefix}FLOP/s"
    return f"{value:.4g} FLOP/s"


def _positive(name: str, value: Any, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value < math.inf):
        raise ProfilerError(f"{name}={value!r}: expected a positive number of {unit}")
    return float(value)


def _peak(report: Report, peak: Any) -> tuple[float, str, str, str, str]:
    """(FLOP/s, dtype, device, source, detail) of ``peak``: a number, or a Peaks
    (read by attribute), or the report's measurement's peaks when None."""
    if peak is None and report.measurement is not None:
        peak = report.measurement.peaks
    if peak is None:
        raise ProfilerError("peak= is missing: utilisation needs the device's peak FLOP/s, as a number "
                            "(peak=989.5e12) or a data sheet's (peak=profiler.measure.roofline.table_peaks("
                            f"'H100', {report.dtype!r}))")
    if isinstance(peak, str):
        raise ProfilerError(f"peak={peak!r}: a device name is read by profiler.measure.roofline: give "
                            f"peak=profiler.measure.roofline.table_peaks({peak!r}, {report.dtype!r}), or FLOP/s")
    if hasattr(peak, "flops"):
        flops = _positive("peak", getattr(peak, "flops"), "FLOP/s (its flops)")
        return (flops, str(getattr(peak, "dtype", report.dtype)), str(getattr(peak, "device", "")),
                str(getattr(peak, "source", "")), str(getattr(peak, "detail", "")))
    return _positive("peak", peak, "FLOP/s, or a profiler.measure.roofline.Peaks"), report.dtype, "given", "given", ""


def _tokens_per_step(report: Report) -> int | None:
    """A language model's new tokens per step: batch × tokens (1 per sequence in decode)."""
    language = report.language
    return None if language is None else int(language.batch) * int(language.tokens)


def _pass(passes, name: str, column: str) -> int:
    """``column`` of the passes row ``name``; 0 where there is no such row."""
    rows = passes.loc[passes["pass"] == name, column]
    return int(rows.sum()) if len(rows) else 0


def step_counts(passes) -> tuple[int, int, int, int]:
    """(model FLOPs, model MACs, recompute FLOPs, recompute MACs) of a training
    profile's passes table: the "forward+backward" row, and the "recompute" row
    (0 and 0 without one)."""
    return (_pass(passes, MODEL_PASS, "flops"), _pass(passes, MODEL_PASS, "macs"),
            _pass(passes, RECOMPUTE_PASS, "flops"), _pass(passes, RECOMPUTE_PASS, "macs"))


def utilisation(report: Report, step_time: float | None = None, peak: Any = None,
                tokens_per_second: float | None = None) -> Utilisation:
    """MFU and HFU of ``report``'s step, timed at ``step_time`` seconds (or at
    ``tokens_per_second``, for a language model), on a device of ``peak`` FLOP/s
    (see the module docstring for each argument and the conventions)."""
    if (step_time is None) == (tokens_per_second is None):
        raise ProfilerError("utilisation needs step_time= (seconds per step) or tokens_per_second=, "
                            + ("not both" if step_time is not None else "and got neither"))
    tokens = _tokens_per_step(report)
    if tokens_per_second is not None:
        rate = _positive("tokens_per_second", tokens_per_second, "tokens per second")
        if tokens is None:
            raise ProfilerError(f"tokens_per_second={tokens_per_second!r}: the tokens per step come from a "
                                "language model's profile (batch × tokens), and this is not one: "
                                "give step_time= instead")
        seconds = tokens / rate
    else:
        seconds = _positive("step_time", step_time, "seconds (one step's measured time)")
    flops, dtype, device, source, detail = _peak(report, peak)
    passes = report.passes
    if passes is None:          # an inference profile: the forward is the whole step
        totals = report.totals
        model_flops, model_macs, recompute_flops, recompute_macs = totals["flops"], totals["macs"], 0, 0
    else:
        model_flops, model_macs, recompute_flops, recompute_macs = step_counts(passes)
    return Utilisation(training=passes is not None, model_flops=model_flops, model_macs=model_macs,
                       recompute_flops=recompute_flops, recompute_macs=recompute_macs, step_time=seconds,
                       tokens_per_step=tokens, peak_flops=flops, peak_dtype=dtype, peak_device=device,
                       peak_source=source, peak_detail=detail)
