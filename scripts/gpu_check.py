"""The CUDA checks of ``--measure``, in one short run on a GPU (about 2-4 minutes).

    python scripts/gpu_check.py            # from the repository root; exits 1 if a check fails
    python scripts/gpu_check.py --cpu      # the same code paths on CPU, small sizes: a dry run

No GPU here (torch.cuda.is_available() is False): it says so and exits 0, having
checked nothing.  On a GPU it prints, as small tables:

1. the device, its data-sheet peaks (where profiler.report.peaks knows the part)
   and a short on-device microbenchmark's, and the share of the sheet it reached;
2. torchvision models measured on cuda (CUDA events per module): the forward, the
   per-layer sum against it (within 15%), rows faster than their roofline bound
   (none allowed), the hooks' cost, each kind's share of the time with its IQR;
3. per-module CUDA-event times against torch.profiler's CUDA attribution: four
   Linears, each in a record_function range (each layer's share, run by run, within
   5 points: the tolerance of tests/measure/test_timing.py), and resnet50's conv
   layers (their share of the time against the device time of the profiler's
   aten::conv2d ops over the same runs, within 5 points);
4. state untouched: a CPU model measured on cuda (tests/state.py: the whole
   model and process), a model already on cuda (its state_dict bit for bit), and
   the CUDA RNG, TF32 and cuDNN flags.

Nothing here is a speed claim: the figures are for the issue's note.
"""
from __future__ import annotations

import os
import sys
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

FAILED: list[str] = []
DRY = "--cpu" in sys.argv
DEVICE = "cpu" if DRY else "cuda"
CASES = ([("alexnet", (3, 227, 227), 1), ("resnet18", (3, 64, 64), 1)] if DRY else
         [("alexnet", (3, 227, 227), 256), ("resnet50", (3, 224, 224), 64), ("vit_b_16", (3, 224, 224), 32)])
RUNS = 3 if DRY else 10
LINEAR_BATCH = 64 if DRY else 8192
CONV_CASE = ("resnet18", (3, 64, 64), 2) if DRY else ("resnet50", (3, 224, 224), 64)


def table(head: list[str], rows: list[list]) -> None:
    cells = [head] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    for k, r in enumerate(cells):
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if k == 0:
            print("  ".join("-" * w for w in widths))
    print()


def check(name: str, ok: bool, detail: str) -> None:
    print(f"[{'ok' if ok else 'FAIL'}] {name}: {detail}")
    if not ok:
        FAILED.append(name)


def step(fn):
    """Run one check; an exception is a failed check, and the others still run."""
    began = time.perf_counter()
    try:
        fn()
    except Exception:
        traceback.print_exc()
        FAILED.append(fn.__name__)
    print(f"({fn.__name__}: {time.perf_counter() - began:.1f} s)\n")


def peaks():
    from profiler.measure.microbench import describe_device, microbenchmark
    from profiler.measure.roofline import table_peaks
    from profiler.report.peaks import datasheet_of_gpu, fmt_rate
    info = describe_device(DEVICE)
    sheet = datasheet_of_gpu(info["name"]) if not DRY else None
    print(f"device: {info['name']}, {(info['memory_bytes'] or 0) / 2**30:.0f} GiB, cache {info['cache_bytes']}, "
          f"torch {info['torch']}, CUDA {info['cuda']}; data sheet: {sheet}")
    rows = []
    for dtype in ("float32", "bfloat16"):
        bench = microbenchmark(DEVICE, dtype, seconds=0.01 if DRY else 0.1)
        ref = table_peaks(sheet, dtype) if sheet else None
        rows.append([dtype, fmt_rate(bench.flops, "FLOP/s"), fmt_rate(bench.bandwidth, "B/s"),
                     ref and fmt_rate(ref.flops, "FLOP/s"), ref and fmt_rate(ref.bandwidth, "B/s"),
                     ref and f"{100 * bench.flops / ref.flops:.0f}%", ref and f"{100 * bench.bandwidth / ref.bandwidth:.0f}%",
                     bench.detail[:40]])
        if ref is not None:
            check(f"microbenchmark {dtype} at most the data sheet", bench.flops <= 1.05 * ref.flops
                  and bench.bandwidth <= 1.05 * ref.bandwidth, f"{rows[-1][5]} of FLOP/s, {rows[-1][6]} of bandwidth")
    table(["dtype", "bench FLOP/s", "bench B/s", "sheet FLOP/s", "sheet B/s", "flops", "bw", "best kernel"], rows)


