"""Cost formulas, forward and backward, one file per group and direction:
``forward/<group>.py`` beside ``backward/<group>.py`` (the same name; a group with no
backward formula yet has no backward file), registered in ``registry`` (how to add
a group: its docstring).  ``cost`` is the unit they return, ``shapes`` the shape
helpers they share.  Importing this package registers every formula: it loads
every file of ``forward/`` and ``backward/``, so a new group needs no line here.  It
imports only torch (and torchvision), ``profiler.columns`` and itself."""
from importlib import import_module
from pkgutil import iter_modules

from profiler.formulas.registry import (CallShapes, find_aten_formula, find_module_backward, find_module_formula,
                                        find_op_backward)

for _direction in ("forward", "backward"):
    _package = import_module(f"profiler.formulas.{_direction}")
    for _group in iter_modules(_package.__path__):   # in name order; the registry refuses a key twice
        import_module(f"profiler.formulas.{_direction}.{_group.name}")

__all__ = ["CallShapes", "find_aten_formula", "find_module_backward", "find_module_formula", "find_op_backward"]
