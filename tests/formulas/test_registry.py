"""profiler.formulas.registry: how formulas are found.  Module formulas along the
class MRO (a subclass inherits its parent's, forward and backward); op formulas by
packet, an op's in-place variant sharing its backward; an unknown module or op
finds None; a key registers once per table (a second registration raises); a kind
must be one of the known kinds; a backward registered with ``inputs`` costs
nothing where none of them needs a gradient; every registered formula lives in a
group file of its direction, and every forward one has a literal case in the test
file of its group (tests/formulas/forward/test_<group>.py).  Registrations of new
keys run in a subprocess, leaving this process's registry as it was."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from formula_access import (CallShapes, aten_formulas_by_packet, find_aten_formula, find_module_backward,
                            find_module_formula, find_op_backward, module_backwards_by_class,
                            module_formulas_by_class, op_backwards_by_packet)
from formula_cases import assert_every_formula_has_a_case
from profiler.formulas import registry

aten = torch.ops.aten


class MyConv(nn.Conv2d):
    """A user's subclass: no registration of its own."""


class MyActivation(nn.SiLU):
    pass


def test_a_subclass_inherits_its_parents_formulas_along_the_mro():
    assert find_module_formula(MyConv(2, 3, 3)) is find_module_formula(nn.Conv2d(2, 3, 3)) is not None
    assert find_module_backward(MyConv(2, 3, 3)) is find_module_backward(nn.Conv2d(2, 3, 3)) is not None
    # the nearest registered class wins: SiLU's own entry, not a base class's
    assert find_module_formula(MyActivation()) is find_module_formula(nn.SiLU())


def test_inherited_formula_counts_the_subclass_call_as_the_parents():
    """Conv2d(2, 3, 3) on (1, 2, 5, 5): 27 outputs × 18 terms, + bias."""
    call = CallShapes(inputs=((1, 2, 5, 5),), outputs=((1, 3, 3, 3),))
    cost = find_module_formula(MyConv(2, 3, 3)).fn(MyConv(2, 3, 3), call)
    assert (cost.mults, cost.adds, cost.macs) == (27 * 18, 27 * 17 + 27, 27 * 18)


def test_unknown_modules_and_ops_find_none():
    class Plain(nn.Module):
        def forward(self, x):
            return x
    assert find_module_formula(Plain()) is None and find_module_backward(Plain()) is None
    assert find_module_formula(nn.Sequential()) is None
    assert find_aten_formula(aten.lgamma) is None and find_op_backward(aten.lgamma) is None


def test_an_in_place_variant_shares_its_ops_backward():
    for op in ("add", "mul", "div", "exp", "sigmoid", "clamp", "index_add"):
        base, inplace = getattr(aten, op), getattr(aten, op + "_")
        assert find_op_backward(inplace) is find_op_backward(base) is not None, op
    # the forward lists in-place variants explicitly, with the same cost
    assert find_aten_formula(aten.add_) is not None and find_aten_formula(aten.add_).kind == "elementwise"


def test_a_kind_must_be_a_known_kind():
    class Fresh(nn.Module):
        pass
    with pytest.raises(AssertionError):
        registry.module_formula(Fresh, kind="no such kind")
    with pytest.raises(AssertionError):
        registry.aten_formula(aten.lgamma, kind="no such kind")
    assert find_module_formula(Fresh()) is None and find_aten_formula(aten.lgamma) is None


