"""Library errors name the Python argument (``depth=``, ``input_size=``), never a CLI
flag (the CLI rewords them into its flags: tests/cli/test_flags.py)."""
from __future__ import annotations

import pytest

from profiler.errors import ProfilerError


@pytest.fixture(scope="module")
def layers():
    import profiler
    return profiler.profile("alexnet_homework").layers


def _message(call, *args, **kwargs) -> str:
    with pytest.raises(ProfilerError) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert "--" not in message, message
    return message


def test_view_errors_name_depth_top_and_sort(layers):
    from profiler.report.grouping import view
    assert _message(view, layers, depth=-1).startswith("depth=-1:")
    assert _message(view, layers, top=0).startswith("top=0:")
    assert _message(view, layers, sort="flops").startswith("sort='flops':")


def test_size_device_and_config_errors_name_their_argument():
    from profiler.arguments import parse_input_size
    from profiler.measure.roofline import parse_device
    from profiler.arguments import parse_config_overrides
    assert _message(parse_input_size, "3x22a").startswith("input_size='3x22a':")
    assert _message(parse_input_size, "0x224x224").startswith("input_size='0x224x224':")
    assert _message(parse_device, "tpu9").startswith("device='tpu9':")
    assert _message(parse_config_overrides, ["no_value"]).startswith("config='no_value':")


def test_compare_names_input_sizes():
    from profiler.compare import compare
    assert "input_sizes='3xbig'" in _message(compare, ["alexnet_homework"], input_sizes=["3xbig"])


def test_a_check_of_a_transformers_model_names_tokens_not_flags():
    from profiler.check import check
    message = _message(check, "hf:llama", input_size=(8,), config={"num_hidden_layers": 1})
    assert "tokens= (or decode=) instead of input_size=" in message
