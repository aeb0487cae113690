"""Leaf modules answered from shapes give what their own forward gives on meta, or decline.

Each function of profiler.capture.leaves is run beside the module's own forward (on
meta, no grad, as a shapes-only profile runs it) over generated configurations,
dtypes and layouts: where the function answers, the output has the forward's shape,
strides, dtype and storage offset, and is the input itself exactly where the
forward returns its input; where the forward raises, the function declines.  Then
whole profiles with and without the shortcuts give the same rows.
"""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.overrides import TorchFunctionMode
from torchvision.models import get_model

import profiler
from layouts import layouts as _layouts
from profiler.capture import record
from profiler.capture.leaves import QUICK

DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


def metadata(t):
    return (tuple(t.shape), t.stride(), t.dtype, t.storage_offset(), t.device.type, t.requires_grad)


def layouts(shape, dtype):
    return _layouts(shape, dtype, expanded=True)


def check(module, x):
    """The shortcut against the module's own forward on ``x``; whether it answered."""
    module = module.to("meta").eval()
    with torch.no_grad():
        try:
            real = module(x)
        except Exception:
            real = None
        fast = QUICK[type(module)](module, x)
    if real is None:
        assert fast is None, "the forward raises: the shortcut must leave the error to it"
        return False
    if fast is None:
        return False
    assert metadata(fast) == metadata(real)
    assert (fast is x) == (real is x)
    return True


def _answers(results):
    assert any(results), "the shortcut never answered"


@settings(max_examples=120, deadline=None)
@given(k=st.integers(1, 3), cin=st.integers(1, 6), cout=st.integers(1, 6), groups=st.sampled_from([1, 2, 3]),
       kernel=st.integers(1, 4), stride=st.integers(1, 3), padding=st.one_of(st.integers(0, 3), st.just("same"),
                                                                           st.just("valid")),
       dilation=st.integers(1, 2), bias=st.booleans(), mode=st.sampled_from(["zeros", "zeros", "reflect"]),
       size=st.integers(1, 9), batch=st.integers(1, 2), dtype=st.sampled_from(DTYPES), unbatched=st.booleans())
def test_convolutions_match_the_forward_or_decline(k, cin, cout, groups, kernel, stride, padding, dilation, bias,
                                                   mode, size, batch, dtype, unbatched):
    cls = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[k - 1]
    if padding == "same":
        stride = 1
    try:
        module = cls(cin * groups, cout * groups, kernel, stride, padding, dilation, groups, bias, mode,
                     device="meta", dtype=dtype)
    except ValueError:
        return
    shape = (batch, cin * groups, *[size] * k)
    for x in layouts(shape[1:] if unbatched else shape, dtype):
        check(module, x)


def test_convolutions_answer_the_usual_cases_and_refuse_mixed_dtypes():
    conv = nn.Conv2d(3, 8, 3, padding=1, device="meta")
    answered = [check(conv, x) for x in layouts((2, 3, 9, 9), torch.float32)]
    assert all(answered)
    assert not check(conv, torch.empty(2, 3, 9, 9, device="meta", dtype=torch.float16))
    assert not check(conv, torch.empty(2, 4, 9, 9, device="meta"))     # channels the weight does not take
    assert not check(nn.Conv2d(3, 8, 3), torch.empty(2, 3, 2, 2, device="meta"))   # smaller than the kernel


@settings(max_examples=80, deadline=None)
@given(cin=st.integers(1, 6), cout=st.integers(0, 6), bias=st.booleans(), lead=st.lists(st.integers(0, 3), max_size=3),
       dtype=st.sampled_from(DTYPES), other=st.sampled_from(DTYPES))
def test_linear_matches_the_forward_or_declines(cin, cout, bias, lead, dtype, other):
    module = nn.Linear(cin, cout, bias=bias, device="meta", dtype=dtype)
    for x in layouts((*lead, cin), other):
        check(module, x)


def test_linear_answers_dense_inputs():
    module = nn.Linear(4, 5, device="meta")
    _answers([check(module, torch.empty(*lead, 4, device="meta")) for lead in [(1,), (3,), (2, 3), (2, 1, 3)]])
    assert not check(module, torch.empty(4, device="meta"))    # one dimension: left to the forward


