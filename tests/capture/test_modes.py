"""profiler.capture.modes: kept_modes puts every module's train/eval flag back as
it was, whatever happens inside; eval_state runs in eval mode with grad off and
then restores both."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from profiler.capture.modes import eval_state, kept_modes


def _mixed() -> nn.Sequential:
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5), nn.Sequential(nn.BatchNorm1d(2), nn.ReLU()))
    model.train()
    model[1].eval()
    model[2][0].eval()
    return model


def _modes(*models: nn.Module) -> list[bool]:
    return [m.training for model in models for m in model.modules()]


def test_kept_modes_restores_each_modules_own_flag():
    model = _mixed()
    before = _modes(model)
    with kept_modes(model):
        model.train()
        assert all(_modes(model))
    assert _modes(model) == before
    with kept_modes(model):
        model.eval()
    assert _modes(model) == before


def test_kept_modes_restores_after_an_exception_and_for_several_models():
    first, second = _mixed(), nn.Linear(2, 2).eval()
    before = _modes(first, second)
    with pytest.raises(ValueError), kept_modes(first, second):
        first.eval()
        second.train()
        raise ValueError("inside")
    assert _modes(first, second) == before


def test_eval_state_is_eval_and_no_grad_inside_and_as_before_after():
    model = _mixed()
    before = _modes(model)
    x = torch.randn(3, 2, requires_grad=True)
    with torch.enable_grad():
        with eval_state(model):
            assert not any(_modes(model))
            assert not torch.is_grad_enabled()
            out = model(x)
            assert not out.requires_grad
            assert torch.equal(model(x), out)                 # dropout off: the same result twice
        assert torch.is_grad_enabled()
    assert _modes(model) == before
