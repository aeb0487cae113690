"""profiler.errors: ProfilerError, the error meant for the user (exported as
profiler.ProfilerError, importable without torch), and first_line, the one-line
form of any exception's message."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import profiler
from profiler.errors import ProfilerError, first_line


def test_first_line_is_the_type_and_the_first_line_with_text():
    assert first_line(ValueError("\n  no weights here  \nsecond")) == "ValueError: no weights here"
    assert first_line(ValueError("a\nb"), typed=False) == "a"
    assert first_line(KeyError()) == "KeyError"


def test_first_line_of_a_message_with_no_text_is_the_type_alone_or_nothing():
    assert first_line(RuntimeError("   \n\t\n")) == "RuntimeError"
    assert first_line(RuntimeError("   \n\t\n"), typed=False) == ""
    assert first_line(ProfilerError("model: expected a model name")) == "ProfilerError: model: expected a model name"


def test_first_line_of_a_real_multi_line_torch_error_is_one_line_of_it():
    with pytest.raises(RuntimeError) as info:
        torch.ones(2, 3) @ torch.ones(4, 5)
    full = str(info.value)
    line = first_line(info.value, typed=False)
    assert "\n" not in line and line and line in full
    assert first_line(info.value) == f"RuntimeError: {line}"


def test_profiler_error_is_an_exception_exported_at_the_top_level():
    assert issubclass(ProfilerError, Exception)
    assert profiler.ProfilerError is ProfilerError
    with pytest.raises(ProfilerError, match="^bad input$"):
        raise ProfilerError("bad input")


def test_profile_raises_profiler_error_for_a_bad_model_argument():
    with pytest.raises(ProfilerError, match="expected a model name or an nn.Module, got int"):
        profiler.profile(42)


def test_the_errors_module_imports_no_torch():
    code = "import sys, profiler.errors; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
