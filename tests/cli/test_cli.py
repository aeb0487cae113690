"""profiler.cli (main): every error of the `profiler` command is one line `profiler: error: ...`
on stderr, exit code 2, no traceback: bad user code, absurd input sizes, a full disk on stdout
or on an output file, a closed pipe; PROFILER_TRACEBACK=1 shows the traceback instead.  And
--help, --version, the subcommands the parser holds, warnings as one line each."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import warnings

import pytest

from profiler.cli import COMMANDS, Parser, build_parser, main, version

USER = textwrap.dedent("""
    from torch import nn

    def make(width):                       # a builder that needs an argument
        return nn.Linear(width, width)

    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            raise ValueError("no weights here\\nsecond line of the message")

        def forward(self, x):
            return x
""")

has_dev_full = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PROFILER_TRACEBACK"}
    return {**env, **extra}


def run_cli(*argv: str, stdout=subprocess.PIPE, **env: str) -> subprocess.CompletedProcess:
    """`python -m profiler ARGV` in a fresh process."""
    return subprocess.run([sys.executable, "-m", "profiler", *argv], stdout=stdout,
                          stderr=subprocess.PIPE, text=True, timeout=180, env=_env(**env))


def assert_one_line_error(result_or_code, err: str | None = None, *fragments: str) -> str:
    if isinstance(result_or_code, subprocess.CompletedProcess):
        code, err = result_or_code.returncode, result_or_code.stderr
    else:
        code = result_or_code
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("profiler: error: "), err
    assert code == 2, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def user_file(tmp_path):
    path = tmp_path / "user.py"
    path.write_text(USER)
    return path


def test_a_builder_that_needs_arguments(user_file):
    line = assert_one_line_error(run_cli("profile", f"{user_file}:make"), None,
                                 "TypeError", "make()", "width")
    assert "second line" not in line


def test_a_model_class_whose_constructor_raises(user_file):
    line = assert_one_line_error(run_cli("profile", f"{user_file}:Broken"), None,
                                 "ValueError: no weights here")
    assert "second line" not in line


def test_an_input_too_large_for_any_count():
    assert_one_line_error(run_cli("profile", "alexnet", "--input", "3x99999999x99999999"))


@has_dev_full
def test_stdout_on_a_full_disk_is_one_line_not_a_traceback():
    """The table is larger than stdout's buffer: the error comes while printing it."""
    with open("/dev/full", "w") as full:
        result = run_cli("profile", "alexnet_homework", stdout=full)
    assert_one_line_error(result, None, "cannot write to standard output", "No space left on device")


@has_dev_full
@pytest.mark.parametrize("argv", [["list"], ["--help"], ["profile", "--help"]])
def test_stdout_on_a_full_disk_when_flushing_at_the_end(argv):
    """A short output stays in the buffer until the end: flushing it fails there."""
    with open("/dev/full", "w") as full:
        result = run_cli(*argv, stdout=full)
    assert_one_line_error(result, None, "cannot write to standard output")


