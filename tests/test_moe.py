"""Mixture of experts: transformers 5.x runs its experts through torch._grouped_mm
(integrations/moe.py: token-expert pairs sorted by expert, histc for the tokens per
expert, cumsum for the offsets, one grouped matmul per projection).  Whole tiny
Mixtral and Qwen2-MoE models against a count by hand from their configs, meta and
real builds, the grouped-matmul formula against FlopCounterMode and a brute-force
loop, and the counting ops (histc, aminmax, index_add, scatter, bincount, cumsum)
against literal arithmetic that tallies itself."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode, flop_registry

import bruteforce as bf
import profiler
from profiler.formulas.forward.matmul import grouped_mm

transformers = pytest.importorskip("transformers")

TOKENS = 16
MIXTRAL = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
               num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2, vocab_size=128)
QWEN2_MOE = dict(hidden_size=64, intermediate_size=128, moe_intermediate_size=96,
                 shared_expert_intermediate_size=160, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, num_experts=4, num_experts_per_tok=2, vocab_size=128,
                 decoder_sparse_step=1, mlp_only_layers=[])


def _config(name: str, experts: str | None = None):
    if name == "mixtral":
        config = transformers.MixtralConfig(**MIXTRAL)
    else:
        config = transformers.Qwen2MoeConfig(**QWEN2_MOE)
    if experts is not None:
        config._experts_implementation = experts
    return config


def _build(name: str, meta: bool, experts: str | None = None) -> nn.Module:
    cls = transformers.MixtralForCausalLM if name == "mixtral" else transformers.Qwen2MoeForCausalLM
    config = _config(name, experts)
    if meta:
        with torch.device("meta"):
            return cls(config)
    torch.manual_seed(0)
    return cls(config).eval()


def _macs_by_hand(name: str, tokens: int = TOKENS) -> dict[str, int]:
    """Every multiply-accumulate of the forward, from the config, by part.

    Per layer: the q, k, v, o projections (k and v to the kv heads); attention's
    Q·Kᵀ and weights·V over all T×T scores of every query head (the SDPA formula,
    as FlopCounterMode counts the math backend: the causal mask does not shorten
    the dot products); the router, T·hidden·experts; the routed experts, every one
    of the T·top_k token-expert pairs through one expert's gate, up and down
    projections (3·hidden·intermediate), whatever the routing; for Qwen2-MoE the
    shared expert (3·hidden·shared_intermediate per token) and its 1-output gate.
    Then the lm_head.  RoPE's inv_freq ⊗ positions is a K = 1 matmul that torch
    runs as a broadcast multiplication: multiplications, no MACs."""
    c = MIXTRAL if name == "mixtral" else QWEN2_MOE
    h, heads, kv, layers = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"], c["num_hidden_layers"]
    d = h // heads
    experts = c.get("num_local_experts", c.get("num_experts"))
    top_k = c["num_experts_per_tok"]
    inter = c["intermediate_size"] if name == "mixtral" else c["moe_intermediate_size"]
    parts = {
        "projections": layers * tokens * h * (heads * d + 2 * kv * d + heads * d),
        "attention": layers * 2 * heads * tokens * tokens * d,
        "router": layers * tokens * h * experts,
        "experts": layers * tokens * top_k * 3 * h * inter,
        "lm_head": tokens * h * c["vocab_size"],
    }
    if name == "qwen2_moe":
        parts["shared_expert"] = layers * tokens * (3 * h * c["shared_expert_intermediate_size"] + h)
    return parts


@pytest.fixture(scope="module")
def reports():
    return {(name, meta): profiler.profile(_build(name, meta), input_size=(TOKENS,))
            for name, meta in itertools.product(("mixtral", "qwen2_moe"), (True, False))}


@pytest.mark.parametrize("name", ["mixtral", "qwen2_moe"])
def test_moe_model_counts_everything_and_equals_the_count_by_hand(name, reports):
    report = reports[(name, True)]
    assert report.uncounted.empty, report.uncounted[["name", "ops"]]
    assert report.execution == "meta"
    parts = _macs_by_hand(name)
    assert report.total["macs"] == sum(parts.values())
    experts = report.layers[report.layers["name"].str.endswith("mlp.experts")]
    assert int(experts["macs"].sum()) == parts["experts"]
    assert all("_grouped_mm×2" in ops and "histc×1" in ops for ops in experts["ops"])


@pytest.mark.parametrize("name", ["mixtral", "qwen2_moe"])
def test_meta_and_real_builds_give_identical_counts(name, reports):
    meta, real = reports[(name, True)], reports[(name, False)]
    assert real.uncounted.empty
    assert meta.total.equals(real.total)
    columns = ["name", "mults", "adds", "other", "macs", "params"]
    assert meta.layers[columns].equals(real.layers[columns])


@pytest.mark.parametrize("name", ["mixtral", "qwen2_moe"])
def test_flop_counter_misses_exactly_the_grouped_matmuls(name, reports):
    """FlopCounterMode has no formula for _grouped_mm: on the real model (math
    attention, which it counts) it sees everything but the routed experts."""
    model = _build(name, meta=False)
    ids = torch.randint(0, 128, (1, TOKENS), generator=torch.Generator().manual_seed(0))
    assert torch.ops.aten._grouped_mm not in flop_registry
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(ids)
    parts = _macs_by_hand(name)
    assert counter.get_total_flops() // 2 == sum(parts.values()) - parts["experts"]
    assert reports[(name, False)].total["macs"] == sum(parts.values())


def test_eager_experts_fall_back_to_real_tensors_with_the_same_macs():
    """transformers' "eager" experts loop over the experts hit (nonzero): a shapes-only
    forward cannot run it, so the profile runs on real CPU tensors and says so.
    Every token-expert pair still meets one expert, so the MACs equal grouped_mm's."""
    report = profiler.profile(_build("mixtral", meta=False, experts="eager"), input_size=(TOKENS,))
    assert report.execution == "real"
    assert any(note.startswith("ran on real CPU tensors") and "nonzero" in note for note in report.notes)
    assert report.uncounted.empty
    assert report.total["macs"] == sum(_macs_by_hand("mixtral").values())


