"""Cost formulas, forward and backward, one file per layer kind and direction:
``forward/<kind>.py`` beside ``backward/<kind>.py`` (the same name; a kind with no
backward formula yet has no backward file), registered in ``registry`` (how to add
a kind: its docstring).  ``cost`` is the unit they return, ``shapes`` the shape
helpers they share.  Importing this package registers every formula; it imports
only torch (and torchvision), ``profiler.columns`` and itself."""
import profiler.formulas.forward.activation  # noqa: F401
import profiler.formulas.forward.attention  # noqa: F401
import profiler.formulas.forward.conv  # noqa: F401
import profiler.formulas.forward.elementwise  # noqa: F401
import profiler.formulas.forward.linear  # noqa: F401
import profiler.formulas.forward.matmul  # noqa: F401
import profiler.formulas.forward.norm  # noqa: F401
import profiler.formulas.forward.pool  # noqa: F401
import profiler.formulas.forward.recurrent  # noqa: F401
import profiler.formulas.forward.reduce  # noqa: F401
import profiler.formulas.forward.resample  # noqa: F401
import profiler.formulas.forward.scatter  # noqa: F401
import profiler.formulas.forward.torchvision_layers  # noqa: F401
import profiler.formulas.forward.zero  # noqa: F401
import profiler.formulas.backward.activation  # noqa: F401
import profiler.formulas.backward.attention  # noqa: F401
import profiler.formulas.backward.conv  # noqa: F401
import profiler.formulas.backward.elementwise  # noqa: F401
import profiler.formulas.backward.linear  # noqa: F401
import profiler.formulas.backward.matmul  # noqa: F401
import profiler.formulas.backward.norm  # noqa: F401
import profiler.formulas.backward.pool  # noqa: F401
import profiler.formulas.backward.recurrent  # noqa: F401
import profiler.formulas.backward.reduce  # noqa: F401
import profiler.formulas.backward.resample  # noqa: F401
import profiler.formulas.backward.scatter  # noqa: F401
import profiler.formulas.backward.torchvision_layers  # noqa: F401
import profiler.formulas.backward.zero  # noqa: F401
from profiler.formulas.registry import (Call, find_aten_formula, find_module_backward, find_module_formula,
                                        find_op_backward)

__all__ = ["Call", "find_aten_formula", "find_module_backward", "find_module_formula", "find_op_backward"]
