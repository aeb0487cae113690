"""The comparison table (profiler.compare's frame: one row per profile) as text and
as a Markdown page.  Torch-free: the rows are made by profiler.compare."""
from __future__ import annotations

from typing import TYPE_CHECKING

from profiler.report.render import table

if TYPE_CHECKING:
    import pandas as pd

COUNTS = ["params", "mults", "adds", "other", "macs", "flops", "act_bytes"]
SHARES = ["conv_mults_%", "conv_params_%", "linear_mults_%", "linear_params_%", "attention_mults_%"]
COLUMNS = ["model", "input", "batch", *COUNTS, *SHARES, "intensity", "uncounted"]


def to_text(frame: pd.DataFrame, units: str = "grouped", markdown: bool = False) -> str:
    """The comparison table, counts per ``units``, shares in %, intensity with 2 decimals."""
    shown = frame.copy()
    shown["intensity"] = shown["intensity"].round(2)
    timed = [c for c in ("forward_ms", "gflop_per_s", "linear_intensity") if c in shown]
    for column in timed:   # measured or roofline columns (profiler.report.measured)
        shown[column] = shown[column].round(2)
    if "bound_ms" in shown:
        shown["bound_ms"] = [f"{v:.4g}" for v in shown["bound_ms"]]
    shares = SHARES + [c for c in ("conv_time_%", "linear_time_%", "conv_bound_%", "linear_bound_%") if c in shown]
    memory = [c for c in ("peak_bytes", "step_peak_bytes") if c in shown]   # memory comparisons
    return table(shown, ["batch", *COUNTS, "intensity", "uncounted", *timed, *memory], shares, units, markdown)


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
    if frame.attrs.get("roofline"):   # measured or roofline columns: the device (profiler.report.measured)
        parts += [f"- {line}" for line in frame.attrs["roofline"]] + [""]
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
