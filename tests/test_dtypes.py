"""Element types: a float16, bfloat16 and float64 copy of every model in the layer
formula tests gives the same mults, adds and MACs as float32, and bytes at the
right element size; ``dtype=`` profiles a model as if it were that dtype without
changing it; dummy inputs follow the model (its floating parameters' dtype, or
int64 ids for a model that starts with an embedding).

The layer cases are the formula tests' own parametrisation lists (tests/layer_cases.py,
shared with tests/formulas/forward/test_<group>.py), so that a case added there is
covered here too."""
from __future__ import annotations

import copy
import itertools
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
import torchvision
from torch import nn
from torch.utils._pytree import tree_leaves, tree_map

import layer_cases
import profiler
import state

DTYPES = [torch.float16, torch.bfloat16, torch.float64]
COUNTS = ("params", "mults", "adds", "other", "macs", "flops", "act_elems")

Case = tuple[nn.Module, tuple, dict]   # a float32 module, its example args and kwargs (float32 tensors)


def _randn(*shape) -> torch.Tensor:
    return torch.randn(*shape)


def _mha(ctor, batched, masks, call) -> Case:
    m = nn.MultiheadAttention(6, 2, **ctor)
    (q, k, v), mask_kwargs = layer_cases.mha_inputs(m, batched, masks)
    return m, (q, k, v), {**mask_kwargs, **call}


def _axis(names: str, values: list) -> list[dict[str, Any]]:
    """One parametrisation axis as kwargs: a tuple of values per comma-separated name."""
    keys = [n.strip() for n in names.split(",")]
    return [dict(zip(keys, v if len(keys) > 1 else (v,))) for v in values]


# per formula test (tests/formulas/forward/test_<group>.py): its parametrisation axes, as its
# @pytest.mark.parametrize decorators give them from tests/layer_cases.py (innermost first), and
# the module it profiles with the module's inputs
ADAPTERS: dict[str, tuple[list[tuple[str, list]], Callable[..., Case]]] = {
    "test_max_pool_counts_window_minus_one_comparisons_over_whole_windows": (
        [("cls,shape,kwargs", layer_cases.MAX_POOLS)],
        lambda cls, shape, kwargs: (cls(**kwargs), (_randn(shape),), {})),
    "test_avg_pool_counts_window_minus_one_adds_and_one_mult_per_output": (
        [("cls,shape,kwargs", layer_cases.AVG_POOLS)],
        lambda cls, shape, kwargs: (cls(**kwargs), (_randn(shape),), {})),
    "test_adaptive_pool_counts_pytorchs_exact_uneven_windows": (
        [("cls,shape,size", layer_cases.ADAPTIVE)],
        lambda cls, shape, size: (cls(size), (_randn(shape),), {})),
    "test_stored_statistics_cost_one_mult_and_one_add_per_element": (
        [("norm,shape", layer_cases.STORED_STATS)],
        lambda norm, shape: (copy.deepcopy(norm).float(), (_randn(shape),), {})),
    "test_statistics_from_the_input_follow_the_step_by_step_count": (
        [("norm,shape,group_of,channel_of", layer_cases.COMPUTED_STATS)],
        lambda norm, shape, group_of, channel_of: (copy.deepcopy(norm).float(), (_randn(shape),), {})),
    "test_rms_norm_follows_the_step_by_step_count": (
        [("affine", layer_cases.RMS_AFFINE)],
        lambda affine: (nn.RMSNorm((2, 3), eps=1e-5, elementwise_affine=affine), (_randn(4, 2, 3),), {})),
    "test_softmax_and_log_softmax_follow_the_step_by_step_count": (
        [("module,shape,dim,log,negate", layer_cases.SOFTMAXES)],
        lambda module, shape, dim, log, negate: (copy.deepcopy(module), (_randn(shape),), {})),
    "test_multihead_attention_matches_its_explicit_steps_and_flop_counter": (
        [("ctor,batched,masks,call", layer_cases.MHA_CASES)], _mha),
    "test_recurrent_layers_match_a_naive_step_loop_and_flop_counter": (
        [("cls,kwargs", layer_cases.RNNS)],
        lambda cls, kwargs: (cls(3, 4, **kwargs), (_randn(3, 2, 3),), {})),
    "test_recurrent_cells_match_one_naive_step": (
        [("shape", layer_cases.CELL_SHAPES), ("cls", layer_cases.CELLS)],
        lambda cls, shape: (cls(3, 4), (_randn(shape),), {})),
    "test_packed_sequence_counts_only_the_real_time_steps": (
        [],
        lambda: (nn.LSTM(3, 4), (nn.utils.rnn.pack_padded_sequence(_randn(3, 2, 3), [3, 1]),), {})),
    "test_conv_matches_a_naive_loop_that_counts_its_products_and_sums": (
        [("dims,batch,c_in,c_out,size,kwargs", layer_cases.CONV_CASES), ("bias", layer_cases.BIASES)],
        lambda dims, batch, c_in, c_out, size, kwargs, bias: (
            layer_cases.CONV[dims](c_in, c_out, bias=bias, **kwargs), (_randn(batch, c_in, *size),), {})),
    "test_transposed_conv_matches_a_naive_scatter_that_counts_its_products_and_sums": (
        [("dims,batch,c_in,c_out,size,kwargs", layer_cases.CONV_T_CASES), ("bias", layer_cases.BIASES)],
        lambda dims, batch, c_in, c_out, size, kwargs, bias: (
            layer_cases.CONV_T[dims](c_in, c_out, bias=bias, **kwargs), (_randn(batch, c_in, *size),), {})),
    "test_linear_matches_a_naive_loop_over_all_leading_dimensions": (
        [("shape", layer_cases.LINEAR_SHAPES), ("bias", layer_cases.BIASES)],
        lambda shape, bias: (nn.Linear(5, 4, bias=bias), (_randn(*shape),), {})),
}


