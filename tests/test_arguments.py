"""profiler.arguments: the checks that need no model and no torch (sizes from text, the batch and
what fits a tensor, tokens and decode, --config's NAME=VALUE, PROFILER_REAL_LIMIT_GB), each a
one-line ProfilerError naming the argument or the variable and the fix; importing it imports no torch."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from profiler.arguments import (INT64_MAX, REAL_LIMIT_DEFAULT_GB, check_batch, check_environment, check_input_fits,
                                check_positive, check_tokens, parse_config_overrides, parse_input_size,
                                parse_value, real_limit_bytes)
from profiler.errors import ProfilerError


def _message(call, *args, **kwargs) -> str:
    with pytest.raises(ProfilerError) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and "--" not in message, message
    return message


def test_the_module_imports_no_torch():
    code = ("import sys, profiler.arguments as a; a.parse_input_size('3x8'); a.check_environment(); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_parse_input_size_reads_text_and_names_its_argument():
    assert parse_input_size("3x224x224") == (3, 224, 224)
    assert parse_input_size("3X8") == (3, 8)
    assert _message(parse_input_size, "3x22a").startswith("input_size='3x22a': expected sizes like")
    assert _message(parse_input_size, "3x0", "window").startswith("window='3x0': every size must be positive")


def test_a_batch_is_a_positive_integer_a_tensor_can_hold():
    assert check_batch(8) == 8 and check_batch(INT64_MAX) == INT64_MAX
    for bad in (0, -1, True, 2.0, "2"):
        assert _message(check_batch, bad).startswith(f"batch={bad!r}: expected a positive integer")
    message = _message(check_batch, 10**30)
    assert message.startswith("batch=1000000000000000000000000000000: more than 2**63 - 1")
    assert message.endswith("give a smaller batch=")


def test_the_dummy_input_must_fit_a_tensor_in_elements_or_bytes():
    check_input_fits(2**20, (3, 224, 224))
    check_input_fits(1, (INT64_MAX,))                       # elements alone: the largest fits
    message = _message(check_input_fits, 1, (INT64_MAX,), 4)  # in bytes at float32 it does not
    assert message.startswith("batch=1 with input_size=9223372036854775807: the dummy input would hold")
    assert "bytes" in message and message.endswith("lower batch= or input_size=")
    message = _message(check_input_fits, 2**50, (3, 224, 224))
    assert "elements" in message and "2**63 - 1" in message


def test_tokens_and_decode_are_positive_make_the_inputs_and_fit_a_tensor():
    check_tokens(128, None)
    check_tokens(None, 4096)
    check_tokens(None, None, input_size_given=True)
    for bad in (0, -3, True, 1.5):
        assert _message(check_tokens, bad, None).startswith(f"tokens={bad!r}: expected a positive integer")
    assert _message(check_tokens, None, 10**20).startswith("decode=100000000000000000000: more than 2**63 - 1")
    for given in ("input_size_given", "inputs_given", "native"):
        message = _message(check_tokens, 8, None, **{given: True})
        assert message.startswith("tokens= makes the inputs") and message.endswith("pass one or the other")
    # 2**60 token ids are 2**63 bytes of int64
    assert _message(check_tokens, 2**60, None).endswith("lower tokens= or batch=")
    assert check_positive("runs", None) is None and check_positive("runs", 3) == 3


def test_config_overrides_are_name_value_pairs_with_typed_values():
    assert parse_config_overrides(["num_hidden_layers=2", "rope_theta=1e6", "tie_word_embeddings=true",
                                   "text_config.hidden_size=64", "rope_scaling=null", "name=x"]) == {
        "num_hidden_layers": 2, "rope_theta": 1e6, "tie_word_embeddings": True, "text_config.hidden_size": 64,
        "rope_scaling": None, "name": "x"}
    assert parse_config_overrides(None) == {}
    assert parse_value('[1, 2]') == [1, 2] and parse_value(' 3 ') == 3
    for bad in ("no_value", "=3", "2x=1", "a.b.c=1"):
        assert _message(parse_config_overrides, [bad]).startswith(f"config={bad!r}: expected NAME=VALUE")
    assert _message(parse_value, "[1,").startswith("config value '[1,' is not valid JSON")


def test_config_overrides_are_parsed_here_only():
    """One parser of NAME=VALUE: the hf config loader takes the parsed dict and keeps no copy of its own."""
    from profiler.models.hf import config
    assert not hasattr(config, "parse_config_overrides") and not hasattr(config, "parse_value")
    assert parse_config_overrides(["a=1", "b.c=x"]) == {"a": 1, "b.c": "x"} and parse_value("none") is None


def test_real_limit_is_a_positive_finite_number_of_gib_or_the_default():
    assert real_limit_bytes({}) == REAL_LIMIT_DEFAULT_GB << 30
    assert real_limit_bytes({"PROFILER_REAL_LIMIT_GB": ""}) == REAL_LIMIT_DEFAULT_GB << 30   # set to nothing
    assert real_limit_bytes({"PROFILER_REAL_LIMIT_GB": "0.5"}) == 1 << 29
    assert real_limit_bytes({"PROFILER_REAL_LIMIT_GB": " 8 "}) == 8 << 30
    for bad in ("abc", "nan", "-1", "0", "inf", "1e999"):
        message = _message(real_limit_bytes, {"PROFILER_REAL_LIMIT_GB": bad})
        assert message == (f"PROFILER_REAL_LIMIT_GB={bad!r}: expected a positive number of GiB, such as "
                           f"PROFILER_REAL_LIMIT_GB=8; unset it for the default ({REAL_LIMIT_DEFAULT_GB})")


def test_check_environment_reads_the_process_environment(monkeypatch):
    monkeypatch.setenv("PROFILER_REAL_LIMIT_GB", "abc")
    assert _message(check_environment).startswith("PROFILER_REAL_LIMIT_GB='abc'")
    monkeypatch.delenv("PROFILER_REAL_LIMIT_GB")
    check_environment()


def test_named_inputs_are_name_shape_and_an_optional_dtype():
    from profiler.arguments import check_made_sizes, parse_named_input, parse_named_inputs
    assert parse_named_input("pixel_values=1x3x336x336") == ("pixel_values", (1, 3, 336, 336), None)
    assert parse_named_input("input_ids=1x600:int64") == ("input_ids", (1, 600), "int64")
    assert parse_named_inputs(["a=2", "b=1x2:bool"]) == {"a": ((2,), None), "b": ((1, 2), "bool")}
    for bad, says in (("pixel_values", "expected NAME=SHAPE[:dtype]"), ("1x=2", "expected NAME=SHAPE"),
                      ("x=1x0", "every size must be positive"), ("x=1x2:int65", "unknown dtype 'int65'"),
                      ("x=ab", "expected sizes like")):
        with pytest.raises(ProfilerError, match=re.escape(says)):
            parse_named_inputs([bad])
    with pytest.raises(ProfilerError, match="'x' is given twice"):
        parse_named_inputs(["x=1", "x=2"])
    with pytest.raises(ProfilerError, match="more than a tensor can"):
        parse_named_inputs([f"x={INT64_MAX}x2"])
    check_made_sizes(224, 8, 2.5)
    for bad in (dict(image=0), dict(frames=-1), dict(seconds=0), dict(seconds=float("nan")), dict(seconds=True)):
        with pytest.raises(ProfilerError):
            check_made_sizes(**bad)
