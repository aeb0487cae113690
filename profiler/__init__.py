"""profiler: exact, static FLOP and parameter counts for PyTorch models.

Names are imported on first use, so that `profiler --help` needs no torch.
"""
from importlib import import_module

_EXPORTS = {"profile": "api", "Report": "report", "Cost": "formulas.cost", "ProfilerError": "errors"}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'profiler' has no attribute {name!r}")
