"""The language-model summary: what a model fed token ids costs per token.

Read from a profile's rows and the model (and its transformers config, where it
has one):

- parameters: total; non-embedding, Kaplan et al.'s N (total less the token and
  position tables and the output projection, tied or not; ``left_out`` names
  those tensors: see ``profiler.count.scaling.kaplan_n``); active (what one token
  meets: total less the experts its router does not pick, i.e. each
  mixture-of-experts layer's expert parameters times (E - k) / E for E experts
  and top-k routing);
- MACs (and FLOPs = 2 x MACs) per token: a prefill profile's totals divided by
  batch x tokens; a decode profile's (one new token per sequence) by batch;
- the rules of thumb beside the exact count: forward FLOPs per token ~ 2N and a
  training step ~ 6N, with N the active non-embedding parameters; the exact count
  exceeds 2N by the logits (the output projection, outside N), the attention
  term (the attention rows' FLOPs: QK^T and the weighted sum, growing with the
  context) and the rest (norms, activations; the embedding lookups count nothing);
- the scaling-law conventions side by side (``conventions``, prefill profiles of
  a model with a transformers config): Kaplan's C_fwd = 2N + 2·n_layer·n_ctx·d_attn
  and Chinchilla's Appendix F count, each beside the exact forward with the named
  terms that separate them, and with training=True their training rules (6N·D,
  3 × forward) beside the exact step; see ``profiler.count.scaling``.  A decode
  profile has none (both formulas are for a sequence read whole), nor has an
  encoder-decoder (they are for one stack of layers over the tokens);
- KV-cache bytes per token, layer by layer (see ``kv_cache_layers``): each decoder
  layer that keeps a KV cache adds keys + values x its KV heads x its head size x
  the dtype's element size; layers that keep none (mamba, linear-attention and
  convolution layers of hybrid models, MLP-only layers, layers that reuse another
  layer's KV as in Gemma 3n and 4) add 0.  A sliding-window (or chunked) layer adds
  its full per-token bytes too, so the figure is the bytes each token adds while the
  context is within the windows; past its window such a layer stops growing (it
  holds at most its window: transformers' static cache allocates the window, its
  dynamic cache keeps window - 1 tokens between steps), which the per-sequence
  figure at the profile's context (``kv_cache_bytes``, each layer's bytes per token
  x min(context, its window)) takes into account;
- the context at which attention overtakes the linear layers: attention's FLOPs
  per token grow linearly with the context, the linear layers' do not, so from
  one profile at context T the crossover is T x linear / attention.

A part of the summary that cannot be made (a config transformers refuses to read
globally, a layer whose cache this module cannot size) is a note in
``LanguageSummary.notes`` and a None field, never an error: the summary comes after
the counts, which stand without it.
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from torch import nn

from profiler.count.scaling import Convention, Shape, conventions, describe, kaplan_left_out, output_projection
from profiler.errors import first_line


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
    kv_bytes_per_token: int | None        # None when the model has no config to read it from (see kv_cache_layers)
    crossover_context: int | None         # where attention's FLOPs per token pass the linear layers'
    training_flops_per_token: float | None = None   # forward + backward, with training=True
    rule_6n: int | None = None
    kv_cache_bytes: int | None = None     # per sequence at `context`, sliding-window layers capped at their window
    kv_layout: str | None = None          # which layers keep what cache, when not every layer keeps a full one
    notes: list[str] = field(default_factory=list)   # the parts that could not be made, and why
    left_out: list[str] = field(default_factory=list)  # the tensors N (non_embedding) leaves out, by name
    training_hardware_flops_per_token: float | None = None   # with a recomputed forward (checkpointing)
    conventions: list[Convention] = field(default_factory=list)   # Kaplan's and Chinchilla's, beside ours

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[tuple[str, str]]:
        """(label, value) pairs for the text and Markdown reports."""
        out = [("parameters", f"{self.params:,} total; {self.non_embedding:,} non-embedding (N)"
                + (f"; {self.active:,} active per token ({self.active_non_embedding:,} non-embedding)"
                   if self.active != self.params else ""))]
        if self.left_out:
            out.append(("left out of N", ", ".join(self.left_out)))
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
            at_context = self.kv_cache_bytes if self.kv_cache_bytes is not None \
                else self.kv_bytes_per_token * self.context
            out.append(("KV cache", f"{self.kv_bytes_per_token:,} bytes per token "
                        f"({at_context / 2**20:,.1f} MiB per sequence at context {self.context:,})"
                        + (f"; {self.kv_layout}" if self.kv_layout else "")))
        if self.training_flops_per_token is not None:
            out.append(("training step", f"{self.training_flops_per_token:,.0f} FLOPs per token; 6N rule "
                        f"{self.rule_6n:,}; exact/6N = {self.training_flops_per_token / self.rule_6n:.3f}"
                        if self.rule_6n else f"{self.training_flops_per_token:,.0f} FLOPs per token"))
        per = self.batch * self.tokens
        for conv in self.conventions:
            out.extend(describe(conv, per))
        out.extend(("not made", note) for note in self.notes)
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


def parameter_counts(model: nn.Module, inactive: int | None = None,
                     left_out: dict[str, int] | None = None) -> dict[str, int]:
    """total, non_embedding (Kaplan's N: less ``left_out``, by default
    ``scaling.kaplan_left_out``: the embeddings and the output projection), active,
    active_non_embedding (tied tensors once); ``inactive``: the expert parameters a
    token does not meet, where already known."""
    total = sum(p.numel() for p in model.parameters())   # parameters() yields a tied tensor once
    if inactive is None:
        inactive = inactive_expert_params(model)
    embedding = sum((kaplan_left_out(model) if left_out is None else left_out).values())
    return dict(total=total, non_embedding=total - embedding, active=total - inactive,
                active_non_embedding=total - embedding - inactive)


def _routing(model: nn.Module) -> tuple[int, int] | None:
    """(experts, top_k) from the model's config, else None."""
    config = getattr(model, "config", None)
    experts = next((_read(config, a) for a in ("num_local_experts", "num_experts", "n_routed_experts")
                    if isinstance(_read(config, a), int)), None)
    top_k = _read(config, "num_experts_per_tok")
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


