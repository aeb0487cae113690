"""The scaling-law papers' conventions beside the exact count: what N is, what a
forward costs by their formulas, and the named terms that separate their counts
from ours.  The language summary (``profiler.count.language``) carries the results.

- **N** (Kaplan et al. 2020, "Scaling Laws for Neural Language Models", section
  2.1 and Table 1): the non-embedding parameters, i.e. the model's parameters
  less the token and position embeddings *and* the output projection (the
  de-embedding, ``lm_head``), tied to the token embedding or not.  See
  ``kaplan_n`` and ``output_projection``.
- **Kaplan's C_fwd** = 2N + 2·n_layer·n_ctx·d_attn FLOPs per token (Table 1: the
  embedding's 4·d_model and the de-embedding's 2·d_model·n_vocab are left out;
  the attention term is written ``mask`` and counts each token against half of
  a causal context on average).  See ``kaplan_forward``; training C ≈ 6N per
  token, ``kaplan_training``.
- **Chinchilla's count** (Hoffmann et al. 2022, Appendix F), per sequence of
  ``seq`` tokens: embeddings 2·seq·vocab·d_model (a one-hot matmul); per layer,
  attention: QKV 2·3·seq·d_model·(key_size·heads), key@query logits
  2·seq·seq·(key_size·heads), softmax 3·heads·seq·seq, softmax@query reductions
  2·seq·seq·(key_size·heads), final linear 2·seq·(key_size·heads)·d_model; dense
  block 2·seq·(d_model·ffw_size + d_model·ffw_size); final logits
  2·seq·d_model·vocab; forward = embeddings + num_layers·(attention + dense) +
  logits, backward = 2 × forward.  See ``chinchilla_forward`` and
  ``chinchilla_training``.

Our exact forward is split into the same parts (``our_parts``), from the rows by
kind (and, inside an attention row, from its ops by kind), and each convention
into the same parts (``kaplan_parts``, ``chinchilla_parts``); a ``Term`` is one
part on both sides, its difference ours − theirs.  The parts partition both
counts, so the terms' differences sum to exact − formula exactly.  The parts:

- ``embedding``: the embedding rows (the lookup is a gather: 0 FLOPs);
- ``logits``: the output projection's rows;
- ``linear``: the other linear rows (and attention rows' own parameter matmuls);
- ``attention_matmuls``: QKᵀ and A·V, the attention rows' activation-by-activation
  matmuls (a fused attention op, or an attention module counted whole by its
  formula such as nn.MultiheadAttention, falls here entirely);
- ``softmax``: the attention rows' softmax ops;
- ``attention_other``: the attention rows' other ops (scaling the scores, the
  mask, rotary embeddings);
- ``norms``, ``activations``: the rows of those kinds;
- ``rest``: everything else (residual adds, gating products, other elementwise
  ops, rows of no arithmetic).

Every count here is for a whole profile (``batch`` sequences of ``tokens``), so
the terms are integers; the summary divides by batch × tokens to show them per
token.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

PARTS = ("embedding", "logits", "linear", "attention_matmuls", "softmax", "attention_other",
         "norms", "activations", "rest")

LABELS = {
    "embedding": "embedding as matmul", "logits": "logits", "linear": "linear layers",
    "attention_matmuls": "QKᵀ and A·V", "softmax": "softmax", "attention_other": "other attention ops",
    "norms": "norms", "activations": "activations", "rest": "residuals and the rest",
}

# what separates our count of each part from the convention's
KAPLAN_WHY = {
    "embedding": "left out of C_fwd (Table 1's 4·d_model is dropped); the lookup is a gather here, 0 FLOPs",
    "logits": "the de-embedding (2·d_model·n_vocab per token) is left out of C_fwd; counted here",
    "linear": "2N charges 2 FLOPs per weight and per bias; here a dot product of k terms is k mults and "
              "k − 1 adds, and a bias 1 add",
    "attention_matmuls": "the causal half: Kaplan's 2·n_layer·n_ctx·d_attn is half of QKᵀ and A·V over "
                         "every key, which is what runs here (with k − 1 adds per dot product)",
    "softmax": "not in C_fwd; here n exps, n − 1 adds and n divisions per row of n scores",
    "attention_other": "not in C_fwd: scaling the scores, adding the mask, rotary embeddings, dropout",
    "norms": "2N charges 2 FLOPs per norm parameter; here the norms' arithmetic",
    "activations": "not in C_fwd",
    "rest": "residual adds and other elementwise ops, not in C_fwd; less 2N's 2 FLOPs per parameter "
            "outside the linear, attention and norm layers",
}
CHINCHILLA_WHY = {
    "embedding": "a one-hot matmul, 2·seq·vocab·d_model, in Appendix F; a gather here, 0 FLOPs",
    "logits": "2·seq·d_model·vocab in Appendix F; here d_model − 1 adds per logit (1 more with a bias)",
    "linear": "QKV, the final linear and a two-matrix dense block at 2 FLOPs per weight; here k − 1 adds "
              "per dot product, 1 add per bias, and shapes the formula does not have (grouped KV heads, "
              "a gated MLP's third matrix)",
    "attention_matmuls": "both full, 2·seq·seq·(key_size·heads) each; here k − 1 adds per dot product",
    "softmax": "3·heads·seq·seq; here n exps, n − 1 adds and n divisions per row of n scores",
    "attention_other": "not counted by Appendix F: scaling the scores, the mask, rotary embeddings, dropout",
    "norms": "not counted by Appendix F",
    "activations": "not counted by Appendix F",
    "rest": "residual adds and other elementwise ops, not counted by Appendix F",
}


@dataclass
class Shape:
    """A decoder's sizes, as the formulas name them: n_layer, d_model, heads,
    head_size (key_size), ffw (the dense block's inner width; None where the
    config names none), vocab.  d_attn = heads × head_size."""
    n_layer: int
    d_model: int
    heads: int
    head_size: int
    ffw: int | None
    vocab: int

    @property
    def d_attn(self) -> int:
        return self.heads * self.head_size


@dataclass
class Term:
    """One part of the forward on both sides: ``ours`` (our exact FLOPs),
    ``theirs`` (the convention's), ``difference`` = ours − theirs, and ``why``
    they differ.  Whole-profile integers."""
    part: str
    label: str
    ours: int
    theirs: int
    why: str
    difference: int = field(init=False)

    def __post_init__(self) -> None:
        self.difference = self.ours - self.theirs


@dataclass
class Convention:
    """One paper's forward count beside ours, for the whole profile (batch ×
    tokens): ``flops`` by its formula, ``exact`` ours, ``terms``
    whose differences sum to exact − flops; with a training profile,
    ``training_flops`` by its training rule beside ``model_flops`` (our forward +
    backward) and ``hardware_flops`` (with any recomputed forward)."""
    name: str
    source: str
    formula: str
    flops: int
    exact: int
    terms: list[Term]
    training_formula: str | None = None
    training_flops: int | None = None
    model_flops: int | None = None
    hardware_flops: int | None = None


# --- N ---------------------------------------------------------------------------------

def output_projection(model: nn.Module) -> tuple[str, nn.Module] | None:
    """(name, module) of the output projection (de-embedding): a transformers
    model's ``get_output_embeddings()`` (None where it has none); for another
    model, a linear layer whose weight is an embedding's (tied), else the last
    nn.Linear registered if its out_features is the first embedding's number of
    entries (the token vocabulary)."""
    names = {id(m): n for n, m in model.named_modules()}
    get = getattr(model, "get_output_embeddings", None)
    if callable(get):
        # a transformers model names its own head (None for a base model): no guessing,
        # which could take a pooler or a classifier for it
        try:
            head = get()
        except Exception:
            head = None
        return (names[id(head)], head) if isinstance(head, nn.Module) and id(head) in names else None
    embeddings = [m for m in model.modules() if isinstance(m, (nn.Embedding, nn.EmbeddingBag))]
    if not embeddings:
        return None
    tables = {id(e.weight) for e in embeddings}
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    tied = next(((n, m) for n, m in linears if id(m.weight) in tables), None)
    if tied is not None:
        return tied
    if linears and linears[-1][1].out_features == embeddings[0].num_embeddings:
        return linears[-1]
    return None


def kaplan_left_out(model: nn.Module) -> dict[str, int]:
    """The tensors Kaplan's N leaves out, by name (elements each, a tied tensor
    once, under its first name with its other names in parentheses): every
    nn.Embedding / nn.EmbeddingBag parameter (token and position tables) and the
    output projection's parameters (weight and bias), tied or not."""
    owners: list[nn.Module] = [m for m in model.modules() if isinstance(m, (nn.Embedding, nn.EmbeddingBag))]
    head = output_projection(model)
    if head is not None:
        owners.append(head[1])
    left = {id(p) for m in owners for p in m._parameters.values() if p is not None}
    names: dict[int, list[str]] = {}
    sizes: dict[int, int] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        if id(p) in left:
            names.setdefault(id(p), []).append(name)
            sizes[id(p)] = p.numel()
    return {(n[0] + (f" (= {', '.join(n[1:])})" if len(n) > 1 else "")): sizes[k] for k, n in names.items()}


