"""The formula registry: module formulas and op formulas, forward and backward.

Four tables, one per (key, direction).  Module formulas are keyed by module class
and looked up along the class MRO, so a subclass (LayerNorm2d, a user's Conv2d
subclass) inherits its parent's: ``module_formula(*types, kind=...)`` registers
``fn(module, call) -> Cost``, ``module_backward(*types)`` ``fn(module, call, needs)
-> Cost``.  Op formulas count functional ops that run outside any formula module,
keyed by aten op overload packet (``torch.ops.aten.mm``): ``aten_formula(*ops,
kind=...)`` registers ``fn(out, *args, **kwargs) -> Cost``, ``op_backward(*ops)``
``fn(needs, out, *args, **kwargs) -> Cost`` (or None where it cannot count the
call), which an op's in-place variant shares (the forward lists in-place variants
itself).  Tensors arrive as shapes, everything else as given; ``needs[i]``: whether
the i-th input tensor requires grad.  ``find_*`` finds each.  A key registers once
per table (a second registration raises), so which formula counts an op never
depends on the order the files load in.

The rules for a kind's files (docs/contributing.md, "Adding a layer kind", walks
through one): ``forward/<group>.py`` holds the cost functions, each docstring stating
its convention (what is a mult, an add, an ``other``; what is counted and what is
not), and computes, once, by a public function, the quantities its backward needs
too (window sizes, taps, group sizes, parsed shapes); ``backward/<group>.py``, the
same name, imports them.  ``profiler.formulas`` loads every file of both folders.
Tests count independently (brute-force scalars, FlopCounterMode, fvcore, by hand),
never against our own output.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import wraps
from types import MappingProxyType
from typing import Any, Callable, Mapping

import torch
from torch import nn

from profiler.formulas.cost import ZERO, Cost, Shape

from profiler.columns import KINDS  # noqa: F401 (re-exported: the kinds a formula may name)


@dataclass(frozen=True)
class CallShapes:
    """What a formula sees of one module call: shapes, not values."""

    inputs: tuple[Shape, ...]
    outputs: tuple[Shape, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def x(self) -> Shape:
        return self.inputs[0]

    @property
    def out(self) -> Shape:
        return self.outputs[0]


ModuleFn = Callable[[nn.Module, CallShapes], Cost]
AtenFn = Callable[..., Cost]  # fn(out_shape, *arg_shapes_or_values, **kwargs) -> Cost
ModuleBackward = Callable[[nn.Module, CallShapes, tuple], Cost]  # fn(module, call, needs) -> Cost
OpBackward = Callable[..., "Cost | None"]  # fn(needs, out_shape, *arg_shapes_or_values, **kwargs)


@dataclass(frozen=True)
class ModuleFormula:
    fn: ModuleFn
    kind: str


@dataclass(frozen=True)
class AtenFormula:
    fn: AtenFn
    kind: str


_MODULE_FORMULAS: dict[type, ModuleFormula] = {}
_ATEN_FORMULAS: dict[Any, AtenFormula] = {}
_MODULE_BACKWARDS: dict[type, ModuleBackward] = {}
_OP_BACKWARDS: dict[Any, OpBackward] = {}


def _add(table: dict, key: Any, value: Any, what: str) -> None:
    if key in table:
        raise ValueError(f"{what} of {key} registered twice")
    table[key] = value


def _along_mro(table: dict, module: nn.Module) -> Any:
    for cls in type(module).__mro__:
        found = table.get(cls)
        if found is not None:
            return found
    return None


def _registering(table: dict, keys: Any, what: str, entry: Callable = lambda fn: fn) -> Callable:
    """A decorator that registers ``entry(fn)`` under each of ``keys`` and returns fn."""
    def register(fn: Callable) -> Callable:
        for key in keys:
            _add(table, key, entry(fn), what)
        return fn

    return register


def _inplace_variant(op: Any) -> Any:
    """``aten.add_`` for ``aten.add``, or None where aten has no in-place variant."""
    name = op.__name__
    namespace = getattr(torch.ops, op._qualified_op_name.split("::")[0])
    return None if name.endswith("_") else getattr(namespace, name + "_", None)


# --- forward ---------------------------------------------------------------------

def module_formula(*types: type, kind: str) -> Callable[[ModuleFn], ModuleFn]:
    """Register ``fn(module, call) -> Cost`` for these module classes and their subclasses."""
    assert kind in KINDS, kind
    return _registering(_MODULE_FORMULAS, types, "forward formula", lambda fn: ModuleFormula(fn, kind))


def find_module_formula(module: nn.Module) -> ModuleFormula | None:
    return _along_mro(_MODULE_FORMULAS, module)


def aten_formula(*ops: Any, kind: str) -> Callable[[AtenFn], AtenFn]:
    """Register ``fn(out, *args, **kwargs) -> Cost`` for aten op packets.  Tensor
    arguments and the output arrive as shapes; everything else as given."""
    assert kind in KINDS, kind
    return _registering(_ATEN_FORMULAS, ops, "forward formula", lambda fn: AtenFormula(fn, kind))


def find_aten_formula(packet: Any) -> AtenFormula | None:
    return _ATEN_FORMULAS.get(packet)


# --- backward --------------------------------------------------------------------

def _needing(fn: Callable, inputs: tuple[int, ...], at: int) -> Callable:
    """``fn``, or where ``inputs`` names the only inputs whose gradients it counts,
    ``fn`` called only when one of them needs a gradient, ZERO otherwise (``needs``
    is its argument number ``at``)."""
    if not inputs:
        return fn

    @wraps(fn)
    def needing(*args: Any, **kwargs: Any) -> Any:
        needs = args[at]
        if not any(len(needs) > i and needs[i] for i in inputs):
            return ZERO
        return fn(*args, **kwargs)

    return needing


def module_backward(*types: type, inputs: tuple[int, ...] = ()) -> Callable[[ModuleBackward], ModuleBackward]:
    """Register ``fn(module, call, needs) -> Cost`` for these module classes and
    their subclasses; ``needs[i]``: whether the i-th input tensor of the call
    requires grad (the module's own parameters say so themselves).  ``inputs``:
    for a module whose backward computes the gradients of these inputs and nothing
    else, the backward is ZERO where none of them needs one, without calling fn.
    Returns what the registry calls."""
    register = _registering(_MODULE_BACKWARDS, types, "backward formula")
    return lambda fn: register(_needing(fn, inputs, 2))


def find_module_backward(module: nn.Module) -> ModuleBackward | None:
    return _along_mro(_MODULE_BACKWARDS, module)


def op_backward(*ops: Any, inputs: tuple[int, ...] = ()) -> Callable[[OpBackward], OpBackward]:
    """Register ``fn(needs, out, *args, **kwargs) -> Cost | None`` for aten op
    packets and their in-place variants; ``needs[i]``: whether the i-th argument
    requires grad.  ``inputs``: as for ``module_backward``, the arguments whose
    gradients alone fn counts.  Returns what the registry calls."""
    keys = [key for op in ops for key in (op, _inplace_variant(op)) if key is not None]
    register = _registering(_OP_BACKWARDS, keys, "backward formula")
    return lambda fn: register(_needing(fn, inputs, 0))


def find_op_backward(packet: Any) -> OpBackward | None:
    return _OP_BACKWARDS.get(packet)


# --- the op table, read-only: what is registered (profiler.count.kinds) ---

def aten_formulas() -> Mapping[Any, AtenFormula]:
    return MappingProxyType(_ATEN_FORMULAS)
