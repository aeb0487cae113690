"""profiler.capture.marks: the marks a module call's ops leave, and the attention
pattern they advance (an activation matmul, a softmax, another activation matmul; or
one SDPA op)."""
from __future__ import annotations

from functools import reduce

import torch

from profiler.capture.marks import ACT_MATMUL, ATTENTION, SDPA, SOFTMAX, advance, op_mark, storage_key


def has_attention(marks: str) -> bool:
    """Whether a call whose ops left ``marks``, in order, holds the attention product."""
    return reduce(advance, marks, "") in ATTENTION


def test_attention_pattern():
    assert has_attention("MSM") and has_attention("PMSMP") and has_attention("A") and has_attention("LMLSMS")
    assert not has_attention("SMM") and not has_attention("MMS") and not has_attention("LSL")
    assert not has_attention("PSP") and not has_attention("")


def test_a_pattern_stays_once_it_holds_attention():
    for done in ATTENTION:
        for mark in (ACT_MATMUL, SOFTMAX, SDPA, "L", "P"):
            assert advance(done, mark) == done
    assert advance("MS", SDPA) == SDPA and advance("", SOFTMAX) == ""


def test_ops_leave_marks_by_their_kind_and_name():
    assert op_mark("_scaled_dot_product_flash_attention_for_cpu", "matmul") == SDPA
    assert op_mark("bmm", "matmul") == op_mark("addmm", "matmul") == ACT_MATMUL
    assert op_mark("_softmax", "activation") == op_mark("_safe_softmax", "activation") == SOFTMAX
    assert op_mark("relu", "activation") is None and op_mark("add", "elementwise") is None


def test_a_tensor_and_its_views_share_a_storage_key_on_every_device():
    for device in ("cpu", "meta"):
        w = torch.empty(4, 6, device=device)
        assert storage_key(w) == storage_key(w.t()) == storage_key(w[1:])
        assert storage_key(w) != storage_key(torch.empty(4, 6, device=device))
