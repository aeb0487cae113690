"""Backward counts per captured call (module formulas by class, functional ops by
aten op); the forward / backward / total table is the report's
(profiler.report.utilisation.pass_totals).  The formulas: the
``backward/<group>.py`` files of ``profiler.formulas``, their conventions in
``profiler.formulas.backward``."""
from __future__ import annotations

from collections import Counter
from typing import Any

from profiler.capture.record import CallRecord, OpRecord
from profiler.formulas.cost import ZERO, Cost
from profiler.formulas.forward.zero import ZERO_COST_OPS
from profiler.formulas.registry import CallShapes, find_module_backward, find_op_backward


def call_backward(call: CallRecord) -> tuple[Cost, str, str]:
    """(cost, status, what is missing) of one row's backward.  Status: "formula"
    (a module backward formula), "functional" (its functional ops, and the
    backward of the custom autograd Functions it made, as that backward ran:
    profiler.capture.autograd), "zero" or "uncounted" (a module or op with no
    backward formula, or a custom Function's backward that could not run or ran
    ops with no formula).

    A call that ran with grad off has no backward: autograd recorded nothing (a
    ``torch.no_grad()`` block, the inside of a custom Function's forward).  Where
    reentrant checkpointing ran it so, its backward is that of the recompute call
    that repeats it with grad on (``twin``)."""
    if not call.grad_on:
        twin = call.twin
        if twin is not None and twin.grad_on:
            return call_backward(twin)
        return ZERO, "zero", ""
    cost, status, missing = _own_backward(call)
    if call.custom_bwd != ZERO or call.custom_missing or call.custom_error:
        cost += call.custom_bwd
        status = "functional" if status in ("zero", "functional") else status
        found = []
        if call.custom_missing:
            found.append("custom Function backward, no formula: "
                         + ", ".join(f"{op}×{n}" for op, n in call.custom_missing.items()))
        if call.custom_error:
            found.append(f"custom Function backward could not run: {call.custom_error}")
        if found:
            status, missing = "uncounted", "; ".join(x for x in (missing, *found) if x)
    return cost, status, missing


def _own_backward(call: CallRecord) -> tuple[Cost, str, str]:
    if call.formula is not None:
        fn = find_module_backward(call.module)
        if fn is None:
            return ZERO, "uncounted", f"no backward formula for {type(call.module).__name__}"
        try:
            return fn(call.module, CallShapes(call.inputs, call.outputs, call.kwargs), call.input_grads), "formula", ""
        except Exception as exc:  # a formula that cannot read this call is reported, not hidden
            return ZERO, "uncounted", f"backward formula failed: {exc}"
    cost, missing = ZERO, Counter()
    for record in call.op_records:
        found = op_backward(record)
        if found is None:
            missing[record.func.overloadpacket.__name__] += 1
        else:
            cost += found
    if missing:
        return cost, "uncounted", "no backward formula: " + ", ".join(f"{op}×{n}" for op, n in missing.items())
    return cost, "functional" if call.ops else "zero", ""


def op_backward(record: OpRecord) -> Cost | None:
    """The backward cost of one functional op, or None when it has no formula.  An
    op without one costs nothing when it only moves data: a view, or an op of
    ``ZERO_COST_OPS`` (in-place variants by their base name too)."""
    if not any(record.needs):
        return ZERO
    fn = find_op_backward(record.func.overloadpacket)
    if fn is None:
        name = record.func.overloadpacket.__name__
        if record.func.is_view or name in ZERO_COST_OPS or name.rstrip("_") in ZERO_COST_OPS:
            return ZERO
        return None
    return fn(record.needs, record.out, *record.args, **record.kwargs)


def backward_columns(cost: Cost) -> dict[str, Any]:
    return dict(bwd_mults=cost.mults, bwd_adds=cost.adds, bwd_other=cost.other, bwd_macs=cost.macs)

