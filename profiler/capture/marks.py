"""The marks a module call's ops leave while the forward runs: the evidence from
which profiler.count.kinds later names a formula-less row's kind.

Only matmul-family and softmax ops in a formula-less module leave one.  The marks
advance ``CallRecord.pattern`` (profiler.capture.record), a few letters that say how
far the call's ops have come along the attention pattern: an activation matmul, a
softmax, another activation matmul, or one scaled-dot-product attention op.  The
pattern has a constant size however many ops run.
"""
from __future__ import annotations

from typing import Any

import torch

# the marks a module call's ops leave, in order
OWN_MATMUL = "L"      # a matmul-family op against one of the module's own parameters (its FLOPs: linear)
PARAM_MATMUL = "P"    # ... against another module's parameter (F.linear(x, self.qkv.weight))
ACT_MATMUL = "M"      # ... of two activations (no parameter operand)
SOFTMAX = "S"         # a softmax op, or an nn.Softmax child called
SDPA = "A"            # a scaled-dot-product attention op
# CallRecord.pattern: "" → "M" (an activation matmul) → "MS" (then a softmax) →
# "MSM" (then another activation matmul); "A" after an SDPA op.  "MSM" and "A" stay.
_NEXT = {("", ACT_MATMUL): "M", ("M", SOFTMAX): "MS", ("MS", ACT_MATMUL): "MSM"}
ATTENTION = ("MSM", SDPA)

SOFTMAX_OPS = frozenset({"_softmax", "softmax", "_safe_softmax"})


def op_mark(name: str, kind: str) -> str | None:
    """The mark an aten op (its packet's name, its formula's kind) leaves on the
    module call it is charged to: SDPA, ACT_MATMUL for any other matmul-family op
    (which the capture tells apart by its operands: OWN_MATMUL, PARAM_MATMUL or
    ACT_MATMUL), SOFTMAX, or None."""
    if kind == "matmul":
        return SDPA if "scaled_dot_product" in name else ACT_MATMUL
    if name in SOFTMAX_OPS:
        return SOFTMAX
    return None


def storage_key(t: torch.Tensor) -> Any:
    """What a tensor and its views share: its storage (meta and fake tensors have
    one too); the tensor itself where there is none (a wrapper subclass)."""
    try:
        return t.untyped_storage()._cdata
    except Exception:  # no storage to read: compare the tensor itself
        return id(t)


def advance(pattern: str, mark: str) -> str:
    """The attention pattern after one more mark (see CallRecord.pattern)."""
    if pattern in ATTENTION:
        return pattern
    return SDPA if mark == SDPA else _NEXT.get((pattern, mark), pattern)
