"""The report as JSON, with a stable, versioned schema (``SCHEMA_VERSION``): the fields,
in the order the keys keep, are listed in docs/reports.md ("JSON")."""
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
        "mode": report.execution, "itemsize": int(report.itemsize), "notes": list(report.notes),
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
