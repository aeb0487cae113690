"""Memory of a training step, before running it: ours and the static predictors that
install, against PyTorch's MemTracker on real CPU tensors; and what the memory
analysis adds to a training profile's time.

The step every tool is asked about: batch 8, ``out = model(x); out.sum().backward();
AdamW.step()``, a first step (no gradients or optimizer states before it), in
float32.  The models: the issue's MLP (512 → 1024 → 10), resnet18 at 224 px, and a
tiny LLaMA (hidden 64, 2 layers, 16 tokens, SDPA attention).

The reference: ``torch.distributed._tools.mem_tracker.MemTracker`` on real CPU
tensors, with the inputs, model and optimizer tracked (``track_external``), on
torch's default SDPA backend (a fused kernel, as ours counts it), its peak over the
whole step.  Both sides hold the model's output until the step is done (``out =
model(x)``, as a loop that keeps its ``outputs`` does): a step that drops it once the
loss is made peaks lower by the output's bytes where the peak falls in the backward
(the tiny LLaMA's logits: 8 × 16 × 128 float32, 65,536 bytes, the whole of an
earlier run's difference).

The tools, each given what it takes:

- ours: ``profiler.profile(model, inputs=..., training=True, optimizer="adamw")`` on
  meta (the model's own meta twins), ``Report.memory.peak_bytes``;
- torch-kitsune (``kitsune.predict.predict_memory``, "predict peak GPU memory ...
  before you run"): ``total_bytes`` (its categories plus its 15 % overhead);
- DeepSpeed's ``estimate_zero2_model_states_mem_needs`` (one GPU, no offload): model
  states only, for its own mixed-precision recipe (18 + 2 bytes per parameter), the
  figure a user of it gets for the same question.

Each runs in a fresh process per model.  The overhead: the median wall-clock time of
``profile(model, training=True)`` against ``profile(model, training=True,
optimizer="adamw")`` (the memory analysis: a backward run on meta op by op, which a
training profile's counts do not need, and the optimizer's step), rounds
alternating, on resnet18 and the tiny LLaMA; the claim is a ratio of at most 1.5.
Measured on 2 shared cores (CPU time then, interleaved, 40 rounds; on the clock since,
resnet18 1.35× and the tiny LLaMA 1.38× in one benchmark run): resnet18 (224 px,
batch 8) 1.37× (12.8 → 17.5 ms; 1.63× before attention was looked for by the
capture's own function mode, the trace's own torch calls passed no mode, the
gradient hooks were set as one shared dict, and more of the backward's meta
kernels got shortcuts; 2.2× before the backward's first meta shortcuts), the tiny
LLaMA 1.3× (1.35× before), hf:llama (7B, 4,096 tokens, bfloat16) 0.9× (0.34 s →
0.30 s: its training profile replays the backward anyway).  What remains of a
small convnet's is mostly its backward on meta (the engine, one Python dispatch per
op, 40 % of them the detaches that saved-tensor hooks add), which the counts do not
need; a faster plain forward (batch_norm's training-mode meta kernel is 6 of
resnet18's 13 ms) raises the ratio by as much as it lowers the plain time.

    python benchmarks/bench_memory.py        # prints the figures as JSON
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

KEY = "memory"
MODELS = ("mlp", "resnet18", "llama-tiny")
TOOLS = ("ours", "kitsune", "deepspeed")
TOOL_NAMES = {"ours": "ours (meta)", "kitsune": "torch-kitsune 0.7", "deepspeed": "DeepSpeed estimate_zero2 (states)"}
MAX_OVERHEAD = 1.5
OURS_TOLERANCE = 0.01        # the issue's: each category within 1 %
BATCH = 8

WORKER = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import torch
from torch import nn
name = sys.argv[1]
sys.path.insert(0, sys.argv[2])
from bench_memory import build, memtracker, tools, overhead
print(json.dumps({"memtracker": memtracker(name), "tools": tools(name),
                  **({"overhead": overhead(name)} if name != "mlp" else {})}))
"""