# transformers' cache layer types (transformers.cache_utils.DYNAMIC_LAYER_TYPE_MAPPING) by what they keep per token
_FULL = {"full_attention", "hybrid"}                     # hybrid: a linear-attention state beside a full KV cache
_WINDOW = {"sliding_attention", "chunked_attention", "hybrid_sliding"}
_NONE = {"linear_attention", "conv", "dummy", "moe", "mlp", "mamba", "linear", "recurrent"}


@dataclass
class KVLayer:
    """One decoder layer's KV cache: ``bytes_per_token`` (keys + values of one token,
    0 for a layer that keeps no KV cache) and ``window`` (the most tokens it holds:
    a sliding-window or chunked layer's window; None for a full-attention layer)."""
    cache: str
    bytes_per_token: int
    window: int | None = None


def _text_config(model: nn.Module) -> Any:
    config = getattr(model, "config", None)
    if config is None:
        return None
    try:
        return config.get_text_config(decoder=True)
    except Exception:
        return _read(config, "text_config") or config


def _read(config: Any, name: str) -> Any:
    """config.name, or None where it is missing or transformers refuses to read it
    (a per-layer attribute read globally: AmbiguousGlobalPerLayerAttributeError)."""
    try:
        return getattr(config, name, None)
    except Exception:
        return None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _layer_types(config: Any) -> tuple[list[str], list[int | None]]:
    """Each decoder layer's cache type and window: transformers' own reading
    (``cache_utils.get_layer_types_and_kwargs``: ``layer_types``, the per-layer
    configs, KV sharing, MLP-only layers), else ``layer_types`` or all full
    attention, with the config's ``sliding_window``."""
    try:
        from transformers.cache_utils import get_layer_types_and_kwargs
        types, kwargs = get_layer_types_and_kwargs(config)
        return list(types), [_int(k.get("sliding_window")) for k in kwargs]
    except Exception:
        pass
    layers = _int(_read(config, "num_hidden_layers"))
    types = _read(config, "layer_types")
    if not (isinstance(types, (list, tuple)) and all(isinstance(t, str) for t in types)):
        if layers is None:
            raise ValueError("the config names no number of layers (num_hidden_layers)")
        window = _int(_read(config, "sliding_window"))
        types = ["sliding_attention" if window else "full_attention"] * layers
    window = _int(_read(config, "sliding_window"))
    return list(types), [window if t in _WINDOW else None for t in types]


def _layer_config(config: Any, index: int) -> Any:
    """Layer ``index``'s config: its own where the config varies by layer (transformers'
    ``per_layer_config``), else the config itself."""
    if _read(config, "is_heterogeneous"):
        try:
            return config.per_layer_config[index]
        except Exception:
            return None
    return config


