"""profiler.formulas.forward.fft: _fft_c2c, _fft_r2c and _fft_c2r as literal
arithmetic for one small call of each (the radix-2 count: a line of n, a power of
two, is n/2·log₂ n butterflies of 4 mults and 6 adds; normalization 1 mult per real
output).  The independent count, a radix-2 FFT written with self-counting scalars:
tests/formulas/forward/test_counted_ops.py."""
from __future__ import annotations

import pytest
import torch

from formula_cases import M, Op, assert_op_literal_cost, op_params


C = torch.complex64
LINES = 2 * (8 // 2) * 3        # 2 lines of 8: 4 butterflies a stage, 3 stages each


OPS: list[Op] = [
    Op(["_fft_c2c"], lambda: (M(2, 8, dtype=C), [1], 0, True), (4 * LINES, 6 * LINES, 0, 0)),
    # normalization 2 (by 1/n): the 16 complex outputs' 32 reals scaled
    Op(["_fft_c2c"], lambda: (M(2, 8, dtype=C), [1], 2, False), (4 * LINES + 32, 6 * LINES, 0, 0), id="norm"),
    # both dims of (4, 8): 8 lines of 4 (2 butterflies × 2 stages) and 4 lines of 8
    Op(["_fft_c2c"], lambda: (M(4, 8, dtype=C), [0, 1], 0, True),
       (4 * (8 * 2 * 2 + 4 * 4 * 3), 6 * (8 * 2 * 2 + 4 * 4 * 3), 0, 0), id="2d"),
    # real input counted as complex of the same length; by 1/√n: 2·5 complex outputs, 20 reals
    Op(["_fft_r2c"], lambda: (M(2, 8), [1], 0, True), (4 * LINES, 6 * LINES, 0, 0)),
    Op(["_fft_r2c"], lambda: (M(2, 8), [1], 1, True), (4 * LINES + 20, 6 * LINES, 0, 0), id="norm"),
    # onesided (2, 5) to real (2, 8): the full lines of 8; by 1/n: 16 real outputs
    Op(["_fft_c2r"], lambda: (M(2, 5, dtype=C), [1], 2, 8), (4 * LINES + 16, 6 * LINES, 0, 0)),
]


@pytest.mark.parametrize("op,name", list(op_params(OPS)))
def test_op_literal_cost(op: Op, name: str):
    assert_op_literal_cost(op, name)
