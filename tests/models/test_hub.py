"""hf: and timm: models (profiler.models.hub): names, config overrides, meta builds,
example inputs for prefill and decode, and counts against FlopCounterMode on the
same models built for real.

Every model is a tiny config (overrides of the defaults), built from its config:
nothing is downloaded (HF_HUB_OFFLINE=1 guards it).  FlopCounterMode runs on the
real CPU build under ``sdpa_kernel(SDPBackend.MATH)``, so it sees every attention
matmul, with real inputs of the shapes ``example_inputs`` gives (a real model gets
seeded real ones, its KV cache filled by a real prefill).  FlopCounterMode has no
formula for ``torch._grouped_mm``, so the MoE references are built with
``experts_implementation="eager"`` (a loop of linear layers over each expert's
tokens, the same products); ours runs on transformers' default (grouped_mm).
"""
from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"       # never fetch a config or weights

import copy
import json
import subprocess
import sys
import time

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import profiler
from profiler.arguments import parse_config_overrides
from profiler.models import hub
from profiler.errors import ProfilerError
from profiler.models.resolve import resolve

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()

DECODER = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
               num_key_value_heads=2, vocab_size=128)
TINY = {
    "llama": DECODER,                                                   # GQA: 4 query heads, 2 KV heads
    "mistral": {**DECODER, "sliding_window": 8},
    "mixtral": {**DECODER, "num_local_experts": 4, "num_experts_per_tok": 2},
    "qwen2_moe": {**DECODER, "num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 32,
                  "shared_expert_intermediate_size": 64},
    "gpt2": dict(n_embd=64, n_layer=2, n_head=4, vocab_size=128, n_positions=64),
    "bert": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 vocab_size=128),
    "t5": dict(d_model=64, d_ff=128, num_layers=2, num_heads=4, d_kv=16, vocab_size=128),
    "bart": dict(d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4,
                 encoder_ffn_dim=128, decoder_ffn_dim=128, vocab_size=128, pad_token_id=0, bos_token_id=1,
                 eos_token_id=2, decoder_start_token_id=2, forced_eos_token_id=2),
    "vit": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                image_size=32, patch_size=8),
    "clip": {**{f"text_config.{k}": v for k, v in dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                                        num_attention_heads=4, vocab_size=128).items()},
             **{f"vision_config.{k}": v for k, v in dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                                          num_attention_heads=4, image_size=32,
                                                          patch_size=8).items()},
             "projection_dim": 32},
    "whisper": dict(d_model=64, encoder_ffn_dim=128, decoder_ffn_dim=128, encoder_layers=2, decoder_layers=2,
                    encoder_attention_heads=4, decoder_attention_heads=4, vocab_size=128, max_source_positions=64,
                    max_target_positions=64, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                    decoder_start_token_id=3, suppress_tokens=None, begin_suppress_tokens=None),
}
CLASSES = {"llama": ("LlamaForCausalLM", "language"), "mistral": ("MistralForCausalLM", "language"),
           "mixtral": ("MixtralForCausalLM", "language"), "qwen2_moe": ("Qwen2MoeForCausalLM", "language"),
           "gpt2": ("GPT2LMHeadModel", "language"), "bert": ("BertModel", "language"),
           "t5": ("T5ForConditionalGeneration", "language"), "vit": ("ViTModel", "vision"),
           "bart": ("BartForConditionalGeneration", "language"),
           "clip": ("CLIPModel", "vision-language"), "whisper": ("WhisperForConditionalGeneration", "speech")}
GENERATES = {"llama", "mistral", "mixtral", "qwen2_moe", "gpt2", "t5", "bart", "whisper"}
MOE = {"mixtral", "qwen2_moe"}
BATCH, TOKENS, CONTEXT = 2, 5, 12        # CONTEXT > mistral's window of 8


def _macs_flop_counter(model, kwargs) -> int:
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), counter:
        model(**copy.deepcopy(kwargs))       # the forward appends to the cache: keep ours intact
    return counter.get_total_flops() // 2


@pytest.fixture(scope="module")
def built():
    """arch -> (spec, meta model, real model), built once."""
    cache = {}

    def get(arch):
        if arch not in cache:
            spec = resolve(f"hf:{arch}", TINY[arch])
            start = time.perf_counter()
            meta = spec.build(meta=True)
            seconds = time.perf_counter() - start
            reference = resolve(f"hf:{arch}", {**TINY[arch], "experts_implementation": "eager"}) \
                if arch in MOE else spec
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                real = reference.build(meta=False).eval()
            cache[arch] = spec, meta, real, seconds
        return cache[arch]
    return get


