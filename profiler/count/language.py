"""The language-model summary: what a model fed token ids costs per token.

Read from a profile's rows and the model (and its transformers config, where it
has one):

- parameters: total; non-embedding (total less the parameters of embedding
  layers: token and position tables, as in the scaling-law papers' N); active
  (what one token meets: total less the experts its router does not pick, i.e.
  each mixture-of-experts layer's expert parameters times (E - k) / E for E
  experts and top-k routing);
- MACs (and FLOPs = 2 x MACs) per token: a prefill profile's totals divided by
  batch x tokens; a decode profile's (one new token per sequence) by batch;
- the rules of thumb beside the exact count: forward FLOPs per token ~ 2N and a
  training step ~ 6N, with N the active non-embedding parameters; the exact count
  exceeds 2N by the attention term (the attention rows' FLOPs: QK^T and the
  weighted sum, growing with the context) and the rest (norms, activations,
  the embedding lookups count nothing);
- KV-cache bytes per token: 2 (keys and values) x layers x KV heads x head size x
  the dtype's element size, from the config;
- the context at which attention overtakes the linear layers: attention's FLOPs
  per token grow linearly with the context, the linear layers' do not, so from
  one profile at context T the crossover is T x linear / attention.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from torch import nn


@dataclass
class LanguageSummary:
    params: int
    non_embedding: int
    active: int                           # = params for a dense model
    active_non_embedding: int
    batch: int
    phase: str                            # "prefill" or "decode"
    tokens: int                           # prefill: new tokens per sequence; decode: 1
    context: int                          # keys each new token attends to (prefill: tokens; decode: cache + 1)
    macs_per_token: float
    flops_per_token: float
    attention_flops_per_token: float
    linear_flops_per_token: float
    rule_2n: int                          # 2 x active non-embedding parameters
    kv_bytes_per_token: int | None        # None when the model has no config to read it from
    crossover_context: int | None         # where attention's FLOPs per token pass the linear layers'
    training_flops_per_token: float | None = None   # forward + backward, with training=True
    rule_6n: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[tuple[str, str]]:
        """(label, value) pairs for the text and Markdown reports."""
        out = [("parameters", f"{self.params:,} total; {self.non_embedding:,} non-embedding"
                + (f"; {self.active:,} active per token ({self.active_non_embedding:,} non-embedding)"
                   if self.active != self.params else ""))]
        where = (f"prefill of {self.tokens:,} tokens" if self.phase == "prefill"
                 else f"decode, one new token after {self.context - 1:,} cached")
        out.append((f"per token ({where}, batch {self.batch})",
                    f"{self.macs_per_token:,.0f} MACs = {self.flops_per_token:,.0f} FLOPs"))
        out.append(("2N rule", f"{self.rule_2n:,} FLOPs per token; exact/2N = "
                    f"{self.flops_per_token / self.rule_2n:.3f}" if self.rule_2n else "no linear parameters"))
        out.append(("attention term", f"{self.attention_flops_per_token:,.0f} FLOPs per token at context "
                    f"{self.context:,} ({_pct(self.attention_flops_per_token, self.flops_per_token)} of the "
                    f"forward); linear layers {self.linear_flops_per_token:,.0f} "
                    f"({_pct(self.linear_flops_per_token, self.flops_per_token)})"))
        if self.crossover_context is not None:
            out.append(("attention overtakes linear", f"at a context of about {self.crossover_context:,} tokens"))
        if self.kv_bytes_per_token is not None:
            out.append(("KV cache", f"{self.kv_bytes_per_token:,} bytes per token "
                        f"({self.kv_bytes_per_token * self.context / 2**20:,.1f} MiB per sequence at "
                        f"context {self.context:,})"))
        if self.training_flops_per_token is not None:
            out.append(("training step", f"{self.training_flops_per_token:,.0f} FLOPs per token; 6N rule "
                        f"{self.rule_6n:,}; exact/6N = {self.training_flops_per_token / self.rule_6n:.3f}"
                        if self.rule_6n else f"{self.training_flops_per_token:,.0f} FLOPs per token"))
        return out

    def finding(self) -> str:
        linear = _pct(self.linear_flops_per_token, self.flops_per_token)
        attention = _pct(self.attention_flops_per_token, self.flops_per_token)
        text = (f"per token, linear layers do {linear} of the FLOPs and attention {attention} at context "
                f"{self.context:,}")
        if self.crossover_context is not None:
            text += f"; attention would overtake the linear layers at a context of about {self.crossover_context:,}"
        return text


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "0.0%"


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """total, non_embedding, active, active_non_embedding (tied tensors once)."""
    seen: set[int] = set()
    total = embedding = 0
    for module in model.modules():
        for p in module._parameters.values():
            if p is None or id(p) in seen:
                continue
            seen.add(id(p))
            total += p.numel()
            if isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
                embedding += p.numel()
    inactive = inactive_expert_params(model)
    return dict(total=total, non_embedding=total - embedding, active=total - inactive,
                active_non_embedding=total - embedding - inactive)


def _routing(model: nn.Module) -> tuple[int, int] | None:
    """(experts, top_k) from the model's config, else None."""
    config = getattr(model, "config", None)
    experts = next((getattr(config, a) for a in ("num_local_experts", "num_experts", "n_routed_experts")
                    if isinstance(getattr(config, a, None), int)), None)
    top_k = getattr(config, "num_experts_per_tok", None)
    if isinstance(experts, int) and isinstance(top_k, int) and 0 < top_k <= experts:
        return experts, top_k
    return None


