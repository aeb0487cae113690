"""Audio: waveforms (``input_values``), spectrogram features (``input_features``,
``audio_mel``), codec latents (``latents``) and their masks."""
from __future__ import annotations

import math

from profiler.defaults import TOKENS_DEFAULT
from profiler.models.hf.make import get
from profiler.models.hf.rules.base import Need, Rule

SECONDS_DEFAULT = 1.0          # audio length where the model takes any (wav2vec2, HuBERT, speech encoders)
SAMPLING_RATE_DEFAULT = 16000
FRAME_RATE = 100               # feature frames per second (a 10 ms hop, what speech front ends use)

# a codec's config (or a sub-config: DAC inside PE-Audio, the acoustic model of X-Codec) names its
# convolution strides: it reads batch x channels x samples
_CODEC_FIELDS = ("downsampling_ratios", "upsampling_ratios")
_CHANNEL_FIELDS = ("audio_channels",)
# feature frames stacked into one vector (FunASR's low frame rate front end): width = mel bins x this
_STACK_FIELDS = ("num_stacked_frames",)
# the width of stacked features, stated (w2v-BERT: 80 mel bins x stride 2 = 160)
_STACKED_WIDTH_FIELDS = ("feature_projection_input_dim",)
# mel bins per frame, by the names configs give them
_MEL_FIELDS = ("feature_size", "input_feat_per_channel", "num_mel_bins", "n_mels", "input_dim", "input_feat_size")
# time subsampling the encoder needs the frames to be a multiple of (NeMo FastConformer)
_SUBSAMPLING_FIELDS = ("subsampling_factor",)
# mel frames per text token of a streaming speech model that adds one audio embedding to each token
# (Voxtral Realtime: 8, a stride of 2 then 4 frames folded into one)
_FRAMES_PER_TOKEN_FIELDS = ("audio_length_per_tok",)


def _seconds(need: Need) -> float:
    return need.seconds if need.seconds is not None else SECONDS_DEFAULT


def _configs(config, depth: int = 3):
    """``config`` and its sub-configs, breadth first, down to ``depth`` levels."""
    level, seen = [config], []
    for _ in range(depth + 1):
        seen += [c for c in level if c is not None]
        level = [v for c in level if c is not None for v in vars(c).values() if hasattr(v, "to_dict")
                 and hasattr(v, "model_type")]
    return seen


def _field(need: Need, names, kind=int):
    """The first of ``names`` set on the audio config, the config, or a sub-config
    of it (breadth first), of type ``kind``."""
    for config in (need.audio, *_configs(need.config)):
        value = get(config, *names)
        if isinstance(value, kind) and not isinstance(value, bool):
            return value
    return None


def _rate(need: Need) -> int:
    return int(get(need.audio, "sampling_rate", "sample_rate", "input_sampling_rate",
                   default=_field(need, ("sampling_rate", "sample_rate", "input_sampling_rate"))
                   or SAMPLING_RATE_DEFAULT))


def _spectrogram_patches(need: Need) -> bool:
    """An audio spectrogram transformer (AST): a config with ``num_mel_bins``,
    ``max_length`` and the spectrogram's patch strides (``frequency_stride``,
    ``time_stride``) reads ``input_values`` as batch x max_length frames x mel bins."""
    config = need.config
    return all(get(config, f) is not None for f in ("num_mel_bins", "max_length", "frequency_stride", "time_stride"))


_AUDIO_CONFIGS = ("audio_config", "audio_encoder_config")


def _without_audio_tower(need: Need) -> bool:
    """A multimodal config that names an audio sub-config and leaves it None
    (Gemma 4's default): the model was built without an audio tower, and takes
    no audio."""
    names = [n for n in _AUDIO_CONFIGS if n in vars(need.config)]
    return bool(names) and all(getattr(need.config, n) is None for n in names)


