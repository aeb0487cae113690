"""The Report: a per-layer DataFrame and the tables derived from it."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import atomic
from .formulas.registry import KINDS
from .render import table
from .rows import COLUMNS, COUNT_COLUMNS

SHARED = ["mults", "adds", "params", "act_bytes"]
LAYER_VIEW = ["name", "type", "kind", "input_shapes", "output_shape", "params", "mults", "adds",
              "other", "macs", "act_bytes"]


@dataclass
class Report:
    """Profile of one model at one input.

    ``layers`` has one row per module call (see README, "Reading a report");
    ``by_kind`` groups them by layer kind with shares; ``total`` sums the rows.
    """

    model: str
    layers: pd.DataFrame
    input_desc: str
    batch: int
    mode: str                          # meta, fake or real: how the forward ran
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_rows(cls, model: str, rows: list[dict], **kwargs) -> "Report":
        layers = pd.DataFrame(rows, columns=COLUMNS)
        layers[COUNT_COLUMNS + ["depth"]] = layers[COUNT_COLUMNS + ["depth"]].astype("int64")
        return cls(model=model, layers=layers, **kwargs)

    @property
    def total(self) -> pd.Series:
        """Sums of the count columns over all rows."""
        return self.layers[COUNT_COLUMNS].sum().astype("int64")

    @property
    def uncounted(self) -> pd.DataFrame:
        """Rows whose cost is unknown: a module or op with no formula."""
        return self.layers[self.layers["status"] == "uncounted"]

    @property
    def by_kind(self) -> pd.DataFrame:
        """Totals per layer kind, with each kind's share (%) of mults, adds, params
        and activation bytes.  Answers "are linear layers compute heavy?"."""
        grouped = self.layers.groupby("kind", sort=False)
        out = grouped[COUNT_COLUMNS].sum()
        out.insert(0, "rows", grouped.size())
        order = [k for k in KINDS if k in out.index]
        out = out.loc[order]
        total = self.total
        for col in SHARED:
            out[f"{col}_%"] = 100.0 * out[col] / total[col] if total[col] else 0.0
        return out.reset_index()

    def share(self, kind: str, column: str) -> float:
        """``kind``'s share (%) of ``column``, e.g. share("linear", "params")."""
        row = self.by_kind.set_index("kind")
        return float(row.loc[kind, f"{column}_%"]) if kind in row.index else 0.0

    # --- rendering ---------------------------------------------------------------

    def header(self) -> str:
        return f"{self.model} · input {self.input_desc} · batch {self.batch} · {self.mode} tensors"

    def finding(self) -> str:
        """One plain-language sentence on where params and compute sit."""
        parts = []
        for kind in ("linear", "conv", "matmul", "attention"):
            if self.share(kind, "params") or self.share(kind, "mults"):
                parts.append(f"{kind}: {self.share(kind, 'params'):.1f}% of parameters, "
                             f"{self.share(kind, 'mults'):.1f}% of multiplications")
        return "; ".join(parts)

    def _totals_frame(self) -> pd.DataFrame:
        return pd.DataFrame([self.total.to_dict()])

    def to_string(self, units: str = "grouped") -> str:
        uncounted = self.uncounted
        lines = [self.header(), *[f"note: {n}" for n in self.notes], "",
                 table(self.layers[LAYER_VIEW], COUNT_COLUMNS, units=units), "",
                 "by kind:",
                 table(self.by_kind, COUNT_COLUMNS + ["rows"], [f"{c}_%" for c in SHARED], units), "",
                 "total:", table(self._totals_frame(), COUNT_COLUMNS, units=units), "",
                 f"finding: {self.finding()}"]
        if len(uncounted):
            lines.append("uncounted: " + ", ".join(f"{r.name} ({r.type}: {r.ops or 'no formula'})"
                                                   for r in uncounted.itertuples()))
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.to_string()

    def markdown(self, units: str = "grouped") -> str:
        uncounted = self.uncounted
        parts = [f"# {self.model}", "", self.header() + ".", ""]
        parts += [f"- {n}" for n in self.notes] + ([""] if self.notes else [])
        parts += ["## Total", "", table(self._totals_frame(), COUNT_COLUMNS, units=units, markdown=True), "",
                  "## By kind", "",
                  table(self.by_kind, COUNT_COLUMNS + ["rows"], [f"{c}_%" for c in SHARED], units, True), "",
                  "## Per layer", "",
                  table(self.layers[LAYER_VIEW], COUNT_COLUMNS, units=units, markdown=True), ""]
        parts += ["## Uncounted", ""]
        parts += [f"- `{r.name}` ({r.type}): {r.ops or 'no formula'}" for r in uncounted.itertuples()] \
            or ["None: every row is counted."]
        parts += ["", "## Finding", "", self.finding() + ".", ""]
        return "\n".join(parts)

    def to_csv(self, path: str | Path, table_name: str = "layers") -> Path:
        """Write the per-layer (or ``by_kind``) table as CSV with raw integers."""
        frame = self.by_kind if table_name == "by_kind" else self.layers
        return atomic.write_text(path, frame.to_csv(index=False))

    def to_markdown(self, path: str | Path, units: str = "grouped") -> Path:
        return atomic.write_text(path, self.markdown(units))
