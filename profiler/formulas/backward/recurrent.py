"""Backward of RNN, LSTM and GRU layers and cells (conventions in
``profiler.formulas.backward``; the forward, step by step: ``forward/recurrent.py``).
The gate order is PyTorch's: LSTM i, f, g, o; GRU r, z, n."""
from __future__ import annotations

from torch import nn

from profiler.formulas.backward.elementwise import elementwise_backward_cost
from profiler.formulas.cost import ZERO, Cost, dot_products, numel, per_element
from profiler.formulas.forward.recurrent import _GATES  # gates per mode, as the forward counts them
from profiler.formulas.registry import CallShapes, module_backward
from profiler.formulas.shapes import module_params_need, need


def gates_backward_cost(mode: str, units: int) -> Cost:
    """The pre-activation gradients of one step, from the gradient of its output
    state, for ``units`` hidden units (rows × H), with the forward's gate values
    saved (as autograd saves the outputs of sigmoid and tanh):
    * RNN: tanh's or relu's backward (``ELEMENTWISE_BACKWARD``);
    * LSTM (saved i, f, g, o, c, t = tanh(c')): g_o = g_h·t, g_t = g_h·o (2 mults);
      g_c' = g_c + g_t·(1 − t²) (tanh's backward, + the gradient c' gets as an
      output or from the next step: 1 add); g_i = g_c'·g, g_f = g_c'·c,
      g_g = g_c'·i (3 mults); three sigmoid backwards and one tanh backward:
        mults 15, adds 6 per unit;
    * GRU, h' = (1−z)·n + z·h (saved r, z, n, 1−z, hn = U_n·h + b_hn, h):
      g_n = g·(1−z) (1 mult), g_z = g·(h − n) (1 add, 1 mult), tanh's backward
      for n, g_hn = d_n·r and g_r = d_n·hn (2 mults), two sigmoid backwards:
        mults 10, adds 4 per unit.
    The gates' gradients are computed whole whenever any gradient is wanted."""
    if mode == "RNN_TANH":
        return elementwise_backward_cost("tanh", units)
    if mode == "RNN_RELU":
        return elementwise_backward_cost("relu", units)
    if mode == "LSTM":
        return (per_element(units, mults=5, adds=1) + elementwise_backward_cost("sigmoid", 3 * units)
                + elementwise_backward_cost("tanh", 2 * units))
    return (per_element(units, mults=4, adds=1) + elementwise_backward_cost("sigmoid", 2 * units)
            + elementwise_backward_cost("tanh", units))


def state_backward_cost(mode: str, units: int, state: int, gates: int) -> Cost:
    """The gradient of a step's incoming state for ``units`` (rows × H) hidden
    units: h via U (``state`` = rows × state width dot products of the ``gates``
    width G·H); GRU adds its direct path g·z (1 mult, and 1 add to the product
    with U, per unit)."""
    cost = dot_products(state, gates)
    if mode == "GRU":
        cost += per_element(units, mults=1, adds=1)
    return cost


def cell_backward_cost(mode: str, rows: int, in_width: int, hidden: int, need_x: bool,
                       need_h: bool, need_c: bool, need_w_ih: bool, need_w_hh: bool,
                       need_b_ih: bool, need_b_hh: bool) -> Cost:
    """One step (RNNCell, LSTMCell, GRUCell) over R rows, input width I, state
    width H, gate width G·H, from the gradients of its outputs (h', and c' for
    LSTM: the loss depends on both):
    the gates' gradients (``gates_backward_cost``), then as the two linears they
    came from: grad x: R·I dot products of G·H terms; grad h: R·H of G·H terms
    (``state_backward_cost``); grad c (LSTM): R·H mults; grad W_ih = Σ_rows d·x:
    G·H·I dot products of R terms; grad W_hh: G·H·H of R terms; each bias:
    (R−1)·G·H additions."""
    if not (need_x or need_h or need_c or need_w_ih or need_w_hh or need_b_ih or need_b_hh):
        return ZERO
    gh, units = _GATES[mode] * hidden, rows * hidden
    cost = gates_backward_cost(mode, units)
    if need_x:
        cost += dot_products(rows * in_width, gh)
    if need_h:
        cost += state_backward_cost(mode, units, units, gh)
    if need_c and mode == "LSTM":
        cost += Cost(mults=units)
    if need_w_ih:
        cost += dot_products(gh * in_width, rows)
    if need_w_hh:
        cost += dot_products(gh * hidden, rows)
    return cost + Cost(adds=(rows - 1) * gh * (int(need_b_ih) + int(need_b_hh)))


