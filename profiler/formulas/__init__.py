"""Cost formulas.  Importing this package registers all of them."""
from profiler.formulas.forward import activation, aten_ops, attention, conv, linear, norm  # noqa: F401
from profiler.formulas.forward import pool, recurrent, resample, torchvision_layers, zero  # noqa: F401
from profiler.formulas.registry import Call, find_aten_formula, find_module_formula

__all__ = ["Call", "find_aten_formula", "find_module_formula"]