@pytest.mark.parametrize("arch", sorted(TINY))
def test_spec_builds_on_meta(arch, built):
    spec, meta, real, seconds = built(arch)
    cls, family = CLASSES[arch]
    assert type(meta).__name__ == cls and spec.family == family
    assert spec.config is not None and cls in spec.notes[0]
    assert seconds < 5, f"{arch}: meta build took {seconds:.1f} s"
    assert all(t.device.type == "meta" for t in (*meta.parameters(), *meta.buffers()))
    assert meta.config._attn_implementation == "sdpa"
    if arch in MOE:
        assert meta.config._experts_implementation == "grouped_mm"


@pytest.mark.parametrize("decode", [None, CONTEXT], ids=["prefill", "decode"])
@pytest.mark.parametrize("arch", sorted(TINY))
def test_counts_match_flop_counter(arch, decode, built):
    """Nothing uncounted; our MACs on the meta build equal FlopCounterMode's on the
    real one; params equal sum(p.numel()) (tied weights once)."""
    spec, meta, real, _ = built(arch)
    if decode and arch not in GENERATES:
        with pytest.raises(ProfilerError, match="decode"):
            hub.example_inputs(meta, spec.config, BATCH, decode=decode)
        return
    tokens = None if spec.family == "vision" or decode else TOKENS
    args, kwargs, desc = hub.example_inputs(meta, spec.config, BATCH, tokens=tokens, decode=decode)
    real_args, real_kwargs, _ = hub.example_inputs(real, spec.config, BATCH, tokens=tokens, decode=decode)
    assert args == () == real_args and "attention_mask" not in kwargs
    # the same inputs, but for the 4D decoder mask a meta BART needs (a real one does not)
    assert set(real_kwargs) == set(kwargs) - ({"decoder_attention_mask"} if arch == "bart" else set())
    for key, value in kwargs.items():
        if isinstance(value, torch.Tensor):
            assert value.device.type == "meta"
            if key in real_kwargs:
                assert value.shape == real_kwargs[key].shape and value.dtype == real_kwargs[key].dtype
    report = profiler.profile(meta, inputs=args, kwargs=kwargs)
    assert len(report.uncounted) == 0, report.uncounted
    assert int(report.total["macs"]) == _macs_flop_counter(real, real_kwargs), desc
    assert int(report.total["params"]) == sum(p.numel() for p in real.parameters())


def test_tied_weights_counted_once(built):
    spec, meta, real, _ = built("gpt2")
    assert meta.lm_head.weight is meta.transformer.wte.weight
    args, kwargs, _ = hub.example_inputs(meta, spec.config, 1, tokens=4)
    report = profiler.profile(meta, inputs=args, kwargs=kwargs)
    assert int(report.total["params"]) == sum(p.numel() for p in meta.parameters()) \
        == sum(p.numel() for n, p in meta.named_parameters() if n != "lm_head.weight")


def _layers(cache):
    return cache.layers if hasattr(cache, "layers") else cache.self_attention_cache.layers


@pytest.mark.parametrize("arch, kv_heads, kept", [("llama", 2, CONTEXT), ("mistral", 2, 7), ("gpt2", 4, CONTEXT)])
def test_decode_cache(arch, kv_heads, kept, built):
    """The cache holds batch x KV heads x N x head_dim per layer (a sliding-window
    layer keeps window - 1), attention then sees the new token too, and the
    caller's cache is not changed by a profile."""
    spec, meta, real, _ = built(arch)
    _, kwargs, desc = hub.example_inputs(meta, spec.config, BATCH, decode=CONTEXT)
    cache = kwargs["cache"] if "cache" in kwargs else kwargs["past_key_values"]
    assert f"KV cache of {CONTEXT}" in desc
    layers = _layers(cache)
    assert len(layers) == 2
    before = [(layer.keys, tuple(layer.keys.shape), tuple(layer.values.shape)) for layer in layers]
    for keys, k_shape, v_shape in before:
        assert k_shape == v_shape == (BATCH, kv_heads, kept, 16)
    if "position_ids" in kwargs:
        assert tuple(kwargs["position_ids"].shape) == (BATCH, 1)
    profiler.profile(meta, kwargs=kwargs)
    assert [(layer.keys, tuple(layer.keys.shape), tuple(layer.values.shape)) for layer in layers] == before


