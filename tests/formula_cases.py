"""The literal-case machinery the forward group tests (tests/formulas/forward/test_<group>.py)
share: a module case (``Case``: a module, its call, its expected cost written out as
literal arithmetic, optionally an independent tally) and an op case (``Op``: aten or
torchvision packets, their arguments, the expected cost), the checks each test runs
on them, and the coverage rule (checked for every group file by
tests/formulas/test_registry.py): every module class and op packet whose forward
formula a group file defines has a literal case in that group's test file.

Formulas are reached only through tests/formula_access.py.  A module case's CallShapes
is built by running the module on real tiny inputs, as the capture records it (the
shapes of the tensor leaves of the arguments and of the output); an op case runs
the op for real, on meta tensors (CPU tensors where its output shape depends on the
data or it has no meta kernel), and the formula gets what the capture hands it: the
output and the tensor arguments as shapes, everything else as given."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
import torch
import torchvision  # noqa: F401  (registers torch.ops.torchvision)
from torch import nn
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import FlopCounterMode

from formula_access import (CallShapes, aten_packets_defined_in, find_aten_formula, find_module_formula,
                            module_classes_defined_in, registered_class_of)

# --- module cases -----------------------------------------------------------------


@dataclass
class Case:
    id: str
    make: Callable[[], nn.Module]
    args: Callable[[], tuple]                  # the call's positional arguments
    expected: tuple[int, int, int, int]        # mults, adds, other, macs
    check: Callable | None = None              # independent tally: (module, args, output) -> Tally


def t(*shape):
    return torch.randn(*shape, dtype=torch.float64)


def pos(*shape):
    return torch.rand(*shape, dtype=torch.float64) + 0.5


def run(m: nn.Module, args: tuple):
    with torch.no_grad():
        out = m(*args)
    leaves = lambda tree: [x for x in tree_leaves(tree) if isinstance(x, torch.Tensor)]
    call = CallShapes(inputs=tuple(tuple(x.shape) for x in leaves(args)),
                outputs=tuple(tuple(x.shape) for x in leaves(out)), kwargs={})
    return call, out


def np_(x):
    return None if x is None else x.detach().double().numpy()


def close(values, expected):
    np.testing.assert_allclose(np.asarray(values, dtype=float), np_(expected), rtol=1e-9, atol=1e-12)


def _double(m: nn.Module) -> nn.Module:
    return m.double() if any(True for _ in m.parameters()) or any(True for _ in m.buffers()) else m


def flop_counter_macs(m, args, out):
    """The layer's MACs from torch's own FlopCounterMode: flops/2 for conv/matmul."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        m(*args)
    return counter.get_total_flops() // 2


def case_ids(cases: list[Case]) -> list[str]:
    return [c.id for c in cases]


def checked(cases: list[Case]) -> list[Case]:
    """The cases with an independent tally."""
    return [c for c in cases if c.check is not None]


def assert_module_literal_cost(case: Case):
    m = _double(case.make())
    call, out = run(m, case.args())
    formula = find_module_formula(m)
    assert formula is not None, case.id
    cost = formula.fn(m, call)
    assert (cost.mults, cost.adds, cost.other, cost.macs) == case.expected
    assert cost.flops == sum(case.expected[:3])


def assert_module_literal_equals_tally(case: Case):
    """The naive loop computes the module's output (values checked inside the
    check) and tallies the same mults, adds and other as the literal."""
    m = _double(case.make())
    args = case.args()
    _, out = run(m, args)
    tally = case.check(m, args, out)
    assert tally.as_tuple() == case.expected[:3]


def assert_module_macs_equal_flop_counter_half(case: Case):
    m = _double(case.make())
    assert flop_counter_macs(m, case.args(), None) == case.expected[3]


# --- op cases ---------------------------------------------------------------------

def M(*shape, dtype=torch.float32):
    """A meta tensor: shapes without data."""
    return torch.empty(*shape, device="meta", dtype=dtype)


def B(*shape):
    return M(*shape, dtype=torch.bool)


def L(*values):
    """A CPU long tensor of index values (meta has no values to index with)."""
    return torch.tensor(values, dtype=torch.long)


