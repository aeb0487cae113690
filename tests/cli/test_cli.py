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


# --- a bad argument is refused before torch is imported ------------------------------

NET_SOURCE = "from torch import nn\n\n\ndef build_net():\n    return nn.Linear(4, 2)\n"


def _refused_without_torch(argv: list[str], cwd, **env: str) -> tuple[int, str, bool]:
    """main(argv) in a fresh interpreter: (exit code, stderr, whether torch was imported)."""
    code = ("import sys\nfrom profiler.cli import main\nrc = main(sys.argv[1:])\n"
            "print('torch' in sys.modules, rc)")
    result = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120,
                            cwd=cwd, env=_env(**env))
    imported, rc = result.stdout.split()
    return int(rc), result.stderr, imported == "True"


@pytest.mark.parametrize("argv,env,fragments", [
    (["profile", "alexnet", "--input", "3x22a"], {}, ["--input '3x22a'"]),
    (["profile", "alexnet", "--window", "3xa", "--fully-conv", "--input", "3x400x400"], {}, ["--window '3xa'"]),
    (["profile", "alexnet", "--batch", "0"], {}, ["--batch 0"]),
    (["profile", "alexnet", "--batch", str(10**30)], {}, ["--batch", "2**63 - 1"]),
    (["profile", "alexnet", "--batch", str(2**50), "--input", "3x224x224"], {}, ["lower --batch or --input"]),
    (["profile", "hf:llama", "--config", "=3"], {}, ["--config '=3'", "NAME=VALUE"]),
    (["profile", "hf:llama", "--tokens", "0"], {}, ["--tokens 0"]),
    (["profile", "hf:llama", "--tokens", "8", "--input", "8"], {}, ["--tokens makes the inputs, and --input is given"]),
    (["check", "hf:llama", "--decode", "8", "--input", "native"], {}, ["and --input native is given"]),
    (["profile", "alexnet", "--depth", "-1"], {}, ["--depth"]),
    (["profile", "alexnet", "--top", "0"], {}, ["--top"]),
    (["profile", "alexnet", "--runs", "3"], {}, ["--runs goes with --measure"]),
    (["profile", "alexnet", "--measure", "--device", "tpu9"], {}, ["--device 'tpu9'"]),
    (["profile", "alexnet", "--fold-bn", "--training"], {}, ["--fold-bn needs an eval-mode model"]),
    (["profile", "alexnet", "--fully-conv"], {}, ["--fully-conv needs --input"]),
    (["profile", "alexnet"], {"PROFILER_REAL_LIMIT_GB": "abc"}, ["PROFILER_REAL_LIMIT_GB='abc'", "positive"]),
    (["profile", "net.py:build_net", "--csv", "net.py"], {}, ["(--csv): it is the model's source file"]),
    (["profile", "alexnet", "--csv", "out/x", "--md", "out/../out/x"], {}, ["(--md): it is the same file as --csv"]),
    (["compare", "alexnet", "--input", "3x22a"], {}, ["--input '3x22a'"]),
    (["compare", "alexnet", "--batch", "1", "--batch", "-2"], {}, ["--batch -2"]),
    (["compare", "hf:llama", "--decode", "0"], {}, ["--decode 0"]),
    (["compare"], {}, ["give one or more model names, or --all"]),
    (["compare", "alexnet", "--csv", "a.csv", "--md", "a.csv"], {}, ["(--md): it is the same file as --csv"]),
    (["check", "alexnet", "--input", "3x22a"], {}, ["--input '3x22a'"]),
    (["check", "hf:llama", "--config", "hidden_size"], {}, ["--config 'hidden_size'"]),
    (["check", "alexnet"], {"PROFILER_REAL_LIMIT_GB": "-1"}, ["PROFILER_REAL_LIMIT_GB='-1'"]),
])
def test_a_bad_argument_is_refused_before_torch_is_imported(tmp_path, argv, env, fragments):
    """Every check that needs no model runs first, so that a bad argument is refused at
    once (the benchmark times it: benchmarks/run.py), for every subcommand."""
    (tmp_path / "net.py").write_text(NET_SOURCE)
    code, err, imported = _refused_without_torch(argv, tmp_path, **env)
    assert_one_line_error(code, err, *fragments)
    assert not imported, "torch was imported before the argument was refused"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.py"]   # nothing written, no probe left
    assert (tmp_path / "net.py").read_text() == NET_SOURCE


def test_an_output_the_kernel_refuses_is_refused_before_torch(tmp_path):
    """/sys takes no new file, whoever asks (root too, for whom access() says yes)."""
    if not os.path.isdir("/sys") or os.access("/sys", os.W_OK) and _creatable("/sys"):
        pytest.skip("no /sys that refuses a new file here")
    code, err, imported = _refused_without_torch(["profile", "alexnet", "--csv", "/sys/x.csv"], tmp_path)
    assert_one_line_error(code, err, "cannot write '/sys/x.csv' (--csv)", "nothing was profiled")
    assert not imported


def _creatable(folder: str) -> bool:
    try:
        os.close(os.open(os.path.join(folder, ".probe"), os.O_WRONLY | os.O_CREAT | os.O_EXCL))
    except OSError:
        return False
    os.unlink(os.path.join(folder, ".probe"))
    return True


# --- package.module:attr from the current folder ---------------------------------------


def test_a_module_in_the_current_folder_resolves_from_the_installed_script(tmp_path):
    """`profiler profile mynet:build_net` finds mynet.py in the current folder, as
    `python -m profiler` does: main() puts the current folder first on sys.path."""
    script = os.path.join(os.path.dirname(sys.executable), "profiler")
    if not os.path.exists(script):
        pytest.skip("the `profiler` script is not installed next to this Python")
    (tmp_path / "mynet.py").write_text(NET_SOURCE)
    for command in ([script], [sys.executable, "-m", "profiler"]):
        result = subprocess.run([*command, "profile", "mynet:build_net", "--input", "4"], capture_output=True,
                                text=True, timeout=180, cwd=tmp_path, env=_env())
        assert result.returncode == 0, result.stderr
        assert "Linear" in result.stdout and "linear layers: 100.0% of parameters" in result.stdout


def test_main_puts_the_current_folder_first_only_while_it_runs(cli, tmp_path, monkeypatch):
    (tmp_path / "mynet_cwd.py").write_text(NET_SOURCE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".", str(tmp_path))])
    before = list(sys.path)
    code, out, err = cli("profile", "mynet_cwd:build_net", "--input", "4")
    assert code == 0, err
    assert sys.path == before
    sys.modules.pop("mynet_cwd", None)
