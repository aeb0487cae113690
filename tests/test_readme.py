"""Every example of README.md and docs/*.md runs, in a fresh process, and shows what it
prints (the rules: tests/docs_examples.py).  The worked example of a new formula group
(nn.PairwiseDistance, forward and backward, docs/contributing.md) also counts what scalars
that tally their own arithmetic count; its files are run in a fresh process, so their
registrations never reach the formulas other tests see."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import bruteforce as bf
from docs_examples import (PAGES, Block, all_blocks, command_lines, print_matches, session_steps,
                           shown_in_order, shown_prints)
from elementwise_scalars import sqrt

README = Path(__file__).parent.parent / "README.md"
CONTRIBUTING = README.parent / "docs" / "contributing.md"
EXAMPLE_FILES = ("profiler/formulas/forward/distance.py", "profiler/formulas/backward/distance.py")


def _example_blocks() -> list[str]:
    """The python blocks that follow a mention of each example file, in order."""
    text = CONTRIBUTING.read_text(encoding="utf-8")
    blocks = []
    for path in EXAMPLE_FILES:
        found = re.search(re.escape(f"`{path}`") + r"[^`]*?:\n\n```python\n(.*?)```", text, re.S)
        assert found, f"docs/contributing.md has no code block for {path}"
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


def test_the_readme_formula_group_example_counts_what_counting_scalars_count():
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
    # the example shows how to add a group; if the group is ever added for real, the
    # README should pick another example
    assert not (README.parent / path).exists()


def test_every_file_the_readme_names_exists():
    """Paths in backticks (`tests/...py`, `profiler/...py`, `reports/...`) and link targets,
    on every page, except the worked example's, which shows files to add, and the layout
    rule's placeholder."""
    named = set()
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        named |= set(re.findall(r"`((?:tests|profiler|reports|benchmarks|docs)/[\w./-]+\.(?:py|md|csv|json|png))`", text))
        for link in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if "://" not in link:
                named.add(str((page.parent / link).resolve().relative_to(README.parent)))
    missing = sorted(p for p in named - set(EXAMPLE_FILES) - {"profiler/a/b.py", "tests/a/test_b.py"} if not (README.parent / p).exists())
    assert not missing, missing


# --- every example on every page --------------------------------------------------------------

# Names the examples use for a reader's own files: made here, as small as they can be, so that
# the examples run as written.
SCAFFOLD = {
    "path/to/net.py": ("from torch import nn\n\n\nclass Net(nn.Sequential):\n"
                       "    def __init__(self):\n        super().__init__(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), "
                       "nn.LazyLinear(10))\n"),
    "mynet.py": ("from torch import nn\n\n\ndef build_net():\n"
                 "    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), "
                 "nn.Flatten(), nn.Linear(8, 10))\n"),
    "mypackage/__init__.py": "",
    "mypackage/models.py": ("from torch import nn\n\n\ndef build_net():\n"
                            "    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), "
                            "nn.Flatten(), nn.Linear(8, 10))\n"),
}
CHECKPOINT = "path/to/checkpoint"   # a folder holding a small config.json
TIMEOUT_S = 900


def _scaffold(folder: Path, page: Path) -> None:
    for name, text in SCAFFOLD.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    checkpoint = folder / CHECKPOINT
    checkpoint.mkdir(parents=True, exist_ok=True)
    (checkpoint / "config.json").write_text(json.dumps({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64,
        "intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2,
        "num_hidden_layers": 2, "vocab_size": 128}), encoding="utf-8")
    for block in all_blocks():
        if block.page == page and block.file_name:
            (folder / block.file_name).write_text(block.text, encoding="utf-8")


