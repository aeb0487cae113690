"""A row's kind by what its module computes, for modules without a registry formula.

A module class with a formula in the registry (nn.Linear, nn.Conv2d, nn.LayerNorm,
...) keeps the formula's kind.  Any other module's row is named after the
functional ops charged to it, by these rules, in this order:

1. **attention**: its own ops hold the attention product: a scaled-dot-product
   attention op, or a matmul of two activations (neither operand a parameter)
   followed by a softmax (an op, or an ``nn.Softmax`` child called in between)
   and another matmul of activations.  Its child projections stay rows of their
   own (linear).
2. **linear**: a matmul-family op (mm, addmm, bmm, baddbmm, matmul, ...; what
   ``F.linear``, ``@`` and ``einsum`` dispatch to) with one of the module's OWN
   parameters as an operand (the tensor in its ``_parameters`` or a view of it,
   compared by storage) counts as linear work; a row is linear when that is the
   largest part of its FLOPs (GPT-2's ``Conv1D``, ``x @ self.w.T + self.b``).
3. **norm**: its ops are only elementwise ops, reductions to a statistic and norm
   ops; they include a norm op (``F.layer_norm``, ``F.rms_norm``, ...) or a
   statistic (mean, var, std, vector norm) with a normalising op (rsqrt, sqrt,
   division, reciprocal); and its first output has its first input's shape
   (LlamaRMSNorm, T5LayerNorm, a hand-written LayerNorm).
4. **activation**: it holds no parameters (nor do its children) and its ops are
   only elementwise ones, among them a nonlinearity (tanh, sigmoid, erf, exp, silu,
   gelu, relu, ...; not clamp): NewGELUActivation's tanh formula, QuickGELU,
   SiLUActivation.  A container's own ``F.relu`` between child layers keeps the
   kind of its ops (elementwise).
5. otherwise the kind of its ops with the most FLOPs (the registry's kind of
   each aten op; matmuls against the module's own parameters count as linear).

Counts never depend on the kind.  The capture gathers the evidence while the
forward runs: the marks its matmul-family and softmax ops leave
(profiler.capture.marks) and ``CallRecord.pattern``, how far they came along the
attention pattern.
"""
from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import torch

from profiler.capture.marks import ATTENTION

if TYPE_CHECKING:
    from profiler.capture.record import CallRecord

STATISTICS = frozenset({"mean", "var", "std", "var_mean", "std_mean", "linalg_vector_norm", "norm"})
NORMALISERS = frozenset({"rsqrt", "sqrt", "div", "true_divide", "reciprocal"})
NONLINEAR = frozenset({
    "tanh", "sigmoid", "erf", "erfc", "exp", "exp2", "expm1", "silu", "gelu", "relu", "relu6",
    "hardtanh", "elu", "selu", "celu", "leaky_relu", "hardsigmoid", "hardswish", "mish", "softplus",
    "softshrink", "hardshrink", "threshold", "rrelu_with_noise", "log_sigmoid_forward", "glu"})
# clamp is no nonlinearity here: it bounds boxes and coordinates far more often than it activates


@lru_cache(maxsize=None)
def _norm_ops() -> frozenset[str]:
    from profiler.formulas.registry import aten_formulas
    return frozenset(op.__name__ for op, f in aten_formulas().items() if f.kind == "norm")


@lru_cache(maxsize=None)
def _norm_evidence() -> frozenset[str]:
    return STATISTICS | _norm_ops()


_ELEMENTWISE_KINDS = ("elementwise", "activation", "norm")  # the kinds a norm or an activation's ops have


@lru_cache(maxsize=None)
def _elementwise(name: str) -> bool:
    """Whether the aten op packet ``name`` (in-place variants by their base name)
    is tagged pointwise, or is a nonlinearity (hardswish carries no tag)."""
    if name in NONLINEAR:
        return True
    packet = getattr(torch.ops.aten, name, None)
    if packet is None:
        return False
    return any(torch.Tag.pointwise in getattr(packet, overload).tags for overload in packet.overloads())


def _base(name: str) -> str:
    return name[:-1] if name.endswith("_") and not name.endswith("__") else name


def _is_norm(names: set[str], call: CallRecord) -> bool:
    norm_ops = _norm_ops()
    if not all(n in STATISTICS or n in norm_ops or _elementwise(n) for n in names):
        return False
    if not (names & norm_ops or (names & STATISTICS and names & NORMALISERS)):
        return False
    return not call.inputs or not call.outputs or call.inputs[0] == call.outputs[0]


def _holds_parameters(call: CallRecord) -> bool:
    return next(call.module.parameters(), None) is not None


def row_kind(call: CallRecord) -> str:
    """The kind of a formula-less module call's row (see the module docstring)."""
    if call.pattern in ATTENTION:
        return "attention"
    flops = call.op_kind_flops  # the kind with the most FLOPs; on a tie the first seen, as Counter.most_common
    kind = max(flops, key=flops.__getitem__) if flops else "other"
    if kind in _ELEMENTWISE_KINDS and call.ops:
        names = {_base(n) for n in call.ops}
        if not names.isdisjoint(_norm_evidence()) and _is_norm(names, call):
            return "norm"
        if not names.isdisjoint(NONLINEAR) and all(_elementwise(n) for n in names) and not _holds_parameters(call):
            return "activation"
    return kind
