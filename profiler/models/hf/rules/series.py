"""Time series: the history (``past_values``), its masks and time features, and
the static features of the lagged forecasters; and trajectories (Decision
Transformer's states, actions, rewards, returns to go and timesteps)."""
from __future__ import annotations

from profiler.models.hf.make import get
from profiler.models.hf.rules.base import Need, Rule


def _series_length(need: Need) -> int:
    """The history a forecaster reads: context length plus the largest lag."""
    config = need.config
    context = int(get(config, "context_length", "context_len", "input_size_len", default=512) or 512)
    lags = get(config, "lags_sequence")
    return context + (max(lags) if isinstance(lags, (list, tuple)) and lags else 0)


def _series_channels(need: Need) -> tuple[int, ...]:
    """The channel axis: the lagged forecasters (a config with ``lags_sequence``:
    Time Series Transformer, Informer, Autoformer) take none for one variate;
    patch models (PatchTST, PatchTSMixer) always take one."""
    config = need.config
    if get(config, "lags_sequence") is not None:
        width = get(config, "input_size", default=1)
        return (int(width),) if isinstance(width, int) and width > 1 else ()
    width = get(config, "num_input_channels", "num_channels", "enc_in", "input_size", default=1)
    return (int(width),)


def past_values(need: Need):
    """batch x (context + largest lag) [x channels]; a single series (batch x
    context) for forecasters that take a padding mask instead (TimesFM)."""
    length = _series_length(need)
    if need.takes("past_values_padding") or need.takes("freq"):
        return need.make.floats((need.batch, length))
    return need.make.floats((need.batch, length) + _series_channels(need))


def past_observed_mask(need: Need):
    values = need.made["past_values"]
    return need.make.full(tuple(values.shape), 1, dtype=need.make.torch.bool)


def _time_features(need: Need) -> int:
    """Time features per step: the config's ``num_time_features``, zero included
    (the lagged forecasters' default: their value projection is sized without
    any), else 1."""
    count = get(need.config, "num_time_features")
    return int(count) if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else 1


def past_time_features(need: Need):
    count = _time_features(need)
    return need.make.floats((need.batch, _series_length(need), count))


def future_time_features(need: Need):
    count = _time_features(need)
    return need.make.floats((need.batch, int(get(need.config, "prediction_length", default=24)), count))


def static_categorical_features(need: Need):
    count = int(get(need.config, "num_static_categorical_features", default=0) or 0)
    return need.make.full((need.batch, count), 0) if count else None


def static_real_features(need: Need):
    count = int(get(need.config, "num_static_real_features", default=0) or 0)
    return need.make.floats((need.batch, count)) if count else None


def past_values_padding(need: Need):
    return need.make.full(tuple(need.made["past_values"].shape), 0, dtype=need.make.dtype)


def freq(need: Need):
    return need.make.full((need.batch, 1), 0)


TRAJECTORY_DEFAULT = 20      # steps of a trajectory where the config names none (max_ep_len caps it)


def _steps(need: Need) -> int:
    steps = need.tokens or TRAJECTORY_DEFAULT
    most = get(need.config, "max_ep_len")
    return min(steps, int(most)) if isinstance(most, int) else steps


def states(need: Need):
    """A trajectory's states: batch x steps x ``state_dim`` (steps: tokens=, default 20)."""
    return need.make.floats((need.batch, _steps(need), int(get(need.config, "state_dim", default=1))))


def actions(need: Need):
    return need.make.floats((need.batch, _steps(need), int(get(need.config, "act_dim", default=1))))


def per_step(need: Need):
    """Rewards, returns to go: batch x steps x 1."""
    return need.make.floats((need.batch, _steps(need), 1))


def timesteps(need: Need):
    return need.make.positions(0, _steps(need), need.batch)


RULES = {
    "states": Rule(states, "trajectory", primary=True),
    "actions": Rule(actions, "trajectory", after=("states",)),
    "rewards": Rule(per_step, "trajectory", after=("states",)),
    "returns_to_go": Rule(per_step, "trajectory", after=("states",)),
    "timesteps": Rule(timesteps, "trajectory", after=("states",)),
    "past_values": Rule(past_values, "time series", primary=True),
    "past_time_features": Rule(past_time_features, "time series", after=("past_values",)),
    "past_observed_mask": Rule(past_observed_mask, "time series", after=("past_values",)),
    "future_time_features": Rule(future_time_features, "time series", after=("past_values",)),
    "static_categorical_features": Rule(static_categorical_features, "time series", after=("past_values",)),
    "static_real_features": Rule(static_real_features, "time series", after=("past_values",)),
    "past_values_padding": Rule(past_values_padding, "time series", after=("past_values",)),
    "freq": Rule(freq, "time series", after=("past_values",)),
}
