"""What a newcomer meets first: --version and a bare `profiler`, the default inputs
in `profile --help`, output paths checked before the profile runs, notes printed
once in one short line, and Ctrl-C during a `compare` with worker processes."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from importlib.metadata import version

import pytest

from profiler.cli.helpers import check_output_paths
from profiler.errors import ProfilerError
from profiler.report.render import NOTE_WIDTH


# --- --version, a bare `profiler` ------------------------------------------------------

def test_version_prints_the_package_version(cli):
    code, out, err = cli("--version")
    assert code == 0 and err == ""
    assert out == f"profiler {version('profiler')}\n"


def test_a_bare_profiler_prints_the_help_and_exits_0(cli):
    code, out, err = cli()
    assert code == 0 and err == ""
    assert out.startswith("usage: profiler") and "examples:" in out and "profile" in out


# --- default inputs in `profile --help` -------------------------------------------------

def test_profile_help_states_each_familys_default_input(cli):
    from profiler.capture.inputs import default_input_size
    from profiler.defaults import TOKENS_DEFAULT
    from profiler.models.resolve import resolve
    code, out, _ = cli("profile", "--help")
    assert code == 0
    assert "default 3x227x227" not in out
    lines = {line.strip().split("  ")[0]: line for line in out.splitlines() if line.startswith("  ")}
    for family, name in (("classification", "alexnet"), ("segmentation", "fcn_resnet50"),
                         ("detection", "fasterrcnn_resnet50_fpn"), ("optical flow", "raft_small"),
                         ("video", "r3d_18")):
        size = "x".join(map(str, default_input_size(resolve(name))))
        assert size in lines[family], (family, lines[family])
    assert f"{TOKENS_DEFAULT} token ids" in lines["hf: text"]
    assert "pretrained_cfg" in lines["timm:"]


def test_profile_help_imports_no_torch():
    script = ("import sys\nfrom profiler.cli import main\n"
              "try:\n    main(['profile', '--help'])\nexcept SystemExit:\n    pass\n"
              "assert 'torch' not in sys.modules, 'torch imported'\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "segmentation" in result.stdout


# --- output paths, checked before the profile ---------------------------------------------

@pytest.fixture
def no_profile(monkeypatch):
    """Fail any profile or comparison: a path error must come before them."""
    import profiler.api
    import profiler.compare

    def refuse(*args, **kwargs):
        raise AssertionError("profiled before checking the output paths")
    monkeypatch.setattr(profiler.api, "profile", refuse)
    monkeypatch.setattr(profiler.compare, "compare", refuse)


def _one_line_error(code, out, err, *fragments):
    assert code == 2 and out == "", out
    assert err.count("\n") == 1 and err.startswith("profiler: error: cannot write"), err
    for fragment in fragments:
        assert fragment in err


@pytest.mark.parametrize("command", [["profile", "alexnet_homework"], ["compare", "alexnet_homework", "resnet18"]])
@pytest.mark.parametrize("option", ["--csv", "--md", "--json", "--plot"])
def test_an_output_path_that_is_a_folder_fails_before_profiling(cli, no_profile, tmp_path, command, option):
    if command[0] == "compare" and option == "--json":
        pytest.skip("compare writes no JSON")
    code, out, err = cli(*command, option, str(tmp_path))
    _one_line_error(code, out, err, option, "Is a directory")


def test_an_output_path_under_a_file_fails_before_profiling(cli, no_profile, tmp_path):
    (tmp_path / "file").write_text("keep")
    code, out, err = cli("profile", "alexnet_homework", "--md", str(tmp_path / "file" / "new" / "out.md"))
    _one_line_error(code, out, err, "--md", "Not a directory")


def test_a_read_only_folder_fails_before_profiling(cli, no_profile, tmp_path, monkeypatch):
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() == 0:   # root writes anywhere: deny the folder as a read-only mount would
        real_access = os.access

        def access(path, mode, **kwargs):
            return False if os.path.realpath(path) == str(folder) and mode & os.W_OK else \
                real_access(path, mode, **kwargs)
        monkeypatch.setattr(os, "access", access)
    else:
        folder.chmod(0o500)
    try:
        for argv in (["profile", "alexnet_homework", "--csv", str(folder / "out.csv")],
                     ["compare", "alexnet_homework", "--plot", str(folder / "deeper" / "c.png")]):
            code, out, err = cli(*argv)
            _one_line_error(code, out, err, "Permission denied", str(folder))
    finally:
        folder.chmod(0o700)


def test_devices_fifos_links_and_new_folders_pass_the_check(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "to_null").symlink_to("/dev/null")
    (tmp_path / "dangling").symlink_to(tmp_path / "later" / "target.csv")
    (tmp_path / "existing.csv").write_text("old")
    check_output_paths(csv="/dev/null", md="/dev/stdout", json=str(fifo), plot=str(tmp_path / "to_null"))
    check_output_paths(csv=str(tmp_path / "dangling"), md=str(tmp_path / "a" / "b" / "c.md"),
                       json=str(tmp_path / "existing.csv"), plot=None)
    with pytest.raises(ProfilerError, match=r"--csv.*Is a directory"):
        check_output_paths(csv=str(tmp_path))


# --- notes: once, one short line each ----------------------------------------------------

NETS = textwrap.dedent("""
    import torch
    from torch import nn

    class Nonzero(nn.Module):     # needs the data: the profile falls back to real tensors
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)

        def forward(self, x):
            y = self.fc(x)
            return y[torch.nonzero(y > 0, as_tuple=True)]

    class LogGamma(nn.Module):    # an op without a formula: an uncounted row
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)

        def forward(self, x):
            return torch.lgamma(self.fc(x))