def direction_backward_cost(mode: str, pairs: int, seqs: int, in_width: int, hidden: int,
                            proj: int, need_in: bool, need_h0: bool, need_c0: bool,
                            params: tuple[bool, ...]) -> Cost:
    """One layer and direction of a stacked RNN/LSTM/GRU over P (time step,
    sequence) pairs of ``seqs`` sequences, input width I, hidden H, state width
    S = proj or H, ``params`` = which of (W_ih, W_hh, b_ih, b_hh, W_hr) want a
    gradient.  The layer is its steps' cells, with what their chaining adds:
    * every step's gates (``gates_backward_cost``) over P·H units;
    * the state gradient of every step but the first (whose h0, c0 get one only
      if they require grad): (P − N + N·[h0])·S dot products of G·H terms, GRU's
      direct path, LSTM's (P − N + N·[c0])·H mults;
    * grad x: P·I dot products of G·H terms, when the input wants one;
    * each h_t's gradient sums two parts, the output's (the layer above, or the
      loss) and the next step's (the last step's: h_n's, an output too): P·S
      additions.  (LSTM's c_t sum is in ``gates_backward_cost``);
    * with a projection h = W_hr·m: grad m = W_hrᵀ·g: P·H dot products of S
      terms; grad W_hr: S·H dot products of P terms;
    * a weight is shared by every step, and its gradient is summed over all P
      pairs at once, as conv sums its weight's over positions: G·H·I (W_ih) and
      G·H·S (W_hh) dot products of P terms; each bias P−1 additions per element.
    Nothing when no gradient is wanted: no input, state or parameter requires grad."""
    if not (need_in or need_h0 or need_c0 or any(params)):
        return ZERO
    need_w_ih, need_w_hh, need_b_ih, need_b_hh, need_w_hr = params
    state = proj or hidden
    gh = _GATES[mode] * hidden
    cost = gates_backward_cost(mode, pairs * hidden)
    states = pairs - seqs + seqs * int(need_h0)
    if states:
        cost += state_backward_cost(mode, states * hidden, states * state, gh)
    if mode == "LSTM":
        cost += Cost(mults=(pairs - seqs + seqs * int(need_c0)) * hidden)
    if need_in:
        cost += dot_products(pairs * in_width, gh)
    cost += Cost(adds=pairs * state)
    if proj:
        cost += dot_products(pairs * hidden, proj)
        if need_w_hr:
            cost += dot_products(proj * hidden, pairs)
    if need_w_ih:
        cost += dot_products(gh * in_width, pairs)
    if need_w_hh:
        cost += dot_products(gh * state, pairs)
    return cost + Cost(adds=(pairs - 1) * gh * (int(need_b_ih) + int(need_b_hh)))


def rnn_backward_cost(mode: str, pairs: int, seqs: int, input_size: int, hidden: int, proj: int,
                      layers: int, dirs: int, need_x: bool, need_h0: bool, need_c0: bool,
                      params: list[list[tuple[bool, ...]]], dropout: bool = False) -> Cost:
    """A stacked, optionally bidirectional RNN/LSTM/GRU (``direction_backward_cost``
    per layer and direction; ``params[layer][direction]``).  Layer l > 0 reads the
    previous layer's output, which wants a gradient when anything below it does.
    A bidirectional layer's input is read by both directions: its gradient sums
    theirs, P·I additions.  Dropout between layers in training: the kept
    gradients times 1/(1−p), 1 mult per element of each lower layer's output."""
    state = proj or hidden
    need_in, cost = need_x, ZERO
    for layer in range(layers):
        width = input_size if layer == 0 else dirs * state
        for k in range(dirs):
            cost += direction_backward_cost(mode, pairs, seqs, width, hidden, proj, need_in, need_h0,
                                            need_c0, params[layer][k])
        if need_in and dirs == 2:
            cost += Cost(adds=pairs * width)
        wants = [need_in or need_h0 or need_c0 or any(params[layer][k]) for k in range(dirs)]
        need_in = any(wants)
        if dropout and need_in and layer < layers - 1:
            cost += Cost(mults=pairs * dirs * state)
    return cost


def _state_needs(needs, lstm: bool) -> tuple[bool, bool]:
    """(h0, c0) want a gradient: the tensors after the input are h0 (and c0) when
    given, or a PackedSequence's integer tensors, which never require grad."""
    tail = tuple(needs[1:])
    if lstm:
        return len(tail) >= 2 and bool(tail[-2]), len(tail) >= 1 and bool(tail[-1])
    return any(tail), False


@module_backward(nn.RNNBase)
def rnn_module_backward(m: nn.RNNBase, call: CallShapes, needs) -> Cost:
    """P (time step, sequence) pairs as the forward reads them (L·N, or Σ lengths
    for a PackedSequence); N sequences from the last output, h_n or c_n, of shape
    (layers·dirs, N, ·), or (layers·dirs, ·) unbatched."""
    pairs = numel(call.x) // m.input_size
    last = call.outputs[-1]
    seqs = last[1] if len(last) == 3 else 1
    dirs = 2 if m.bidirectional else 1
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")
    params = [[tuple(getattr(m, f"{n}_l{layer}{'_reverse' if k else ''}", None) is not None
                     and getattr(m, f"{n}_l{layer}{'_reverse' if k else ''}").requires_grad for n in names)
               for k in range(dirs)] for layer in range(m.num_layers)]
    need_h0, need_c0 = _state_needs(needs, m.mode == "LSTM")
    dropout = m.training and m.dropout > 0 and m.num_layers > 1
    return rnn_backward_cost(m.mode, pairs, seqs, m.input_size, m.hidden_size, getattr(m, "proj_size", 0),
                             m.num_layers, dirs, need(needs, 0), need_h0, need_c0, params, dropout)


@module_backward(nn.RNNCellBase)
def rnn_cell_module_backward(m: nn.RNNCellBase, call: CallShapes, needs) -> Cost:
    if isinstance(m, nn.LSTMCell):
        mode = "LSTM"
    elif isinstance(m, nn.GRUCell):
        mode = "GRU"
    else:
        mode = "RNN_RELU" if getattr(m, "nonlinearity", "tanh") == "relu" else "RNN_TANH"
    need_h, need_c = _state_needs(needs, mode == "LSTM")
    return cell_backward_cost(mode, numel(call.x) // m.input_size, m.input_size, m.hidden_size,
                              need(needs, 0), need_h, need_c,
                              *module_params_need(m, "weight_ih", "weight_hh", "bias_ih", "bias_hh"))
