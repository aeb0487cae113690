"""profiler.report.atomic: output files.  A regular file is replaced whole or not at all
(an interrupted write leaves the old file and no temporary one); a device, a FIFO or
standard output is written to, never replaced; a symlink stays a link."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from profiler.report import atomic
from profiler.report.atomic import write_bytes, write_text
from profiler.cli import main
from profiler.errors import ProfilerError

posix_only = pytest.mark.skipif(os.name != "posix", reason="devices, FIFOs and symlinks as on POSIX")


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_new_file_is_written_with_the_umask_mode_and_nothing_else_is_left(tmp_path):
    target = tmp_path / "out.csv"
    assert write_text(target, "a,b\n") == target
    assert target.read_text() == "a,b\n"
    assert _mode(target) == 0o666 & ~_umask()
    assert os.listdir(tmp_path) == ["out.csv"]


def test_an_existing_file_is_replaced(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old content, longer than the new one\n")
    write_text(target, "new\n")
    assert target.read_text() == "new\n"
    assert os.listdir(tmp_path) == ["out.csv"]


def test_missing_parent_folders_are_created(tmp_path):
    target = tmp_path / "a" / "b" / "out.md"
    write_text(target, "# x\n")
    assert target.read_text() == "# x\n"


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "out.csv"
    target.write_text("old\n")

    def fail(src, dst):
        raise OSError(28, os.strerror(28))
    monkeypatch.setattr(atomic.os, "replace", fail)
    with pytest.raises(ProfilerError, match="cannot write .*out.csv.*No space left on device"):
        write_text(target, "new\n")
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["out.csv"]


def test_an_interrupt_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "out.csv"
    target.write_text("old\n")

    def interrupt(src, dst):
        raise KeyboardInterrupt
    monkeypatch.setattr(atomic.os, "replace", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_text(target, "new\n")
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["out.csv"]


def test_a_directory_is_a_one_line_error(tmp_path):
    (tmp_path / "keep").write_text("x")
    with pytest.raises(ProfilerError) as info:
        write_text(tmp_path, "data")
    assert str(info.value) == f"cannot write '{tmp_path}': Is a directory"
    assert os.listdir(tmp_path) == ["keep"]


def test_a_path_under_a_file_is_a_one_line_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("keep")
    with pytest.raises(ProfilerError, match="^cannot write '.*out.csv': "):
        write_text(blocker / "out.csv", "data")
    assert blocker.read_text() == "keep" and os.listdir(tmp_path) == ["file"]


@posix_only
def test_dev_null_is_written_to_and_stays_a_character_device():
    before = os.stat("/dev/null")
    assert write_text("/dev/null", "x" * 100_000) == Path("/dev/null")
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev and after.st_ino == before.st_ino


@posix_only
@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_dev_full_is_a_one_line_no_space_error_and_stays_a_device():
    with pytest.raises(ProfilerError) as info:
        write_text("/dev/full", "data")
    assert str(info.value) == "cannot write '/dev/full': No space left on device"
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


@posix_only
def test_a_fifo_is_written_to_not_replaced(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    data = b"0123456789" * 50_000     # more than a pipe holds: the writer waits for the reader
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    write_bytes(fifo, data)
    reader.join(timeout=30)
    assert not reader.is_alive() and received == [data]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert os.listdir(tmp_path) == ["pipe"]


@posix_only
def test_a_symlink_stays_a_link_and_its_target_is_replaced(tmp_path):
    target = tmp_path / "real" / "out.csv"
    target.parent.mkdir()
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(Path("real") / "out.csv")       # relative, as `ln -s` makes them
    assert write_text(link, "new\n") == link
    assert link.is_symlink() and os.readlink(link) == os.path.join("real", "out.csv")
    assert target.read_text() == "new\n"
    assert sorted(os.listdir(tmp_path)) == ["link.csv", "real"] and os.listdir(target.parent) == ["out.csv"]


@posix_only
def test_a_chain_of_symlinks_through_a_linked_folder_replaces_the_last_target(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "alias").symlink_to("data")                       # a linked folder
    (tmp_path / "data" / "final.csv").write_text("old\n")
    (tmp_path / "data" / "middle.csv").symlink_to("final.csv")
    link = tmp_path / "link.csv"
    link.symlink_to(Path("alias") / "middle.csv")
    write_text(link, "new\n")
    assert link.is_symlink() and (tmp_path / "data" / "middle.csv").is_symlink()
    assert (tmp_path / "data" / "final.csv").read_text() == "new\n"


@posix_only
def test_a_dangling_symlink_gets_a_new_target_file(tmp_path):
    link = tmp_path / "link.csv"
    link.symlink_to(tmp_path / "later" / "out.csv")
    write_text(link, "data\n")
    assert link.is_symlink() and (tmp_path / "later" / "out.csv").read_text() == "data\n"
    assert _mode(tmp_path / "later" / "out.csv") == 0o666 & ~_umask()


@posix_only
def test_a_symlink_loop_is_a_one_line_error(tmp_path):
    loop = tmp_path / "loop"
    loop.symlink_to("loop")
    with pytest.raises(ProfilerError, match="^cannot write '.*loop': Too many levels of symbolic links$"):
        write_text(loop, "data")
    assert loop.is_symlink()


@posix_only
@pytest.mark.skipif(not os.path.exists("/dev/stdout"), reason="no /dev/stdout")
@pytest.mark.parametrize("name", ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"])
def test_standard_output_by_name_follows_what_was_printed_and_stays_where_it_was(tmp_path, name):
    """`... --csv /dev/stdout > out.txt`: the data lands after what was printed before,
    and what is printed after follows it; out.txt is not replaced."""
    if name.startswith("/proc") and not os.path.exists(name):
        pytest.skip("no /proc")
    out = tmp_path / "out.txt"
    script = ("from profiler.report.atomic import write_text; print('before'); "
              f"write_text({name!r}, 'data\\n'); print('after')")
    with out.open("wb") as stdout:
        inode = os.fstat(stdout.fileno()).st_ino
        result = subprocess.run([sys.executable, "-c", script], stdout=stdout, stderr=subprocess.PIPE,
                                timeout=60)
    assert result.returncode == 0, result.stderr
    assert out.read_text() == "before\ndata\nafter\n"
    assert os.stat(out).st_ino == inode and os.listdir(tmp_path) == ["out.txt"]


# --- writing report files: whole or not at all -------------------------------------------------

@pytest.mark.parametrize("flag", ["--csv", "--md", "--json", "--plot"])
def test_unwritable_output_path_is_a_one_line_error(flag, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    code = main(["profile", "alexnet_homework", flag, str(blocker / "out.x")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"profiler: error: cannot write '{blocker / 'out.x'}'") and err.count("\n") == 1


def test_interrupted_write_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "report.csv"
    path.write_text("old contents\n")
    real_fdopen = os.fdopen

    class HalfThenInterrupt:
        """A file that writes half of what it is given, then is interrupted."""

        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()
            return False

        def write(self, data):
            self.f.write(data[: len(data) // 2])
            self.f.flush()
            raise KeyboardInterrupt

    monkeypatch.setattr(os, "fdopen", lambda fd, mode: HalfThenInterrupt(real_fdopen(fd, mode)))
    with pytest.raises(KeyboardInterrupt):
        atomic.write_text(path, "new contents that never fully land\n" * 100)
    assert path.read_text() == "old contents\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.csv"]


def test_interrupt_before_the_rename_leaves_no_file(tmp_path, monkeypatch):
    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic.write_bytes(tmp_path / "plot.png", b"\x89PNG" + b"\0" * 1000)
    assert list(tmp_path.iterdir()) == []


def test_write_into_a_file_as_folder_raises_profiler_error(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(ProfilerError, match="cannot write"):
        atomic.write_text(tmp_path / "f" / "x.md", "x")


def test_written_files_get_the_usual_permissions_not_mkstemps_0600(tmp_path):
    umask = os.umask(0o022)
    try:
        path = atomic.write_text(tmp_path / "report.md", "x")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644

