"""reports/benchmark.md from the figures benchmarks/run.py collected."""
from __future__ import annotations

from tabulate import tabulate

import bench_claims
from bench_claims import (FIXED_COST_BASELINE_S, FVCORE_TARGETS, LM_PEERS, MAIN, OURS, REAL, REAL_SUFFIX,
                          Spec, decide, describe)
from bench_tools import LM_TOOLS, REAL_TOOLS, TOOLS

# the cases and the timed claims' thresholds are in bench_claims (MAIN: the cases every peer runs on)
DEPTH = [f"resnet{d}@224" for d in (18, 34, 50, 101, 152)]
PEERS = [t for t in TOOLS if t != "ours"]
MB = 2 ** 20
# the language-model cases (benchmarks/run.py LM_CASES): LLaMA-7B on meta
LM = ["llama-7b@tokens2048", "llama-7b@decode2048", "llama-7b@tokens128+4096"]
FIXED_COST = "fixed-cost"   # benchmarks/run.py FIXED_COST: the probe's key
LM_REFERENCE = "fcm_math"   # every matmul at the aten level, attention included: the exact count
# LLaMA-7B (LlamaConfig() defaults), a prefill of 2,048 tokens, batch 1: 2 × 2048 × the
# 6,607,343,616 weights of the linear layers (lm_head included), plus QKᵀ and A·V
# (2 × 32 layers × 2048² × 4096)
LLAMA_7B_2048_MACS = 14_630_806_093_824
# each CLI command on hf:llama, end to end in a fresh interpreter: the bound of the claim.
# Most of it is importing torch and transformers (measured next to it, in the report)
LM_CLI_MAX_S = 30.0
# fvcore operators that are dot products (multiply-accumulates), as opposed to the
# elementwise work (norms, pooling, upsampling) it also counts
FVCORE_DOT_OPS = {"conv", "linear", "matmul", "bmm", "einsum", "addmm", "mm", "baddbmm",
                  "scaled_dot_product_attention"}

HOW_TO_READ = """\
- **Time** is the median of the timed calls of the profile call alone: the model is
  built (on the meta device, or with real weights for fvcore) and the input made before
  any clock starts, and each tool is called once to warm up first.  Each timed call
  ends with the tool's MAC total in hand (the table below says what is called).  Ours
  is `profile()` plus reading `Report.totals["macs"]`: the call runs the forward and
  computes every layer's counts (the rows); the pandas frames (`layers`, `by_kind`,
  `total`) are built on first access, which no timed call makes.  Tools take turns,
  round by round, inside one fresh process per model, so the machine's noise falls on
  all of them alike; the order is shuffled (seeded) each round, so no tool always runs
  right after the same one (fvcore's real forward at 2270 px leaves the caches cold
  for whichever call comes next).  `runs` is the number of timed calls; fvcore on real weights gets
  fewer when one call takes long (see the settings line).  A case runs a minimum of rounds, and more
  while one of its claims is undecided (see the claims): the tools of its open claims get added rounds.
  The one-layer case (`linear@4`, a 0.1 ms call) gives each tool a block of back-to-back calls per
  turn, their median the round's time (`BLOCK` in bench_claims.py): after seven other tools'
  calls every tool's first call takes twice its warm time, which measures the turn, not the tool.
- **Ratios** are peer time / our time: the median, over the rounds, of the round's ratio
  (a round's two calls run moments apart, on the same state of the machine; a tool with
  only a few slow calls is compared by the ratio of the medians), with a 95 % interval in
  brackets: a bootstrap over the rounds (whole rounds resampled, seeded).
- **Memory** is the peak resident set size (RSS) during one call above the RSS just
  before it (the kernel's high-water mark is reset through `/proc/self/clear_refs` and
  freed heap handed back first): what the call needs on top of the built model.  It is
  taken on one extra call after the timed ones (on the warm-up call for fvcore on the
  vit_h_14 cases, too slow for another), so the heap trimming never touches a timed call.
  RSS sees torch's C++ allocations; but once the heap has grown to fit a tool's Python
  objects, a later call reuses it and adds no RSS.  So a second figure is the peak of
  Python allocations during one more call, traced with tracemalloc: the objects the
  tool builds (for us: the module-call records and the rows; no DataFrame is built).
- **MACs** are multiply-accumulates of conv, linear and matmul.  Each peer's figure is
  what it reports as MACs (fvcore's "flops" are MACs by its convention; FlopCounterMode's
  flops are 2 per MAC, halved here).
"""

WHY = {
    "fvcore": """\
fvcore traces the model with torch.jit on real tensors and counts one "flop" per
multiply-accumulate of conv, linear, matmul and einsum, like us, but it also counts
elementwise work as flops (batch_norm, layer_norm, group_norm, adaptive_avg_pool2d,
upsample), and it skips, with a warning, every traced op it has no handle for.  The
one that matters is `aten::scaled_dot_product_attention`: the two attention matmuls
(QKᵀ and A·V) of every ViT block are missing from its total.  The lines below split its
count into dot-product operators and the rest, and give what its dot products lack
next to FlopCounterMode's `bmm` MACs (on meta the attention runs as two bmm).""",
    "fcm": """\
FlopCounterMode counts 2 flops per MAC of mm, addmm, bmm, baddbmm, convolution and the
fused attention kernels it knows.  On the meta device nn.MultiheadAttention cannot take
its fused fast path and scaled_dot_product_attention runs its math path (two bmm), so
with or without grad its count is exactly ours on every model here.  On real CPU
tensors it is not (see the vit_b_16 table below): under no_grad, MultiheadAttention's
fast path (`_native_multi_head_attention`) hides the in-projection, the attention and
the out-projection; with grad, the CPU flash-attention kernel
(`_scaled_dot_product_flash_attention_for_cpu`) is not counted.""",
    "fcm_grad": """\
The same counter with grad enabled: on the meta device nothing changes.""",
    "ptflops": """\
ptflops' default (pytorch) backend hooks modules: conv and linear MACs plus one MAC per
bias add, BatchNorm/LayerNorm/activations/pooling counted as MACs too, and
nn.MultiheadAttention by its own formula.  By default it also patches torch.nn.functional
and tensor methods (`count_functional=True`), and those patches also fire for the
F.linear / F.conv / scaled_dot_product_attention calls made inside the modules it
already hooked, so that work is counted twice (ViT: once by the Linear and
MultiheadAttention hooks, once by the patched functionals); work done only through
functionals (Swin's attention) is counted once, by the patches.""",
    "ptflops_aten": """\
ptflops' aten backend counts aten mm/bmm/addmm/convolution, adding one MAC per output
element of every biased addmm and convolution.  Its excess over ours is exactly those
bias outputs, which the lines below count independently (a dispatch mode on meta).""",
    "thop": """\
thop counts per leaf module type: conv and linear MACs (no bias), BatchNorm as 2 per
element, pooling per element, and zero for any module type it has no rule for.
nn.MultiheadAttention has none, so a ViT's attention (in-projection, QKᵀ, A·V,
out-projection) is missing; Swin's attention calls F.linear and matmul functionally, so
no hook sees it either.  Its parameter total skips those modules' weights as well.""",
    "torchinfo": """\
torchinfo's "mult-adds" are computed from parameter counts, not from the ops: a conv
counts its parameters (bias included) times the output positions, but every other layer
counts its parameters times the batch size only, so a Linear applied to 197 tokens is
counted once, not 197 times; and only leaf layers are summed, so nn.MultiheadAttention
(not a leaf: it owns out_proj) and all functional matmuls are left out.  On CNNs it is
close to us (biases and BatchNorm parameters add a little); on transformers it is off
by orders of magnitude.""",
}


