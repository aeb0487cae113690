"""Time-series inputs (profiler.models.hf.rules.series): history length and channels
from the config."""
from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"


import pytest
from hf_tiny import example_inputs, need

from profiler.models.hf.rules.series import past_values
from profiler.models.resolve import resolve

transformers = pytest.importorskip("transformers")




def _need(arch: str, overrides=None, **sizes):
    return need(arch, overrides, 1, **sizes)


def test_history_is_context_plus_the_largest_lag_with_channels_where_the_model_takes_them():
    assert tuple(past_values(_need("patchtst", {"num_input_channels": 3})).shape) == (1, 32, 3)          # PatchTST: a context of 32
    lagged = _need("time_series_transformer", {"prediction_length": 4, "context_length": 10})
    assert tuple(past_values(lagged).shape) == (1, 10 + 7)              # default lags go up to 7


def test_a_trajectory_is_states_actions_rewards_returns_and_timesteps():
    need = _need("decision_transformer", {"n_layer": 1, "state_dim": 5, "act_dim": 3})
    from profiler.models.hf.rules.series import actions, per_step, states, timesteps
    assert tuple(states(need).shape) == (1, 20, 5) and tuple(actions(need).shape) == (1, 20, 3)
    assert tuple(per_step(need).shape) == (1, 20, 1) and timesteps(need).tolist() == [list(range(20))]


def test_lagged_forecaster_without_time_features_gets_none_and_counts_as_flop_counter():
    """Time Series Transformer's default num_time_features is 0: its value projection
    is sized for the lags and loc/scale alone, so the time features are zero wide; and
    its config has no prediction_length default, which the profiler sets (24)."""
    import torch
    from hf_tiny import macs_flop_counter

    import profiler
    spec = resolve("hf:time_series_transformer", {"d_model": 16, "encoder_ffn_dim": 32, "decoder_ffn_dim": 32})
    assert spec.config.prediction_length == 24 and spec.config.num_time_features == 0
    meta = spec.build(meta=True)
    _, kwargs, _ = example_inputs(meta, spec.config)
    assert kwargs["past_time_features"].shape[-1] == 0 and tuple(kwargs["future_time_features"].shape) == (1, 24, 0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        real = spec.build(meta=False).eval()
    _, real_kwargs, _ = example_inputs(real, spec.config)
    assert int(profiler.profile(meta, kwargs=kwargs).total["macs"]) == macs_flop_counter(real, real_kwargs)