def input_values(need: Need):
    """A waveform: batch x samples (seconds × sampling rate, default 1 s at 16 kHz;
    ``tokens`` samples where given to a model without token ids), or batch x
    channels x samples for a codec: a config (or sub-config) that names audio
    channels (``audio_channels``), or its convolution strides
    (``downsampling_ratios``, ``upsampling_ratios``: one channel), or whose
    audio tower runs on batch x 1 x samples and not on batch x samples (OmniASR,
    tried on meta: ``_layout_the_tower_reads``).  An audio
    spectrogram transformer's (``_spectrogram_patches``) is its fixed
    spectrogram: batch x ``max_length`` x ``num_mel_bins``.  None where the
    model was built without an audio tower (``_without_audio_tower``)."""
    if _without_audio_tower(need):
        return None
    if _spectrogram_patches(need):
        return need.make.floats((need.batch, int(need.config.max_length), int(need.config.num_mel_bins)))
    samples = max(1, round(_seconds(need) * _rate(need)))
    if need.tokens is not None and not need.takes("input_ids"):
        samples = need.tokens                      # tokens= of a waveform model: its samples
    per_token = _samples_per_token(need)
    if per_token:
        samples = math.ceil(samples / per_token) * per_token
    channels = _field(need, _CHANNEL_FIELDS)
    if channels is None and _field(need, _CODEC_FIELDS, (list, tuple)) is not None:
        channels = 1
    if channels is not None:
        return need.make.floats((need.batch, channels, samples))
    return _layout_the_tower_reads(need, ((need.make.floats((need.batch, samples)), None),
                                          (need.make.floats((need.batch, 1, samples)), None)), "input_values")


def _samples_per_token(need: Need) -> int | None:
    """The samples one audio token covers, where the config states it
    (``samples_per_token``; Muse Spark's audio encoder, 1920: the product of its
    patch sizes, a property, not a field): its encoder refuses a waveform of any
    other multiple, as the model's feature extractor pads it."""
    for config in (need.audio, *_configs(need.config)):
        try:
            value = getattr(config, "samples_per_token", None)
        except Exception:          # noqa: BLE001 - a property that needs fields this config lacks
            value = None
        if isinstance(value, int) and not isinstance(value, bool) and value > 1:
            return value
    return None


def _frames(need: Need) -> int:
    """Feature frames: FRAME_RATE a second (default 1 s), rounded up to a multiple
    of the encoder's ``subsampling_factor`` where the config names one (NeMo's
    FastConformer refuses others).  A streaming model that adds one audio
    embedding to each token (``audio_length_per_tok`` frames each: Voxtral
    Realtime) gets that many frames per token of its text (tokens=, default 128).  Features made beside a codec's waveform
    (X-Codec2, NeuCodec: semantic features concatenated with the acoustic frames)
    have the codec's frames: the samples over the product of its
    ``downsampling_ratios``."""
    waveform, ratios = need.made.get("input_values"), _field(need, ("downsampling_ratios",), (list, tuple))
    if waveform is not None and waveform.dim() == 3 and ratios:
        return max(1, math.ceil(waveform.shape[-1] / math.prod(int(r) for r in ratios)))
    per_token = _field(need, _FRAMES_PER_TOKEN_FIELDS)
    if per_token and need.takes("input_ids"):
        return (need.tokens or TOKENS_DEFAULT) * per_token
    frames = max(1, round(_seconds(need) * FRAME_RATE))
    factor = _field(need, _SUBSAMPLING_FIELDS)
    if factor and factor > 1:
        frames = math.ceil(frames / factor) * factor
    return frames


def feature_width(need: Need) -> int:
    """The width of one feature frame: a stacked width the config states
    (``feature_projection_input_dim``), else mel bins (``feature_size``,
    ``num_mel_bins``, ...; default 80) times the frames stacked into one
    (``num_stacked_frames``) where the config names it."""
    stated = _field(need, _STACKED_WIDTH_FIELDS)
    if stated is not None:
        return stated
    width = _field(need, _MEL_FIELDS)
    if width is None and _features_embed(need):
        return int(get(need.config, "d_model"))
    return int(width or 80) * (_field(need, _STACK_FIELDS) or 1)


def _features_embed(need: Need) -> bool:
    """An encoder-decoder taking both token ids and features, whose config names no
    mel bins: the features are its encoder's embeddings in place of the ids
    (Pop2Piano: a log-mel spectrogram of ``d_model`` bins), as wide as the encoder."""
    return bool(get(need.config, "is_encoder_decoder")) and need.takes("input_ids") \
        and isinstance(get(need.config, "d_model"), int)


def input_features(need: Need):
    """Spectrogram features.  Whisper-style encoders (a config with
    ``max_source_positions`` and ``num_mel_bins``): batch x mel bins x
    2·max_source_positions frames (30 s for Whisper, the only length it takes).
    Others: batch x frames x ``feature_width``, FRAME_RATE frames a second
    (default 1 s; a multiple of the config's ``subsampling_factor``).  None
    where the model was built without an audio tower."""
    if _without_audio_tower(need) or _waveform_encoder(need):
        return None
    audio = need.audio
    mels = get(audio, "num_mel_bins", default=get(need.config, "num_mel_bins"))
    positions = get(audio, "max_source_positions", default=get(need.config, "max_source_positions"))
    if mels is not None and positions is not None:
        frames = 2 * int(positions) if need.seconds is None else max(1, round(_seconds(need) * FRAME_RATE))
        return _layout_the_tower_reads(need, _whisper_candidates(need, int(mels), frames))
    return _layout_the_tower_reads(need, _feature_candidates(need))