def _ms(seconds) -> str:
    return "–" if seconds is None else f"{seconds * 1000:,.1f}"


def _g(macs) -> str:
    if macs is None:
        return "–"
    return f"{macs / 1e9:,.3f} G" if abs(macs) >= 1e8 else f"{macs / 1e6:,.2f} M"


def _pct(value, ref) -> str:
    if value is None or not ref:
        return "–"
    diff = 100.0 * (value - ref) / ref
    return "exact" if value == ref else f"{diff:+.2f}%"


def _tools(results: dict, key: str) -> dict:
    return {t: v for t, v in results.get(key, {}).items() if not t.startswith("_")}


def _ok(row: dict | None) -> bool:
    return bool(row) and "median_s" in row


def real_keys(results: dict) -> list[str]:
    """The real-weight cases present: the four of the run first, then any other."""
    return [k for k in REAL if k in results] + sorted(
        k for k in results if k.endswith(REAL_SUFFIX) and k not in REAL)


def fastest_peer(results: dict, key: str) -> tuple[str | None, float | None]:
    rows = _tools(results, key)
    timed = [(row["median_s"], tool) for tool, row in rows.items()
             if tool not in OURS and _ok(row)]
    if not timed:
        return None, None
    seconds, tool = min(timed)
    return tool, seconds


def _decisions(results: dict, key: str, lm: bool = False) -> dict:
    """kind -> Decision of each timed claim of one case (bench_claims.specs)."""
    rows = _tools(results, key)
    found = {}
    for spec in bench_claims.specs(key, rows, lm=lm):
        decision = decide(spec, rows)
        if decision is not None:
            found[spec.kind] = decision
    return found


def _timed_claim(decision, figures: str, info: dict | None = None) -> tuple[str, bool | None, str]:
    """(claim, met, figures) of a decided claim: the figure with its interval first; an
    inconclusive one says so first (met None: reported, no miss of the run)."""
    text = f"{describe(decision)}; {figures}" if figures else describe(decision)
    if info and info.get("capped") and not decision.settled:
        text += f"; the cap of {info.get('cap_s', 0):g} s of added rounds ran out"
    if decision.met is None:
        text = f"inconclusive: {text}"
    return decision.spec.claim, decision.met, text


def claims(data: dict) -> list[tuple[str, bool | None, str]]:
    """(claim, met, figures) for every acceptance item.  A timed claim's met is True or
    False when its 95 % interval decides it (bench_claims.decide), None when inconclusive."""
    results, probes = data["results"], data["probes"]
    out = []
    for key in MAIN:
        d = _decisions(results, key).get("fastest_peer")
        if d:
            ours, peer = _tools(results, key)["ours"], _tools(results, key)[d.argmin]
            out.append(_timed_claim(d, f"ours {_ms(ours['median_s'])} ms, fastest peer {TOOLS[d.argmin][0]} "
                                       f"{_ms(peer['median_s'])} ms", results[key].get("_rounds")))
        d = _decisions(results, key).get("peer_floor")
        if d:
            ours, peer = _tools(results, key)["ours"], _tools(results, key)[d.spec.num[0]]
            out.append(_timed_claim(d, f"ours {_ms(ours['median_s'])} ms, {TOOLS[d.spec.num[0]][0]} "
                                       f"{_ms(peer['median_s'])} ms", results[key].get("_rounds")))
    for key in FVCORE_TARGETS:
        d = _decisions(results, key).get("fvcore")
        if d:
            rows = _tools(results, key)
            out.append(_timed_claim(d, f"fvcore {_ms(rows['fvcore']['median_s'])} ms "
                                       f"({rows['fvcore']['runs']} calls), ours {_ms(rows['ours']['median_s'])} ms",
                                    results[key].get("_rounds")))
    out += _real_claims(results)
    d = _decisions(results, bench_claims.RESOLUTION_KEY).get("alexnet_resolution")
    if d:
        rows = _tools(results, bench_claims.RESOLUTION_KEY)
        out.append(_timed_claim(d, f"{_ms(rows[bench_claims.RESOLUTION_BASE]['median_s'])} → "
                                   f"{_ms(rows['ours']['median_s'])} ms",
                                results[bench_claims.RESOLUTION_KEY].get("_rounds")))
    out += fixed_cost_claims(probes.get(FIXED_COST))
    probe = probes.get("vit_h_14@518 by name", {})
    if "above_torch_mb" in probe:
        out.append(("vit_h_14@518 by name, fresh process: peak < 200 MB above torch imported",
                    probe["above_torch_mb"] < 200, f"{probe['above_torch_mb']:.0f} MB"))
    helped = probes.get("profiler --help", {})
    if "median_s" in helped:
        out.append(("`profiler --help` < 0.5 s", helped["median_s"] < 0.5, f"{helped['median_s']:.2f} s"))
    for label, refused in probes.get("refusals", {}).items():   # a bad argument, refused before torch
        claim = f"`{label}` refused in < 0.5 s"
        if "median_s" in refused:
            out.append((claim, refused["median_s"] < 0.5,
                        f"{refused['median_s']:.2f} s, exit code {refused['returncode']}"))
        else:
            out.append((claim, False, refused.get("error", "not measured")[:120]))
    every = probes.get("profiler compare --all", {})
    if "seconds" in every:
        out.append(("`profiler compare --all` < 20 s, exit code 0",
                    every["seconds"] < 20 and every["returncode"] == 0,
                    f"{every['seconds']:.1f} s, exit code {every['returncode']}, {every['lines']} lines"))
    out += _lm_claims(results, probes)
    return out


def fixed_cost_claims(probe: dict | None) -> list[tuple[str, bool | None, str]]:
    """Ours per call on nn.Linear(4, 4) and alexnet in a quiet process, against half the baseline."""
    if not probe or "_error" in probe:
        return [("fixed cost per call, quiet process", False, probe["_error"])] if probe else []
    out = []
    for spec in bench_claims.fixed_cost_specs(probe):
        d = decide(spec, probe)
        key = spec.num[0]
        out.append(_timed_claim(d, f"{d.point / FIXED_COST_BASELINE_S[key]:.2f} × the baseline",
                                probe.get("_rounds")))
    return out


def _real_claims(results: dict) -> list[tuple[str, bool | None, str]]:
    """The real-weight cases: ours on the user's model against ours on a meta build
    (same process, interleaved), ours against fvcore on the same real model, and
    the same count either way."""
    out, fvcore = [], []
    same, differ = [], []
    for key in real_keys(results):
        rows = _tools(results, key)
        real, meta = rows.get("ours"), rows.get("ours_meta")
        decisions = _decisions(results, key)
        d = decisions.get("real_over_meta")
        if d:
            out.append(_timed_claim(d, f"real {_ms(real['median_s'])} ms ({real.get('mode', '?')} forward), "
                                       f"meta {_ms(meta['median_s'])} ms", results[key].get("_rounds")))
        d = decisions.get("real_fvcore")
        if d:
            fvcore.append(_timed_claim(d, f"fvcore {_ms(rows['fvcore']['median_s'])} ms, "
                                          f"ours {_ms(real['median_s'])} ms", results[key].get("_rounds")))
        if real and meta and "macs" in real and "macs" in meta:
            (same if real["macs"] == meta["macs"] else differ).append(
                f"{key.removesuffix(REAL_SUFFIX)} {_g(real['macs'])}" + (
                    "" if real["macs"] == meta["macs"] else f" vs meta {_g(meta['macs'])}"))
    out += fvcore
    if same or differ:
        out.append(("real-weight cases: ours counts the same MACs on real weights as on a meta build",
                    not differ, "; ".join(differ + same)))
    return out


