"""profiler.models.spec: ModelSpec.build on the meta device, also for builders that compute with real
values (meta_in_constructors), and build_seeded."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import profiler
from profiler.api import _build_real
from profiler.errors import ProfilerError
from profiler.models.spec import ModelSpec, RealBuildGuard, meta_in_constructors
from profiler.models.resolve import resolve


def _all_on_meta(model: nn.Module) -> bool:
    tensors = [*model.parameters(), *model.buffers()]
    return bool(tensors) and all(t.is_meta for t in tensors)


def test_regnet_builds_on_meta_although_its_builder_calls_tolist():
    spec = resolve("regnet_y_400mf")
    with pytest.raises(Exception), torch.device("meta"):
        spec.builder(**spec.build_kwargs)    # the plain meta build fails: it is the case at hand
    model = spec.build(meta=True)
    assert _all_on_meta(model)
    assert sum(p.numel() for p in model.parameters()) == 4_344_144


@pytest.mark.parametrize("name", ["regnet_x_400mf", "regnet_y_400mf"])
def test_regnet_counts_from_the_meta_build_equal_those_from_a_real_build(name):
    by_name = profiler.profile(name)
    real = profiler.profile(_build_real(resolve(name)))
    assert by_name.execution == "meta" and not by_name.notes
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
    assert _all_on_meta(model)


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


def _registration_hooks() -> tuple[int, int]:
    from torch.nn.modules import module
    return len(module._global_parameter_registration_hooks), len(module._global_buffer_registration_hooks)


def test_a_real_build_past_the_limit_stops_before_it_finishes_and_leaves_no_hooks(monkeypatch):
    monkeypatch.setenv("PROFILER_REAL_LIMIT_GB", "0.001")      # about 1 MiB
    made = []

    def builder():
        layers = []
        for _ in range(8):                        # 8 x 256 KiB of weights: 2 MiB
            layers.append(nn.Linear(256, 256))
            if layers[0].weight.is_meta:          # a quirk that fails every meta build
                raise ValueError("needs real weights")
            made.append(layers[-1])
        return nn.Sequential(*layers)

    hooks = _registration_hooks()
    spec = ModelSpec("big", builder, "custom")
    with pytest.raises(ValueError):
        spec.build(meta=True)
    with pytest.raises(ProfilerError) as info:
        spec.build_seeded()
    message = str(info.value)
    assert "\n" not in message and message.startswith("big: the meta build failed (ValueError: needs real weights); ")
    assert "the real build stopped at 0.00" in message and "above the 0.001 GiB limit" in message
    assert message.endswith("raise PROFILER_REAL_LIMIT_GB or shrink the config (config= overrides such as "
                            "num_hidden_layers=2)")
    assert 0 < len(made) < 8                      # stopped during the build, not after it
    assert _registration_hooks() == hooks


def test_a_small_real_build_passes_the_guard_and_leaves_no_hooks(monkeypatch):
    monkeypatch.setenv("PROFILER_REAL_LIMIT_GB", "0.001")
    hooks = _registration_hooks()
    shared = nn.Linear(64, 64)
    spec = ModelSpec("small", lambda: nn.Sequential(shared, shared, nn.BatchNorm1d(64)), "custom")
    model = spec.build_seeded()
    assert model[2].running_mean.shape == (64,) and spec.meta_error is None
    assert _registration_hooks() == hooks


def test_the_guard_counts_a_storage_once_and_meta_tensors_not_at_all():
    with RealBuildGuard(1 << 20) as guard:
        a = nn.Linear(64, 64)                     # 64*64*4 + 64*4 bytes
        b = nn.Linear(64, 64, device="meta")
        b.weight = a.weight                        # tied: the same storage again
    assert guard.reached == 64 * 64 * 4 + 64 * 4


def test_a_real_build_the_config_shows_too_big_is_refused_before_it_starts(monkeypatch):
    monkeypatch.setenv("PROFILER_REAL_LIMIT_GB", "1")
    transformers = pytest.importorskip("transformers")
    called = []
    config = transformers.LlamaConfig(vocab_size=1_000_000, hidden_size=1024, num_attention_heads=8)
    spec = ModelSpec("hf:huge", lambda: called.append(1), "language", config=config)
    with pytest.raises(ProfilerError, match=r"^hf:huge: a real build would take at least 1.91 GiB \(an input "
                                            r"embedding of 1000000 x 1024 values\), above the 1 GiB limit: raise "
                                            "PROFILER_REAL_LIMIT_GB or shrink the config"):
        spec.build(meta=False)
    assert not called
