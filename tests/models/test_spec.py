"""profiler.models.spec: ModelSpec.build on the meta device, also for builders that compute with real
values (meta_in_constructors), and build_seeded."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import profiler
from profiler.api import _build_real, _on_meta
from profiler.models.spec import ModelSpec, meta_in_constructors
from profiler.models.resolve import resolve


def test_regnet_builds_on_meta_although_its_builder_calls_tolist():
    spec = resolve("regnet_y_400mf")
    with pytest.raises(Exception), torch.device("meta"):
        spec.builder(**spec.build_kwargs)    # the plain meta build fails: it is the case at hand
    model = spec.build(meta=True)
    assert _on_meta(model)
    assert sum(p.numel() for p in model.parameters()) == 4_344_144


@pytest.mark.parametrize("name", ["regnet_x_400mf", "regnet_y_400mf"])
def test_regnet_counts_from_the_meta_build_equal_those_from_a_real_build(name):
    by_name = profiler.profile(name)
    real = profiler.profile(_build_real(resolve(name)))
    assert by_name.mode == "meta" and not by_name.notes
    assert by_name.totals == real.totals


def test_only_tensors_made_in_module_constructors_go_to_meta():
    made_outside = []

    def builder():
        widths = torch.arange(4, 12, 4)          # builder arithmetic: needs values
        made_outside.append(widths)
        return nn.Sequential(*(nn.Linear(w, w) for w in widths.tolist()))

    with meta_in_constructors():
        model = builder()
    assert made_outside[0].device.type == "cpu"
    assert _on_meta(model)


def test_a_builder_that_fails_both_ways_raises_the_plain_meta_error():
    def builder():
        torch.ones(1).item()                     # fails on meta
        raise ValueError("second attempt")

    with pytest.raises(RuntimeError):
        ModelSpec("broken", builder, "custom").build(meta=True)


def test_build_seeded_gives_the_same_real_weights_and_leaves_the_random_state():
    spec = ModelSpec("net", lambda width=3: nn.Linear(width, 2), "custom", {"width": 4})
    state = torch.random.get_rng_state()
    first, second = spec.build_seeded(), spec.build_seeded()
    assert torch.equal(torch.random.get_rng_state(), state)
    assert first.weight.device.type == "cpu" and first.in_features == 4
    assert torch.equal(first.weight, second.weight) and torch.equal(first.bias, second.bias)
    torch.manual_seed(0)
    assert torch.equal(first.weight, nn.Linear(4, 2).weight)     # seed 0, as documented


def test_build_passes_the_build_kwargs_on_meta_and_off():
    spec = ModelSpec("net", nn.Linear, "custom", {"in_features": 5, "out_features": 3})
    assert spec.build(meta=True).weight.device.type == "meta"
    assert spec.build(meta=False).weight.shape == (3, 5)