def kaplan_n(model: nn.Module) -> int:
    """Kaplan's N: the parameters (a tied tensor once) less ``kaplan_left_out``:
    no token or position embedding and no output projection, whether tied or not,
    so tying does not change N."""
    total = sum(p.numel() for p in model.parameters())   # parameters() yields a tied tensor once
    return total - sum(kaplan_left_out(model).values())


# --- the conventions' formulas -------------------------------------------------------------

def kaplan_forward(n: int, n_layer: int, n_ctx: int, d_attn: int) -> int:
    """Kaplan's forward FLOPs per token, C_fwd = 2N + 2·n_layer·n_ctx·d_attn
    (Table 1)."""
    return 2 * n + 2 * n_layer * n_ctx * d_attn


def kaplan_training(n: int, tokens: int) -> int:
    """Kaplan's training compute for ``tokens`` tokens: C = 6N per token (forward
    2N, backward 4N; the context term dropped), × tokens."""
    return 6 * n * tokens


def chinchilla_forward(shape: Shape, seq: int) -> dict[str, int]:
    """Appendix F of Hoffmann et al. (2022) for one sequence of ``seq`` tokens,
    by part (their sum is the forward): embedding 2·seq·vocab·d_model; linear, per
    layer: QKV 2·3·seq·d_model·(key_size·heads), final linear
    2·seq·(key_size·heads)·d_model, dense 2·seq·(d_model·ffw + d_model·ffw);
    attention_matmuls, per layer: logits 2·seq·seq·(key_size·heads) and
    reductions 2·seq·seq·(key_size·heads); softmax, per layer 3·heads·seq·seq;
    logits 2·seq·d_model·vocab.  Needs ``shape.ffw``."""
    if shape.ffw is None:
        raise ValueError("the config names no feed-forward width (intermediate_size)")
    d, kh, layers = shape.d_model, shape.d_attn, shape.n_layer
    return dict(
        embedding=2 * seq * shape.vocab * d,
        linear=layers * (2 * 3 * seq * d * kh + 2 * seq * kh * d + 2 * seq * (d * shape.ffw + d * shape.ffw)),
        attention_matmuls=layers * (2 * seq * seq * kh + 2 * seq * seq * kh),
        softmax=layers * 3 * shape.heads * seq * seq,
        logits=2 * seq * d * shape.vocab)


