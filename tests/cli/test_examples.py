"""profiler.cli.examples: every example under `profiler --help` and `profiler profile --help` is a
command the real parser takes, for a subcommand that exists, and each is described."""
from __future__ import annotations

import re
import shlex

import pytest

from profiler.cli import COMMANDS, build_parser
from profiler.cli.examples import EXAMPLES

LINES = [line for line in EXAMPLES.splitlines() if line.startswith("  profiler ")]


def _command(line: str) -> list[str]:
    """The argv of an example line: the text before the two or more spaces of its description."""
    return shlex.split(re.split(r"\s{2,}", line.strip())[0])[1:]


def test_the_examples_are_listed_under_a_heading_and_end_with_the_error_rule():
    assert EXAMPLES.startswith("examples:\n") and len(LINES) >= 5
    assert "PROFILER_TRACEBACK=1" in EXAMPLES and "exit code 2" in EXAMPLES


@pytest.mark.parametrize("line", LINES)
def test_each_example_parses_with_the_real_parser(line):
    argv = _command(line)
    assert argv[0] in COMMANDS
    args = build_parser().parse_args(argv)
    assert args.command == argv[0] and callable(args.run)


def test_profile_and_list_have_examples_and_the_flags_shown_parse_as_written():
    shown = {_command(line)[0] for line in LINES}
    assert shown >= {"profile", "list"}
    args = build_parser().parse_args(_command(next(line for line in LINES if "--csv" in line)))
    assert (args.batch, args.input, args.csv) == (8, "3x224x224", "out/resnet50.csv")


def test_the_examples_are_under_both_helps(cli):
    for argv in (["--help"], ["profile", "--help"]):
        code, out, _ = cli(*argv)
        assert code == 0 and all(line in out for line in LINES)
