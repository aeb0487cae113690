"""The transformers zoo: every model type of transformers' CONFIG_MAPPING, profiled on meta.

    python scripts/hf_zoo.py                      # the whole sweep, resumable; writes reports/hf_zoo.{md,csv}
    python scripts/hf_zoo.py --types llama,bert   # some types (added to the cache; the report lists them all)
    python scripts/hf_zoo.py --fresh              # forget the cache and start again
    python scripts/hf_zoo.py --report-only        # rewrite the report from the cache

Per model type ``T``:

* **layers shrunk**: every int field of ``CONFIG_MAPPING[T]()`` and of its sub-configs whose
  name says it counts layers (``num_hidden_layers``, ``num_layers``, ``n_layer``,
  ``encoder_layers``, ``depth``, ...: ``LAYER_COUNT``) becomes min(value, 2), and each entry of
  a per-stage ``depths`` list too, given as the profiler's config overrides
  (``text_config.num_hidden_layers=2`` for a sub-config).  Per-layer lists (``layer_types``)
  are left for the config to derive from the new count; where the config refuses that, they
  are cut to the new count too; where it still refuses, or the model will not build, the
  counts stay as they are, and the row says so (``shrunk`` and ``note``).  A type whose
  profile fails with its layers shrunk is profiled once more at its default size: when that
  runs, its figures are the row's, with a note.
* **ours**: ``profiler.profile("hf:T", config=overrides)``, on meta (the default): the
  model class, the inputs the profiler made (``input``), params, MACs, the uncounted ops
  and the seconds the call took; for a type that does not run, the one-line reason (the
  error's first line) and the stage it failed at.
* **FlopCounterMode** on the same model and inputs: the spec built on meta
  (``resolve("hf:T", overrides).build(meta=True)``), the inputs made by the profiler's own
  ``example_inputs(model, spec.config)``, the forward run under
  ``FlopCounterMode(display=False)`` and ``sdpa_kernel(SDPBackend.MATH)`` (whose attention
  matmuls it counts) in eval mode under no_grad.  Its MACs are its FLOPs / 2, the figure
  tests/models/test_hf.py and profiler/check.py compare with our ``macs`` total (the
  dot-product MACs; our mults, adds and other work are separate columns).  FlopCounterMode
  has no formula for ``torch._grouped_mm`` (transformers' default MoE experts): a type whose
  counts differ and whose forward calls it is marked ``grouped_mm``, not a mismatch.  Nor has it
  one for some ops we count (``mkldnn_rnn_layer``, CPU's LSTM kernel on a real build; ``mv``;
  ``_euclidean_dist``, torch.cdist's): where the gap is exactly our count of those ops (our
  aten formula on each call it missed, or our rows of the modules in which it met such an
  op and counted nothing), the row is marked ``fcm_misses:<op>`` (``fcm_misses``).
  ``fcm_s`` is the build, the inputs and the forward, what FlopCounterMode needs to go
  from a name to a count, as ``ours_s`` is for us.

Each chunk of types (``--chunk``, default 25) runs in its own worker process, ``--jobs``
(default 1) at a time; each result is appended to a JSON-lines cache as soon as its type
is done, so a rerun skips the types done.  A type that takes more than ``--timeout``
seconds (default 120), or whose worker goes above ``--max-rss`` GiB resident (default 4; a
watchdog thread reads /proc/self/statm every 0.1 s), is recorded as such and its worker
ends; the chunk goes on with the next type in a fresh worker (a worker that dies without
a word, or hangs so that its watchdog cannot run, is ended by the parent, and its type
recorded as crashed or timed out).  The peak RSS of the worker during each type is
recorded (``peak_rss_mb``; it includes what earlier types of the same worker imported).

Nothing is downloaded (HF_HUB_OFFLINE=1): every model is built from its config class.
Not part of ``python -m profiler.cli.make_reports``: the sweep takes tens of minutes, and
its report is stamped with the versions and the date.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import datetime
import functools
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")        # never fetch a config or weights
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
REPORT_MD = ROOT / "reports" / "hf_zoo.md"
REPORT_CSV = ROOT / "reports" / "hf_zoo.csv"
TIMEOUT_S = 120.0
MAX_RSS_GIB = 4.0
REAL_MARGIN_GIB = 0.75         # below the RSS limit, what a real-tensor forward's temporaries may take
CHUNK = 25
SHRUNK_TO = 2
POLL_S = 0.1
REAL_BUILD_BYTES = 2**30        # FlopCounterMode on a real build (where ours ran on real tensors) up to this

# an int field that counts layers: num_hidden_layers, num_layers, n_layer(s), encoder_layers,
# num_decoder_layers, decoder_num_hidden_layers, depth, resampler_depth, speech_encoder_layers, ...
LAYER_COUNT = re.compile(r"^(?:[a-z0-9]+_)*(?:num_hidden_layers|num_layers|n_layers?|layers|depth)$"
                         r"|^(?:[a-z0-9]+_)*(?:encoder|decoder)_(?:num_)?(?:hidden_)?layers$")
# names that match but are not a number of layers to build: values (depth estimation's
# max_depth), thresholds and per-layer settings another field must agree with
NOT_A_COUNT = re.compile(r"max_depth|min_depth|max_window_layers|kv_shared|feat_extract|first_k_dense|every"
                         r"|(?:^|_)(?:layer_)?(?:start|end|offset|interval|period|step|index)(?:_|$)")
# a per-stage list of block counts: each entry shrunk
STAGE_DEPTHS = re.compile(r"^(?:depths|depth)$")

CSV_COLUMNS = ["type", "status", "model_class", "family", "input", "params", "macs", "fcm_macs", "agree",
               "uncounted", "ours_s", "fcm_s", "peak_rss_mb", "mode", "fcm_on", "shrunk", "note", "stage", "reason",
               "fcm_error"]


# --- layers shrunk ------------------------------------------------------------------

def _config_class(model_type: str):
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING
    return CONFIG_MAPPING[model_type]


def all_types() -> list[str]:
    """Every key of transformers' CONFIG_MAPPING, sorted."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING
    return sorted(CONFIG_MAPPING.keys())


