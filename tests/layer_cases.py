"""The layer cases of the forward formula tests, shared: the group tests
(tests/formulas/forward/test_<group>.py) parametrise their independent counts with
these lists, and tests/test_dtypes.py profiles every case again at other dtypes, so
that a case added here is covered there too (a new list needs an adapter there).

Each list is one parametrisation axis, its tuples in the argument order of the
test that uses it (named beside it).  Module instances in a list are shared by
those tests, which copy or reinitialise them as they need."""
from __future__ import annotations

import torch
from torch import nn

# --- pooling: forward/test_pool.py ------------------------------------------------------

# test_max_pool_counts_window_minus_one_comparisons_over_whole_windows: cls, shape, kwargs
MAX_POOLS = [
    (nn.MaxPool1d, (2, 3, 9), dict(kernel_size=3, stride=2, padding=1, dilation=2)),
    (nn.MaxPool1d, (1, 2, 8), dict(kernel_size=3, stride=2, ceil_mode=True)),  # last window overhangs
    (nn.MaxPool2d, (1, 2, 7, 6), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0))),
    (nn.MaxPool2d, (2, 7, 7), dict(kernel_size=3, stride=2, padding=1, dilation=(1, 2), ceil_mode=True)),
    (nn.MaxPool3d, (1, 2, 5, 4, 5), dict(kernel_size=2, stride=(1, 2, 2), padding=1, ceil_mode=True)),
]