def test_decode_attends_to_cache_and_new_token(built):
    """Decode MACs grow by exactly the attention over one more cached token:
    per layer, batch x heads x head_dim products for Q.K^T and as many for the
    weighted sum."""
    spec, meta, _, _ = built("llama")

    def macs(n):
        args, kwargs, _ = hub.example_inputs(meta, spec.config, BATCH, decode=n)
        return int(profiler.profile(meta, inputs=args, kwargs=kwargs).total["macs"])
    layers, heads, head_dim = 2, 4, 16
    assert macs(CONTEXT + 1) - macs(CONTEXT) == layers * BATCH * heads * head_dim * 2


def test_speculative_decode_and_sliding_window_prefill(built):
    """Several new tokens after a cache, and a prefill longer than the window,
    against FlopCounterMode."""
    spec, meta, real, _ = built("mistral")
    for tokens, decode in ((3, CONTEXT), (CONTEXT + 4, None)):
        args, kwargs, _ = hub.example_inputs(meta, spec.config, BATCH, tokens=tokens, decode=decode)
        _, real_kwargs, _ = hub.example_inputs(real, spec.config, BATCH, tokens=tokens, decode=decode)
        report = profiler.profile(meta, inputs=args, kwargs=kwargs)
        assert len(report.uncounted) == 0
        assert int(report.total["macs"]) == _macs_flop_counter(real, real_kwargs)


@pytest.mark.parametrize("decode", [None, CONTEXT], ids=["prefill", "decode"])
def test_sdpa_and_eager_count_the_same_macs(decode):
    totals = {}
    for implementation in ("sdpa", "eager"):
        spec = resolve("hf:llama", {**DECODER, "attn_implementation": implementation})
        meta = spec.build(meta=True)
        assert meta.config._attn_implementation == implementation
        args, kwargs, _ = hub.example_inputs(meta, spec.config, BATCH, tokens=None if decode else TOKENS,
                                             decode=decode)
        report = profiler.profile(meta, inputs=args, kwargs=kwargs)
        assert len(report.uncounted) == 0
        totals[implementation] = int(report.total["macs"])
    assert totals["sdpa"] == totals["eager"]


def test_example_inputs_shapes(built):
    spec, meta, _, _ = built("whisper")
    _, kwargs, _ = hub.example_inputs(meta, spec.config, 3)
    assert tuple(kwargs["input_features"].shape) == (3, 80, 128)      # 2 x max_source_positions frames
    assert tuple(kwargs["decoder_input_ids"].shape) == (3, 64)      # 128 is more than its 64 positions
    spec, meta, _, _ = built("clip")
    _, kwargs, _ = hub.example_inputs(meta, spec.config, 2)
    assert tuple(kwargs["input_ids"].shape) == (2, 77) and tuple(kwargs["pixel_values"].shape) == (2, 3, 32, 32)
    assert kwargs["input_ids"].dtype == torch.int64
    spec, meta, _, _ = built("t5")
    _, kwargs, desc = hub.example_inputs(meta, spec.config, 2, decode=6)
    assert tuple(kwargs["encoder_outputs"][0].shape) == (2, 6, 64)
    assert tuple(kwargs["decoder_input_ids"].shape) == (2, 1) and "input_ids" not in kwargs
    spec, meta, _, _ = built("vit")
    with pytest.raises(ProfilerError, match="tokens"):
        hub.example_inputs(meta, spec.config, 1, tokens=4)
    spec, meta, _, _ = built("gpt2")                                 # 64 learned positions
    assert tuple(hub.example_inputs(meta, spec.config, 1)[1]["input_ids"].shape) == (1, 64)
    with pytest.raises(ProfilerError, match="hold 64 positions, and tokens = 65"):
        hub.example_inputs(meta, spec.config, 1, tokens=65)
    with pytest.raises(ProfilerError, match="hold 64 positions, and decode \\+ tokens = 66"):
        hub.example_inputs(meta, spec.config, 1, tokens=2, decode=64)
    spec, meta, _, _ = built("vit")
    for bad in (dict(batch=0), dict(tokens=-1), dict(decode=True)):
        with pytest.raises(ProfilerError):
            hub.example_inputs(meta, spec.config, **{"batch": 1, **bad})


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