def _env() -> dict:
    """The environment of a reader who installed the package into this interpreter's venv:
    its bin folder (`profiler`, `python`) first on the PATH."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.pop("PROFILER_TRACEBACK", None)
    return env


def _run(command: str | list[str], folder: Path) -> subprocess.CompletedProcess:
    shell = isinstance(command, str)
    return subprocess.run(["bash", "-c", command] if shell else command, cwd=folder, env=_env(),
                          capture_output=True, text=True, timeout=TIMEOUT_S)


def _failed(what: str, out: subprocess.CompletedProcess) -> str:
    return f"{what}: exit {out.returncode}\n--- stdout\n{out.stdout[-4000:]}\n--- stderr\n{out.stderr[-4000:]}"


EXAMPLES = [b for b in all_blocks() if b.sort != "output"]


def _param(block: Block):
    marks = [pytest.mark.slow] if "slow" in block.directives else []
    return pytest.param(block, id=block.id, marks=marks)


@pytest.mark.parametrize("block", [_param(b) for b in EXAMPLES])
def test_the_example_runs_and_prints_what_the_page_shows(block: Block, tmp_path):
    if "skip" in block.directives:
        pytest.skip(block.directives["skip"])
    _scaffold(tmp_path, block.page)
    if block.sort == "file":
        out = _run([sys.executable, block.file_name], tmp_path)
        assert out.returncode == 0, _failed(block.file_name, out)
    elif block.sort == "script":
        out = _run([sys.executable, "-c", block.text], tmp_path)
        assert out.returncode == 0, _failed("the script", out)
        shown = shown_prints(block.text)
        printed = out.stdout.splitlines()[-len(shown):] if shown else []
        assert len(printed) == len(shown), (printed, shown)
        for line, want in zip(printed, shown):
            assert print_matches(line.rstrip(), want), (line, want)
    elif block.sort == "commands":
        for line in command_lines(block.text):
            # `pip install ... && profiler ...`: the install made the environment these tests run in
            command = " && ".join(part for part in line.split(" && ") if not part.startswith("pip "))
            if not command:
                continue
            out = _run(command, tmp_path)
            assert out.returncode == 0, _failed(command, out)
    else:
        for step in session_steps(block.text):
            out = _run(step.command, tmp_path)
            errors = any(line.startswith("profiler: ") for line in step.shown)
            status = step.status if step.status is not None else (out.returncode if errors else 0)
            assert out.returncode == status, _failed(step.command, out)
            missing = shown_in_order(step.shown, out.stdout + out.stderr)
            assert missing is None, f"{step.command}: the page shows a line it does not print:\n{missing}\n" + \
                _failed(step.command, out)


def test_every_page_is_linked_from_the_readme_and_has_examples():
    text = README.read_text(encoding="utf-8")
    for page in PAGES[1:]:
        assert f"](docs/{page.name})" in text, page.name
    assert {b.page for b in EXAMPLES} == set(PAGES)


def test_skipped_examples_say_where_they_are_covered():
    skipped = [b for b in all_blocks() if "skip" in b.directives]
    assert all(len(b.directives["skip"].split()) >= 4 for b in skipped), [b.id for b in skipped]
    assert len(skipped) <= 4, [b.id for b in skipped]


@pytest.mark.parametrize("text, want", [
    ("profiler profile a \\\n  --csv x   # a comment\n\nprofiler list\n", ["profiler profile a --csv x", "profiler list"]),
])
def test_command_lines_join_continuations_and_drop_comments(text, want):
    assert command_lines(text) == want


def test_a_session_step_keeps_its_shown_lines_and_the_status_echo_shows():
    steps = session_steps("$ profiler x\n...\nprofiler: error: bad\n$ echo $?\n2\n$ profiler y\nok\n")
    assert [(s.command, s.shown, s.status) for s in steps] == [
        ("profiler x", ["profiler: error: bad"], 2), ("profiler y", ["ok"], None)]
    assert shown_in_order(["a", "c"], "a\nb\nc  \n") is None and shown_in_order(["c", "a"], "a\nc") == "a"
    assert shown_in_order(["diff 5.53e-05 (up to 109)"], "diff 2.1e-06 (up to 109)") is None
    assert shown_in_order(["diff 0.00347"], "diff 0.00348") == "diff 0.00347"


def test_a_print_shows_its_line_or_the_line_and_an_explanation():
    assert shown_prints("x = 1\nprint(x)   # 1: one\nprint(2)\ny  # no\n") == ["1: one"]
    assert print_matches("1", "1: one") and print_matches("1 2", "1 2") and not print_matches("1", "12")