def _shrink_one(config, prefix: str, counts: dict, lists: dict, notes: list[str]) -> None:
    """The layer counts of one config (top level or a sub-config, ``prefix`` "" or
    "text_config."), and the per-layer lists that go with them."""
    values = {k: v for k, v in vars(config).items() if not k.startswith("_")}
    shrunk_from = set()
    # a count of stages (Swin's num_layers = len(depths)) is not a count of layers to shrink
    stages = {len(v) for k, v in values.items() if STAGE_DEPTHS.match(k) and isinstance(v, (list, tuple))}
    for key, value in values.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, int) and value > SHRUNK_TO and LAYER_COUNT.match(key) and not NOT_A_COUNT.search(key) \
                and value not in stages:
            counts[prefix + key] = SHRUNK_TO
            shrunk_from.add(value)
        elif isinstance(value, (list, tuple)) and STAGE_DEPTHS.match(key) and value \
                and all(isinstance(v, int) and not isinstance(v, bool) for v in value) and max(value) > SHRUNK_TO:
            counts[prefix + key] = [min(v, SHRUNK_TO) for v in value]
    for key, value in values.items():
        if isinstance(value, (list, tuple)) and "layer" in key and len(value) in shrunk_from \
                and prefix + key not in counts:
            lists[prefix + key] = list(value[:SHRUNK_TO])


def shrink_plan(model_type: str) -> tuple[list[dict], list[str]]:
    """Candidate overrides, best first: the layer counts alone (per-layer lists derived by
    the config from the new count), then the counts with the per-layer lists cut to
    match, then nothing; and notes on what could not be reached (a sub-config inside a
    sub-config, which a config override cannot name)."""
    from transformers import PretrainedConfig
    notes: list[str] = []
    try:
        default = _config_class(model_type)()
    except Exception as exc:
        return [{}], [f"{_config_class(model_type).__name__}() does not build: {_first_line(exc)}"]
    counts: dict = {}
    lists: dict = {}
    _shrink_one(default, "", counts, lists, notes)
    for key, value in vars(default).items():
        if isinstance(value, PretrainedConfig):
            _shrink_one(value, f"{key}.", counts, lists, notes)
            deeper = [k for k, v in vars(value).items() if isinstance(v, PretrainedConfig)]
            deep_counts = {}
            for k in deeper:
                _shrink_one(getattr(value, k), f"{key}.{k}.", deep_counts, {}, [])
            if deep_counts:
                notes.append(f"not shrunk (a config override names one level of sub-config): "
                             + ", ".join(f"{k}={getattr_path(default, k)}" for k in sorted(deep_counts)))
    plans = []
    for plan in (counts, {**counts, **lists}, {}):
        if plan not in plans:
            plans.append(plan)
    return plans, notes


def getattr_path(obj, dotted: str):
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def _first_line(exc: BaseException) -> str:
    from profiler.errors import first_line
    return first_line(exc)[:300]


def _plain(value) -> str:
    return "" if not value else ", ".join(f"{k}={json.dumps(v)}" for k, v in value.items())


# --- one type ------------------------------------------------------------------------

class Watchdog(threading.Thread):
    """Polls the process's resident memory and the current type's clock; past either
    limit, writes the type's record (what is known of it so far) and ends the process."""

    def __init__(self, cache: Path | None, timeout_s: float, max_rss: int):
        super().__init__(daemon=True)
        self.cache, self.timeout_s, self.max_rss = cache, timeout_s, max_rss
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.row: dict | None = None
        self.started = 0.0
        self.peak = 0
        self.lock = threading.Lock()

    def rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self.page

    def begin(self, row: dict) -> None:
        with self.lock:
            self.row, self.started, self.peak = row, time.perf_counter(), self.rss()

    def end(self) -> int:
        with self.lock:
            self.row = None
            return self.peak

    def run(self) -> None:
        while True:
            time.sleep(POLL_S)
            with self.lock:
                if self.row is None:
                    continue
                rss = self.rss()
                self.peak = max(self.peak, rss)
                over_memory = rss > self.max_rss
                over_time = time.perf_counter() - self.started > self.timeout_s
                if not (over_memory or over_time):
                    continue
                row = dict(self.row)
                stage = row.get("stage") or "?"
                if row.get("status") == "ran":       # killed while FlopCounterMode ran: our figures stand
                    row["fcm_error"] = (f"killed: the worker's RSS went above {self.max_rss / 2**30:g} GiB"
                                        if over_memory else f"killed: more than {self.timeout_s:g} s")
                    row["stage"] = ""
                elif over_memory:
                    row["status"] = "memory"
                    row["reason"] = (f"killed: the worker's RSS went above {self.max_rss / 2**30:g} GiB "
                                     f"({rss / 2**30:.1f} GiB) during {stage}")
                else:
                    row["status"] = "timeout"
                    row["reason"] = f"killed: more than {self.timeout_s:g} s (during {stage})"
                    if row.get("first_failure"):
                        row["reason"] += f"; with its layers shrunk: {row['first_failure']}"
                row["peak_rss_mb"] = round(self.peak / 2**20)
                row.pop("first_failure", None)
                if self.cache is not None:
                    append_row(self.cache, row)
                os._exit(3)


