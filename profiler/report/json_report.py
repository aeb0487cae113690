"""The report as JSON, with a stable, versioned schema.

``schema_version`` changes only when a field is renamed, removed or changes
meaning; new fields may be added within a version.  Schema version 1::

    {
      "schema_version": 1,
      "model": "alexnet_homework",       # the name given, or the nn.Module's class name
      "input": "3x227x227",              # per-sample input size, or "given inputs"
      "batch": 1,
      "mode": "meta",                    # how the forward ran: meta, fake or real tensors
      "itemsize": 4,                     # bytes per element of the chosen dtype
      "notes": ["..."],
      "language": {...},                 # language models only: profiler.count.language.LanguageSummary's
                                         # fields (params, non_embedding (Kaplan's N), left_out, active,
                                         # macs_per_token, ..., conventions: [{name, formula, flops, exact,
                                         # terms: [{part, label, ours, theirs, why, difference}], ...}])
      "total": {COUNTS, "intensity": 5.63},
      "utilisation": {...},              # after Report.utilisation() only: its to_dict() (MFU, HFU, model and
                                         # hardware FLOPs, step_time, peak_flops, peak_dtype, peak_source, ...;
                                         # see profiler/report/utilisation.py; fractions of 1)
      "by_kind": [{"kind": "conv", "rows": 5, COUNTS,
                   "shares": {"params": 4.04, "mults": 91.79, ...},   # % of the total, per count
                   "intensity": 99.43}],
      "layers_view": "",                 # what --depth/--sort/--top did to "layers"; "" if nothing
      "layers": [{"name": "features.conv1", "type": "Conv2d", "kind": "conv", "depth": 2,
                  "input_shapes": [[1, 3, 227, 227]], "output_shapes": [[1, 64, 55, 55]],
                  COUNTS, "status": "formula", "ops": ""}],
      "uncounted": [{"name": "...", "type": "...", "ops": "..."}],
      # training profiles only: each "layers" entry also has bwd_mults, bwd_adds, bwd_other,
      # bwd_macs and bwd_status (and with activation checkpointing rc_mults, rc_adds, rc_other,
      # rc_macs: its recomputed forward); "passes": Report.passes, one entry per pass
      # ("forward", "backward", "forward+backward" = model FLOPs, and with checkpointing
      # "recompute", "forward+backward+recompute" = hardware FLOPs):
      "passes": [{"pass": "forward", "mults": 1, "adds": 1, "other": 0, "macs": 1, "flops": 2}],
      "finding": "linear layers: 96.0% of parameters, ...",
      # memory profiles only (profiler.report.memory.to_dict): peak_bytes, peak_phase, peak_at,
      # at_peak and totals (bytes by category), optimizer, timeline ([phase, module, live bytes]),
      # assumptions, finding, plan (the what-ifs: recipe, step_peak, stages, fit, ...; or null)
      "memory": {...},
      # measured reports (profiler.report.measured) only, also in each "by_kind" entry (time_s,
      # time_%, flops_per_s, regime) and each "layers" entry (time_s: the mean over the
      # runs, time_median_s, time_iqr_s, time_%, flops_per_s, bytes_per_s, bound_s, regime,
      # efficiency); a roofline prediction without a measurement has bound_s, bound_%
      # and regime instead:
      "measurement": {"measured": true, "machine_specific": true,
                      "device": {"kind": "cpu", "name": "...", "threads": 2, ...},
                      "peaks": {"flops": 1.9e11, "bandwidth": 1.7e11, "dram_bandwidth": 2e10,
                                "cache_bytes": 33554432, "source": "...", "ridge": 1.1, ...},
                      "runs": 40, "forward_s": 0.021, "hook_per_call_s": 1.9e-06, ...},
      "finding_time": "linear layers: 8.2% of multiplications, ...% of the measured time ..."
    }

COUNTS are integers: params, mults, adds, other, macs, flops (= mults + adds +
other), act_elems and act_bytes (output activations), in_bytes (input
activations).  ``intensity`` is FLOPs per byte moved (see Report.moved_bytes).
Shares and intensities are rounded to 4 decimals.  Keys keep this order.  Times
are seconds, rates per second; a time that could not be measured is null.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from profiler.report import atomic
from profiler.report import Report
from profiler.columns import BWD_COLUMNS, COUNT_COLUMNS, RC_COLUMNS, ShapeText

SCHEMA_VERSION = 1


def _shapes(text: ShapeText) -> list[list[int]]:
    """The shapes a row's shape text was made from, as lists: [[1, 3, 227, 227], [1, 10]].
    A lone 0-d tensor's shapes, ((),), show as "", as no tensors do: both are []."""
    return [list(s) for s in text.shapes] if text else []


