"""profiler.capture.kept: meta twins kept from one profile of a model to the next,
one tensor at a time (kept_twin) and by a plan per model (swap_in_kept), reused
only where they are what new twins would be: every edit of the model between
profiles, and every write a forward makes to its twins, gives new ones; the
caller's model, its dicts and the process are left as found; nothing keeps the
model or a tensor it dropped alive."""
from __future__ import annotations

import copy
import gc
import weakref

import pytest
import torch
from torch import nn

import profiler
import state
from profiler.capture import kept
from profiler.capture.kept import after_forward, kept_twin, swap_in_kept
from profiler.capture.twins import ModuleState


def _same_report(model, input_size=(6,)):
    """The profile of ``model`` equals the profile of a fresh copy of it (whose tensors
    no profile has seen): the kept twins are what new ones would be."""
    kept_report = profiler.profile(model, input_size=input_size)
    fresh = profiler.profile(copy.deepcopy(model), input_size=input_size)
    assert kept_report.layers.equals(fresh.layers)
    return kept_report


def _swapped(model):
    """The twins one swap_in_kept gives ``model`` (by the id of their tensor), and
    the dicts its modules held during it; everything put back after."""
    modules = [m for _, m in model.named_modules()]
    saved = ModuleState(modules)
    try:
        twins = swap_in_kept(modules, saved.tensor_attributes, saved.undo)
        held = {name: (dict(m._parameters), dict(m._buffers)) for name, m in model.named_modules()}
        after_forward(modules[0])
    finally:
        saved.restore()
    return twins, held


def _net():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 5, bias=False),
                          nn.Linear(5, 5), nn.Linear(5, 2))
    model[4].weight = model[3].weight               # tied: one twin
    return model.eval()


def test_this_torch_shows_a_tensors_attributes_and_hooks_to_the_plan():
    # the plan checks twins through gc.get_referents; without it every profile swaps one tensor at a time
    assert kept._BY_REFERENTS and kept._TensorGuards is not None


def test_a_plan_binds_the_same_twins_and_leaves_the_callers_dicts_unwritten():
    model = _net()
    first, _ = _swapped(model)                      # one tensor at a time; the plan made
    assert id(model) in kept._PLANS
    dicts = [(m._parameters, dict(m._parameters)) for m in model.modules()]
    before = state.snapshot(model)
    again, held = _swapped(model)                   # by the plan
    assert again == first and all(t.is_meta for t in again.values())
    assert all(d == copy_ for d, copy_ in dicts)
    assert all(m._parameters is d for m, (d, _) in zip(model.modules(), dicts))
    assert held["0"][0]["weight"] is first[id(model[0].weight)] and held["1"][1]["running_mean"].is_meta
    assert held["3"][0]["weight"] is held["4"][0]["weight"]
    state.assert_untouched(model, before)


def test_profiles_by_the_plan_leave_the_whole_state_as_found_and_count_as_a_fresh_copy():
    model = _net()
    before = state.snapshot(model)
    reports = [_same_report(model) for _ in range(3)]
    state.assert_untouched(model, before)
    assert all(r.layers.equals(reports[0].layers) for r in reports)


def test_the_plan_follows_every_edit_of_the_model_between_profiles():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 2))
    first = _same_report(model)
    model[2] = nn.Linear(5, 3)                                   # a submodule replaced
    assert _same_report(model).layers["output_shape"].iloc[-1] == "1x3" != first.layers["output_shape"].iloc[-1]
    model.insert(1, nn.Identity())                               # a module with no tensors: the dicts shift
    _same_report(model)
    model[0].weight.data = torch.randn(8, 6)                     # a weight's shape, in place (same Parameter)
    model[0].bias.data = torch.randn(8)
    model[3].weight.data = torch.randn(3, 8)
    assert _same_report(model).layers.set_index("name").loc["0", "output_shape"] == "1x8"   # the twin's shape
    model[3].weight.data = torch.randn(8, 3).t()                 # its strides
    _same_report(model)
    model.double()                                               # every dtype, in place
    assert _same_report(model).layers.set_index("name").loc["0", "act_bytes"] == 8 * 8
    model[0].weight.requires_grad_(False)
    _same_report(model)
    model[0].bias = None                                         # a slot emptied
    _same_report(model)
    model[0].register_buffer("scale", torch.ones(8, dtype=torch.float64))   # a buffer added
    _same_report(model)
    model[3].weight = nn.Parameter(torch.randn(3, 8, dtype=torch.float64))  # another tensor, same metadata
    _same_report(model)
    unhooked = _same_report(model)
    model[0].register_forward_pre_hook(lambda module, args: (args[0] * 2,))   # a hook: a mul in the model
    assert _same_report(model).total["mults"] == unhooked.total["mults"] + 6


def test_an_edit_between_swaps_gives_new_twins_where_it_must():
    model = _net()
    first, _ = _swapped(model)
    model[1].running_var.data = torch.ones(5, dtype=torch.float64)      # metadata: a new twin
    second, _ = _swapped(model)
    old, new = first[id(model[1].running_var)], second[id(model[1].running_var)]
    assert new is not old and new.dtype == torch.float64
    assert second[id(model[0].weight)] is first[id(model[0].weight)]    # the rest kept
    frozen = model[5].bias
    frozen.requires_grad_(False)
    with torch.enable_grad():                                            # now computed: not a leaf
        frozen.add_(torch.zeros(2, requires_grad=True))
    third, _ = _swapped(model)
    # a computed tensor's twin is made anew each time (twins.twin), and its model gets no plan
    assert not frozen.is_leaf and third[id(frozen)] is not second[id(frozen)] and third[id(frozen)].requires_grad
    assert id(model) not in kept._PLANS and _swapped(model)[0][id(frozen)] is not third[id(frozen)]