def models():
    import profiler
    from profiler.measure.timing import measure
    rows, kinds = [], []
    for name, size, batch in CASES:
        report = profiler.profile(name, input_size=size, batch=batch)
        measure(report, name, device=DEVICE, runs=RUNS)
        m, layers = report.measurement, report.layers
        total = float(layers["time_s"].sum())
        beaten = int((layers["time_median_s"] < layers["bound_s"] - m.timer_resolution_s).sum())
        eff = float((layers["bound_s"] / layers["time_median_s"]).replace([np.inf], np.nan).max())
        rows.append([name, batch, m.runs, f"{m.forward_s * 1e3:.2f}", f"{total * 1e3:.2f}", f"{total / m.forward_s:.3f}",
                     beaten, f"{eff:.2f}", f"{m.hook_s * 1e6:.1f}x{m.calls}", m.peaks.device[:30]])
        check(f"{name}: per-layer sum within 15% of the forward", abs(total - m.forward_s) <= 0.15 * m.forward_s,
              f"{total * 1e3:.2f} ms against {m.forward_s * 1e3:.2f} ms")
        check(f"{name}: no row beats its roofline bound", beaten == 0, f"{beaten} rows")
        for r in report.by_kind.to_dict("records"):
            if r["time_%"] >= 1.0:
                kinds.append([name, r["kind"], f"{r['flops_%']:.1f}%", f"{r['time_%']:.1f}%",
                              f"{r['time_%_q1']:.1f}-{r['time_%_q3']:.1f}%", "noisy" if r["noisy"] else ""])
        for note in m.notes:
            print(f"  {name} note: {note}")
    table(["model", "batch", "runs", "forward_ms", "layers_ms", "ratio", "beaten", "max bound/t", "hooks us",
           "peaks"], rows)
    table(["model", "kind", "flops_%", "time_%", "IQR", ""], kinds)


