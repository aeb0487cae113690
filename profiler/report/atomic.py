"""Write an output file whole or not at all.

A regular file (new or existing) is written to a temp file in its folder, then
renamed over it, so an interrupt or error leaves the old file (or none), never a
half-written one.  A symlink stays a link: its target is replaced that way.  A
path that is not a regular file (/dev/null, a FIFO, a terminal) or that names an
open file descriptor (/dev/stdout, /dev/fd/N, /proc/self/fd/N) is opened and
written to, never replaced.
"""
from __future__ import annotations

import errno
import os
import re
import stat
import sys
import tempfile
from pathlib import Path

from profiler.errors import ProfilerError

# links the kernel resolves to an open file descriptor, whatever their text says
_FD_LINK = re.compile(r"/dev/(?P<std>stdin|stdout|stderr)|/dev/fd/(?P<fd>\d+)"
                      r"|/proc/(?P<pid>self|thread-self|\d+)/fd/(?P<pfd>\d+)")
_STD = {"stdin": 0, "stdout": 1, "stderr": 2}
_MAX_LINKS = 40


def _new_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_text(path: str | os.PathLike, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path``, creating missing parent folders; returns ``path``
    as given.  Any failure is a one-line ProfilerError."""
    path = Path(path)
    try:
        target, fd, foreign = _follow(os.fspath(path))
        if fd is not None:
            _flush_our_streams()
            _write_all(fd, data)
            return path
        try:
            mode = os.stat(target).st_mode
        except FileNotFoundError:
            mode = None
        if mode is not None and stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        if foreign or mode is not None and not stat.S_ISREG(mode):
            _flush_our_streams()
            out = os.open(target, os.O_WRONLY)
            try:
                _write_all(out, data)
            finally:
                os.close(out)
        else:
            _replace(Path(target), data)
    except OSError as exc:
        raise ProfilerError(f"cannot write '{path}': {exc.strerror or exc}") from exc
    return path


def _follow(path: str) -> tuple[str, int | None, bool]:
    """Where a write to ``path`` goes: (the path to replace or open, the number of this
    process's own descriptor that ``path`` names (/dev/stdout, /dev/fd/N, /proc/self/fd/N)
    or None, whether it names another process's descriptor).  Symlinks are followed, a
    dangling one to the file it names."""
    for _ in range(_MAX_LINKS):
        match = _FD_LINK.fullmatch(os.path.abspath(path))
        if match:
            if match["std"]:
                return path, _STD[match["std"]], False
            if match["fd"]:
                return path, int(match["fd"]), False
            own = match["pid"] in ("self", "thread-self", str(os.getpid()))
            return path, int(match["pfd"]) if own else None, not own
        if not os.path.islink(path):
            return os.path.realpath(path), None, False   # resolves links among the parent folders too
        path = os.path.join(os.path.realpath(os.path.dirname(path) or "."), os.readlink(path))
    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP))


def _flush_our_streams() -> None:
    """What this process printed before must come first where the file is our own
    standard output (or a terminal or pipe it also goes to)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:   # a closed or full stream: the write itself says what matters
            pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _replace(path: Path, data: bytes) -> None:
    """A temp file in ``path``'s folder, then a rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, _new_file_mode())   # mkstemp makes 0600; give the mode open() would have given
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