@pytest.mark.parametrize("cls,dims", [(nn.BatchNorm1d, (2, 3)), (nn.BatchNorm2d, (4,)), (nn.BatchNorm3d, (5,))])
@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norms_match_the_forward_or_decline(cls, dims, dtype):
    answered = []
    for affine in (True, False):
        for stats in (True, False):
            module = cls(3, affine=affine, track_running_stats=stats, device="meta", dtype=dtype)
            for n in range(2, 6):
                for x in layouts((2, 3, *[4] * (n - 2)), dtype):
                    answered.append(check(module, x))
                    if n not in dims:
                        assert not answered[-1]
                check(module, torch.empty(2, 5, *[4] * (n - 2), device="meta", dtype=dtype))
                check(module, torch.empty(2, 3, *[4] * (n - 2), device="meta", dtype=torch.float32))
    _answers(answered)


def test_batch_norm_in_training_mode_runs_its_forward():
    module = nn.BatchNorm2d(3, device="meta")
    assert module.training
    assert QUICK[nn.BatchNorm2d](module, torch.empty(2, 3, 4, 4, device="meta")) is None


@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_norm_matches_the_forward_or_declines(dtype):
    answered = []
    for normalized in [(4,), (3, 4), (2, 3, 4)]:
        for affine, bias in ((True, True), (True, False), (False, False)):
            module = nn.LayerNorm(normalized, elementwise_affine=affine, bias=bias, device="meta", dtype=dtype)
            for shape in [(4,), (3, 4), (2, 3, 4), (5, 2, 3, 4), (2, 3, 5)]:
                for x in layouts(shape, dtype):
                    answered.append(check(module, x))
    _answers(answered)


@pytest.mark.parametrize("module", [nn.ReLU(), nn.ReLU(inplace=True), nn.SiLU(), nn.SiLU(inplace=True), nn.GELU(),
                                    nn.GELU("tanh"), nn.Dropout(), nn.Dropout(0.0, inplace=True)],
                         ids=lambda m: repr(m))
def test_activations_and_dropout_match_the_forward_or_decline(module):
    answered = []
    for dtype in (*DTYPES, torch.int64, torch.bool):
        for shape in [(5,), (2, 3), (2, 1, 4), (2, 3, 4, 5), (0, 3)]:
            for x in layouts(shape, dtype):
                answered.append(check(module, x))
    _answers(answered)


def test_a_bad_dropout_probability_is_left_to_the_forward():
    module = nn.Dropout(0.5).eval()
    module.p = 1.5
    assert not check(module, torch.empty(2, 3, device="meta"))


@settings(max_examples=120, deadline=None)
@given(kernel=st.one_of(st.integers(1, 4), st.tuples(st.integers(1, 4), st.integers(1, 4))),
       stride=st.one_of(st.none(), st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3))),
       padding=st.integers(0, 2), dilation=st.integers(1, 2), ceil=st.booleans(), indices=st.booleans(),
       c=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9), dtype=st.sampled_from(DTYPES))
def test_max_pooling_matches_the_forward_or_declines(kernel, stride, padding, dilation, ceil, indices, c, h, w, dtype):
    module = nn.MaxPool2d(kernel, stride, padding, dilation, return_indices=indices, ceil_mode=ceil)
    for x in layouts((2, c, h, w), dtype):
        if indices:
            assert QUICK[nn.MaxPool2d](module, x) is None
        else:
            check(module, x)


def test_max_pooling_answers_a_resnet_stem():
    module = nn.MaxPool2d(3, 2, 1)
    _answers([check(module, torch.empty(1, 64, 112, 112, device="meta", dtype=d)) for d in DTYPES])


@settings(max_examples=120, deadline=None)
@given(out=st.one_of(st.integers(0, 5), st.tuples(st.one_of(st.none(), st.integers(0, 5)),
                                                  st.one_of(st.none(), st.integers(0, 5)))),
       c=st.integers(1, 3), h=st.integers(1, 6), w=st.integers(1, 6), dims=st.sampled_from([3, 4]),
       dtype=st.sampled_from(DTYPES))
def test_adaptive_average_pooling_matches_the_forward_or_declines(out, c, h, w, dims, dtype):
    module = nn.AdaptiveAvgPool2d(out)
    shape = (2, c, h, w)[4 - dims:]
    for x in layouts(shape, dtype):
        check(module, x)


