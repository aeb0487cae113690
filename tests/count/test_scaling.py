"""profiler.count.scaling: the scaling-law conventions beside the exact count, in the
language summary.  The papers' side is computed here from their formulas and the
configs (Kaplan et al. 2020, Table 1; Hoffmann et al. 2022, Appendix F), never read
from our output; the named terms are checked against arithmetic by hand on our
stated conventions (a dot product of k terms: k mults, k − 1 adds; a bias: 1 add;
softmax over n: n exps, n − 1 adds, n divisions; an embedding lookup: 0), and the
terms must add up to exact − formula.  Models are transformers' GPT-2 and LLaMA
built from configs on meta, nothing downloaded."""
from __future__ import annotations

import json
import os

os.environ["HF_HUB_OFFLINE"] = "1"       # never fetch a config or weights

import pytest
import torch

import profiler
from profiler.count.scaling import kaplan_left_out, kaplan_n, output_projection

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()

# (config, tokens): a tiny GPT-2, and the published GPT-2 small (GPT2Config's defaults) and medium
GPT2 = {
    "tiny": (dict(n_embd=64, n_layer=2, n_head=4, vocab_size=128, n_positions=64), 16),
    "small": (dict(n_embd=768, n_layer=12, n_head=12), 1024),
    "medium": (dict(n_embd=1024, n_layer=24, n_head=16), 1024),
}
GPT2_VOCAB = 50257


def _gpt2_n(d: int, layers: int) -> int:
    """GPT-2's non-embedding parameters by hand: per block two LayerNorms (2d each),
    c_attn d×3d + 3d, attn c_proj d×d + d, c_fc d×4d + 4d, mlp c_proj 4d×d + d; the
    final LayerNorm 2d.  No wte, wpe or lm_head."""
    per_block = 2 * 2 * d + (3 * d * d + 3 * d) + (d * d + d) + (4 * d * d + 4 * d) + (4 * d * d + d)
    return layers * per_block + 2 * d


def _kaplan_c_fwd(n: int, n_layer: int, n_ctx: int, d_attn: int) -> int:
    """Kaplan et al. (2020), Table 1: C_forward = 2N + 2 n_layer n_ctx d_attn, per token."""
    return 2 * n + 2 * n_layer * n_ctx * d_attn


def _chinchilla_forward(seq: int, vocab: int, d_model: int, heads: int, key_size: int, ffw: int,
                        layers: int) -> int:
    """Hoffmann et al. (2022), Appendix F, one sequence, forward."""
    embeddings = 2 * seq * vocab * d_model
    attention = (2 * 3 * seq * d_model * (key_size * heads)      # QKV projections
                 + 2 * seq * seq * (key_size * heads)            # key @ query logits
                 + 3 * heads * seq * seq                         # softmax
                 + 2 * seq * seq * (key_size * heads)            # softmax @ query reductions
                 + 2 * seq * (key_size * heads) * d_model)       # final linear
    dense = 2 * seq * (d_model * ffw + d_model * ffw)
    logits = 2 * seq * d_model * vocab
    return embeddings + layers * (attention + dense) + logits


def _gpt2(config: dict, tokens: int, **kwargs):
    return profiler.profile("hf:gpt2", config=config, tokens=tokens, **kwargs)


def _conventions(report) -> dict:
    return {c.name: c for c in report.language.conventions}


@pytest.fixture(scope="module", params=list(GPT2))
def gpt2(request):
    config, tokens = GPT2[request.param]
    return request.param, config, tokens, _gpt2(config, tokens)