""")


def test_a_long_note_is_one_short_line_and_verbose_prints_it_whole(cli, tmp_path):
    (tmp_path / "nets.py").write_text(NETS)
    code, out, err = cli("profile", f"{tmp_path / 'nets.py'}:Nonzero", "--input", "8")
    assert code == 0, err
    notes = [line for line in out.splitlines() if line.startswith("note:")]
    fallback = [line for line in notes if line.startswith("note: ran on real CPU tensors")]
    assert len(fallback) == 1 and all(len(line) <= len("note: ") + NOTE_WIDTH for line in notes), notes
    assert "meta_nonzero_assume_all_nonzero" not in out + err
    assert out.count("ran on real CPU tensors") == 1        # printed once, above the table only
    code, out, err = cli("profile", f"{tmp_path / 'nets.py'}:Nonzero", "--input", "8", "--verbose")
    assert code == 0 and out.count("ran on real CPU tensors") == 1
    assert "meta_nonzero_assume_all_nonzero" in out


def test_an_uncounted_row_is_reported_once(cli, tmp_path):
    (tmp_path / "nets.py").write_text(NETS)
    code, out, err = cli("profile", f"{tmp_path / 'nets.py'}:LogGamma", "--input", "8")
    assert code == 1
    assert (out + err).count("lgamma") == 1, (out, err)       # on the report's last line, not also a warning
    assert out.splitlines()[-1].startswith("uncounted: (model) (LogGamma")


# --- Ctrl-C during a comparison with workers -----------------------------------------------

def _workers(pid: int) -> list[int]:
    """The spawned worker processes among ``pid``'s children."""
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                children = [int(c) for c in f.read().split()]
        except OSError:
            continue
        for child in children:
            try:
                with open(f"/proc/{child}/cmdline", "rb") as f:
                    if b"spawn_main" in f.read() and child not in found:
                        found.append(child)
            except OSError:
                pass
    return found


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="finds the workers through /proc")
def test_ctrl_c_while_workers_start_is_one_line_and_exit_130():
    """A terminal's Ctrl-C is a SIGINT to the whole foreground process group: the
    parent and its workers.  Sent while the workers are still starting (importing
    torch), it used to print a worker's 'Exception in initializer ... KeyboardInterrupt'
    traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "profiler", "compare", "alexnet_homework", "resnet18",
                             "squeezenet1_0", "mobilenet_v2", "--jobs", "3"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True,
                            # as from a terminal: a suite started in the background (`pytest &` in a
                            # script) passes SIGINT on ignored, and Python then leaves it ignored
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        workers = []
        while not workers and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
            workers = _workers(proc.pid)
        assert workers, "no worker process started"
        time.sleep(0.3)                          # the worker is booting Python and importing
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert err.decode() == "profiler: interrupted\n"
    for _ in range(50):                          # and the workers are gone
        if not any(os.path.exists(f"/proc/{w}") and b"spawn_main" in open(f"/proc/{w}/cmdline", "rb").read()
                   for w in workers):
            break
        time.sleep(0.1)
    else:
        raise AssertionError("worker processes outlived the interrupted comparison")


# --- reports/alexnet_fvcore.md: what `other` holds ----------------------------------------

def test_the_fvcore_report_says_what_other_holds():
    import profiler
    from profiler.cli.make_reports import not_compared
    layers = profiler.profile("alexnet", input_size=(3, 227, 227)).layers
    text = not_compared(layers)
    other = layers[layers["other"] > 0]
    assert set(other["type"]) == {"ReLU", "MaxPool2d"}
    assert f"({int(layers['other'].sum()):,} here) holds only the comparisons of ReLU" in text
    assert "divisions" not in text
    pool = layers[layers["type"] == "AdaptiveAvgPool2d"]
    assert f"`mults` ({int(pool['mults'].sum()):,}" in text and int(pool["other"].sum()) == 0
