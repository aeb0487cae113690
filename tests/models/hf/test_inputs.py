"""example_inputs: what the forward takes, made from its signature and config, and the
counts on them against FlopCounterMode (profiler.models.hf.inputs)."""
from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"       # never fetch a config or weights


import pytest
import torch

import profiler
from profiler.errors import ProfilerError
from profiler.models.resolve import resolve
from hf_tiny import BATCH, CONTEXT, DECODER, GENERATES, TINY, TOKENS, example_inputs, macs_flop_counter

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()


@pytest.mark.parametrize("decode", [None, CONTEXT], ids=["prefill", "decode"])
@pytest.mark.parametrize("arch", sorted(TINY))
def test_counts_match_flop_counter(arch, decode, built):
    """Nothing uncounted; our MACs on the meta build equal FlopCounterMode's on the
    real one; params equal sum(p.numel()) (tied weights once)."""
    spec, meta, real, _ = built(arch)
    if decode and arch not in GENERATES:
        with pytest.raises(ProfilerError, match="decode"):
            example_inputs(meta, spec.config, BATCH, decode=decode)
        return
    tokens = None if spec.family == "vision" or decode else TOKENS
    args, kwargs, desc = example_inputs(meta, spec.config, BATCH, tokens=tokens, decode=decode)
    real_args, real_kwargs, _ = example_inputs(real, spec.config, BATCH, tokens=tokens, decode=decode)
    assert args == () == real_args and "attention_mask" not in kwargs
    assert set(real_kwargs) == set(kwargs)
    for key, value in kwargs.items():
        if isinstance(value, torch.Tensor):
            assert value.shape == real_kwargs[key].shape and value.dtype == real_kwargs[key].dtype
            # ids, positions and small float inputs hold the real model's values, on the CPU (carried on meta)
            if value.device.type == "cpu":
                assert torch.equal(value, real_kwargs[key]), key
            else:
                assert value.device.type == "meta" and value.is_floating_point(), key
    report = profiler.profile(meta, inputs=args, kwargs=kwargs)
    assert len(report.uncounted) == 0, report.uncounted
    assert int(report.total["macs"]) == macs_flop_counter(real, real_kwargs), desc
    assert int(report.total["params"]) == sum(p.numel() for p in real.parameters())

def test_example_inputs_shapes(built):
    spec, meta, _, _ = built("whisper")
    _, kwargs, _ = example_inputs(meta, spec.config, 3)
    assert tuple(kwargs["input_features"].shape) == (3, 80, 128)      # 2 x max_source_positions frames
    assert tuple(kwargs["decoder_input_ids"].shape) == (3, 64)      # 128 is more than its 64 positions
    spec, meta, _, _ = built("clip")
    _, kwargs, _ = example_inputs(meta, spec.config, 2)
    assert tuple(kwargs["input_ids"].shape) == (2, 77) and tuple(kwargs["pixel_values"].shape) == (2, 3, 32, 32)
    assert kwargs["input_ids"].dtype == torch.int64
    spec, meta, _, _ = built("t5")
    _, kwargs, desc = example_inputs(meta, spec.config, 2, decode=6)
    assert tuple(kwargs["encoder_outputs"][0].shape) == (2, 6, 64)
    assert tuple(kwargs["decoder_input_ids"].shape) == (2, 1) and "input_ids" not in kwargs
    spec, meta, _, _ = built("vit")
    with pytest.raises(ProfilerError, match="tokens"):
        example_inputs(meta, spec.config, 1, tokens=4)
    spec, meta, _, _ = built("gpt2")                                 # 64 learned positions
    assert tuple(example_inputs(meta, spec.config, 1)[1]["input_ids"].shape) == (1, 64)
    with pytest.raises(ProfilerError, match="hold 64 positions, and tokens = 65"):
        example_inputs(meta, spec.config, 1, tokens=65)
    with pytest.raises(ProfilerError, match="hold 64 positions, and decode \\+ tokens = 66"):
        example_inputs(meta, spec.config, 1, tokens=2, decode=64)
    spec, meta, _, _ = built("vit")
    for bad in (dict(batch=0), dict(tokens=-1), dict(decode=True)):
        with pytest.raises(ProfilerError):
            example_inputs(meta, spec.config, **{"batch": 1, **bad})