def test_kaplan_and_chinchilla_forward_match_the_papers_formulas_on_gpt2_shapes(gpt2):
    _, config, tokens, report = gpt2
    d, layers, heads = config["n_embd"], config["n_layer"], config["n_head"]
    vocab = config.get("vocab_size", GPT2_VOCAB)
    n = _gpt2_n(d, layers)
    lm = report.language
    assert lm.non_embedding == n
    conv = _conventions(report)
    # whole-profile counts: batch 1 × tokens
    assert conv["Kaplan"].flops == _kaplan_c_fwd(n, layers, tokens, d) * tokens
    assert conv["Chinchilla"].flops == _chinchilla_forward(tokens, vocab, d, heads, d // heads, 4 * d, layers)
    for c in conv.values():
        assert c.exact == report.totals["flops"]
        assert sum(t.difference for t in c.terms) == c.exact - c.flops
        assert sum(t.ours for t in c.terms) == c.exact and sum(t.theirs for t in c.terms) == c.flops


def test_the_named_terms_are_the_conventions_differences_by_hand(gpt2):
    _, config, tokens, report = gpt2
    d, layers, h = config["n_embd"], config["n_layer"], config["n_head"]
    vocab, hd, t = config.get("vocab_size", GPT2_VOCAB), config["n_embd"] // config["n_head"], tokens
    # ours: QKᵀ is h·T·T dot products of hd terms, A·V h·T·hd dot products of T terms
    qk_av = layers * (h * t * t * (2 * hd - 1) + h * t * hd * (2 * t - 1))
    softmax = layers * h * (t * (t - 1) + 2 * t * t)          # per row of T: T−1 adds, T exps, T divisions
    logits = t * vocab * (2 * d - 1)                          # lm_head has no bias
    by_kind = report.by_kind.set_index("kind")["flops"]
    chinchilla = {x.label: x.difference for x in _conventions(report)["Chinchilla"].terms}
    assert chinchilla["embedding as matmul"] == -2 * t * vocab * d   # a gather, not a one-hot matmul
    assert chinchilla["logits"] == logits - 2 * t * d * vocab == -t * vocab
    assert chinchilla["linear layers"] == 0                   # k−1 adds + 1 bias add = 2 per weight
    assert chinchilla["QKᵀ and A·V"] == qk_av - layers * 4 * t * t * d
    assert chinchilla["softmax"] == softmax - layers * 3 * h * t * t == -layers * h * t
    assert chinchilla["norms"] == by_kind["norm"] and chinchilla["activations"] == by_kind["activation"]
    kaplan = {x.label: x.difference for x in _conventions(report)["Kaplan"].terms}
    assert "embedding as matmul" not in kaplan                # 0 on both sides
    assert kaplan["logits"] == logits                         # the de-embedding, left out of C_fwd
    assert kaplan["linear layers"] == -2 * t * layers * (3 * d + d + 4 * d + d)   # 2N's 2 FLOPs per bias
    assert kaplan["QKᵀ and A·V"] == qk_av - 2 * layers * t * d * t   # ours full, Kaplan's mask term half
    assert kaplan["softmax"] == softmax
    assert kaplan["norms"] == by_kind["norm"] - 2 * t * (layers * 2 * 2 * d + 2 * d)


def test_n_is_the_same_tied_and_untied():
    for name in ("tiny", "small"):
        config, tokens = GPT2[name]
        tied = _gpt2(config, 8).language
        untied = _gpt2(dict(config, tie_word_embeddings=False), 8).language
        assert tied.non_embedding == untied.non_embedding == _gpt2_n(config["n_embd"], config["n_layer"])
        assert untied.params - tied.params == config.get("vocab_size", GPT2_VOCAB) * config["n_embd"]
        assert tied.left_out == ["transformer.wte.weight (= lm_head.weight)", "transformer.wpe.weight"]
        assert untied.left_out == ["transformer.wte.weight", "transformer.wpe.weight", "lm_head.weight"]
    assert untied.non_embedding == 85_056_000                 # GPT-2 small, as the issue counted it tied


def test_llamas_n_leaves_out_lm_head():
    report = profiler.profile("hf:llama", tokens=8)           # LlamaConfig(): 7B, untied lm_head
    d, layers, ffw, vocab = 4096, 32, 11008, 32000
    n = layers * (4 * d * d + 3 * d * ffw + 2 * d) + d        # q, k, v, o; gate, up, down; two RMSNorms; final
    lm = report.language
    assert lm.non_embedding == n == lm.params - 2 * vocab * d
    assert lm.left_out == ["model.embed_tokens.weight", "lm_head.weight"]
    conv = _conventions(report)
    assert conv["Kaplan"].flops == _kaplan_c_fwd(n, layers, 8, d) * 8
    assert conv["Chinchilla"].flops == _chinchilla_forward(8, vocab, d, 32, 128, ffw, layers)
    for c in conv.values():
        assert sum(t.difference for t in c.terms) == report.totals["flops"] - c.flops


def test_a_tiny_llama_with_grouped_kv_heads_reconciles_and_the_gated_mlp_shows_in_the_linear_term():
    config = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, vocab_size=128)
    t, d, ffw, layers, kv = 16, 64, 128, 2, 2 * 16
    report = profiler.profile("hf:llama", config=config, tokens=t)
    chinchilla = {x.label: x.difference for x in _conventions(report)["Chinchilla"].terms}
    # ours: q, o d×d; k, v d×kv; gate, up d×ffw; down ffw×d, no biases: (2k − 1) per output
    ours = t * (2 * d * (2 * d - 1) + 2 * kv * (2 * d - 1) + 2 * ffw * (2 * d - 1) + d * (2 * ffw - 1))
    theirs = 2 * 3 * t * d * d + 2 * t * d * d + 2 * t * 2 * d * ffw
    assert chinchilla["linear layers"] == layers * ours - layers * theirs
    c = _conventions(report)["Chinchilla"]
    assert sum(x.difference for x in c.terms) == report.totals["flops"] - c.flops