def test_a_tensor_dropped_from_the_model_makes_the_plan_stale_and_is_not_kept_alive():
    model = _net()
    _swapped(model)
    plan = kept._PLANS[id(model)]
    dropped = weakref.ref(model[5].weight)
    model[5].weight = nn.Parameter(torch.randn(2, 5))
    gc.collect()
    assert dropped() is None and plan.stale        # an id the plan holds may now be another tensor's
    twins, _ = _swapped(model)
    assert kept._PLANS[id(model)] is not plan and twins[id(model[5].weight)].shape == (2, 5)


class _Writes(nn.Module):
    """A layer whose forward writes to its weight's twin, in one of several ways."""

    def __init__(self, how: str):
        super().__init__()
        self.how = how
        self.weight = nn.Parameter(torch.randn(4, 6))

    def forward(self, x):
        w = self.weight
        if self.how == "attribute":
            w.note = "seen"
        elif self.how == "hook":
            w.register_hook(lambda grad: grad)
        elif self.how == "grad":
            w.grad = torch.zeros_like(w)
        elif self.how == "data":
            w.data = torch.empty(4, 6, dtype=torch.float64, device=w.device)
            return x.double() @ w.t()
        elif self.how == "buffer":
            self.register_buffer("cache", torch.zeros(4, device=w.device))
        elif self.how == "slot":
            self._parameters["weight"] = nn.Parameter(torch.empty(4, 6, device=w.device))
        return x @ w.t()


@pytest.mark.parametrize("how", ["attribute", "hook", "grad", "data", "buffer", "slot"])
def test_a_forward_that_writes_to_its_twins_drops_the_plan_and_leaves_the_model_as_found(how):
    model = nn.Sequential(_Writes(how), nn.ReLU())
    before = state.snapshot(model)
    first = profiler.profile(model, input_size=(6,))
    # a twin written during the first forward drops the plan made for it; a dict written then was the
    # caller's (the first swap is one tensor at a time), put back by the snapshot: the plan's are clean
    assert (id(model) in kept._PLANS) == (how in ("buffer", "slot"))
    twins = [kept_twin(model[0].weight) for _ in range(2)]
    assert twins[0] is twins[1]
    second = profiler.profile(model, input_size=(6,))   # by the plan, if any: its own dict written
    # (the buffer goes into the layer's empty dict of buffers, the caller's, which the snapshot empties)
    assert (id(model) in kept._PLANS) == (how == "buffer")
    third = profiler.profile(model, input_size=(6,))
    assert first.layers.equals(second.layers) and first.layers.equals(third.layers)
    state.assert_untouched(model, before)
    assert "cache" not in model[0]._buffers and not hasattr(model[0].weight, "note")


def test_a_forward_that_writes_once_gets_new_twins_the_next_time():
    layer = _Writes("attribute")
    model = nn.Sequential(layer, nn.ReLU())
    profiler.profile(model, input_size=(6,))       # the twin noted: no plan, and the twin not reused
    layer.how = "none"
    twins, _ = _swapped(model)
    assert not hasattr(twins[id(layer.weight)], "note")
    profiler.profile(model, input_size=(6,))       # a clean forward: a plan, kept
    plan = kept._PLANS[id(model)]
    again, _ = _swapped(model)
    assert kept._PLANS[id(model)] is plan and again[id(layer.weight)] is twins[id(layer.weight)]


def test_a_twin_a_forward_wrote_to_is_not_kept():
    weight = nn.Parameter(torch.randn(3, 2))
    made = kept_twin(weight)
    assert made.is_meta and type(made) is nn.Parameter and kept_twin(weight) is made
    made.note = 1                                                 # an attribute set on the twin
    again = kept_twin(weight)
    assert again is not made and kept_twin(weight) is again
    again.requires_grad_(False)
    third = kept_twin(weight)
    assert third is not again and third.requires_grad
    third.grad = torch.empty(3, 2, device="meta")
    fourth = kept_twin(weight)
    assert fourth is not third
    fourth.register_post_accumulate_grad_hook(lambda t: None)   # a hook the old check did not see
    assert kept_twin(weight) is not fourth
    plain = torch.randn(4)
    assert kept_twin(plain) is kept_twin(plain) and kept_twin(plain.t()) is not kept_twin(plain)


def test_kept_twins_and_plans_keep_no_model_alive():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(5), nn.Linear(5, 2)).eval()
    gc.collect()   # earlier tests' models that only a cycle kept: their twins would go in the collect below
    before, plans = len(kept._KEPT), len(kept._PLANS)
    profiler.profile(model, input_size=(6,))
    assert len(kept._KEPT) == before + len(list(model.parameters())) + len(list(model.buffers()))
    assert len(kept._PLANS) == plans + 1
    gone = weakref.ref(model)
    del model
    gc.collect()
    assert gone() is None and len(kept._KEPT) == before and len(kept._PLANS) == plans