def test_meta_model_with_attention_mask_and_without():
    """transformers' SDPA mask reads the padding mask's values: on meta that fails,
    which is why example_inputs passes none (and the forward then runs)."""
    spec = resolve("hf:llama", DECODER)
    meta = spec.build(meta=True).eval()
    ids = torch.empty(1, 4, dtype=torch.int64, device="meta")
    try:
        with torch.no_grad():
            meta(input_ids=ids, attention_mask=torch.ones(1, 4, dtype=torch.int64, device="meta"))
    except RuntimeError as exc:        # transformers 5.x: padding_mask.all() on meta
        assert "meta" in str(exc)
    with torch.no_grad():
        meta(input_ids=ids)

def _largest(per: int, past: int = 0) -> int:
    """The most n with per · n · (past + n) ≤ 2**63 - 1, by bisection."""
    low, high = 0, 2**62
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if per * mid * (past + mid) <= 2**63 - 1 else (low, mid - 1)
    return low

@pytest.mark.parametrize("kwargs,argument,queries,keys,past", [
    (dict(tokens=10**9), "tokens", 10**9, 10**9, 0),
    (dict(decode=10**9), "decode", 10**9, 10**9, 0),               # the prefill that makes the cache
    (dict(decode=100, tokens=10**9), "tokens", 10**9, 10**9 + 100, 100),   # the step after it
    (dict(tokens=10**9, batch=3), "tokens", 10**9, 10**9, 0),
])
def test_tokens_whose_attention_scores_overflow_a_tensor_are_refused_with_the_largest_that_fits(
        kwargs, argument, queries, keys, past):
    """One layer's attention scores (batch × heads × queries × keys, 4 bytes each) must fit a
    tensor's 2**63 - 1 bytes: instead of torch's "Storage size calculation overflowed", a
    one-line error naming tokens= or decode= and the largest value that fits."""
    batch, heads = kwargs.get("batch", 1), 32
    with pytest.raises(ProfilerError) as info:
        profiler.profile("hf:llama", config={"num_hidden_layers": 1}, **kwargs)
    largest = _largest(batch * heads * 4, past)
    assert str(info.value) == (
        f"LlamaForCausalLM: {argument}={queries}: one layer's attention scores (batch {batch} × {heads} heads × "
        f"{queries} queries × {keys} keys × 4 bytes) would take more than 2**63 - 1 bytes, the most a tensor "
        f"holds: lower {argument}= to {largest} or less")
    assert largest < queries


def test_a_decoder_of_audio_codes_reads_one_row_per_codebook():
    """MusicGen's decoder documents input_ids as (batch_size * num_codebooks, length)."""
    spec = resolve("hf:musicgen_decoder", {"num_hidden_layers": 1, "hidden_size": 64, "ffn_dim": 128,
                                           "num_attention_heads": 4, "vocab_size": 100, "num_codebooks": 3})
    meta = spec.build(meta=True)
    _, kwargs, _ = example_inputs(meta, spec.config, 2, tokens=5)
    assert tuple(kwargs["input_ids"].shape) == (2 * 3, 5)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        real = spec.build(meta=False).eval()
    _, real_kwargs, _ = example_inputs(real, spec.config, 2, tokens=5)
    assert int(profiler.profile(meta, kwargs=kwargs).total["macs"]) == macs_flop_counter(real, real_kwargs)


