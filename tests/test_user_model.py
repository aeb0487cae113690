"""A user's real-weight model: profiled on meta twins of its parameters and
buffers, and left exactly as it was found (tests/state.py says what "exactly"
covers), whatever its forward does: registering buffers, setting attributes,
initialising lazy parameters, updating a KV cache or spectral-norm vectors,
drawing random numbers, raising.  Wrappers (torch.compile, DataParallel) are
seen through and threads do not see each other.  (TorchScript and bad arguments,
refused by profile() before any forward: tests/test_api.py.)"""
from __future__ import annotations

import contextlib
import importlib
import inspect
import json
import random
import re
import resource
import subprocess
import sys
import textwrap
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

import profiler
import state

TESTS = Path(__file__).resolve().parent
COUNTS = ("params", "mults", "adds", "other", "macs", "flops")


def _counts(report) -> dict:
    totals = report.totals
    return {k: totals[k] for k in COUNTS}


def _profile_untouched(model: nn.Module, **kwargs):
    """profile(model, **kwargs), asserting that the model and the process are as before."""
    before = state.snapshot(model)
    report = profiler.profile(model, **kwargs)
    state.assert_untouched(model, before)
    return report


def _seeded(build, seed: int = 0):
    torch.manual_seed(seed)
    return build()


def _run_python(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter (a crash fails the test, it does not kill
    pytest), tests/ on its path."""
    code = f"import sys; sys.path.insert(0, {str(TESTS)!r})\n" + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                          cwd=TESTS.parent)


def _last_json(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- 1. a forward that registers a buffer or sets an attribute -------------------------------

class RegistersBuffer(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        self.register_buffer("seen", x.mean(0))
        return self.fc(x)


class SetsAttribute(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        self.last = x
        return self.fc(x)


@pytest.mark.parametrize("called_before", [False, True], ids=["fresh", "after-a-real-call"])
@pytest.mark.parametrize("cls", [RegistersBuffer, SetsAttribute])
def test_a_forward_that_stores_tensors_on_the_model_leaves_nothing_behind(tmp_path, cls, called_before):
    model = _seeded(cls)
    if called_before:   # then the real buffer or attribute is there, and must stay
        model(torch.randn(2, 4))
    report = _profile_untouched(model, input_size=(4,))
    assert report.execution == "meta"
    assert report.totals["macs"] == 4 * 3

    out = model(torch.randn(2, 4))   # the next real call is all real
    assert type(out) is torch.Tensor and out.device.type == "cpu"
    stored = model.seen if cls is RegistersBuffer else model.last
    assert type(stored) is torch.Tensor and stored.device.type == "cpu"
    torch.save(model.state_dict(), tmp_path / "model.pt")
    loaded = torch.load(tmp_path / "model.pt")
    assert loaded.keys() == model.state_dict().keys()
    assert all(torch.equal(loaded[k], v) for k, v in model.state_dict().items())


# --- 2. lazy modules ----------------------------------------------------------------------

LAZY = [
    # lazy model, the same model materialised, per-sample input size
    (lambda: nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.LazyLinear(3)),
     lambda: nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)), (6,)),
    (lambda: nn.Sequential(nn.LazyConv2d(4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2)),
     lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 5 * 5, 2)), (3, 7, 7)),
]


@pytest.mark.parametrize("lazy,plain,size", LAZY, ids=["linear", "conv-and-linear"])
def test_lazy_modules_count_as_their_inferred_size_and_stay_uninitialised(lazy, plain, size):
    model = _seeded(lazy)
    lazy_types = {name: type(m) for name, m in model.named_modules()}
    report = _profile_untouched(model, input_size=size)
    assert _counts(report) == _counts(profiler.profile(_seeded(plain), input_size=size))
    assert report.execution == "meta"

    assert {name: type(m) for name, m in model.named_modules()} == lazy_types
    lazies = [m for m in model.modules() if isinstance(m, nn.modules.lazy.LazyModuleMixin)]
    assert lazies and all(m.has_uninitialized_params() for m in lazies)
    out = model(torch.randn(2, *size))   # a real call then initialises them as usual
    assert out.shape == (2, model[-1].out_features) and type(out) is torch.Tensor
    assert not any(isinstance(m, nn.modules.lazy.LazyModuleMixin) for m in model.modules())
    assert all(type(p) is nn.Parameter and p.device.type == "cpu" for p in model.parameters())


# --- 3. caches and containers given as inputs ---------------------------------------------

def _tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM
    config = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=128)
    return _seeded(lambda: LlamaForCausalLM(config)).eval()


def _cache_tensors(cache) -> list[torch.Tensor]:
    layers = getattr(cache, "layers", None)
    if layers is not None:
        return [t for layer in layers for t in (layer.keys, layer.values)]
    return [*cache.key_cache, *cache.value_cache]   # transformers 4.x


def test_a_kv_cache_given_in_kwargs_keeps_its_length_and_its_real_tensors():
    model = _tiny_llama()
    prompt = torch.randint(0, 128, (1, 5), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        cache = model(input_ids=prompt, use_cache=True).past_key_values
    assert cache.get_seq_length() == 5
    # transformers 5 renamed past_key_values to cache
    name = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    tensors = _cache_tensors(cache)
    cache_before = state.freeze(tensors)
    assert all(type(t) is torch.Tensor and t.device.type == "cpu" for t in tensors)

    token = torch.tensor([[7]])
    report = _profile_untouched(model, inputs=token, kwargs={name: cache, "use_cache": True})
    assert report.totals["macs"] > 0

    assert cache.get_seq_length() == 5
    assert state.freeze(_cache_tensors(cache)) == cache_before   # the same real tensors, bit for bit
    assert torch.equal(token, torch.tensor([[7]]))


class AddsToItsDict(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, inputs):
        inputs["a"].add_(1)
        inputs["extra"] = inputs["a"] * 2
        return self.fc(inputs.pop("a"))


class AppendsToItsList(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, items):
        items[0].mul_(3)
        items.append(items[0] + 1)
        items[1] = None
        return self.fc(items[-1])


class ChangesItsInput(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        x.zero_()
        return self.fc(x)


@pytest.mark.parametrize("cls,make", [
    (AddsToItsDict, lambda: {"a": torch.randn(2, 4)}),
    (AppendsToItsList, lambda: [torch.randn(2, 4), torch.randn(1)]),
    (ChangesItsInput, lambda: torch.randn(2, 4)),
], ids=["dict", "list", "tensor"])
def test_inputs_given_as_tensors_dicts_or_lists_are_never_mutated(cls, make):
    model = _seeded(cls)
    inputs = make()
    before = state.freeze(inputs)   # the container's items, each tensor's identity and bits
    report = _profile_untouched(model, inputs=inputs)
    assert report.totals["macs"] == 2 * 4 * 3
    assert state.freeze(inputs) == before


# --- 4. spectral and weight norm ---------------------------------------------------------------

def _normed(kind: str) -> nn.Module:
    utils = nn.utils
    linear = nn.Linear(8, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the old-style ones are deprecated
        layer = {"parametrizations.spectral_norm": utils.parametrizations.spectral_norm,
                 "parametrizations.weight_norm": utils.parametrizations.weight_norm,
                 "spectral_norm": utils.spectral_norm,
                 "weight_norm": utils.weight_norm}[kind](linear)
    return nn.Sequential(nn.Linear(5, 8), nn.ReLU(), layer)


NORMS = ["parametrizations.spectral_norm", "parametrizations.weight_norm", "spectral_norm", "weight_norm"]


@pytest.mark.parametrize("training", [True, False], ids=["training", "eval"])
@pytest.mark.parametrize("kind", NORMS)
def test_spectral_and_weight_norm_keep_their_vectors_and_weights(kind, training):
    model = _seeded(lambda: _normed(kind))
    model(torch.randn(3, 5))   # a power iteration has run: u and v are not their initial values
    vectors = {k: v.clone() for k, v in model.state_dict().items() if k.endswith(("_u", "_v"))}
    report = _profile_untouched(model, input_size=(5,), training=training)
    assert report.execution == "meta"
    assert report.totals["macs"] >= 5 * 8 + 8 * 6
    for key, value in vectors.items():
        assert torch.equal(model.state_dict()[key], value), key
    out = model(torch.randn(3, 5))
    assert type(out) is torch.Tensor and out.device.type == "cpu"


# --- 5. random numbers drawn by the forward ----------------------------------------------------

class DrawsEverywhere(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        scale = random.random() + float(np.random.rand()) + torch.rand(1).item()
        return self.fc(x) * scale


def test_a_forward_drawing_from_python_numpy_and_torch_leaves_all_three_rngs_alone():
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    model = DrawsEverywhere()
    rngs = (random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state())
    _profile_untouched(model, input_size=(4,))   # the snapshot holds the three states too
    assert random.getstate() == rngs[0]
    assert np.array_equal(np.random.get_state()[1], rngs[1])
    assert torch.equal(torch.get_rng_state(), rngs[2])


# --- 6. wrapped models ---------------------------------------------------------------------

def test_a_torch_compiled_model_is_profiled_as_the_model_it_wraps():
    result = _run_python("""
        import json, torch
        from torch import nn
        import profiler, state
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
        plain = profiler.profile(model, input_size=(8,)).totals
        compiled = torch.compile(model)
        before = state.snapshot(model)
        report = profiler.profile(compiled, input_size=(8,))
        state.assert_untouched(model, before)
        print(json.dumps(dict(plain=plain, compiled=report.totals, uncounted=len(report.uncounted))))
    """)
    got = _last_json(result)
    assert got["compiled"] == got["plain"]
    assert got["uncounted"] == 0


def test_data_parallel_on_cpu_counts_as_the_module_it_wraps(monkeypatch):
    model = _seeded(lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                                          nn.Linear(4 * 6 * 6, 5)))
    plain = profiler.profile(model, input_size=(3, 8, 8))
    with monkeypatch.context() as patch:   # built as on a machine without GPUs, where it runs the module
        patch.setattr(importlib.import_module("torch.nn.parallel.data_parallel"), "_get_available_device_type",
                      lambda: None)
        wrapped = nn.DataParallel(model)
    report = _profile_untouched(wrapped, input_size=(3, 8, 8))
    assert report.totals == plain.totals
    assert len(report.uncounted) == 0


# --- 7. threads ------------------------------------------------------------------------------

def test_threads_profiling_separate_or_shared_models_get_the_sequential_counts():
    size = (3, 64, 64)
    models = [_seeded(lambda: torchvision.models.resnet18(weights=None), seed) for seed in range(4)]
    expected = profiler.profile(models[0], input_size=size).totals
    assert all(profiler.profile(m, input_size=size).totals == expected for m in models[1:])
    before = [state.snapshot(m) for m in models]
    previous = torch.backends.mha.get_fastpath_enabled()
    try:
        with ThreadPoolExecutor(4) as pool:
            for fastpath in (True, False):
                torch.backends.mha.set_fastpath_enabled(fastpath)
                for _ in range(2):
                    separate = list(pool.map(lambda m: profiler.profile(m, input_size=size).totals, models))
                    shared = list(pool.map(lambda _: profiler.profile(models[0], input_size=size).totals, range(4)))
                    assert separate == [expected] * 4
                    assert shared == [expected] * 4
                assert torch.backends.mha.get_fastpath_enabled() is fastpath
    finally:
        torch.backends.mha.set_fastpath_enabled(previous)
    for model, snapshot in zip(models, before):
        state.assert_untouched(model, snapshot)


# --- 8. errors ----------------------------------------------------------------------------------

class FailsHalfway(nn.Module):
    """Changes what it can, then raises."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.register_buffer("count", torch.zeros(()))

    def forward(self, x):
        self.count.add_(1)
        self.register_buffer("seen", x.mean(0))
        self.last = self.fc(x)
        random.random()
        np.random.rand()
        raise ValueError("bad input for this model")


def test_a_forward_that_raises_gives_a_profiler_error_and_leaves_everything_as_found():
    model = _seeded(FailsHalfway)
    before = state.snapshot(model)
    with pytest.raises(profiler.ProfilerError, match="bad input for this model"):
        profiler.profile(model, input_size=(4,))
    state.assert_untouched(model, before)


def test_a_builder_that_raises_gives_a_profiler_error_and_leaves_the_process_as_found(tmp_path):
    path = tmp_path / "net.py"
    path.write_text("import random\n\ndef build():\n    random.random()\n    raise ValueError('no such net')\n")
    before = state.snapshot()
    with pytest.raises(profiler.ProfilerError, match="no such net"):
        profiler.profile(f"{path}:build")
    state.assert_untouched(None, before)


def test_a_shape_error_is_reported_at_once_without_retrying_on_real_tensors(capfd):
    model = _seeded(lambda: nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(5, 4)))
    seen = []
    model[2].register_forward_pre_hook(lambda m, args: seen.append((type(args[0]), args[0].device.type)))
    before = state.snapshot(model)
    capfd.readouterr()
    start = time.perf_counter()
    with pytest.raises(profiler.ProfilerError):
        profiler.profile(model, input_size=(4,))
    assert time.perf_counter() - start < 5
    assert (torch.Tensor, "cpu") not in seen, "the forward was retried on real tensors"
    assert capfd.readouterr().err == ""
    state.assert_untouched(model, before)


