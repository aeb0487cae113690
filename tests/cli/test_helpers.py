"""profiler.cli.helpers: output paths checked before anything is profiled (a one-line error that
names the option), and the default inputs stated in `profile --help`, read from the sources of
the modules that define them, equal to those modules' own values."""
from __future__ import annotations

import subprocess
import sys

import pytest

from profiler.cli.helpers import check_output_paths, default_inputs, default_inputs_text
from profiler.errors import ProfilerError


def test_paths_not_given_are_not_checked():
    check_output_paths(csv=None, md="", json=None)


def test_a_new_file_in_new_folders_passes_and_nothing_is_created(tmp_path):
    check_output_paths(csv=str(tmp_path / "a" / "b" / "out.csv"), md=str(tmp_path / "out.md"))
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_passes_and_is_left_as_it_was(tmp_path):
    path = tmp_path / "old.csv"
    path.write_text("keep")
    check_output_paths(csv=path)                                  # a path-like is taken too
    assert path.read_text() == "keep"


def test_a_folder_is_refused_naming_the_option(tmp_path):
    with pytest.raises(ProfilerError) as info:
        check_output_paths(csv=None, plot=str(tmp_path))
    assert str(info.value) == f"cannot write '{tmp_path}' (--plot): Is a directory; nothing was profiled"


def test_a_path_under_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ProfilerError, match=r"\(--md\): Not a directory"):
        check_output_paths(md=str(tmp_path / "file" / "deeper" / "out.md"))


def test_devices_pass():
    check_output_paths(csv="/dev/null", md="/dev/stdout")


def test_default_inputs_are_the_constants_of_their_modules():
    from profiler.api import TOKENS_DEFAULT as API_TOKENS
    from profiler.capture.inputs import FAMILY_DEFAULTS
    from profiler.models.hub import TOKENS_DEFAULT
    from profiler.models.resolve import DEFAULT_IMAGE
    rows = dict(default_inputs())
    size = "x".join
    assert rows["classification"].startswith(size(map(str, DEFAULT_IMAGE)) + " ")
    assert rows["segmentation"] == size(map(str, FAMILY_DEFAULTS["segmentation"]))
    assert rows["detection"] == f"a list of one {size(map(str, FAMILY_DEFAULTS['detection']))} image"
    assert rows["optical flow"] == f"two {size(map(str, FAMILY_DEFAULTS['optical_flow']))} frames"
    assert rows["hf: text"].startswith(f"{TOKENS_DEFAULT} token ids")
    assert f"{API_TOKENS[0]} token ids" in rows["your own model"]


def test_default_inputs_text_is_one_aligned_line_per_family():
    lines = default_inputs_text().splitlines()
    assert lines[0].startswith("default inputs, per sample")
    rows = default_inputs()
    assert len(lines) == 1 + len(rows)
    width = max(len(family) for family, _ in rows)
    for line, (family, text) in zip(lines[1:], rows):
        assert line == f"  {family.ljust(width)}  {text}"


def test_default_inputs_import_no_torch():
    script = ("import sys; from profiler.cli.helpers import default_inputs_text; default_inputs_text(); "
              "assert 'torch' not in sys.modules")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
