"""profiler.formulas.optimizers: each optimizer's state bytes against the state a
real torch.optim optimizer holds after one step on small real CPU tensors (the
bytes of every tensor in ``optimizer.state``, counted by storage: an independent
count), and the mixed-precision recipes against hand counts."""
from __future__ import annotations

import pytest
import torch

from profiler.errors import ProfilerError
from profiler.formulas.optimizers import (OPTIMIZERS, STATE_NAMES, STEP_BYTES, adafactor_bytes, adam_bytes,
                                          autocast_weight_cache_bytes, check_optimizer, master_bytes,
                                          model_states, state_bytes)

SHAPES = [(7,), (5, 3), (4, 6, 2), (2, 3, 4, 5), (), (1, 9), (3, 1)]
DTYPES = [torch.float32, torch.float64, torch.bfloat16]


def _real(name: str, amsgrad: bool = False):
    return {"sgd": lambda ps: torch.optim.SGD(ps, lr=0.1),
            "sgd-momentum": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
            "adam": lambda ps: torch.optim.Adam(ps, lr=0.1, amsgrad=amsgrad, foreach=False),
            "adamw": lambda ps: torch.optim.AdamW(ps, lr=0.1, amsgrad=amsgrad, foreach=False),
            "adafactor": lambda ps: torch.optim.Adafactor(ps, lr=0.1, foreach=False)}[name]


def _state_after_one_step(name: str, shape, dtype, amsgrad: bool = False) -> tuple[int, set[str]]:
    """(bytes of the state tensors, their names) of one parameter after one real step."""
    p = torch.nn.Parameter(torch.randn(shape, dtype=torch.float32).to(dtype))
    opt = _real(name, amsgrad)([p])
    (p.to(torch.float32) ** 2).sum().backward()
    opt.step()
    state = opt.state[p]
    seen, total = set(), 0
    for value in state.values():
        if torch.is_tensor(value):
            key = value.untyped_storage().data_ptr()
            if key not in seen:
                seen.add(key)
                total += value.untyped_storage().nbytes()
    return total, {k for k, v in state.items() if torch.is_tensor(v)}


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_state_bytes_equal_the_real_optimizers_state_after_one_step(name, shape, dtype):
    real, names = _state_after_one_step(name, shape, dtype)
    itemsize = torch.empty((), dtype=dtype).element_size()
    assert state_bytes(name, shape, itemsize) == real
    # the names the docstring gives are the ones torch keeps (a 0-d or 1-d Adafactor parameter: "variance")
    expected = set(STATE_NAMES[name]) | ({"step"} if name in ("adam", "adamw", "adafactor") else set())
    if name == "adafactor" and len(shape) < 2:
        expected = {"variance", "step"}
    assert names == expected


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_amsgrad_adds_one_state_the_size_of_the_parameter(name):
    real, names = _state_after_one_step(name, (6, 5), torch.float32, amsgrad=True)
    assert "max_exp_avg_sq" in names
    assert state_bytes(name, (6, 5), 4, amsgrad=True) == real == 3 * 30 * 4 + STEP_BYTES


def test_hand_counts():
    # Adam on a 4096 x 4096 fp32 weight: two 64 MiB moments and a 4-byte step
    assert adam_bytes((4096, 4096), 4) == 2 * 4096 * 4096 * 4 + 4
    assert adam_bytes((4096, 4096), 4, step=False) == 2 * 4096 * 4096 * 4
    # Adafactor on the same weight: 4096 row and 4096 column sums
    assert adafactor_bytes((4096, 4096), 4) == (4096 + 4096) * 4 + 4
    # a 3-d parameter (8, 16, 32): row_var (8, 16, 1), col_var (8, 1, 32)
    assert adafactor_bytes((8, 16, 32), 4, step=False) == (8 * 16 + 8 * 32) * 4
    assert state_bytes("sgd", (100,), 4) == 0 and state_bytes("sgd-momentum", (100,), 2) == 200
    assert master_bytes((10, 10), "master") == 400 and master_bytes((10, 10), "autocast") == 0
    assert master_bytes((10, 10), None) == 0 and autocast_weight_cache_bytes((10, 10)) == 200


def test_model_states_per_recipe_is_the_zero_papers_16_bytes_per_parameter_for_adam():
    shapes = [(1000, 1000), (1000,)]
    psi = 1_001_000
    master = model_states(shapes, "adamw", itemsize=2, precision="master", step=False)
    assert (master.parameters, master.gradients, master.master, master.optimizer) == (2 * psi, 2 * psi, 4 * psi,
                                                                                     8 * psi)
    assert master.total == 16 * psi and master.numel == psi
    plain = model_states(shapes, "adamw", itemsize=4, step=False)
    assert (plain.parameters, plain.gradients, plain.master, plain.optimizer) == (4 * psi, 4 * psi, 0, 8 * psi)
    autocast = model_states(shapes, "adamw", itemsize=2, precision="autocast", step=False)
    assert autocast == plain
    sgd = model_states(shapes, "sgd", itemsize=2, precision="master")
    assert sgd.optimizer == 0 and sgd.master == 4 * psi
    # the step tensors, one per parameter tensor
    assert model_states(shapes, "adam", itemsize=4).optimizer == 8 * psi + 2 * STEP_BYTES


def test_the_master_recipe_equals_a_real_fp32_master_copy_with_adamw():
    """bf16 parameters and gradients, an fp32 master copy stepped by AdamW: the
    bytes of the real tensors of that recipe, built by hand on CPU."""
    shapes = [(12, 8), (8,), (3, 4, 5)]
    half = [torch.nn.Parameter(torch.randn(s).to(torch.bfloat16)) for s in shapes]
    master = [torch.nn.Parameter(p.detach().float().clone()) for p in half]
    opt = torch.optim.AdamW(master, foreach=False)
    for p in half:
        (p.float() ** 2).sum().backward()
    for m, p in zip(master, half):
        m.grad = p.grad.float()
    opt.step()
    nbytes = lambda ts: sum(t.untyped_storage().nbytes() for t in ts)   # noqa: E731
    states = [v for s in opt.state.values() for v in s.values() if torch.is_tensor(v)]
    counted = model_states(shapes, "adamw", itemsize=2, precision="master")
    assert counted.parameters == nbytes(half) and counted.gradients == nbytes(p.grad for p in half)
    assert counted.master == nbytes(master) and counted.optimizer == nbytes(states)


def test_bad_names_are_refused_in_one_line():
    assert check_optimizer("AdamW") == "adamw" and check_optimizer("sgd_momentum") == "sgd-momentum"
    with pytest.raises(ProfilerError, match="optimizer='nope': expected one of sgd, sgd-momentum"):
        check_optimizer("nope")
    with pytest.raises(ProfilerError, match="precision='fp8'"):
        model_states([(2,)], "adam", 4, precision="fp8")
