"""profiler.capture.session: one profiling forward (``captured``) of a Run on meta,
fake or real tensors, yielding its capture while the forward's state holds (the
rows are counted there); the state put back on leaving (the model's modules,
grad mode, the attention fast-path flag, the random states); a model's device,
whether it is all on meta, and the module inside a wrapper."""
from __future__ import annotations

import importlib
import random
import threading

import numpy as np
import pytest
import torch
from torch import nn

import state
from profiler.capture.run import Run
from profiler.capture.session import (LOCK, ForwardRecord, captured, kept_rng, model_device, on_meta, process_state,
                                      unwrapped)
from profiler.count.rows import build_rows


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 2))


def _forward_rows(model, args, execution="meta", dtype=None, input_dtype=torch.float32, training=False):
    """(the rows counted inside ``captured``, as profile() counts them; the ForwardRecord)."""
    run = Run("model", model, args=args, dtype=dtype, input_dtype=input_dtype, training=training)
    with captured(run, execution) as done:
        assert torch.is_grad_enabled() is training                  # the forward's grad mode still holds
        rows = build_rows(done.capture.calls, model, training, done.capture.modules, done.loose)
    return rows, done


def _data_parallel(model, monkeypatch):
    with monkeypatch.context() as patch:   # built as on a machine without GPUs, where it runs the module
        patch.setattr(importlib.import_module("torch.nn.parallel.data_parallel"), "_get_available_device_type",
                      lambda: None)
        return nn.DataParallel(model)


def test_kept_rng_restores_torch_python_and_numpy_random_states():
    torch.manual_seed(1), random.seed(1), np.random.seed(1)
    expected = (torch.rand(1), random.random(), np.random.rand())
    torch.manual_seed(1), random.seed(1), np.random.seed(1)
    with pytest.raises(RuntimeError), kept_rng():
        torch.rand(10), random.random(), np.random.rand(5)
        raise RuntimeError("a forward that draws, then fails")
    assert (torch.rand(1), random.random(), np.random.rand()) == expected


def _numpy_state_equal(a, b) -> bool:
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2:] == b[2:]


@pytest.mark.parametrize("raw", [True, False])
def test_kept_rng_keeps_numpy_bit_for_bit_its_cached_gaussian_too(raw, monkeypatch):
    """NumPy's state is kept as raw bytes (the key, its position, the cached Gaussian),
    put back where a draw changed it; a forward that takes only the cached Gaussian
    (an odd count drawn before) moves no key word, only ``has_gauss``.  Without the
    layout (another NumPy), get_state() and set_state() as before."""
    from profiler.capture import session
    assert session._find_gauss(np) is not None            # this NumPy's layout is found and checked
    if not raw:
        monkeypatch.setattr(session, "_NUMPY_GAUSS", session._UNKNOWN)
    np.random.seed(3)
    np.random.randn(3)                                     # one Gaussian cached
    before = np.random.get_state()
    assert before[3] == 1
    for draws in (lambda: np.random.randn(1), lambda: (np.random.rand(5000), np.random.randn(7)), lambda: None):
        with kept_rng():
            draws()
        assert _numpy_state_equal(np.random.get_state(), before)
    expected = np.random.randn(5)
    np.random.set_state(before)
    with kept_rng():
        np.random.seed(11)                                 # a reseed inside: put back as well
    assert np.array_equal(np.random.randn(5), expected)


@pytest.mark.parametrize("raw", [True, False])
def test_kept_rng_keeps_python_random_bit_for_bit_its_cached_gaussian_too(raw, monkeypatch):
    """Python's state is kept as raw bytes (the MT index and key) with ``gauss_next``,
    put back where a draw changed them: getstate() after equals getstate() before,
    whatever was drawn (a Gaussian that leaves one cached, one that takes the cached
    one, past a key regeneration, a reseed) or nothing.  Without the layout (another
    Python), getstate() and setstate() as before."""
    from profiler.capture import session
    assert session._find_python_mt() is not None          # this Python's layout is found and checked
    if not raw:
        monkeypatch.setattr(session, "_PY_MT", session._UNKNOWN)
    for cached in (False, True):
        random.seed(3)
        if cached:
            random.gauss(0, 1)                             # one Gaussian cached
        before = random.getstate()
        assert (before[2] is not None) is cached
        for draws in (lambda: random.gauss(0, 1), lambda: random.getrandbits(800 * 32), lambda: random.seed(11),
                      lambda: (random.random(), random.gauss(0, 1), random.gauss(0, 1)), lambda: None):
            with kept_rng():
                draws()
            assert random.getstate() == before
        with pytest.raises(RuntimeError), kept_rng():
            random.random()
            raise RuntimeError("a forward that draws, then fails")
        assert random.getstate() == before


