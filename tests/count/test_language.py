"""profiler.count.language: the language-model summary, against counts made by hand
from the configs of real transformers models (built on meta, nothing downloaded)."""
from __future__ import annotations

import pytest
import torch

import profiler

transformers = pytest.importorskip("transformers")

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
    model = torch.nn.Sequential(torch.nn.Embedding(100, 32), torch.nn.Linear(32, 100))
    report = profiler.profile(model, input_size=(10,), batch=2)
    assert report.language.tokens == 10
    assert report.language.non_embedding == 32 * 100 + 100
    assert report.language.kv_bytes_per_token is None       # no config to read it from
