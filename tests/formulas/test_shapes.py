"""profiler.formulas.shapes: reading the arguments aten passes formulas (tensors
arrive as shapes; an int or a one-element list stands for every spatial dimension;
some ops return several outputs), padding='same', and which gradients a call
wants, each on hand-picked inputs; ``same_padding`` also against torch's own
padding='same' convolution."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from profiler.formulas.shapes import dim_size, first_output, is_shape, module_params_need, need, per_dim, same_padding


def test_is_shape_tells_a_shape_from_other_arguments():
    assert is_shape((2, 3)) and is_shape(())
    assert not is_shape([2, 3]) and not is_shape(2) and not is_shape(None) and not is_shape((2, 0.5))
    assert not is_shape(((2, 3), (2, 3)))   # several outputs


def test_first_output_of_one_or_several():
    assert first_output((2, 3)) == (2, 3)
    assert first_output(((2, 3), (2,))) == (2, 3)
    assert first_output(()) == ()


def test_dim_size_counts_a_0d_tensor_as_one_element():
    assert dim_size((2, 3, 4), -1) == 4 and dim_size((2, 3, 4), 1) == 3 and dim_size((), 0) == 1


@pytest.mark.parametrize("value,d,expected", [
    (2, 3, (2, 2, 2)), ([2], 2, (2, 2)), ((3, 1), 2, (3, 1)), ([1, 2, 3], 3, (1, 2, 3)),
])
def test_per_dim_repeats_a_single_value(value, d, expected):
    assert per_dim(value, d) == expected


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
@pytest.mark.parametrize("kernel,dilation", [((3, 3), (1, 1)), ((5, 3), (2, 1)), ((3, 2), (2, 2)), ((2, 4), (1, 1))])
def test_same_padding_is_what_torchs_same_convolution_pads_in_front(kernel, dilation):
    """padding='same' pads d·(k − 1) in all per dimension, the odd one at the end:
    padding the front by same_padding and the end by the rest gives its output."""
    x, w = torch.randn(1, 1, 7, 8), torch.randn(1, 1, *kernel)
    front = same_padding(kernel, dilation)
    ends = [(p, d * (k - 1) - p) for p, k, d in zip(front, kernel, dilation)]
    padded = F.pad(x, [n for pair in reversed(ends) for n in pair])   # F.pad lists the last dim first
    torch.testing.assert_close(F.conv2d(padded, w, dilation=dilation),
                               F.conv2d(x, w, padding="same", dilation=dilation))


def test_need_reads_one_flag_per_input_and_defaults_to_no():
    assert need((True, False), 0) and not need((True, False), 1) and not need((True,), 3) and not need((), 0)


def test_module_params_need_reads_existence_and_requires_grad():
    m = nn.Linear(3, 2, bias=False)
    assert module_params_need(m, "weight", "bias") == (True, False)
    m.weight.requires_grad_(False)
    assert module_params_need(m, "weight", "bias", "nothing") == (False, False, False)
