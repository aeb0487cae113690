"""Golden files: the terminal report, CSV and Markdown of alexnet_homework, byte for byte.

A change to any count, column or wording shows up here as a diff.  When the
change is intended, regenerate and review the diff in git:

    PROFILER_UPDATE_GOLDEN=1 python -m pytest -q tests/test_golden.py
"""
from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from profiler.cli import main

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("PROFILER_UPDATE_GOLDEN") == "1"


def _check(name: str, actual: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"missing {path}; run with PROFILER_UPDATE_GOLDEN=1 to create it"
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True),
                                            f"golden/{name}", "now", n=1))
        pytest.fail(f"{name} differs from the golden file (PROFILER_UPDATE_GOLDEN=1 to accept):\n{diff}")


def test_terminal_report_of_alexnet_homework_matches_golden(capsys):
    assert main(["profile", "alexnet_homework"]) == 0
    _check("alexnet_homework.txt", capsys.readouterr().out)


def test_csv_and_markdown_of_alexnet_homework_match_golden(tmp_path, capsys):
    csv, md = tmp_path / "alexnet_homework.csv", tmp_path / "alexnet_homework.md"
    assert main(["profile", "alexnet_homework", "--csv", str(csv), "--md", str(md)]) == 0
    _check("alexnet_homework.csv", csv.read_text(encoding="utf-8"))
    _check("alexnet_homework.md", md.read_text(encoding="utf-8"))


def test_golden_files_hold_the_hand_counts():
    """The goldens are checked against the hand count too, so regenerating them
    cannot silently bless a wrong number: conv1 has 55·55·64 outputs, each a dot
    product of 11·11·3 terms; fc1 has 9216·4096 MACs and 9216·4096 + 4096 parameters."""
    text = (GOLDEN / "alexnet_homework.csv").read_text(encoding="utf-8")
    conv1 = next(line for line in text.splitlines() if line.startswith("features.conv1,"))
    assert f",{55 * 55 * 64 * 11 * 11 * 3}," in conv1
    fc1 = next(line for line in text.splitlines() if line.startswith("classifier.fc1,"))
    assert f",{9216 * 4096}," in fc1 and f",{9216 * 4096 + 4096}," in fc1
