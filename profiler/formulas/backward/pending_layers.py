"""Backward formulas of the layers that had none: RNN/LSTM/GRU layers and cells,
Bilinear, EmbeddingBag, LocalResponseNorm, LPPool, FractionalMaxPool.  Pure cost
functions from shapes and which gradients are wanted (conventions in
``profiler.formulas.backward``).  Temporary home: each function moves to the
backward file of its forward's kind and is registered there."""
from __future__ import annotations

from profiler.formulas.backward.elementwise import pointwise_backward_cost
from profiler.formulas.backward.pool import avg_pool_backward_cost, max_pool_backward_cost
from profiler.formulas.cost import ZERO, Cost, Shape, dot_products, numel, per_element

# --- dense layers and table lookups (forward: forward/linear.py) -------------------


def bilinear_backward_cost(rows: int, in1: int, in2: int, out: int, need_x1: bool, need_x2: bool,
                           need_w: bool, need_b: bool) -> Cost:
    """y_k = x1ᵀ·A_k·x2 + b_k over R rows, A of shape (out, in1, in2).  Each
    gradient is a three-way product summed in two steps, the pair that does not
    hold the result's free index first:
    grad x1_i = Σ_j (Σ_k g_k·A_kij)·x2_j: R·in1·in2 dot products of out terms,
        then R·in1 of in2 terms;
    grad x2_j = Σ_k (Σ_i x1_i·A_kij)·g_k: R·out·in2 dot products of in1 terms
        (the forward's u_kj, not saved by autograd, computed again), then R·in2
        of out terms;
    grad A_kij = Σ_rows (x1_i·g_k)·x2_j: R·out·in1 products, then out·in1·in2
        dot products of R terms;
    grad b = Σ_rows g: (R−1)·out additions."""
    cost = ZERO
    if need_x1:
        cost += dot_products(rows * in1 * in2, out) + dot_products(rows * in1, in2)
    if need_x2:
        cost += dot_products(rows * out * in2, in1) + dot_products(rows * in2, out)
    if need_w:
        cost += Cost(mults=rows * out * in1) + dot_products(out * in1 * in2, rows)
    if need_b:
        cost += Cost(adds=(rows - 1) * out)
    return cost


def embedding_bag_backward_cost(n: int, bags: int, width: int, mode: str, weighted: bool,
                                need_w: bool, need_psw: bool) -> Cost:
    """EmbeddingBag over B bags holding n looked-up rows of width D in all.  The
    table's gradient: each looked-up row receives its bag's gradient, routed
    (sum), taken at the saved argmax (max), times 1/size once per bag (mean: B·D
    mults), or times its per-sample weight (n·D mults).  Rows looked up more than
    once sum their gradients; how often depends on the indices and, as for
    nn.Embedding, those additions are not counted.  The per-sample weights'
    gradient: Σ_d g_bag,d·E_row,d, n dot products of D terms."""
    cost = ZERO
    if need_w:
        if mode == "mean":
            cost += Cost(mults=bags * width)
        if weighted:
            cost += Cost(mults=n * width)
    if weighted and need_psw:
        cost += dot_products(n, width)
    return cost


# --- normalisation (forward: forward/norm.py) ---------------------------------------


def lrn_backward_cost(n: int, size: int, need_x: bool) -> Cost:
    """b = a / d, d = s^β, s = k + α/n·Σ_window a² (channel windows of ``size``),
    with a, s and d saved (the operands of the forward's division and power):
    ∂b_c/∂a_j = δ_cj/d_c − 2αβ/n·a_j·b_c/s_c for j in c's window, so
        grad a_j = q_j − (2αβ/n)·a_j·Σ_{c ∋ j} q_c·a_c/s_c,   q = g/d.
    Per element: q (1 division), q·a (1 mult), /s (1 division), the window sum
    over ``size`` channels (size−1 additions; windows padded with zeros at the
    channel edges count as full, as in the forward), ×(2αβ/n) and ×a_j (2 mults),
    + q_j (1 addition):  mults 3, adds size, other 2."""
    return per_element(n, mults=3, adds=size, other=2) if need_x else ZERO


# --- pooling (forward: forward/pool.py) ---------------------------------------------


def lp_pool_backward_cost(x: Shape, out: Shape, kernel, stride) -> Cost:
    """Power-average y = S^(1/p), S = Σ_window x^p, with S and y saved:
    ∂y/∂x_i = y·x_i^(p−1)/S (the constants p and 1/p cancel).  Per output:
    t = g·y/S (1 mult, 1 division); per window element: x_i^(p−1) (1 pow,
    ``other``; autograd saves x, not x^(p−1)) and t·x_i^(p−1) (1 mult), whole
    windows as in the forward; then spread back as avg-pool's gradient is: an input
    reached by m windows needs m−1 additions."""
    window, n_out = numel(kernel), numel(out)
    spread = avg_pool_backward_cost(x, out, kernel, stride, (0,) * len(kernel))
    return Cost(mults=n_out * (window + 1), adds=spread.adds, other=n_out * (window + 1))


def fractional_windows_overlap(n_in, n_out, kernel) -> bool:
    """Whether FractionalMaxPool's windows may share inputs.  Along a dimension
    the windows start at ⌊(i+u)·a⌋ − ⌊u·a⌋ with a = (in − k)/(out − 1) and u a
    random sample, the last at in − k; consecutive starts differ by ⌊a⌋ or ⌈a⌉,
    and ⌊a⌋ occurs for some u whenever a is not an integer.  So windows may
    overlap iff out > 1 and ⌊a⌋ < k along some dimension."""
    return any(o > 1 and (i - k) // (o - 1) < k for i, o, k in zip(n_in, n_out, kernel))


def fractional_max_pool_backward_cost(x: Shape, out: Shape, kernel) -> Cost:
    """As max pooling: each output gradient goes to its saved argmax, no
    arithmetic; where windows may overlap (``fractional_windows_overlap``), the
    data-dependent sums at shared argmaxes are counted at their upper bound, 1
    addition per output."""
    d = len(kernel)
    return max_pool_backward_cost(numel(out), fractional_windows_overlap(x[-d:], out[-d:], kernel))


# --- recurrent (forward: forward/recurrent.py) --------------------------------------

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def gates_backward_cost(mode: str, units: int) -> Cost:
    """The pre-activation gradients of one step, from the gradient of its output
    state, for ``units`` hidden units (rows × H), with the forward's gate values
    saved (as autograd saves the outputs of sigmoid and tanh):
    * RNN: tanh's or relu's backward (``POINTWISE_BACKWARD``);
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
        return pointwise_backward_cost("tanh", units)
    if mode == "RNN_RELU":
        return pointwise_backward_cost("relu", units)
    if mode == "LSTM":
        return (per_element(units, mults=5, adds=1) + pointwise_backward_cost("sigmoid", 3 * units)
                + pointwise_backward_cost("tanh", 2 * units))
    return (per_element(units, mults=4, adds=1) + pointwise_backward_cost("sigmoid", 2 * units)
            + pointwise_backward_cost("tanh", units))


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