def test_moe_training_profile_counts_the_grouped_matmul_backward():
    """Backward of the experts: grad input and grad weights of both grouped matmuls,
    2 × the forward's MACs, as for a linear layer."""
    report = profiler.profile(_build("mixtral", meta=True), input_size=(TOKENS,), training=True)
    assert not (report.layers["bwd_status"] == "uncounted").any()
    experts = report.layers[report.layers["name"].str.endswith("mlp.experts")]
    assert int(experts["bwd_macs"].sum()) == 2 * _macs_by_hand("mixtral")["experts"]


# --- torch._grouped_mm ------------------------------------------------------------------

# (a shape, b shape, group sizes along the jagged dimension, or None for 3D×3D)
LAYOUTS = {
    "2d-3d": ((7, 8), (3, 8, 4), [2, 4, 1]),       # the MoE forward: rows grouped by expert
    "3d-3d": ((3, 2, 8), (3, 8, 4), None),         # a batched matmul
    "3d-2d": ((3, 2, 8), (8, 12), [4, 4, 4]),      # columns of b grouped
    "2d-2d": ((2, 8), (8, 4), [3, 1, 4]),          # the contraction grouped (MoE weight gradient)
}


def _grouped_inputs(layout: str, requires_grad: bool = False):
    a_shape, b_shape, sizes = LAYOUTS[layout]
    gen = torch.Generator().manual_seed(1)
    a = torch.randn(a_shape, generator=gen, requires_grad=requires_grad)
    b = torch.randn(b_shape, generator=gen, requires_grad=requires_grad)
    offs = None if sizes is None else torch.tensor(np.cumsum(sizes), dtype=torch.int32)
    return a, b, offs


def _grouped_loop(a, b, offs):
    """_grouped_mm as one torch.mm per group (transformers' own fallback)."""
    if offs is None:
        return torch.stack([a[g] @ b[g] for g in range(a.shape[0])])
    ends = [int(e) for e in offs]
    starts = [0, *ends[:-1]]
    if a.dim() == 2 and b.dim() == 3:
        return torch.cat([a[s:e] @ b[g] for g, (s, e) in enumerate(zip(starts, ends))])
    if a.dim() == 3:
        return torch.cat([a[g] @ b[:, s:e] for g, (s, e) in enumerate(zip(starts, ends))], dim=1)
    return torch.stack([a[:, s:e] @ b[s:e] for s, e in zip(starts, ends)])