def _waveform_encoder(need: Need) -> bool:
    """A model that takes both a waveform and features (SpeechEncoderDecoderModel,
    which hands either to its encoder, and refuses both at once) whose encoder (a
    submodule: ``_audio_tower``) reads a waveform (``input_values``) and no
    features: the waveform made, no features."""
    tower = _audio_tower(need.model)
    params = _parameters(tower)
    return (tower is not need.model and "input_values" in need.made and "input_values" in params
            and "input_features" not in params)


def _whisper_candidates(need: Need, mels: int, frames: int):
    """Whisper's batch x mel bins x frames; then, for a tower that takes the
    frames per sample (``feature_lens``: Qwen2.5-Omni's audio encoder alone, not
    the thinker around it, which concatenates them itself), the samples
    concatenated: mel bins x batch·frames."""
    yield need.make.floats((need.batch, mels, frames)), frames
    tower = _audio_tower(need.model)
    # only for the encoder alone: a model around it (Qwen2.5-Omni's thinker) concatenates them itself
    if tower is need.model and "feature_lens" in _parameters(tower):
        yield need.make.floats((mels, need.batch * frames)), frames


def _feature_candidates(need: Need):
    """Feature tensors a tower may read, most likely first, with their frames:
    for each width (``_widths``), frames first, mel bins first, and as a
    one-channel spectrogram image (batch x 1 x frames x width: CLAP's HTS-AT).
    Made lazily."""
    frames = _frames(need)
    for width in _widths(need):
        yield need.make.floats((need.batch, frames, width)), frames
        yield need.make.floats((need.batch, width, frames)), frames
        yield need.make.floats((need.batch, 1, frames, width)), frames


def _widths(need: Need):
    """Feature widths to try, in order: the config's (``feature_width``); the
    default of the model's own feature extractor (its ``feature_size``,
    ``num_mel_bins`` or ``n_mels``: Gemma 4's 128 mel bins, which its audio config
    does not name); the input width of the tower's first linear layer or
    one-dimensional convolution (Granite Speech 5 reads delta-expanded, paired
    frames: 4 x num_mel_bins)."""
    found = [feature_width(need)]
    extractor = _extractor_width(need.model)
    if extractor is not None:
        found.append(extractor)
    first = _first_layer_width(_audio_tower(need.model))
    if first is not None:
        found.append(first)
    return list(dict.fromkeys(w for w in found if w > 1))


_EXTRACTOR_WIDTHS = ("feature_size", "num_mel_bins", "n_mels")


def _extractor_width(model) -> int | None:
    """The feature width the model's own feature extractor makes by default: the
    ``feature_size`` (``num_mel_bins``, ``n_mels``) default of a
    ``*FeatureExtractor`` class in the model's transformers package (its
    ``feature_extraction_*`` modules), read from the signature, nothing built."""
    import importlib
    import inspect
    import pkgutil
    package = type(model).__module__.rpartition(".")[0]
    try:
        paths = importlib.import_module(package).__path__
    except (ImportError, AttributeError):
        return None
    for info in pkgutil.iter_modules(paths):
        if not info.name.startswith("feature_extraction"):
            continue
        try:
            module = importlib.import_module(f"{package}.{info.name}")
        except Exception:       # noqa: BLE001 - an optional dependency missing: no default from it
            continue
        for cls in vars(module).values():
            if not (inspect.isclass(cls) and cls.__module__ == module.__name__
                    and cls.__name__.endswith("FeatureExtractor")):
                continue
            params = inspect.signature(cls.__init__).parameters
            for name in _EXTRACTOR_WIDTHS:
                default = params[name].default if name in params else None
                if isinstance(default, int) and not isinstance(default, bool) and default > 1:
                    return default
    return None