def _per_tool_table(results: dict, keys: list[str], tools, cell, our_macs: bool = False,
                    labels: dict | None = None) -> str:
    """One row per case: its key, our MACs when ``our_macs``, then
    ``cell(that tool's result or None, the case's results)`` for each tool."""
    rows = []
    for key in keys:
        case = _tools(results, key)
        row = [key] + ([_g(case.get("ours", {}).get("macs"))] if our_macs else [])
        rows.append(row + [cell(case.get(tool), case) for tool in tools])
    head = ["model"] + (["ours"] if our_macs else [])
    labels = labels or TOOLS
    return tabulate(rows, head + [labels[t][0] for t in tools], tablefmt="github", disable_numparse=True)


def _time_cell(r, case) -> str:
    if not r:
        return "–"
    if "error" in r:
        return "fails"
    cold = " cold" if r.get("cold") else ""
    return f"{_ms(r['median_s'])} ({r['runs']}{cold})"


def _time_table(results: dict, keys: list[str]) -> str:
    return _per_tool_table(results, keys, TOOLS, _time_cell)


def _ratio_table(results: dict, keys: list[str]) -> str:
    rows = []
    for key in keys:
        tools = _tools(results, key)
        ours = tools.get("ours")
        if not _ok(ours):
            continue
        row = [key]
        for tool in PEERS:
            row.append(_ratio_cell(tools, tool, "ours"))
        d = _decisions(results, key).get("fastest_peer")
        row.append(f"{TOOLS[d.argmin][0]}: {d.point:.2f} [{d.low:.2f}, {d.high:.2f}]" if d else "–")
        rows.append(row)
    return tabulate(rows, ["model"] + [TOOLS[t][0] for t in PEERS] + ["fastest peer"], tablefmt="github", disable_numparse=True)


def _ratio_cell(tools: dict, num: str, den: str) -> str:
    """median(num) / median(den) with its 95 % interval over the rounds, e.g. ``3.75 [3.61, 3.90]``."""
    if not (_ok(tools.get(num)) and _ok(tools.get(den))):
        return "–"
    d = decide(Spec("", (num,), den, ">=", 0.0), tools)
    return f"{d.point:,.2f} [{d.low:,.2f}, {d.high:,.2f}]"


def _memory_cell(r, case) -> str:
    mem = r.get("median_mem_bytes") if r else None
    traced = r.get("traced_bytes") if r else None
    return ("–" if mem is None else f"{mem / MB:,.1f}") + ("" if traced is None else f" / {traced / MB:,.2f}")


def _memory_table(results: dict, keys: list[str]) -> str:
    return _per_tool_table(results, keys, TOOLS, _memory_cell)


def _macs_cell(r, case) -> str:
    if not r or "macs" not in r:
        return "fails" if r and "error" in r else "–"
    return f"{_g(r['macs'])} ({_pct(r['macs'], case.get('ours', {}).get('macs'))})"


def _macs_table(results: dict, keys: list[str]) -> str:
    return _per_tool_table(results, keys, PEERS, _macs_cell, our_macs=True)


def _fmt_counts(counts: dict, limit: int = 8) -> str:
    items = sorted(((k, v) for k, v in counts.items() if isinstance(v, (int, float)) and v),
                   key=lambda kv: -kv[1])
    shown = ", ".join(f"{k} {_g(v)}" for k, v in items[:limit])
    return shown + (f", … {len(items) - limit} more" if len(items) > limit else "")


def _why_lines(tool: str, results: dict) -> list[str]:
    lines = []
    for key in MAIN:
        tools = _tools(results, key)
        r, ours = tools.get(tool), tools.get("ours", {}).get("macs")
        if not r or "macs" not in r:
            if r and "error" in r:
                lines.append(f"- {key}: {r['error']}")
            continue
        b = r.get("breakdown", {})
        head = f"- {key}: {_g(r['macs'])} ({_pct(r['macs'], ours)})"
        if tool == "fvcore":
            by_op = b.get("by op", {})
            dots = sum(v for k, v in by_op.items() if k in FVCORE_DOT_OPS)
            rest = {k: v for k, v in by_op.items() if k not in FVCORE_DOT_OPS}
            fcm_bmm = tools.get("fcm", {}).get("breakdown", {}).get("by op (MACs = flops/2)", {}).get("aten.bmm")
            text = f"{head}; dot-product ops {_g(dots)}"
            if ours is not None and dots != ours:
                text += f" ({_g(ours - dots)} short of ours"
                text += f"; FlopCounterMode's bmm on meta: {_g(fcm_bmm)})" if fcm_bmm else ")"
            else:
                text += " (= ours)"
            if rest:
                text += f"; elementwise ops counted as flops: {_fmt_counts(rest)}"
            skipped = b.get("unsupported (not counted)", {})
            if skipped:
                text += "; skipped: " + ", ".join(f"{k}×{v}" for k, v in skipped.items())
            lines.append(text)
        elif tool in ("fcm", "fcm_grad"):
            lines.append(f"{head}; by op: {_fmt_counts(next(iter(b.values()), {}))}")
        elif tool == "ptflops":
            mod = b.get("module hooks alone")
            fun = b.get("functional calls (torch.nn.functional / tensor ops)")
            lines.append(f"{head}; module hooks {_g(mod)} ({_pct(mod, ours)}) + functional calls {_g(fun)}")
        elif tool == "ptflops_aten":
            bias = b.get("bias outputs (addmm, convolution)")
            if bias is None or ours is None:
                lines.append(head)
            else:
                match = "exactly the excess" if r["macs"] - ours == bias else "not the whole excess"
                lines.append(f"{head}; excess over ours {r['macs'] - ours:,}; bias outputs {bias:,}: {match}")
        elif tool == "thop":
            lines.append(f"{head}; by leaf module type: {_fmt_counts(b.get('by leaf module type', {}))}")
        elif tool == "torchinfo":
            leaf = b.get("leaf layers (summed)", {})
            lines.append(f"{head}; summed leaf layers: {_fmt_counts(leaf)}")
    return lines


def _fcm_real_table(results: dict) -> str:
    extra = results.get("vit_b_16@224", {}).get("_fcm_real")
    ours = _tools(results, "vit_b_16@224").get("ours", {}).get("macs")
    if not extra:
        return ""
    rows = [[mode, _g(v["macs"]), _pct(v["macs"], ours), _fmt_counts(v["by op"])] for mode, v in extra.items()]
    rows.append(["meta (either)", _g(_tools(results, "vit_b_16@224").get("fcm", {}).get("macs")), "", ""])
    return ("FlopCounterMode on vit_b_16 at 224 with real CPU tensors (untimed; MHA fast path "
            "enabled, as by default):\n\n"
            + tabulate(rows, ["grad mode", "MACs", "vs ours", "by op"], tablefmt="github", disable_numparse=True))


