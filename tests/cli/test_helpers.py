"""profiler.cli.helpers: output paths checked before anything is profiled (a one-line error that
names the option), and the default inputs stated in `profile --help`, read from the sources of
the modules that define them, equal to those modules' own values."""
from __future__ import annotations

import os
import stat
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


def test_default_inputs_are_the_constants_of_profiler_defaults():
    from profiler.defaults import DEFAULT_IMAGE, FAMILY_DEFAULTS, TOKENS_DEFAULT
    rows = dict(default_inputs())
    size = "x".join
    assert rows["classification"].startswith(size(map(str, DEFAULT_IMAGE)) + " ")
    assert rows["segmentation"] == size(map(str, FAMILY_DEFAULTS["segmentation"]))
    assert rows["detection"] == f"a list of one {size(map(str, FAMILY_DEFAULTS['detection']))} image"
    assert rows["optical flow"] == f"two {size(map(str, FAMILY_DEFAULTS['optical_flow']))} frames"
    assert rows["hf: text"].startswith(f"{TOKENS_DEFAULT} token ids")
    assert f"{TOKENS_DEFAULT} token ids" in rows["your own model"]


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


# --- outputs never clobber inputs, nor each other -------------------------------------------


def _refused(fragment: str, model=None, **paths):
    with pytest.raises(ProfilerError) as info:
        check_output_paths(model, **paths)
    assert fragment in str(info.value) and str(info.value).endswith("; nothing was profiled"), str(info.value)
    return str(info.value)


def test_an_output_that_is_the_models_source_file_is_refused(tmp_path, monkeypatch):
    source = tmp_path / "models" / "net.py"
    source.parent.mkdir()
    source.write_text("keep")
    (tmp_path / "link.py").symlink_to(source)
    monkeypatch.chdir(tmp_path)
    for model in ("models/net.py:Net", f"{source}:Net"):
        for path in ("models/net.py", str(source), "models/../models/net.py", "link.py"):
            message = _refused("it is the model's source file", model, csv=path)
            assert message.startswith(f"cannot write '{path}' (--csv)")
    check_output_paths("models/net.py:Net", csv="models/net.csv")
    assert source.read_text() == "keep"


def test_the_module_file_of_package_module_attr_is_found_without_importing_it(tmp_path, monkeypatch):
    package = tmp_path / "pkg_clobber"
    package.mkdir()
    (package / "__init__.py").write_text("raise RuntimeError('imported')\n")
    (package / "nets.py").write_text("keep")
    (tmp_path / "solo_clobber.py").write_text("keep")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    _refused("it is the model's source file", "pkg_clobber.nets:build", md="pkg_clobber/nets.py")
    _refused("it is the model's source file", "pkg_clobber:build", md="pkg_clobber/__init__.py")
    _refused("it is the model's source file", "solo_clobber:build", json="solo_clobber.py")
    check_output_paths("no_such_module_anywhere.x:build", csv="out.csv")   # not found: nothing to protect
    import sys
    assert "pkg_clobber" not in sys.modules


def test_a_local_config_json_is_refused_as_an_output(tmp_path, monkeypatch):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    for model in ("ckpt", "hf:ckpt", "hf:./ckpt", "ckpt/config.json"):
        _refused("it is the model's config.json", model, json="ckpt/config.json")
    _refused("it is the model's config.json", ["alexnet", "ckpt"], json="ckpt/config.json")   # compare's models


def test_two_outputs_that_are_one_file_are_refused(tmp_path):
    (tmp_path / "old.md").write_text("keep")
    (tmp_path / "alias.md").symlink_to(tmp_path / "old.md")
    message = _refused("(--md): it is the same file as --csv", csv=str(tmp_path / "out" / "x"),
                       md=str(tmp_path / "out" / ".." / "out" / "x"))
    assert message.startswith("cannot write ")
    _refused("(--plot): it is the same file as --md", md=str(tmp_path / "old.md"), plot=str(tmp_path / "alias.md"))
    _refused("(--json): it is the same file as --csv", csv=str(tmp_path / "old.md"), json=str(tmp_path / "old.md"))
    check_output_paths(csv="/dev/null", md="/dev/null", json=str(tmp_path / "a"), plot=str(tmp_path / "b"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alias.md", "old.md"]


def test_a_folder_the_kernel_refuses_a_file_in_is_refused(tmp_path):
    """The check makes (and removes) a probe file where the output will go: /sys and /proc
    take none, whoever asks (access() says yes to root)."""
    paths = [p for p in ("/sys/x.csv", "/proc/x.csv", "/sys/new/deeper/x.csv") if os.path.isdir(p[:5].rstrip("/"))]
    if not paths:
        pytest.skip("neither /sys nor /proc here")
    for path in paths:
        _refused(f"cannot write '{path}' (--csv): ", csv=path)


def test_a_fifo_is_not_opened_and_a_device_is_opened_for_append(tmp_path):
    """Opening a FIFO for writing blocks until a reader comes: the check must not (run in a
    fresh process with a timeout, so a regression fails instead of hanging)."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    code = (f"from profiler.cli.helpers import check_output_paths; "
            f"check_output_paths(csv={str(fifo)!r}, md='/dev/full', json='/dev/null'); print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "ok", result.stderr
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
