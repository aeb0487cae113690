"""Views of the per-layer table: rows grouped by module depth, sorted, cut to the top K.

Grouping sums every row below depth N into its ancestor at depth N (the module
whose dotted name is the first N parts), as fvcore's and torchinfo's depth
tables do.  The sums are of the count columns, so a group's ``in_bytes`` and
``act_bytes`` are the traffic of its members, not the group's own input and output.
"""
from __future__ import annotations

import pandas as pd

from profiler.errors import ProfilerError
from profiler.columns import BWD_COLUMNS, COUNT_COLUMNS, RC_COLUMNS, SHAPE_COLUMNS, ShapeText

SORT_KEYS = {"mults": "mults", "params": "params", "memory": "act_bytes"}


def _ancestor(name: str, depth: int) -> str:
    if name == "(model)" or depth == 0:
        return "(model)"
    return ".".join(name.split(".")[:depth])


def group_by_depth(layers: pd.DataFrame, depth: int) -> pd.DataFrame:
    """Rows deeper than ``depth`` summed into their ancestor at ``depth``; depth 0
    is the whole model in one row.  Groups keep the order of their first row.

    A group's type is its ancestor's type when the ancestor has a row of its own,
    else "N layers"; its kind is the kind of the member with the most FLOPs (most
    parameters if none has FLOPs); its input is the first member's, its output
    the last member's that ran; it is "uncounted" if any member is."""
    if depth < 0:
        raise ProfilerError(f"depth={depth!r}: expected 0 or more")
    keys = [name if d <= depth else _ancestor(name, depth)
            for name, d in zip(layers["name"], layers["depth"])]
    out = []
    for key, members in layers.groupby(pd.Series(keys, index=layers.index), sort=False):
        own = members[members["name"] == key]
        # + backward in training profiles, + recompute with activation checkpointing
        counts = COUNT_COLUMNS + [c for c in BWD_COLUMNS + RC_COLUMNS if c in members]
        row = members[counts].sum().astype("int64").to_dict()
        weight = members["flops"] if members["flops"].any() else members["params"]
        ran = members[members["output_shape"] != ""]
        uncounted = members[members["status"] == "uncounted"]
        out.append(dict(
            name=key, type=own["type"].iloc[0] if len(own) else f"{len(members)} layers",
            kind=members.loc[weight.idxmax(), "kind"], depth=min(int(members["depth"].min()), depth),
            input_shapes=members["input_shapes"].iloc[0],
            output_shape=ran["output_shape"].iloc[-1] if len(ran) else ShapeText(),
            **row,
            status="uncounted" if len(uncounted) else (members["status"].iloc[0] if len(members) == 1
                                                         else "grouped"),
            ops="; ".join(o for o in uncounted["ops"] if o) if len(uncounted) else
                (members["ops"].iloc[0] if len(members) == 1 else "")))
    frame = pd.DataFrame(out, columns=layers.columns)
    for column in SHAPE_COLUMNS:   # object dtype: a string column would drop the shapes the text carries
        frame[column] = pd.Series([r[column] for r in out], index=frame.index, dtype=object)
    return frame


def sort_layers(layers: pd.DataFrame, key: str) -> pd.DataFrame:
    """Largest first by ``key`` (mults, params or memory = output activation bytes);
    ties keep table order."""
    if key not in SORT_KEYS:
        raise ProfilerError(f"sort={key!r}: choose one of {', '.join(SORT_KEYS)}")
    return layers.sort_values(SORT_KEYS[key], ascending=False, kind="stable")


def view(layers: pd.DataFrame, depth: int | None = None, sort: str | None = None,
         top: int | None = None) -> tuple[pd.DataFrame, str]:
    """The per-layer table grouped, then sorted, then cut; with a one-line note
    saying what was done ("" when nothing was).  ``top`` without ``sort`` sorts by mults."""
    notes = []
    if depth is not None:
        layers = group_by_depth(layers, depth)
        notes.append(f"rows grouped to depth {depth}")
    if top is not None:
        if top < 1:
            raise ProfilerError(f"top={top!r}: expected a positive integer")
        sort = sort or "mults"
    if sort is not None:
        layers = sort_layers(layers, sort)
        notes.append(f"sorted by {sort}")
    if top is not None:
        notes.append(f"top {min(top, len(layers))} of {len(layers)} rows")
        layers = layers.head(top)
    return layers.reset_index(drop=True), ("; ".join(notes).capitalize() + "." if notes else "")