class Ranged(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(512, 2048), nn.Linear(2048, 1024)
        self.c, self.d = nn.Linear(1024, 1024), nn.Linear(1024, 256)

    def forward(self, x):
        for name in "abcd":
            with torch.profiler.record_function(f"range.{name}"):
                x = getattr(self, name)(x)
        return x


def _device_time(event) -> float:
    if DRY:
        return event.cpu_time_total
    return getattr(event, "device_time_total", None) or getattr(event, "cuda_time_total", 0.0)


def _self_device_time(event) -> float:
    if DRY:
        return event.self_cpu_time_total
    return getattr(event, "self_device_time_total", None) or getattr(event, "self_cuda_time_total", 0.0)


def attribution():
    import profiler
    from profiler.measure.timing import hook_cost, measure
    hook_cost(DEVICE)
    acts = [torch.profiler.ProfilerActivity.CPU] + ([] if DRY else [torch.profiler.ProfilerActivity.CUDA])
    # four Linears, each in a record_function range: the same hooked runs, share by share
    model = Ranged().to(DEVICE)
    x = ((LINEAR_BATCH, 512),)
    report = profiler.profile(model, inputs=x)
    with torch.profiler.profile(activities=acts) as prof:
        measure(report, model, inputs=x, device=DEVICE, runs=RUNS, peak_flops=1e15, peak_bandwidth=1e12)
    spans: dict[str, list] = {}
    for e in sorted(prof.events(), key=lambda e: e.time_range.start):
        if e.name.startswith("range."):
            spans.setdefault(e.name[6:], []).append(_device_time(e))
    theirs = np.array([spans[k][3::2][:RUNS] for k in "abcd"], dtype=float)   # the hooked forwards
    names = list(report.layers["name"])
    ours = np.array([report.measurement.per_run[names.index(k)] for k in "abcd"])
    share = np.median(100 * ours / ours.sum(axis=0), axis=1)
    other = np.median(100 * theirs / theirs.sum(axis=0), axis=1)
    table(["layer", "events ms", "profiler ms", "events %", "profiler %"],
          [[k, f"{np.median(ours[i]) * 1e3:.3f}", f"{np.median(theirs[i]) / 1e3:.3f}", f"{share[i]:.1f}",
            f"{other[i]:.1f}"] for i, k in enumerate("abcd")])
    check("four Linears: shares agree with torch.profiler within 5 points", float(np.abs(share - other).max()) <= 5.0,
          f"largest gap {np.abs(share - other).max():.2f} points")
    # a ResNet: its conv layers' share against the time of the profiler's aten::conv2d
    # ops over all the runs (the kernels take the same time with the hooks or without)
    name, size, batch = CONV_CASE
    report = profiler.profile(name, input_size=size, batch=batch)
    with torch.profiler.profile(activities=acts) as prof:
        measure(report, name, device=DEVICE, runs=RUNS, peak_flops=1e15, peak_bandwidth=1e12)
    events = prof.key_averages()
    total = sum(_self_device_time(e) for e in events)   # on CUDA, every kernel's time
    conv = sum(_device_time(e) for e in events if e.key == "aten::conv2d")
    ours_conv = float(report.by_kind.set_index("kind").loc["conv", "time_%"])
    theirs_conv = 100 * conv / total
    print(f"{name} conv share: per-module {ours_conv:.1f}%, torch.profiler {theirs_conv:.1f}% "
          f"(on CPU the profiler's total holds the hooks and bookkeeping too: a dry run only)")
    if not DRY:
        check(f"{name}: conv share agrees with torch.profiler within 5 points", abs(ours_conv - theirs_conv) <= 5.0,
              f"{abs(ours_conv - theirs_conv):.2f} points")


def state():
    import profiler
    from tests.state import assert_untouched, snapshot
    flags = lambda: (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32,  # noqa: E731
                     torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
    rng = (lambda: torch.get_rng_state()) if DRY else (lambda: torch.cuda.get_rng_state())  # noqa: E731
    model = nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))
    on_gpu = nn.Sequential(nn.Linear(256, 256), nn.GELU(), nn.Linear(256, 64)).to(DEVICE)
    cuda_rng, before_flags = rng(), flags()   # after the models are built: building them draws weights
    before = snapshot(model)
    profiler.profile(model, inputs=((8, 3, 64, 64),), measure=True, device=DEVICE)
    assert_untouched(model, before)
    check(f"a CPU model measured on {DEVICE} is untouched (tests/state.py)", True, "whole model and process")
    saved = {k: v.detach().clone() for k, v in on_gpu.state_dict().items()}
    ids = {k: id(v) for k, v in on_gpu.state_dict(keep_vars=True).items()}
    attrs = dict(vars(on_gpu))
    profiler.profile(on_gpu, inputs=((64, 256),), measure=True, device=DEVICE)
    same = all(torch.equal(saved[k], v) for k, v in on_gpu.state_dict().items())
    same &= ids == {k: id(v) for k, v in on_gpu.state_dict(keep_vars=True).items()} and attrs.keys() == vars(on_gpu).keys()
    check(f"a model on {DEVICE} keeps its weights, bit for bit, and its attributes", same,
          "state_dict and __dict__ keys")
    check("the RNG, TF32 and cuDNN flags untouched", torch.equal(cuda_rng, rng())
          and flags() == before_flags, f"flags {flags()}")


def main() -> int:
    if not DRY and not torch.cuda.is_available():
        print("no CUDA device (torch.cuda.is_available() is False): nothing checked")
        return 0
    began = time.perf_counter()
    for fn in (peaks, models, attribution, state):
        step(fn)
    print(f"{time.perf_counter() - began:.0f} s in all; " + (f"FAILED: {', '.join(FAILED)}" if FAILED else "all passed"))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