def chinchilla_training(forward: int) -> int:
    """Appendix F's training step: forward + backward, the backward 2 × forward."""
    return 3 * forward


# --- the parts on each side --------------------------------------------------------------

_ATTENTION_OPS = {"matmul": "attention_matmuls", "activation": "softmax", "linear": "linear"}
_ROW_KINDS = {"embedding": "embedding", "linear": "linear", "norm": "norms", "activation": "activations"}


def our_parts(rows: list[dict], calls: list | None, head: str | None) -> tuple[dict[str, int], dict[str, int]]:
    """Our forward FLOPs by part (see the module docstring), and the parameters of
    the rows each part's FLOPs came from (by part).  ``head``: the output
    projection's module name; ``calls``: the capture's module calls, whose
    per-op-kind FLOPs split each formula-less attention row (without them an
    attention row goes whole to attention_matmuls)."""
    flops = dict.fromkeys(PARTS, 0)
    params = dict.fromkeys(PARTS, 0)
    pending: dict[str, list] = {}
    for call in calls or ():
        if not call.absorbed and call.formula is None:
            pending.setdefault(call.name or "(model)", []).append(call)
    for row in rows:
        kind = row["kind"]
        if head is not None and row["name"] == head:
            part = "logits"
        elif kind == "attention":
            queue = pending.get(row["name"])
            call = queue.pop(0) if queue else None
            params["linear"] += row["params"]
            if call is None or not call.op_kind_flops:
                flops["attention_matmuls"] += row["flops"]
                continue
            for op_kind, value in call.op_kind_flops.items():
                flops[_ATTENTION_OPS.get(op_kind, "attention_other")] += value
            continue
        else:
            part = _ROW_KINDS.get(kind, "rest")
        flops[part] += row["flops"]
        params[part] += row["params"]
    return flops, params