REAL_INTRO = """\
The cases above give every tool a meta-built model (fvcore a real one).  Here every
tool gets what a user holds: a normally built torchvision model,
`get_model(name, weights=None)` seeded with 0 (no weights are downloaded), in eval
mode on the CPU, and a real input (`torch.randn(1, 3, 224, 224)`, seeded), each tool
called the way its users call it on such a model; ours is
`profiler.profile(model, input_size=(3, 224, 224))` on that model.  Ours is also timed
on the same model built on meta, in the same process and the same shuffled rounds
(`ours, meta build`): the real / meta ratio is a claim.  Otherwise the method is the
same (one warm-up, then the timed calls, median; each tool gets its own copy of the
model)."""


def _real_section(results: dict) -> list[str]:
    keys = real_keys(results)
    if not keys:
        return []
    order = [t for t in REAL_TOOLS if any(t in _tools(results, k) for k in keys)]
    peers = [t for t in order if t not in ("ours", "ours_meta")]
    parts = ["## User model with real weights", "", REAL_INTRO, "",
             "| tool | call timed |", "|---|---|",
             *[f"| {REAL_TOOLS[t][0]} | `{REAL_TOOLS[t][1]}` |" for t in order], ""]
    modes = [f"{k.removesuffix(REAL_SUFFIX)}: {_tools(results, k)['ours']['mode']}" for k in keys
             if "mode" in _tools(results, k).get("ours", {})]
    if modes:
        parts += ["Our forward on the real-weight model ran on " + ", ".join(modes) + " tensors.", ""]
    parts += ["### Time: median ms of the profile call (timed calls)", "",
              _per_tool_table(results, keys, order, _time_cell, labels=REAL_TOOLS), ""]
    rows = []
    for key in keys:
        tools = _tools(results, key)
        ours = tools.get("ours")
        if not _ok(ours):
            continue
        row = [key, _ratio_cell(tools, "ours", "ours_meta")]
        row += [_ratio_cell(tools, t, "ours") for t in peers]
        rows.append(row)
    parts += ["### Ratio: ours real / ours meta, and peer time / ours real (above 1: we are faster)", "",
              tabulate(rows, ["model", "ours real / ours meta"] + [REAL_TOOLS[t][0] for t in peers],
                       tablefmt="github", disable_numparse=True), "",
              "### Peak memory above the built model: MB of RSS / MB of Python objects, one call", "",
              _per_tool_table(results, keys, order, _memory_cell, labels=REAL_TOOLS), "",
              "### MACs reported (difference from ours on real weights)", "",
              _per_tool_table(results, keys, [t for t in order if t != "ours"], _macs_cell,
                              our_macs=True, labels=REAL_TOOLS), ""]
    changed = []
    for key in keys:
        base = _tools(results, key.removesuffix(REAL_SUFFIX))
        for tool, r in _tools(results, key).items():
            if tool in base and "macs" in r and "macs" in base[tool] and r["macs"] != base[tool]["macs"]:
                changed.append(f"{REAL_TOOLS[tool][0]} on {key.removesuffix(REAL_SUFFIX)}: "
                               f"{_g(r['macs'])} here, {_g(base[tool]['macs'])} in the meta case")
    compared = [k for k in keys if k.removesuffix(REAL_SUFFIX) in results]
    if changed:
        parts += ["Counts that differ from the same tool's in the meta case above (the reasons are in "
                  "\"Why the counts differ\"): " + "; ".join(changed) + ".", ""]
    elif compared:
        parts += ["Every tool's count here is its count in the meta case above.", ""]
    return parts


# --- language models ----------------------------------------------------------------

IMPORT_PROBE = "import torch + transformers LLaMA"   # the CLI's floor (benchmarks/run.py probe_lm_cli)
IMPORT_CODE = "import torch, transformers; transformers.LlamaConfig; transformers.LlamaForCausalLM"


def lm_keys(results: dict) -> list[str]:
    """The language-model cases present (their results carry "_case"): the run's first."""
    found = [k for k, v in results.items() if isinstance(v, dict) and "_case" in v]
    return [k for k in LM if k in found] + sorted(k for k in found if k not in LM)


def _is_llama_7b_2048(info: dict) -> bool:
    return info.get("config") is None and info.get("mode") == "tokens" and list(info.get("lengths", [])) == [2048]


def _lm_claims(results: dict, probes: dict) -> list[tuple[str, bool | None, str]]:
    """Ours' LLaMA MACs are FlopCounterMode's (math SDPA) and, at 2,048 tokens on
    LLaMA-7B, 14,630,806,093,824; ours on the built model is faster than each peer
    that runs; each hf:llama CLI command exits 0 within LM_CLI_MAX_S."""
    out = []
    for key in lm_keys(results):
        rows, info = _tools(results, key), results[key]["_case"]
        ours, ref, named = rows.get("ours", {}), rows.get(LM_REFERENCE, {}), rows.get("ours_name", {})
        if "macs" in ours and "macs" in ref:
            exact = _is_llama_7b_2048(info)
            claim = f"{key}: ours' MACs = FlopCounterMode's (math SDPA)"
            met = ours["macs"] == ref["macs"]
            figures = f"ours {ours['macs']:,}"
            if "macs" in named or "error" in named:
                claim += ", by name and on the built model"
                met = met and named.get("macs") == ours["macs"]
                figures += f", by name {named['macs']:,}" if "macs" in named else ", by name: fails"
            if exact:
                claim += f", = {LLAMA_7B_2048_MACS:,}"
                met = met and ours["macs"] == LLAMA_7B_2048_MACS
            out.append((claim, met, f"{figures}; FlopCounterMode (math SDPA) {ref['macs']:,}"))
        d = _decisions(results, key, lm=True).get("lm_peers")
        if d:
            peers = [(t, rows[t]) for t in LM_PEERS if _ok(rows.get(t))]
            out.append(_timed_claim(d, f"closest peer {LM_TOOLS[d.argmin][0]}; ours {_ms(ours['median_s'])} "
                                       "ms; " + ", ".join(f"{LM_TOOLS[t][0]} {_ms(r['median_s'])} ms "
                                                          f"({_ratio_cell(rows, t, 'ours')}×)" for t, r in peers),
                                    results[key].get("_rounds")))
    cli = probes.get("lm_cli", {})
    floor = cli.get(IMPORT_PROBE, {}).get("median_s")
    for label, probe in cli.items():
        if label == IMPORT_PROBE:
            continue
        claim = f"`{label}` exits 0, each run < {LM_CLI_MAX_S:g} s"
        if "times" in probe:
            slowest = max(probe["times"])
            out.append((claim, probe.get("returncode") == 0 and slowest < LM_CLI_MAX_S,
                        f"slowest {slowest:.1f} s, median {probe['median_s']:.1f} s over {len(probe['times'])} runs"
                        + (f" (importing torch and transformers' LLaMA alone: {floor:.1f} s)" if floor else "")))
        else:
            out.append((claim, False, f"exit code {probe.get('returncode')}: {probe.get('error', '')}"[:300]))
    return out


