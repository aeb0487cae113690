"""Train/eval flags of a model's modules, put back as they were: the one place that
saves and restores them (the profile's own forward restores them with the rest of
the module state, see profiler.capture.twins.ModuleState)."""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn


@contextlib.contextmanager
def kept_modes(*models: nn.Module) -> Iterator[None]:
    """Every module's ``training`` flag as it was on entry, whatever happens inside."""
    saved = [(m, m.training) for model in models for m in model.modules()]
    try:
        yield
    finally:
        for module, training in saved:
            module.training = training


@contextlib.contextmanager
def eval_state(*models: nn.Module) -> Iterator[None]:
    """Eval mode and no grad for the duration; every module's mode restored after."""
    with kept_modes(*models):
        for model in models:
            model.eval()
        with torch.no_grad():
            yield
