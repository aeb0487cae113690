"""Audio: waveforms (``input_values``), spectrogram features (``input_features``)
and their masks."""
from __future__ import annotations

from profiler.models.hf.make import get
from profiler.models.hf.rules.base import Need, Rule

SECONDS_DEFAULT = 1.0          # audio length where the model takes any (wav2vec2, HuBERT, speech encoders)
SAMPLING_RATE_DEFAULT = 16000
FRAME_RATE = 100               # feature frames per second (a 10 ms hop, what speech front ends use)


def _seconds(need: Need) -> float:
    return need.seconds if need.seconds is not None else SECONDS_DEFAULT


def input_values(need: Need):
    """A waveform: batch x samples (seconds × sampling rate, default 1 s at 16 kHz;
    ``tokens`` samples where given to a model without token ids), or batch x
    channels x samples where the config names audio channels (codecs)."""
    rate = int(get(need.audio, "sampling_rate", default=get(need.config, "sampling_rate",
                                                            default=SAMPLING_RATE_DEFAULT)))
    samples = max(1, round(_seconds(need) * rate))
    if need.tokens is not None and not need.takes("input_ids"):
        samples = need.tokens                      # tokens= of a waveform model: its samples
    audio_channels = get(need.audio, "audio_channels", default=get(need.config, "audio_channels"))
    if isinstance(audio_channels, int) and not isinstance(audio_channels, bool):
        return need.make.floats((need.batch, audio_channels, samples))
    return need.make.floats((need.batch, samples))


def input_features(need: Need):
    """Spectrogram features.  Whisper-style encoders (a config with
    ``max_source_positions`` and ``num_mel_bins``): batch x mel bins x
    2·max_source_positions frames (30 s for Whisper, the only length it takes).
    Others: batch x frames x features, FRAME_RATE frames a second (default 1 s)."""
    audio = need.audio
    mels = get(audio, "num_mel_bins", default=get(need.config, "num_mel_bins"))
    positions = get(audio, "max_source_positions", default=get(need.config, "max_source_positions"))
    if mels is not None and positions is not None and need.seconds is None:
        return need.make.floats((need.batch, int(mels), 2 * int(positions)))
    width = get(audio, "feature_size", "input_feat_per_channel", "num_mel_bins", "n_mels", "input_dim",
                default=get(need.config, "feature_size", "input_feat_per_channel", "num_mel_bins", default=80))
    if mels is not None and positions is not None:
        return need.make.floats((need.batch, int(mels), max(1, round(_seconds(need) * FRAME_RATE))))
    return need.make.floats((need.batch, max(1, round(_seconds(need) * FRAME_RATE)), int(width)))


def feature_mask(need: Need):
    """All frames valid: batch x frames of ones (the features' time axis)."""
    features = need.made.get("input_features")
    frames = features.shape[-1] if features is not None and _whisper_like(need) else \
        features.shape[1] if features is not None else FRAME_RATE
    return need.make.full((need.batch, frames), 1)


def _whisper_like(need: Need) -> bool:
    return get(need.audio, "max_source_positions", default=get(need.config, "max_source_positions")) is not None


RULES = {
    "input_values": Rule(input_values, "audio", primary=True),
    "input_features": Rule(input_features, "speech", primary=True),
    "input_features_mask": Rule(feature_mask, "speech", after=("input_features",)),
    "feature_attention_mask": Rule(feature_mask, "speech", after=("input_features",)),
}