def test_adaptive_average_pooling_answers_a_global_pool():
    for out in (1, (1, 1), (None, 1), 7, (2, 3)):
        assert check(nn.AdaptiveAvgPool2d(out), torch.empty(2, 8, 7, 7, device="meta"))


# whole profiles: the same rows with the shortcuts as without them

def _rows(report):
    return report.layers.to_dict("records"), report.totals


@pytest.mark.parametrize("name,size", [("resnet18", (3, 64, 64)), ("alexnet", (3, 227, 227)),
                                       ("vit_b_16", (3, 224, 224)), ("efficientnet_b0", (3, 64, 64)),
                                       ("mobilenet_v3_small", (3, 64, 64))])
def test_profiles_count_the_same_with_and_without_the_shortcuts(name, size, monkeypatch):
    calls = []
    table = {cls: (lambda m, x, f=f: calls.append(type(m)) or f(m, x)) for cls, f in QUICK.items()}
    model = get_model(name, weights=None)
    monkeypatch.setattr(record, "QUICK", table)
    fast = _rows(profiler.profile(model, input_size=size))
    assert calls, "no leaf module was answered from shapes"
    monkeypatch.setattr(record, "QUICK", {})
    slow = _rows(profiler.profile(model, input_size=size))
    assert fast[0] == slow[0]
    assert fast[1] == slow[1]


class _Quiet(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.seen = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.seen.append(getattr(func, "__name__", str(func)))
        return func(*args, **(kwargs or {}))


class _OwnConv(nn.Conv2d):
    def forward(self, x):
        self.ran = True
        return super().forward(x)


def test_forwards_of_their_own_run_as_they_are(monkeypatch):
    """A subclass's forward, an instance's own binding and a mode the forward enters
    all see the module run: the shortcut is not taken."""
    asked = []
    table = {cls: (lambda m, x, f=f: asked.append(m) or f(m, x)) for cls, f in QUICK.items()}
    monkeypatch.setattr(record, "QUICK", table)
    sub = _OwnConv(3, 4, 3)
    own = nn.Conv2d(4, 4, 1)
    bound = []
    own.forward = lambda x, m=own: bound.append(1) or nn.Conv2d.forward(m, x)
    mode = _Quiet()
    watched = nn.Linear(4, 4)
    watched.register_forward_pre_hook(lambda m, a: mode.__enter__() and None)
    watched.register_forward_hook(lambda m, a, o: mode.__exit__(None, None, None) and None)
    model = nn.Sequential(sub, own, nn.Flatten(), nn.LazyLinear(4), watched)
    profiler.profile(model, input_size=(3, 5, 5))
    assert getattr(sub, "ran", False) is False        # the twin ran it; the user's module is untouched
    assert bound == [1]
    assert asked == []                                # the only plain leaf ran under a mode of the forward's
    assert "linear" in mode.seen


def test_an_input_holding_a_value_runs_the_forward(monkeypatch):
    """A ReLU of token ids made from Python data (a value carried through the meta
    forward, profiler.capture.known) runs its forward, so the value rides on."""
    asked = []
    table = {cls: (lambda m, x, f=f: asked.append(type(m)) or f(m, x)) for cls, f in QUICK.items()}
    monkeypatch.setattr(record, "QUICK", table)

    class Picks(nn.Module):
        def __init__(self):
            super().__init__()
            self.act = nn.ReLU()
            self.proj = nn.Linear(3, 3)

        def forward(self, x):
            index = self.act(torch.tensor([0.0, 2.0], device=x.device))
            return self.proj(x)[:, int(index[1].item())]

    report = profiler.profile(Picks(), input_size=(3,))
    assert report.totals["macs"] == 9     # the index was read: the ReLU's value was carried
    assert asked[-1:] == [nn.Linear]      # the run that read it asked for the Linear alone


def test_a_leaf_missing_an_attribute_gets_its_forwards_own_error():
    """A stock Conv2d whose bias slot was deleted: the shortcut declines (it never
    raises in the forward's place), and the profile names the forward's own error."""
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    del model[0]._parameters["bias"]
    with pytest.raises(profiler.ProfilerError, match="layer '0' \\(Conv2d\\).*no attribute 'bias'"):
        profiler.profile(model, input_size=(3, 8, 8))