def _layer_cases() -> list[tuple[str, Callable[[], Case]]]:
    cases = []
    for name, (axes, adapter) in ADAPTERS.items():
        short = name.removeprefix("test_").split("_")[:3]
        combos = [{k: v for part in product for k, v in part.items()}
                  for product in itertools.product(*(_axis(names, values) for names, values in axes))]
        for i, params in enumerate(combos):
            cases.append((f"{'_'.join(short)}[{i}]", lambda adapter=adapter, params=params: adapter(**params)))
    return cases


LAYER_CASES = _layer_cases()


def test_every_layer_case_list_is_covered_here():
    """Every parametrisation list of tests/layer_cases.py (its upper-case lists) is an
    axis of an adapter above: a new list, for a new formula test, needs its adapter."""
    used = {id(values) for axes, _ in ADAPTERS.values() for _, values in axes}
    missing = sorted(name for name, values in vars(layer_cases).items()
                     if name.isupper() and isinstance(values, list) and id(values) not in used)
    assert not missing, f"layer case lists without an adapter in ADAPTERS: {missing}"
    forward_tests = "".join(p.read_text() for p in (Path(__file__).parent / "formulas" / "forward").glob("test_*.py"))
    stale = sorted(name for name in ADAPTERS if f"def {name}(" not in forward_tests)
    assert not stale, f"adapters for tests no longer in tests/formulas/forward: {stale}"


def _build(make: Callable[[], Case]) -> Case:
    torch.manual_seed(0)
    module, args, kwargs = make()
    return module.float().eval(), args, kwargs


def _inputs_at(module: nn.Module, args: tuple, kwargs: dict, dtype: torch.dtype) -> tuple[tuple, dict]:
    """The example inputs for ``module`` at ``dtype``: a plain floating tensor
    argument as its shape where the module has floating parameters (the dummy
    input then has to follow them), every other floating tensor cast."""
    has_float_params = any(p.is_floating_point() for p in module.parameters())

    def cast(x):
        return x.to(dtype) if isinstance(x, torch.Tensor) and x.is_floating_point() else x
    args = tuple(tuple(a.shape) if has_float_params and type(a) is torch.Tensor and a.is_floating_point()
                 else tree_map(cast, a) for a in args)
    return args, tree_map(cast, kwargs)


_BASELINES: dict[str, tuple[dict, int]] = {}


def _baseline(case_id: str, make: Callable[[], Case]) -> tuple[dict, int]:
    """The float32 module's totals, and how many of its output elements are floating."""
    if case_id not in _BASELINES:
        module, args, kwargs = _build(make)
        with torch.no_grad():
            out = module(*args, **kwargs)
        floating = sum(t.numel() for t in tree_leaves(out) if isinstance(t, torch.Tensor) and t.is_floating_point())
        args, kwargs = _inputs_at(module, args, kwargs, torch.float32)
        report = profiler.profile(module, inputs=args, kwargs=kwargs or None)
        assert report.itemsize == 4
        _BASELINES[case_id] = (report.totals, floating)
    return _BASELINES[case_id]


