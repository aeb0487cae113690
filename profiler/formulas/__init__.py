"""Cost formulas.  Importing this package registers all of them."""
from . import activation, aten_ops, attention, conv, linear, norm, pool, recurrent, resample, zero  # noqa: F401
from . import torchvision_layers  # noqa: F401
from .registry import Call, find_aten_formula, find_module_formula

__all__ = ["Call", "find_aten_formula", "find_module_formula"]