def LM(*shape):
    return M(*shape, dtype=torch.long)


def shapes(tree):
    if isinstance(tree, torch.Tensor):
        return tuple(tree.shape)
    if isinstance(tree, (tuple, list)):
        return type(tree)(shapes(x) for x in tree)
    if isinstance(tree, dict):
        return {k: shapes(v) for k, v in tree.items()}
    return tree


@dataclass
class Op:
    names: list[str]                 # packets sharing the call and the cost (in-place variants)
    args: Callable[[], tuple]        # fresh positional arguments for each run
    expected: tuple                  # mults, adds, other, macs
    kwargs: dict | None = None
    id: str = ""
    ns: str = "aten"
    xfail: str = ""                  # why an honest count disagrees with the formula


def cost_of(packet, args: tuple, kwargs: dict):
    out = packet(*args, **kwargs)
    formula = find_aten_formula(packet)
    assert formula is not None, packet
    return formula.fn(shapes(out), *shapes(args), **shapes(kwargs))


def unary(names, per_element, make=lambda: (M(2, 3),), kwargs=None, id=""):
    """An elementwise op on 6 elements (a (2, 3) tensor): 6 × its per-element cost."""
    m, a, o = per_element
    return Op(names, make, (6 * m, 6 * a, 6 * o, 0), kwargs, id)


def binary(names, per_element, kwargs=None, id=""):
    return unary(names, per_element, lambda: (M(2, 3), M(2, 3)), kwargs, id)


def boolean(names, unary_op=False):
    return unary(names, (0, 0, 1), (lambda: (B(2, 3),)) if unary_op else (lambda: (B(2, 3), B(2, 3))))


def op_params(ops: list[Op]):
    """One pytest param per (op case, packet name), ids ``name`` or ``name[id]``."""
    for op in ops:
        for name in op.names:
            marks = [pytest.mark.xfail(strict=True, reason=op.xfail)] if op.xfail else []
            yield pytest.param(op, name, id=f"{name}[{op.id}]" if op.id else name, marks=marks)


def flop_counted_params(ops: list[Op], names: list[str]):
    """The params of ``names`` in their plain (id-less) cases."""
    return [p for p in op_params(ops) if p.values[1] in names and not p.values[0].id]


def packet(op: Op, name: str):
    return getattr(getattr(torch.ops, op.ns), name)


def assert_op_literal_cost(op: Op, name: str):
    cost = cost_of(packet(op, name), op.args(), op.kwargs or {})
    assert (cost.mults, cost.adds, cost.other, cost.macs) == op.expected
    assert cost.flops == sum(op.expected[:3])


def assert_op_macs_equal_flop_counter_half(op: Op, name: str):
    """torch's FlopCounterMode on the same call: 2 flops per MAC."""
    with FlopCounterMode(display=False) as counter:
        packet(op, name)(*op.args(), **(op.kwargs or {}))
    assert counter.get_total_flops() == 2 * op.expected[3]


# --- coverage -----------------------------------------------------------------------

def assert_every_formula_has_a_case(cases: list[Case], ops: list[Op], group_module: str):
    """Every module class and op packet whose forward formula ``group_module`` defines
    has a case in ``cases`` or ``ops``, and every case's formula is one of them."""
    classes = module_classes_defined_in(group_module)
    covered = {registered_class_of(_double(c.make())) for c in cases}
    missing = [f"{k.__module__}.{k.__qualname__}" for k in classes if k not in covered]
    assert not missing, f"module formulas of {group_module} without a literal case: {missing}"
    stale = sorted(c.id for c in cases if registered_class_of(_double(c.make())) not in classes)
    assert not stale, f"cases whose formula is not in {group_module}: {stale}"
    packets = aten_packets_defined_in(group_module)
    covered = {packet(op, name) for op in ops for name in op.names}
    missing = sorted(str(p) for p in packets if p not in covered)
    assert not missing, f"op formulas of {group_module} without a literal case: {missing}"
    stale = sorted(str(p) for p in covered if p not in set(packets))
    assert not stale, f"op cases whose formula is not in {group_module}: {stale}"
