"""Shared fixtures: profile one module and read its single row; run the CLI in-process."""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest
import torch

import profiler

# the shared test helpers (bruteforce, state, ...) live here and are imported by name from any
# test folder: importlib mode (pyproject.toml) puts no test folder on the path by itself
sys.path.insert(0, str(Path(__file__).parent))


def _layer_cost(module: torch.nn.Module, *inputs, **kwargs) -> dict:
    """Profile ``module`` alone on ``inputs`` (tensors or shapes); the row of the
    module itself, which must be the only row."""
    report = profiler.profile(module, inputs=tuple(inputs), kwargs=kwargs or None)
    layers = report.layers
    assert len(layers) == 1, layers[["name", "type", "status"]]
    row = layers.iloc[0]
    assert row["status"] == "formula", row["ops"]
    return {k: int(row[k]) for k in ("mults", "adds", "other", "macs", "params")}


@pytest.fixture(scope="session")
def layer_cost():
    return _layer_cost


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run the CLI's main(argv) in-process: (exit code, stdout, stderr)."""
    from profiler.cli import main
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)  # main() replaces it

    def run(*argv: str) -> tuple[int, str, str]:
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse's own errors, --help and --version
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err
    return run