def build(name: str):
    """(model, args, kwargs, kitsune's input_shape or None) with seeded real weights."""
    import torch
    from torch import nn
    torch.manual_seed(0)
    if name == "mlp":
        return nn.Sequential(nn.Linear(512, 1024), nn.ReLU(), nn.Linear(1024, 10)), \
            (torch.randn(BATCH, 512),), {}, (512,)
    if name == "resnet18":
        import torchvision
        return torchvision.models.resnet18(weights=None), (torch.randn(BATCH, 3, 224, 224),), {}, (3, 224, 224)
    import transformers
    config = transformers.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, vocab_size=128,
                                      attn_implementation="sdpa")
    return transformers.LlamaForCausalLM(config), (torch.randint(0, 128, (BATCH, 16)),), {"use_cache": False}, (16,)


def _loss(out):
    return (out.logits if hasattr(out, "logits") else out).sum()


def memtracker(name: str) -> dict:
    """MemTracker's peak (and its categories) for the AdamW step on real CPU tensors."""
    import torch
    from torch.distributed._tools.mem_tracker import MemTracker
    model, args, kwargs, _ = build(name)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    tracker = MemTracker()
    tracker.track_external(model, optimizer, *args)
    with tracker:
        out = model(*args, **kwargs)   # held to the end, as in ours (and a loop that keeps ``outputs``)
        _loss(out).backward()
        optimizer.step()
    snap = tracker.get_tracker_snapshot("peak")[torch.device("cpu")]
    return {str(getattr(k, "value", k)): int(v) for k, v in snap.items()}


def tools(name: str) -> dict:
    """Each tool's predicted peak in bytes, or its error in one line."""
    import time
    out = {}
    for tool in TOOLS:
        model, args, kwargs, shape = build(name)
        try:
            started = time.perf_counter()
            out[tool] = {"bytes": int(_predict(tool, model, args, kwargs, shape)),
                         "seconds": time.perf_counter() - started}
        except Exception as exc:   # a peer that cannot take the model: its answer is the error
            text = (str(exc).strip().splitlines() or [""])[0][:160]
            out[tool] = {"error": f"{type(exc).__name__}: {text}"}
    return out


def _predict(tool: str, model, args, kwargs, shape) -> int:
    if tool == "ours":
        import profiler
        report = profiler.profile(model, inputs=args, kwargs=kwargs, training=True, optimizer="adamw")
        return report.memory.peak_bytes
    if tool == "kitsune":
        from kitsune.predict import predict_memory
        return predict_memory(model, input_shape=shape, batch_size=BATCH, optimizer="adamw",
                              training=True).total_bytes
    import io
    from contextlib import redirect_stdout
    with redirect_stdout(io.StringIO()):
        from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs
    params = sum(p.numel() for p in model.parameters())
    return estimate_zero2_model_states_mem_needs(params, num_gpus_per_node=1, cpu_offload=False)[1]


def overhead(name: str, rounds: int = 15) -> dict:
    """Median wall-clock seconds of a training profile without and with the memory
    analysis, the ways interleaved round by round (so other processes' load falls on
    both alike).  Not the process's CPU time, which counts the other threads of the
    process beside the caller's (torch's worker threads: the tiny LLaMA's plain
    training profile took 19 ms on the clock and 32 ms of CPU time), and which put the
    tiny LLaMA's overhead at 1.60× where the clock said 1.38×."""
    import statistics
    import time

    import profiler
    model, args, kwargs = build(name)[:3]
    ways = {"plain": {}, "liveness": {"memory": True}, "memory": {"optimizer": "adamw"}}
    times: dict[str, list[float]] = {way: [] for way in ways}
    for options in ways.values():   # warm every path once
        profiler.profile(model, inputs=args, kwargs=kwargs, training=True, **options)
    for _ in range(rounds):
        for way, options in ways.items():
            started = time.perf_counter()
            profiler.profile(model, inputs=args, kwargs=kwargs, training=True, **options)
            times[way].append(time.perf_counter() - started)
    base, live, extra = (statistics.median(times[w]) for w in ways)
    return {"plain_s": base, "liveness_s": live, "memory_s": extra, "ratio": extra / base,
            "liveness_ratio": live / base}