def _first_layer_width(tower) -> int | None:
    """The input width of the tower's first linear layer or one-dimensional
    convolution (in registration order), where that comes before any other
    layer with a weight (a two-dimensional convolution first reads a spectrogram
    image: no width from it)."""
    from torch import nn
    for module in tower.modules():
        if isinstance(module, nn.Linear):
            return module.in_features
        if isinstance(module, nn.Conv1d):
            return module.in_channels
        if isinstance(module, (nn.Conv2d, nn.Conv3d, nn.Embedding)):
            return None
    return None


_TOWERS = ("audio_tower", "audio_encoder", "audio_model", "encoder", "speech_encoder")


def _call(tower, name: str | None, features, kwargs):
    """The tower on ``features``: by name where its forward takes ``name`` (the model
    itself as its own tower, whose first argument may be the token ids: CLVP), else
    as its first argument (a sub-module's ``hidden_states``)."""
    if name is not None and name in _parameters(tower):
        return tower(**{name: features}, **kwargs)
    return tower(features, **kwargs)


def _layout_the_tower_reads(need: Need, candidates, name: str | None = "input_features"):
    """The first of the candidate feature tensors that the model's audio tower (or
    encoder; the model itself when it has neither) runs on, tried on meta (on a
    real model, as for a cross-check, on its real tower: the same choice): no
    config field says whether features come frames first (Speech2Text, Parakeet)
    or mel bins first (GLM-ASR, CLVP, which feed them to a Conv1d), nor, for
    some, their width.  The first candidate when none runs (the forward's own error is then the reason)."""
    model = need.model
    tower = _audio_tower(model)
    candidates = iter(candidates)
    first = next(candidates)
    for features, frames in (first, *candidates):
        companions = _tower_companions(need, tower, frames) if frames is not None else {}
        try:
            need.make.run(model, {"features": features, **companions},
                          lambda features, **kw: _call(tower, name, features, kw))
        except Exception as exc:        # noqa: BLE001 - a layout the tower refuses; try the next
            if not _needs_values(exc):
                continue
            # past the tower's shape checks, stopped where the meta run needs values (Qwen3-ASR's
            # windows split by their lengths): the layout is taken, the profile runs it on real tensors
        need.feature_frames = frames
        return features
    need.feature_frames = first[1]
    return first[0]


# what a meta kernel says when an op needs the values, not only the shapes
_META_VALUES = ("cannot be called on meta tensors", "Cannot copy out of meta tensor", "data-independent implementation")


def _needs_values(exc: BaseException) -> bool:
    return any(text in str(exc) for text in _META_VALUES)


# what a tower requires beside its features, made for the trial: the frames per sample, or a mask of them
_LENGTHS = ("feature_lens",)
_SAMPLE_LENGTHS = ("chunk_sample_lengths",)
_TRIAL_TOKENS = 8          # token ids beside the audio in a trial of a model that reads both
_MASKS = ("input_features_mask", "feature_attention_mask", "attention_mask", "mask")


def _parameters(module) -> dict:
    import inspect
    try:
        return dict(inspect.signature(module.forward).parameters)
    except (TypeError, ValueError):
        return {}


def _tower_companions(need: Need, tower, frames: int) -> dict:
    """What the tower requires beside its features, for a trial run: the frames of
    each sample (``feature_lens``, taken even where optional: Qwen2.5-Omni's
    encoder cannot run without it), the waveform samples of each
    (``chunk_sample_lengths``: Dots3-Note's), a mask of all frames valid
    (``input_features_mask``: Qwen3-ASR's encoder), and, where the model is its
    own tower and takes token ids, a few of them (CLVP)."""
    import inspect
    from profiler.models.hf.make import vocab_size
    found = {}
    if tower is need.model and "input_ids" in _parameters(tower):
        # the model as its own tower, with its text beside the audio (CLVP refuses audio alone)
        found["input_ids"] = need.make.ids((need.batch, _TRIAL_TOKENS), vocab_size(need.model, need.config))
    for name, param in list(_parameters(tower).items())[1:]:
        if name in found:
            continue
        if name in _LENGTHS:
            found[name] = need.make.full((need.batch,), frames)
        elif name in _SAMPLE_LENGTHS:
            found[name] = need.make.full((need.batch,), frames * _hop(need))
        elif name in _MASKS and param.default is inspect.Parameter.empty:
            found[name] = need.make.full((need.batch, frames), 1)
    return found


def feature_lens(need: Need):
    """The frames of each sample of the features made: batch, each the frames
    (a tower that takes its features concatenated, Qwen2.5-Omni's)."""
    features = need.made.get("input_features")
    if features is None:
        return None
    return need.make.full((need.batch,), _features_frames(need, features))


