"""The formulas as the formula tests (tests/formulas/) reach them: only through the lookups
``profiler.formulas`` promises (CallShapes, find_module_formula, find_aten_formula), plus
the registered keys and the elementwise table, found defensively here because the
modules that hold them are being split and renamed.  If a lookup below fails, fix
it here once rather than in every test."""
from __future__ import annotations

import importlib
import pkgutil
import sys

import profiler.formulas as formulas
from profiler.formulas import (CallShapes, find_aten_formula, find_module_backward, find_module_formula,  # noqa: F401
                               find_op_backward)


def _registry():
    """The module that defines the lookups, wherever it lives now."""
    return sys.modules[find_module_formula.__module__]


def _registered(table: str) -> dict:
    """A copy of one of the registry's tables.  The package reads only the op table
    (``aten_formulas()``, profiler.count.kinds); the coverage tests need all four, so
    they read them here and nowhere else."""
    found = getattr(_registry(), table, None)
    if not isinstance(found, dict):
        raise LookupError(f"{_registry().__name__} has no table {table}: update tests/formula_access.py "
                          "to the registry's new tables")
    return dict(found)


def module_formula_keys() -> list[type]:
    """Every module class with a registered forward formula."""
    return list(module_formulas_by_class())


def module_formulas_by_class() -> dict:
    """Every registered module class: its forward formula (``.fn``, ``.kind``)."""
    return _registered("_MODULE_FORMULAS")


def aten_formulas_by_packet() -> dict:
    """Every registered op packet: its forward formula (``.fn``, ``.kind``)."""
    return _registered("_ATEN_FORMULAS")


def module_backwards_by_class() -> dict:
    """Every module class with a registered backward formula: the function."""
    return _registered("_MODULE_BACKWARDS")


def op_backwards_by_packet() -> dict:
    """Every op packet (in-place variants included) with a registered backward formula."""
    return _registered("_OP_BACKWARDS")


def module_classes_defined_in(module_name: str) -> list[type]:
    """The module classes whose forward formula function is defined in the module
    ``module_name`` (``profiler.formulas.forward.<group>``): by ``fn.__module__``."""
    return [k for k, f in module_formulas_by_class().items() if f.fn.__module__ == module_name]


def aten_packets_defined_in(module_name: str) -> list:
    """The op packets whose forward formula function is defined in ``module_name``."""
    return [k for k, f in aten_formulas_by_packet().items() if f.fn.__module__ == module_name]


def elementwise_table() -> dict[str, tuple[int, int, int]]:
    """The per-element table: where it lives today, else the first ``ELEMENTWISE``
    dict found in a submodule of profiler.formulas."""
    try:
        return importlib.import_module("profiler.formulas.forward.elementwise").ELEMENTWISE
    except (ImportError, AttributeError):
        pass
    for info in pkgutil.walk_packages(formulas.__path__, formulas.__name__ + "."):
        table = getattr(importlib.import_module(info.name), "ELEMENTWISE", None)
        if isinstance(table, dict):
            return table
    raise LookupError("no ELEMENTWISE dict under profiler.formulas")


def registered_class_of(module) -> type | None:
    """The registered class a module's formula is found under: the first class of
    its MRO that has one (how find_module_formula looks it up)."""
    keys = set(module_formula_keys())
    return next((cls for cls in type(module).__mro__ if cls in keys), None)
