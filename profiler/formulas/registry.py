"""Registries of cost formulas: one keyed by module class, one keyed by aten op.

Module formulas are looked up along the class MRO, so a subclass (LayerNorm2d,
NonDynamicallyQuantizableLinear, a user's Conv2d subclass) inherits its parent's
formula.  Aten formulas count functional ops that run outside any formula module.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from torch import nn

from profiler.formulas.cost import Cost, Shape

from profiler.columns import KINDS  # noqa: F401 (re-exported: the kinds a formula may name)


@dataclass(frozen=True)
class Call:
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


ModuleFn = Callable[[nn.Module, Call], Cost]


@dataclass(frozen=True)
class ModuleFormula:
    fn: ModuleFn
    kind: str


_MODULE_FORMULAS: dict[type, ModuleFormula] = {}


def module_formula(*types: type, kind: str) -> Callable[[ModuleFn], ModuleFn]:
    """Register ``fn(module, call) -> Cost`` for these module classes and their subclasses."""
    assert kind in KINDS, kind

    def register(fn: ModuleFn) -> ModuleFn:
        for t in types:
            _MODULE_FORMULAS[t] = ModuleFormula(fn, kind)
        return fn

    return register


def find_module_formula(module: nn.Module) -> ModuleFormula | None:
    for cls in type(module).__mro__:
        found = _MODULE_FORMULAS.get(cls)
        if found is not None:
            return found
    return None


AtenFn = Callable[..., Cost]  # fn(out_shape, *arg_shapes_or_values, **kwargs) -> Cost


@dataclass(frozen=True)
class AtenFormula:
    fn: AtenFn
    kind: str


_ATEN_FORMULAS: dict[Any, AtenFormula] = {}


def aten_formula(*ops: Any, kind: str) -> Callable[[AtenFn], AtenFn]:
    """Register ``fn(out, *args, **kwargs) -> Cost`` for aten op packets.  Tensor
    arguments and the output arrive as shapes; everything else as given."""
    assert kind in KINDS, kind

    def register(fn: AtenFn) -> AtenFn:
        for op in ops:
            _ATEN_FORMULAS[op] = AtenFormula(fn, kind)
        return fn

    return register


def find_aten_formula(packet: Any) -> AtenFormula | None:
    return _ATEN_FORMULAS.get(packet)