def _counts(row) -> dict[str, int]:
    return {c: int(row[c]) for c in COUNT_COLUMNS}


def _training(row, columns: list[str]) -> dict:
    """A training profile's backward (and recompute) columns of a row."""
    found = {c: int(row[c]) for c in columns if c in row}
    if "bwd_status" in row:
        found["bwd_status"] = row["bwd_status"]
    return found


def to_dict(report: Report, layers: pd.DataFrame | None = None, layers_view: str = "") -> dict:
    """The schema-version-1 document; ``layers`` replaces the per-layer rows."""
    layers = report.layers if layers is None else layers
    extra = [c for c in BWD_COLUMNS + RC_COLUMNS if c in layers]
    document = {
        "schema_version": SCHEMA_VERSION,
        "model": report.model, "input": report.input_desc, "batch": int(report.batch),
        "mode": report.mode, "itemsize": int(report.itemsize), "notes": list(report.notes),
        **({"language": report.language.to_dict()} if report.language is not None else {}),
        "total": {**_counts(report.total), "intensity": round(report.intensity, 4)},
        **({"utilisation": shown.to_dict()} if (shown := report.shown_utilisation()) is not None else {}),
        "by_kind": [{"kind": r["kind"], "rows": int(r["rows"]), **_counts(r),
                     "shares": {c: round(float(r[f"{c}_%"]), 4) for c in COUNT_COLUMNS},
                     "intensity": round(float(r["intensity"]), 4)}
                    for r in report.by_kind.to_dict("records")],
        "layers_view": layers_view,
        "layers": [{"name": r["name"], "type": r["type"], "kind": r["kind"], "depth": int(r["depth"]),
                    "input_shapes": _shapes(r["input_shapes"]), "output_shapes": _shapes(r["output_shape"]),
                    **_counts(r), "status": r["status"], "ops": r["ops"], **_training(r, extra)}
                   for r in layers.to_dict("records")],
        "uncounted": [{"name": r.name, "type": r.type, "ops": r.ops} for r in report.uncounted.itertuples()],
        "finding": report.finding(),
    }
    if report.memory is not None:   # memory profiles: profiler.report.memory.to_dict
        from profiler.report.memory import to_dict as memory_dict
        document["memory"] = memory_dict(report)
    passes = report.passes
    if passes is not None:
        document["passes"] = [{"pass": r["pass"], **{c: int(r[c]) for c in ("mults", "adds", "other", "macs",
                                                                           "flops")}}
                              for r in passes.to_dict("records")]
    if report.measurement is not None:
        _add_measurement(document, report, layers)
    return document


def _add_measurement(document: dict, report: Report, layers: pd.DataFrame) -> None:
    """A measured (or roofline-predicted) report's fields: per layer and per kind,
    the time columns (profiler.report.measured); "measurement", the device, its peaks, the
    forward's time and the timing hooks' cost; "finding_time"."""
    from profiler.report.measured import kind_fields, layer_fields
    measured = report.measurement.measured
    for entry, row in zip(document["by_kind"], report.by_kind.to_dict("records")):
        entry.update(kind_fields(row, measured))
    for entry, extra in zip(document["layers"], layer_fields(report, layers)):
        entry.update(extra)
    document["measurement"] = report.measurement.to_dict()
    document["finding_time"] = report._time_finding()


def to_json(report: Report, layers: pd.DataFrame | None = None, layers_view: str = "") -> str:
    return json.dumps(to_dict(report, layers, layers_view), indent=2) + "\n"


def write_json(report: Report, path: str | Path, layers: pd.DataFrame | None = None,
               layers_view: str = "") -> Path:
    return atomic.write_text(path, to_json(report, layers, layers_view))