def _features_frames(need: Need, features) -> int:
    if need.feature_frames is not None:
        return need.feature_frames
    return features.shape[-1] if _whisper_like(need) else features.shape[1]


def _audio_tower(model):
    """The model's audio tower (or encoder; the model itself when it has neither)."""
    from torch import nn
    return next((getattr(holder, n) for holder in (model, getattr(model, "model", None)) if holder is not None
                 for n in _TOWERS if isinstance(getattr(holder, n, None), nn.Module)
                 and not _reads_hidden_states(getattr(holder, n))), model)


_HIDDEN = ("hidden_states", "inputs_embeds")


def _reads_hidden_states(module) -> bool:
    """A sub-module whose forward reads the hidden states of the layers before it
    (w2v-BERT's ``encoder`` after its feature projection), not the audio input:
    not the tower the features go to."""
    first = next(iter(_parameters(module)), None)
    return first in _HIDDEN


def feature_mask(need: Need):
    """All frames valid: batch x frames of ones (the features' time axis); of
    booleans where the audio tower types its mask so (Gemma 3n's
    ``audio_mel_mask: torch.BoolTensor``, which it reads with torch.where)."""
    features = need.made.get("input_features")
    frames = _features_frames(need, features) if features is not None else FRAME_RATE
    if _bool_mask(_audio_tower(need.model)):
        return need.make.full((need.batch, frames), True, dtype=need.make.torch.bool)
    return need.make.full((need.batch, frames), 1)


def _bool_mask(tower) -> bool:
    """The tower's forward takes a mask annotated as booleans (``BoolTensor``)."""
    return any(name.endswith("mask") and "Bool" in str(param.annotation)
               for name, param in _parameters(tower).items())


def audio_mel(need: Need):
    """Gemma 3n's audio encoder's log-mel frames: batch x frames x
    ``input_feat_size`` (FRAME_RATE a second, default 1 s)."""
    width = _field(need, ("input_feat_size",))
    if width is None:
        return None
    return need.make.floats((need.batch, _frames(need), width))


def audio_mel_mask(need: Need):
    """Its padding mask, batch x frames, True where a frame is padding: none is."""
    mel = need.made.get("audio_mel")
    frames = mel.shape[1] if mel is not None else _frames(need)
    return need.make.full((need.batch, frames), False, dtype=need.make.torch.bool)


def latents(need: Need):
    """A codec decoder's latents (Mimi): batch x ``hidden_size`` x frames, at the
    codec's frame rate (sampling rate / the product of ``upsampling_ratios``;
    default 1 s)."""
    ratios = _field(need, ("upsampling_ratios",), (list, tuple))
    width = get(need.config, "hidden_size")
    if ratios is None or not isinstance(width, int):
        return None
    hop = math.prod(int(r) for r in ratios)
    frames = max(1, math.ceil(_seconds(need) * _rate(need) / hop))
    return need.make.floats((need.batch, width, frames))


def padding_mask(need: Need):
    """A waveform's padding mask, all samples valid: batch x samples of ones, made
    where the forward requires it or where the model's ``get_audio_features``
    (on the model or its inner ``model``) requires it (VibeVoice counts its audio
    tokens from it; MOSS Transcribe-Diarize, which takes features, maps its
    chunks from it: the samples are then the frames times the hop); None
    elsewhere (a codec's optional mask stays unset)."""
    import inspect
    waveform, features = need.made.get("input_values"), need.made.get("input_features")
    if waveform is None and features is None:
        return None
    wanted = need.takes("padding_mask") and need.params["padding_mask"].default is inspect.Parameter.empty
    for holder in (need.model, getattr(need.model, "model", None)):
        fn = getattr(holder, "get_audio_features", None)
        if fn is not None and not wanted:
            param = inspect.signature(fn).parameters.get("padding_mask")
            wanted = param is not None and param.default is inspect.Parameter.empty
    if not wanted:
        return None
    # beside features, the waveform they were cut from: frames x hop samples (MOSS's chunk mapping reads it)
    samples = waveform.shape[-1] if waveform is not None else _features_frames(need, features) * _hop(need)
    return need.make.full((need.batch, samples), 1)


_AUDIO_INPUTS = ("input_values", "input_features")