def _grouped_brute_force(a: np.ndarray, b: np.ndarray, sizes):
    """Every output element as a dot product of self-counting scalars over its group."""
    t = bf.Tally()
    if sizes is None:
        out = np.array([[[bf.total([t.num(a[g, i, k]) * b[g, k, j] for k in range(a.shape[2])]).v
                          for j in range(b.shape[2])] for i in range(a.shape[1])] for g in range(a.shape[0])])
        return out, t
    bounds = np.cumsum([0, *sizes])
    groups = list(zip(bounds[:-1], bounds[1:]))
    if a.ndim == 2 and b.ndim == 3:
        expert = np.repeat(np.arange(len(sizes)), sizes)
        out = np.array([[bf.total([t.num(a[i, k]) * b[expert[i], k, j] for k in range(a.shape[1])]).v
                         for j in range(b.shape[2])] for i in range(a.shape[0])])
    elif a.ndim == 3:
        column_group = np.repeat(np.arange(len(sizes)), sizes)
        out = np.array([[bf.total([t.num(a[column_group[j], i, k]) * b[k, j] for k in range(a.shape[2])]).v
                         for j in range(b.shape[1])] for i in range(a.shape[1])])
    else:
        out = np.array([[[bf.total([t.num(a[i, k]) * b[k, j] for k in range(s, e)]).v
                          for j in range(b.shape[1])] for i in range(a.shape[0])] for s, e in groups])
    return out, t


class Grouped(nn.Module):
    """A module that calls torch._grouped_mm on its input and its own weight."""

    def __init__(self, layout: str):
        super().__init__()
        a, b, offs = _grouped_inputs(layout)
        self.weight = nn.Parameter(b.clone())
        self.register_buffer("offs", offs)

    def forward(self, x):
        return torch._grouped_mm(x, self.weight, offs=self.offs)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_grouped_mm_formula_equals_a_brute_force_loop(layout):
    a, b, offs = _grouped_inputs(layout)
    out = torch._grouped_mm(a, b, offs=offs)
    want, tally = _grouped_brute_force(a.double().numpy(), b.double().numpy(), LAYOUTS[layout][2])
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-5, atol=1e-5)
    shapes = [None if t is None else tuple(t.shape) for t in (out, a, b, offs)]
    cost = grouped_mm(*shapes)
    assert (cost.mults, cost.adds, cost.other) == tally.as_tuple()
    assert cost.macs == tally.mults


@pytest.mark.parametrize("layout", LAYOUTS)
def test_grouped_mm_profile_macs_equal_flop_counter_on_the_per_group_loop(layout):
    """FlopCounterMode has no _grouped_mm formula (it counts 0 for it); on the same
    product written as one mm per group it counts 2 × our MACs, forward and backward."""
    a, b, offs = _grouped_inputs(layout)
    with FlopCounterMode(display=False) as fused:
        torch._grouped_mm(a, b, offs=offs)
    assert fused.get_total_flops() == 0
    with FlopCounterMode(display=False) as loop:
        _grouped_loop(a, b, offs)
    model = Grouped(layout)
    report = profiler.profile(model, inputs=(a,))
    assert report.uncounted.empty and report.execution == "meta"
    assert report.total["macs"] == loop.get_total_flops() // 2

    x = a.clone().requires_grad_(True)
    training = profiler.profile(model, inputs=(x,), training=True)
    assert not (training.layers["bwd_status"] == "uncounted").any()
    x, w, offs = *(t.detach().requires_grad_(True) for t in (a, b)), offs
    out = _grouped_loop(x, w, offs)
    with FlopCounterMode(display=False) as backward:
        out.backward(torch.ones_like(out))
    assert int(training.layers["bwd_macs"].sum()) == backward.get_total_flops() // 2


# --- counting and accumulating ops against literal arithmetic ---------------------------

def _cmp(t: bf.Tally, holds: bool) -> bool:
    """A comparison, tallied as `other`."""
    t.other += 1
    return holds


class Fn(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *args):
        return self.fn(*args)


def _profiled(fn, *inputs) -> tuple[int, int, int]:
    report = profiler.profile(Fn(fn), inputs=inputs)
    assert report.uncounted.empty
    return tuple(int(report.total[c]) for c in ("mults", "adds", "other"))


def _literal_aminmax(t: bf.Tally, values) -> tuple[float, float]:
    lo = hi = values[0]
    for v in values[1:]:
        lo = v if _cmp(t, v < lo) else lo
        hi = v if _cmp(t, v > hi) else hi
    return lo, hi


