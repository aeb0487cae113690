"""The README's worked example of a new layer kind (nn.PairwiseDistance, forward and
backward) registers, is used by a profile, and counts what scalars that tally their own
arithmetic count.  The example's two files are read out of README.md and run in a fresh
process, so their registrations never reach the formulas other tests see."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import bruteforce as bf
from pointwise_scalars import sqrt

README = Path(__file__).parent.parent / "README.md"
EXAMPLE_FILES = ("profiler/formulas/forward/distance.py", "profiler/formulas/backward/distance.py")


def _example_blocks() -> list[str]:
    """The python blocks that follow a mention of each example file, in order."""
    text = README.read_text(encoding="utf-8")
    blocks = []
    for path in EXAMPLE_FILES:
        found = re.search(re.escape(f"`{path}`") + r"[^`]*?:\n\n```python\n(.*?)```", text, re.S)
        assert found, f"README has no code block for {path}"
        blocks.append(found.group(1))
    return blocks


ROWS, DIM = 3, 5

RUN = """
import json, sys, torch
from torch import nn
import profiler, profiler.formulas
from profiler.formulas import find_module_backward, find_module_formula
assert find_module_formula(nn.PairwiseDistance()) is None   # the example adds what is not there
for block in json.loads(sys.argv[1]):
    exec(compile(block, "README example", "exec"), {})
x = torch.randn(%d, %d, requires_grad=True)
y = torch.randn(%d, %d)
row = profiler.profile(nn.PairwiseDistance(), inputs=(x, y), training=True).layers.iloc[0]
print(json.dumps({k: (row[k] if isinstance(row[k], str) else int(row[k]))
                  for k in ("status", "bwd_status", "mults", "adds", "other", "bwd_mults", "bwd_adds", "bwd_other")}))
""" % (ROWS, DIM, ROWS, DIM)


def _scalar_counts() -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """The distance and the gradient of x, computed with counting scalars, row by row
    (eps added as torch adds it); values checked against torch."""
    x, y, eps = torch.randn(ROWS, DIM, dtype=torch.float64), torch.randn(ROWS, DIM, dtype=torch.float64), 1e-6
    forward, backward = bf.Tally(), bf.Tally()
    distances, grads = [], []
    for r in range(ROWS):
        u = [forward.num(a) - float(b) + eps for a, b in zip(x[r].tolist(), y[r].tolist())]
        d = sqrt(bf.total([v * v for v in u]))
        distances.append(d.v)
        scale = backward.num(1.0) / backward.num(d.v)          # g / d, with g = 1
        grads.append([(scale * bf.Num(v.v, backward)).v for v in u])   # grad y = −grad x: free
    expected = torch.nn.functional.pairwise_distance(x, y)
    assert torch.allclose(torch.tensor(distances, dtype=torch.float64), expected)
    xg = x.clone().requires_grad_(True)
    torch.nn.functional.pairwise_distance(xg, y).sum().backward()
    assert torch.allclose(torch.tensor(grads, dtype=torch.float64), xg.grad)
    return forward.as_tuple(), backward.as_tuple()


def test_the_readme_layer_kind_example_counts_what_counting_scalars_count():
    out = subprocess.run([sys.executable, "-c", RUN, json.dumps(_example_blocks())],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout.strip().splitlines()[-1])
    (fm, fa, fo), (bm, ba, bo) = _scalar_counts()
    assert row["status"] == "formula" and row["bwd_status"] == "formula"
    assert (row["mults"], row["adds"], row["other"]) == (fm, fa, fo)
    assert (row["bwd_mults"], row["bwd_adds"], row["bwd_other"]) == (bm, ba, bo)


@pytest.mark.parametrize("path", EXAMPLE_FILES)
def test_the_readme_example_files_are_not_in_the_package(path):
    # the example shows how to add a kind; if the kind is ever added for real, the
    # README should pick another example
    assert not (README.parent / path).exists()


def test_every_file_the_readme_names_exists():
    """Paths in backticks (`tests/...py`, `profiler/...py`, `reports/...`), except the worked
    example's, which shows files to add, and the layout rule's placeholder."""
    text = README.read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:tests|profiler|reports|benchmarks)/[\w./-]+\.(?:py|md|csv|json|png))`", text))
    missing = sorted(p for p in named - set(EXAMPLE_FILES) - {"profiler/a/b.py", "tests/a/test_b.py"} if not (README.parent / p).exists())
    assert not missing, missing
