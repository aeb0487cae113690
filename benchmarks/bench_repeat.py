"""Repeatability of `profile --measure`: two consecutive runs agree within the spread they state.

A measured report states, for each layer kind, its share of the time (``time_%``,
from the mean times) and the spread of that share across the timed runs: the
quartiles of the per-run shares (``time_%_q1``, ``time_%_q3``:
profiler.report.measured).  The claim: two consecutive ``profiler profile MODEL
--measure`` runs, each in a fresh process, state spreads that overlap for every kind
that takes at least 1 % of the time (each run's quartiles are a sample of the same
machine's behaviour: what two samples can promise is that their middle halves
meet, not that they coincide).  The share from the means is shown beside them but
not compared: one slow run moves a mean, and can put it outside its own quartiles.
On resnet18 and alexnet, the issue's two models.

The claim is about a quiet machine: where the load average, read before and after
the four runs, is above the core count, it is not evaluated (the report says the
machine was busy; the runs are still shown)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KEY = "measure repeatability"
MODELS = ("resnet18", "alexnet")
MIN_SHARE = 1.0      # kinds below 1 % of the time: their quartiles are within the timer's noise


def _run(model: str) -> dict:
    """One ``profile MODEL --measure`` in a fresh process: each kind's share and quartiles."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "report.json"
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "profiler", "profile", model, "--measure", "--json", str(path)],
                              capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            return {"error": (done.stderr.strip().splitlines() or ["exit code %d" % done.returncode])[-1]}
        document = json.loads(path.read_text())
    return {"seconds": time.perf_counter() - started, "runs": document["measurement"]["runs"],
            "kinds": {k["kind"]: [k["time_%"], k["time_%_q1"], k["time_%_q3"]] for k in document["by_kind"]
                      if k.get("time_%") is not None}}


def probe() -> dict:
    load_before = os.getloadavg()[0]
    runs = {model: [_run(model), _run(model)] for model in MODELS}
    return {"runs": runs, "cores": os.cpu_count(), "load": [load_before, os.getloadavg()[0]]}


def _agree(first: dict, second: dict) -> tuple[bool, list[str]]:
    """Each kind's quartile ranges of the two runs overlap."""
    ok, worst = True, []
    for kind in sorted(set(first["kinds"]) | set(second["kinds"])):
        a, b = first["kinds"].get(kind), second["kinds"].get(kind)
        if a is None or b is None or max(a[0], b[0]) < MIN_SHARE:
            continue
        inside = max(a[1], b[1]) <= min(a[2], b[2])
        ok &= inside
        worst.append(f"{kind} {a[0]:.1f}% [{a[1]:.1f}, {a[2]:.1f}] / {b[0]:.1f}% [{b[1]:.1f}, {b[2]:.1f}]"
                     + ("" if inside else " (apart)"))
    return ok, worst


def claims(data: dict | None) -> list[tuple[str, bool | None, str]]:
    """(claim, met, figures); met is None where the machine was busy (not evaluated)."""
    if not data:
        return []
    busy = max(data["load"]) > data["cores"]
    out = []
    for model, (first, second) in data["runs"].items():
        claim = f"`profile {model} --measure` twice: each kind's stated spread (IQR of its share) overlaps"
        if "error" in first or "error" in second:
            out.append((claim, False, first.get("error") or second.get("error")))
            continue
        ok, figures = _agree(first, second)
        note = f"; load {data['load'][0]:.1f} → {data['load'][1]:.1f} on {data['cores']} cores"
        out.append((claim, None if busy else ok,
                    ("not evaluated, a busy machine: " if busy else "") + "; ".join(figures) + note))
    return out


def section(data: dict | None) -> list[str]:
    if not data:
        return []
    parts = ["## Repeatability of --measure", "",
             "Two consecutive `profiler profile MODEL --measure` runs, each in a fresh process: each kind's share "
             "of the time (from the means) and the quartiles of its per-run share, the spread the report states. "
             "The claim: the two runs' quartile ranges overlap for every kind at 1 % or more, on a quiet machine "
             "(load average at most the core count, before and after).", "",
             "| claim | met | figures |", "|---|---|---|"]
    parts += [f"| {c} | {'n/a' if ok is None else 'yes' if ok else 'no'} | {fig} |" for c, ok, fig in claims(data)]
    return parts + [""]


if __name__ == "__main__":
    found = probe()
    print(json.dumps(found))
    for claim, met, figures in claims(found):
        print(f"[{'n/a' if met is None else 'met' if met else 'NOT met'}] {claim}: {figures}")