def _literal_histc(x: np.ndarray, bins: int, lo: float, hi: float):
    """torch.histc's CPU loop (linear interpolation): range test, bin index, the last
    bin's closed right edge, the count.  hi − lo is computed once."""
    t = bf.Tally()
    values = list(x.ravel())
    if lo == hi:
        lo, hi = _literal_aminmax(t, values)
    width = hi - lo
    hist = [t.num(0.0) for _ in range(bins)]
    for v in values:
        if not (_cmp(t, v >= lo) and _cmp(t, v <= hi)):
            continue
        position = (t.num(v) - lo) * bins / width
        t.other += 1                                  # truncation to an integer
        pos = int(position.v)
        if _cmp(t, pos == bins):
            pos -= 1
        hist[pos] = hist[pos] + 1
    return np.array([h.v for h in hist]), t


@pytest.mark.parametrize("bins,lo,hi", [(4, 0.0, 3.0), (5, 0.0, 0.0), (3, -1.0, 1.0)])
def test_histc_formula_equals_the_kernel_loop(bins, lo, hi):
    """Data in range (the formula counts every element as in range, the costlier
    branch), one element on the right edge; min = max takes the range from the data."""
    rng = np.random.default_rng(7)
    x = rng.uniform(lo, hi, size=(3, 5)) if lo != hi else rng.uniform(-1, 2, size=(3, 5))
    x[0, 0] = hi if lo != hi else x.max()
    hist, tally = _literal_histc(x, bins, lo, hi)
    ours = torch.histc(torch.tensor(x), bins, lo, hi).numpy()
    np.testing.assert_array_equal(hist, ours)
    assert _profiled(lambda t: torch.histc(t, bins, lo, hi), torch.tensor(x)) == tally.as_tuple()


@pytest.mark.parametrize("dim", [None, 0, 1])
def test_aminmax_formula_equals_running_comparisons(dim):
    x = np.random.default_rng(8).normal(size=(4, 6))
    t = bf.Tally()
    lines = [x.ravel()] if dim is None else list(np.moveaxis(x, dim, -1).reshape(-1, x.shape[dim]))
    found = [_literal_aminmax(t, list(line)) for line in lines]
    lo, hi = torch.aminmax(torch.tensor(x)) if dim is None else torch.aminmax(torch.tensor(x), dim=dim)
    np.testing.assert_array_equal(np.ravel(lo.numpy()), [f[0] for f in found])
    np.testing.assert_array_equal(np.ravel(hi.numpy()), [f[1] for f in found])
    fn = (lambda v: torch.aminmax(v)) if dim is None else (lambda v: torch.aminmax(v, dim=dim))
    assert _profiled(fn, torch.tensor(x)) == t.as_tuple()


@pytest.mark.parametrize("alpha,inplace", [(1, False), (2.5, False), (1, True), (-1.0, True)])
def test_index_add_formula_equals_literal_accumulation(alpha, inplace):
    rng = np.random.default_rng(9)
    x, source = rng.normal(size=(4, 3)), rng.normal(size=(5, 3))
    index = np.array([0, 3, 3, 1, 0])
    t = bf.Tally()
    out = [[t.num(v) for v in row] for row in x]
    for i, row in zip(index, source):
        for j, v in enumerate(row):
            out[i][j] = out[i][j] + (t.num(v) * alpha if alpha != 1 else v)
    want = torch.tensor(x).index_add(0, torch.tensor(index), torch.tensor(source), alpha=alpha)
    np.testing.assert_allclose(bf.values(np.array(out, dtype=object)), want.numpy(), rtol=1e-12)
    if inplace:
        fn = lambda a, i, s: a.clone().index_add_(0, i, s, alpha=alpha)  # noqa: E731
    else:
        fn = lambda a, i, s: torch.index_add(a, 0, i, s, alpha=alpha)  # noqa: E731
    assert _profiled(fn, torch.tensor(x), torch.tensor(index), torch.tensor(source)) == t.as_tuple()


