"""Benchmark: our profiler against fvcore, FlopCounterMode, ptflops, thop and torchinfo.

    python benchmarks/run.py            # everything, 12 to 45 minutes; writes reports/benchmark.md
    python benchmarks/run.py --quick    # no fvcore on vit_h_14 at 518 (the one slow figure)
    python benchmarks/run.py --cap 0    # no added rounds: each claim decided on the first rounds
    python benchmarks/run.py --only linear@4,fixed-cost   # the fixed cost: nn.Linear(4, 4), and ours alone
    python benchmarks/run.py --only resnet50@224:real   # one real-weight case
    python benchmarks/run.py --only llama-7b@tokens2048   # one language-model case
    python benchmarks/run.py --only hf-zoo-sample   # transformers types: ours against FlopCounterMode
    python benchmarks/run.py --only memory   # peak memory of a training step: ours, torch-kitsune, MemTracker

The run exits with status 1 when any claim in its claims table is not met.  A timed
claim (a ratio of medians, or the fixed cost per call) is decided on its 95 %
interval, a bootstrap over the rounds (bench_claims.py, where every threshold is):
met, not met, or inconclusive; while one of a case's claims is inconclusive or its
interval wider than 10 % of its figure, the case adds rounds up to its time cap
(``--cap``, seconds of added rounds per case).  Inconclusive is no miss.

Each model runs in its own fresh worker process (``--worker KEY``), so one
model's memory and one tool's side effects never reach the next.  Inside a
worker every tool gets the same model and input; the model is built before any
clock starts.  Each tool is called once to warm up, then the tools take turns,
round by round in a new (seeded) order each round, so the machine's noise falls
on all of them alike.  A figure is
the median of those timed calls of the profile call alone.  Each timed call keeps
its round's number, so a claim's interval resamples whole rounds.

The fixed cost (``fixed-cost``) is ours alone in a fresh process: nn.Linear(4, 4)
and alexnet at 227 on meta, taking turns, 60 rounds and more while undecided.

The meta cases give every tool a meta-built model (fvcore a real one: it needs
real tensors).  The real-weight cases (``KEY:real``) are the user's model: a
normally built, seeded CPU model in eval mode and a real input for every tool,
ours included, with ours also timed on the same model built on meta.

The language-model cases (``LM_CASES``) give every tool LLaMA-7B (LlamaConfig()
defaults) built on meta and the inputs ``profile("hf:llama", tokens=N)`` or
``decode=N`` makes: ours by name and on the prebuilt model, FlopCounterMode with
and without the math attention backend, DeepSpeed's and calflops' profilers where
they install (see bench_tools.LM_TOOLS).  With them the run also times the CLI
commands on hf:llama end to end (``LM_CLI``).

The transformers zoo sample (``hf-zoo-sample``, bench_zoo.py) times ours against
FlopCounterMode per model type, on 30 types of transformers' CONFIG_MAPPING built on
meta with their layers shrunk, as scripts/hf_zoo.py builds them, in one fresh process.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from bench_claims import CAP_S, MIN_ROUNDS, RESOLUTION_BASE, RESOLUTION_KEY  # noqa: E402
from bench_measure import measured_call, median, timed_call, traced_peak  # noqa: E402

REPORT = ROOT / "reports" / "benchmark.md"
ALL_TOOLS = ("ours", "fvcore", "fcm", "fcm_grad", "ptflops", "ptflops_aten", "thop", "torchinfo")

# key: (torchvision name, image side, build kwargs)
CASES = {
    "linear@4": ("linear", 4, {}),    # a single nn.Linear(4, 4): the fixed cost of a profile call itself
    "resnet50@224": ("resnet50", 224, {}),
    "vit_b_16@224": ("vit_b_16", 224, {}),
    "swin_t@224": ("swin_t", 224, {}),
    "efficientnet_b0@224": ("efficientnet_b0", 224, {}),
    "vit_h_14@224": ("vit_h_14", 224, {}),
    "vit_h_14@518": ("vit_h_14", 518, {"image_size": 518}),
    "alexnet@227": ("alexnet", 227, {}),
    "alexnet@2270": ("alexnet", 2270, {}),
}
# the user's model with real weights (seeded, never downloaded), every tool on it
REAL_SUFFIX = ":real"
REAL_CASES = {f"{key}{REAL_SUFFIX}": CASES[key]
              for key in ("resnet50@224", "vit_b_16@224", "swin_t@224", "efficientnet_b0@224")}
# ours on the real weights and, for the ratio, ours on the same model built on meta
REAL_TOOLS = ("ours", "ours_meta", *ALL_TOOLS[1:])
DEPTH_CASES = {f"resnet{d}@224": (f"resnet{d}", 224, {}) for d in (18, 34, 50, 101, 152)}
# language models: key -> (mode, lengths); LLaMA-7B, LlamaConfig() defaults, on meta
LM_CASES = {
    "llama-7b@tokens2048": ("tokens", (2048,)),
    "llama-7b@decode2048": ("decode", (2048,)),
    "llama-7b@tokens128+4096": ("tokens", (128, 4096)),   # the compare sweep
}
LM_TOOLS = ("ours_name", "ours", "fcm_math", "fcm", "deepspeed", "calflops")
# the CLI on hf:llama, end to end (each run a fresh interpreter)
LM_CLI = {
    "profiler profile hf:llama --tokens 2048": ["profile", "hf:llama", "--tokens", "2048"],
    "profiler profile hf:llama --decode 2048": ["profile", "hf:llama", "--decode", "2048"],
    "profiler compare hf:llama --tokens 128 --tokens 4096": ["compare", "hf:llama", "--tokens", "128",
                                                             "--tokens", "4096"],
}
CLI_REPEATS = 3
REPEATS = MIN_ROUNDS   # rounds before any decision: a 2 ms call's median needs more than a handful
# the fixed cost per call, ours alone in a fresh process (bench_fixed_cost): its key among the cases
FIXED_COST = "fixed-cost"
LM_REPEATS = 7  # the LLaMA-7B calls take 0.1 to 2 s each: less noise to average out
# a tool whose warm-up call took longer than this many seconds gets fewer timed
# calls (at least one), so fvcore on real vit_h_14 weights does not take the run
BUDGET_S = 15.0


def make_case(key: str, lm_config: dict | None = None):
    """The case of a key; a language-model case takes LlamaConfig overrides
    (``lm_config``; None: LLaMA-7B, the defaults)."""
    from bench_tools import Case, LMCase
    if key in LM_CASES:
        mode, lengths = LM_CASES[key]
        return LMCase(key, mode, lengths, lm_config)
    name, size, kwargs = {**CASES, **REAL_CASES, **DEPTH_CASES}[key]
    return Case(key, name, size, dict(kwargs), real_weights=key in REAL_CASES)


def bench_case(case, tools=ALL_TOOLS, repeats: int = REPEATS, budget_s: float = BUDGET_S,
               cold_only: tuple[str, ...] = (), cap_s: float = 0.0, lm: bool = False) -> dict:
    """Time, meter and read the MACs of each tool on one case.  Returns one dict per tool:
    runs, times (s), rounds (the round of each timed call), median_s, mem_bytes (peak RSS
    above the call's start, from one extra call after the timed ones, or the warm-up call
    for a tool too slow for that), first_s/first_mem_bytes (the warm-up call), macs,
    breakdown, or error.  Tools in ``cold_only`` are called once, and that cold call is
    their figure.

    After ``repeats`` rounds, while a timed claim of the case (bench_claims.specs) is
    inconclusive or its interval is wider than bench_claims.WIDTH of its figure, rounds
    are added bench_claims.BATCH at a time, for at most ``cap_s`` seconds; an added round
    calls only the tools of the claims still open.  The case's result then holds, under
    "_rounds", the rounds run and whether the cap ran out."""
    from bench_claims import BATCH, BLOCK, SLOW_S, decide, specs
    calls_per_turn = BLOCK.get(case.key, 1)   # a tool's calls in its turn of a round; their median is its time
    from bench_tools import Absent, prepare, quiet
    model = case.model()  # meta-built, or the real weights of a real-weight case
    out: dict[str, dict] = {}
    prepared = {}
    for tool in tools:
        try:
            with quiet():
                prepared[tool] = prepare(tool, case, model)
        except Absent as exc:
            out[tool] = {"error": str(exc)}
    allowed = {}
    for tool, prep in list(prepared.items()):
        try:
            with quiet():
                _setup(prep)
                result, seconds, mem = measured_call(prep.call)
                macs, breakdown = prep.macs(result), prep.breakdown(result)
        except Exception as exc:  # a peer that cannot run this model is a finding, not a crash
            out[tool] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
            del prepared[tool]
            continue
        out[tool] = {"first_s": seconds, "first_mem_bytes": mem, "macs": macs,
                     "breakdown": _jsonable(breakdown), "times": [], "rounds": []}
        if tool in ("ours", "ours_meta") and hasattr(result, "layers"):
            out[tool]["rows"] = len(result.layers)
            out[tool]["mode"] = result.execution
        if tool in cold_only:
            out[tool].update(times=[seconds], rounds=[0], cold=True)
            allowed[tool] = 0
        else:
            allowed[tool] = max(1, min(repeats, int(budget_s // max(seconds, 1e-9))))
    shuffle = random.Random(0).shuffle

    def one_round(number: int, wanted) -> None:
        # a new order each round (seeded), so no tool always runs right after the same
        # one: a call that allocates gigabytes (fvcore on real tensors at 2270 px) leaves
        # the caches cold for whichever call comes next, and a 2 ms call feels that
        order = [tool for tool in prepared if tool in wanted]
        shuffle(order)
        for tool in order:
            prep = prepared[tool]
            block = []
            with quiet():
                for _ in range(calls_per_turn):
                    _setup(prep)
                    block.append(timed_call(prep.call)[1])
            out[tool]["times"].append(median(block))
            out[tool]["rounds"].append(number)

    for number in range(repeats):
        one_round(number, [t for t in prepared if len(out[t]["times"]) < allowed[t]])
    number, capped, started = repeats, False, time.perf_counter()

    def more_rounds_help(tool: str) -> bool:   # a cold or slow tool gets no added rounds
        return tool in prepared and not out[tool].get("cold") and out[tool]["first_s"] <= SLOW_S

    while cap_s > 0:
        open_claims = []
        for spec in specs(case.key, out, lm=lm):
            decision = decide(spec, out)
            # open: undecided or wide, and the tools of its figure (ours and the peer that
            # gives it) can get more rounds; a claim on fvcore's single slow call cannot
            if not _settled(decision) and all(more_rounds_help(t) for t in (decision.argmin, spec.den) if t):
                open_claims.append(spec)
        if not open_claims:
            break
        if time.perf_counter() - started >= cap_s:
            capped = True
            break
        wanted = {t for s in open_claims for t in s.tools if more_rounds_help(t)}
        for _ in range(BATCH):   # the cap is also checked between the rounds of a batch
            one_round(number, wanted)
            number += 1
            if time.perf_counter() - started >= cap_s:
                break
    added_s = time.perf_counter() - started
    for tool, prep in prepared.items():  # memory: one more call each, unless too slow
        if out[tool].get("cold") or out[tool]["first_s"] > budget_s / repeats:
            out[tool]["mem_bytes"], out[tool]["mem_from"] = [out[tool]["first_mem_bytes"]], "warm-up"
            continue
        with quiet():
            _setup(prep)
            _, _, mem = measured_call(prep.call)
            _setup(prep)
            out[tool]["traced_bytes"] = traced_peak(prep.call)
        out[tool]["mem_bytes"] = [mem]
    for tool, row in out.items():
        if "times" in row:
            row["runs"] = len(row["times"])
            row["median_s"] = median(row["times"])
            row["median_mem_bytes"] = row["mem_bytes"][0]
    out["_rounds"] = {"rounds": number, "capped": capped, "cap_s": cap_s, "added_s": added_s}
    return out


def _settled(decision) -> bool:
    return decision is None or decision.settled


def bench_fixed_cost(rounds: int | None = None, cap_s: float = 0.0) -> dict:
    """Ours alone, in this (quiet) process: a single nn.Linear(4, 4) and alexnet at 227,
    both built on meta, one warm-up each, then ``rounds`` rounds (FIXED_COST_ROUNDS)
    of one call each, and more (BATCH at a time) while a fixed-cost claim is open, for
    at most ``cap_s`` seconds.  Per model: times, rounds, median_s, macs."""
    from bench_claims import BATCH, FIXED_COST_BASELINE_S, FIXED_COST_ROUNDS, decide, fixed_cost_specs
    from bench_tools import prepare, quiet
    rounds = rounds or FIXED_COST_ROUNDS
    prepared, out = {}, {}
    for key in FIXED_COST_BASELINE_S:
        case = make_case(key)
        prepared[key] = prepare("ours", case, case.build(meta=True))
        with quiet():
            out[key] = {"macs": prepared[key].macs(prepared[key].call()), "times": [], "rounds": []}
    shuffle = random.Random(0).shuffle

    def one_round(number: int) -> None:
        order = list(prepared)
        shuffle(order)
        for key in order:
            _, seconds = timed_call(prepared[key].call)
            out[key]["times"].append(seconds)
            out[key]["rounds"].append(number)

    for number in range(rounds):
        one_round(number)
    number, capped, started = rounds, False, time.perf_counter()
    while cap_s > 0 and not all(_settled(decide(s, out)) for s in fixed_cost_specs(out)):
        if time.perf_counter() - started >= cap_s:
            capped = True
            break
        for _ in range(BATCH):
            one_round(number)
            number += 1
            if time.perf_counter() - started >= cap_s:
                break
    for row in out.values():
        row["runs"], row["median_s"] = len(row["times"]), median(row["times"])
    out["_rounds"] = {"rounds": number, "capped": capped, "cap_s": cap_s,
                      "added_s": time.perf_counter() - started}
    return out


def bench_lm_case(case, tools=LM_TOOLS, repeats: int = LM_REPEATS, budget_s: float = BUDGET_S,
                  cap_s: float = 0.0) -> dict:
    """``bench_case`` on a language-model case, with the case itself under "_case"
    (its mode, lengths and LlamaConfig overrides: None is LLaMA-7B, which the
    report's exact-count claim is about)."""
    result = bench_case(case, tools, repeats=repeats, budget_s=budget_s, cap_s=cap_s, lm=True)
    result["_case"] = {"mode": case.mode, "lengths": list(case.lengths), "config": case.config,
                       "labels": case.labels}
    return result


def _setup(prep) -> None:
    """Fresh inputs for the next call, outside the clock (a KV cache a forward appends to)."""
    if prep.setup is not None:
        prep.setup()


def _jsonable(tree):
    if isinstance(tree, dict):
        return {str(k): _jsonable(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [_jsonable(v) for v in tree]
    if isinstance(tree, (int, float, str)) or tree is None:
        return tree
    return int(tree) if hasattr(tree, "__int__") else str(tree)


# --- fresh-process probes ---------------------------------------------------------

_VIT_H_518_PROBE = r"""
import json, sys
sys.path.insert(0, {here!r})
from bench_measure import rss_bytes, peak_bytes, reset_peak
import torch
torch_rss = rss_bytes()
reset_peak()
import torchvision
tv_peak = peak_bytes()
import profiler, profiler.api  # what profile() imports on first use (pandas only comes with a frame)
import_peak, imports_rss = peak_bytes(), rss_bytes()
reset_peak()
{call}
macs = report.totals["macs"]  # the total, as a peer gives it; no DataFrame is built
print(json.dumps(dict(torch_rss=torch_rss, tv_peak=tv_peak, import_peak=import_peak,
                      imports_rss=imports_rss, call_peak=peak_bytes(), macs=int(macs),
                      input=report.input_desc, mode=report.execution, pandas="pandas" in sys.modules)))
"""
_BY_NAME = 'report = profiler.profile("vit_h_14", native=True)'
_BY_MODULE = ('with torch.device("meta"):\n'
              '    model = torchvision.models.get_model("vit_h_14", weights=None, image_size=518)\n'
              'report = profiler.profile(model, input_size=(3, 518, 518))')


def probe_vit_h_518(how: str) -> dict:
    """Peak RSS of profiling vit_h_14 at 518 in a fresh process, above the RSS with
    torch imported (the imports profiler needs are part of the cost)."""
    code = _VIT_H_518_PROBE.format(here=str(HERE), call=_BY_NAME if how == "name" else _BY_MODULE)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    data = json.loads(done.stdout.strip().splitlines()[-1])
    base = data["torch_rss"]
    data["above_torch_mb"] = (max(data["import_peak"], data["call_peak"]) - base) / 2**20
    data["imports_mb"] = (data["import_peak"] - base) / 2**20
    data["torchvision_mb"] = (data["tv_peak"] - base) / 2**20
    data["call_mb"] = max(0, data["call_peak"] - data["imports_rss"]) / 2**20
    return data


def _cli() -> list[str]:
    found = shutil.which("profiler")
    return [found] if found else [sys.executable, "-m", "profiler"]


def _run_timed(command: list[str], timeout_s: float, expect: int = 0) -> dict:
    """One run of a command in a fresh interpreter: seconds, exit code, lines of
    output, or the error (its stderr's tail, or the timeout).  ``expect``: the exit
    code that counts as success; 2, a refusal, must also be one line
    `profiler: error: ...` on stderr."""
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish in {timeout_s:.0f} s", "returncode": None}
    seconds = time.perf_counter() - start
    if done.returncode != expect:
        return {"error": (done.stderr.strip() or f"exit code {done.returncode}")[-300:],
                "returncode": done.returncode}
    if expect == 2 and not (len(done.stderr.splitlines()) == 1 and done.stderr.startswith("profiler: error: ")):
        return {"error": f"not a one-line error: {done.stderr.strip()[-300:]}", "returncode": done.returncode}
    return {"seconds": seconds, "returncode": done.returncode, "lines": len(done.stdout.strip().splitlines())}


def probe_cli(args: list[str], repeats: int = 5, timeout_s: float = 120) -> dict:
    """Median wall time of a CLI command, each run a fresh interpreter."""
    return _probe_commands({"cli": _cli() + args}, repeats, timeout_s)["cli"]


def _unwritable() -> str:
    """An output path the kernel refuses: /sys takes no new file, root's included;
    elsewhere a path below a regular file (this one)."""
    return "/sys/x.csv" if os.path.isdir("/sys") else os.path.join(str(Path(__file__).resolve()), "x.csv")


def refusal_commands() -> dict[str, list[str]]:
    """Bad arguments the CLI refuses before it imports torch: a malformed --input, and
    a --csv the kernel refuses (timed like --help: target < 0.5 s)."""
    return {f"profiler {' '.join(args)}": _cli() + args
            for args in (["profile", "alexnet", "--input", "3x22a"], ["profile", "alexnet", "--csv", _unwritable()])}


def probe_refusals(repeats: int = 5, timeout_s: float = 120) -> dict:
    """Median wall time of each bad-argument command, each run a fresh interpreter that
    must exit 2 with a one-line error."""
    return _probe_commands(refusal_commands(), repeats, timeout_s, expect=2)


def _probe_commands(commands: dict[str, list[str]], repeats: int, timeout_s: float, expect: int = 0) -> dict:
    """Each command ``repeats`` times, taking turns round by round in a shuffled
    (seeded) order, as the tools do, so a busy spell of the machine falls on all of
    them alike.  Per command: times, median_s, returncode, lines, command; or error
    and returncode from the first run that failed (the command then stops)."""
    out = {label: {"times": [], "command": " ".join(command)} for label, command in commands.items()}
    shuffle = random.Random(0).shuffle
    for _ in range(repeats):
        order = [label for label in commands if "error" not in out[label]]
        shuffle(order)
        for label in order:
            run = _run_timed(commands[label], timeout_s, expect)
            if "error" in run:
                out[label] = {"error": run["error"], "returncode": run["returncode"],
                              "command": out[label]["command"]}
                continue
            out[label]["times"].append(run["seconds"])
            out[label].update(returncode=run["returncode"], lines=run["lines"])
    for probe in out.values():
        if "error" not in probe:
            probe["median_s"] = median(probe["times"])
    return out


def probe_lm_cli(repeats: int = CLI_REPEATS) -> dict:
    """The hf:llama CLI commands end to end, interleaved with what they cannot go
    below: a fresh interpreter importing torch and transformers' LLaMA classes (the
    CLI imports them to build the model)."""
    from bench_report import IMPORT_CODE, IMPORT_PROBE
    commands = {label: _cli() + args for label, args in LM_CLI.items()}
    commands[IMPORT_PROBE] = [sys.executable, "-c", IMPORT_CODE]
    return _probe_commands(commands, repeats, timeout_s=600)


def probe_compare_all(timeout_s: float = 900) -> dict:
    has = subprocess.run(_cli() + ["compare", "--help"], capture_output=True, text=True, timeout=120)
    if has.returncode:
        return {"absent": True}
    start = time.perf_counter()
    try:
        done = subprocess.run(_cli() + ["compare", "--all"], capture_output=True, text=True,
                              timeout=timeout_s, cwd=tempfile.gettempdir())
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish in {timeout_s:.0f} s"}
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "returncode": done.returncode,
            "lines": len(done.stdout.strip().splitlines())}


# --- orchestration ----------------------------------------------------------------

def run_worker(key: str, args) -> dict:
    """Run one case in a fresh process and read back its JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", key, "--out", str(out)]
        if args.repeats:
            cmd += ["--repeats", str(args.repeats)]
        if args.quick:
            cmd.append("--quick")
        if args.cap is not None:
            cmd += ["--cap", str(args.cap)]
        if key in DEPTH_CASES and key not in CASES:  # the depth series times ours alone (resnet50 is both)
            cmd += ["--tools", "ours"]
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        if done.returncode or not out.exists():
            tail = done.stderr.strip().splitlines()[-3:]
            return {"_error": " | ".join(tail) or f"worker exited {done.returncode}"}
        data = json.loads(out.read_text())
        data["_wall_s"] = time.perf_counter() - start
        return data


def worker_main(args) -> None:
    cap_s = CAP_S if args.cap is None else args.cap
    if args.worker == FIXED_COST:
        Path(args.out).write_text(json.dumps(bench_fixed_cost(cap_s=cap_s)))
        return
    case = make_case(args.worker)
    if args.worker in LM_CASES:
        tools = tuple(args.tools.split(",")) if args.tools else LM_TOOLS
        result = bench_lm_case(case, tools, repeats=args.repeats or LM_REPEATS, cap_s=cap_s)
        Path(args.out).write_text(json.dumps(result))
        return
    default = REAL_TOOLS if case.real_weights else ALL_TOOLS
    tools = tuple(args.tools.split(",")) if args.tools else default
    if args.quick and case.key == "vit_h_14@518":
        tools = tuple(t for t in tools if t != "fvcore")
    if case.key == RESOLUTION_KEY and not args.tools:  # ours at 227 in the same rounds: the resolution ratio
        tools = (*tools, RESOLUTION_BASE)
    # fvcore's one call on real vit_h_14 weights at 518 takes minutes: call it once, cold
    cold = ("fvcore",) if case.key == "vit_h_14@518" else ()
    result = bench_case(case, tools, repeats=args.repeats or REPEATS, cold_only=cold, cap_s=cap_s)
    if case.name == "vit_b_16" and "fcm" in tools and not case.real_weights:
        from bench_tools import fcm_on_real_tensors, quiet
        with quiet():
            result["_fcm_real"] = fcm_on_real_tensors(case)
    Path(args.out).write_text(json.dumps(result))


def machine_note() -> dict:
    import platform

    import torch
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for dist in ("torch", "torchvision", "fvcore", "ptflops", "thop-0.1.1", "thop", "torchinfo", "transformers",
                 "deepspeed", "calflops"):
        try:
            from importlib.metadata import version
            versions[dist] = version(dist)
        except Exception:
            pass
    return {"cores": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "versions": versions, "threads": torch.get_num_threads(),
            "load": os.getloadavg() if hasattr(os, "getloadavg") else None}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, help=f"rounds of timed calls before any decision (default {REPEATS}; "
                        f"{LM_REPEATS} on the language-model cases)")
    parser.add_argument("--quick", action="store_true", help="skip fvcore on vit_h_14 at 518")
    parser.add_argument("--only", help="comma-separated case keys (default: all)")
    parser.add_argument("--cap", type=float, help=f"seconds of added rounds per case while a claim is "
                        f"inconclusive or its interval wide (default {CAP_S:g}; 0: none)")
    parser.add_argument("--report", default=str(REPORT), help="where to write the markdown report")
    parser.add_argument("--save-json", help="also save the raw figures as JSON here")
    parser.add_argument("--from-json", help="render a report from saved figures instead of running")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--tools", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(args)
        return 0

    from bench_report import claims, met_word, render, summary_lines

    from profiler.report import atomic
    import bench_repeat
    import bench_zoo
    if args.from_json:  # re-render a saved run
        data = json.loads(Path(args.from_json).read_text())
    else:
        data = collect(args)
        if args.save_json:
            atomic.write_text(args.save_json, json.dumps(data))
    import bench_memory
    zoo, repeat = data["probes"].get(bench_zoo.KEY), data["probes"].get(bench_repeat.KEY)
    memory = data["probes"].get(bench_memory.KEY)
    # the zoo sample's and the repeatability's sections and claims go before the closing "Rerun" section
    sections = bench_zoo.section(zoo) + bench_repeat.section(repeat) + bench_memory.section(memory)
    text = render(data).replace("\n## Rerun\n", "\n" + "\n".join(sections) + "\n## Rerun\n", 1)
    atomic.write_text(args.report, text)
    print("\n".join(summary_lines(data)))
    for claim, ok, fig in bench_zoo.claims(zoo) + bench_repeat.claims(repeat) + bench_memory.claims(memory):
        print(f"  [{met_word(ok, fig, 'met', 'NOT met')}] {claim}: {fig}")
    print(f"wrote {args.report}; the run took {data['machine']['total_s']:.0f} s")
    return exit_status(claims(data) + bench_zoo.claims(zoo) + bench_repeat.claims(repeat)
                       + bench_memory.claims(memory))


def exit_status(claim_rows) -> int:
    """1 when any claim of the claims table (``bench_report.claims``) is not met, else 0.
    A timed claim whose interval does not decide it (inconclusive), or a claim about a
    quiet machine on a busy one (not evaluated), has met None: not a miss."""
    missed = [claim for claim, met, _ in claim_rows if met is False]
    undecided = [claim for claim, met, fig in claim_rows if met is None and fig.startswith("inconclusive")]
    if undecided:
        print(f"{len(undecided)} claim(s) inconclusive (no miss)", file=sys.stderr)
    if missed:
        print(f"{len(missed)} claim(s) NOT met: exit status 1", file=sys.stderr)
    return 1 if missed else 0


def collect(args) -> dict:
    started = time.perf_counter()
    machine = machine_note()
    import bench_memory
    import bench_repeat
    import bench_zoo
    keys = args.only.split(",") if args.only else list(dict.fromkeys([*CASES, *REAL_CASES, *DEPTH_CASES,
                                                                      *LM_CASES, FIXED_COST, bench_zoo.KEY,
                                                                      bench_memory.KEY]))
    zoo, fixed, memory = bench_zoo.KEY in keys, FIXED_COST in keys, bench_memory.KEY in keys
    keys = [key for key in keys if key not in (bench_zoo.KEY, FIXED_COST, bench_memory.KEY)]
    results = {}
    for key in keys:
        print(f"[{time.perf_counter() - started:6.0f} s] {key} ...", flush=True)
        results[key] = run_worker(key, args)
    # the fresh-process probes that go with the cases run: the vision ones with any
    # vision case, the hf:llama CLI ones with any language-model case
    probes = {}
    if fixed:
        print(f"[{time.perf_counter() - started:6.0f} s] {FIXED_COST} ...", flush=True)
        probes[FIXED_COST] = run_worker(FIXED_COST, args)
    if any(key not in LM_CASES for key in keys):
        print(f"[{time.perf_counter() - started:6.0f} s] fresh-process probes ...", flush=True)
        probes.update({"vit_h_14@518 by name": probe_vit_h_518("name"),
                       "vit_h_14@518 meta module": probe_vit_h_518("module"),
                       "profiler --help": probe_cli(["--help"]),
                       "refusals": probe_refusals(),
                       "profiler list": probe_cli(["list"]),
                       "profiler compare --all": probe_compare_all()})
        print(f"[{time.perf_counter() - started:6.0f} s] {bench_repeat.KEY} ...", flush=True)
        probes[bench_repeat.KEY] = bench_repeat.probe()
    if any(key in LM_CASES for key in keys):
        print(f"[{time.perf_counter() - started:6.0f} s] hf:llama CLI probes ...", flush=True)
        probes["lm_cli"] = probe_lm_cli()
    if zoo:
        print(f"[{time.perf_counter() - started:6.0f} s] {bench_zoo.KEY} ...", flush=True)
        probes[bench_zoo.KEY] = bench_zoo.probe(args.repeats or bench_zoo.REPEATS, cap_s=args.cap)
    if memory:   # benchmarks/bench_memory.py: peak memory against MemTracker and the peers
        print(f"[{time.perf_counter() - started:6.0f} s] {bench_memory.KEY} ...", flush=True)
        probes[bench_memory.KEY] = bench_memory.probe()
    machine["load_after"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    machine["total_s"] = time.perf_counter() - started
    return {"results": results, "probes": probes, "machine": machine,
            "settings": {"repeats": args.repeats or REPEATS, "lm_repeats": args.repeats or LM_REPEATS,
                         "budget_s": BUDGET_S, "quick": args.quick, "cap_s": CAP_S if args.cap is None else args.cap}}


if __name__ == "__main__":
    sys.exit(main())
