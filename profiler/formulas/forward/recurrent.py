"""RNN, LSTM and GRU layers and cells, step by step.

Every time step of every layer and direction costs the gate pre-activations
(G·H dot products over the input of width I and over the hidden state of width
Hh, summed: 1 add; each bias adds 1) plus the gate arithmetic below.  G is 1 for
RNN, 4 for LSTM and 3 for GRU.  Sigmoid is 1 add, 1 exp and 1 division; tanh 1 op.
No backward formula yet (no ``backward/recurrent.py``).
"""
from __future__ import annotations

from torch import nn

from profiler.formulas.cost import Cost, dot_products, numel, per_element
from profiler.formulas.forward.elementwise import elementwise_cost
from profiler.formulas.registry import CallShapes, module_formula

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def step_cost(mode: str, rows: int, in_width: int, hidden: int, state_width: int,
              bias: bool, proj: int = 0) -> Cost:
    """One step over ``rows`` sequences (batch rows) of one layer and direction.
    * RNN: h' = act(W·x + b + U·h + b'): + H activations (tanh or relu: 1 op);
    * LSTM: i, f, o sigmoids, g tanh; c' = f·c + i·g (2 mults, 1 add);
      h' = o·tanh(c') (1 mult, 1 tanh); with proj_size P, h' = W_hr·h' (P·H MACs);
    * GRU: r, z sigmoids; n = tanh(W_n·x + b + r·(U_n·h + b')) (1 more mult);
      h' = (1−z)·n + z·h (2 mults, 2 adds).
    """
    gates = _GATES[mode] * hidden * rows
    cost = dot_products(gates, in_width, bias) + dot_products(gates, state_width, bias)
    cost += Cost(adds=gates)  # input part + hidden part
    h = hidden * rows
    if mode.startswith("RNN"):
        cost += per_element(h, other=1)
    elif mode == "LSTM":
        cost += elementwise_cost("sigmoid", 3 * h) + elementwise_cost("tanh", 2 * h)
        cost += per_element(h, mults=3, adds=1)
        if proj:
            cost += dot_products(proj * rows, hidden)
    else:  # GRU
        cost += elementwise_cost("sigmoid", 2 * h) + elementwise_cost("tanh", h)
        cost += per_element(h, mults=3, adds=2)
    return cost


@module_formula(nn.RNNBase, kind="recurrent")
def rnn_module(m: nn.RNNBase, call: CallShapes) -> Cost:
    """A stacked, optionally bidirectional RNN/LSTM/GRU.  The number of
    (time step, sequence) pairs is read off the input: L·N for a padded
    sequence, Σ lengths for a PackedSequence.  Layer l > 0 reads the previous
    layer's output, of width dirs·(proj_size or H)."""
    steps = numel(call.x) // m.input_size
    dirs = 2 if m.bidirectional else 1
    proj = getattr(m, "proj_size", 0)
    state = proj or m.hidden_size
    cost = Cost()
    for layer in range(m.num_layers):
        width = m.input_size if layer == 0 else dirs * state
        cost += step_cost(m.mode, steps, width, m.hidden_size, state, m.bias, proj).times(dirs)
    return cost


_CELL_MODES = {nn.RNNCell: None, nn.LSTMCell: "LSTM", nn.GRUCell: "GRU"}


@module_formula(nn.RNNCellBase, kind="recurrent")
def rnn_cell_module(m: nn.RNNCellBase, call: CallShapes) -> Cost:
    """One step of an RNNCell, LSTMCell or GRUCell."""
    mode = next((_CELL_MODES[c] for c in type(m).__mro__ if c in _CELL_MODES), None)
    if mode is None:
        mode = "RNN_RELU" if getattr(m, "nonlinearity", "tanh") == "relu" else "RNN_TANH"
    rows = numel(call.x) // m.input_size
    return step_cost(mode, rows, m.input_size, m.hidden_size, m.hidden_size, m.bias)
