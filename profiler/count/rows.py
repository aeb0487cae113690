"""Turn captured module calls into report rows, one per call that costs or owns something."""
from __future__ import annotations

import warnings
from typing import Any

from torch import nn

from profiler.capture.record import CallRecord
from profiler.formulas.cost import ZERO, Cost
from profiler.formulas.registry import CallShapes
from profiler.count.kinds import row_kind


def _call_cost(call: CallRecord) -> tuple[Cost, str, str, str]:
    """(cost, kind, status, ops description) of a call that is not absorbed: the
    formula's kind, else the kind of what the call computed (profiler.count.kinds)."""
    if call.formula is not None:
        try:
            cost = call.formula.fn(call.module, CallShapes(call.inputs, call.outputs, call.kwargs))
        except Exception as exc:  # a formula that cannot read this call is reported, not hidden
            return ZERO, call.formula.kind, "uncounted", f"formula failed: {exc}"
        return cost, call.formula.kind, "formula", ""
    ops = ", ".join(f"{op}×{n}" for op, n in call.ops.items())
    if call.uncounted_ops:
        missing = ", ".join(f"{op}×{n}" for op, n in call.uncounted_ops.items())
        ops = "; ".join(x for x in (ops, f"no formula: {missing}") if x)
        status = "uncounted"
    else:
        status = "functional" if call.ops else "zero"
    return call.op_cost, row_kind(call), status, ops


def _is_leaf(module: nn.Module) -> bool:
    """No child modules: what ``next(module.children(), None) is None`` says, read
    from the module's slots (children() is a generator over named_children())."""
    children = module._modules
    return not children or all(m is None for m in children.values())


def _own_params(module: nn.Module, recurse: bool, seen: set[int], is_leaf: bool | None = None) -> int:
    total = 0
    # a leaf's own slots hold what parameters() yields, without its generator
    # machinery (a third of build_rows' time); a container's subtree needs the walk
    if recurse and is_leaf is None:
        is_leaf = _is_leaf(module)
    params = module.parameters() if recurse and not is_leaf else module._parameters.values()
    for p in params:
        if p is not None and id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total


def _with_backward(row: dict[str, Any], bwd) -> None:
    """Add the backward columns (training profiles; see profiler.formulas.backward)."""
    from profiler.count.backward import backward_columns
    cost, status, missing = bwd
    row.update(backward_columns(cost), bwd_status=status)
    if missing:
        row["ops"] = "; ".join(x for x in (row["ops"], f"backward: {missing}") if x)


def _recompute_cost(call: CallRecord) -> Cost:
    """What rerunning ``call`` cost, from its recompute twin (activation checkpointing:
    profiler.capture.autograd).  A twin the rerun left unfinished (the non-reentrant
    variant stops once it has the last tensor it needs, which autograd saves before the
    op that needs it runs) ran the ops it dispatched: its functional ops are counted
    as they came; a formula module's is counted whole if an op with a formula ran
    inside it (``ran``: its work done), else as nothing (stopped before its work:
    a Linear stops at its matmul's inputs)."""
    twin = call.twin
    if twin is None:
        return ZERO
    if twin.formula is not None and not twin.finished:
        if not twin.ran:
            return ZERO
        twin = call
    return _call_cost(twin)[0] if twin.formula is not None or not twin.absorbed else ZERO


def _loose_cost(loose: list[CallRecord]) -> Cost:
    """Recomputed work attributed to no original call: ops the rerun ran outside any
    module call, and recompute calls with no original to pair with."""
    cost = ZERO
    for call in loose:
        cost += _call_cost(call)[0] if call.formula is not None and call.finished else call.op_cost
    return cost


def _with_recompute(row: dict[str, Any], cost: Cost) -> None:
    row.update(rc_mults=cost.mults, rc_adds=cost.adds, rc_other=cost.other, rc_macs=cost.macs)


def build_rows(calls: list[CallRecord], model: nn.Module, training: bool = False,
               named_modules: list[tuple[str, nn.Module]] | None = None,
               loose: list[CallRecord] = ()) -> list[dict[str, Any]]:
    """One row per module call that has a formula, is a leaf, owns parameters or
    ran functional ops; then one row per module holding parameters that the
    forward never used.  Each parameter is counted once, on the first call of
    the first module that holds it, so the params column sums to the model's
    ``sum(p.numel())``.  ``training`` adds the backward columns; ``named_modules``
    is ``list(model.named_modules())`` when the caller has it already.  Where
    activation checkpointing reran calls in the backward (their ``twin``, or
    ``loose`` recomputed work, charged to the first row), every row gets the
    recompute columns (``RC_COLUMNS``): what its rerun cost."""
    extra = _loose_cost(loose) if training and loose else ZERO
    recompute = training and (extra != ZERO or any(call.twin is not None for call in calls))
    if training:
        from profiler.count.backward import call_backward
    seen: set[int] = set()
    rows = []
    for call in calls:
        if call.absorbed:
            continue
        is_leaf = _is_leaf(call.module)
        params = _own_params(call.module, call.formula is not None, seen, is_leaf)
        cost, kind, status, ops = _call_cost(call)
        bwd = call_backward(call) if training else None
        rc = _recompute_cost(call) if recompute else ZERO
        if not rows and extra is not ZERO and extra != ZERO:   # (ZERO itself unless training)
            rc, extra = rc + extra, ZERO
        if not (call.formula or is_leaf or params or call.ops or call.uncounted_ops or rc != ZERO
                or (bwd and (bwd[0] != ZERO or bwd[1] == "uncounted"))):
            continue
        if call.formula is not None or is_leaf:
            elems, nbytes, in_bytes = call.out_elems, call.out_bytes, call.in_bytes
        else:  # a container's output is some child's output: count only what it computed itself
            elems, nbytes, in_bytes = call.op_elems, call.op_bytes, call.op_in_bytes
        rows.append({   # a literal: dict(**keywords) costs twice as much, per row of every profile
            "name": call.name or "(model)", "type": type(call.module).__name__, "kind": kind, "depth": call.depth,
            "input_shapes": call.inputs, "output_shape": call.outputs,
            "params": params, "mults": cost.mults, "adds": cost.adds, "other": cost.other, "macs": cost.macs,
            "flops": cost.flops, "act_elems": elems, "act_bytes": nbytes, "in_bytes": in_bytes, "status": status,
            "ops": ops})
        if bwd:
            _with_backward(rows[-1], bwd)
        if recompute:
            _with_recompute(rows[-1], rc)
    for name, module in (model.named_modules() if named_modules is None else named_modules):
        params = _own_params(module, False, seen)
        if params:
            rows.append(dict(
                name=name or "(model)", type=type(module).__name__, kind="other",
                depth=name.count(".") + bool(name), input_shapes=(), output_shape=(), params=params,
                mults=0, adds=0, other=0, macs=0, flops=0, act_elems=0, act_bytes=0, in_bytes=0,
                status="not called", ops="parameters unused by this forward"))
            if training:
                _with_backward(rows[-1], (ZERO, "not called", ""))
            if recompute:
                _with_recompute(rows[-1], ZERO)
    for row in rows:
        if row["status"] == "uncounted":
            warnings.warn(f"profiler: {row['name']} ({row['type']}) is uncounted: "
                          f"{row['ops'] or 'no formula'}", stacklevel=3)
        elif row.get("bwd_status") == "uncounted":
            warnings.warn(f"profiler: the backward of {row['name']} ({row['type']}) is uncounted: "
                          f"{row['ops']}", stacklevel=3)
    return rows