@contextlib.contextmanager
def _heap_cap(extra: int):
    """Lets the process's heap grow by at most ``extra`` bytes (Linux): an allocation
    beyond fails at once instead of taking the machine down."""
    used = int(re.search(r"VmData:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1)) * 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    resource.setrlimit(resource.RLIMIT_DATA, (min(used + extra, hard) if hard != resource.RLIM_INFINITY
                                              else used + extra, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


def test_a_huge_input_to_a_conv_net_fails_fast_without_allocating_it(capfd):
    # 1×3×224⁴ floats are 30 GB: a real-tensor retry must not happen (the heap cap
    # turns one into an allocation error instead of taking the machine down)
    model = _seeded(lambda: torchvision.models.resnet18(weights=None))
    seen = []
    model.conv1.register_forward_pre_hook(lambda m, args: seen.append((type(args[0]), args[0].device.type)))
    before = state.snapshot(model)
    capfd.readouterr()
    start = time.perf_counter()
    with _heap_cap(2 << 30), pytest.raises(profiler.ProfilerError) as error:
        profiler.profile(model, input_size=(3, 224, 224, 224, 224))
    assert time.perf_counter() - start < 5
    message = str(error.value)
    assert (torch.Tensor, "cpu") not in seen, "the forward was retried on real tensors"
    assert "alloc" not in message.lower() and "memory" not in message.lower(), message
    assert "\n" not in message.strip()
    assert capfd.readouterr().err == ""
    state.assert_untouched(model, before)


# --- 9. real weights count as the meta build ----------------------------------------------------

ARCHITECTURES = [
    (torchvision.models.resnet18, (3, 64, 64)),
    (torchvision.models.vit_b_16, (3, 224, 224)),
    (torchvision.models.efficientnet_b0, (3, 64, 64)),
]


@pytest.mark.parametrize("build,size", ARCHITECTURES, ids=["resnet18", "vit_b_16", "efficientnet_b0"])
def test_a_real_weight_model_counts_as_the_same_architecture_built_on_meta(build, size):
    with torch.device("meta"):
        on_meta = build(weights=None)
    real = _seeded(lambda: build(weights=None))
    expected = profiler.profile(on_meta, input_size=size)
    report = _profile_untouched(real, input_size=size)
    assert expected.execution == "meta" and report.execution == "meta"
    assert report.totals == expected.totals
    assert not report.notes


class TiedHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        self.body = nn.Linear(16, 16)
        self.head = nn.Linear(16, 50, bias=False)
        self.head.weight = self.embed.weight

    def forward(self, ids):
        return self.head(self.body(self.embed(ids)).relu())


def test_tied_weights_stay_tied_and_count_once():
    model = _seeded(TiedHead)
    report = _profile_untouched(model, input_size=(7,))   # ids: the first leaf is an embedding
    assert model.head.weight is model.embed.weight
    assert report.execution == "meta"
    assert report.totals["params"] == 50 * 16 + 16 * 16 + 16
    with torch.device("meta"):
        on_meta = TiedHead()
    assert report.totals == profiler.profile(on_meta, input_size=(7,)).totals


# --- the user's own hooks --------------------------------------------------------------------------

def test_the_users_own_hooks_fire_on_meta_tensors_and_stay_registered():
    model = _seeded(lambda: nn.Sequential(nn.Linear(4, 4), nn.ReLU()))
    seen = []
    model[0].register_forward_pre_hook(lambda m, args: seen.append(("pre", args[0].device.type)))
    model[0].register_forward_hook(lambda m, args, out: seen.append(("post", out.device.type)))
    report = _profile_untouched(model, input_size=(4,))   # the snapshot compares the hook dicts too
    assert report.execution == "meta"
    assert seen == [("pre", "meta"), ("post", "meta")]
    model(torch.randn(1, 4))
    assert seen[2:] == [("pre", "cpu"), ("post", "cpu")]