def test_decoder_mask_for_decoders_that_read_their_own(built):
    """BART makes a mask of ones when given none, and transformers reads it: on meta
    it gets a 4D additive mask; a real one gets none, and the mask is causal."""
    spec, meta, real, _ = built("bart")
    _, kwargs, desc = hub.example_inputs(meta, spec.config, BATCH, tokens=TOKENS)
    assert tuple(kwargs["decoder_attention_mask"].shape) == (BATCH, 1, TOKENS, TOKENS)
    _, kwargs, desc = hub.example_inputs(meta, spec.config, BATCH, decode=6)
    assert tuple(kwargs["decoder_attention_mask"].shape) == (BATCH, 1, 1, 7) and "4D decoder_attention_mask" in desc
    _, kwargs, _ = hub.example_inputs(real, spec.config, BATCH, tokens=TOKENS)
    assert "decoder_attention_mask" not in kwargs
    mask = hub.causal_mask(1, 2, 3, torch.float32, "cpu")[0, 0]
    assert (mask == 0).tolist() == [[True, True, True, True, False], [True, True, True, True, True]]
    spec, meta, _, _ = built("t5")
    assert "decoder_attention_mask" not in hub.example_inputs(meta, spec.config, BATCH, tokens=TOKENS)[1]


def test_image_token_models_are_refused():
    spec = resolve("hf:llava", {"text_config.num_hidden_layers": 1, "vision_config.num_hidden_layers": 1})
    meta = spec.build(meta=True)
    with pytest.raises(ProfilerError, match="image tokens"):
        hub.example_inputs(meta, spec.config, 1)


def test_big_configs_build_fast():
    start = time.perf_counter()
    spec = resolve("hf:llama", dict(hidden_size=8192, intermediate_size=28672, num_hidden_layers=80,
                                    num_attention_heads=64, num_key_value_heads=8, vocab_size=128256))
    model = spec.build(meta=True)
    assert time.perf_counter() - start < 10
    assert sum(p.numel() for p in model.parameters()) == 70_553_706_496
    default = resolve("hf:llama")
    assert default.config.num_hidden_layers == 32      # LlamaConfig() is the 7B model


def test_local_config_folder(tmp_path):
    config = transformers.LlamaConfig(**DECODER, architectures=["LlamaForCausalLM"])
    folder = tmp_path / "my-llama"
    folder.mkdir()
    (folder / "config.json").write_text(config.to_json_string())
    for name in (f"hf:{folder}", str(folder), str(folder / "config.json"), f"hf:{folder / 'config.json'}"):
        spec = resolve(name)
        assert spec.name == name and spec.config.num_hidden_layers == 2
        assert "LlamaForCausalLM (the checkpoint's architectures[0])" in spec.notes[0]
    spec = resolve(str(folder), {"num_hidden_layers": 1})
    meta = spec.build(meta=True)
    assert type(meta).__name__ == "LlamaForCausalLM" and len(meta.model.layers) == 1
    args, kwargs, _ = hub.example_inputs(meta, spec.config, 1, tokens=8)
    assert len(profiler.profile(meta, inputs=args, kwargs=kwargs).uncounted) == 0
    # the checkpoint's own head and dtype
    data = json.loads(config.to_json_string())
    data.update(architectures=["LlamaForSequenceClassification"], dtype="bfloat16", num_labels=3)
    (folder / "config.json").write_text(json.dumps(data))
    meta = resolve(str(folder)).build(meta=True)
    assert type(meta).__name__ == "LlamaForSequenceClassification" and meta.score.out_features == 3
    assert meta.model.embed_tokens.weight.dtype == torch.bfloat16
    with pytest.raises(ProfilerError, match="no config.json"):
        resolve(f"hf:{tmp_path / 'missing'}")
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "config.json").write_text(json.dumps({"model_type": "no-such-type", "auto_map": {}}))
    with pytest.raises(ProfilerError, match="remote code"):
        resolve(str(tmp_path / "odd"))


def test_unknown_names_and_fields():
    with pytest.raises(ProfilerError, match="unknown hf model type 'lama'; did you mean llama"):
        resolve("hf:lama")
    with pytest.raises(ProfilerError, match="LlamaConfig has no field 'num_layers'; did you mean num_hidden_layers"):
        resolve("hf:llama", {"num_layers": 2})
    with pytest.raises(ProfilerError, match="did you mean text_config.num_hidden_layers"):
        resolve("hf:clip", {"num_hidden_layers": 2})
    with pytest.raises(ProfilerError, match="unknown timm model 'resnt18'; did you mean resnet18"):
        resolve("timm:resnt18")
    with pytest.raises(ProfilerError, match="apply to hf: and timm: models only"):
        resolve("alexnet", {"num_classes": 10})
    with pytest.raises(ProfilerError, match="unknown model 'resnet5'"):
        resolve("resnet5")                          # plain names are still torchvision's


