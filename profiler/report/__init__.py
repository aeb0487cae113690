"""The Report: a per-layer DataFrame and the tables derived from it.

pandas is imported when a frame is first read, not when a profile is made: the
counts are computed in ``profile()``, and the frames are views of them built on
demand (a small model's profile takes less time than its DataFrame; and pandas
adds about 29 MB to a process that only wants a total).

The tables derived from the frame (totals, ``by_kind``, ``passes``, ...) are each
computed once and kept: a terminal report reads ``by_kind`` seven times.  They are
dropped whenever what they are made of changes: ``layers`` assigned, or
``measurement`` set (profiler.report.measured.attach sets it after adding its
columns).  A frame edited in place must be assigned back (``report.layers = frame``).
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from profiler.report import atomic
from profiler.columns import (BWD_COLUMNS, COLUMNS, COUNT_COLUMNS, INTENSITY_NOTE, KIND_LABELS, KINDS,  # noqa: F401
                      LAYER_VIEW, MEMORY_COLUMNS, RC_COLUMNS, SHAPE_COLUMNS, SHOWN_SHARES, ShapeText)

if TYPE_CHECKING:
    import pandas as pd

SHARED = COUNT_COLUMNS                 # by_kind has each kind's share (%) of every count column


def _frame(rows: list[dict]) -> pd.DataFrame:
    """The layers frame of ``build_rows``' rows, with int64 count columns."""
    import numpy as np
    import pandas as pd
    backward = BWD_COLUMNS if rows and "bwd_macs" in rows[0] else []  # training profiles
    recompute = RC_COLUMNS if rows and "rc_macs" in rows[0] else []   # ... with checkpointing
    memory = MEMORY_COLUMNS if rows and "saved_bytes" in rows[0] else []   # memory profiles
    names = COLUMNS + backward + (["bwd_status"] if backward else []) + recompute + memory
    counts = COUNT_COLUMNS + backward + recompute + memory + ["depth"]
    if not rows:
        return pd.DataFrame(columns=names).astype(dict.fromkeys(counts, "int64"))
    text: dict[tuple, ShapeText] = {}  # the same shapes recur on most layers

    def shapes(column: str) -> pd.Series:
        # object dtype: a string column would keep the text and drop the shapes it carries
        return pd.Series([text[s] if s in text else text.setdefault(s, ShapeText(s))
                          for s in (r[column] for r in rows)], dtype=object)
    # column by column: pandas' list-of-dicts path plus astype took 3 ms, more than small forwards
    return pd.DataFrame({c: np.array([r[c] for r in rows], dtype=np.int64) if c in counts
                         else shapes(c) if c in SHAPE_COLUMNS else [r[c] for r in rows] for c in names},
                        columns=names)