LM_INTRO = """\
Every tool gets LLaMA-7B as transformers' `LlamaConfig()` defaults give it (32 layers,
hidden 4096, 32 heads, MLP 11008, vocabulary 32000: 6,738,415,616 parameters), built on
the meta device (`with torch.device("meta"): LlamaForCausalLM(LlamaConfig())`, eval
mode; nothing downloaded) before any clock starts, and meta inputs made by
`profiler.models.hf.example_inputs`, the ones `profile("hf:llama", tokens=N)` makes: a
prefill is `input_ids` 1×N; a decode step is `input_ids` 1×1 after a `DynamicCache`
holding N tokens (made by the model's own meta prefill), with `position_ids` and
`use_cache=True`.  A forward appends to the cache it is given, so each call of each
tool gets a fresh deep copy of the inputs, made outside the clock.  The sweep case
runs each tool at 128 and at 4,096 tokens in one call (ours by name: one
`profiler.compare` call, which also builds the model twice).  Ours is timed twice:
**by name** (`profile("hf:llama", ...)`: resolving the config, the meta build, the
inputs, for a decode step the meta prefill that fills the cache, and the profile, all
inside the clock) and on **the built model** (the same
prebuilt model and inputs every peer gets, the figure the claims use).  The peers run
under `torch.no_grad()`, as FlopCounterMode does (it only makes a call cheaper);
DeepSpeed with `warm_up=0` (its default first runs one unprofiled forward, which would
also append to the cache before the profiled step).  **MACs** are each tool's own MAC
figure: DeepSpeed and calflops return MACs (and FLOPs, 2 per MAC for the matmuls);
FlopCounterMode returns FLOPs, halved here.  The exact count is FlopCounterMode's
under the math attention backend: it sees every aten matmul, the two of attention
included.  Method otherwise as above: one warm-up, then the tools take turns in
shuffled rounds; the time is the median of the timed calls."""

LM_WHY = {
    "calflops": """\
It patches `torch.nn.functional` (linear, conv, activations, norms, softmax,
embedding) and `torch.matmul`/`Tensor.matmul`/`baddbmm`, but not
`F.scaled_dot_product_attention`, which transformers' LLaMA attention calls by default
(`attn_implementation="sdpa"`): the two attention matmuls, QKᵀ and A·V, are missing.
Its keyword-argument path also calls `.to(device)` on every value it is given, which a
`DynamicCache` (and `use_cache=True`) does not have, so its documented
`calculate_flops(model, kwargs=...)` call cannot take a KV cache: the decode case fails
there, before any forward.""",
    "deepspeed": """\
Its profiler patches `torch.nn.functional` including
`scaled_dot_product_attention` (torch 2.0 and later) and `torch.matmul`, so it sees
the projections, the MLP, the LM head and both attention matmuls.""",
    "fcm": """\
It counts aten ops.  On the meta device, `scaled_dot_product_attention`
has no fused kernel to take, so even without `sdpa_kernel(SDPBackend.MATH)` it
decomposes into two bmm that the counter sees; on real CPU or GPU tensors the fused
kernels are taken instead (see the vision FlopCounterMode notes).""",
}


def _lm_table(results: dict, key: str) -> list[str]:
    rows, info = _tools(results, key), results[key]["_case"]
    labels = info.get("labels") or []
    ref = rows.get(LM_REFERENCE, {}).get("macs")
    table, errors = [], []
    for tool in LM_TOOLS:
        r = rows.get(tool)
        if not r:
            continue
        if "macs" not in r:
            table.append([LM_TOOLS[tool][0], *["fails"] * len(labels), "–", "–", "–"])
            errors.append(f"{LM_TOOLS[tool][0]}: {r.get('error', 'no figure')}")
            continue
        by = r.get("breakdown", {}).get("by input", {})
        cells = [f"{by[label]:,}" if label in by else "–" for label in labels]
        ratio = "–" if tool == "ours" else _ratio_cell(rows, tool, "ours")
        table.append([LM_TOOLS[tool][0], *cells, _pct(r["macs"], ref),
                      f"{_ms(r.get('median_s'))} ({r.get('runs', 0)})", ratio])
    head = ["tool", *[f"MACs, {label}" for label in labels], "vs exact", "ms (timed calls)",
            "time / ours (built model)"]
    config = info.get("config")
    what = "LLaMA-7B (LlamaConfig() defaults)" if config is None else \
        "LlamaConfig(" + ", ".join(f"{k}={v!r}" for k, v in config.items()) + ")"
    # as profile() describes them by name (on the built model they are "given inputs")
    inputs = rows.get("ours_name", {}).get("breakdown", {}).get("inputs")
    parts = [f"### {key}", "", f"{what}, {', '.join(labels)}"
             + (f"; inputs: {'; '.join(inputs)}" if inputs else "") + ".", "",
             tabulate(table, head, tablefmt="github", disable_numparse=True), ""]
    if errors:
        parts += ["Failed: " + "; ".join(errors) + ".", ""]
    return parts


def _lm_why_lines(results: dict, keys: list[str]) -> list[str]:
    lines = []
    for key in keys:
        rows = _tools(results, key)
        ref = rows.get(LM_REFERENCE, {})
        attention = rows.get("ours", {}).get("breakdown", {}).get("attention kind", {})
        for tool in ("calflops", "deepspeed", "fcm"):
            r = rows.get(tool)
            if not r:
                continue
            label = LM_TOOLS[tool][0]
            if "macs" not in r:
                lines.append(f"- {key}, {label}: {r.get('error', 'fails')}")
                continue
            if "macs" not in ref:
                continue
            gap = ref["macs"] - r["macs"]
            text = f"- {key}, {label}: {r['macs']:,} ({_pct(r['macs'], ref['macs'])})"
            if gap and attention:
                att = sum(attention.values())
                text += (f"; {gap:,} short, and ours' attention matmuls (QKᵀ and A·V) are {att:,}: "
                         + ("exactly the gap" if gap == att else "not the whole gap"))
            elif not gap:
                text += ": the exact count"
            flops = r.get("breakdown", {}).get("flops reported")
            if flops:
                total = sum(flops.values())
                text += f"; its FLOPs {total:,} ({total / r['macs']:.4f} per MAC)"
            lines.append(text)
    return lines


def _lm_cli_lines(probes: dict) -> list[str]:
    cli = probes.get("lm_cli", {})
    if not cli:
        return []
    rows = []
    for label, p in cli.items():
        name = f"`{label}`" if label != IMPORT_PROBE else f"`python -c '{IMPORT_CODE}'`"
        if "times" in p:
            rows.append([name, f"{p['median_s']:.2f}", f"{max(p['times']):.2f}", len(p["times"]),
                         p.get("returncode"), p.get("lines", "–")])
        else:
            rows.append([name, "–", "–", "–", p.get("returncode"), p.get("error", "")[:120]])
    floor = cli.get(IMPORT_PROBE, {}).get("median_s")
    parts = ["### The CLI on hf:llama, end to end", "",
             "Wall time of each command in a fresh interpreter (subprocess, output captured), "
             f"the way `profiler --help` is timed; the claim is that every run exits 0 in under "
             f"{LM_CLI_MAX_S:g} s.  The last row is the floor: a fresh interpreter that only imports torch "
             "and transformers' LLaMA classes, which every command does before it builds the model.", "",
             tabulate(rows, ["command", "median s", "slowest s", "runs", "exit code", "lines of output"],
                      tablefmt="github", disable_numparse=True), ""]
    if floor:
        spent = [f"{label.split(' hf:llama ')[-1]} {p['median_s'] - floor:.1f} s" for label, p in cli.items()
                 if label != IMPORT_PROBE and "median_s" in p]
        if spent:
            parts += ["Beyond the imports (median minus the floor's median; the floor imports a subset of "
                      "what each command imports, so a negative figure is the machine's noise): "
                      + ", ".join(spent) + ".", ""]
    return parts