def inactive_expert_params(model: nn.Module) -> int:
    """Parameters a token does not meet under top-k routing: in each experts module,
    (E - k) / E of its expert parameters, which are either 3-D tensors with the E
    experts along the first dimension (transformers' fused experts) or E child
    modules of a ModuleList named ``experts``."""
    routing = _routing(model)
    if routing is None:
        return 0
    experts, top_k = routing
    inactive = 0
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and name.rsplit(".", 1)[-1] == "experts" and len(module) == experts:
            per_expert = sum(p.numel() for p in module[0].parameters())
            inactive += per_expert * (experts - top_k)
            continue
        if "expert" in type(module).__name__.lower() and "shared" not in name.rsplit(".", 1)[-1]:
            for p in module._parameters.values():
                if p is not None and p.dim() == 3 and p.shape[0] == experts:
                    inactive += p.numel() // experts * (experts - top_k)
    return inactive


def kv_bytes_per_token(model: nn.Module, itemsize: int) -> int | None:
    """2 x layers x KV heads x head size x itemsize, from a transformers config."""
    config = getattr(model, "config", None)
    config = getattr(config, "text_config", None) or config
    layers = getattr(config, "num_hidden_layers", None)
    heads = getattr(config, "num_attention_heads", None)
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or (
        config.hidden_size // heads if heads and getattr(config, "hidden_size", None) else None)
    if not all(isinstance(v, int) and v > 0 for v in (layers, kv_heads, head_dim)):
        return None
    return 2 * layers * kv_heads * head_dim * itemsize


def summarize(model: nn.Module, rows: list[dict], totals: dict[str, int], batch: int, itemsize: int,
              phase: str, tokens: int, context: int, training_flops: int | None = None) -> LanguageSummary:
    """The summary of one profile of ``model`` (its report ``rows`` and ``totals``):
    ``phase`` "prefill" (``tokens`` new tokens per sequence, attending to up to
    ``context`` = tokens keys) or "decode" (``tokens`` new tokens attending to
    ``context`` = cache + tokens keys)."""
    counts = parameter_counts(model)
    per = batch * tokens
    kinds = {"attention": 0, "linear": 0}
    for row in rows:
        if row["kind"] in kinds:
            kinds[row["kind"]] += row["flops"]
    attention, linear = kinds["attention"] / per, kinds["linear"] / per
    crossover = round(context * linear / attention) if attention and linear else None
    rule_2n = 2 * counts["active_non_embedding"]
    return LanguageSummary(
        params=counts["total"], non_embedding=counts["non_embedding"], active=counts["active"],
        active_non_embedding=counts["active_non_embedding"], batch=batch, phase=phase, tokens=tokens,
        context=context, macs_per_token=totals["macs"] / per, flops_per_token=totals["flops"] / per,
        attention_flops_per_token=attention, linear_flops_per_token=linear, rule_2n=rule_2n,
        kv_bytes_per_token=kv_bytes_per_token(model, itemsize), crossover_context=crossover,
        training_flops_per_token=None if training_flops is None else training_flops / per,
        rule_6n=3 * rule_2n if training_flops is not None else None)
