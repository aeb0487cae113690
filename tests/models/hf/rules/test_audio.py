"""Audio inputs (profiler.models.hf.rules.audio): waveforms and features at the
config's sizes or seconds=."""
from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"


import pytest
from hf_tiny import example_inputs, need

from profiler.models.hf.rules.audio import input_features, input_values
from profiler.models.hf.rules.base import Need
from profiler.models.resolve import resolve

transformers = pytest.importorskip("transformers")




def _need(arch: str, overrides=None, **sizes):
    return need(arch, overrides, 1, **sizes)


def test_waveform_is_seconds_at_the_sampling_rate():
    assert tuple(input_values(_need("wav2vec2", {"num_hidden_layers": 1})).shape) == (1, 16000)
    assert tuple(input_values(_need("wav2vec2", {"num_hidden_layers": 1}, seconds=0.25)).shape) == (1, 4000)


def test_features_whisper_layout_and_frames_first_layout():
    whisper = _need("whisper", {"encoder_layers": 1, "decoder_layers": 1})
    assert tuple(input_features(whisper).shape) == (1, 80, 3000)        # 30 s, the only length Whisper takes
    speech = _need("speech_to_text", {"encoder_layers": 1, "decoder_layers": 1})
    assert tuple(input_features(speech).shape) == (1, 100, 80)          # 1 s at 100 frames a second


def _made(need: Need, name: str):
    from profiler.models.hf.rules.audio import RULES
    value = RULES[name].make(need)
    need.made[name] = value
    return value


def test_spectrogram_transformer_reads_its_fixed_spectrogram():
    need = _need("audio-spectrogram-transformer", {"num_hidden_layers": 1, "max_length": 256})
    config = need.config
    assert tuple(input_values(need).shape) == (1, config.max_length, config.num_mel_bins)


def test_codec_waveform_has_a_channel_axis():
    dac = _need("dac")                                   # names its downsampling_ratios, no audio_channels
    assert tuple(input_values(dac).shape) == (1, 1, dac.config.sampling_rate)
    nested = _need("pe_audio_encoder", {"num_hidden_layers": 1})   # the DAC config inside its own
    assert input_values(nested).dim() == 3 and input_values(nested).shape[1] == 1
    encodec = _need("encodec", {"audio_channels": 2})
    assert tuple(input_values(encodec).shape) == (1, 2, encodec.config.sampling_rate)


def test_stacked_features_are_mel_bins_times_the_stack():
    need = _need("fun_asr_nano_encoder", {"num_hidden_layers": 2, "num_stacked_frames": 3})
    config = need.config
    assert input_features(need).shape[-1] == config.num_mel_bins * 3
    bert = _need("wav2vec2-bert", {"num_hidden_layers": 1, "feature_projection_input_dim": 96})
    assert input_features(bert).shape[-1] == 96


def test_frames_are_a_multiple_of_the_subsampling_factor():
    need = _need("nemotron3_5_transcribe_audio", seconds=0.5)
    factor = need.config.asr_config.subsampling_factor
    features = input_features(need)
    assert features.shape[1] % factor == 0 and 50 <= features.shape[1] < 50 + factor
    assert features.shape[2] == need.config.asr_config.num_mel_bins


def test_features_beside_a_codec_waveform_have_the_codec_frames():
    import math
    need = _need("xcodec2")
    waveform = _made(need, "input_values")
    features = _made(need, "input_features")
    assert features.shape[1] == math.ceil(waveform.shape[-1] / math.prod(need.config.downsampling_ratios))
    assert _made(need, "input_features_mask").shape == features.shape[:2]


def test_gemma3n_audio_mel_and_its_padding_mask():
    need = _need("gemma3n_audio", {"conf_num_hidden_layers": 1})
    mel = _made(need, "audio_mel")
    assert tuple(mel.shape) == (1, 100, need.config.input_feat_size)
    mask = _made(need, "audio_mel_mask")
    assert mask.dtype.is_floating_point is False and tuple(mask.shape) == (1, 100) and not mask.any()


def test_codec_decoder_latents_at_its_frame_rate():
    import math
    need = _need("mimi_decoder", {"num_hidden_layers": 1})
    config = need.config
    latents = _made(need, "latents")
    frames = math.ceil(config.sampling_rate / math.prod(config.upsampling_ratios))
    assert tuple(latents.shape) == (1, config.hidden_size, frames)


def test_feature_layout_is_the_one_the_tower_reads():
    """No config field says it: Speech2Text reads frames first (it transposes for its
    convolutions itself), GLM-ASR's encoder mel bins first (a Conv1d over them)."""
    assert tuple(input_features(_need("speech_to_text", {"encoder_layers": 1, "decoder_layers": 1})).shape) \
        == (1, 100, 80)
    glm = _need("glmasr_encoder", {"num_hidden_layers": 1})
    mels = glm.config.num_mel_bins
    assert tuple(input_features(glm).shape) == (1, mels, 100)


