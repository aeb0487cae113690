"""The simulated first step of each optimizer (profiler.capture.saved.Trace._simulated_step)
against the torch optimizer itself run on the profile's meta parameters: the same
peak, the same categories at it, the same states left."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from profiler.capture.run import Run
from profiler.capture.saved import SIMULATED, Request
from profiler.capture.session import captured
from profiler.count.memory import summarize


def _memory(model, optimizer, simulate, input_size, batch):
    """The memory of the profile's meta forward, its step simulated or torch's own."""
    request = Request(optimizer, simulate=simulate)
    with captured(Run("model", model, args=((batch, *input_size),), training=True, memory=request), "meta"):
        pass
    return summarize(request.trace)


def _models():
    yield "mlp", nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)), \
        dict(input_size=(64,), batch=4)
    # a small parameter between two large ones: Adam's previous denominator outlives the next one's
    yield "convnet", nn.Sequential(nn.Conv2d(3, 32, 3), nn.BatchNorm2d(32), nn.ReLU(), nn.Conv2d(32, 64, 3),
                                   nn.Flatten(), nn.LazyLinear(10)), dict(input_size=(3, 12, 12), batch=2)


@pytest.mark.parametrize("optimizer", SIMULATED)
@pytest.mark.parametrize("name, model, kwargs", list(_models()), ids=[m[0] for m in _models()])
def test_simulated_step_equals_the_real_one(name, model, kwargs, optimizer):
    if any(isinstance(m, nn.modules.lazy.LazyModuleMixin) for m in model.modules()):
        model(torch.zeros(kwargs["batch"], *kwargs["input_size"]))   # materialise the lazy layer
    real = _memory(model, optimizer, simulate=False, **kwargs)
    simulated = _memory(model, optimizer, simulate=True, **kwargs)
    assert simulated.peak_bytes == real.peak_bytes
    assert simulated.at_peak == real.at_peak
    assert simulated.totals == real.totals
    assert (simulated.peak_phase, simulated.peak_at) == (real.peak_phase, real.peak_at)
    # the same up to the step; in it the real one has a step per op, the simulation per storage made
    before = [step for step in real.timeline if step[0] != "optimizer"]
    assert [step for step in simulated.timeline if step[0] != "optimizer"] == before
    assert simulated.timeline[-1] == real.timeline[-1]   # what is left after the step
