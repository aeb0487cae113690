"""profiler.capture.run: the Run record a profile resolves once, which the capture's
forward and the measured run read: its defaults (a caller's module, as it is), and a
forward that takes its inputs from it, made by ``inputs_for`` where it has one."""
from __future__ import annotations

import torch
from torch import nn

from profiler.capture.run import Run
from profiler.capture.session import captured


def test_a_run_of_a_callers_module_defaults_to_its_own_dtype_and_no_execution_yet():
    model = nn.Linear(3, 2)
    run = Run("Linear", model, args=((1, 3),))
    assert run.module is model and run.spec is None and not run.owned and run.family == "custom"
    assert run.dtype is None and run.input_dtype == torch.float32 and run.ids is None
    assert run.execution is None and run.notes == [] and run.kwargs == {} and run.inputs_for is None
    assert Run("Linear", model).notes is not run.notes            # each run its own notes


def test_the_forward_runs_the_runs_inputs_and_hands_back_the_made_ones():
    model = nn.Linear(3, 2)
    seen = []

    def inputs_for(m):
        seen.append(m)
        return ((5, 3),), {}, "five rows"
    for run, rows, description in ((Run("Linear", model, args=((4, 3),)), 4, None),
                                   (Run("Linear", model, args=((4, 3),), inputs_for=inputs_for), 5, "five rows")):
        with captured(run, "meta") as done:
            (call,) = done.capture.calls
            assert call.inputs == ((rows, 3),) and call.outputs == ((rows, 2),)
        assert done.description == description and done.args == ((rows, 3),)
    assert len(seen) == 1 and seen[0] is model                  # made from the model as it runs