@pytest.mark.parametrize("training", [True, False])
def test_process_state_sets_grad_and_turns_the_fast_path_off_then_restores_both(training):
    previous = torch.backends.mha.get_fastpath_enabled()
    try:
        torch.backends.mha.set_fastpath_enabled(True)
        with torch.set_grad_enabled(not training):
            with process_state(training):
                assert torch.is_grad_enabled() is training
                assert not torch.backends.mha.get_fastpath_enabled()
            assert torch.is_grad_enabled() is (not training)
        assert torch.backends.mha.get_fastpath_enabled()
    finally:
        torch.backends.mha.set_fastpath_enabled(previous)


def test_model_device_and_on_meta():
    assert model_device(nn.Linear(2, 2)) == torch.device("cpu")
    assert model_device(nn.ReLU()) == torch.device("cpu")           # nothing to read: the CPU
    with torch.device("meta"):
        meta = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    assert model_device(meta).type == "meta" and on_meta(meta)
    assert not on_meta(nn.ReLU())                                   # no tensors at all
    mixed = nn.Sequential(meta, nn.Linear(2, 2))
    assert not on_meta(mixed)


def test_unwrapped_sees_through_data_parallel_repeatedly(monkeypatch):
    model = _net()
    assert unwrapped(model) is model
    twice = _data_parallel(_data_parallel(model, monkeypatch), monkeypatch)
    assert unwrapped(twice) is model


def test_captured_on_meta_counts_and_leaves_the_model_as_found():
    model = _net()
    before = state.snapshot(model)
    rows, done = _forward_rows(model, ((3, 6),))
    assert isinstance(done, ForwardRecord) and done.description is None and done.kwargs == {}
    assert done.args == ((3, 6),) and done.loose == []
    rows = {row["name"]: row for row in rows}
    assert rows["0"]["macs"] == 3 * 6 * 5 and rows["2"]["macs"] == 3 * 5 * 2
    assert rows["0"]["input_shapes"] == ((3, 6),) and rows["2"]["output_shape"] == ((3, 2),)
    assert [call.name for call in done.capture.calls] == ["", "0", "1", "2"]
    state.assert_untouched(model, before)


@pytest.mark.parametrize("execution", ["fake", "real"])
def test_captured_on_fake_or_real_tensors_gives_the_meta_rows(execution):
    model = _net()
    before = state.snapshot(model)
    meta, _ = _forward_rows(model, ((3, 6),))
    other, _ = _forward_rows(model, ((3, 6),), execution)
    assert other == meta
    state.assert_untouched(model, before)


def test_captured_training_adds_backward_columns_and_grad_is_put_back():
    model = _net()
    with torch.no_grad():
        rows, _ = _forward_rows(model, ((3, 6),), "meta", torch.float16, torch.float16, training=True)
        assert not torch.is_grad_enabled()
    first = {row["name"]: row for row in rows}["0"]
    assert "bwd_macs" in first
    assert first["act_bytes"] == 3 * 5 * 2                          # counted at float16
    assert model[0].weight.dtype == torch.float32


def test_captured_unwraps_a_wrapper_inside_the_model_and_puts_it_back(monkeypatch):
    inner = _net()
    outer = nn.Sequential(_data_parallel(inner, monkeypatch), nn.Tanh())
    before = state.snapshot(outer)
    rows, _ = _forward_rows(outer, ((3, 6),))
    assert "0.0" in {row["name"] for row in rows}            # the wrapped Linear, not DataParallel's .module
    assert isinstance(outer[0], nn.DataParallel)
    state.assert_untouched(outer, before)


def test_a_failed_forward_carries_the_failing_call_and_the_capture():
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(5, 4))
    before = state.snapshot(model)
    with pytest.raises(RuntimeError) as info:
        _forward_rows(model, ((1, 4),))
    assert info.value.failed_call.name == "1" and len(info.value.capture.calls) == 3
    state.assert_untouched(model, before)


def test_the_lock_is_reentrant_and_held_by_one_thread_at_a_time():
    with LOCK:
        with LOCK:                                                  # profile() inside profile(): no deadlock
            got = []
            thread = threading.Thread(target=lambda: got.append(LOCK.acquire(blocking=False)))
            thread.start()
            thread.join()
            assert got == [False]