class Report:
    """Profile of one model at one input.

    ``layers`` has one row per module call (see README, "Reading a report");
    ``by_kind`` groups them by layer kind with shares; ``total`` sums the rows
    (``totals``: the same sums as plain ints, without building any frame).
    ``layers`` may be replaced (a view with fewer rows); everything derived
    follows it.  ``input_size`` is the per-sample size the dummy input had, as a
    tuple (None for inputs the caller gave); ``input_desc`` is its text.
    """

    def __init__(self, model: str, layers: pd.DataFrame | None, input_desc: str, batch: int, execution: str,
                 notes: list[str] | None = None, itemsize: int = 4, dtype: str = "float32",
                 input_size: tuple[int, ...] | None = None):
        self.model = model
        self.input_desc = input_desc
        self.input_size = input_size
        self.batch = batch
        self.execution = execution                   # meta, fake or real: how the forward ran (its execution)
        self.notes = [] if notes is None else notes
        self.itemsize = itemsize           # bytes per parameter: the element size of the chosen dtype
        self.dtype = dtype                 # the floating dtype counted at ("bfloat16")
        self.language = None               # a language model's LanguageSummary (profiler.count.language)
        self.memory = None                 # a memory profile's Memory (profiler.count.memory), else None
        self.memory_plan = None            # its what-ifs (profiler.report.memory.MemoryPlan, made by profiler.fits)
        self._memo: dict[str, Any] = {}    # derived tables, each computed once (see the module docstring)
        self._measurement = None
        self._layers = layers
        self._rows: list[dict] = []        # what the frame is built from while _layers is None
        self._utilisation: dict | None = None   # the arguments of the last utilisation(), which the report shows

    def _derived(self, key: str, make: Callable[[], Any]) -> Any:
        """``make()``'s value, computed on the first read of ``key`` only."""
        memo = self._memo
        if key not in memo:
            memo[key] = make()
        return memo[key]

    @property
    def measurement(self):
        """Measured or roofline-predicted time (profiler.report.measured.Measurement), or None."""
        return self._measurement

    @measurement.setter
    def measurement(self, value) -> None:
        self._measurement = value
        self._memo = {}   # by_kind gains or changes its time columns

    @property
    def mode(self) -> str:
        """Deprecated alias of ``execution`` (kept for one release)."""
        warnings.warn("Report.mode is deprecated: use Report.execution (meta, fake or real)",
                      DeprecationWarning, stacklevel=2)
        return self.execution

    @classmethod
    def from_rows(cls, model: str, rows: list[dict], totals: dict[str, int] | None = None, **kwargs) -> "Report":
        """A report over ``build_rows``' rows; the frame is built on first access.
        ``totals``: the sums of the rows' count columns, where the caller has them."""
        report = cls(model, None, **kwargs)
        report._rows = rows
        if totals is not None:
            report._memo["totals"] = dict(totals)
        return report

    def __repr__(self) -> str:
        rows = len(self._rows) if self._layers is None else len(self._layers)
        return f"Report(model={self.model!r}, input={self.input_desc!r}, execution={self.execution!r}, rows={rows})"

    @property
    def layers(self) -> pd.DataFrame:
        if self._layers is None:
            self._layers = _frame(self._rows)
            self._rows = []  # the frame is the one copy from now on (it may be edited in place)
        return self._layers

    @layers.setter
    def layers(self, frame: pd.DataFrame) -> None:
        self._layers, self._rows, self._memo = frame, [], {}

    def _sum_totals(self) -> dict[str, int]:
        if self._layers is None:   # without pandas while the frame has not been built
            return {c: sum(r[c] for r in self._rows) for c in COUNT_COLUMNS}
        return {c: int(v) for c, v in self._layers[COUNT_COLUMNS].sum().items()}

    @property
    def totals(self) -> dict[str, int]:
        """Sums of the count columns over all rows, as ints: what ``total`` holds,
        read without pandas while the frame has not been built."""
        # the frame, once built, holds the same rows: the sums made from either stay true
        return dict(self._derived("totals", self._sum_totals))

    @property
    def total(self) -> pd.Series:
        """Sums of the count columns over all rows (``totals`` as a Series)."""
        return self._derived("total", self._make_total).copy()

    def _make_total(self) -> pd.Series:
        import pandas as pd
        totals = self._derived("totals", self._sum_totals)
        return pd.Series([totals[c] for c in COUNT_COLUMNS], index=pd.Index(COUNT_COLUMNS), dtype="int64")

    @property
    def passes(self) -> pd.DataFrame | None:
        """Training profiles: mults, adds, other, macs and flops of the forward, the
        backward and both (rows "forward", "backward", "forward+backward": the model
        FLOPs of MFU); with activation checkpointing also "recompute" (the forward
        work the backward reran) and "forward+backward+recompute" (the hardware
        FLOPs of HFU); else None."""
        passes = self._derived("passes", self._make_passes)
        return None if passes is None else passes.copy()

    def _make_passes(self) -> pd.DataFrame | None:
        if "bwd_macs" not in self.layers:
            return None
        from profiler.report.utilisation import pass_totals
        return pass_totals(self.layers)

    @property
    def uncounted(self) -> pd.DataFrame:
        """Rows whose cost is unknown: a module or op with no formula (forward, or
        backward in a training profile)."""
        return self._derived("uncounted", self._make_uncounted).copy()

    def _make_uncounted(self) -> pd.DataFrame:
        bad = self.layers["status"] == "uncounted"
        if "bwd_status" in self.layers:
            bad |= self.layers["bwd_status"] == "uncounted"
        return self.layers[bad]

    def utilisation(self, step_time: float | None = None, peak: Any = None,
                    tokens_per_second: float | None = None):
        """MFU and HFU of this step timed at ``step_time`` seconds (or, for a
        language model, at ``tokens_per_second``: step time = batch × tokens /
        tokens_per_second) on a device of ``peak`` FLOP/s: a number, or a
        ``profiler.measure.roofline.Peaks`` such as ``table_peaks("H100",
        "bfloat16")`` (default: the peaks of the report's measurement).
        MFU = model FLOPs / (step_time × peak), HFU the same of the hardware FLOPs
        (with activation checkpointing's recompute); FLOPs are the report's exact
        mults + adds + other, with the 2 FLOPs per MAC figures of PaLM and nanoGPT
        beside them.  Returns a ``profiler.report.utilisation.Utilisation`` (its
        ``to_dict()`` has every figure), which the text, Markdown and JSON reports
        then show, the last one asked for, computed again from the counts as they
        stand.  Bad arguments raise ProfilerError."""
        from profiler.report.utilisation import utilisation
        result = utilisation(self, step_time, peak, tokens_per_second)
        self._utilisation = dict(step_time=step_time, peak=peak, tokens_per_second=tokens_per_second)
        return result

    def shown_utilisation(self):
        """The Utilisation the reports show: that of the last ``utilisation()``
        call, from the counts as they are now; None before any."""
        if self._utilisation is None:
            return None
        from profiler.report.utilisation import utilisation
        return utilisation(self, **self._utilisation)

    def _utilisation_lines(self, markdown: bool) -> list[str]:
        shown = self.shown_utilisation()
        if shown is None:
            return []
        if markdown:
            return ["## Utilisation", "", *(f"- **{k}**: {v}" for k, v in shown.lines()), ""]
        return ["utilisation:", *(f"  {k}: {v}" for k, v in shown.lines()), ""]

    def _memory_lines(self, markdown: bool, plot: str | None = None) -> list[str]:
        """The memory section (profiler.report.memory), linking the memory plot beside
        ``plot``; nothing without ``memory``."""
        if self.memory is None:
            return []
        from profiler.report.memory import markdown_section, plot_path, text_section
        return markdown_section(self, plot_path(plot) if plot else None) if markdown else text_section(self)

    def moved_bytes(self, frame: pd.DataFrame | None = None) -> pd.Series:
        """Bytes each row moves in a no-reuse model of memory traffic:
        params × itemsize + in_bytes (inputs read) + act_bytes (outputs written)."""
        frame = self.layers if frame is None else frame
        return frame["params"] * self.itemsize + frame["in_bytes"] + frame["act_bytes"]

    @property
    def intensity(self) -> float:
        """Arithmetic intensity of the whole model: total FLOPs / total moved bytes
        (see ``moved_bytes``); 0.0 when nothing moves."""
        return self._derived("intensity", self._make_intensity)

    def _make_intensity(self) -> float:
        moved = int(self.moved_bytes().sum())
        return float(self._derived("totals", self._sum_totals)["flops"]) / moved if moved else 0.0

    @property
    def by_kind(self) -> pd.DataFrame:
        """Totals per layer kind, with each kind's share (%) of every count column
        (``mults_%``, ``params_%``, ...) and its arithmetic ``intensity`` (FLOPs per
        moved byte, see ``moved_bytes``).  Answers "are linear layers compute heavy?"."""
        return self._by_kind().copy()

    def _by_kind(self) -> pd.DataFrame:
        """``by_kind`` itself, for reading only (the property hands out copies)."""
        return self._derived("by_kind", self._make_by_kind)

    def _make_by_kind(self) -> pd.DataFrame:
        grouped = self.layers.groupby("kind", sort=False)
        out = grouped[COUNT_COLUMNS].sum()
        out.insert(0, "rows", grouped.size())
        order = [k for k in KINDS if k in out.index]
        out = out.loc[order]
        total = self._derived("totals", self._sum_totals)
        for col in SHARED:
            out[f"{col}_%"] = 100.0 * out[col] / total[col] if total[col] else 0.0
        moved = self.moved_bytes(out)
        out["intensity"] = (out["flops"] / moved.where(moved > 0)).fillna(0.0)
        out = out.reset_index()
        if self.measurement is not None:   # time by kind, next to the counts (profiler.report.measured)
            from profiler.report.measured import kind_columns
            out = kind_columns(self, out)
        return out

    def share(self, kind: str, column: str) -> float:
        """``kind``'s share (%) of ``column``, e.g. share("linear", "params")."""
        row = self._derived("by_kind_indexed", lambda: self._by_kind().set_index("kind"))
        return float(row.loc[kind, f"{column}_%"]) if kind in row.index else 0.0

    # --- rendering ---------------------------------------------------------------

    def header(self) -> str:
        dtype = "" if self.dtype == "float32" else f" · {self.dtype}"
        return f"{self.model} · input {self.input_desc} · batch {self.batch} · {self.execution} tensors{dtype}"

    def finding(self) -> str:
        """One plain-language sentence on where parameters and multiplications sit,
        and how many FLOPs each moved byte buys, overall and per heavy kind."""
        kinds = self._derived("by_kind_indexed", lambda: self._by_kind().set_index("kind"))
        parts, rates = [], []
        for kind, label in KIND_LABELS.items():
            if kind in kinds.index and (kinds.loc[kind, "params"] or kinds.loc[kind, "mults"]):
                parts.append(f"{label}: {self.share(kind, 'params'):.1f}% of parameters, "
                             f"{self.share(kind, 'mults'):.1f}% of multiplications")
                rates.append(f"{label} {kinds.loc[kind, 'intensity']:.1f}")
        parts.append(f"arithmetic intensity {self.intensity:.1f} FLOPs per byte moved overall"
                     + (f" ({', '.join(rates)})" if rates else ""))
        if self.language is not None:
            parts.append(self.language.finding())
        if self.memory is not None:
            from profiler.report.memory import finding
            parts.append(finding(self.memory, self.memory_plan))
        return "; ".join(parts)

    def _totals_frame(self) -> pd.DataFrame:
        import pandas as pd
        frame = pd.DataFrame([self._derived("totals", self._sum_totals)])
        frame["intensity"] = round(self.intensity, 2)
        return frame

    def _kind_shares(self) -> pd.DataFrame:
        frame = self._by_kind()[["kind", *(f"{c}_%" for c in SHOWN_SHARES), "intensity"]].copy()
        frame["intensity"] = frame["intensity"].round(2)
        return frame

    def _tables(self, units: str, markdown: bool, layers: pd.DataFrame | None) -> dict[str, str]:
        from profiler.report.render import table
        layers = self.layers if layers is None else layers
        passes = self._derived("passes", self._make_passes)
        return dict(
            layers=table(layers[[c for c in LAYER_VIEW + BWD_COLUMNS + RC_COLUMNS if c in layers]],
                         COUNT_COLUMNS + BWD_COLUMNS + RC_COLUMNS, units=units, markdown=markdown),
            **({} if passes is None else {"passes": table(passes, ["mults", "adds", "other", "macs", "flops"],
                                                          units=units, markdown=markdown)}),
            kinds=table(self._by_kind()[["kind", "rows", *COUNT_COLUMNS]], COUNT_COLUMNS + ["rows"], (),
                        units, markdown),
            shares=table(self._kind_shares(), ["intensity"], [f"{c}_%" for c in SHOWN_SHARES], units, markdown),
            total=table(self._totals_frame(), COUNT_COLUMNS + ["intensity"], units=units, markdown=markdown))

    def to_string(self, units: str = "grouped", layers: pd.DataFrame | None = None,
                  layers_note: str = "", verbose: bool = False) -> str:
        """The terminal report.  ``layers`` replaces the per-layer table (a grouped,
        sorted or cut view, see profiler.report.grouping); totals and kinds stay whole-model.
        Each note is one short line (``render.short_note``) under the header, and
        only there; ``verbose`` prints the notes' full text instead."""
        from profiler.report.render import short_note
        uncounted, t = self._derived("uncounted", self._make_uncounted), self._tables(units, False, layers)
        notes = [str(n) if verbose else short_note(n) for n in self.notes]
        lines = [self.header(), *[f"note: {n}" for n in notes], "",
                 *([layers_note] if layers_note else []), t["layers"], "",
                 "by kind:", t["kinds"], "",
                 "by kind, share of the total and arithmetic intensity (FLOPs per byte moved):",
                 t["shares"], "",
                 "total:", t["total"], "",
                 *(["forward and backward:", t["passes"], ""] if "passes" in t else []),
                 *(["language model:", *(f"  {k}: {v}" for k, v in self.language.lines()), ""]
                   if self.language is not None else []),
                 *self._utilisation_lines(markdown=False),
                 *self._memory_lines(markdown=False),
                 *(self._measured_lines(units, layers, markdown=False)),
                 f"finding: {self.finding()}",
                 *([f"finding in time: {self._time_finding()}"] if self.measurement is not None else [])]
        if len(uncounted):
            lines.append("uncounted: " + ", ".join(f"{r.name} ({r.type}: {r.ops or 'no formula'})"
                                                   for r in uncounted.itertuples()))
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.to_string()

    def _repr_html_(self) -> str:
        """The report in a Jupyter notebook (see profiler.report.html_report)."""
        from profiler.report.html_report import to_html
        return to_html(self)

    def markdown(self, units: str = "grouped", layers: pd.DataFrame | None = None,
                 layers_note: str = "", plot: str | None = None) -> str:
        """The report as Markdown; ``plot`` is a link (relative to the Markdown file)
        to an image embedded under "Plot"; the finding comes last."""
        uncounted, t = self._derived("uncounted", self._make_uncounted), self._tables(units, True, layers)
        parts = [f"# {self.model}", "", self.header() + ".", ""]
        if self.measurement is not None:   # where the times come from, before anything else
            from profiler.report.measured import markdown_banner
            parts += [markdown_banner(self), ""]
        parts += [f"- {n}" for n in self.notes] + ([""] if self.notes else [])
        parts += ["## Total", "", t["total"], "",
                  *(["## Forward and backward", "", t["passes"], ""] if "passes" in t else []),
                  *(["## Language model", "", *(f"- **{k}**: {v}" for k, v in self.language.lines()), ""]
                    if self.language is not None else []),
                  *self._utilisation_lines(markdown=True),
                  *self._memory_lines(markdown=True, plot=plot),
                  "## By kind", "", t["kinds"], "",
                  "Share of the total (%) and arithmetic intensity:", "", t["shares"], "",
                  INTENSITY_NOTE + ".", "", *self._measured_lines(units, layers, markdown=True)]
        if plot:
            what = ("roofline per layer, share of time and of FLOPs by kind" if self.measurement is not None
                    else "per-layer multiplications and parameters, shares by kind")
            parts += ["## Plot", "", f"![{self.model}: {what}]({plot})", ""]
        parts += ["## Per layer", "", *([layers_note, ""] if layers_note else []), t["layers"], ""]
        parts += ["## Uncounted", ""]
        parts += [f"- `{r.name}` ({r.type}): {r.ops or 'no formula'}" for r in uncounted.itertuples()] \
            or ["None: every row is counted."]
        parts += ["", "## Finding", "", self.finding() + ".", ""]
        if self.measurement is not None:
            parts += [f"In time: {self._time_finding()}.", ""]
        return "\n".join(parts)

    def _measured_lines(self, units: str, layers: pd.DataFrame | None, markdown: bool) -> list[str]:
        """The measured (or roofline-predicted) section; nothing when not measured."""
        if self.measurement is None:
            return []
        from profiler.report.measured import markdown_section, text_section
        return (markdown_section if markdown else text_section)(self, units, layers)

    def _time_finding(self) -> str:
        from profiler.report.measured import finding
        return finding(self)

    def to_csv(self, path: str | Path, table_name: str = "layers", layers: pd.DataFrame | None = None) -> Path:
        """Write the per-layer (or ``by_kind``) table as CSV with raw integers;
        ``layers`` replaces the per-layer rows (a grouped, sorted or cut view)."""
        frame = self._by_kind() if table_name == "by_kind" else (self.layers if layers is None else layers)
        return atomic.write_text(path, frame.to_csv(index=False))

    def to_markdown(self, path: str | Path, units: str = "grouped", layers: pd.DataFrame | None = None,
                    layers_note: str = "", plot: str | Path | None = None) -> Path:
        """Write ``markdown()``; ``plot`` (a path) is linked relative to ``path``."""
        link = Path(os.path.relpath(plot, Path(path).parent)).as_posix() if plot else None
        return atomic.write_text(path, self.markdown(units, layers, layers_note, link))