def append_row(cache: Path, row: dict) -> None:
    """One JSON line, written whole under a lock (several workers append to one cache)."""
    import fcntl
    line = json.dumps(row, default=str) + "\n"
    with open(cache, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write(line)
        f.flush()
        fcntl.flock(f, fcntl.LOCK_UN)


def _example_inputs():
    try:
        from profiler.capture.known import run_forward
        from profiler.models.hf import example_inputs
    except ImportError:
        from profiler.models.hub import example_inputs
        return example_inputs
    return functools.partial(example_inputs, run=run_forward)


def flop_counter(spec, real: bool = False) -> tuple[int, float, tuple[dict[str, set[str]], Counter]]:
    """FlopCounterMode's MACs (FLOPs / 2) on the spec's build with the profiler's own
    example inputs, the seconds of the build, the inputs and the forward, and what it
    did not count (``_unregistered_ops``).  On meta, or, with ``real``, on a seeded real
    CPU build with seeded inputs and a forward seeded as our profile's is (a forward that
    draws noise draws the same): where our profile had to run on real tensors (a forward
    that reads values), so must it."""
    import torch

    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        # no parameter needs a gradient: FlopCounterMode's module tracker hooks the gradient of every
        # module argument that requires one, and fails on a parameter handed to a submodule (Mamba, SAM)
        model = spec.build(meta=not real).eval().requires_grad_(False)
        args, kwargs, _ = _example_inputs()(model, spec.config)
    if not real:
        # the profiler makes token ids and masks on the CPU and carries their values through
        # its meta forward; FlopCounterMode cannot mix them with meta weights
        args, kwargs = _to_meta(args), _to_meta(kwargs)
    macs, misses = count_with_flop_counter(model, args, kwargs)
    return macs, time.perf_counter() - start, misses


def count_with_flop_counter(model, args, kwargs) -> tuple[int, tuple[dict[str, set[str]], Counter]]:
    """FlopCounterMode's MACs of ``model(*args, **kwargs)`` (the forward seeded) and what
    it did not count (``_unregistered_ops``)."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    met = _unregistered_ops(counter)
    with torch.random.fork_rng(devices=[]), torch.no_grad(), sdpa_kernel(SDPBackend.MATH), counter, met:
        torch.manual_seed(0)
        model(*args, **kwargs)
    counts = counter.get_flop_counts()
    # the modules where FlopCounterMode met an op it has no formula for and counted nothing
    missed = {module: ops for module, ops in met.where.items() if not sum(counts.get(module, {}).values())}
    return counter.get_total_flops() // 2, (missed, met.macs)


def _unregistered_ops(counter):
    """A dispatch mode, inside ``counter``'s, that notes the aten ops FlopCounterMode has
    no formula for, leaving out what we count as no dot products: views, copies
    (``ZERO_COST_OPS``) and ops our formulas count as elementwise or reductions
    (``elementwise``).  An op with an aten formula of ours (mv, _euclidean_dist): its
    MACs by that formula, per op name (``macs``); one without (mkldnn_rnn_layer, which
    our nn.LSTM formula counts): its name under the innermost module it ran in
    (``where``, by FlopCounterMode's own names: the model's class, then the path)."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_map
    from torch.utils.flop_counter import flop_registry

    from profiler.formulas.forward.zero import ZERO_COST_OPS
    from profiler.formulas.registry import find_aten_formula

    class Unregistered(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.where: dict[str, set[str]] = defaultdict(set)
            self.macs: Counter = Counter()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            packet = func.overloadpacket
            if packet not in flop_registry and not func.is_view and packet.__name__ not in ZERO_COST_OPS:
                ours = find_aten_formula(packet)
                if ours is None:
                    self.where[max(counter.mod_tracker.parents, key=len)].add(packet.__name__)
                elif ours.kind != "elementwise":
                    shape = lambda v: tuple(v.shape) if isinstance(v, torch.Tensor) else v   # noqa: E731
                    self.macs[packet.__name__] += ours.fn(tree_map(shape, out), *tree_map(shape, args),
                                                          **tree_map(shape, kwargs)).macs
            return out

    return Unregistered()


def fcm_misses(report, misses: tuple[dict[str, set[str]], Counter], gap: int) -> str | None:
    """``fcm_misses:<ops>`` where our MACs exceed FlopCounterMode's by exactly what it did
    not count (``flop_counter``'s ``misses``): the MACs of the ops of ours it has no
    formula for, plus our count of the modules where it met an op we have no aten
    formula for (a module formula of ours counts it) and counted nothing: each such
    module's row and the rows under it."""
    missed, op_macs = misses
    ops = {name for name, macs in op_macs.items() if macs}
    macs = sum(op_macs.values())
    for module, names in missed.items():
        name = module.split(".", 1)[1] if "." in module else None   # ours are named from the model's root
        if name is None:
            continue
        rows = report.layers[(report.layers["name"] == name) | report.layers["name"].str.startswith(name + ".")]
        if int(rows["macs"].sum()):
            macs += int(rows["macs"].sum())
            ops |= names
    return f"fcm_misses:{','.join(sorted(ops))}" if gap > 0 and macs == gap else None


def _to_meta(tree):
    import torch
    from torch.utils._pytree import tree_map
    return tree_map(lambda v: v.to("meta") if isinstance(v, torch.Tensor) else v, tree)


def _calls_grouped_mm(report) -> bool:
    """The forward called torch._grouped_mm (transformers' default MoE experts)."""
    return any("_grouped_mm" in (ops or "") for ops in report.layers["ops"])


def _uncounted(report) -> str:
    rows = report.uncounted
    names = []
    for r in rows.itertuples():
        text = f"{r.type} ({r.ops or 'no formula'})"
        if text not in names:
            names.append(text)
    return "; ".join(names)


def run_type(model_type: str, watchdog: Watchdog | None = None, extra: dict | None = None) -> dict:
    """Profile one model type with its layers shrunk, and count it with FlopCounterMode
    on the same model and inputs; the row of the report (``CSV_COLUMNS``).  ``extra``:
    further config overrides (the tests shrink nothing more, but may)."""
    import profiler
    from profiler.models.resolve import resolve

    row: dict = {"type": model_type, "status": "failed", "stage": "config"}
    if watchdog is not None:
        watchdog.begin(row)
    plans, notes = shrink_plan(model_type)
    spec, overrides, refused = None, {}, []
    for plan in plans:
        overrides = {**plan, **(extra or {})}
        row["shrunk"] = _plain(plan)
        try:
            row["stage"] = "config"
            spec = resolve(f"hf:{model_type}", overrides)
            row["model_class"], row["family"] = spec.notes[0].split(" ", 1)[0] if spec.notes else "", spec.family
            row["stage"] = "build"
            model = spec.build(meta=True)          # also imports the modeling module before any clock
            row["model_class"] = type(model).__name__
            del model
            break
        except Exception as exc:
            refused.append(_first_line(exc))
            spec = None
    if spec is not None and plans[0] and overrides != {**plans[0], **(extra or {})}:
        notes.append(f"with the counts alone ({_plain(plans[0])}) the config or build failed: {refused[0][:160]}")
    if spec is None:
        row["reason"] = refused[-1]
        row["note"] = "; ".join(notes)
        return _done(row, watchdog)

    attempts = [overrides] + ([dict(extra or {})] if overrides != (extra or {}) else [])
    first_failure = None
    for attempt, config in enumerate(attempts):
        row["stage"] = "profile"
        try:
            start = time.perf_counter()
            report = profiler.profile(f"hf:{model_type}", config=config)
            row["ours_s"] = round(time.perf_counter() - start, 4)
        except Exception as exc:
            reason = _first_line(exc)
            if _input_refusal(exc):
                attempts = attempts[:attempt + 1]   # refused while making the inputs: the same at any depth
            if first_failure is None:
                first_failure = reason
                row["first_failure"] = reason
            row["reason"] = reason
            if attempt + 1 < len(attempts):
                row["stage"] = "profile at the default size"
                try:
                    spec = resolve(f"hf:{model_type}", attempts[attempt + 1])
                except Exception as exc2:
                    row["reason"] = first_failure
                    break
            continue
        if attempt:
            notes.append(f"layers kept: with them shrunk ({_plain(overrides)}) the profile failed: {first_failure}")
            row["shrunk"] = ""
        row.pop("reason", None)
        row.update(status="ran", input=report.input_desc, mode=report.execution, params=int(report.totals["params"]),
                   macs=int(report.totals["macs"]), uncounted=_uncounted(report))
        row["stage"] = "FlopCounterMode"
        grouped = _calls_grouped_mm(report)
        # on meta unless our profile ran on real tensors; on a real build where the meta
        # forward reads values (.item()) that our capture answers and FlopCounterMode cannot
        for real in ((False, True) if report.execution == "meta" else (True,)):
            row["fcm_on"] = "real" if real else "meta"
            try:
                if real and row["params"] * 4 > REAL_BUILD_BYTES:
                    raise RuntimeError(f"not run on a real build of {row['params'] * 4 / 2**30:.1f} GiB "
                                       f"(this sweep builds up to {REAL_BUILD_BYTES / 2**30:g} GiB)")
                fcm_macs, fcm_s, misses = flop_counter(spec, real=real)
            except Exception as exc:
                # on meta, torch._grouped_mm takes bfloat16 only: FlopCounterMode cannot run a float32 MoE
                row["fcm_error"] = (row["fcm_error"] + "; then " if row.get("fcm_error") else "") + _first_line(exc)
                if grouped:
                    row["agree"] = "grouped_mm"
                    break
                continue
            row.pop("fcm_error", None)
            row.update(fcm_macs=fcm_macs, fcm_s=round(fcm_s, 4))
            row["agree"] = ("yes" if fcm_macs == row["macs"] else "grouped_mm" if grouped
                            else fcm_misses(report, misses, row["macs"] - fcm_macs) or "no")
            break
        row["stage"] = ""
        break
    else:
        if first_failure and row.get("reason") != first_failure:
            row["reason"] = f"{first_failure} (and at the default size: {row['reason']})"
    row.pop("first_failure", None)
    row["note"] = "; ".join(notes)
    return _done(row, watchdog)


def _input_refusal(exc: BaseException) -> bool:
    """A ProfilerError raised while making the inputs, not by the forward (which
    leaves ``capture`` on the error; see profiler.api._forward)."""
    from profiler.errors import ProfilerError
    return (isinstance(exc, ProfilerError) and not hasattr(exc, "capture") and exc.__cause__ is None
            and "forward failed" not in str(exc))


def _done(row: dict, watchdog: Watchdog | None) -> dict:
    if watchdog is not None:
        row["peak_rss_mb"] = round(watchdog.end() / 2**20)
    row.pop("first_failure", None)
    return row


def worker(types: list[str], cache: Path, timeout_s: float, max_rss: int) -> None:
    """Each type in turn, its row appended to the cache as soon as it is done."""
    import warnings
    warnings.simplefilter("ignore")
    import transformers
    transformers.logging.set_verbosity_error()
    import profiler
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    # what the first profile and the first FlopCounterMode import, outside any type's clock
    profiler.profile(torch.nn.Linear(4, 4), input_size=(4,))
    with FlopCounterMode(display=False):
        torch.nn.Linear(4, 4, device="meta")(torch.empty(1, 4, device="meta"))
    watchdog = Watchdog(cache, timeout_s, max_rss)
    watchdog.start()
    from profiler.arguments import REAL_LIMIT_VARIABLE
    if REAL_LIMIT_VARIABLE not in os.environ:
        # the profiler's real-tensor fallback limit counts its own tensors, not the process: what is
        # left under the RSS limit after the imports, less a margin for the forward's temporaries, so
        # that a type too big for the sweep is refused in one line instead of killed (fixed for the
        # worker: a type's verdict does not depend on the types before it)
        left = (max_rss - watchdog.rss()) / 2**30 - REAL_MARGIN_GIB
        os.environ[REAL_LIMIT_VARIABLE] = f"{max(left, 0.25):.2f}"
    for model_type in types:
        print(f"hf_zoo worker: {model_type}", file=sys.stderr, flush=True)
        try:
            row = run_type(model_type, watchdog)
        except BaseException as exc:           # a bug here is a row, not the end of the chunk
            row = _done({"type": model_type, "status": "failed", "stage": "hf_zoo",
                         "reason": _first_line(exc)}, watchdog)
        append_row(cache, row)
        if watchdog.rss() > max_rss / 2 and model_type != types[-1]:
            # memory a real-tensor forward took is not given back to the system: the next type
            # gets a fresh worker (exit 3: the rows are written), so its limit is its own
            sys.exit(3)


# --- the sweep ---------------------------------------------------------------------------

def read_cache(cache: Path) -> dict[str, dict]:
    rows = {}
    if cache.exists():
        for line in cache.read_text().splitlines():
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue                   # a line cut short by a kill
                rows[row["type"]] = row
    return rows


class Chunk:
    """One chunk of types, run by a worker process; when the worker ends before the
    chunk is done, the type it was on is recorded (crashed, or timed out) and a fresh
    worker takes the rest."""

    def __init__(self, types: list[str], args):
        self.types, self.args = types, args
        self.proc = None
        self.last_progress = 0.0
        self.done_count = 0

    def remaining(self) -> list[str]:
        done = read_cache(self.args.cache)
        return [t for t in self.types if t not in done]

    def start(self) -> bool:
        left = self.remaining()
        if not left:
            return False
        cmd = [sys.executable, str(HERE), "--worker", "--types", ",".join(left), "--cache", str(self.args.cache),
               "--timeout", str(self.args.timeout), "--max-rss", str(self.args.max_rss)]
        log = open(self.args.log, "a")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True, cwd=str(ROOT))
        log.close()
        self.last_progress, self.done_count = time.monotonic(), len(self.types) - len(left)
        return True

    def poll(self) -> bool:
        """True while the chunk still runs."""
        left = self.remaining()
        if len(self.types) - len(left) != self.done_count:
            self.done_count, self.last_progress = len(self.types) - len(left), time.monotonic()
        code = self.proc.poll()
        if code is None:
            if time.monotonic() - self.last_progress < self.args.timeout + 60:
                return True
            os.killpg(self.proc.pid, 9)         # hung where its own watchdog cannot run
            self.proc.wait()
            if left:
                append_row(self.args.cache, {"type": left[0], "status": "timeout", "stage": "?",
                                             "reason": f"killed by the parent: no result in "
                                                       f"{self.args.timeout + 60:.0f} s"})
            return self.start()
        left = self.remaining()
        if left and code != 3:                  # 3: the watchdog wrote the row itself
            append_row(self.args.cache, {"type": left[0], "status": "crashed", "stage": "?",
                                         "reason": f"the worker process died (exit code {code})"})
        return self.start()


def sweep(types: list[str], args) -> None:
    done = read_cache(args.cache)
    todo = [t for t in types if t not in done]
    print(f"{len(types) - len(todo)} of {len(types)} types in the cache {args.cache}; {len(todo)} to run",
          flush=True)
    pending = [todo[i:i + args.chunk] for i in range(0, len(todo), args.chunk)]
    running: list[Chunk] = []
    started = time.monotonic()
    reported = len(types) - len(todo)
    while pending or running:
        while pending and len(running) < args.jobs:
            chunk = Chunk(pending.pop(0), args)
            if chunk.start():
                running.append(chunk)
        time.sleep(0.5)
        running = [c for c in running if c.poll()]
        now = read_cache(args.cache)
        count = sum(t in now for t in types)
        if count != reported:
            for t in types:
                if t in now and t not in done:
                    row = now[t]
                    print(f"[{count}/{len(types)} {time.monotonic() - started:6.0f} s] {t}: {row['status']}"
                          + (f" agree={row.get('agree')}" if row["status"] == "ran" else
                             f" {row.get('reason', '')[:100]}"), flush=True)
            done, reported = now, count


# --- the report ---------------------------------------------------------------------------

# failure classes: (class, regex on "status: stage: reason"), first match wins
FAILURE_CLASSES = [
    ("killed: memory", r"^memory"),
    ("killed: timeout", r"^timeout"),
    ("worker crashed", r"^crashed"),
    ("no model class (a sub-model's config, or built only inside another model)",
     r"has no (?:causal-LM, seq2seq or base )?model class"),
    ("inputs: image tokens in input_ids refused (VLMs)", r"image features in place of image tokens"),
    ("inputs: the forward takes inputs the maker does not know", r"cannot make example inputs"),
    ("inputs: other refusals", r"^failed: profile[^:]*: ProfilerError: [^:]+: (?!forward failed)"),
    ("forward: a required argument not made (grid_thw, masks, ids beside features)",
     r"missing \d+ required positional argument|You must specify exactly one of input_ids|You have to specify "
     r"(?:either )?input_ids|argument 'indices' \(position 2\) must be Tensor, not NoneType|You have to specify "
     r"\w+|cannot be None"),
    ("forward: inputs of the wrong shape or kind for the model",
     r"Dimension out of range|same reduction dim|to have \d+ channels|is invalid for input of size|Attempting to "
     r"broadcast|not enough values to unpack|must be a \d ?D tensor|too small|out of bounds|split_with_sizes|"
     r"size of tensor a|must match the size|Expected \d+D|expected \d+D|shape mismatch|Sizes of tensors must match"),
    ("forward: a value the meta forward needs (data-dependent)", r"meta tensors|data-dependent|nonzero|\.item\(\)"),
    ("forward: a hybrid model's cache with no attention layer", r"get_mask_sizes"),
    ("a library not installed", r"requires the \w+ library|No module named|ImportError"),
    ("config: the defaults are refused or incomplete", r"^failed: config: "),
    ("build: the defaults do not build", r"^failed: build: "),
]


def failure_class(row: dict) -> str:
    text = f"{row['status']}: {row.get('stage', '')}: {row.get('reason', '')}"
    for name, pattern in FAILURE_CLASSES:
        if re.search(pattern, text):
            return name
    reason = row.get("reason", "")
    inner = reason.split(": ")
    kind = next((part.rsplit(" ", 1)[-1] for part in inner[1:] if re.search(r"(Error|Exception)$", part)),
                inner[0] if inner else "error")
    return f"forward: other ({kind})"


def _versions() -> tuple[str, str]:
    import torch
    import transformers
    return transformers.__version__, torch.__version__


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def profiler_commit() -> str | None:
    """The commit of the profiler package this process imports, with "+ changes" when its
    files differ from it; None outside a git checkout."""
    import profiler
    package = Path(profiler.__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=package, capture_output=True,
                              text=True, timeout=30)
        if head.returncode:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=package, capture_output=True,
                               text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + (" + uncommitted changes" if dirty else "")


def write_report(rows: dict[str, dict], types: list[str], md_path: Path, csv_path: Path,
                 commit: str | None = None) -> None:
    from profiler.report import atomic
    transformers_version, torch_version = _versions()
    listed = [rows[t] for t in types if t in rows]
    total = len(types)
    ran = [r for r in listed if r["status"] == "ran"]
    failed = [r for r in listed if r["status"] != "ran"]
    clean = [r for r in ran if not r.get("uncounted")]
    agree = [r for r in ran if r.get("agree") == "yes"]
    grouped = [r for r in ran if r.get("agree") == "grouped_mm"]
    differ = [r for r in ran if r.get("agree") == "no"]
    misses = [r for r in ran if (r.get("agree") or "").startswith("fcm_misses:")]
    fcm_failed = [r for r in ran if r.get("fcm_error")]
    kept = [r for r in ran if "layers kept" in (r.get("note") or "")]
    classes: dict[str, list[dict]] = defaultdict(list)
    for r in failed:
        classes[failure_class(r)].append(r)

    def pct(n, of=total):
        return f"{100 * n / of:.1f} %" if of else "-"

    out = io.StringIO()
    w = out.write
    w("# The transformers zoo\n\n")
    w(f"Generated by `python scripts/hf_zoo.py` with transformers {transformers_version} and torch {torch_version} "
      f"on {datetime.date.today().isoformat()}" + (f", profiler at commit {commit}" if commit else "")
      + "; do not edit by hand.\n\n")
    w("Every model type of transformers' `CONFIG_MAPPING`, built from its config class's defaults with its "
      "layers shrunk to at most 2 (the `shrunk` column; see the script's docstring), profiled on meta by "
      "`profiler.profile(\"hf:TYPE\", config=shrunk)`, and counted by `torch.utils.flop_counter.FlopCounterMode` "
      "on the same meta model and the same inputs (the profiler's `example_inputs`), under the math SDPA backend "
      "in eval mode under no_grad. Our MACs are the `macs` total (dot products); FlopCounterMode's are its "
      "FLOPs / 2. Nothing is downloaded.\n\n")
    w("## Summary\n\n")
    w("| | types | of all |\n|---|---:|---:|\n")
    w(f"| model types in `CONFIG_MAPPING` | {total} | |\n")
    w(f"| swept | {len(listed)} | {pct(len(listed))} |\n")
    w(f"| ran (profiled) | {len(ran)} | {pct(len(ran))} |\n")
    w(f"| ran with nothing uncounted | {len(clean)} | {pct(len(clean))} |\n")
    w(f"| our MACs = FlopCounterMode's | {len(agree)} | {pct(len(agree))} |\n")
    w(f"| differ, MoE experts by `torch._grouped_mm` (FlopCounterMode does not count it) | {len(grouped)} | "
      f"{pct(len(grouped))} |\n")
    w(f"| differ by exactly our count of ops FlopCounterMode has no formula for (`fcm_misses`) | "
      f"{len(misses)} | {pct(len(misses))} |\n")
    w(f"| differ otherwise | {len(differ)} | {pct(len(differ))} |\n")
    w(f"| ran, FlopCounterMode failed | {len(fcm_failed)} | {pct(len(fcm_failed))} |\n")
    w(f"| ran at the default size (shrinking the layers broke it) | {len(kept)} | {pct(len(kept))} |\n")
    w(f"| did not run | {len(failed)} | {pct(len(failed))} |\n")
    timed = [r for r in ran if r.get("ours_s") is not None and r.get("fcm_s") is not None
             and r.get("mode") == "meta" and r.get("fcm_on") == "meta"]
    if timed:
        ours = sorted(r["ours_s"] for r in timed)
        fcm = sorted(r["fcm_s"] for r in timed)
        w(f"\nSeconds per type (median, over the {len(timed)} types both ran on meta; one call each, a noisy "
          f"shared machine: see benchmarks/bench_zoo.py for interleaved timings): ours {ours[len(ours) // 2]:.3f} s "
          f"(`profile` by name: resolve, build, inputs, forward), FlopCounterMode {fcm[len(fcm) // 2]:.3f} s "
          f"(build, inputs, forward); in all {sum(ours):.0f} s and {sum(fcm):.0f} s.  Where our profile needed "
          f"real tensors (`mode` real: {sum(r.get('mode') == 'real' for r in ran)} types) or FlopCounterMode could "
          f"not run on meta (`fcm_on` real), FlopCounterMode ran on a seeded real CPU build.\n")
    w("\n## Failures by class\n\n")
    if not failed:
        w("None: every type ran.\n")
    else:
        w("| class | types | examples |\n|---|---:|---|\n")
        for name, members in sorted(classes.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            w(f"| {_cell(name)} | {len(members)} | {_cell(', '.join(r['type'] for r in members[:6]))}"
              f"{', ...' if len(members) > 6 else ''} |\n")
    if fcm_failed:
        by_error: dict[str, list[str]] = defaultdict(list)
        for r in fcm_failed:
            by_error[re.sub(r"\d+(?:\.\d+)?", "N", r["fcm_error"])[:200]].append(r["type"])
        w("\n## Where FlopCounterMode did not run (the types ran for us)\n\n| FlopCounterMode's error | types "
          "| examples |\n|---|---:|---|\n")
        for error, members in sorted(by_error.items(), key=lambda kv: -len(kv[1])):
            w(f"| {_cell(error)} | {len(members)} | {_cell(', '.join(members[:6]))}{', ...' if len(members) > 6 else ''} |\n")
    if differ:
        w("\n## MACs that differ from FlopCounterMode's\n\n| type | ours | FlopCounterMode | ours - theirs |\n"
          "|---|---:|---:|---:|\n")
        for r in differ:
            w(f"| {r['type']} | {r['macs']:,} | {r['fcm_macs']:,} | {r['macs'] - r['fcm_macs']:,} |\n")
    w("\n## Per type\n\n")
    w("`agree`: our MACs = FlopCounterMode's (`yes`), differ (`no`), differ where the forward calls "
      "`torch._grouped_mm` (`grouped_mm`), or differ by exactly our count of the ops FlopCounterMode has no "
      "formula for (`fcm_misses:<op>`). Seconds: ours (`profile` by name) and FlopCounterMode's (build, "
      "inputs, forward). `peak MB`: the worker's peak RSS during the type. Failed types give the stage and "
      "the reason (the error's first line).\n\n")
    w("| type | status | class | input | params | MACs | FCM MACs | agree | uncounted | ours s | FCM s | peak MB "
      "| shrunk | note / reason |\n|---|---|---|---|---:|---:|---:|---|---|---:|---:|---:|---|---|\n")
    for t in types:
        r = rows.get(t)
        if r is None:
            w(f"| {t} | not swept | | | | | | | | | | | | |\n")
            continue
        if r["status"] == "ran":
            detail = "; ".join(x for x in (r.get("note"), r.get("fcm_error") and f"FlopCounterMode: {r['fcm_error']}")
                               if x)
        else:
            detail = f"{r.get('stage')}: {r.get('reason', '')}" + (f"; {r['note']}" if r.get("note") else "")
        w("| " + " | ".join(_cell(x) for x in (
            t, r["status"], r.get("model_class", ""), r.get("input", ""),
            f"{r['params']:,}" if r.get("params") is not None else "",
            f"{r['macs']:,}" if r.get("macs") is not None else "",
            f"{r['fcm_macs']:,}" if r.get("fcm_macs") is not None else "",
            r.get("agree", ""), r.get("uncounted", ""),
            f"{r['ours_s']:.3f}" if r.get("ours_s") is not None else "",
            f"{r['fcm_s']:.3f}" if r.get("fcm_s") is not None else "",
            r.get("peak_rss_mb", ""), r.get("shrunk", ""), detail)) + " |\n")
    atomic.write_text(md_path, out.getvalue())
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for t in types:
        if t in rows:
            writer.writerow({k: rows[t].get(k, "") for k in CSV_COLUMNS})
    atomic.write_text(csv_path, buffer.getvalue())


def default_cache() -> Path:
    from importlib.metadata import version
    return Path(tempfile.gettempdir()) / f"hf_zoo-transformers{version('transformers')}-torch{version('torch')}.jsonl"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--types", help="comma-separated model types (default: all of CONFIG_MAPPING)")
    parser.add_argument("--fresh", action="store_true", help="forget the cache first")
    parser.add_argument("--chunk", type=int, default=CHUNK, help=f"types per worker process (default {CHUNK})")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes at a time (default 1)")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S,
                        help=f"seconds per type before it is killed (default {TIMEOUT_S:.0f})")
    parser.add_argument("--max-rss", type=float, default=MAX_RSS_GIB,
                        help=f"GiB of resident memory per worker before its type is killed (default {MAX_RSS_GIB:.0f})")
    parser.add_argument("--cache", type=Path, help="the JSON-lines cache (default: in the temp folder, "
                        "named by the transformers and torch versions)")
    parser.add_argument("--log", type=Path, help="the workers' stderr (default: the cache's name + .log)")
    parser.add_argument("--md", type=Path, default=REPORT_MD)
    parser.add_argument("--csv", type=Path, default=REPORT_CSV)
    parser.add_argument("--rerun", metavar="REGEX", help="run again the cached types whose row (its JSON line) "
                        "matches REGEX, e.g. 'ImportError' or '\"status\": \"timeout\"'")
    parser.add_argument("--commit", help="the profiler commit to name in the report's stamp (default: read with "
                        "git where the imported profiler package lives)")
    parser.add_argument("--report-only", action="store_true", help="write the report from the cache, run nothing")
    parser.add_argument("--no-report", action="store_true", help="run, but write no report")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.cache = args.cache or default_cache()
    args.log = args.log or args.cache.with_suffix(".log")
    max_rss = int(args.max_rss * 2**30)
    if args.worker:
        worker(args.types.split(","), args.cache, args.timeout, max_rss)
        return 0
    every = all_types()
    types = args.types.split(",") if args.types else every
    unknown = sorted(set(types) - set(every))
    if unknown:
        parser.error(f"not in CONFIG_MAPPING: {', '.join(unknown)}")
    if args.fresh and args.cache.exists():
        args.cache.unlink()
    if args.rerun and args.cache.exists():
        lines = args.cache.read_text().splitlines(True)
        kept = [line for line in lines if not re.search(args.rerun, line)]
        print(f"--rerun: {len(lines) - len(kept)} cached rows dropped", flush=True)
        args.cache.write_text("".join(kept))
    if not args.report_only:
        sweep(types, args)
    if not args.no_report:
        write_report(read_cache(args.cache), every, args.md, args.csv, commit=args.commit or profiler_commit())
        print(f"wrote {args.md} and {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