class _NoisyLength(nn.Module):
    """A forward whose output length is drawn (as VITS draws its durations): the count
    depends on the draw."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        n = 1 + int(torch.randint(0, 1000, ()))
        return self.lin(x.expand(n, 4))


def test_the_forward_is_seeded_so_a_drawn_length_counts_the_same_every_run():
    import profiler
    model, x = _NoisyLength(), torch.randn(1, 4)
    before = torch.get_rng_state()
    for device in (None, "cpu"):      # on meta, and on real tensors
        reports = [profiler.profile(model, inputs=(x,), device=device) for _ in range(3)]
        assert len({int(r.total["macs"]) for r in reports}) == 1, [r.total["macs"] for r in reports]
    assert torch.equal(torch.get_rng_state(), before)     # the caller's state comes back


def test_the_forward_draws_what_manual_seed_0_gives():
    """seed_forward copies in a state made once: the generator is then as torch.manual_seed(0)
    leaves it, byte for byte, and draws the same numbers (a cached normal sample included)."""
    from profiler.capture.session import kept_rng, seed_forward
    with kept_rng():
        torch.manual_seed(7), torch.randn(3)          # a state of its own, and a cached normal
        seed_forward()
        ours = torch.get_rng_state(), torch.initial_seed(), torch.randn(5), torch.rand(2)
        torch.manual_seed(7), torch.randn(3)
        torch.manual_seed(0)
        theirs = torch.get_rng_state(), torch.initial_seed(), torch.randn(5), torch.rand(2)
    assert torch.equal(ours[0], theirs[0]) and ours[1] == theirs[1] == 0
    assert torch.equal(ours[2], theirs[2]) and torch.equal(ours[3], theirs[3])


def test_the_forwards_state_holds_inside_captured_and_comes_back_even_when_counting_fails():
    """The formulas read the modules as the forward ran them (train mode, twins of
    the weights) when the caller counts inside ``captured``; leaving it, by an
    exception too, puts the caller's model back."""
    model = nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(5)).eval()
    before = state.snapshot(model)
    weight = model[0].weight
    run = Run("model", model, args=((3, 6),), training=True)
    with pytest.raises(ZeroDivisionError):
        with captured(run, "meta") as done:
            assert model[1].training and model[0].weight is not weight and model[0].weight.is_meta
            assert [call.name for call in done.capture.calls] == ["", "0", "1"]
            1 / 0                                                   # a count that fails
    assert not model[1].training and model[0].weight is weight
    state.assert_untouched(model, before)


@pytest.mark.skipif(torch.cuda.is_initialized(), reason="CUDA is initialised: seeded at once, nothing is queued")
def test_a_profile_queues_no_seed_for_an_accelerator_that_is_not_started():
    # torch.manual_seed queues a seed for CUDA, XPU and MTIA until they start; a
    # profile's own seed must not replace the caller's queued one
    import profiler
    model = _net()
    torch.manual_seed(5)
    trackers = [module._lazy_seed_tracker for module in (torch.cuda, torch.xpu, torch.mtia)
                if hasattr(module, "_lazy_seed_tracker")]
    before = [[call and call[0] for call in tracker.get_calls()] for tracker in trackers]
    profiler.profile(model, inputs=(torch.zeros(1, 6),))
    after = [[call and call[0] for call in tracker.get_calls()] for tracker in trackers]
    assert all(len(a) == len(b) and all(x is y for x, y in zip(a, b)) for a, b in zip(after, before))


def test_set_training_sets_every_flag_as_train_does_and_calls_an_own_train():
    """Plain modules get their flags set directly, as Module.train leaves them (the
    whole __dict__ compared); a module class with its own ``train`` gets the model's
    ``train()`` called, so its override runs."""
    from profiler.capture.session import set_training
    for training in (False, True):
        ours, theirs = _net(), _net()
        ours.train(not training), theirs.train(not training)
        set_training(ours, list(ours.modules()), training)
        theirs.train(training)
        assert [m.__dict__.keys() for m in ours.modules()] == [m.__dict__.keys() for m in theirs.modules()]
        assert [m.training for m in ours.modules()] == [m.training for m in theirs.modules()] == [training] * 4

    class Own(nn.Linear):
        def train(self, mode=True):
            self.seen = mode
            return super().train(mode)

    model = nn.Sequential(nn.ReLU(), Own(2, 2))
    set_training(model, list(model.modules()), False)
    assert model[1].seen is False and not model.training and not model[0].training


@pytest.mark.parametrize("was_on", [True, False])
def test_a_profile_pauses_the_garbage_collector_and_leaves_it_as_it_was(was_on):
    """The collector is off while the forward runs, on success and on failure, and
    on or off after the profile as the caller left it."""
    import gc
    import profiler
    from profiler.errors import ProfilerError
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
    seen = []
    model[1].register_forward_pre_hook(lambda module, args: seen.append(gc.isenabled()))
    try:
        gc.enable() if was_on else gc.disable()
        profiler.profile(model, input_size=(8,))
        assert seen == [False] and gc.isenabled() is was_on
        with pytest.raises(ProfilerError):
            profiler.profile(model, input_size=(9,))
        assert gc.isenabled() is was_on
    finally:
        gc.enable()