def _assert_as_float32(report, case_id: str, make, dtype: torch.dtype, itemsize: bool = True):
    base, floating = _baseline(case_id, make)
    got = report.totals
    assert {k: got[k] for k in COUNTS} == {k: base[k] for k in COUNTS}
    # every floating activation at the dtype's element size, the rest (indices, lengths) as they are
    assert got["act_bytes"] == base["act_bytes"] + floating * (dtype.itemsize - 4)
    if itemsize:
        assert report.itemsize == dtype.itemsize


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case_id,make", LAYER_CASES, ids=[c for c, _ in LAYER_CASES])
def test_a_layer_copied_to_another_dtype_counts_as_float32_with_bytes_at_its_size(case_id, make, dtype):
    module, args, kwargs = _build(make)
    copied = copy.deepcopy(module).to(dtype)
    args, kwargs = _inputs_at(copied, args, kwargs, dtype)
    before = state.snapshot(copied)
    report = profiler.profile(copied, inputs=args, kwargs=kwargs or None)   # no dtype=: it follows the model
    state.assert_untouched(copied, before)
    # a module without parameters has no dtype of its own: its itemsize (bytes per parameter) is moot
    _assert_as_float32(report, case_id, make, dtype,
                       itemsize=any(p.is_floating_point() for p in copied.parameters()))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case_id,make", LAYER_CASES, ids=[c for c, _ in LAYER_CASES])
def test_dtype_profiles_a_float32_layer_as_if_it_were_that_dtype(case_id, make, dtype):
    module, args, kwargs = _build(make)
    args, kwargs = _inputs_at(module, args, kwargs, torch.float32)
    before = state.snapshot(module)
    report = profiler.profile(module, inputs=args, kwargs=kwargs or None, dtype=dtype)
    state.assert_untouched(module, before)   # still float32
    _assert_as_float32(report, case_id, make, dtype)


# --- whole models -------------------------------------------------------------------------------

SIZE = (3, 64, 64)


@pytest.fixture(scope="module")
def resnet18_float32():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None)
    return model, profiler.profile(model, input_size=SIZE)


def _same_counts(report, base, itemsize: int):
    assert {k: report.totals[k] for k in COUNTS} == {k: base.totals[k] for k in COUNTS}
    assert report.totals["act_bytes"] * 4 == base.totals["act_bytes"] * itemsize
    assert report.itemsize == itemsize


def test_a_bfloat16_model_is_profiled_without_being_told_its_dtype(resnet18_float32):
    model, base = resnet18_float32
    half = copy.deepcopy(model).to(torch.bfloat16)
    before = state.snapshot(half)
    report = profiler.profile(half, input_size=SIZE)
    state.assert_untouched(half, before)
    assert report.execution == "meta"
    _same_counts(report, base, 2)


@pytest.mark.parametrize("dtype,itemsize", [
    (torch.bfloat16, 2), ("bfloat16", 2), (torch.float16, 2), ("float16", 2), (torch.float64, 8),
    ("float64", 8), (torch.float32, 4), ("float32", 4),
], ids=str)
def test_dtype_profiles_a_float32_model_as_that_dtype_and_leaves_it_float32(resnet18_float32, dtype, itemsize):
    model, base = resnet18_float32
    before = state.snapshot(model)
    report = profiler.profile(model, input_size=SIZE, dtype=dtype)
    state.assert_untouched(model, before)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert report.execution == "meta"
    _same_counts(report, base, itemsize)


class MixedPrecision(nn.Module):
    """A bfloat16 layer, a cast, a float32 layer."""

    def __init__(self, low: torch.dtype = torch.bfloat16):
        super().__init__()
        self.first = nn.Linear(8, 16).to(low)
        self.second = nn.Linear(16, 4)

    def forward(self, x):
        return self.second(self.first(x).float())


def test_a_model_mixing_dtypes_is_profiled_at_each_layers_own_dtype():
    torch.manual_seed(0)
    model = MixedPrecision()
    before = state.snapshot(model)
    report = profiler.profile(model, input_size=(8,))   # the dummy input takes the first layer's bfloat16
    state.assert_untouched(model, before)
    plain = profiler.profile(MixedPrecision(torch.float32), input_size=(8,))
    for key in ("params", "mults", "adds", "macs"):
        assert report.totals[key] == plain.totals[key], key
    rows = report.layers.set_index("name")
    assert rows.loc["first", "act_bytes"] == 16 * 2
    assert rows.loc["second", "act_bytes"] == 4 * 4


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_a_model_that_starts_with_an_embedding_gets_int64_ids(dtype):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(100, 8), nn.Linear(8, 4)).to(dtype)
    before = state.snapshot(model)
    report = profiler.profile(model, input_size=(16,))
    state.assert_untouched(model, before)
    rows = report.layers.set_index("name")
    assert rows.loc["0", "in_bytes"] == 16 * 8            # 16 int64 ids
    assert rows.loc["0", "act_bytes"] == 16 * 8 * dtype.itemsize
    assert report.totals["params"] == 100 * 8 + 8 * 4 + 4
    assert report.itemsize == dtype.itemsize
