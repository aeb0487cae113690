"""The committed reports/ are what `python -m profiler.make_reports` makes today.

The AlexNet and twelve-model reports are regenerated into a temporary folder and
compared byte for byte; PNGs only need to be valid PNGs, since their bytes depend
on the matplotlib version.  The zoo takes about a minute: it is compared only with
PROFILER_SLOW_REPORTS=1.  After an intended change, regenerate with
`python -m profiler.make_reports` and review the diff.
"""
from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from profiler import make_reports

REPORTS = Path(__file__).resolve().parent.parent / "reports"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SLOW = os.environ.get("PROFILER_SLOW_REPORTS") == "1"
# measured on the machine that made them (`profiler profile alexnet --measure`): their times differ
# from one machine, and one run, to the next, so they are not regenerated or compared
MACHINE_SPECIFIC = {"alexnet_roofline.md", "alexnet_roofline.png"}


def _compare_folders(fresh: Path, names: list[str]) -> None:
    problems = []
    for name in names:
        committed = REPORTS / name
        if not committed.exists():
            problems.append(f"reports/{name} is missing")
            continue
        new = (fresh / name).read_bytes()
        if name.endswith(".png"):
            import matplotlib.image
            assert committed.read_bytes().startswith(PNG_SIGNATURE), name
            assert matplotlib.image.imread(committed).ndim == 3, name
            assert new.startswith(PNG_SIGNATURE), name
            continue
        if new != committed.read_bytes():
            diff = difflib.unified_diff(committed.read_text().splitlines(True), new.decode().splitlines(True),
                                        f"reports/{name}", "regenerated", n=0)
            problems.append("".join(list(diff)[:40]))
    assert not problems, ("reports/ is out of date; run `python -m profiler.make_reports`:\n"
                          + "\n".join(problems))


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reports")
    assert make_reports.main(["--out", str(out), "--only", "alexnet", "compare"]) == 0
    return out


def test_alexnet_reports_are_current(regenerated):
    names = sorted(p.name for p in regenerated.iterdir() if p.name.startswith("alexnet"))
    assert len(names) == 2 * 4 + 2            # per model: md, csv, by-kind csv, png; and the fvcore check
    _compare_folders(regenerated, names)


def test_twelve_model_comparison_is_current(regenerated):
    names = sorted(p.name for p in regenerated.iterdir() if p.name.startswith("compare"))
    assert names == ["compare.csv", "compare.md", "compare.png"]
    _compare_folders(regenerated, names)
    assert "## Failures\n\nNone: every model was profiled." in (regenerated / "compare.md").read_text()


def test_reports_index_is_current(regenerated):
    _compare_folders(regenerated, ["README.md"])


def test_reports_folder_holds_only_generated_files(regenerated):
    # the zoo is slow to regenerate; benchmark.md is written by `python benchmarks/run.py`;
    # the AlexNet roofline holds times measured on one machine: never compared byte for byte
    expected = {p.name for p in regenerated.iterdir()} | {"zoo.csv", "zoo.md", "benchmark.md"} | MACHINE_SPECIFIC
    assert {p.name for p in REPORTS.iterdir()} == expected


@pytest.mark.slow
@pytest.mark.skipif(not SLOW, reason="profiles every torchvision model; set PROFILER_SLOW_REPORTS=1")
def test_zoo_report_is_current(tmp_path):
    assert make_reports.main(["--out", str(tmp_path), "--only", "zoo"]) == 0
    _compare_folders(tmp_path, ["zoo.csv", "zoo.md"])
