"""One forward pass with hooks on every module and a dispatch mode below them.

Forward pre/post hooks record each module call's input and output shapes (call by
call: a module run twice gives two records).  A TorchDispatchMode sees every aten
op and charges it to the innermost running module, unless an enclosing module has
an analytic formula, which then accounts for everything inside it.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves, tree_map

from .cost import ZERO, Cost, Shape
from .formulas import find_aten_formula, find_module_formula
from .formulas.aten_ops import ZERO_COST_OPS
from .formulas.registry import AtenFormula, ModuleFormula
from .metacache import MetaReplay


def _tensor_leaves(tree: Any) -> list[torch.Tensor]:
    """The tensors among tree_leaves(tree), in order.  The hooks' usual trees (a
    tensor; (args, {}) with tensor args) skip pytree, which costs more than the hook."""
    if isinstance(tree, torch.Tensor):
        return [tree]
    if type(tree) is tuple and len(tree) == 2 and type(tree[0]) is tuple and type(tree[1]) is dict \
            and not tree[1] and all(isinstance(t, torch.Tensor) for t in tree[0]):
        return list(tree[0])
    return [t for t in tree_leaves(tree) if isinstance(t, torch.Tensor)]


def shapes_of(tree: Any) -> tuple[Shape, ...]:
    return tuple(tuple(t.shape) for t in _tensor_leaves(tree))


def bytes_of(tree: Any) -> tuple[int, int]:
    """(elements, bytes) of the tensors in a nested structure."""
    tensors = _tensor_leaves(tree)
    return sum(t.numel() for t in tensors), sum(t.numel() * t.element_size() for t in tensors)


def _as_shape(x: Any) -> Any:
    return tuple(x.shape) if isinstance(x, torch.Tensor) else x


def grads_of(tree: Any) -> tuple[bool, ...]:
    """Per tensor leaf: whether autograd will want its gradient."""
    on = torch.is_grad_enabled()
    return tuple(on and t.requires_grad for t in _tensor_leaves(tree))


@dataclass
class OpRecord:
    """One functional op as the backward formulas read it (training profiles only):
    tensors as shapes; ``needs[i]``: whether positional argument i holds a tensor
    that requires grad."""

    func: Any
    out: Any
    args: tuple
    kwargs: dict
    needs: tuple[bool, ...]


def _record(func, out, args, kwargs) -> OpRecord:
    needs = tuple(any(grads_of(a)) for a in args)
    return OpRecord(func, tree_map(_as_shape, out), tree_map(_as_shape, args),
                    tree_map(_as_shape, kwargs), needs)


@dataclass
class ModuleCall:
    """One call of one module, as the hooks and the dispatch mode saw it."""

    name: str
    module: nn.Module
    depth: int
    formula: ModuleFormula | None
    absorbed: bool                      # inside a module whose formula counts it
    inputs: tuple[Shape, ...] = ()
    outputs: tuple[Shape, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    out_elems: int = 0
    out_bytes: int = 0
    in_bytes: int = 0                   # bytes of the tensors the call was given
    ops: Counter = field(default_factory=Counter)            # counted functional ops
    uncounted_ops: Counter = field(default_factory=Counter)  # ops with no formula
    op_cost: Cost = ZERO
    op_kind_flops: Counter = field(default_factory=Counter)
    op_elems: int = 0
    op_bytes: int = 0
    op_in_bytes: int = 0                # bytes of the tensors the counted functional ops read
    input_grads: tuple[bool, ...] = ()  # per input tensor: requires grad (training profiles)
    op_records: list[OpRecord] = field(default_factory=list)  # every functional op (training profiles)
    finished: bool = False

    @property
    def counts_inside(self) -> bool:
        """True when this call's formula (or an ancestor's) accounts for all ops below it."""
        return self.absorbed or self.formula is not None


class _OpCounter(TorchDispatchMode):
    """Charges each aten op to the innermost module call on the stack."""

    def __init__(self, stack: list[ModuleCall], record: bool = False):
        super().__init__()
        self.stack = stack
        self.record = record  # keep each op's shapes for the backward formulas
        self._resolved: dict[Any, AtenFormula | str | None] = {}
        self._run = MetaReplay()  # repeated meta ops skip their slow Python kernels

    def _resolve(self, func) -> AtenFormula | str | None:
        """The op's formula, "zero" for a data-movement op, or None if uncounted."""
        if func not in self._resolved:
            packet = func.overloadpacket
            found = find_aten_formula(packet)
            if found is None and (func.is_view or packet.__name__ in ZERO_COST_OPS):
                found = "zero"
            self._resolved[func] = found
        return self._resolved[func]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = self._run(func, args, kwargs)
        if not self.stack or self.stack[-1].counts_inside:
            return out
        call = self.stack[-1]
        if self.record:
            call.op_records.append(_record(func, out, args, kwargs))
        formula = self._resolve(func)
        name = func.overloadpacket.__name__
        if formula == "zero":
            return out
        if formula is None:
            call.uncounted_ops[name] += 1
            return out
        cost = formula.fn(tree_map(_as_shape, out), *tree_map(_as_shape, args),
                          **tree_map(_as_shape, kwargs))
        call.ops[name] += 1
        call.op_cost += cost
        call.op_kind_flops[formula.kind] += cost.flops
        elems, nbytes = bytes_of(out)
        call.op_elems += elems
        call.op_bytes += nbytes
        call.op_in_bytes += bytes_of((args, kwargs))[1]
        return out


class Capture:
    """Hooks every module of ``model``; use as a context manager around one forward.

    ``calls`` lists the module calls in the order they started.  On an exception
    the unfinished calls left on ``stack`` tell which layer failed.
    """

    def __init__(self, model: nn.Module, record_ops: bool = False):
        self.model = model
        self.record_ops = record_ops  # for training profiles: input grads and per-op shapes
        self.calls: list[ModuleCall] = []
        self.stack: list[ModuleCall] = []
        self._handles: list[Any] = []
        self._mode = _OpCounter(self.stack, record_ops)

    def __enter__(self) -> "Capture":
        try:
            for name, module in self.model.named_modules():
                self._handles.append(module.register_forward_pre_hook(
                    self._pre_hook(name, name.count(".") + bool(name)), with_kwargs=True))
                self._handles.append(module.register_forward_hook(self._post_hook, with_kwargs=True))
            self._mode.__enter__()
        except BaseException:
            self._remove_hooks()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._mode.__exit__(*exc)
        finally:
            self._remove_hooks()

    def _remove_hooks(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _pre_hook(self, name: str, depth: int):
        def hook(module, args, kwargs):
            parent = self.stack[-1] if self.stack else None
            call = ModuleCall(
                name=name, module=module, depth=depth, formula=find_module_formula(module),
                absorbed=parent is not None and parent.counts_inside,
                inputs=shapes_of((args, kwargs)), in_bytes=bytes_of((args, kwargs))[1],
                input_grads=grads_of((args, kwargs)) if self.record_ops else (),
                kwargs={k: v for k, v in kwargs.items() if not isinstance(v, torch.Tensor)})
            self.calls.append(call)
            self.stack.append(call)
        return hook

    def _post_hook(self, module, args, kwargs, output):
        call = self.stack.pop()
        call.outputs = shapes_of(output)
        call.out_elems, call.out_bytes = bytes_of(output)
        call.finished = True

    @property
    def failed_call(self) -> ModuleCall | None:
        """The innermost call that had started but not finished (after an error)."""
        return self.stack[-1] if self.stack else None