@has_dev_full
def test_an_output_file_on_a_full_disk_through_the_installed_script():
    script = os.path.join(os.path.dirname(sys.executable), "profiler")
    if not os.path.exists(script):
        pytest.skip("the `profiler` script is not installed next to this Python")
    result = subprocess.run([script, "profile", "alexnet_homework", "--csv", "/dev/full"],
                            capture_output=True, text=True, timeout=180, env=_env())
    line = assert_one_line_error(result)
    assert line == "profiler: error: cannot write '/dev/full': No space left on device"
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_a_closed_pipe_still_ends_quietly_with_141():
    proc = subprocess.Popen([sys.executable, "-m", "profiler", "profile", "alexnet_homework"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=180) == 141
    assert err == ""


def test_profiler_traceback_shows_the_full_traceback(user_file):
    result = run_cli("profile", f"{user_file}:Broken", PROFILER_TRACEBACK="1")
    assert result.returncode == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert "second line of the message" in result.stderr and "user.py" in result.stderr


def test_help_names_profiler_traceback():
    result = run_cli("--help")
    assert result.returncode == 0 and "PROFILER_TRACEBACK=1" in result.stdout


def _assert_one_line_error(code: int, err: str, *fragments: str):
    assert code == 2
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("profiler: error: "), err
    for fragment in fragments:
        assert fragment in lines[0]


def test_help_answers_without_torch_and_shows_examples():
    result = subprocess.run([sys.executable, "-m", "profiler", "--help"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0
    assert "examples:" in result.stdout and "profiler profile alexnet" in result.stdout


def test_an_error_end_to_end_in_a_fresh_process_has_no_traceback():
    result = subprocess.run([sys.executable, "-m", "profiler", "profile", "resnet5"], capture_output=True,
                            text=True, timeout=120)
    _assert_one_line_error(result.returncode, result.stderr, "resnet50")


def test_a_closed_pipe_ends_quietly_without_a_traceback():
    """`profiler profile alexnet | head -0`: the reader is gone before the table is printed."""
    proc = subprocess.Popen([sys.executable, "-m", "profiler", "profile", "alexnet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipe" not in err


# in-process: the catch-all and the exit codes of main() itself

@pytest.fixture
def cli(capsys, monkeypatch):
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)  # main() replaces it
    monkeypatch.delenv("PROFILER_TRACEBACK", raising=False)

    def run(*argv: str) -> tuple[int, str, str]:
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err
    return run


def _raise(exc: BaseException):
    def run(args):
        print("partial output")
        raise exc
    return run


@pytest.mark.parametrize("exc,expected", [
    (RuntimeError("first line\nsecond line"), "profiler: error: RuntimeError: first line"),
    (OverflowError("Python int too large to convert to C long"),
     "profiler: error: OverflowError: Python int too large to convert to C long"),
    (KeyError("x"), "profiler: error: KeyError: 'x'"),
    (AssertionError(), "profiler: error: AssertionError"),
    (OSError(5, "Input/output error"), "profiler: error: OSError: [Errno 5] Input/output error"),
])
def test_any_unexpected_exception_is_one_line_with_its_type(cli, monkeypatch, exc, expected):
    from profiler.cli import list as list_command
    monkeypatch.setattr(list_command, "run", _raise(exc))
    code, out, err = cli("list")
    assert_one_line_error(code, err)
    assert err.strip() == expected


def test_keyboard_interrupt_is_still_130(cli, monkeypatch):
    from profiler.cli import list as list_command
    monkeypatch.setattr(list_command, "run", _raise(KeyboardInterrupt()))
    code, _, err = cli("list")
    assert code == 130 and err == "profiler: interrupted\n"


def test_main_leaves_sys_stdout_as_it_found_it(cli):
    before = sys.stdout
    code, _, _ = cli("list")
    assert code == 0 and sys.stdout is before


def test_version_is_the_installed_packages():
    from importlib.metadata import version as installed
    assert version() == installed("profiler")


def test_version_flag_prints_it_and_exits_0(cli):
    code, out, err = cli("--version")
    assert code == 0 and out == f"profiler {version()}\n" and err == ""


def test_the_parser_holds_every_command_and_its_usage_errors_are_one_line(capsys):
    parser = build_parser()
    [commands] = [a for a in parser._actions if a.dest == "command"]
    assert set(commands.choices) == set(COMMANDS)
    with pytest.raises(SystemExit) as info:
        Parser(prog="x").error("bad thing")
    assert info.value.code == 2 and capsys.readouterr().err == "profiler: error: bad thing\n"


def test_a_warning_in_a_command_is_printed_plainly_on_stderr(cli, monkeypatch):
    from profiler.cli import list as list_command

    def run(args):
        warnings.warn("careful", UserWarning)
        return 0
    monkeypatch.setattr(list_command, "run", run)
    code, out, err = cli("list")
    assert code == 0 and out == "" and err == "warning: careful\n"   # no file, line or category