def kaplan_parts(n: int, inactive: int, row_params: dict[str, int], shape: Shape, n_ctx: int,
                 tokens: int) -> dict[str, int]:
    """C_fwd × ``tokens`` by part: linear 2·(its rows' parameters − ``inactive``,
    the experts a token does not meet), norms 2·(their parameters), rest 2·(the
    rest of the active N), all per token; attention_matmuls 2·n_layer·n_ctx·d_attn
    per token; the other parts 0."""
    parts = dict.fromkeys(PARTS, 0)
    parts["linear"] = 2 * (row_params["linear"] - inactive) * tokens
    parts["norms"] = 2 * row_params["norms"] * tokens
    parts["rest"] = 2 * (n - (row_params["linear"] - inactive) - row_params["norms"]) * tokens
    parts["attention_matmuls"] = 2 * shape.n_layer * n_ctx * shape.d_attn * tokens
    return parts


def side_by_side(name: str, source: str, formula: str, ours: dict[str, int], theirs: dict[str, int],
                 why: dict[str, str]) -> Convention:
    """A Convention from both sides' parts: one Term per part that either side counts."""
    terms = [Term(p, LABELS[p], ours[p], theirs.get(p, 0), why[p]) for p in PARTS
             if ours[p] or theirs.get(p, 0)]
    return Convention(name, source, formula, sum(theirs.values()), sum(ours.values()), terms)


def conventions(model_n: int, inactive: int, rows: list[dict], calls: list | None, head: str | None,
                shape: Shape, batch: int, tokens: int, notes: list[str],
                model_flops: int | None = None, hardware_flops: int | None = None) -> list[Convention]:
    """Kaplan's and Chinchilla's forward beside ours, for a prefill of ``batch``
    sequences of ``tokens`` (n_ctx = seq = tokens); with ``model_flops`` (a
    training profile's forward + backward), their training rules beside it.  A
    convention that cannot be made is a note."""
    ours, row_params = our_parts(rows, calls, head)
    count = batch * tokens
    kaplan = side_by_side("Kaplan", "Kaplan et al. 2020, Table 1", "C_fwd = 2N + 2·n_layer·n_ctx·d_attn", ours,
                          kaplan_parts(model_n, inactive, row_params, shape, tokens, count), KAPLAN_WHY)
    if model_flops is not None:
        kaplan.training_formula, kaplan.training_flops = "6N·D", kaplan_training(model_n, count)
    out = [kaplan]
    try:
        chinchilla = {k: v * batch for k, v in chinchilla_forward(shape, tokens).items()}
    except ValueError as exc:
        notes.append(f"Chinchilla's count: {exc}")
    else:
        conv = side_by_side("Chinchilla", "Hoffmann et al. 2022, Appendix F",
                            "embeddings + num_layers·(attention + dense) + logits", ours, chinchilla,
                            CHINCHILLA_WHY)
        if model_flops is not None:
            conv.training_formula, conv.training_flops = "3 × forward", chinchilla_training(conv.flops)
        out.append(conv)
    for conv in out:
        conv.model_flops, conv.hardware_flops = model_flops, hardware_flops
    return out


def describe(conv: Convention, per: int) -> list[tuple[str, str]]:
    """(label, value) lines of one convention, per token (÷ ``per``)."""
    ratio = f"exact/{conv.name} = {conv.exact / conv.flops:.3f}" if conv.flops else ""
    terms = ", ".join(f"{t.label} {_per(t.difference, per, sign=True)}" for t in conv.terms if t.difference)
    out = [(f"{conv.name} forward ({conv.source})",
            f"{conv.formula} = {_per(conv.flops, per)} FLOPs per token; exact {_per(conv.exact, per)}; {ratio}"),
           (f"exact − {conv.name}", f"{_per(conv.exact - conv.flops, per, sign=True)} per token = {terms}"
            if terms else "0")]
    if conv.training_flops is not None:
        step = f"{conv.model_flops:,} exact model FLOPs (forward + backward)"
        if conv.hardware_flops is not None and conv.hardware_flops != conv.model_flops:
            step += f", {conv.hardware_flops:,} hardware FLOPs (with the recomputed forward)"
        out.append((f"{conv.name} training step ({per:,} tokens)",
                    f"{conv.training_formula} = {conv.training_flops:,}; {step}; exact/{conv.name} = "
                    f"{conv.model_flops / conv.training_flops:.3f}" if conv.training_flops else step))
    return out


def _per(value: int, per: int, sign: bool = False) -> str:
    """value / per, whole where it divides, else to two decimals."""
    v = value / per
    return format(v, ("+" if sign else "") + (",.0f" if value % per == 0 else ",.2f"))