def _config_kv(config: Any) -> tuple[int, int] | None:
    """(key, value) elements per token of one layer from its config: KV heads x head size;
    for multi-head latent attention (DeepSeek V2/V3: ``kv_lora_rank``), the compressed
    latent (kv_lora_rank) and the shared RoPE key (qk_rope_head_dim), which is what
    transformers caches for it."""
    if config is None:
        return None
    latent, rope = _int(_read(config, "kv_lora_rank")), _int(_read(config, "qk_rope_head_dim"))
    if latent and rope:
        return latent, rope
    heads = _int(_read(config, "num_attention_heads"))
    kv_heads = _int(_read(config, "num_key_value_heads")) or heads
    hidden = _int(_read(config, "hidden_size"))
    head_dim = _int(_read(config, "head_dim")) or (hidden // heads if heads and hidden else None)
    if kv_heads is None or head_dim is None:
        return None
    return kv_heads * head_dim, kv_heads * head_dim


def _decoder_layers(model: nn.Module, count: int) -> nn.ModuleList | None:
    """The model's list of ``count`` decoder layers (a decoder's before an encoder's)."""
    lists = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.ModuleList) and len(m) == count]
    lists.sort(key=lambda item: ("decoder" not in item[0], not item[0].endswith("layers")))
    return lists[0][1] if lists else None


def _module_kv(layer: nn.Module | None) -> tuple[int, int] | None:
    """(key, value) elements per token from a decoder layer's self-attention module:
    its k_proj / v_proj out_features (v_proj absent: values are the keys, as in
    Gemma 4's attention_k_eq_v), else its num_key_value_heads x head_dim."""
    if layer is None:
        return None
    for name, module in layer.named_modules():
        if "cross" in name or "encoder_attn" in name:
            continue
        k, v = getattr(module, "k_proj", None), getattr(module, "v_proj", None)
        if isinstance(k, nn.Linear):
            return k.out_features, (v.out_features if isinstance(v, nn.Linear) else k.out_features)
        kv_heads, head_dim = _int(getattr(module, "num_key_value_heads", None)), _int(getattr(module, "head_dim", None))
        if kv_heads and head_dim:
            return kv_heads * head_dim, kv_heads * head_dim
    return None


def kv_cache_layers(model: nn.Module, itemsize: int) -> list[KVLayer] | None:
    """The KV cache of each decoder layer of a transformers model (None for a model
    without a transformers-style config).  A layer's type and window come from the
    config (see ``_layer_types``); its KV heads x head size from its own config (the
    per-layer config where transformers keeps one), and where that cannot be read
    (ambiguous or missing) from the layer's attention module.  Raises ValueError
    for a layer it cannot size, or a cache type it does not know."""
    config = _text_config(model)
    if config is None or not (hasattr(config, "per_layer_config") or _int(_read(config, "num_hidden_layers"))):
        return None   # no config, or not a transformers-style one
    types, windows = _layer_types(config)
    layers = _decoder_layers(model, len(types))
    out = []
    for index, (cache, window) in enumerate(zip(types, windows)):
        if cache in _NONE:
            out.append(KVLayer(cache, 0))
            continue
        if cache not in _FULL and cache not in _WINDOW:
            raise ValueError(f"layer {index} keeps a {cache!r} cache, which has no per-token KV size here")
        dims = _config_kv(_layer_config(config, index)) or _module_kv(layers[index] if layers is not None else None)
        if dims is None:
            raise ValueError(f"layer {index}: no KV heads and head size in its config or its attention module")
        out.append(KVLayer(cache, (dims[0] + dims[1]) * itemsize, window if cache in _WINDOW else None))
    return out


def kv_bytes_per_token(model: nn.Module, itemsize: int) -> int | None:
    """Bytes each token adds to the KV cache, summed over the decoder layers (see
    ``kv_cache_layers``): keys + values x KV heads x head size x itemsize per layer
    that keeps a KV cache, sliding-window layers included at their full per-token
    bytes; i.e. the growth per token while the context is within every window."""
    layers = kv_cache_layers(model, itemsize)
    return None if layers is None else sum(layer.bytes_per_token for layer in layers)


def _layout(layers: list[KVLayer]) -> str | None:
    """The layers by what they keep, unless every layer keeps a full KV cache."""
    full = sum(1 for layer in layers if layer.bytes_per_token and layer.window is None)
    if full == len(layers):
        return None
    windows: dict[int, int] = {}
    for layer in layers:
        if layer.bytes_per_token and layer.window is not None:
            windows[layer.window] = windows.get(layer.window, 0) + 1
    none = sum(1 for layer in layers if not layer.bytes_per_token)
    parts = [f"{full} keep the full context"] if full else []
    parts += [f"{n} at most a window of {w:,} tokens" for w, n in sorted(windows.items())]
    if none:
        parts.append(f"{none} no KV cache")
    return f"of {len(layers)} layers, " + ", ".join(parts)


_FFW = ("intermediate_size", "n_inner", "ffn_dim", "d_ff", "ffn_hidden_size", "decoder_ffn_dim")


