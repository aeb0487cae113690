"""profiler.capture.record: Capture records every module call of one forward, in
the order the calls start, with its name, depth, input and output shapes and
bytes; the dispatch mode charges each aten op to the innermost running module
unless a module with a formula above it counts it; failures leave the failing
call on the stack; and every module is put back as it was."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from profiler.capture.record import Capture, CallRecord, OpRecord, grads_of


class Block(nn.Module):
    """A linear layer, then exp and a residual add of its own."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return torch.exp(self.fc(x)) + x


def _meta(build):
    with torch.device("meta"):
        return build()


class Nested(nn.Module):
    """Takes a nested structure and gives one back."""

    def forward(self, tree):
        a, (b, _) = tree["x"]
        return {"doubled": a * 2, "rest": (b, 7, torch.Size([5]))}


def test_a_calls_shapes_and_bytes_are_those_of_the_tensors_in_its_nested_arguments_and_output():
    a, b = torch.empty(2, 3, device="meta"), torch.empty(4, dtype=torch.float16, device="meta")
    model = Nested()
    with Capture(model) as capture:
        model({"x": [a, (b, 7)], "y": "text", "size": torch.Size([5])})   # a size holds ints, not tensors
    (call,) = capture.calls
    assert call.inputs == call.outputs == ((2, 3), (4,))
    assert call.in_bytes == call.out_bytes == 2 * 3 * 4 + 4 * 2 and call.out_elems == 2 * 3 + 4


def test_grads_of_a_nested_structure():
    a, b = torch.empty(2, 3), torch.empty(4, dtype=torch.float16, requires_grad=True)
    tree = {"x": [a, (b, 7)], "y": "text"}
    with torch.enable_grad():
        assert grads_of(tree) == (False, True)
    with torch.no_grad():
        assert grads_of(tree) == (False, False)


def test_every_call_is_recorded_in_order_with_names_depths_shapes_and_bytes():
    model = _meta(lambda: nn.Sequential(Block(), nn.ReLU(), Block()))
    x = torch.empty(2, 4, device="meta")
    with Capture(model) as capture:
        model(x)
    names = [call.name for call in capture.calls]
    assert names == ["", "0", "0.fc", "1", "2", "2.fc"]
    assert [call.depth for call in capture.calls] == [0, 1, 2, 1, 1, 2]
    assert all(call.finished and call.inputs == ((2, 4),) and call.outputs == ((2, 4),) for call in capture.calls)
    assert all(call.in_bytes == call.out_bytes == 2 * 4 * 4 and call.out_elems == 8 for call in capture.calls)
    assert capture.failed_call is None and capture.stack == []
    assert [type(m) for _, m in capture.modules] == [type(m) for m in model.modules()]


def test_ops_are_charged_to_the_innermost_module_without_a_formula():
    model = _meta(Block)
    with Capture(model) as capture:
        model(torch.empty(2, 4, device="meta"))
    block, fc = capture.calls
    assert fc.formula is not None and fc.formula.kind == "linear" and fc.ops == {}   # its formula counts it
    assert block.formula is None and block.ops == {"exp": 1, "add": 1}
    n = 2 * 4
    assert (block.op_cost.mults, block.op_cost.adds, block.op_cost.other) == (0, n, n)   # one add, one exp each
    assert block.op_elems == 2 * n and block.op_bytes == 2 * n * 4
    assert block.op_in_bytes == 3 * n * 4                     # exp reads one tensor, add two
    assert block.uncounted_ops == {} and not block.absorbed


class LinearThenTanh(nn.Linear):
    """nn.Linear's formula (found along the class's MRO) accounts for the Tanh child too."""

    def __init__(self):
        super().__init__(4, 4)
        self.act = nn.Tanh()

    def forward(self, x, scale=1.0):
        return self.act(super().forward(x) * scale)


def test_calls_inside_a_module_with_a_formula_are_absorbed():
    model = _meta(LinearThenTanh)
    with Capture(model) as capture:
        model(torch.empty(1, 3, 4, device="meta"), scale=2.0)
    outer, inner = capture.calls
    assert outer.formula is not None and outer.formula.kind == "linear" and outer.counts_inside
    assert not outer.absorbed and outer.ops == {}               # its mul is the formula's business
    assert outer.kwargs == {"scale": 2.0}
    assert inner.name == "act" and inner.absorbed and inner.counts_inside and inner.ops == {}


def test_record_ops_keeps_each_ops_shapes_and_which_arguments_need_grad():
    model = _meta(Block)
    x = torch.empty(2, 4, device="meta")
    with torch.enable_grad(), Capture(model, record_ops=True) as capture:
        model(x)
    block = capture.calls[0]
    assert block.input_grads == (False,)
    names = [r.func.overloadpacket.__name__ for r in block.op_records]
    assert names[0] == "exp" and names[-1] == "add"             # every op, autograd's detach between them too
    add = block.op_records[-1]
    assert isinstance(add, OpRecord) and add.args == ((2, 4), (2, 4)) and add.out == (2, 4)
    assert add.needs == (True, False)                          # exp(fc(x)) needs grad, x does not


def test_a_failing_call_stays_on_the_stack_and_modules_are_put_back():
    model = _meta(lambda: nn.Sequential(nn.Linear(4, 4), nn.Linear(5, 4)))
    own = _meta(lambda: nn.Linear(4, 4))
    model[0].forward = own.forward                          # a forward bound in the module's __dict__
    before = [dict(m.__dict__) for m in model.modules()]
    capture = Capture(model)
    with pytest.raises(RuntimeError), capture:
        model(torch.empty(1, 4, device="meta"))
    failed = capture.failed_call
    assert isinstance(failed, CallRecord) and failed.name == "1" and not failed.finished
    assert "CallRecord('1', Linear" in repr(failed)
    assert [dict(m.__dict__) for m in model.modules()] == before
    assert model[0].__dict__["forward"] == own.forward and "forward" not in model[1].__dict__


def test_a_module_called_twice_gives_two_records():
    relu = nn.ReLU()
    model = _meta(lambda: nn.Linear(4, 4))

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.act = model, relu

        def forward(self, x):
            return self.act(self.fc(self.act(x)))

    twice = Twice()
    with Capture(twice) as capture:
        twice(torch.empty(3, 4, device="meta"))
    assert [call.name for call in capture.calls] == ["", "act", "fc", "act"]