def reads_audio(need: Need) -> bool:
    """An audio tower called on its own whose forward names its input
    ``hidden_states`` (Granite Speech's CTC encoder, Phi-4's audio model, VibeVoice's
    acoustic tokenizer): the model class says it takes audio (``input_modalities``
    "audio" and no image) or names a waveform or features as its main input."""
    cls = type(need.model)
    modalities = getattr(cls, "input_modalities", None)
    modalities = (modalities,) if isinstance(modalities, str) else tuple(modalities or ())
    return ("audio" in modalities and not {"image", "video"} & set(modalities)) or \
        getattr(cls, "main_input_name", None) in _AUDIO_INPUTS


def hidden_states(need: Need):
    """An audio tower's input, named ``hidden_states``: features (frames first or
    width first, at the widths of ``_widths``), else a waveform (batch x samples,
    batch x 1 x samples), the first the tower runs on (``_layout_the_tower_reads``;
    VibeVoice's decoder reads its latents width first, its encoder a one-channel
    waveform)."""
    samples = max(1, round(_seconds(need) * _rate(need)))

    def candidates():
        yield from _feature_candidates(need)
        yield need.make.floats((need.batch, samples)), None
        yield need.make.floats((need.batch, 1, samples)), None
    return _layout_the_tower_reads(need, candidates(), "hidden_states")


# a vocoder's mel bins per frame (HiFi-GAN's model_in_dim, BigVGAN's mel_dim)
_VOCODER_FIELDS = ("model_in_dim", "mel_dim")


def spectrogram(need: Need):
    """A vocoder's log-mel spectrogram (SpeechT5's and FastSpeech 2's HiFi-GAN,
    Qwen2.5-Omni's BigVGAN): FRAME_RATE frames a second (default 1 s) of
    ``model_in_dim`` (``mel_dim``) mel bins, frames first (batch x frames x
    bins, HiFi-GAN's documented layout) or bins first (BigVGAN, which feeds it
    to a Conv1d), as the model runs on meta (``_layout_the_tower_reads``)."""
    width = _field(need, _VOCODER_FIELDS)
    if width is None:
        return None
    frames = _frames(need)
    name = next(n for n in ("spectrogram", "mel_spectrogram") if need.takes(n))
    return _layout_the_tower_reads(need, ((need.make.floats((need.batch, frames, width)), None),
                                          (need.make.floats((need.batch, width, frames)), None)), name)


def chunk_sample_lengths(need: Need):
    """The waveform samples each chunk of features covers (Dots3-Note's audio
    encoder): per chunk of the batch, its frames times the feature extractor's
    ``hop_length`` (default: the sampling rate over FRAME_RATE)."""
    features = need.made.get("input_features")
    if features is None:
        return None
    return need.make.full((features.shape[0],), _features_frames(need, features) * _hop(need))


def _hop(need: Need) -> int:
    """Waveform samples per feature frame: the config's ``hop_length``, else the
    sampling rate over FRAME_RATE."""
    return _field(need, ("hop_length",)) or max(1, _rate(need) // FRAME_RATE)


def _whisper_like(need: Need) -> bool:
    return get(need.audio, "max_source_positions", default=get(need.config, "max_source_positions")) is not None


def audio_input_ids(need: Need):
    """Quantised mel frames read as token ids (Inkling's audio embedder: one
    embedding table per mel bin, summed over the bins): batch x frames (FRAME_RATE
    a second, default 1 s) x ``n_mel_bins``, each id below ``mel_vocab_size``."""
    bins, levels = _field(need, ("n_mel_bins",)), _field(need, ("mel_vocab_size",))
    if bins is None or levels is None or not need.requires("audio_input_ids"):
        return None
    return need.make.ids((need.batch, _frames(need), bins), levels)


RULES = {
    "input_values": Rule(input_values, "audio", primary=True),
    "audio_input_ids": Rule(audio_input_ids, "speech"),
    "input_features": Rule(input_features, "speech", primary=True),
    "input_features_mask": Rule(feature_mask, "speech", after=("input_features",)),
    "feature_attention_mask": Rule(feature_mask, "speech", after=("input_features",)),
    "feature_lens": Rule(feature_lens, "speech", after=("input_features",)),
    "audio_mel": Rule(audio_mel, "speech", primary=True),
    "audio_mel_mask": Rule(audio_mel_mask, "speech", after=("audio_mel",)),
    "chunk_sample_lengths": Rule(chunk_sample_lengths, "speech", after=("input_features",)),
    "latents": Rule(latents, "audio"),
    "spectrogram": Rule(spectrogram, "audio", primary=True),
    "mel_spectrogram": Rule(spectrogram, "audio", primary=True),
    "padding_mask": Rule(padding_mask, "audio", after=("input_values", "input_features")),
}