def probe() -> dict:
    """Every model in a fresh process: {model: figures or {"error": ...}}."""
    found = {}
    for name in MODELS:
        done = subprocess.run([sys.executable, "-c", WORKER, name, str(Path(__file__).resolve().parent)],
                              capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            found[name] = {"error": (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]}
        else:
            found[name] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def error(predicted: int, measured: int) -> float:
    return (predicted - measured) / measured


def claims(data: dict | None) -> list[tuple[str, bool | None, str]]:
    """(claim, met, figures): ours within 1 % of MemTracker's peak on each model; the
    memory analysis at most 1.5× a training profile's time."""
    if not data:
        return []
    out = []
    for name, figures in data.items():
        if "error" in figures:
            out.append((f"memory of an AdamW step of {name}: ours within 1 % of MemTracker", False, figures["error"]))
            continue
        measured = figures["memtracker"]["Total"]
        ours = figures["tools"]["ours"]
        ok = "bytes" in ours and abs(error(ours["bytes"], measured)) <= OURS_TOLERANCE
        out.append((f"memory of an AdamW step of {name}: ours within 1 % of MemTracker", ok,
                    f"ours {ours.get('bytes', ours.get('error'))} B, MemTracker {measured} B"))
        if "overhead" in figures:
            ratio = figures["overhead"]["ratio"]
            out.append((f"memory analysis on a training profile of {name}: at most {MAX_OVERHEAD}× its time",
                        ratio <= MAX_OVERHEAD,
                        f"{figures['overhead']['plain_s'] * 1e3:.0f} ms → {figures['overhead']['memory_s'] * 1e3:.0f} "
                        f"ms ({ratio:.2f}×)"))
    return out


def _cell(tool: dict, measured: int) -> str:
    if "error" in tool:
        return f"fails: {tool['error']}"
    return f"{tool['bytes'] / 1e6:,.2f} MB ({error(tool['bytes'], measured):+.1%})"


def section(data: dict | None) -> list[str]:
    if not data:
        return []
    parts = ["## Memory of a training step, before running it", "",
             f"Peak memory of one AdamW training step at batch {BATCH} (float32; forward, backward, step; a first "
             "step), predicted by each tool, against PyTorch's MemTracker on real CPU tensors (torch's default "
             "SDPA backend). The error is (predicted − measured) / measured. DeepSpeed's estimator counts model states "
             "only, for its own mixed-precision recipe.", "",
             "| model | MemTracker | " + " | ".join(TOOL_NAMES[t] for t in TOOLS) + " |",
             "|---|---:|" + "---|" * len(TOOLS)]
    for name, figures in data.items():
        if "error" in figures:
            parts.append(f"| {name} | failed: {figures['error']} |" + " |" * len(TOOLS))
            continue
        measured = figures["memtracker"]["Total"]
        parts.append(f"| {name} | {measured / 1e6:,.2f} MB | "
                     + " | ".join(_cell(figures["tools"][t], measured) for t in TOOLS) + " |")
    timed = {n: f["overhead"] for n, f in data.items() if "overhead" in f}
    if timed:
        parts += ["", "The memory analysis's cost: the median time of a training profile without and with it "
                  "(`optimizer=\"adamw\"`: the live set followed op by op, and the optimizer's step on meta).", "",
                  "| model | training profile | with memory=True (liveness, no optimizer) | with optimizer=\"adamw\" "
                  "(liveness and the step) | ratio |", "|---|---:|---:|---:|---:|"]
        parts += [f"| {n} | {o['plain_s'] * 1e3:.0f} ms | {o['liveness_s'] * 1e3:.0f} ms "
                  f"({o['liveness_ratio']:.2f}×) | {o['memory_s'] * 1e3:.0f} ms | {o['ratio']:.2f}× |"
                  for n, o in timed.items()]
    return parts + [""]


if __name__ == "__main__":
    found = probe()
    print(json.dumps(found))
    print("\n".join(section(found)))
