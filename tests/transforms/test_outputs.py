"""profiler.transforms.outputs: two models run on one seeded random input, and how far their
outputs are apart: the model's dtype, the seeded input, the largest difference over nested
outputs, and the models' modes left as they were."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from profiler.errors import ProfilerError
from profiler.transforms.outputs import (compare_outputs, max_abs_difference, max_output_difference,
                                         model_dtype, random_input)


def test_model_dtype_is_the_first_floating_parameters():
    assert model_dtype(nn.Linear(2, 2).double()) == torch.float64
    assert model_dtype(nn.ReLU()) == torch.float32                       # no parameters
    embedding = nn.Embedding(4, 2).half()
    assert model_dtype(nn.Sequential(embedding, nn.Linear(2, 2))) == torch.float16


def test_random_input_is_seeded_and_leaves_the_global_random_state():
    state = torch.random.get_rng_state()
    a = random_input((3, 4), batch=2, dtype=torch.float64, seed=7)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert a.shape == (2, 3, 4) and a.dtype == torch.float64
    assert torch.equal(a, random_input((3, 4), 2, torch.float64, 7))
    assert not torch.equal(a, random_input((3, 4), 2, torch.float64, 8))
    expected = torch.randn((2, 3, 4), dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, expected)


def test_max_abs_difference_over_nested_outputs():
    a = {"x": torch.tensor([1.0, 2.0]), "y": (torch.tensor([[0.5]]), "text")}
    b = {"x": torch.tensor([1.0, -1.0]), "y": (torch.tensor([[0.0]]), "other")}
    assert max_abs_difference(a, b) == 3.0                               # |2 − (−1)|
    assert max_abs_difference(torch.zeros(0), torch.zeros(0)) == 0.0      # nothing to compare
    with pytest.raises(ProfilerError, match="differ in structure or shape"):
        max_abs_difference(torch.zeros(2), torch.zeros(3))
    with pytest.raises(ProfilerError, match="differ in structure or shape"):
        max_abs_difference((torch.zeros(2),), (torch.zeros(2), torch.zeros(2)))


def test_compare_outputs_by_hand_and_modes_restored():
    a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    with torch.no_grad():
        a.weight.fill_(1.0), a.bias.zero_()
        b.weight.fill_(1.0), b.bias.fill_(0.25)
    a.train()
    b.eval()
    x = random_input((3,), batch=4)
    diff, scale = compare_outputs(a, b, (3,), batch=4)
    assert diff == pytest.approx(0.25)                                   # the bias is all that differs
    assert scale == pytest.approx(float(x.sum(1).abs().max()))           # outputs: each row's sum
    assert a.training and not b.training
    assert max_output_difference(a, b, (3,), batch=4) == diff


def test_compare_outputs_runs_in_eval_mode_and_in_the_first_models_dtype():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5)).double()
    diff, scale = compare_outputs(model, model, (4,), batch=8)        # a float32 input would fail here
    assert diff == 0.0 and scale > 0
    assert max_output_difference(model.train(), model, (4,), batch=8) == 0.0   # dropout off: same output
    assert model.training