def _lm_section(results: dict, probes: dict, settings: dict) -> list[str]:
    keys = lm_keys(results)
    if not keys and not probes.get("lm_cli"):
        return []
    parts = ["## Language models: LLaMA-7B on meta", "", LM_INTRO, "",
             f"Timed calls per tool: {settings.get('lm_repeats', '?')} after one warm-up (fewer for a tool "
             f"whose warm-up took longer than {settings.get('budget_s', 15):.0f} s / that number).", "",
             "| tool | call timed |", "|---|---|",
             *[f"| {label} | `{how}` |" for label, how in LM_TOOLS.values()], ""]
    for key in keys:
        parts += _lm_table(results, key)
    if keys:
        parts += ["### Why the counts differ", ""]
        for tool in ("calflops", "deepspeed", "fcm"):
            parts += [f"**{LM_TOOLS[tool][0]}.** {LM_WHY[tool]}", ""]
        parts += _lm_why_lines(results, keys) + [""]
    parts += _lm_cli_lines(probes)
    return parts


def _depth_table(results: dict) -> str:
    rows = []
    for key in DEPTH:
        r = _tools(results, key).get("ours")
        if _ok(r):
            rows.append([key, r.get("rows"), _ms(r["median_s"]),
                         f"{r['median_s'] * 1e6 / max(r.get('rows') or 1, 1):,.0f}"])
    return tabulate(rows, ["model", "report rows", "our time (ms)", "µs per row"], tablefmt="github", disable_numparse=True)


def _probe_lines(probes: dict) -> list[str]:
    lines = []
    for label in ("vit_h_14@518 by name", "vit_h_14@518 meta module"):
        p = probes.get(label, {})
        if "above_torch_mb" in p:
            lines.append(f"- {label}: peak RSS **{p['above_torch_mb']:.0f} MB** above the interpreter with "
                         f"torch imported ({p['torch_rss'] / MB:.0f} MB).  Of that, importing torchvision takes "
                         f"{p['torchvision_mb']:.0f} MB (torchvision.ops imports torch._dynamo, which brings "
                         f"sympy, triton and torch.distributed), then profiler "
                         f"{p['imports_mb'] - p['torchvision_mb']:.0f} MB more; the profile call itself peaks "
                         f"{p['call_mb']:.0f} MB above the imports.  {_g(p['macs'])} MACs, input {p['input']}, "
                         f"{p['mode']} tensors; pandas {'imported' if p.get('pandas') else 'never imported'} "
                         "(the total read from `Report.totals`).")
        elif p:
            lines.append(f"- {label}: {p.get('error')}")
    for label, how in (("profiler --help", "target < 0.5 s"),
                       ("profiler list", "torchvision's names read from its source, torch not imported")):
        h = probes.get(label, {})
        if "median_s" in h:
            lines.append(f"- `{label}`: median wall time **{h['median_s']:.2f} s** over "
                         f"{len(h['times'])} runs (a fresh interpreter each time; {how}).")
        elif h:
            lines.append(f"- `{label}`: {h.get('error')}")
    for label, refused in probes.get("refusals", {}).items():
        if "median_s" in refused:
            lines.append(f"- `{label}`: refused (exit code {refused['returncode']}, one line on stderr) in a "
                         f"median wall time of **{refused['median_s']:.2f} s** over {len(refused['times'])} runs "
                         "(a fresh interpreter each time; every check that needs no model runs before torch "
                         "is imported; target < 0.5 s).")
        else:
            lines.append(f"- `{label}`: {refused.get('error')}")
    c = probes.get("profiler compare --all", {})
    if c.get("absent"):
        lines.append("- `profiler compare --all`: not measured, the `compare` command does not exist yet.")
    elif "seconds" in c:
        lines.append(f"- `profiler compare --all`: {c['seconds']:.1f} s wall time, one run (exit code "
                     f"{c['returncode']}, {c.get('lines', '?')} lines of output).")
    elif c:
        lines.append(f"- `profiler compare --all`: {c.get('error')}")
    return lines