def test_no_audio_inputs_without_an_audio_tower():
    """Gemma 4 leaves its audio_config None by default: built without an audio tower."""
    need = _need("gemma4", {"text_config.num_hidden_layers": 1})
    assert need.config.audio_config is None
    assert input_features(need) is None and input_values(need) is None


def test_feature_width_of_the_model_s_own_feature_extractor():
    """Gemma 4's audio config names no mel bins; its feature extractor makes 128
    (what its subsampling projection is sized for: subsampling_conv_channels[0] // 4 per channel)."""
    need = _need("gemma4_audio", {"num_hidden_layers": 1})
    channels = need.config.subsampling_conv_channels
    features = input_features(need)
    assert features.shape[0] == 1 and features.shape[2] // 4 * channels[1] == \
        (channels[0] // 4) * channels[1] and features.shape[2] == 128


def test_feature_width_of_the_tower_s_first_linear_layer():
    """Granite Speech 5 reads delta-expanded frames stacked in pairs: 4 x num_mel_bins wide."""
    need = _need("granite_speech5_encoder", {"num_hidden_layers": 1})
    assert tuple(input_features(need).shape) == (1, 100, 4 * need.config.num_mel_bins)


def test_spectrogram_image_of_one_channel():
    """CLAP's HTS-AT reads batch x 1 x frames x num_mel_bins."""
    need = _need("clap_audio_model", {"depths": [1, 1, 1, 1]})
    assert tuple(input_features(need).shape) == (1, 1, 100, need.config.num_mel_bins)


def test_waveform_with_a_channel_axis_where_the_tower_reads_one():
    """OmniASR's encoder reads batch x 1 x samples (no codec field says so)."""
    need = _need("omniasr_audio", {"num_hidden_layers": 1})
    assert tuple(input_values(need).shape) == (1, 1, 16000)
    assert tuple(input_values(_need("wav2vec2", {"num_hidden_layers": 1})).shape) == (1, 16000)


def _ours_and_flop_counter(arch: str, overrides: dict):
    """(our MACs on the meta build, FlopCounterMode's on a real tiny build, the inputs made)."""
    import sys
    from pathlib import Path

    import torch

    import profiler
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from hf_tiny import macs_flop_counter
    spec = resolve(f"hf:{arch}", overrides)
    meta = spec.build(meta=True)
    _, kwargs, _ = example_inputs(meta, spec.config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        real = spec.build(meta=False).eval()
    _, real_kwargs, _ = example_inputs(real, spec.config)
    return int(profiler.profile(meta, kwargs=kwargs).total["macs"]), macs_flop_counter(real, real_kwargs), kwargs


def test_vocoder_spectrogram_in_the_layout_it_reads():
    """HiFi-GAN documents batch x frames x model_in_dim; BigVGAN feeds its mel
    spectrogram to a Conv1d, bins first.  Both 100 frames (1 s)."""
    hifigan = _need("speecht5_hifigan", {"upsample_initial_channel": 16})
    assert tuple(_made(hifigan, "spectrogram").shape) == (1, 100, hifigan.config.model_in_dim)
    # BigVGAN's forward ends in .cpu(), which the profiler's run of the model answers on meta
    import profiler
    report = profiler.profile("hf:qwen2_5_omni_bigvgan", config={"upsample_initial_channel": 64})
    assert report.input_desc.startswith("mel_spectrogram 1x80x100")
    ours, reference, _ = _ours_and_flop_counter("speecht5_hifigan", {"upsample_initial_channel": 16})
    assert ours == reference


def test_waveform_a_multiple_of_the_samples_per_token():
    """Muse Spark's audio encoder refuses a waveform that is not a whole number of
    tokens (samples_per_token: the product of its patch sizes)."""
    need = _need("muse_spark_audio", {"hidden_sizes": [8, 8, 8, 8], "depths": [1, 1, 1, 1], "out_hidden_size": 8})
    per = need.config.samples_per_token
    samples = input_values(need).shape[-1]
    assert samples % per == 0 and samples - per < 16000 <= samples


def test_encoder_that_reads_a_waveform_gets_no_features():
    """SpeechEncoderDecoderModel takes input_values and input_features and refuses
    both at once; its encoder (wav2vec2) reads the waveform."""
    need = _need("speech-encoder-decoder")
    _made(need, "input_values")
    assert input_features(need) is None
    whisper = _need("whisper", {"encoder_layers": 1, "decoder_layers": 1})
    assert input_features(whisper) is not None


def test_features_for_the_model_whose_encoder_reads_hidden_states():
    """w2v-BERT's ``encoder`` reads the hidden states after its feature projection:
    its features are the model's own (the stated feature_projection_input_dim, 160)."""
    overrides = {"num_hidden_layers": 1, "hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 2,
                 "output_hidden_size": 32, "num_adapter_layers": 1}
    need = _need("wav2vec2-bert", overrides)
    assert tuple(input_features(need).shape) == (1, 100, need.config.feature_projection_input_dim)
    ours, reference, _ = _ours_and_flop_counter("wav2vec2-bert", overrides)
    assert ours == reference


def test_features_tried_with_the_text_beside_them():
    """CLVP is its own tower and refuses audio without token ids: the trial gives it
    some, and finds its features mel bins first (a Conv1d over them)."""
    need = _need("clvp", {"text_config.num_hidden_layers": 1, "speech_config.num_hidden_layers": 1,
                          "decoder_config.num_hidden_layers": 1})
    mels = need.config.decoder_config.feature_size
    assert tuple(input_features(need).shape) == (1, mels, 100)


def test_chunk_sample_lengths_are_the_frames_times_the_hop():
    need = _need("dots3_note_audio_encoder", {"num_hidden_layers": 1})
    features = _made(need, "input_features")
    assert tuple(features.shape) == (1, need.config.feature_size, 100)      # mel bins first, tried on meta
    assert _made(need, "chunk_sample_lengths").tolist() == [100 * need.config.hop_length]


def test_an_audio_tower_alone_reads_audio_as_its_hidden_states():
    """Towers whose forward names their input hidden_states: Granite Speech's CTC
    encoder reads features (input_dim wide), VibeVoice's acoustic decoder its
    latents width first, its encoder a one-channel waveform; never an image."""
    from profiler.models.hf.rules import RULES
    granite = _need("granite_speech_encoder", {"num_layers": 1})
    assert tuple(RULES["hidden_states"].make(granite).shape) == (1, 100, granite.config.input_dim)
    decoder = _need("vibevoice_acoustic_tokenizer_decoder")
    assert tuple(RULES["hidden_states"].make(decoder).shape) == (1, decoder.config.hidden_size, 100)
    encoder = _need("vibevoice_acoustic_tokenizer_encoder")
    assert tuple(RULES["hidden_states"].make(encoder).shape) == (1, 1, 16000)


def test_a_required_argument_that_admits_none_is_given_none():
    """Phi-4's audio model requires ``mask: Tensor | None``: given None, it counts as
    FlopCounterMode does."""
    overrides = {"num_blocks": 1, "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 2,
                 "depthwise_separable_out_channel": 64, "ext_pw_out_channel": 64, "nemo_conv_channels": 64}
    ours, reference, kwargs = _ours_and_flop_counter("phi4_multimodal_audio", overrides)
    assert kwargs["mask"] is None and tuple(kwargs["hidden_states"].shape)[:2] == (1, 100)
    assert ours == reference


def test_feature_mask_of_booleans_where_the_tower_types_it_so():
    """Gemma 3n's audio encoder takes ``audio_mel_mask: torch.BoolTensor`` (read with
    torch.where) and names its width input_feat_size; wav2vec2's mask is of ints."""
    from profiler.models.hf.rules.audio import _bool_mask, feature_width
    need = _need("gemma3n_audio", {"conf_num_hidden_layers": 1})
    assert _bool_mask(need.model) and feature_width(need) == need.config.input_feat_size
    assert not _bool_mask(_need("wav2vec2", {"num_hidden_layers": 1}).model)


def test_audio_tokens_counted_by_the_tower_where_the_method_needs_the_token_ids():
    """Music Flamingo's get_audio_features needs the token ids being made (for its
    timestamps): the audio tower's rows count the placeholders, and the counts
    equal FlopCounterMode's."""
    overrides = {"audio_config.num_hidden_layers": 1, "text_config.num_hidden_layers": 1,
                 "text_config.hidden_size": 64, "text_config.intermediate_size": 128,
                 "text_config.num_attention_heads": 2, "text_config.num_key_value_heads": 1}
    ours, reference, kwargs = _ours_and_flop_counter("musicflamingo", overrides)
    spec = resolve("hf:musicflamingo", overrides)
    placeholders = int((kwargs["input_ids"] == spec.config.audio_token_id).sum())
    assert placeholders == 750 and ours == reference       # 3000 frames, a stride-2 conv, pooled by 2


def test_features_concatenated_only_for_the_encoder_alone():
    """Qwen2.5-Omni's audio encoder alone takes mel bins x frames with feature_lens;
    the thinker around it takes batch x mel bins x frames and concatenates them itself."""
    encoder = _need("qwen2_5_omni_audio_encoder", {"encoder_layers": 1})
    assert tuple(input_features(encoder).shape) == (encoder.config.num_mel_bins, 3000)
    thinker = _need("qwen2_5_omni_thinker", {"audio_config.encoder_layers": 1, "vision_config.depth": 1,
                                             "text_config.num_hidden_layers": 1})
    assert tuple(input_features(thinker).shape) == (1, thinker.config.audio_config.num_mel_bins, 3000)
