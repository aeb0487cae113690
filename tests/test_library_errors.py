"""Library errors name the Python argument (``depth=``, ``input_size=``), never a CLI
flag; the CLI rewords them into its flags (profiler.cli.flags)."""
from __future__ import annotations

import pytest

from profiler.cli.flags import in_flags
from profiler.errors import ProfilerError


@pytest.fixture(scope="module")
def layers():
    import profiler
    return profiler.profile("alexnet_paper").layers


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
    from profiler.capture.inputs import parse_input_size
    from profiler.measure.roofline import parse_device
    from profiler.models.hub import parse_config_overrides
    assert _message(parse_input_size, "3x22a").startswith("input_size='3x22a':")
    assert _message(parse_input_size, "0x224x224").startswith("input_size='0x224x224':")
    assert _message(parse_device, "tpu9").startswith("device='tpu9':")
    assert _message(parse_config_overrides, ["no_value"]).startswith("config='no_value':")


def test_compare_names_input_sizes():
    from profiler.compare import compare
    assert "input_sizes='3xbig'" in _message(compare, ["alexnet_paper"], input_sizes=["3xbig"])


def test_a_check_of_a_transformers_model_names_tokens_not_flags():
    from profiler.check import check
    message = _message(check, "hf:llama", input_size=(8,), config={"num_hidden_layers": 1})
    assert "tokens= (or decode=) instead of input_size=" in message


def test_the_cli_rewords_arguments_into_its_flags():
    assert in_flags("depth=-1: expected 0 or more") == "--depth -1: expected 0 or more"
    assert in_flags("give tokens= (or decode=) instead of input_size=") == "give --tokens (or --decode) instead of --input"
    assert in_flags("batch=0: expected a positive integer, such as batch=8") == \
        "--batch 0: expected a positive integer, such as --batch 8"
    assert in_flags("classifier: give the window (window=(C, H, W))") == "classifier: give the window (--window CxHxW)"
    assert in_flags("num_hidden_layers=2; inputs= is given") == "num_hidden_layers=2; inputs= is given"


@pytest.mark.parametrize("argv,flag", [(["--depth", "-1"], "--depth"), (["--top", "0"], "--top"),
                                       (["--input", "3x22a"], "--input '3x22a'"),
                                       (["--device", "tpu9"], "--device 'tpu9'")])
def test_cli_errors_speak_of_flags(cli, argv, flag):
    code, _, err = cli("profile", "alexnet_paper", *argv)
    assert code == 2 and err.startswith("profiler: error:") and flag in err, err