SPEEDUPS = """\
What made our profile call fast (measured while building this benchmark on the same
machine: the first three items by the min of 15 interleaved calls, the rest by medians
of 30 to 100 calls):

- **Meta-op replay** (`profiler/metacache.py`, used by the dispatch mode in
  `profiler/capture.py`).  On meta tensors most of a forward's time is spent in meta
  kernels written in Python (batch_norm ≈ 1.1 ms a call, layer_norm ≈ 1.5 ms, addmm
  ≈ 0.6 ms, gelu, softmax, broadcasting arithmetic ≈ 0.2 ms).  A meta result depends only
  on the inputs' metadata, so within one forward an op called again with the same
  shapes, strides, dtypes and arguments gets a fresh empty tensor of the recorded
  metadata.  Nothing is kept between profiles.  vit_h_14: 0.52 → 0.08 s for the bare
  forward; vit_b_16 0.20 → 0.035 s; resnet50 0.11 → 0.04 s.
- **Shortcuts for slow meta kernels on first use**: addmm takes the metadata of
  mm (a C++ kernel, 20× faster); eval-mode batch_norm and layer_norm on contiguous
  inputs produce an output like the input plus per-channel statistics.  Each checks
  what it relies on and otherwise lets the real kernel run (and raise).  resnet50
  ops 27 → 14 ms; alexnet ops 5.2 → 3.0 ms.
- **Shortcut for convolution on first use**: the meta kernel (Python, ≈ 50 µs) makes
  a contiguous tensor of the input's dtype and the usual output size, which the
  shortcut makes directly after checking ranks, channels, groups and the int lists;
  transposed convolutions run the kernel.  resnet50 ops 9.4 → 7.9 ms.
- **Shortcut outputs through empty_strided**: `empty_like` and `new_empty` on meta
  take 8–40 µs (Python), `empty_strided` 2 µs; the batch_norm shortcut went from
  190 µs to ≈ 40 µs a call.
- **In-place ops replayed** (add_, relu_): an in-place op that writes only its first
  argument and keeps its metadata returns that argument once the same call has passed
  the kernel's checks (add_'s broadcasting check is Python, ≈ 50 µs); views, `t_`,
  `resize_`, out= and random ops still run their kernels.  With a cheaper replay key
  (lists of plain scalars keyed in one step): resnet50 ops 11.1 → 9.5 ms.
- **No torch._dynamo wrapper around the dispatch mode**: TorchDispatchMode wraps a
  subclass's `__torch_dispatch__` in `torch._dynamo.disable` unless
  `_should_skip_dynamo()` says no; the mode never runs under torch.compile.
- **Lazy report frames** (`profiler/report.py`): `profile()` computes every row's
  counts and stops there; the DataFrames are built on first access of `layers`,
  `by_kind`, `total`, and `Report.totals` gives the sums as ints without pandas
  (pandas is then never imported: 29 MB less in a fresh process).  The shape text of
  the rows is written when the frame is built.  alexnet 4.8 → 4.0 ms; what is timed
  now ends at `totals["macs"]`, like a peer's call ends at its total.
- **Cheaper hooks**: `ModuleCall` is a slotted class with dicts (three Counters per
  call cost more than the rest of the hook), module formulas are looked up once per
  class, the hook reads each input's shape and size in one pass; an op's arguments
  are mapped to shapes without pytree.  Pre-hook 8.0 → 3.7 µs, post-hook 2.4 → 2.0 µs;
  the 17 ops charged to containers in resnet50 (residual adds, flatten, the fc addmm)
  ≈ 73 → 49 µs each, their kernels included.
- **`_profiling_state` sets only the training flags that must change** (each
  `module.training = ...` goes through nn.Module.__setattr__): 0.9 → 0.16 ms on
  resnet50.  It is entered once: the rows are built while the forward's state is
  still held, instead of restoring the caller's modes and setting them again (a
  model built by name is in train mode): alexnet 1.6 → 1.5 ms.
- **Module lists shared**: the capture's `named_modules()` list serves the hooks,
  `_profiling_state` and the rows; `_on_meta` reads each module's slots (0.48 ms on
  resnet50 through `parameters()` and `buffers()`); `build_rows` reads leaves and
  leaf parameters from the slots.  resnet50 rows 1.8 → 1.3 ms.
- **Report frame built column by column** (`report._frame`): pandas' list-of-dicts
  constructor plus an `astype` took 3.2 ms per report, 0.9 ms column by column.
- **Hook argument flattening** (`capture._tensor_leaves`): the usual hook arguments
  (a tensor, or positional tensors with no keyword arguments) skip pytree.

All together, on this machine (median of 30 interleaved calls each, the same process):
resnet50 27 → 16 ms, alexnet 4.8 → 2.2 ms, vit_b_16 34.5 → 25 ms, efficientnet_b0
56 → 35 ms.

Tried and left out: disabling the garbage collector during a profile (no measurable
gain, also measured by median); module-global hooks instead of one pair per module
(registration is ~1 ms on resnet50, but global hooks run before the module's own
hooks, so a user hook that rewrites inputs or outputs would be seen differently);
keeping replayed results between profiles (every profile would then time a warm
cache that no peer has); string columns with an explicit dtype (0.27 ms, but the
dtype pandas infers differs between pandas 2 and 3).

Where the time still goes (resnet50, ≈ 16 ms on a quiet machine): the meta forward
with the replay ≈ 8 ms, of which ≈ 4 ms is the floor of any per-op scheme (a forward
whose 229 ops return precomputed tensors by position: torch's Python-mode dispatch
and the model's own Python); the nn.Module hook path for 161 module calls ≈ 1.4 ms;
registering and removing 322 hooks ≈ 1 ms; our hooks ≈ 1 ms; rows ≈ 1.3 ms.
fvcore's time is mostly a real forward on both cores, so it shrinks more than ours
when the machine is quiet.

Each change was checked to leave every report identical (layers frame, dtypes, notes)
on 30 torchvision models, forward and training profiles, with and without the replay;
the later ones against the previous commit's reports on 36 models (every frame, its
dtypes, the notes, totals, text and Markdown), forward and training profiles.
`tests/capture/test_metacache.py` checks the replay op by op against the real meta kernels
and the shortcuts over dtypes, shapes and strides.
"""


def _main_tables(results: dict, keys: list[str]) -> list[str]:
    return ["## Time: median ms of the profile call (timed calls)", "", _time_table(results, keys), "",
            "## Ratio: peer time / our time (above 1: we are faster)", "", _ratio_table(results, keys), "",
            "## Peak memory above the built model: MB of RSS / MB of Python objects (tracemalloc), one call", "",
            _memory_table(results, keys), "",
            "Meta-device tools allocate no tensor storage, so their RSS barely moves in a steady "
            "state; fvcore's includes the real activations and its traced graph.  The vit_h_14 at 518 "
            "fresh-process figure below is the first-call cost, imports included.", "",
            "## MACs reported (difference from ours)", "", _macs_table(results, keys), "",
            "torchvision publishes 17.564 G for ViT-B/16 at 224 (its `_ops` metadata, in GFLOPS "
            "meaning MACs); ours is 17,563,828,224.", ""]


def render(data: dict) -> str:
    results, probes, machine, settings = data["results"], data["probes"], data["machine"], data["settings"]
    keys = [k for k in MAIN if k in results]
    failed = {k: v["_error"] for k, v in results.items() if "_error" in v}
    parts = ["# Benchmark: profiler against fvcore, FlopCounterMode, ptflops, thop, torchinfo, DeepSpeed "
             "and calflops", "",
             "Generated by `python benchmarks/run.py` with "
             + ", ".join(f"{k} {v}" for k, v in machine.get("versions", {}).items())
             + "; do not edit by hand.", "",
             "## Machine", "",
             f"The whole run took {machine.get('total_s', 0):.0f} s. "
             f"{machine.get('cores')} cores ({machine.get('cpu') or 'unknown CPU'}), CPU only, torch using "
             f"{machine.get('threads')} threads; Python {machine.get('python')}; "
             + ", ".join(f"{k} {v}" for k, v in machine.get("versions", {}).items()) + ".",
             "",
             "The machine is shared and noisy: other jobs ran beside this one (load average "
             f"{_load(machine.get('load'))} at the start, {_load(machine.get('load_after'))} at the end).  "
             "Absolute times move by 2× between runs; **the claims are the ratios**, which are "
             "measured with the tools interleaved in the same process.", "",
             "## How it is measured", "", HOW_TO_READ]
    vision = bool(keys) or bool(real_keys(results)) or any(k in results for k in DEPTH) \
        or not lm_keys(results)
    if vision:  # the vision cases' settings and tools (the language-model section has its own)
        parts += [f"Settings: at least {settings['repeats']} rounds of timed calls after one warm-up, more while a "
                  "claim of the case is open (see the claims); a tool whose warm-up "
                  f"took longer than {settings['budget_s']:.0f} s gets ⌊{settings['budget_s']:.0f} s / warm-up⌋ "
                  "timed calls, at least one; fvcore on vit_h_14 at 518 is called once, cold (one call "
                  "takes over a minute on real weights), and that call is its figure"
                  + ("; `--quick` skipped it." if settings.get("quick") else "."), "",
                  "Each tool runs where it can: ours, FlopCounterMode, ptflops, thop and torchinfo on the "
                  "meta device (a meta-built model and a meta input); fvcore needs real tensors (it traces "
                  "with torch.jit), so it gets a real CPU model and a random input.  The section \"User model "
                  "with real weights\" gives every tool, ours included, the real CPU model instead.", "",
                  "| tool | device | call timed |", "|---|---|---|",
                  *[f"| {label} | {device} | `{how}` |" for label, device, how in TOOLS.values()], ""]
    if failed:
        parts += ["Failed cases: " + "; ".join(f"{k}: {v}" for k, v in failed.items()), ""]
    found = claims(data)
    parts += ["## Claims", "", bench_claims.method_line(settings.get("cap_s", bench_claims.CAP_S),
                                                       settings.get("repeats", bench_claims.MIN_ROUNDS),
                                                       settings.get("lm_repeats") if lm_keys(results) else None), "",
              "A timed claim's figure is its point figure (on all the rounds) with its 95 % interval in "
              "brackets.  " + verdict_counts(found) + ".", "",
              "| claim | met | figures |", "|---|---|---|"]
    parts += [f"| {c} | {met_word(ok, fig)} | {fig} |" for c, ok, fig in found]
    parts += ["", "### Thresholds", "",
              "Every threshold of a timed claim is set in `benchmarks/bench_claims.py` (`FASTEST_PEER`, "
              "`THRESHOLDS`, `FIXED_COST_BASELINE_S`):", "", *bench_claims.threshold_lines(), ""]
    parts += _fixed_cost_section(probes.get(FIXED_COST))
    if keys:  # none when only real-weight cases ran (--only KEY:real)
        parts += _main_tables(results, keys)
    parts += _real_section(results)
    parts += _lm_section(results, probes, settings)
    if vision:
        parts += _vision_tail(results, probes)
    parts += ["## Rerun", "",
              "```",
              "pip install -e '.[bench]'          # ptflops, thop, torchinfo, deepspeed, calflops",
              "python benchmarks/run.py           # a few minutes; writes reports/benchmark.md",
              "python benchmarks/run.py --quick   # without fvcore on vit_h_14 at 518 (its one call takes a minute)",
              "python benchmarks/run.py --only resnet50@224,alexnet@227 --report /tmp/b.md",
              "python benchmarks/run.py --only resnet50@224:real --report /tmp/r.md   # one real-weight case",
              "python benchmarks/run.py --only llama-7b@tokens2048 --report /tmp/l.md   # one language-model case",
              "```", "",
              "The run exits with status 1 when a claim is not met.", ""]
    return "\n".join(parts)