def test_training_puts_6nd_and_three_forwards_beside_the_exact_step():
    config, tokens = GPT2["tiny"]
    report = _gpt2(config, tokens, training=True, batch=2)
    d, layers, heads = config["n_embd"], config["n_layer"], config["n_head"]
    n = _gpt2_n(d, layers)
    passes = dict(zip(report.passes["pass"], report.passes["flops"]))
    conv = _conventions(report)
    assert conv["Kaplan"].training_flops == 6 * n * tokens * 2
    assert conv["Chinchilla"].training_flops == 3 * 2 * _chinchilla_forward(tokens, 128, d, heads, d // heads,
                                                                            4 * d, layers)
    for c in conv.values():
        assert c.model_flops == c.hardware_flops == passes["forward+backward"]
    lines = dict(report.language.lines())
    assert "Kaplan training step (32 tokens)" in lines and "Chinchilla training step (32 tokens)" in lines


def test_the_conventions_are_in_the_text_markdown_and_json():
    from profiler.report.json_report import to_dict
    config, tokens = GPT2["tiny"]
    report = _gpt2(config, tokens)
    text, markdown = report.to_string(), report.markdown()
    for label, value in (("left out of N", "transformer.wte.weight (= lm_head.weight), transformer.wpe.weight"),
                         ("Kaplan forward (Kaplan et al. 2020, Table 1)", "C_fwd = 2N + 2·n_layer·n_ctx·d_attn = "),
                         ("Chinchilla forward (Hoffmann et al. 2022, Appendix F)", "embeddings + "),
                         ("exact − Kaplan", ""), ("exact − Chinchilla", "")):
        assert f"  {label}: {value}" in text and f"- **{label}**: {value}" in markdown
    data = json.loads(json.dumps(to_dict(report)))["language"]
    kaplan = next(c for c in data["conventions"] if c["name"] == "Kaplan")
    assert sum(t["difference"] for t in kaplan["terms"]) == kaplan["exact"] - kaplan["flops"]
    assert {"part", "label", "ours", "theirs", "why", "difference"} <= set(kaplan["terms"][0])
    assert data["left_out"] == ["transformer.wte.weight (= lm_head.weight)", "transformer.wpe.weight"]


def test_a_decode_profile_and_a_model_without_config_have_no_conventions():
    config, _ = GPT2["tiny"]
    assert profiler.profile("hf:gpt2", config=config, decode=8).language.conventions == []
    model = torch.nn.Sequential(torch.nn.Embedding(100, 32), torch.nn.Linear(32, 100))
    assert profiler.profile(model, input_size=(10,)).language.conventions == []


def test_the_output_projection_of_a_users_model_tied_or_last():
    emb, hidden, head = torch.nn.Embedding(50, 8), torch.nn.Linear(8, 50), torch.nn.Linear(8, 50, bias=False)
    head.weight = emb.weight                                   # tied: found by the shared tensor, not by place
    model = torch.nn.Sequential(emb, head, hidden)
    assert output_projection(model) == ("1", head)
    assert kaplan_left_out(model) == {"0.weight (= 1.weight)": 400}
    assert kaplan_n(model) == 8 * 50 + 50
    plain = torch.nn.Sequential(torch.nn.Embedding(50, 8), torch.nn.Linear(8, 8), torch.nn.Linear(8, 7))
    assert output_projection(plain) is None                    # the last Linear does not map onto the vocabulary


def test_hardware_flops_of_a_recomputed_forward_stand_beside_the_model_flops():
    """summarize given a step whose hardware FLOPs exceed its model FLOPs (a checkpointed
    forward run again): both are carried and shown; the training rules stay as they are."""
    from profiler.count.language import summarize
    config, tokens = GPT2["tiny"]
    report = _gpt2(config, tokens, training=True)
    with torch.device("meta"):
        model = transformers.GPT2LMHeadModel(transformers.GPT2Config(**config))
    passes = dict(zip(report.passes["pass"], report.passes["flops"]))
    model_flops, recompute = int(passes["forward+backward"]), int(passes["forward"])
    lm = summarize(model, report.layers.to_dict("records"), report.totals, 1, 4, "prefill", tokens, tokens,
                   model_flops, hardware_flops=model_flops + recompute)
    assert lm.training_flops_per_token == model_flops / tokens
    assert lm.training_hardware_flops_per_token == (model_flops + recompute) / tokens
    kaplan = next(c for c in lm.conventions if c.name == "Kaplan")
    assert (kaplan.model_flops, kaplan.hardware_flops) == (model_flops, model_flops + recompute)
    assert kaplan.training_flops == 6 * _gpt2_n(config["n_embd"], config["n_layer"]) * tokens
    line = dict(lm.lines())["Kaplan training step (16 tokens)"]
    assert f"{model_flops + recompute:,} hardware FLOPs" in line and f"{model_flops:,} exact model FLOPs" in line
