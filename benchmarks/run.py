"""Benchmark: our profiler against fvcore, FlopCounterMode, ptflops, thop and torchinfo.

    python benchmarks/run.py            # everything, a few minutes; writes reports/benchmark.md
    python benchmarks/run.py --quick    # no fvcore on vit_h_14 at 518 (the one slow figure)
    python benchmarks/run.py --only resnet50@224:real   # one real-weight case
    python benchmarks/run.py --only llama-7b@tokens2048   # one language-model case
    python benchmarks/run.py --only hf-zoo-sample   # transformers types: ours against FlopCounterMode
    python benchmarks/run.py --only memory   # peak memory of a training step: ours, torch-kitsune, MemTracker

The run exits with status 1 when any claim in its claims table is not met.

Each model runs in its own fresh worker process (``--worker KEY``), so one
model's memory and one tool's side effects never reach the next.  Inside a
worker every tool gets the same model and input; the model is built before any
clock starts.  Each tool is called once to warm up, then the tools take turns,
round by round in a new (seeded) order each round, so the machine's noise falls
on all of them alike.  A figure is
the median of those timed calls of the profile call alone.

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

from bench_measure import measured_call, median, timed_call, traced_peak  # noqa: E402

REPORT = ROOT / "reports" / "benchmark.md"
ALL_TOOLS = ("ours", "fvcore", "fcm", "fcm_grad", "ptflops", "ptflops_aten", "thop", "torchinfo")

# key: (torchvision name, image side, build kwargs)
CASES = {
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
REPEATS = 15   # a 2 ms call's median needs more than a handful: one cold-cache call moves it
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
               cold_only: tuple[str, ...] = ()) -> dict:
    """Time, meter and read the MACs of each tool on one case.  Returns one dict per tool:
    runs, times (s), median_s, mem_bytes (peak RSS above the call's start, from one
    extra call after the timed ones, or the warm-up call for a tool too slow for that),
    first_s/first_mem_bytes (the warm-up call), macs, breakdown, or error.  Tools in
    ``cold_only`` are called once, and that cold call is their figure."""
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
                     "breakdown": _jsonable(breakdown), "times": []}
        if tool in ("ours", "ours_meta") and hasattr(result, "layers"):
            out[tool]["rows"] = len(result.layers)
            out[tool]["mode"] = result.mode
        if tool in cold_only:
            out[tool].update(times=[seconds], cold=True)
            allowed[tool] = 0
        else:
            allowed[tool] = max(1, min(repeats, int(budget_s // max(seconds, 1e-9))))
    shuffle = random.Random(0).shuffle
    for _ in range(repeats):
        # a new order each round (seeded), so no tool always runs right after the same
        # one: a call that allocates gigabytes (fvcore on real tensors at 2270 px) leaves
        # the caches cold for whichever call comes next, and a 2 ms call feels that
        order = list(prepared)
        shuffle(order)
        for tool in order:
            prep = prepared[tool]
            if len(out[tool]["times"]) < allowed[tool]:
                with quiet():
                    _setup(prep)
                    _, seconds = timed_call(prep.call)
                out[tool]["times"].append(seconds)
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
    return out


def bench_lm_case(case, tools=LM_TOOLS, repeats: int = LM_REPEATS, budget_s: float = BUDGET_S) -> dict:
    """``bench_case`` on a language-model case, with the case itself under "_case"
    (its mode, lengths and LlamaConfig overrides: None is LLaMA-7B, which the
    report's exact-count claim is about)."""
    result = bench_case(case, tools, repeats=repeats, budget_s=budget_s)
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
                      input=report.input_desc, mode=report.mode, pandas="pandas" in sys.modules)))
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
    case = make_case(args.worker)
    if args.worker in LM_CASES:
        tools = tuple(args.tools.split(",")) if args.tools else LM_TOOLS
        result = bench_lm_case(case, tools, repeats=args.repeats or LM_REPEATS)
        Path(args.out).write_text(json.dumps(result))
        return
    default = REAL_TOOLS if case.real_weights else ALL_TOOLS
    tools = tuple(args.tools.split(",")) if args.tools else default
    if args.quick and case.key == "vit_h_14@518":
        tools = tuple(t for t in tools if t != "fvcore")
    # fvcore's one call on real vit_h_14 weights at 518 takes minutes: call it once, cold
    cold = ("fvcore",) if case.key == "vit_h_14@518" else ()
    result = bench_case(case, tools, repeats=args.repeats or REPEATS, cold_only=cold)
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
    parser.add_argument("--repeats", type=int, help=f"timed calls per tool (default {REPEATS}; "
                        f"{LM_REPEATS} on the language-model cases)")
    parser.add_argument("--quick", action="store_true", help="skip fvcore on vit_h_14 at 518")
    parser.add_argument("--only", help="comma-separated case keys (default: all)")
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

    from bench_report import claims, render, summary_lines

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
        print(f"  [{'not evaluated' if ok is None else 'met' if ok else 'NOT met'}] {claim}: {fig}")
    print(f"wrote {args.report}; the run took {data['machine']['total_s']:.0f} s")
    return exit_status(claims(data) + bench_zoo.claims(zoo) + bench_repeat.claims(repeat)
                       + bench_memory.claims(memory))


def exit_status(claim_rows) -> int:
    """1 when any claim of the claims table (``bench_report.claims``) is not met, else 0.
    A claim about a quiet machine on a busy one is not evaluated (met None): not a miss."""
    missed = [claim for claim, met, _ in claim_rows if met is False]
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
                                                                      *LM_CASES, bench_zoo.KEY, bench_memory.KEY]))
    zoo, memory = bench_zoo.KEY in keys, bench_memory.KEY in keys
    keys = [key for key in keys if key not in (bench_zoo.KEY, bench_memory.KEY)]
    results = {}
    for key in keys:
        print(f"[{time.perf_counter() - started:6.0f} s] {key} ...", flush=True)
        results[key] = run_worker(key, args)
    # the fresh-process probes that go with the cases run: the vision ones with any
    # vision case, the hf:llama CLI ones with any language-model case
    probes = {}
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
        probes[bench_zoo.KEY] = bench_zoo.probe(args.repeats or bench_zoo.REPEATS)
    if memory:   # benchmarks/bench_memory.py: peak memory against MemTracker and the peers
        print(f"[{time.perf_counter() - started:6.0f} s] {bench_memory.KEY} ...", flush=True)
        probes[bench_memory.KEY] = bench_memory.probe()
    machine["load_after"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    machine["total_s"] = time.perf_counter() - started
    return {"results": results, "probes": probes, "machine": machine,
            "settings": {"repeats": args.repeats or REPEATS, "lm_repeats": args.repeats or LM_REPEATS,
                         "budget_s": BUDGET_S, "quick": args.quick}}


if __name__ == "__main__":
    sys.exit(main())
