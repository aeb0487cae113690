"""profiler.api: profile(), the library's entry point: its arguments checked and
refused in one line (naming the Python argument) before any model is built or
run, TorchScript refused, a model given by name or as an nn.Module, the dummy
input it makes (by family, token ids for an embedding-first model, ``dtype``),
the notes it adds, and the counts of small models against hand-derived values."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import profiler
import state
from profiler.api import TRAINING_NOTE
from profiler.defaults import TOKENS_DEFAULT


def _seeded(build, seed: int = 0):
    torch.manual_seed(seed)
    return build()


# --- arguments refused before any forward (moved from tests/test_user_model.py) -------------

CALLS: list[str] = []


class Recorder(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(32, 4)

    def forward(self, x):
        CALLS.append("forward")
        return self.fc(x)


BAD_ARGUMENTS = [
    (dict(input_size="native"), "input_size"),
    (dict(input_size="3x32x32"), "input_size"),
    (dict(input_size=(3.0, 32, 32)), "input_size"),
    (dict(input_size=()), "input_size"),
    (dict(input_size=(3, -1, 4)), "input_size"),
    (dict(input_size=(32,), batch=2.5), "batch"),
    (dict(input_size=(32,), batch=True), "batch"),
    (dict(input_size=(32,), batch=0), "batch"),
    (dict(inputs=5), "inputs"),
    (dict(input_size=(32,), inputs=(1, 32)), "input_size"),
    (dict(input_size=(32,), dtype=torch.int64), "dtype"),
    (dict(input_size=(32,), dtype="int8"), "dtype"),
    (dict(input_size=(32,), native="yes"), "native"),
]


@pytest.mark.parametrize("kwargs,argument", BAD_ARGUMENTS, ids=[repr(k) for k, _ in BAD_ARGUMENTS])
def test_bad_arguments_are_refused_in_one_line_before_any_forward(kwargs, argument):
    model = _seeded(Recorder)
    before = state.snapshot(model)
    CALLS.clear()
    with pytest.raises(profiler.ProfilerError, match=argument) as error:
        profiler.profile(model, **kwargs)
    assert "\n" not in str(error.value).strip()
    assert CALLS == [], "the forward ran before the arguments were checked"
    state.assert_untouched(model, before)


@pytest.mark.parametrize("convert", [
    lambda m: torch.jit.script(m),
    lambda m: torch.jit.trace(m, torch.randn(1, 8)),
], ids=["script", "trace"])
def test_a_torchscript_module_is_refused_with_a_pointer_to_the_original(convert):
    model = convert(_seeded(lambda: nn.Sequential(nn.Linear(8, 8), nn.ReLU())))
    with pytest.raises(profiler.ProfilerError, match=r"(?i)pass the .*nn\.Module"):
        profiler.profile(model, input_size=(8,))


MORE_BAD_ARGUMENTS = [
    (dict(input_size=(32,), training="yes"), "training"),
    (dict(kwargs=[1, 2]), "kwargs"),
    (dict(input_size=(32,), measure=1), "measure"),
    (dict(input_size=(32,), detections="most"), "detections"),
    (dict(tokens=0), "tokens"),
    (dict(tokens=8, input_size=(32,)), "tokens"),
    (dict(decode=True), "decode"),
    (dict(input_size=(32,), config={"hidden_size": 8}), "config"),
    (dict(tokens=8, measure=True), "measure"),
    (dict(input_size=(32,), runs=3), "^runs=3 goes with measure=True"),
    (dict(input_size=(32,), measure=True, runs=0), "^runs=0: expected a positive integer"),
    (dict(input_size=(32,), batch=10**30), "^batch=10+: more than 2\\*\\*63 - 1"),
    (dict(batch=2**62), "^batch=4611686018427387904 with input_size=3x227x227: .* lower batch= or input_size="),
    (dict(inputs=object()), "^inputs=<object object at .*> holds no tensor and no shape: expected a tensor"),
    (dict(inputs=[object(), "x"]), "^inputs=.* holds no tensor and no shape"),
    (dict(inputs=np.zeros((1, 32), np.float32)), r"^inputs= holds a NumPy array .*torch\.from_numpy\(array\)"),
    (dict(inputs=((1, 32),), kwargs={"x": [np.zeros(2)]}), "^kwargs= holds a NumPy array"),
]


@pytest.mark.parametrize("kwargs,argument", MORE_BAD_ARGUMENTS, ids=[repr(k) for k, _ in MORE_BAD_ARGUMENTS])
def test_the_other_arguments_are_refused_in_one_line_naming_them_before_any_forward(kwargs, argument):
    model = _seeded(Recorder)
    CALLS.clear()
    with pytest.raises(profiler.ProfilerError, match=argument) as error:
        profiler.profile(model, **kwargs)
    assert "\n" not in str(error.value).strip() and "--" not in str(error.value)
    assert CALLS == []


def test_a_model_that_is_neither_a_name_nor_a_module_is_refused():
    with pytest.raises(profiler.ProfilerError, match="expected a model name or an nn.Module, got list"):
        profiler.profile([nn.Linear(2, 2)], input_size=(2,))


def test_tokens_for_a_model_without_an_embedding_is_refused():
    with pytest.raises(profiler.ProfilerError, match="tokens= applies to a model whose first layer is an embedding"):
        profiler.profile(nn.Linear(4, 2), tokens=8)


# --- what profile() counts and reports --------------------------------------------------------

def test_a_linear_layer_counts_batch_times_in_times_out_macs():
    report = profiler.profile(nn.Linear(8, 4), input_size=(8,), batch=3)
    macs = 3 * 8 * 4                                    # one multiply-add per weight per sample
    assert report.totals["macs"] == report.totals["mults"] == macs
    assert report.totals["adds"] == macs                 # 8 products summed (7 adds) plus the bias
    assert report.totals["params"] == 8 * 4 + 4
    assert report.execution == "meta" and report.input_size == (8,) and report.input_desc == "8"
    assert report.batch == 3


def test_dtype_sets_the_element_size_bytes_are_counted_at():
    model = nn.Linear(8, 4)
    half = profiler.profile(model, input_size=(8,), batch=3, dtype="float16")
    full = profiler.profile(model, input_size=(8,), batch=3)
    assert half.dtype == "float16" and half.itemsize == 2 and full.itemsize == 4
    assert half.totals["act_elems"] == full.totals["act_elems"] == 3 * 4
    assert half.totals["act_bytes"] == 3 * 4 * 2 and full.totals["act_bytes"] == 3 * 4 * 4
    assert half.totals["in_bytes"] == 3 * 8 * 2
    assert half.totals["macs"] == full.totals["macs"]
    assert model.weight.dtype == torch.float32           # the caller's model is not converted
    assert profiler.profile(model.double(), input_size=(8,)).dtype == "float64"   # default: the model's own


def test_an_embedding_first_model_gets_token_ids_of_the_default_length():
    vocab, dim, out = 100, 8, 4
    model = nn.Sequential(nn.Embedding(vocab, dim), nn.Linear(dim, out))
    report = profiler.profile(model)
    tokens = TOKENS_DEFAULT
    assert report.input_size == (tokens,)
    assert report.totals["macs"] == tokens * dim * out   # the lookup itself multiplies nothing
    assert report.totals["in_bytes"] == tokens * 8 + tokens * dim * 4   # int64 ids, then float32 embeddings
    assert report.language is not None and report.language.tokens == tokens


def test_a_model_by_name_counts_as_the_same_module_built_by_the_caller():
    import torchvision
    by_name = profiler.profile("resnet18", input_size=(3, 64, 64))
    built = profiler.profile(_seeded(lambda: torchvision.models.resnet18(weights=None)), input_size=(3, 64, 64))
    assert by_name.totals == built.totals
    assert by_name.model == "resnet18" and built.model == "ResNet"


def test_native_takes_the_published_crop_size():
    assert profiler.profile("alexnet_homework").input_desc == "3x227x227"
    resnet = profiler.profile("resnet18", native=True)
    assert resnet.input_size == (3, 224, 224)


def test_training_adds_its_note_and_the_pass_totals():
    report = profiler.profile(nn.Linear(8, 4), input_size=(8,), training=True)
    assert TRAINING_NOTE in report.notes
    assert report.passes is not None and list(report.passes["pass"]) == ["forward", "backward", "forward+backward"]
    assert profiler.profile(nn.Linear(8, 4), input_size=(8,)).passes is None


def test_counts_that_overflow_int64_are_refused():
    with torch.device("meta"):
        model = nn.Linear(2**20, 2**20, bias=False)
    # 2**24 rows times a 2**20 x 2**20 weight: 2**64 multiplications
    with pytest.raises(profiler.ProfilerError, match=r"exceeds 2\*\*63 - 1"):
        profiler.profile(model, inputs=(2**24, 2**20))


def test_a_complex_model_counts_bytes_at_its_complex_element_size():
    """complex64 is two float32s: 8 bytes an element (complex128: 16), for the
    parameters, the dummy input (complex too) and the outputs."""
    for dtype, itemsize in ((torch.complex64, 8), (torch.complex128, 16)):
        report = profiler.profile(nn.Linear(4, 4, dtype=dtype), input_size=(4,), batch=2)
        assert report.dtype == str(dtype).removeprefix("torch.") and report.itemsize == itemsize
        params = report.totals["params"]
        assert params == 4 * 4 + 4
        assert report.moved_bytes().sum() == itemsize * (params + 2 * 4 + 2 * 4)   # params, input, output
        assert report.totals["in_bytes"] == itemsize * 2 * 4 and report.totals["act_bytes"] == itemsize * 2 * 4


@pytest.mark.parametrize("value", ["abc", "nan", "-1", "0", "inf"])
def test_a_bad_real_limit_in_the_environment_is_refused_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("PROFILER_REAL_LIMIT_GB", value)
    with pytest.raises(profiler.ProfilerError) as info:
        profiler.profile(nn.Linear(4, 2), input_size=(4,))
    assert str(info.value).startswith(f"PROFILER_REAL_LIMIT_GB={value!r}: expected a positive number of GiB")


def test_a_size_that_overflows_inside_torch_says_what_to_lower():
    class Huge(nn.Module):
        def forward(self, x):   # a size torch cannot hold: its own words, then the fix
            return x.new_empty(x.shape[0] * 2**61, 8)

    with pytest.raises(profiler.ProfilerError) as info:
        profiler.profile(Huge(), input_size=(4,))
    message = str(info.value)
    assert "Storage size calculation overflowed" in message and "\n" not in message
    assert message.endswith("; the sizes overflow int64: lower batch= or input_size=")
    with pytest.raises(profiler.ProfilerError, match="the sizes overflow int64: give smaller inputs=$"):
        profiler.profile(Huge(), inputs=((1, 4),))


# --- a profile started inside a profile -------------------------------------------------------

def _profiling_hook(target, caught: list | None):
    """A forward hook that profiles ``target`` (another model, or the hooked one):
    the inner call is refused; ``caught`` keeps its error, else it propagates."""
    def hook(module, args, output):
        try:
            profiler.profile(target, input_size=(4,))
        except profiler.ProfilerError as exc:
            if caught is None:
                raise
            caught.append(str(exc))
    return hook


@pytest.mark.parametrize("same", [False, True], ids=["other model", "same model"])
def test_a_profile_inside_a_forward_hook_is_refused_and_never_added_to_the_outer_report(same):
    model = nn.Linear(4, 16)   # batch 1: 4 x 16 = 64 MACs
    other = nn.Linear(4, 4)    # 16 MACs, which must not join the outer report
    caught: list[str] = []
    handle = model.register_forward_hook(_profiling_hook(model if same else other, caught))
    try:
        before = state.snapshot(model)
        report = profiler.profile(model, input_size=(4,))
        assert report.total["macs"] == 4 * 16
        assert caught and all("while a profile runs on the same thread" in c for c in caught)
        assert all(len(c.splitlines()) == 1 for c in caught)
        state.assert_untouched(model, before)
        # the hook's error left uncaught fails the outer profile, in one line, saying why
        handle.remove()
        handle = model.register_forward_hook(_profiling_hook(model if same else other, None))
        with pytest.raises(profiler.ProfilerError, match="while a profile runs on the same thread") as info:
            profiler.profile(model, input_size=(4,))
        assert len(str(info.value).splitlines()) == 1
        # outside any profile, the same call runs as ever
        assert profiler.profile(other, input_size=(4,)).total["macs"] == 16
    finally:
        handle.remove()


def test_profiles_on_other_threads_wait_their_turn_and_are_not_refused():
    import threading
    model = nn.Linear(4, 16)
    got, errors = [], []

    def hook(module, args, output):
        # another thread's profile, started from inside this one's forward: it waits for the lock
        thread = threading.Thread(target=lambda: got.append(profiler.profile(nn.Linear(4, 4), input_size=(4,))))
        thread.start()
        errors.append(thread)

    handle = model.register_forward_hook(hook)
    try:
        assert profiler.profile(model, input_size=(4,)).total["macs"] == 64
    finally:
        handle.remove()
    for thread in errors:
        thread.join()
    assert [r.total["macs"] for r in got] == [16] * len(errors) and got


def test_a_measured_profile_resolves_its_model_once_and_times_what_it_counted(tmp_path):
    """One resolved run: the name is resolved once (the file executed once), built on
    meta for the count and once more, seeded with real weights, for the timed run;
    the timed run takes the profile's input."""
    log = tmp_path / "log.txt"
    source = tmp_path / "tiny.py"
    source.write_text(f"from torch import nn\n"
                      f"open({str(log)!r}, 'a').write('resolved\\n')\n"
                      f"def make():\n"
                      f"    open({str(log)!r}, 'a').write('built\\n')\n"
                      f"    return nn.Sequential(nn.Linear(8, 4), nn.ReLU())\n")
    report = profiler.profile(f"{source}:make", input_size=(8,), batch=2, measure=True, runs=1)
    assert log.read_text().split() == ["resolved", "built", "built"]
    assert report.input_desc == "8" and report.measurement.runs == 1
    assert report.layers.loc[report.layers["name"] == "0", "macs"].item() == 2 * 8 * 4


def test_a_model_built_for_real_by_its_profile_is_timed_without_a_second_build(tmp_path):
    """A by-name model whose forward needs real values (a boolean mask) is built for
    real once, for the real-tensor forward, and the measured run times that build."""
    log = tmp_path / "log.txt"
    source = tmp_path / "masked.py"
    source.write_text(f"import torch\nfrom torch import nn\n"
                      f"class Masked(nn.Module):\n"
                      f"    def __init__(self):\n"
                      f"        super().__init__()\n"
                      f"        self.lin = nn.Linear(8, 4)\n"
                      f"    def forward(self, x):\n"
                      f"        return self.lin(x[x.sum(-1) > -1e9])\n"
                      f"def make():\n"
                      f"    open({str(log)!r}, 'a').write('built\\n')\n"
                      f"    return Masked()\n")
    report = profiler.profile(f"{source}:make", input_size=(8,), batch=3, measure=True, runs=1)
    assert report.execution == "real" and report.measurement.runs == 1
    assert log.read_text().split() == ["built", "built"]        # on meta, then for real: not again to time it
    assert report.layers.loc[report.layers["name"] == "lin", "macs"].item() == 3 * 8 * 4