def decoder_shape(model: nn.Module) -> Shape:
    """The sizes the scaling-law formulas take, from the (text) config:
    num_hidden_layers, hidden_size, num_attention_heads, head_dim (else hidden /
    heads), the feed-forward width (the first of intermediate_size, n_inner,
    ffn_dim, d_ff, ...; GPT-2's n_inner None is 4 × hidden, as its MLP builds it;
    None where the config names none) and vocab_size.  Raises ValueError where one
    of the others is missing."""
    config = _text_config(model)
    if config is None:
        raise ValueError("the model has no transformers config to read its sizes from")
    sizes = {a: _int(_read(config, a)) for a in ("num_hidden_layers", "hidden_size", "num_attention_heads",
                                                   "vocab_size")}
    missing = [a for a, v in sizes.items() if v is None]
    if missing:
        raise ValueError(f"the config names no {', '.join(missing)}")
    hidden, heads = sizes["hidden_size"], sizes["num_attention_heads"]
    ffw = next((_int(_read(config, a)) for a in _FFW if _int(_read(config, a))), None)
    if ffw is None and hasattr(config, "n_inner") and _read(config, "n_inner") is None:
        ffw = 4 * hidden
    return Shape(sizes["num_hidden_layers"], hidden, heads, _int(_read(config, "head_dim")) or hidden // heads,
                 ffw, sizes["vocab_size"])


def _attempt(notes: list[str], what: str, make: Callable[[], Any], default: Any = None) -> Any:
    try:
        return make()
    except Exception as exc:
        notes.append(f"{what}: {first_line(exc)}")
        return default


def summarize(model: nn.Module, rows: list[dict], totals: dict[str, int], batch: int, itemsize: int,
              phase: str, tokens: int, context: int, training_flops: int | None = None,
              calls: list | None = None, hardware_flops: int | None = None) -> LanguageSummary | None:
    """The summary of one profile of ``model`` (its report ``rows`` and ``totals``):
    ``phase`` "prefill" (``tokens`` new tokens per sequence, attending to up to
    ``context`` = tokens keys) or "decode" (``tokens`` new tokens attending to
    ``context`` = cache + tokens keys).  ``training_flops``: a training profile's
    model FLOPs (forward + backward), ``hardware_flops`` the same with any
    recomputed forward; ``calls``: the capture's module calls, which split the
    attention rows for the conventions (``scaling.our_parts``).  Never raises: a
    part that cannot be made is a note in ``notes`` and its field None (or, for
    the active parameters, the total); a summary that cannot be made at all is
    None, with a warning."""
    try:
        return _summarize(model, rows, totals, batch, itemsize, phase, tokens, context, training_flops,
                          calls, hardware_flops)
    except Exception as exc:
        warnings.warn(f"no language-model summary: {first_line(exc)}", stacklevel=2)
        return None


def _summarize(model, rows, totals, batch, itemsize, phase, tokens, context, training_flops,
               calls=None, hardware_flops=None) -> LanguageSummary:
    notes: list[str] = []
    inactive = _attempt(notes, "active parameters (taken as the total)", lambda: inactive_expert_params(model), 0)
    left_out = kaplan_left_out(model)
    counts = parameter_counts(model, inactive, left_out)
    per = batch * tokens
    kinds = {"attention": 0, "linear": 0}
    for row in rows:
        if row["kind"] in kinds:
            kinds[row["kind"]] += row["flops"]
    attention, linear = kinds["attention"] / per, kinds["linear"] / per
    crossover = round(context * linear / attention) if attention and linear else None
    rule_2n = 2 * counts["active_non_embedding"]
    kv = _attempt(notes, "KV cache", lambda: kv_cache_layers(model, itemsize))
    convs: list[Convention] = []
    config = _text_config(model)
    if phase == "prefill" and config is not None and not _read(config, "is_encoder_decoder"):
        head = output_projection(model)
        convs = _attempt(notes, "the scaling-law conventions", lambda: conventions(
            counts["active_non_embedding"], inactive, rows, calls, None if head is None else head[0],
            decoder_shape(model), batch, tokens, notes, training_flops,
            hardware_flops if hardware_flops is not None else training_flops), [])
    return LanguageSummary(
        params=counts["total"], non_embedding=counts["non_embedding"], active=counts["active"],
        active_non_embedding=counts["active_non_embedding"], batch=batch, phase=phase, tokens=tokens,
        context=context, macs_per_token=totals["macs"] / per, flops_per_token=totals["flops"] / per,
        attention_flops_per_token=attention, linear_flops_per_token=linear, rule_2n=rule_2n,
        kv_bytes_per_token=None if kv is None else sum(layer.bytes_per_token for layer in kv),
        crossover_context=crossover,
        training_flops_per_token=None if training_flops is None else training_flops / per,
        rule_6n=3 * rule_2n if training_flops is not None else None,
        kv_cache_bytes=None if kv is None else sum(layer.bytes_per_token * min(context, layer.window or context)
                                                   for layer in kv),
        kv_layout=None if kv is None else _layout(kv), notes=notes, left_out=list(left_out),
        training_hardware_flops_per_token=None if hardware_flops is None else hardware_flops / per,
        conventions=convs)
