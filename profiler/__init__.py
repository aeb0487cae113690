"""profiler: exact, static FLOP and parameter counts for PyTorch models.

Names are imported on first use, so that `profiler --help` needs no torch.
"""
from importlib import import_module
from importlib.util import find_spec

_EXPORTS = {"profile": "api", "Report": "report", "Cost": "formulas.cost", "ProfilerError": "errors"}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        # kept as a module attribute, so the next ``profiler.profile`` is a plain lookup
        # (this hook and its import_module cost 3 us a call: a thirtieth of a one-layer profile)
        value = globals()[name] = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        return value
    # a submodule by attribute, as after `import profiler.measure`: `import profiler` then
    # `profiler.measure.measure(...)` works without importing every stage up front
    if not name.startswith("_") and find_spec(f"{__name__}.{name}") is not None:
        return import_module(f".{name}", __name__)
    raise AttributeError(f"module 'profiler' has no attribute {name!r}")