DIA = {"encoder_config.num_hidden_layers": 1, "encoder_config.hidden_size": 64, "encoder_config.intermediate_size": 128,
       "encoder_config.num_attention_heads": 4, "encoder_config.num_key_value_heads": 4, "encoder_config.head_dim": 16,
       "encoder_config.vocab_size": 100, "decoder_config.num_hidden_layers": 1, "decoder_config.hidden_size": 64,
       "decoder_config.intermediate_size": 128, "decoder_config.num_attention_heads": 4,
       "decoder_config.num_key_value_heads": 2, "decoder_config.head_dim": 16, "decoder_config.cross_hidden_size": 64,
       "decoder_config.cross_num_attention_heads": 4, "decoder_config.cross_head_dim": 16,
       "decoder_config.cross_num_key_value_heads": 4, "decoder_config.vocab_size": 100,
       "decoder_config.num_channels": 3, "delay_pattern": [0, 8, 9]}


@pytest.mark.parametrize("arch,overrides,name,shape", [
    # Dia's decoder documents (batch_size, sequence_length, num_codebooks): its codes, 3 a token
    ("dia", DIA, "decoder_input_ids", (2, 5, 3)),
    ("dia_decoder", {k.split(".", 1)[1]: v for k, v in DIA.items() if k.startswith("decoder_config.")},
     "input_ids", (2, 5, 3)),
])
def test_a_decoder_of_audio_codes_reads_a_last_axis_of_codebooks(arch, overrides, name, shape):
    spec = resolve(f"hf:{arch}", overrides)
    meta = spec.build(meta=True)
    _, kwargs, _ = example_inputs(meta, spec.config, 2, tokens=5)
    assert tuple(kwargs[name].shape) == shape
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        real = spec.build(meta=False).eval()
    _, real_kwargs, _ = example_inputs(real, spec.config, 2, tokens=5)
    assert int(profiler.profile(meta, kwargs=kwargs).total["macs"]) == macs_flop_counter(real, real_kwargs)


def test_a_multi_stream_embedding_reads_a_last_axis_of_streams():
    """Kyutai's speech-to-text embeds the text and its audio codebooks into one table at
    per-stream offsets and sums them: ids of batch x length x (1 + num_codebooks), each below
    the codebook vocabulary."""
    spec = resolve("hf:kyutai_speech_to_text", {"num_hidden_layers": 1, "hidden_size": 64, "ffn_dim": 128,
                                                "num_attention_heads": 4, "num_key_value_heads": 4, "head_dim": 16,
                                                "vocab_size": 100, "codebook_vocab_size": 50, "num_codebooks": 3,
                                                "audio_pad_token_id": 250, "audio_bos_token_id": 49, "bos_token_id": 1})
    meta = spec.build(meta=True)
    _, kwargs, _ = example_inputs(meta, spec.config, 2, tokens=5)
    assert tuple(kwargs["input_ids"].shape) == (2, 5, 4) and int(kwargs["input_ids"].max()) < 50
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        real = spec.build(meta=False).eval()
    _, real_kwargs, _ = example_inputs(real, spec.config, 2, tokens=5)
    assert int(profiler.profile(meta, kwargs=kwargs).total["macs"]) == macs_flop_counter(real, real_kwargs)


def test_text_fits_the_positions_the_config_states():
    """TIPSv2's text tower keeps its positions in a parameter of max_position_embeddings
    rows (no nn.Embedding table shows the limit): the text is that long at most."""
    spec = resolve("hf:tipsv2_text_model", {"num_hidden_layers": 1})
    meta = spec.build(meta=True)
    _, kwargs, _ = example_inputs(meta, spec.config)
    assert tuple(kwargs["input_ids"].shape) == (1, spec.config.max_position_embeddings)
    spec = resolve("hf:llama", DECODER)                 # rotary, 2048 positions: the default 128
    _, kwargs, _ = example_inputs(spec.build(meta=True), spec.config)
    assert tuple(kwargs["input_ids"].shape) == (1, 128)