def _vision_tail(results: dict, probes: dict) -> list[str]:
    """The vision sections after the tables: why the counts differ, our time
    against input size and depth, the fresh-process figures, the speedups."""
    parts = ["## Why the counts differ", ""]
    for tool in PEERS:
        parts += [f"### {TOOLS[tool][0]}", "", WHY.get(tool, ""), ""]
        parts += _why_lines(tool, results) + [""]
        if tool == "fcm_grad":
            table = _fcm_real_table(results)
            if table:
                parts += [table, ""]
    parts += ["## Our time against input size and depth", ""]
    rows = _tools(results, bench_claims.RESOLUTION_KEY)
    low, high = rows.get(bench_claims.RESOLUTION_BASE), rows.get("ours")
    if _ok(low) and _ok(high):
        parts += [f"Resolution: alexnet at 227 takes {_ms(low['median_s'])} ms, at 2270 (100× the pixels, "
                  f"100× the MACs) {_ms(high['median_s'])} ms, both timed in the same process and rounds: "
                  f"ratio {_ratio_cell(rows, 'ours', bench_claims.RESOLUTION_BASE)} (target ≤ "
                  f"{bench_claims.THRESHOLDS['alexnet_resolution']:g}).  Shapes-only tensors make the cost "
                  "independent of the resolution.", ""]
    if any(k in results for k in DEPTH):
        parts += ["Depth (ours only, same method): the cost grows with the number of layers, "
                  "not with their size.", "", _depth_table(results), ""]
    parts += ["## Fresh-process figures", "", *_probe_lines(probes), "",
              "## Speedups", "", SPEEDUPS]
    return parts


def _load(load) -> str:
    return "unknown" if not load else " / ".join(f"{x:.1f}" for x in load)


def summary_lines(data: dict) -> list[str]:
    results = data["results"]
    lines = ["", "peer time / our time (median over the rounds [95 % interval]):"]
    for key in MAIN:
        tools = _tools(results, key)
        ours = tools.get("ours")
        if not _ok(ours):
            continue
        ratios = ", ".join(f"{t} {_ratio_cell(tools, t, 'ours')}" for t in PEERS if _ok(tools.get(t)))
        lines.append(f"  {key:20s} ours {_ms(ours['median_s']):>8s} ms | {ratios}")
    for key in real_keys(results):
        tools = _tools(results, key)
        ours, meta = tools.get("ours"), tools.get("ours_meta")
        if not _ok(ours):
            continue
        ratios = ", ".join(f"{t} {_ratio_cell(tools, t, 'ours')}" for t in PEERS if _ok(tools.get(t)))
        lines.append(f"  {key:20s} ours {_ms(ours['median_s']):>8s} ms (meta build "
                     f"{_ms(meta['median_s']) if _ok(meta) else '–'} ms) | {ratios}")
    for key in lm_keys(results):
        tools = _tools(results, key)
        ours = tools.get("ours")
        if not _ok(ours):
            continue
        ratios = ", ".join(f"{t} {_ratio_cell(tools, t, 'ours')}" for t in ("ours_name", *LM_PEERS)
                           if _ok(tools.get(t)))
        lines.append(f"  {key:20s} ours {_ms(ours['median_s']):>8s} ms | {ratios}")
    found = claims(data)
    lines.append(f"claims ({verdict_counts(found)}):")
    for claim, ok, fig in found:
        lines.append(f"  [{met_word(ok, fig, 'met', 'NOT met')}] {claim}: {fig}")
    return lines


def met_word(ok: bool | None, figures: str = "", yes: str = "yes", no: str = "no") -> str:
    """yes / no, or for met None: inconclusive (a timed claim its interval did not
    decide) or n/a (a claim not evaluated)."""
    if ok is None:
        return "inconclusive" if figures.startswith("inconclusive") else "n/a"
    return yes if ok else no


def verdict_counts(found) -> str:
    words = [met_word(ok, fig, "met", "not met") for _, ok, fig in found]
    return ", ".join(f"{words.count(w)} {w}" for w in ("met", "not met", "inconclusive", "n/a")
                     if words.count(w) or w != "n/a")


def _fixed_cost_section(probe: dict | None) -> list[str]:
    if not probe or "_error" in probe:
        return ["## Fixed cost per call", "", f"Failed: {probe['_error']}", ""] if probe else []
    info = probe.get("_rounds", {})
    rows = []
    for spec in bench_claims.fixed_cost_specs(probe):
        key = spec.num[0]
        d = decide(spec, probe)
        rows.append([key, f"{d.point * 1e3:.3f} [{d.low * 1e3:.3f}, {d.high * 1e3:.3f}]", d.rounds,
                     f"{FIXED_COST_BASELINE_S[key] * 1e3:.2f}", f"{spec.threshold * 1e3:.3f}",
                     f"{d.point / FIXED_COST_BASELINE_S[key]:.2f}", met_word(d.met, d.verdict, "met", "not met")])
    return ["## Fixed cost per call", "",
            "Ours alone in a fresh process (no peer, nothing else timed): a single `nn.Linear(4, 4)` and alexnet "
            "at 227, both built on meta, `profiler.profile(model, input_size=...).totals['macs']`, one warm-up "
            f"each, then the two take turns for {info.get('rounds', '?')} rounds"
            + (f" (the cap of {info.get('cap_s', 0):g} s of added rounds ran out)" if info.get("capped") else "")
            + ".  The baseline is ours per call in a quiet process when issue 24 was filed; the claim is at "
            f"most {bench_claims.THRESHOLDS['fixed_cost_fraction']:g} × the baseline.", "",
            tabulate(rows, ["model", "ms per call (median) [95 % interval]", "calls", "baseline ms",
                            "target ms", "× baseline", "claim"], tablefmt="github", disable_numparse=True), ""]