# test_avg_pool_counts_window_minus_one_adds_and_one_mult_per_output: cls, shape, kwargs
AVG_POOLS = [
    (nn.AvgPool1d, (2, 3, 9), dict(kernel_size=3, stride=2, padding=1)),
    (nn.AvgPool1d, (1, 2, 8), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    (nn.AvgPool2d, (1, 2, 7, 6), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0))),
    (nn.AvgPool2d, (1, 2, 7, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    (nn.AvgPool2d, (1, 2, 6, 5), dict(kernel_size=2, padding=1, count_include_pad=False, divisor_override=3)),
    (nn.AvgPool3d, (1, 2, 5, 4, 5), dict(kernel_size=2, stride=(1, 2, 2), padding=1,
                                         count_include_pad=False, ceil_mode=True)),
]


# test_adaptive_pool_counts_pytorchs_exact_uneven_windows: cls, shape, size
ADAPTIVE = [
    (nn.AdaptiveAvgPool1d, (2, 3, 10), 4),
    (nn.AdaptiveMaxPool1d, (2, 3, 10), 4),
    (nn.AdaptiveAvgPool1d, (2, 5), 7),              # more outputs than inputs: windows overlap
    (nn.AdaptiveAvgPool2d, (1, 2, 7, 5), (3, 2)),
    (nn.AdaptiveMaxPool2d, (1, 2, 7, 5), (3, 4)),
    (nn.AdaptiveAvgPool2d, (2, 11, 6), (5, None)),  # unbatched; None keeps the size
    (nn.AdaptiveAvgPool3d, (1, 2, 5, 3, 7), (2, 2, 3)),
    (nn.AdaptiveMaxPool3d, (1, 1, 4, 5, 6), (3, 2, 4)),
]


# --- normalisation: forward/test_norm.py -------------------------------------------------

# test_stored_statistics_cost_one_mult_and_one_add_per_element: norm, shape
STORED_STATS = [
    (nn.BatchNorm1d(3), (4, 3)),
    (nn.BatchNorm1d(3, affine=False), (2, 3, 5)),
    (nn.BatchNorm2d(4), (2, 4, 3, 3)),
    (nn.BatchNorm3d(2), (1, 2, 3, 2, 3)),
    (nn.InstanceNorm2d(3, affine=True, track_running_stats=True), (2, 3, 4, 4)),
]



def _channel(idx):
    return idx[1]


# test_statistics_from_the_input_follow_the_step_by_step_count: norm, shape, group_of, channel_of
COMPUTED_STATS = [
    # module, input shape, group of an element index, channel of the affine
    (nn.LayerNorm(6), (2, 3, 6), lambda i: i[:-1], lambda i: i[-1]),
    (nn.LayerNorm((3, 4), elementwise_affine=False), (2, 3, 4), lambda i: i[0], None),
    (nn.LayerNorm((3, 4), bias=False), (2, 3, 4), lambda i: i[0], lambda i: i[1:]),
    (nn.GroupNorm(2, 4), (2, 4, 3, 2), lambda i: (i[0], i[1] // 2), _channel),
    (nn.GroupNorm(3, 3, affine=False), (1, 3, 5), lambda i: (i[0], i[1]), None),
    (nn.InstanceNorm1d(3), (2, 3, 5), lambda i: i[:2], None),
    (nn.InstanceNorm2d(2, affine=True), (2, 2, 3, 3), lambda i: i[:2], _channel),
    (nn.InstanceNorm3d(2), (1, 2, 2, 3, 2), lambda i: i[:2], None),
    (nn.BatchNorm2d(3, track_running_stats=False), (2, 3, 2, 3), _channel, _channel),
]


# test_rms_norm_follows_the_step_by_step_count: affine
RMS_AFFINE = [True, False]

# --- softmax: forward/test_activation.py --------------------------------------------------

# test_softmax_and_log_softmax_follow_the_step_by_step_count: module, shape, dim, log, negate
SOFTMAXES = [
    (nn.Softmax(dim=1), (2, 5, 3), 1, False, False),
    (nn.Softmax(dim=-1), (4, 6), -1, False, False),
    (nn.Softmax2d(), (2, 3, 2, 2), 1, False, False),
    (nn.Softmin(dim=0), (3, 4), 0, False, True),   # softmax(−x): the negation is free
    (nn.LogSoftmax(dim=1), (2, 5, 3), 1, True, False),
    (nn.LogSoftmax(dim=-1), (7,), -1, True, False),
]

# --- multi-head attention: forward/test_attention.py -------------------------------------

# test_multihead_attention_matches_its_explicit_steps_and_flop_counter: ctor, batched, masks, call
MHA_CASES = [
    # constructor kwargs, batched?, masks given, call kwargs
    (dict(), True, (), dict()),
    (dict(batch_first=True), True, (), dict(need_weights=False)),
    (dict(batch_first=True, kdim=5, vdim=3), True, ("attn",), dict()),
    (dict(), True, ("key_padding",), dict(average_attn_weights=False)),
    (dict(batch_first=True), True, ("attn", "key_padding"), dict(need_weights=False)),
    (dict(add_bias_kv=True, add_zero_attn=True), True, ("attn",), dict()),
    (dict(bias=False, kdim=6, vdim=6), False, (), dict()),
    (dict(batch_first=True), False, ("key_padding",), dict(average_attn_weights=False)),
]



def mha_inputs(m, batched: bool, masks, tgt=3, src=5, batch=2):
    def seq(length, width):
        shape = ((batch, length, width) if m.batch_first else (length, batch, width)) if batched \
            else (length, width)
        return torch.randn(shape)
    q, k, v = seq(tgt, m.embed_dim), seq(src, m.kdim), seq(src, m.vdim)
    kwargs = {}
    if "attn" in masks:
        kwargs["attn_mask"] = torch.randn(tgt, src)
    if "key_padding" in masks:
        pad = torch.zeros((batch, src) if batched else (src,), dtype=torch.bool)
        pad[..., -1] = True
        kwargs["key_padding_mask"] = pad
    return (q, k, v), kwargs



# --- recurrent: forward/test_recurrent.py ------------------------------------------------

# test_recurrent_layers_match_a_naive_step_loop_and_flop_counter: cls, kwargs
RNNS = [
    (nn.RNN, dict()),
    (nn.RNN, dict(nonlinearity="relu", num_layers=2, bias=False)),
    (nn.LSTM, dict()),
    (nn.LSTM, dict(num_layers=2, bidirectional=True)),
    (nn.LSTM, dict(proj_size=2, num_layers=2, bidirectional=True)),
    (nn.GRU, dict(num_layers=2)),
    (nn.GRU, dict(bidirectional=True, bias=False)),
]


# test_recurrent_cells_match_one_naive_step: cls, and shape
CELLS = [nn.RNNCell, nn.LSTMCell, nn.GRUCell]
CELL_SHAPES = [(2, 3), (3,)]

# --- convolution: forward/test_conv.py ---------------------------------------------------

CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
CONV_T = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}

# test_conv_matches_a_naive_loop_that_counts_its_products_and_sums: dims, ..., kwargs, and bias
CONV_CASES = [
    # dims, batch, c_in, c_out, size, kwargs
    (1, 2, 4, 6, (9,), dict(kernel_size=3, stride=2, padding=1, dilation=2, groups=2)),
    (1, 1, 3, 2, (5,), dict(kernel_size=5, padding=2, padding_mode="circular")),
    (2, 1, 4, 4, (7, 6), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)),
    (2, 2, 3, 3, (5, 5), dict(kernel_size=3, padding=1, groups=3)),  # depthwise
    (2, 1, 2, 3, (5, 4), dict(kernel_size=3, padding=1, padding_mode="reflect")),
    (2, 1, 2, 2, (6, 6), dict(kernel_size=2, stride=3)),  # stride skips input pixels
    (3, 1, 2, 2, (4, 5, 4), dict(kernel_size=2, stride=(1, 2, 1), padding=1)),
    (3, 1, 4, 2, (3, 4, 5), dict(kernel_size=(1, 2, 3), dilation=(1, 2, 1), groups=2, padding=(0, 1, 1),
                                 padding_mode="replicate")),
]


# test_transposed_conv_matches_a_naive_scatter_that_counts_its_products_and_sums: the same
CONV_T_CASES = [
    # stride 3 > kernel 2 leaves gaps that only output_padding's border and bias touch
    (1, 2, 4, 6, (5,), dict(kernel_size=2, stride=3, padding=2, output_padding=2, groups=2)),
    (1, 1, 2, 3, (4,), dict(kernel_size=3, stride=1, padding=3, dilation=2)),  # padding crops products
    (2, 1, 2, 4, (3, 4), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), output_padding=(1, 0),
                              dilation=(1, 2), groups=2)),
    (2, 1, 3, 3, (3, 3), dict(kernel_size=3, stride=2, padding=1, output_padding=1, groups=3)),
    (3, 1, 2, 2, (2, 3, 2), dict(kernel_size=2, stride=2, padding=1, output_padding=1)),
    (3, 1, 2, 4, (2, 2, 3), dict(kernel_size=(2, 1, 3), stride=(1, 3, 2), dilation=(2, 1, 1),
                                 output_padding=(1, 2, 0), groups=2)),
]


# --- linear: forward/test_linear.py ------------------------------------------------------

# test_linear_matches_a_naive_loop_over_all_leading_dimensions: shape, and bias
LINEAR_SHAPES = [(5,), (3, 5), (2, 3, 5), (2, 1, 2, 5)]

# the bias axis of the conv, transposed conv and linear tests
BIASES = [True, False]