def test_scatter_add_and_scatter_reduce_formulas_equal_literal_accumulation():
    rng = np.random.default_rng(10)
    x, src = rng.normal(size=(2, 4)), rng.normal(size=(2, 3))
    index = np.array([[0, 1, 0], [2, 2, 1]])
    tx, ti, ts = torch.tensor(x), torch.tensor(index), torch.tensor(src)
    # scatter_add: one addition per index position
    t = bf.Tally()
    out = [[t.num(v) for v in row] for row in x]
    for (r, c), target in np.ndenumerate(index):
        out[r][target] = out[r][target] + src[r, c]
    np.testing.assert_allclose(bf.values(np.array(out, dtype=object)), tx.scatter_add(1, ti, ts).numpy())
    assert _profiled(lambda a, i, s: a.scatter_add(1, i, s), tx, ti, ts) == t.as_tuple()
    # scatter(reduce="add") is the same arithmetic; a plain scatter none
    assert _profiled(lambda a, i, s: a.scatter(1, i, s, reduce="add"), tx, ti, ts) == t.as_tuple()
    assert _profiled(lambda a, i, s: a.scatter(1, i, s), tx, ti, ts) == (0, 0, 0)
    # scatter_reduce mean (include_self): sums and counts, then per target a test and a division
    t = bf.Tally()
    sums = [[t.num(v) for v in row] for row in x]
    counts = [[t.num(1.0) for _ in row] for row in x]
    for (r, c), target in np.ndenumerate(index):
        sums[r][target] = sums[r][target] + src[r, c]
        counts[r][target] = counts[r][target] + 1
    mean = [[s / (1.0 if _cmp(t, n.v == 0) else n) for s, n in zip(srow, nrow)] for srow, nrow in zip(sums, counts)]
    np.testing.assert_allclose(bf.values(np.array(mean, dtype=object)),
                               tx.scatter_reduce(1, ti, ts, "mean").numpy(), rtol=1e-12)
    assert _profiled(lambda a, i, s: a.scatter_reduce(1, i, s, "mean"), tx, ti, ts) == t.as_tuple()
    # scatter_reduce amax: one comparison per index position
    t = bf.Tally()
    best = [list(row) for row in x]
    for (r, c), target in np.ndenumerate(index):
        best[r][target] = src[r, c] if _cmp(t, src[r, c] > best[r][target]) else best[r][target]
    np.testing.assert_allclose(best, tx.scatter_reduce(1, ti, ts, "amax").numpy())
    assert _profiled(lambda a, i, s: a.scatter_reduce(1, i, s, "amax"), tx, ti, ts) == t.as_tuple()


def test_bincount_formula_equals_the_kernel_loop():
    """Data-dependent output size: the profile runs on real tensors."""
    values = np.array([3, 0, 1, 1, 5, 3, 3])
    t = bf.Tally()
    lo, hi = _literal_aminmax(t, list(values))           # checked ≥ 0; sizes the output
    counts = [t.num(0) for _ in range(int(hi) + 1)]
    for v in values:
        counts[v] = counts[v] + 1
    np.testing.assert_array_equal([c.v for c in counts], torch.bincount(torch.tensor(values)).numpy())
    assert _profiled(torch.bincount, torch.tensor(values)) == t.as_tuple()


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cumsum_formula_follows_its_dimension(dim):
    x = np.random.default_rng(11).normal(size=(5, 3))
    t = bf.Tally()
    lines = np.moveaxis(x, dim, -1)
    for line in lines.reshape(-1, lines.shape[-1]):
        acc = t.num(line[0])
        for v in line[1:]:
            acc = acc + v
    assert _profiled(lambda v: torch.cumsum(v, dim), torch.tensor(x)) == t.as_tuple()


def test_sort_and_topk_formulas_follow_their_dimension():
    """n·⌈log₂ n⌉ comparisons per line of n along dim (topk: n·⌈log₂ k⌉)."""
    x = torch.randn(5, 3)
    assert _profiled(lambda v: torch.sort(v, dim=0)[0], x) == (0, 0, 3 * 5 * 3)
    assert _profiled(lambda v: torch.sort(v, dim=0, stable=True)[0], x) == (0, 0, 3 * 5 * 3)
    assert _profiled(lambda v: torch.sort(v)[0], x) == (0, 0, 5 * 3 * 2)
    assert _profiled(lambda v: torch.argsort(v, dim=0), x) == (0, 0, 3 * 5 * 3)
    assert _profiled(lambda v: torch.topk(v, 2, dim=0)[0], x) == (0, 0, 3 * 5 * 1)
    assert _profiled(lambda v: torch.topk(v, 3)[0], x) == (0, 0, 5 * 3 * 2)
