"""profiler.formulas.forward.recurrent: RNN, LSTM (projections included) and GRU
layers, stacked and bidirectional, and their cells.  Literal arithmetic for one
small call of each, and naive step loops that tally their own arithmetic
(tests/bruteforce.py, values checked against torch) with the MACs against
FlopCounterMode; a packed sequence counts only its real time steps."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import bruteforce as bf
from formula_cases import (Case, assert_module_literal_cost, assert_module_literal_equals_tally, case_ids, checked,
                           close, np_, t)
from layer_cases import CELL_SHAPES, CELLS, RNNS


# --- literal cases: independent tallies ---------------------------------------------

def _rnn_params(m, suffix="", proj=False):
    get = lambda name: np_(getattr(m, name + suffix, None))
    return {"w_ih": get("weight_ih"), "w_hh": get("weight_hh"), "b_ih": get("bias_ih"),
            "b_hh": get("bias_hh"), "w_hr": get("weight_hr") if proj else None}


def recurrent_check(m, args, out):
    layers = [[_rnn_params(m, f"_l{layer}{'_reverse' * k}") for k in range(1 + m.bidirectional)]
              for layer in range(m.num_layers)]
    values, tally = bf.recurrent(m.mode, np_(args[0]), layers)
    close(values, out[0])
    return tally


def cell_check(mode):
    def check(m, args, out):
        values, tally = bf.recurrent(mode, np_(args[0])[None], [[_rnn_params(m)]])
        close(values[0], out[0] if isinstance(out, tuple) else out)
        return tally
    return check


# expected = (mults, adds, other, macs); a dot product of K terms is K mults and
# K − 1 adds (+1 add for a bias), its K mults are also its MACs.

CASES: list[Case] = [
    # --- recurrent: per step, G·H dot products over x and over h (+bias each), their sum, gates
    Case("RNN", lambda: nn.RNN(3, 2), lambda: (t(4, 1, 3),),
         # 4 steps × 2: dots of 3 (+b) and of 2 (+b): 8·3 + 8·2 mults; 8·3 + 8·2 + 8 adds; 8 tanh
         (8 * 3 + 8 * 2, 8 * 3 + 8 * 2 + 8, 8, 8 * 3 + 8 * 2), recurrent_check),
    Case("LSTM", lambda: nn.LSTM(2, 2), lambda: (t(3, 1, 2),),
         # 3 steps: 24 gate values, dots of 2 (+b) twice: 96 mults, 96 adds, +24 adds;
         # 6 hidden values × (3 sigmoids: 3 adds, 6 other; 2 tanh; c, h: 3 mults, 1 add)
         (96 + 6 * 3, 96 + 24 + 6 * (3 + 1), 6 * (6 + 2), 96), recurrent_check),
    Case("GRU", lambda: nn.GRU(2, 2), lambda: (t(3, 1, 2),),
         # 3 steps: 18 gate values, dots of 2 (+b) twice: 72, 72, +18 adds;
         # 6 hidden × (2 sigmoids: 2 adds, 4 other; 1 tanh; r·, (1−z)·n + z·h: 3 mults, 2 adds)
         (72 + 6 * 3, 72 + 18 + 6 * (2 + 2), 6 * (4 + 1), 72), recurrent_check),
    Case("RNNCell", lambda: nn.RNNCell(3, 2), lambda: (t(1, 3),),
         (2 * 3 + 2 * 2, 2 * 3 + 2 * 2 + 2, 2, 10), cell_check("RNN_TANH")),
    Case("LSTMCell", lambda: nn.LSTMCell(2, 2), lambda: (t(1, 2),),
         # 8 gate values: 32 mults, 32 adds, +8; 2 hidden × (3 sigmoids, 2 tanh, 3 mults, 1 add)
         (32 + 2 * 3, 32 + 8 + 2 * (3 + 1), 2 * (6 + 2), 32), cell_check("LSTM")),
    Case("GRUCell", lambda: nn.GRUCell(2, 2), lambda: (t(1, 2),),
         (24 + 2 * 3, 24 + 6 + 2 * (2 + 2), 2 * (4 + 1), 24), cell_check("GRU")),
]


# --- the module cases' tests --------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_module_literal_cost(case: Case):
    assert_module_literal_cost(case)


@pytest.mark.parametrize("case", checked(CASES), ids=case_ids(checked(CASES)))
def test_module_literal_cost_equals_an_independent_tally(case: Case):
    """The naive loop computes the module's output (values checked inside the
    check) and tallies the same mults, adds and other as the literal."""
    assert_module_literal_equals_tally(case)


# --- naive step loops and FlopCounterMode ----------------------------------------------------

def _layer_params(m: nn.RNNBase) -> list[list[dict]]:
    layers = []
    for layer in range(m.num_layers):
        directions = []
        for suffix in ["", "_reverse"][:1 + m.bidirectional]:
            get = lambda name: bf.numpy_of(getattr(m, f"{name}_l{layer}{suffix}", None))
            directions.append(dict(w_ih=get("weight_ih"), w_hh=get("weight_hh"), b_ih=get("bias_ih"),
                                   b_hh=get("bias_hh"), w_hr=get("weight_hr")))
        layers.append(directions)
    return layers


def _flop_counter_macs_of_rnn(m: nn.Module, x: torch.Tensor) -> int:
    # oneDNN's fused RNN kernels are invisible to FlopCounterMode; without them the
    # CPU path runs one addmm/mm per gate block and step
    with torch.backends.mkldnn.flags(enabled=False), FlopCounterMode(display=False) as counter:
        m(x)
    return counter.get_total_flops() // 2


@pytest.mark.parametrize("cls,kwargs", RNNS)
def test_recurrent_layers_match_a_naive_step_loop_and_flop_counter(layer_cost, cls, kwargs):
    torch.manual_seed(0)
    m = cls(3, 4, **kwargs).double()
    x = torch.randn(3, 2, 3, dtype=torch.float64)  # length 3, batch 2
    out, tally = bf.recurrent(m.mode, bf.numpy_of(x), _layer_params(m))
    bf.assert_same(out, m(x)[0])

    steps = x.shape[0] * x.shape[1]
    weights = sum(p.numel() for name, p in m.named_parameters() if name.startswith("weight"))
    macs = steps * weights  # every weight multiplies once per (step, sequence)
    bf.assert_counts(layer_cost(m, x), tally, macs)
    assert _flop_counter_macs_of_rnn(m.float(), x.float()) == macs


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize("shape", CELL_SHAPES)
def test_recurrent_cells_match_one_naive_step(layer_cost, cls, shape):
    torch.manual_seed(0)
    m = cls(3, 4).double()
    x = torch.randn(shape, dtype=torch.float64)
    mode = {nn.RNNCell: "RNN_TANH", nn.LSTMCell: "LSTM", nn.GRUCell: "GRU"}[cls]
    p = dict(w_ih=bf.numpy_of(m.weight_ih), w_hh=bf.numpy_of(m.weight_hh), b_ih=bf.numpy_of(m.bias_ih), b_hh=bf.numpy_of(m.bias_hh))
    rows = x.reshape(-1, 3)
    t = bf.Tally()
    outs = []
    for row in bf.numpy_of(rows):
        h, _ = bf.recurrent_step(mode, [t.num(v) for v in row], [t.num(0.0)] * 4, [t.num(0.0)] * 4, p)
        outs.append([v.v for v in h])
    expected = m(x)
    expected = expected[0] if isinstance(expected, tuple) else expected
    bf.assert_same(np.reshape(outs, expected.shape), expected)
    bf.assert_counts(layer_cost(m, x), t, rows.shape[0] * (m.weight_ih.numel() + m.weight_hh.numel()))


def test_packed_sequence_counts_only_the_real_time_steps(layer_cost):
    torch.manual_seed(0)
    m = nn.LSTM(3, 4).double()
    lengths = [3, 1]
    x = torch.randn(3, 2, 3, dtype=torch.float64)
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths)
    tally = bf.Tally()
    for n, length in enumerate(lengths):  # each sequence alone, over its own length
        _, t = bf.recurrent("LSTM", bf.numpy_of(x[:length, n:n + 1]), _layer_params(m))
        tally.mults, tally.adds, tally.other = (a + b for a, b in zip(tally.as_tuple(), t.as_tuple()))
    macs = sum(lengths) * (m.weight_ih_l0.numel() + m.weight_hh_l0.numel())
    bf.assert_counts(layer_cost(m, packed), tally, macs)
