"""Measure: time each layer on a device and set it beside its roofline bound.

``timing`` runs the model and times every layer (it needs torch); ``roofline`` holds
the device peaks and the per-layer bounds, without torch, so that reading a
measured report (its views: profiler.report.measured) does not import torch.  ``measure`` is exported lazily for the
same reason: ``profiler.measure.measure(report, model, ...)``.
"""
from importlib import import_module

__all__ = ["measure"]


def __getattr__(name: str):
    if name == "measure":
        return import_module("profiler.measure.timing").measure
    raise AttributeError(f"module 'profiler.measure' has no attribute {name!r}")
