"""Several models, input sizes and batch sizes side by side: one row per profile."""
from __future__ import annotations

import warnings
from typing import Any, Callable, Iterable

import pandas as pd

from .errors import ProfilerError
from .render import table

COUNTS = ["params", "mults", "adds", "other", "macs", "flops", "act_bytes"]
SHARES = ["conv_mults_%", "conv_params_%", "linear_mults_%", "linear_params_%"]
COLUMNS = ["model", "input", "batch", *COUNTS, *SHARES, "intensity", "uncounted"]
NATIVE = "native"

Progress = Callable[[str, "str | None"], None]


def _label(model: Any) -> str:
    return model if isinstance(model, str) else type(model).__name__


def _input_label(size: Any) -> str:
    if size is None:
        return "default"
    return size if isinstance(size, str) else "x".join(map(str, size))


def _first_line(exc: BaseException) -> str:
    if isinstance(exc, ProfilerError):
        return str(exc).strip().splitlines()[0]
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


def row_of(report) -> dict[str, Any]:
    """The comparison row of one Report."""
    total = report.total
    return dict(model=report.model, input=report.input_desc, batch=int(report.batch),
                **{c: int(total[c]) for c in COUNTS},
                **{f"{k}_{c}_%": report.share(k, c) for k in ("conv", "linear") for c in ("mults", "params")},
                intensity=report.intensity, uncounted=len(report.uncounted))


def compare(models: Iterable[Any], input_sizes: Iterable[Any] | None = None,
            batches: Iterable[int] | None = None, strict: bool = False,
            progress: Progress | None = None) -> pd.DataFrame:
    """Profile every model at every input size and batch size; one row each, in
    that nesting order, with the columns in ``COLUMNS``.

    models: names (as for ``profile``) or nn.Modules.
    input_sizes: per-sample sizes like (3, 224, 224) or "3x224x224", or "native" for
        the published crop size; default: each model's own default input.
    batches: batch sizes; default [1].
    strict: raise ProfilerError on the first failure; otherwise a failed profile
        becomes an entry of ``df.attrs["failures"]`` (dicts with model, input,
        batch, error) and the others still run.  Unknown names are checked before
        anything is profiled when strict.
    progress: called as ``progress(label, error_or_None)`` after each profile.

    Shares are percentages of the model's total; ``intensity`` is FLOPs per byte
    moved (Report.intensity); ``uncounted`` counts rows with no formula.
    """
    from .api import profile
    from .models import parse_input_size, resolve

    models = list(models)
    sizes = [parse_input_size(s) if isinstance(s, str) and s != NATIVE else s for s in input_sizes or [None]]
    batches = list(batches) if batches else [1]
    for batch in batches:
        if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
            raise ProfilerError(f"batch must be a positive integer, got {batch!r}")
    if strict:
        for model in models:
            if isinstance(model, str):
                resolve(model)
    rows, failures = [], []
    for model in models:
        for size in sizes:
            for batch in batches:
                label = f"{_label(model)} · {_input_label(size)} · batch {batch}"
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")   # uncounted rows are in the table's own column
                        report = profile(model, input_size=None if size in (None, NATIVE) else tuple(size),
                                         batch=batch, native=size == NATIVE)
                    rows.append(row_of(report))
                    error = None
                except Exception as exc:
                    if strict:
                        if isinstance(exc, ProfilerError):
                            raise
                        raise ProfilerError(f"{_label(model)}: {_first_line(exc)}") from exc
                    error = _first_line(exc)
                    failures.append(dict(model=_label(model), input=_input_label(size), batch=batch,
                                         error=error))
                if progress is not None:
                    progress(label, error)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame[COUNTS + ["batch", "uncounted"]] = frame[COUNTS + ["batch", "uncounted"]].astype("int64")
    frame.attrs["failures"] = failures
    return frame


def to_text(frame: pd.DataFrame, units: str = "grouped", markdown: bool = False) -> str:
    """The comparison table, counts per ``units``, shares in %, intensity with 2 decimals."""
    shown = frame.copy()
    shown["intensity"] = shown["intensity"].round(2)
    return table(shown, ["batch", *COUNTS, "intensity", "uncounted"], SHARES, units, markdown)


INTENSITY_NOTE = ("intensity: FLOPs per byte moved, where each layer moves its parameters, "
                  "its input activations and its output activations once (float32, no reuse "
                  "between layers); shares are % of the model's own total")


def markdown(frame: pd.DataFrame, title: str = "Comparison", units: str = "grouped",
             plot: str | None = None, intro: str = "") -> str:
    """A Markdown page: the table, the plot (``plot`` is a relative link) and the failures."""
    parts = [f"# {title}", ""]
    if intro:
        parts += [intro, ""]
    parts += [to_text(frame, units, markdown=True), "", INTENSITY_NOTE + ".", ""]
    if plot:
        parts += ["## MACs vs parameters", "", f"![MACs against parameters, log-log]({plot})", ""]
    failures = frame.attrs.get("failures", [])
    parts += ["## Failures", ""]
    parts += [f"- `{f['model']}` (input {f['input']}, batch {f['batch']}): {f['error']}" for f in failures] \
        or ["None: every model was profiled."]
    uncounted = frame[frame["uncounted"] > 0]
    if len(uncounted):
        parts += ["", "## Incomplete counts", ""]
        parts += [f"- `{r.model}` (input {r.input}, batch {r.batch}): {r.uncounted} uncounted row(s)"
                  for r in uncounted.itertuples()]
    return "\n".join(parts) + "\n"