_REGISTER = textwrap.dedent("""
    import torch
    from torch import nn
    from profiler.formulas import registry
    from profiler.formulas.cost import Cost

    aten = torch.ops.aten

    class Fresh(nn.Module):
        pass

    class FreshChild(Fresh):
        pass

    fn = registry.module_formula(Fresh, kind="other")(lambda m, call: Cost(mults=1))
    assert registry.find_module_formula(FreshChild()).fn is fn
    try:
        registry.module_formula(Fresh, kind="other")(lambda m, call: Cost())
    except ValueError:
        pass
    else:
        raise SystemExit("a second module formula for Fresh was accepted")
    assert registry.find_module_formula(Fresh()).fn is fn       # the first one stays

    back = registry.op_backward(aten.lgamma)(lambda needs, out, x: Cost(mults=2))
    assert registry.find_op_backward(aten.lgamma) is back
    assert registry.find_op_backward(aten.lgamma_) is back        # the in-place variant too
    for again in (lambda: registry.op_backward(aten.lgamma)(back),
                  lambda: registry.aten_formula(aten.add, kind="elementwise")(back)):
        try:
            again()
        except ValueError:
            pass
        else:
            raise SystemExit("a second registration of a key was accepted")

    # inputs=: the formula counts only these inputs' gradients; where none needs one, ZERO, uncalled
    called = []
    igamma = registry.op_backward(aten.igamma, inputs=(1,))(lambda needs, out, a, x: called.append(needs) or Cost(mults=3))
    assert registry.find_op_backward(aten.igamma) is igamma and igamma.__name__ == "<lambda>"
    assert igamma((True, False), (2,), (2,), (2,)) == Cost() and igamma((True,), (2,), (2,), (2,)) == Cost()
    assert igamma((False, True), (2,), (2,), (2,)) == Cost(mults=3) and called == [(False, True)]

    class Gated(nn.Module):
        pass

    gated = registry.module_backward(Gated, inputs=(0, 1))(lambda m, call, needs: Cost(adds=5))
    call = registry.CallShapes(inputs=((2,), (2,)), outputs=((2,),))
    assert registry.find_module_backward(Gated()) is gated
    assert gated(Gated(), call, (False, False)) == Cost() and gated(Gated(), call, ()) == Cost()
    assert gated(Gated(), call, (False, True)) == gated(Gated(), call, (True, False)) == Cost(adds=5)
    print("ok")
""")


def test_registering_a_new_key_and_a_second_registration_of_a_key():
    """In a subprocess: a fresh module class registers and its subclass inherits it;
    registering the class, an op's backward or an op's forward again raises ValueError
    and keeps the first; an op's backward covers its in-place variant; a backward
    registered with ``inputs`` costs nothing, uncalled, where none of them needs a
    gradient."""
    done = subprocess.run([sys.executable, "-c", _REGISTER], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_every_registered_formula_lives_in_a_group_file_of_its_direction():
    forward = [f.fn for f in [*module_formulas_by_class().values(), *aten_formulas_by_packet().values()]]
    backward = [*module_backwards_by_class().values(), *op_backwards_by_packet().values()]
    assert forward and backward
    for fns, direction in ((forward, "forward"), (backward, "backward")):
        stray = sorted({f.__module__ for f in fns if not f.__module__.startswith(f"profiler.formulas.{direction}.")})
        assert not stray, f"{direction} formulas defined outside profiler/formulas/{direction}/: {stray}"


FORWARD = Path(registry.__file__).parent / "forward"
GROUP_FILES = sorted(p.stem for p in FORWARD.glob("*.py") if p.stem != "__init__")


def _literal_cases(group: str):
    """The test file of a forward group file, tests/formulas/forward/test_<group>.py,
    loaded apart (for its ``CASES`` and ``OPS``)."""
    name = f"_literal_cases_of_{group}"
    spec = importlib.util.spec_from_file_location(name, Path(__file__).parent / "forward" / f"test_{group}.py")
    module = sys.modules[name] = importlib.util.module_from_spec(spec)   # as an import would (dataclasses read it)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("group", GROUP_FILES)
def test_every_forward_formula_has_a_literal_case_in_the_test_file_of_its_group(group):
    """Every module class and op packet whose forward formula forward/<group>.py
    defines has a case in tests/formulas/forward/test_<group>.py, and no case there
    is counted by another file's formula."""
    cases = _literal_cases(group)
    assert_every_formula_has_a_case(getattr(cases, "CASES", []), getattr(cases, "OPS", []),
                                    f"profiler.formulas.forward.{group}")


def test_call_names_its_first_input_and_output():
    call = CallShapes(inputs=((2, 3), (4,)), outputs=((2, 5),))
    assert call.x == (2, 3) and call.out == (2, 5) and call.kwargs == {}
