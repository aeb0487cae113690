"""profiler.cli.compare: `profiler compare MODEL...`: the table on screen and in files, exit code
1 when a profile failed (each failure one line on stderr), 2 on bad usage or with --strict."""
from __future__ import annotations

import argparse

import pandas as pd
import pytest

from profiler.cli import main
from profiler.cli.compare import _positive_int
from profiler.report.profiles_table import COLUMNS


def _exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def test_cli_bad_name_continues_and_exits_1(capsys):
    assert _exit_code(["compare", "alexnet_homework", "nope_net"]) == 1
    out, err = capsys.readouterr()
    assert "alexnet_homework" in out and "nope_net" not in out
    failed = [line for line in err.splitlines() if "nope_net" in line]
    assert len(failed) == 1 and failed[0].startswith("profiler: failed: nope_net")
    assert err.splitlines()[-1] == "profiler: 1 of 2 profiled; 1 failed"


def test_cli_jobs_bad_name_continues_and_exits_1(capsys):
    assert _exit_code(["compare", "alexnet_homework", "nope_net", "squeezenet1_0", "--jobs", "2"]) == 1
    out, err = capsys.readouterr()
    assert out.index("alexnet_homework") < out.index("squeezenet1_0") and "nope_net" not in out
    assert [line for line in err.splitlines() if "nope_net" in line][0].startswith("profiler: failed: nope_net")
    assert err.splitlines()[-1] == "profiler: 2 of 3 profiled; 1 failed"


def test_cli_strict_bad_name_exits_2_with_one_line(capsys):
    assert _exit_code(["compare", "alexnet_homework", "nope_net", "--strict"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("profiler: error: unknown model 'nope_net'") and err.count("\n") == 1


@pytest.mark.parametrize("argv", [["compare"], ["compare", "alexnet_homework", "--batch", "0"],
                                  ["compare", "alexnet_homework", "--input", "3xbig"],
                                  ["compare", "alexnet_homework", "--units", "furlongs"],
                                  ["compare", "alexnet_homework", "--jobs", "0"], ["compare", "alexnet_homework", "-j", "x"]])
def test_cli_bad_usage_exits_2(argv, capsys):
    assert _exit_code(argv) == 2
    assert capsys.readouterr().err.startswith("profiler: error:")


def test_cli_inputs_batches_and_outputs(tmp_path, capsys):
    csv, md, png = tmp_path / "c.csv", tmp_path / "c.md", tmp_path / "plots" / "c.png"
    argv = ["compare", "alexnet_homework", "--input", "3x227x227", "--input", "3x255x255", "--batch", "1",
            "--batch", "2", "--csv", str(csv), "--md", str(md), "--plot", str(png), "--units", "human"]
    assert _exit_code(argv) == 0
    frame = pd.read_csv(csv)
    assert len(frame) == 4 and list(frame.columns) == COLUMNS
    assert frame["macs"].iloc[0] == 714_188_480                     # raw integers in CSV
    assert "714.19M" in capsys.readouterr().out
    assert "](plots/c.png)" in md.read_text()
    assert png.read_bytes().startswith(b"\x89PNG")


def test_compare_csv_to_dev_null_leaves_the_device_alone(cli):
    import os
    import stat
    code, out, err = cli("compare", "alexnet_homework", "--csv", "/dev/null", "--jobs", "1")
    assert code == 0, err
    assert "wrote /dev/null" in out and stat.S_ISCHR(os.stat("/dev/null").st_mode)


@pytest.mark.parametrize("text,value", [("1", 1), ("16", 16)])
def test_jobs_takes_a_positive_integer(text, value):
    assert _positive_int(text) == value


@pytest.mark.parametrize("text", ["0", "-1", "1.5", "x", ""])
def test_jobs_refuses_anything_else(text):
    with pytest.raises(argparse.ArgumentTypeError, match="expected a positive integer"):
        _positive_int(text)


def test_cli_compare_rows_are_the_profiles_totals(tmp_path, cli):
    import profiler
    csv = tmp_path / "c.csv"
    code, _, err = cli("compare", "alexnet_homework", "squeezenet1_0", "--batch", "2", "--csv", str(csv))
    assert code == 0, err
    frame = pd.read_csv(csv)
    assert list(frame["model"]) == ["alexnet_homework", "squeezenet1_0"] and list(frame["batch"]) == [2, 2]
    for row in frame.to_dict("records"):
        total = profiler.profile(row["model"], batch=2).total
        assert (row["params"], row["mults"], row["macs"]) == (total["params"], total["mults"], total["macs"])


def test_every_compare_example_parses_with_the_real_parser():
    import re
    import shlex

    from profiler.cli import build_parser
    from profiler.cli.compare import EXAMPLES
    lines = [line for line in EXAMPLES.splitlines() if line.startswith("  profiler compare")]
    assert len(lines) >= 4
    for line in lines:
        args = build_parser().parse_args(shlex.split(re.split(r"\s{2,}", line.strip())[0])[1:])
        assert args.command == "compare" and (args.models or args.all)
