"""profiler.count.language: the language-model summary, against counts made by hand
from the configs of real transformers models (built on meta, nothing downloaded)."""
from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"       # never fetch a config or weights

import pytest
import torch

import profiler
from profiler.count.language import summarize

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()

TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=128)


def _numel(module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_a_tied_gpt2_counts_parameters_once_and_non_embedding_without_the_tables():
    config = dict(n_embd=64, n_layer=2, n_head=4, vocab_size=128, n_positions=64)
    report = profiler.profile("hf:gpt2", config=config, tokens=16)
    with torch.device("meta"):
        model = transformers.GPT2LMHeadModel(transformers.GPT2Config(**config))
    tables = model.transformer.wte.weight.numel() + model.transformer.wpe.weight.numel()
    lm = report.language
    assert lm.params == _numel(model)                  # tied lm_head once
    assert lm.non_embedding == _numel(model) - tables
    assert lm.active == lm.params                      # dense


def test_mixtral_active_parameters_leave_out_the_experts_a_token_does_not_meet():
    config = dict(TINY, num_local_experts=4, num_experts_per_tok=2)
    report = profiler.profile("hf:mixtral", config=config, tokens=8)
    with torch.device("meta"):
        model = transformers.MixtralForCausalLM(transformers.MixtralConfig(**config))
    hidden, inter, layers, experts, top_k = 64, 128, 2, 4, 2
    per_expert = 3 * hidden * inter                    # gate, up and down projections
    lm = report.language
    assert lm.params == _numel(model)
    assert lm.active == lm.params - layers * (experts - top_k) * per_expert
    assert lm.active_non_embedding == lm.non_embedding - layers * (experts - top_k) * per_expert
    assert lm.rule_2n == 2 * lm.active_non_embedding


@pytest.mark.parametrize("dtype,itemsize", [(None, 4), ("bfloat16", 2)])
def test_kv_cache_bytes_per_token_are_keys_and_values_of_every_layer(dtype, itemsize):
    report = profiler.profile("hf:llama", config=TINY, tokens=8, **({"dtype": dtype} if dtype else {}))
    head_dim = 64 // 4
    assert report.language.kv_bytes_per_token == 2 * 2 * 2 * head_dim * itemsize  # k+v, layers, kv heads


def test_work_per_token_is_the_total_over_batch_times_tokens_for_prefill_and_over_batch_for_decode():
    prefill = profiler.profile("hf:llama", config=TINY, tokens=12, batch=3)
    assert prefill.language.phase == "prefill" and prefill.language.tokens == 12
    assert prefill.language.macs_per_token == prefill.totals["macs"] / 36
    assert prefill.language.context == 12
    decode = profiler.profile("hf:llama", config=TINY, decode=20, batch=3)
    assert decode.language.phase == "decode" and decode.language.context == 21
    assert decode.language.macs_per_token == decode.totals["macs"] / 3


def test_attention_term_grows_with_the_context_and_linear_work_does_not():
    short = profiler.profile("hf:llama", config=TINY, decode=100).language
    long = profiler.profile("hf:llama", config=TINY, decode=1100).language
    assert long.linear_flops_per_token == short.linear_flops_per_token
    assert long.attention_flops_per_token > short.attention_flops_per_token
    # QK^T and weights·V: 2 layers x 4 heads x 16 per head x 2 matmuls, one MAC (2 FLOPs) per key
    per_key = 2 * 4 * 16 * 2 * 2
    grown = long.attention_flops_per_token - short.attention_flops_per_token
    assert grown >= per_key * 1000
    # the crossover is where attention's per-token FLOPs, linear in the context, reach linear's
    assert long.crossover_context == round(long.context * long.linear_flops_per_token
                                           / long.attention_flops_per_token)


def test_a_training_profile_reports_flops_per_token_beside_the_6n_rule():
    report = profiler.profile("hf:llama", config=TINY, tokens=8, training=True)
    lm = report.language
    both = int(report.passes["flops"].iloc[-1])          # the "forward+backward" row
    assert lm.training_flops_per_token == both / 8
    assert lm.rule_6n == 3 * lm.rule_2n == 6 * lm.active_non_embedding
    assert "training step" in dict(lm.lines())


def test_the_summary_is_in_the_text_markdown_and_json_and_only_for_language_models(tmp_path):
    import json

    from profiler.report.json_report import to_dict
    report = profiler.profile("hf:llama", config=TINY, tokens=8)
    assert "language model:" in report.to_string()
    assert "## Language model" in report.markdown()
    assert json.loads(json.dumps(to_dict(report)))["language"]["params"] == report.language.params
    assert "attention would overtake" in report.finding()
    vision = profiler.profile("alexnet")
    assert vision.language is None and "language model" not in vision.to_string()
    assert "language" not in to_dict(vision)


def test_a_users_own_embedding_first_model_gets_the_summary_from_input_size():
    model = torch.nn.Sequential(torch.nn.Embedding(100, 32), torch.nn.Linear(32, 32), torch.nn.Linear(32, 100))
    report = profiler.profile(model, input_size=(10,), batch=2)
    assert report.language.tokens == 10
    # Kaplan's N: the hidden Linear only; the last Linear, onto the 100-token vocabulary, is the
    # output projection and is left out with the table
    assert report.language.non_embedding == 32 * 32 + 32
    assert report.language.left_out == ["0.weight", "2.weight", "2.bias"]
    assert report.language.kv_bytes_per_token is None       # no config to read it from


# Per-layer KV caches, against the cache a real tiny model's prefill returns (built on CPU from
# the same config, run for real with use_cache=True): the bytes of every layer's key and value
# tensors.  Within every sliding window, each layer holds all T tokens, so bytes / T is what one
# token adds; layers with no KV cache (mamba, linear attention, convolutions, shared-KV) hold none.
GEMMA4 = dict(TINY, num_hidden_layers=6, head_dim=16, sliding_window=8, vocab_size_per_layer_input=128,
              hidden_size_per_layer_input=8)   # full-attention layers: transformers' global head size, 512
CASES = {
    "llama": ("llama", TINY),
    "mistral-sliding": ("mistral", dict(TINY, sliding_window=8)),
    "gemma4": ("gemma4_text", GEMMA4),          # head size per layer: config.head_dim cannot be read
    "gemma4-shared-kv": ("gemma4_text", dict(GEMMA4, num_kv_shared_layers=2,
                                             layer_types=["sliding_attention", "full_attention"] * 3)),
    "jamba": ("jamba", dict(TINY, num_hidden_layers=4, attn_layer_period=2, attn_layer_offset=1,
                            expert_layer_period=2, expert_layer_offset=1, num_experts=2, num_experts_per_tok=1,
                            mamba_d_state=4, mamba_expand=2, mamba_dt_rank=4)),
    "lfm2": ("lfm2", dict(TINY, num_hidden_layers=4, full_attn_idxs=[1, 3])),
    "qwen3_next": ("qwen3_next", dict(TINY, num_hidden_layers=4, head_dim=16, linear_num_value_heads=2,
                                      linear_num_key_heads=2, linear_key_head_dim=8, linear_value_head_dim=8,
                                      num_experts=2, num_experts_per_tok=1, moe_intermediate_size=32,
                                      shared_expert_intermediate_size=32)),
    # multi-head latent attention: the cache holds the compressed latent and the shared RoPE key
    "deepseek_v3": ("deepseek_v3", dict(TINY, num_key_value_heads=4, kv_lora_rank=16, q_lora_rank=None,
                                        qk_nope_head_dim=8, qk_rope_head_dim=8, v_head_dim=8, n_routed_experts=2,
                                        num_experts_per_tok=1, moe_intermediate_size=32, first_k_dense_replace=1,
                                        n_group=1, topk_group=1)),
}


def _real_cache_bytes(arch: str, config: dict, tokens: int) -> list[int]:
    """Each layer's key + value bytes in the cache of a real prefill of ``tokens`` tokens."""
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(transformers.CONFIG_MAPPING[arch](**config)).eval()
    with torch.no_grad():
        out = model(input_ids=torch.randint(0, 100, (1, tokens)), use_cache=True)
    cache = getattr(out, "cache", None) or out.past_key_values
    return [sum(t.numel() * t.element_size() for t in (getattr(layer, "keys", None), getattr(layer, "values", None))
                if torch.is_tensor(t))
            for layer in cache.layers]


@pytest.mark.parametrize("case", list(CASES))
def test_kv_bytes_per_token_are_what_a_real_prefill_caches_per_token(case):
    arch, config = CASES[case]
    tokens = 6                                         # within every window (8)
    real = _real_cache_bytes(arch, config, tokens)
    lm = profiler.profile(f"hf:{arch}", config=config, tokens=tokens).language
    assert lm.notes == []
    assert all(b % tokens == 0 for b in real)
    assert lm.kv_bytes_per_token == sum(real) // tokens
    assert lm.kv_cache_bytes == sum(real)              # at context 6, within every window
    # every layer full: no layout; else some layers hold no KV, or a window
    assert (lm.kv_layout is None) == (case in ("llama", "deepseek_v3"))
    assert lm.kv_layout is None or 0 in real or "window" in lm.kv_layout


def test_gemma4_full_attention_layers_have_their_own_head_size_and_shared_kv_layers_none():
    lm = profiler.profile("hf:gemma4_text", config=CASES["gemma4-shared-kv"][1], tokens=6).language
    sliding, full = 2 * 2 * 16 * 4, 2 * 2 * 512 * 4    # keys+values x 2 KV heads x head size x float32
    assert lm.kv_bytes_per_token == 2 * sliding + 2 * full       # layers 4 and 5 reuse layers 2 and 3's KV
    assert lm.kv_layout == "of 6 layers, 2 keep the full context, 2 at most a window of 8 tokens, 2 no KV cache"


@pytest.mark.parametrize("case", ["mistral-sliding", "gemma4"])
def test_past_the_window_sliding_layers_hold_at_most_the_window(case):
    arch, config = CASES[case]
    per_token = [b // 6 for b in _real_cache_bytes(arch, config, 6)]
    real = _real_cache_bytes(arch, config, 20)
    windowed = [p for p, b in zip(per_token, real) if b < 20 * p]
    # transformers' dynamic cache keeps window - 1 = 7 tokens between steps; ours caps at the window
    # (what the static cache allocates, and what a new token attends to)
    assert windowed and sum(real) == sum(20 * p for p in per_token) - 13 * sum(windowed)
    lm = profiler.profile(f"hf:{arch}", config=config, tokens=20).language
    assert lm.kv_bytes_per_token == sum(per_token)
    assert lm.kv_cache_bytes == sum(real) + sum(windowed)
    assert "window of 8 tokens" in dict(lm.lines())["KV cache"]


def test_a_kv_cache_that_cannot_be_sized_is_a_note_and_the_rest_of_the_summary_stands():
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**TINY))
    model.config.layer_types = ["indexed_attention"] * 2     # a cache type with no per-token KV size here
    lm = summarize(model, [], {"macs": 80, "flops": 160}, 1, 4, "prefill", 8, 8)
    assert lm.kv_bytes_per_token is None and lm.kv_cache_bytes is None
    assert lm.params == _numel(model) and lm.macs_per_token == 10
    assert "indexed_attention" in lm.notes[0] and "KV cache" not in dict(lm.lines())
    assert "not made" in dict(lm.lines())


def test_a_config_that_refuses_to_be_read_is_a_note_not_an_error():
    class Refusing:
        def __getattr__(self, name):
            raise RuntimeError(f"'{name}' is a per-layer attribute")   # as AmbiguousGlobalPerLayerAttributeError

    model = torch.nn.Sequential(torch.nn.Embedding(100, 32), torch.nn.Linear(32, 100))
    model.config = Refusing()
    lm = summarize(model, [], {"macs": 80, "flops": 160}, 1, 4, "prefill", 8, 8)
    assert lm.kv_bytes_per_token is None and lm.notes and "per-layer" in lm.notes[0]
    assert lm.active == lm.params


def test_a_summary_that_cannot_be_made_at_all_is_none_with_a_warning():
    with pytest.warns(UserWarning, match="no language-model summary"):
        assert summarize(torch.nn.Linear(2, 2), [{}], {"macs": 1, "flops": 2}, 1, 4, "prefill", 1, 1) is None