def test_config_overrides():
    assert parse_config_overrides(["num_hidden_layers=2", "rope_theta=1e6", "tie_word_embeddings=true",
                                       "pad_token_id=None", "hidden_act=gelu", 'layer_types=["a","b"]',
                                       'rope_parameters={"rope_type": "default"}', "eps=-1.5", "x=1", "x=3"]) == {
        "num_hidden_layers": 2, "rope_theta": 1e6, "tie_word_embeddings": True, "pad_token_id": None,
        "hidden_act": "gelu", "layer_types": ["a", "b"], "rope_parameters": {"rope_type": "default"},
        "eps": -1.5, "x": 3}
    for bad in ("num_hidden_layers", "=2", "a b=1", "x=[1,"):
        with pytest.raises(ProfilerError):
            parse_config_overrides([bad])
    # derived fields follow the overrides; legacy and dotted rope settings land
    spec = resolve("hf:llama", parse_config_overrides(["hidden_size=256", "num_attention_heads=4",
                                                           "rope_theta=1e6"]))
    assert spec.config.head_dim == 64 and spec.config.rope_parameters["rope_theta"] == 1e6
    spec = resolve("hf:llama", {"rope_parameters.rope_theta": 5e5})
    assert spec.config.rope_parameters == {"rope_type": "default", "rope_theta": 5e5}
    assert "rope_parameters.rope_theta=500000.0" in spec.notes[0]
    with pytest.raises(ProfilerError, match="as rope_parameters.rope_type"):
        resolve("hf:llama", {"rope_type": "linear"})     # LlamaConfig would keep it as an attribute no one reads


@pytest.mark.parametrize("overrides,reason", [
    ({"hidden_size": -3}, "ValueError: The hidden size (-3) is not a multiple of the number of attention heads (32)."),
    ({"num_attention_heads": 7}, "ValueError: The hidden size (4096) is not a multiple of the number of attention "
                                 "heads (7)."),
])
def test_a_config_transformers_refuses_is_one_line_with_the_reason_and_the_fix(overrides, reason):
    """transformers' validators wrap the ValueError that says why, over two lines: the
    message is one line, with that reason."""
    with pytest.raises(ProfilerError) as info:
        resolve("hf:llama", overrides)
    assert str(info.value) == f"hf:llama: LlamaConfig refused the config ({reason}): change the config= values"


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


@pytest.mark.parametrize("name", ["resnet18", "convnext_tiny"])
def test_timm(name):
    timm = pytest.importorskip("timm")
    spec = resolve(f"timm:{name}")
    assert spec.family == "classification" and spec.input_size == (3, 224, 224)
    meta = spec.build(meta=True)
    assert all(p.device.type == "meta" for p in meta.parameters())
    report = profiler.profile(meta, inputs=((1, *spec.input_size),))
    assert len(report.uncounted) == 0
    small = (2, 3, 64, 64)
    report = profiler.profile(meta, inputs=(small,))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        real = timm.create_model(name, pretrained=False).eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        real(torch.randn(small))
    assert int(report.total["macs"]) == counter.get_total_flops() // 2
    assert int(report.total["params"]) == sum(p.numel() for p in real.parameters())


def test_timm_overrides():
    pytest.importorskip("timm")
    spec = resolve("timm:resnet18", {"num_classes": 10})
    assert spec.build(meta=True).fc.out_features == 10
    assert resolve("timm:vit_tiny_patch16_224", {"img_size": 160}).input_size == (3, 160, 160)


_LIST = """
import sys
{block}
from profiler.cli.list import run
run(None)
assert "torch" not in sys.modules, "profiler list imported torch"
"""


def test_list_names_without_torch():
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", _LIST.format(block="")], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    assert {"alexnet", "hf:llama", "hf:t5", "hf:whisper", "hf:clip", "hf:vit", "timm:resnet18"} <= set(out)
    hf = [n[3:] for n in out if n.startswith("hf:")]
    assert set(hf) == set(hub._listed_types())
    timm = pytest.importorskip("timm")
    assert [n[5:] for n in out if n.startswith("timm:")] == sorted(timm.list_models())
    # without the packages: no hf:/timm: names, still no torch
    block = "sys.modules['transformers'] = None\nsys.modules['timm'] = None"
    out = subprocess.run([sys.executable, "-c", _LIST.format(block=block)], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    assert "alexnet" in out and not any(n.startswith(("hf:", "timm:")) for n in out)
